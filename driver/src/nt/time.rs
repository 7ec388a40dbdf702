//! The engine's clock: milliseconds since the driver loaded, from `KeQueryPerformanceCounter`.
//!
//! The routine is resolved with `MmGetSystemRoutineAddress` rather than imported: x64 Windows
//! exports it from ntoskrnl.exe, Wine only from hal.dll, and the lookup searches both. (The
//! inline `KeQueryInterruptTime` of x64 wdm.h reads KUSER_SHARED_DATA at its kernel address,
//! which does not exist in Wine's user-mode driver host.)

use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use peerdrt_core::time::Instant;

use super::log::log;
use super::sys;

type QueryPerformanceCounter = unsafe extern "system" fn(*mut sys::LARGE_INTEGER) -> sys::LARGE_INTEGER;

static QPC: AtomicUsize = AtomicUsize::new(0);
static FREQUENCY: AtomicU64 = AtomicU64::new(1);
static ORIGIN: AtomicU64 = AtomicU64::new(0);

const NAME: [u16; 25] = super::utf16("KeQueryPerformanceCounter");

/// Resolves the counter and takes the origin. DriverEntry, PASSIVE_LEVEL.
pub fn init() -> Result<(), sys::NTSTATUS> {
    let routine = super::system_routine(&NAME);
    if routine.is_null() {
        return Err(sys::STATUS_NOT_FOUND);
    }
    QPC.store(routine as usize, Ordering::Release);
    let (counter, frequency) = read();
    FREQUENCY.store(frequency.max(1), Ordering::Release);
    ORIGIN.store(counter, Ordering::Release);
    init_system_time();
    Ok(())
}

/// (counter, ticks per second).
fn read() -> (u64, u64) {
    let routine = QPC.load(Ordering::Acquire);
    if routine == 0 {
        return (0, 1);
    }
    // SAFETY: the address MmGetSystemRoutineAddress returned for KeQueryPerformanceCounter.
    let f: QueryPerformanceCounter = unsafe { core::mem::transmute(routine) };
    let mut frequency = sys::LARGE_INTEGER { QuadPart: 0 };
    // SAFETY: any IRQL; writes the frequency.
    let counter = unsafe { f(&mut frequency) };
    // SAFETY: reading the 64-bit member of plain unions.
    unsafe { (counter.QuadPart as u64, frequency.QuadPart as u64) }
}

/// The raw counter (seed material).
pub fn counter() -> u64 {
    read().0
}

/// Now, for the engine.
pub fn now() -> Instant {
    let (counter, _) = read();
    let ticks = counter.wrapping_sub(ORIGIN.load(Ordering::Acquire));
    let frequency = FREQUENCY.load(Ordering::Acquire);
    Instant::from_millis((u128::from(ticks) * 1000 / u128::from(frequency)) as u64)
}

type QuerySystemTime = unsafe extern "system" fn(*mut sys::LARGE_INTEGER);

/// The system-time routine resolved by [`init`]: `KeQuerySystemTimePrecise` (Windows 8 and
/// later), else `KeQuerySystemTime` (Wine 8 exports only this one; x64 wdm.h inlines it as a
/// read of KUSER_SHARED_DATA, which Wine's driver host does not map), else 0.
static SYSTEM_TIME: AtomicUsize = AtomicUsize::new(0);

const PRECISE_NAME: [u16; 24] = super::utf16("KeQuerySystemTimePrecise");
const SYSTEM_TIME_NAME: [u16; 17] = super::utf16("KeQuerySystemTime");
const SYSTEM_TIME_NAMES: [&[u16]; 2] = [&PRECISE_NAME, &SYSTEM_TIME_NAME];

/// Resolves the system-time routine once, at DriverEntry (PASSIVE_LEVEL), so that [`utc`] never
/// looks anything up at request time.
fn init_system_time() {
    let found = SYSTEM_TIME_NAMES
        .iter()
        .enumerate()
        .map(|(i, name)| (i, super::system_routine(name)))
        .find(|(_, r)| !r.is_null());
    SYSTEM_TIME.store(found.map_or(0, |(_, r)| r as usize), Ordering::Release);
    match found {
        Some((0, _)) => log!("group peer time from KeQuerySystemTimePrecise"),
        Some(_) => log!("group peer time from KeQuerySystemTime"),
        None => log!("no system time routine: group peer time follows the callers' UTC"),
    }
}

/// The system's UTC as a FILETIME, or `None` where neither routine is exported (the device then
/// anchors group time to the caller's UTC). Any IRQL.
pub fn utc() -> Option<u64> {
    let routine = SYSTEM_TIME.load(Ordering::Acquire);
    if routine == 0 {
        return None;
    }
    // SAFETY: the address MmGetSystemRoutineAddress returned for one of SYSTEM_TIME_NAMES, both
    // `VOID (PLARGE_INTEGER)`.
    let f: QuerySystemTime = unsafe { core::mem::transmute(routine) };
    let mut now = sys::LARGE_INTEGER { QuadPart: 0 };
    // SAFETY: writes the current system time.
    unsafe { f(&mut now) };
    // SAFETY: reading the 64-bit member of a plain union.
    let ticks = unsafe { now.QuadPart };
    u64::try_from(ticks).ok().filter(|&t| t != 0)
}
