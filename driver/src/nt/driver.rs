//! DriverEntry and DriverUnload.
//!
//! DriverEntry (PASSIVE_LEVEL, system process), in this order, undoing what was done on failure:
//! 1. the clock, and whether this is Wine;
//! 2. the driver state in non-paged pool (engine lock, wait queue, receive queue, wake event);
//! 3. dispatch routines and DriverUnload;
//! 4. `\Device\PeerDrt` (FILE_DEVICE_NETWORK, FILE_DEVICE_SECURE_OPEN), then its DACL;
//! 5. the `\DosDevices\PeerDrt` link;
//! 6. the worker thread;
//! 7. last, `NmrRegisterClient` for the WSK NPI (attachment may happen at once, on this thread,
//!    or later on another).
//!
//! DriverUnload (PASSIVE_LEVEL): stop intake and the worker, close what is still open (opens,
//! waits, sockets, retained indications), deregister from NMR and wait for it, wait for the
//! last send completion, delete the link and the device, free the state, and print the number
//! of live allocations (`peerdrt: live allocations at unload: N`; the Wine lane requires 0).

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;
use core::net::Ipv6Addr;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};

use peerdrt_abi::{DEVICE_NAME, DOS_DEVICE_NAME};

use crate::engine::Device;
use peerdrt_core::drt::search::SearchSettings;

use super::dispatch::{self, WaitQueue};
use super::log::log;
use super::sync::{Event, Resource, SpinLock};
use super::sys::{self, compat};
use super::wsk::{self, RxQueue, WskPlatform};
use super::{DRIVER, Driver, Engine, time, unicode_string, utf16, with_engine_always, worker};

static DEVICE_NAME_W: [u16; DEVICE_NAME.len()] = utf16(DEVICE_NAME);
static DOS_DEVICE_NAME_W: [u16; DOS_DEVICE_NAME.len()] = utf16(DOS_DEVICE_NAME);
const WINE_MARKER: [u16; 23] = utf16("wine_ntoskrnl_main_loop");

/// The worker thread's handle (system process handle table).
static WORKER: AtomicPtr<core::ffi::c_void> = AtomicPtr::new(core::ptr::null_mut());

/// How long DriverUnload waits for outstanding send completions.
const UNLOAD_SEND_WAIT_MS: u64 = 10_000;

/// The address instances advertise unless the service's `Parameters\Addresses` value says
/// otherwise: IPv4 loopback, as peerdrtd does by default (a cloud on one machine works; a node
/// other machines should reach must be configured with an address they can reach).
const DEFAULT_ADDRESS: Ipv6Addr = Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0x7f00, 0x0001);

/// The entry point (`/ENTRY:DriverEntry`).
///
/// # Safety
/// Called once by the I/O manager with its driver object.
#[cfg_attr(not(test), unsafe(export_name = "DriverEntry"))]
pub unsafe extern "system" fn driver_entry(
    driver_object: *mut sys::DRIVER_OBJECT,
    registry_path: *mut sys::UNICODE_STRING,
) -> sys::NTSTATUS {
    log!("loading (peerdrt {})", env!("CARGO_PKG_VERSION"));
    if let Err(status) = time::init() {
        log!("KeQueryPerformanceCounter not found: {:#010x}", status as u32);
        return status;
    }
    let wine = !super::system_routine(&WINE_MARKER).is_null();
    // SAFETY: the I/O manager's counted string, valid during DriverEntry.
    let addresses = unsafe { configured_addresses(registry_path) };
    // SAFETY: as above.
    let pnrp = unsafe { super::pnrp::read_config(registry_path) };
    let cloud = super::pnrp::initial_state(&pnrp);
    // SAFETY: as above.
    let groups = unsafe { super::durability::configured(registry_path) };
    // SAFETY: as above.
    let search = unsafe { configured_search_settings(registry_path) };
    let mut device = Device::new();
    device.set_search_settings(search);

    // 2. State. Everything the callbacks reach lives in this one non-paged block.
    let state = Box::new(Driver {
        device: AtomicPtr::new(core::ptr::null_mut()),
        engine: Resource::new(Engine {
            device,
            platform: WskPlatform::new(addresses),
            opens: alloc::vec::Vec::new(),
            next_token: 1,
            pnrp,
            cloud,
            groups,
        }),
        waits: SpinLock::new(WaitQueue::new()),
        rx: SpinLock::new(RxQueue::new()),
        wake: Event::new(),
        stopping: AtomicBool::new(false),
        sends_in_flight: AtomicUsize::new(0),
        nmr_handle: AtomicPtr::new(core::ptr::null_mut()),
        wine,
    });
    let status = state.engine.init();
    if status < 0 {
        return status;
    }
    state.wake.init(true);
    DRIVER.store(Box::into_raw(state), Ordering::Release);

    // 3. Dispatch routines.
    // SAFETY: our driver object, during DriverEntry.
    unsafe {
        for major in 0..sys::IRP_MJ_COUNT as u8 {
            compat::set_dispatch(driver_object, major, dispatch::unsupported);
        }
        compat::set_dispatch(driver_object, sys::IRP_MJ_CREATE, dispatch::create);
        compat::set_dispatch(driver_object, sys::IRP_MJ_CLEANUP, dispatch::cleanup);
        compat::set_dispatch(driver_object, sys::IRP_MJ_CLOSE, dispatch::close);
        compat::set_dispatch(driver_object, sys::IRP_MJ_DEVICE_CONTROL, dispatch::device_control);
        compat::set_unload(driver_object, driver_unload);
    }

    // 4. The device, secured before anything can open it: a device object created in DriverEntry
    // keeps DO_DEVICE_INITIALIZING (opens fail) until DriverEntry returns, and the link that makes
    // it reachable from Win32 is created after the DACL is in place.
    let mut name = unicode_string(&DEVICE_NAME_W);
    let mut device: *mut sys::DEVICE_OBJECT = core::ptr::null_mut();
    // SAFETY: PASSIVE_LEVEL; our driver object.
    let status = unsafe {
        sys::IoCreateDevice(
            driver_object,
            0,
            &mut name,
            sys::FILE_DEVICE_NETWORK,
            sys::FILE_DEVICE_SECURE_OPEN,
            sys::FALSE,
            &mut device,
        )
    };
    if status < 0 {
        log!("IoCreateDevice failed: {:#010x}", status as u32);
        // SAFETY: nothing else was created.
        unsafe { free_state() };
        return status;
    }
    super::driver().device.store(device, Ordering::Release);

    if let Err(status) = secure(device) {
        if wine {
            log!("warning: could not set the device's DACL under Wine ({:#010x}); continuing", status as u32);
        } else {
            log!("could not set the device's DACL: {:#010x}", status as u32);
            // SAFETY: undo the device.
            unsafe {
                sys::IoDeleteDevice(device);
                free_state();
            }
            return status;
        }
    }

    // 5. The Win32 name.
    let mut link = unicode_string(&DOS_DEVICE_NAME_W);
    // SAFETY: PASSIVE_LEVEL; both names are valid counted strings.
    let status = unsafe { sys::IoCreateSymbolicLink(&mut link, &mut name) };
    if status < 0 {
        log!("IoCreateSymbolicLink failed: {:#010x}", status as u32);
        // SAFETY: undo the device.
        unsafe {
            sys::IoDeleteDevice(device);
            free_state();
        }
        return status;
    }

    // 6. The worker.
    let mut thread: sys::HANDLE = core::ptr::null_mut();
    // SAFETY: PASSIVE_LEVEL in the system process; the state outlives the thread (DriverUnload
    // joins it before freeing).
    let status = unsafe { compat::create_system_thread(worker::main, core::ptr::null_mut(), &mut thread) };
    if status < 0 {
        log!("PsCreateSystemThread failed: {:#010x}", status as u32);
        // SAFETY: undo link and device.
        unsafe {
            sys::IoDeleteSymbolicLink(&mut link);
            sys::IoDeleteDevice(device);
            free_state();
        }
        return status;
    }
    WORKER.store(thread, Ordering::Release);

    // 7. Last: become a WSK client.
    let mut handle: sys::HANDLE = core::ptr::null_mut();
    // SAFETY: PASSIVE_LEVEL; the characteristics are static; the client context is unused.
    let status = unsafe { sys::NmrRegisterClient(&wsk::CLIENT.0, core::ptr::null_mut(), &mut handle) };
    if status < 0 {
        log!("NmrRegisterClient failed: {:#010x}", status as u32);
        // SAFETY: undo everything.
        unsafe {
            stop_worker();
            sys::IoDeleteSymbolicLink(&mut link);
            sys::IoDeleteDevice(device);
            free_state();
        }
        return status;
    }
    super::driver().nmr_handle.store(handle, Ordering::Release);
    log!("loaded: {} ready{}", DOS_DEVICE_NAME, if wine { " (Wine)" } else { "" });
    sys::STATUS_SUCCESS
}

/// The addresses instances advertise: the service key's `Parameters\Addresses` (REG_MULTI_SZ or
/// REG_SZ: IPv4 or IPv6 literals; IPv4 is advertised IPv4-mapped), else [`DEFAULT_ADDRESS`].
/// Unparsable entries are logged and skipped; at most MAX_ROUTE_ADDRESSES are kept.
///
/// # Safety
/// PASSIVE_LEVEL; `registry_path` is DriverEntry's (or null).
unsafe fn configured_addresses(registry_path: *const sys::UNICODE_STRING) -> Vec<Ipv6Addr> {
    use peerdrt_core::wire::MAX_ROUTE_ADDRESSES;
    static VALUE: [u16; 9] = utf16("Addresses");
    /// Longest value read (bytes of UTF-16).
    const MAX_ADDRESSES_VALUE: usize = 4084;
    let fallback = || vec![DEFAULT_ADDRESS];
    // SAFETY: a valid counted string or null (caller).
    let Some(path) = (unsafe { super::registry::parameters_path(registry_path) }) else {
        return fallback();
    };
    let Ok(value) = super::registry::read_value(&path, &VALUE, MAX_ADDRESSES_VALUE) else {
        return fallback();
    };
    if value.kind != sys::REG_MULTI_SZ && value.kind != sys::REG_SZ {
        log!("Parameters\\Addresses is not REG_MULTI_SZ or REG_SZ: using the default");
        return fallback();
    }
    let units: Vec<u16> = value.data.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
    let mut addresses = Vec::new();
    for entry in units.split(|&u| u == 0).filter(|e| !e.is_empty()) {
        let text: alloc::string::String =
            entry.iter().map(|&u| char::from_u32(u32::from(u)).unwrap_or('?')).collect();
        let text = text.trim();
        let parsed = text
            .parse::<Ipv6Addr>()
            .ok()
            .or_else(|| text.parse::<core::net::Ipv4Addr>().ok().map(|a| a.to_ipv6_mapped()));
        match parsed {
            Some(a) if addresses.len() < MAX_ROUTE_ADDRESSES && !addresses.contains(&a) => addresses.push(a),
            Some(_) => {}
            None => log!("Parameters\\Addresses: not an address: {:?}", text),
        }
    }
    if addresses.is_empty() {
        return fallback();
    }
    log!("advertising {} configured address(es), first {}", addresses.len(), addresses[0]);
    addresses
}

/// How every DRT instance searches: the service key's `Parameters\DisjointPaths` (REG_DWORD,
/// 1..=MAX_DISJOINT_PATHS), else the default. A value of another type or out of range is logged
/// and ignored; the check is [`crate::engine::search_settings::disjoint_paths_from_registry`].
///
/// # Safety
/// PASSIVE_LEVEL; `registry_path` is DriverEntry's (or null).
unsafe fn configured_search_settings(registry_path: *const sys::UNICODE_STRING) -> SearchSettings {
    use crate::engine::search_settings::disjoint_paths_from_registry;
    static VALUE: [u16; 13] = utf16("DisjointPaths");
    /// Longer data than a REG_DWORD's is read (up to this) so that it is refused, not cut.
    const MAX_VALUE: usize = 16;
    // SAFETY: a valid counted string or null (caller).
    let Some(path) = (unsafe { super::registry::parameters_path(registry_path) }) else {
        return SearchSettings::default();
    };
    match super::registry::read_value(&path, &VALUE, MAX_VALUE) {
        Ok(value) => match disjoint_paths_from_registry(value.kind, &value.data) {
            Ok(settings) => {
                log!("searching with {} disjoint lookup path(s)", settings.disjoint_paths());
                settings
            }
            Err(e) => {
                log!("Parameters\\DisjointPaths: {}: using the default", e);
                SearchSettings::default()
            }
        },
        Err(sys::STATUS_OBJECT_NAME_NOT_FOUND) => SearchSettings::default(),
        Err(status) => {
            log!("Parameters\\DisjointPaths unreadable ({:#010x}): using the default", status as u32);
            SearchSettings::default()
        }
    }
}

/// Stops the worker and waits for its thread to end.
///
/// # Safety
/// PASSIVE_LEVEL, system process (DriverEntry's failure path, DriverUnload).
unsafe fn stop_worker() {
    let d = super::driver();
    d.stopping.store(true, Ordering::Release);
    d.wake.set();
    let thread = WORKER.swap(core::ptr::null_mut(), Ordering::AcqRel);
    if !thread.is_null() {
        // SAFETY: the handle PsCreateSystemThread gave us, in the same process.
        unsafe {
            sys::ZwWaitForSingleObject(thread, sys::FALSE, core::ptr::null_mut());
            sys::ZwClose(thread);
        }
    }
}

/// Frees the driver state (nothing can reach it any more) and reports the allocations left.
///
/// # Safety
/// No thread, callback or IRP can use the state any more.
unsafe fn free_state() {
    let state = DRIVER.swap(core::ptr::null_mut(), Ordering::AcqRel);
    if state.is_null() {
        return;
    }
    // SAFETY: made by Box::into_raw in DriverEntry, unreachable now.
    let state = unsafe { Box::from_raw(state) };
    state.engine.delete();
    drop(state);
    report_allocations();
}

#[cfg(not(feature = "wdk"))]
fn report_allocations() {
    let live = super::pool::live_allocations();
    // SAFETY: a format with one %d and an int argument.
    unsafe { sys::DbgPrint(c"peerdrt: live allocations at unload: %d\n".as_ptr(), live as i32) };
}

#[cfg(feature = "wdk")]
fn report_allocations() {}

/// Builds the device's DACL — SYSTEM and Administrators all access, Users read and write — and
/// applies it.
///
/// The route: `RtlCreateSecurityDescriptor` + `RtlCreateAcl` + `RtlAddAccessAllowedAce` +
/// `RtlSetDaclSecurityDescriptor` build an absolute descriptor, and `ZwSetSecurityObject` on a
/// kernel handle from `ObOpenObjectByPointer` applies it (documented in ntifs.h).
/// `IoCreateDeviceSecure` would take an SDDL string instead, but it lives in the WDK's static
/// library wdmsec.lib, not in ntoskrnl.exe, so the raw-dylib build cannot import it.
fn secure(device: *mut sys::DEVICE_OBJECT) -> Result<(), sys::NTSTATUS> {
    /// FILE_ALL_ACCESS.
    const ALL: u32 = 0x001F_01FF;
    /// FILE_GENERIC_READ | FILE_GENERIC_WRITE: enough for every peerdrt IOCTL.
    const READ_WRITE: u32 = 0x0012_0089 | 0x0012_0116;
    // SIDs: revision 1, sub-authority count, NT authority {0,0,0,0,0,5}, sub-authorities (LE).
    static SYSTEM: [u8; 12] = [1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0];
    static ADMINISTRATORS: [u8; 16] = [1, 2, 0, 0, 0, 0, 0, 5, 32, 0, 0, 0, 0x20, 0x02, 0, 0];
    static USERS: [u8; 16] = [1, 2, 0, 0, 0, 0, 0, 5, 32, 0, 0, 0, 0x21, 0x02, 0, 0];
    // ACL header (8) + per ACE: ACE header (4) + mask (4) + SID.
    const ACL_LEN: usize = 8 + (8 + 12) + (8 + 16) + (8 + 16);

    let mut descriptor = [0u64; sys::SECURITY_DESCRIPTOR_MIN_LENGTH / 8];
    let mut acl = [0u32; ACL_LEN.div_ceil(4)];
    let check = |status: sys::NTSTATUS| if status < 0 { Err(status) } else { Ok(()) };
    // SAFETY: PASSIVE_LEVEL; buffers of the sizes the calls need, aligned for their types; the
    // SIDs are read only.
    unsafe {
        let sd = descriptor.as_mut_ptr().cast();
        let dacl = acl.as_mut_ptr().cast();
        check(sys::RtlCreateSecurityDescriptor(sd, sys::SECURITY_DESCRIPTOR_REVISION))?;
        check(sys::RtlCreateAcl(dacl, (acl.len() * 4) as u32, sys::ACL_REVISION))?;
        check(sys::RtlAddAccessAllowedAce(dacl, sys::ACL_REVISION, ALL, SYSTEM.as_ptr().cast_mut().cast()))?;
        check(sys::RtlAddAccessAllowedAce(
            dacl,
            sys::ACL_REVISION,
            ALL,
            ADMINISTRATORS.as_ptr().cast_mut().cast(),
        ))?;
        check(sys::RtlAddAccessAllowedAce(
            dacl,
            sys::ACL_REVISION,
            READ_WRITE,
            USERS.as_ptr().cast_mut().cast(),
        ))?;
        check(sys::RtlSetDaclSecurityDescriptor(sd, sys::TRUE, dacl, sys::FALSE))?;
        let mut handle: sys::HANDLE = core::ptr::null_mut();
        check(sys::ObOpenObjectByPointer(
            device.cast(),
            sys::OBJ_KERNEL_HANDLE,
            core::ptr::null_mut(),
            sys::WRITE_DAC,
            core::ptr::null_mut(),
            sys::KernelMode,
            &mut handle,
        ))?;
        let status = sys::ZwSetSecurityObject(handle, sys::DACL_SECURITY_INFORMATION, sd);
        sys::ZwClose(handle);
        check(status)
    }
}

/// DriverUnload (PASSIVE_LEVEL).
unsafe extern "system" fn driver_unload(_driver_object: *mut sys::DRIVER_OBJECT) {
    log!("unloading");
    let d = super::driver();
    // Intake stops: attach declines, the receive callback hands datagrams back, the worker ends.
    // SAFETY: PASSIVE_LEVEL, system process.
    unsafe { stop_worker() };

    // Close what is still open: opens Wine did not close, their waits, then every socket
    // (releasing retained indications before WskCloseSocket).
    with_engine_always(|e| {
        let now = time::now();
        for open in core::mem::take(&mut e.opens) {
            e.device.close(now, open, &mut e.platform);
        }
        e.groups.close_all();
        worker::settle(e, now);
        dispatch::cancel_all();
        e.platform.close_all();
        // Receive indications queued for no socket cannot exist: each socket's close released
        // its own. Report anything left.
        let rx = d.rx.lock().len();
        if rx != 0 {
            log!("{} receive indications left after closing every socket", rx);
        }
    });

    // Leave NMR; with no socket open, detach completes at once.
    let handle = d.nmr_handle.swap(core::ptr::null_mut(), Ordering::AcqRel);
    if !handle.is_null() {
        // SAFETY: our registration; PASSIVE_LEVEL for the wait.
        unsafe {
            if sys::NmrDeregisterClient(handle) == sys::STATUS_PENDING {
                sys::NmrWaitForClientDeregisterComplete(handle);
            }
        }
    }
    // Detach and cleanup have run: the binding is no longer referenced.
    with_engine_always(|e| e.platform.drop_binding());

    // Send IRPs cancelled by the closes complete on their own time.
    let mut waited = 0;
    while d.sends_in_flight.load(Ordering::Acquire) != 0 && waited < UNLOAD_SEND_WAIT_MS {
        let mut interval = sys::LARGE_INTEGER { QuadPart: -10 * 10_000 };
        // SAFETY: PASSIVE_LEVEL.
        unsafe { sys::KeDelayExecutionThread(sys::KernelMode, sys::FALSE, &mut interval) };
        waited += 10;
    }
    let sends = d.sends_in_flight.load(Ordering::Acquire);
    if sends != 0 {
        log!("{} send completions still outstanding at unload", sends);
    }
    let waits = dispatch::queued();
    if waits != 0 {
        log!("{} wait IRPs still queued at unload", waits);
    }
    log!(
        "unloaded: {} receive lists dropped, {} sends failed",
        wsk::RX_DROPPED.load(Ordering::Relaxed),
        wsk::TX_FAILED.load(Ordering::Relaxed)
    );

    let mut link = unicode_string(&DOS_DEVICE_NAME_W);
    let device = d.device.swap(core::ptr::null_mut(), Ordering::AcqRel);
    // SAFETY: ours; nothing refers to them any more.
    unsafe {
        sys::IoDeleteSymbolicLink(&mut link);
        if !device.is_null() {
            sys::IoDeleteDevice(device);
        }
    }
    if sends == 0 {
        // SAFETY: nothing refers to the state any more.
        unsafe { free_state() };
    } else {
        // A send completion routine still to run reads the driver state: it stays allocated
        // (a leak, reported), since freeing it would let that routine dereference freed memory.
        // IoSetCompletionRoutineEx keeps the image loaded until the routine has run.
        log!("driver state left allocated: {} send completions outstanding", sends);
    }
}
