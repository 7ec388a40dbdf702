//! The WDM glue: `peerdrt.sys` (DESIGN.md, rule 3: thin; every state machine it drives lives in
//! `engine` and is tested on Linux).
//!
//! * [`driver`]: DriverEntry and DriverUnload — the device object `\Device\PeerDrt` (secured
//!   SYSTEM + Administrators full, Users read/write), the `\DosDevices\PeerDrt` link, the worker
//!   thread, then NMR registration as a WSK client.
//! * [`dispatch`]: IRP_MJ_CREATE / CLEANUP / CLOSE / DEVICE_CONTROL, and the cancel-safe queue
//!   of pending WAIT_EVENT IRPs.
//! * [`worker`]: the PASSIVE_LEVEL system thread that owns engine work: received datagrams,
//!   timers, sends, completions of pending waits.
//! * [`wsk`]: the NMR client (attach, detach with in-flight counting through
//!   [`crate::engine::nmr`]) and the engine's [`crate::engine::Platform`] over WSK datagram
//!   sockets.
//! * [`pnrp`]: the `Global_` PNRP cloud the driver runs once WSK is attached; [`registry`]
//!   reads its configuration.
//! * [`durability`]: the group databases, in the driver's state directory (the shared
//!   [`crate::store`] log over [`file`]'s `Zw*` file routines).
//! * [`sys`]: the kernel types and imports (peerdrt-nt-sys + raw-dylib, or wdk-sys).
//!
//! # Threads, locks and IRQL
//!
//! | Code | IRQL | Locks it takes |
//! |---|---|---|
//! | DriverEntry, DriverUnload | PASSIVE | engine |
//! | IRP_MJ_* dispatch routines (caller's thread) | PASSIVE | engine, then waits |
//! | group log file I/O (`Zw*File`, from dispatch and the worker) | PASSIVE | engine (held) |
//! | worker thread | PASSIVE | engine, then waits / rx |
//! | ClientAttachProvider | PASSIVE | engine |
//! | ClientDetachProvider, ClientCleanupBindingContext | <= DISPATCH | none (atomics) |
//! | WskReceiveFromEvent | <= DISPATCH | rx |
//! | IRP cancel routine | DISPATCH (cancel spin lock, released first) | waits |
//! | IoCompletion routines | <= DISPATCH | none |
//!
//! * **engine** — an ERESOURCE (held exclusively, inside a critical region, IRQL stays PASSIVE)
//!   around the [`crate::engine::Device`] and the socket table. Every `Device` call happens
//!   under it, at PASSIVE_LEVEL, on a kernel stack expanded to [`ENGINE_STACK`] bytes
//!   (`KeExpandKernelStackAndCallout`): the DRT engine, its signature checks and its encoders
//!   need more than the 24 KiB a kernel thread starts with.
//! * **waits** — a spin lock around the queue of pending WAIT_EVENT IRPs (the cancel routine
//!   runs at DISPATCH_LEVEL and cannot take the engine lock).
//! * **rx** — a spin lock around the queue of retained receive indications (filled at
//!   DISPATCH_LEVEL by WskReceiveFromEvent, which never calls the engine).
//!
//! Order: engine before waits and before rx; waits and rx are never held together, and nothing
//! waits or allocates pageable memory under a spin lock.
//!
//! Under Wine none of this is checked (drivers run as user-mode code, see wine-lane.md); the
//! glue therefore never reads the IRQL itself (`KeGetCurrentIrql` reads CR8, which faults in user
//! mode) and Driver Verifier on Windows is what checks it.

mod dispatch;
mod driver;
mod durability;
mod file;
mod log;
#[cfg(not(feature = "wdk"))]
mod panic;
mod pnrp;
#[cfg(not(feature = "wdk"))]
mod pool;
mod registry;
mod sync;
pub mod sys;
mod time;
mod worker;
mod wsk;

use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};

use crate::engine::{Device, OpenId};

use self::dispatch::WaitQueue;
use self::sync::{Event, Resource, SpinLock};
use self::wsk::{RxQueue, WskPlatform};

#[cfg(feature = "wdk")]
extern crate wdk_panic;

#[cfg(feature = "wdk")]
#[global_allocator]
static GLOBAL_ALLOCATOR: wdk_alloc::WdkAllocator = wdk_alloc::WdkAllocator;

/// Stack the engine runs on (below `MAXIMUM_EXPANSION_SIZE` on x64).
pub const ENGINE_STACK: usize = 0xC000;

/// What the engine lock guards.
pub(crate) struct Engine {
    /// The platform-neutral device.
    pub device: Device,
    /// WSK sockets and the NMR binding they use.
    pub platform: WskPlatform,
    /// Opens not yet closed (DriverUnload closes what Wine left open).
    pub opens: Vec<OpenId>,
    /// The next WAIT_EVENT token.
    pub next_token: u64,
    /// The PNRP `Global_` cloud's configuration.
    pub pnrp: pnrp::PnrpConfig,
    /// And where it is.
    pub cloud: pnrp::CloudState,
    /// The group logs (records durable before the IRP that stored them completes).
    pub groups: durability::Groups,
}

/// The driver's state: one non-paged block from DriverEntry to the end of DriverUnload.
pub(crate) struct Driver {
    /// `\Device\PeerDrt`.
    pub device: AtomicPtr<sys::DEVICE_OBJECT>,
    /// The engine, under the engine lock.
    pub engine: Resource<Engine>,
    /// Pending WAIT_EVENT IRPs.
    pub waits: SpinLock<WaitQueue>,
    /// Retained receive indications, for the worker.
    pub rx: SpinLock<RxQueue>,
    /// Wakes the worker (auto-reset).
    pub wake: Event,
    /// Set by DriverUnload: the worker exits, attach declines.
    pub stopping: AtomicBool,
    /// Send IRPs whose completion routine has not run yet.
    pub sends_in_flight: AtomicUsize,
    /// The NMR client registration handle.
    pub nmr_handle: AtomicPtr<core::ffi::c_void>,
    /// Running under Wine (ntoskrnl exports `wine_ntoskrnl_main_loop`): a few exports the
    /// driver would use on Windows are unimplemented stubs there, which abort winedevice.exe.
    pub wine: bool,
}

static DRIVER: AtomicPtr<Driver> = AtomicPtr::new(core::ptr::null_mut());

/// The driver state. Valid from the point DriverEntry publishes it until DriverUnload ends,
/// which covers every dispatch routine, callback and completion routine.
pub(crate) fn driver() -> &'static Driver {
    // SAFETY: published by DriverEntry before anything can call back, withdrawn by
    // DriverUnload after everything that could call back has stopped.
    unsafe { &*DRIVER.load(Ordering::Acquire) }
}

/// Runs `f` with the engine lock held, on an expanded kernel stack. PASSIVE_LEVEL.
///
/// `Err(status)` if the kernel could not provide the stack (the caller fails its request or
/// retries later).
pub(crate) fn with_engine<R>(f: impl FnOnce(&mut Engine) -> R) -> Result<R, sys::NTSTATUS> {
    let d = driver();
    let mut guard = d.engine.lock();
    on_big_stack(|| f(&mut guard))
}

/// [`with_engine`] for work that must happen even when no larger stack can be had (IRP_MJ_CLEANUP
/// and IRP_MJ_CLOSE, DriverUnload): it then runs on the current stack. These are the engine's
/// shallow paths (closing instances, cancelling waits), not its receive or search paths.
pub(crate) fn with_engine_always<R>(f: impl FnOnce(&mut Engine) -> R) -> R {
    let d = driver();
    let mut guard = d.engine.lock();
    let mut f = Some(f);
    match on_big_stack(|| f.take().map(|f| f(&mut guard))) {
        Ok(Some(r)) => r,
        _ => match f.take() {
            Some(f) => {
                log::log!("no expanded stack for a close path: running it on the current stack");
                f(&mut guard)
            }
            None => unreachable_engine(),
        },
    }
}

/// The callout took the closure but stored no result: impossible, the trampoline does both in
/// one statement.
#[cold]
fn unreachable_engine() -> ! {
    unreachable!("the engine callout ran without a result")
}

/// Runs `f` on a kernel stack of [`ENGINE_STACK`] bytes. IRQL <= APC_LEVEL.
pub(crate) fn on_big_stack<R, F: FnOnce() -> R>(f: F) -> Result<R, sys::NTSTATUS> {
    struct Call<F, R> {
        f: Option<F>,
        result: Option<R>,
    }
    unsafe extern "system" fn trampoline<F: FnOnce() -> R, R>(parameter: sys::PVOID) {
        // SAFETY: `parameter` is the `Call` below, alive for the duration of the callout.
        let call = unsafe { &mut *(parameter as *mut Call<F, R>) };
        if let Some(f) = call.f.take() {
            call.result = Some(f());
        }
    }
    let mut call = Call { f: Some(f), result: None };
    // SAFETY: PASSIVE_LEVEL; `call` outlives the callout, which runs synchronously.
    let status = unsafe {
        sys::compat::expand_stack_and_callout(
            trampoline::<F, R>,
            &mut call as *mut Call<F, R> as sys::PVOID,
            ENGINE_STACK,
        )
    };
    match call.result {
        Some(r) => Ok(r),
        None => Err(if status >= 0 { sys::STATUS_UNSUCCESSFUL } else { status }),
    }
}

/// An ASCII string as UTF-16 at compile time (kernel names are UNICODE_STRINGs).
pub(crate) const fn utf16<const N: usize>(s: &str) -> [u16; N] {
    let bytes = s.as_bytes();
    assert!(bytes.len() == N, "utf16: length mismatch");
    let mut out = [0u16; N];
    let mut i = 0;
    while i < N {
        assert!(bytes[i] < 0x80, "utf16: ASCII only");
        out[i] = bytes[i] as u16;
        i += 1;
    }
    out
}

/// A counted string over static UTF-16 (never written through).
pub(crate) fn unicode_string(s: &'static [u16]) -> sys::UNICODE_STRING {
    let bytes = (s.len() * 2) as u16;
    sys::UNICODE_STRING { Length: bytes, MaximumLength: bytes, Buffer: s.as_ptr().cast_mut() }
}

/// `MmGetSystemRoutineAddress(name)`: an ntoskrnl.exe or hal.dll export, or null.
pub(crate) fn system_routine(name: &'static [u16]) -> sys::PVOID {
    let mut name = unicode_string(name);
    // SAFETY: PASSIVE_LEVEL; a valid counted string.
    unsafe { sys::MmGetSystemRoutineAddress(&mut name) }
}
