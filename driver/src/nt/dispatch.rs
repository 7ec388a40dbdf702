//! IRP dispatch routines (PASSIVE_LEVEL, the requesting thread) and the cancel-safe queue of
//! pending WAIT_EVENT IRPs.
//!
//! * IRP_MJ_CREATE: `Device::open`; the OpenId goes into `FileObject->FsContext`.
//! * IRP_MJ_CLEANUP (last handle closed): `Device::cleanup`, which ends the open's searches,
//!   registrations and instances and cancels its waits; the open's pending WAIT_EVENT IRPs
//!   complete with STATUS_CANCELLED.
//! * IRP_MJ_CLOSE (last reference gone): `Device::close` frees the open's slot.
//! * IRP_MJ_DEVICE_CONTROL, METHOD_BUFFERED: the input is copied out of `SystemBuffer` (input
//!   and output share it), `Device::ioctl` writes the output into it. A WAIT_EVENT that pends is
//!   queued under its token. Failures complete as pended requests, so the caller's
//!   `OVERLAPPED.Internal` carries the exact NTSTATUS (see [`finish_control`]).
//!
//! # The wait queue
//!
//! Own lock plus `IoSetCancelRoutine` discipline (the cancel spin lock is only held by the I/O
//! manager on entry to the cancel routine, which drops it first):
//! * queue: with the waits lock held, set the cancel routine; if the IRP was already cancelled
//!   and the routine can be taken back, complete it as cancelled right away, else queue it (if
//!   the I/O manager took the routine, the cancel routine is about to run and will find it);
//! * complete (engine completions): with the lock held, take the cancel routine back; only if
//!   that succeeds does the completer own the IRP, otherwise the cancel routine does;
//! * cancel routine: with the lock held, remove the IRP and record (open, token) so the worker
//!   tells the engine (`Device::cancel_wait`, which needs the engine lock and PASSIVE_LEVEL).
//!
//! The record list never allocates in the cancel routine: its spare capacity is kept at least
//! the number of queued IRPs.

use alloc::vec::Vec;

use peerdrt_abi::status as abi_status;

use crate::engine::{Completion, Irp, OpenId, Owner};

use super::sys::{self, compat};
use super::{Engine, driver, time, with_engine, with_engine_always};

/// Largest input buffer accepted (the largest real request is a few KiB).
const MAX_INPUT: usize = 64 * 1024;

/// Tag bit that marks FsContext as holding an OpenId (and keeps it non-null).
const OPEN_TAG: usize = 1 << 40;

/// A queued WAIT_EVENT IRP.
struct WaitEntry {
    irp: *mut sys::IRP,
    open: OpenId,
    token: u64,
}

/// Pending WAIT_EVENT IRPs and the cancellations the engine has not heard of yet.
pub struct WaitQueue {
    pending: Vec<WaitEntry>,
    cancelled: Vec<(OpenId, u64)>,
}

// SAFETY: the IRP pointers are only used under the waits lock or by their owner.
unsafe impl Send for WaitQueue {}

impl WaitQueue {
    /// Empty.
    pub const fn new() -> Self {
        Self { pending: Vec::new(), cancelled: Vec::new() }
    }

    /// IRPs queued.
    pub fn len(&self) -> usize {
        self.pending.len()
    }
}

fn open_of(file: *mut sys::FILE_OBJECT) -> Option<OpenId> {
    if file.is_null() {
        return None;
    }
    // SAFETY: the file object of the IRP being dispatched.
    let v = unsafe { (*file).FsContext } as usize;
    if v & OPEN_TAG == 0 {
        return None;
    }
    let bits = v as u32;
    Some(OpenId { slot: (bits >> 16) as u16, generation: bits as u16 })
}

/// Completes an IRP this driver owns.
///
/// # Safety
/// `irp` is owned by the driver (not queued, cancel routine cleared) and not yet completed.
unsafe fn complete(irp: *mut sys::IRP, status: sys::NTSTATUS, information: usize) -> sys::NTSTATUS {
    // SAFETY: as documented.
    unsafe {
        (*irp).IoStatus.__bindgen_anon_1.Status = status;
        (*irp).IoStatus.Information = information;
        compat::complete(irp);
    }
    status
}

/// Completes a device-control IRP and returns what the dispatch routine returns: errors are
/// completed as pended requests.
///
/// The I/O manager neither writes the caller's I/O status block (`OVERLAPPED.Internal`) nor
/// signals its event when a request on an overlapped handle fails without having pended; the
/// caller then only sees the Win32 error, into which the DRT statuses (0xE062xxxx) do not map.
/// Marking the IRP pending before completing it makes the NTSTATUS reach the caller bit-exact.
///
/// # Safety
/// As [`complete`]; the dispatch routine returns the result.
unsafe fn finish_control(irp: *mut sys::IRP, status: sys::NTSTATUS, information: usize) -> sys::NTSTATUS {
    // NT_ERROR: severity 3 (warnings such as STATUS_BUFFER_OVERFLOW still reach the IOSB).
    if (status as u32) >> 30 == 3 {
        // SAFETY: as documented.
        unsafe {
            compat::mark_pending(irp);
            complete(irp, status, information);
        }
        return sys::STATUS_PENDING;
    }
    // SAFETY: as documented.
    unsafe { complete(irp, status, information) }
}

/// The current stack location and file object of a dispatched IRP.
///
/// # Safety
/// `irp` is being dispatched to this driver.
unsafe fn stack(irp: *mut sys::IRP) -> &'static mut sys::IO_STACK_LOCATION {
    // SAFETY: as documented.
    unsafe { &mut *compat::current_stack(irp) }
}

/// IRP_MJ_CREATE.
pub unsafe extern "system" fn create(_device: *mut sys::DEVICE_OBJECT, irp: *mut sys::IRP) -> sys::NTSTATUS {
    // SAFETY: dispatched to us.
    let stack = unsafe { stack(irp) };
    let file = stack.FileObject;
    // Only the device itself opens: "\\.\PeerDrt\anything" is refused (FILE_DEVICE_SECURE_OPEN
    // already applies the device's DACL to such names).
    // SAFETY: the file object being created.
    if !file.is_null() && unsafe { (*file).FileName.Length } != 0 {
        // SAFETY: ours to complete.
        return unsafe { complete(irp, sys::STATUS_OBJECT_NAME_NOT_FOUND, 0) };
    }
    // IRP_MJ_CREATE runs in the requesting thread's context (the device is not stacked), so the
    // current process is the opener. (IoGetRequestorProcessId would say the same but is an
    // unimplemented stub in Wine 8, which aborts winedevice.exe.) Under Wine this is
    // winedevice.exe's id: the owner is informational there.
    // SAFETY: PASSIVE_LEVEL.
    let pid = unsafe { sys::PsGetCurrentProcessId() } as usize as u32;
    let opened = with_engine(|e| {
        let open = e.device.open(Owner { pid, uid: 0 })?;
        if e.opens.try_reserve(1).is_err() {
            e.device.close(time::now(), open, &mut e.platform);
            return None;
        }
        e.opens.push(open);
        Some(open)
    });
    let status = match opened {
        Ok(Some(open)) => {
            if !file.is_null() {
                // SAFETY: the file object of this open; the driver owns FsContext.
                unsafe { (*file).FsContext = (OPEN_TAG | open.to_bits() as usize) as sys::PVOID };
            }
            sys::STATUS_SUCCESS
        }
        Ok(None) => sys::STATUS_INSUFFICIENT_RESOURCES,
        Err(status) => status,
    };
    // SAFETY: ours to complete.
    unsafe { complete(irp, status, 0) }
}

/// IRP_MJ_CLEANUP.
pub unsafe extern "system" fn cleanup(_device: *mut sys::DEVICE_OBJECT, irp: *mut sys::IRP) -> sys::NTSTATUS {
    // SAFETY: dispatched to us.
    let open = open_of(unsafe { stack(irp) }.FileObject);
    if let Some(open) = open {
        with_engine_always(|e| {
            let now = time::now();
            e.device.cleanup(now, open, &mut e.platform);
            e.groups.open_closed(open);
            super::worker::settle(e, now);
            cancel_open(open);
        });
        driver().wake.set();
    }
    // SAFETY: ours to complete.
    unsafe { complete(irp, sys::STATUS_SUCCESS, 0) }
}

/// IRP_MJ_CLOSE.
pub unsafe extern "system" fn close(_device: *mut sys::DEVICE_OBJECT, irp: *mut sys::IRP) -> sys::NTSTATUS {
    // SAFETY: dispatched to us.
    let file = unsafe { stack(irp) }.FileObject;
    if let Some(open) = open_of(file) {
        with_engine_always(|e| {
            let now = time::now();
            e.device.close(now, open, &mut e.platform);
            e.groups.open_closed(open);
            e.opens.retain(|o| *o != open);
            super::worker::settle(e, now);
            cancel_open(open);
        });
        // SAFETY: the file object is going away; clear our context.
        unsafe { (*file).FsContext = core::ptr::null_mut() };
    }
    // SAFETY: ours to complete.
    unsafe { complete(irp, sys::STATUS_SUCCESS, 0) }
}

/// Every other major function.
pub unsafe extern "system" fn unsupported(
    _device: *mut sys::DEVICE_OBJECT,
    irp: *mut sys::IRP,
) -> sys::NTSTATUS {
    // SAFETY: ours to complete.
    unsafe { complete(irp, sys::STATUS_INVALID_DEVICE_REQUEST, 0) }
}

/// IRP_MJ_DEVICE_CONTROL.
pub unsafe extern "system" fn device_control(
    _device: *mut sys::DEVICE_OBJECT,
    irp: *mut sys::IRP,
) -> sys::NTSTATUS {
    // SAFETY: dispatched to us.
    let stack = unsafe { stack(irp) };
    let Some(open) = open_of(stack.FileObject) else {
        // SAFETY: ours to complete.
        return unsafe { finish_control(irp, sys::STATUS_INVALID_HANDLE, 0) };
    };
    // SAFETY: the DeviceIoControl member is the active one for IRP_MJ_DEVICE_CONTROL.
    let (code, input_len, output_len) = unsafe {
        let p = &stack.Parameters.DeviceIoControl;
        (p.IoControlCode, p.InputBufferLength as usize, p.OutputBufferLength as usize)
    };
    if code & 3 != sys::METHOD_BUFFERED {
        // SAFETY: ours to complete.
        return unsafe { finish_control(irp, sys::STATUS_INVALID_DEVICE_REQUEST, 0) };
    }
    if input_len > MAX_INPUT {
        // SAFETY: ours to complete.
        return unsafe { finish_control(irp, sys::STATUS_INVALID_PARAMETER, 0) };
    }
    // SAFETY: METHOD_BUFFERED: SystemBuffer holds max(input, output) bytes.
    let buffer = unsafe { (*irp).AssociatedIrp.SystemBuffer } as *mut u8;
    let mut input = Vec::new();
    if input.try_reserve_exact(input_len).is_err() {
        // SAFETY: ours to complete.
        return unsafe { finish_control(irp, sys::STATUS_INSUFFICIENT_RESOURCES, 0) };
    }
    if input_len > 0 && !buffer.is_null() {
        // SAFETY: the first input_len bytes of the system buffer are the caller's input.
        input.extend_from_slice(unsafe { core::slice::from_raw_parts(buffer, input_len) });
    }
    let result = with_engine(|e| {
        let output: &mut [u8] = if output_len > 0 && !buffer.is_null() {
            // SAFETY: the system buffer has room for output_len bytes; `input` is a copy.
            unsafe { core::slice::from_raw_parts_mut(buffer, output_len) }
        } else {
            &mut []
        };
        let token = e.next_token;
        e.next_token += 1;
        let now = time::now();
        let completion = e.device.ioctl(
            now,
            open,
            Irp { code, input: &input, output: &mut *output, token },
            &mut e.platform,
        );
        let completion = super::durability::after_ioctl(e, now, open, code, &input, output, completion);
        if completion == Completion::Pending {
            // SAFETY: the IRP is ours until queued.
            unsafe { queue_wait(e, irp, open, token) };
        }
        super::worker::settle(e, now);
        completion
    });
    // The request may have created timers, datagrams or an instance.
    driver().wake.set();
    match result {
        Ok(Completion::Complete { status, information }) => {
            let information = information.min(output_len);
            // SAFETY: not queued; ours to complete.
            unsafe { finish_control(irp, status as sys::NTSTATUS, information) }
        }
        // Marked pending and queued (or already completed by queue_wait).
        Ok(Completion::Pending) => sys::STATUS_PENDING,
        // SAFETY: the engine never saw it; ours to complete.
        Err(status) => unsafe { finish_control(irp, status, 0) },
    }
}

/// Queues a pending WAIT_EVENT IRP (engine lock held, PASSIVE_LEVEL).
///
/// # Safety
/// `irp` is the IRP being dispatched; the dispatch routine returns STATUS_PENDING after this.
unsafe fn queue_wait(e: &mut Engine, irp: *mut sys::IRP, open: OpenId, token: u64) {
    // SAFETY: ours; the dispatch routine returns STATUS_PENDING.
    unsafe { compat::mark_pending(irp) };
    let d = driver();
    let mut q = d.waits.lock();
    // Keep the cancel routine's record list able to take one entry per queued IRP.
    let need = q.pending.len() + 1;
    let room = q.pending.try_reserve(1).is_ok() && q.cancelled.try_reserve(need).is_ok();
    if !room {
        drop(q);
        e.device.cancel_wait(open, token);
        // SAFETY: never queued; ours.
        unsafe { complete(irp, sys::STATUS_INSUFFICIENT_RESOURCES, 0) };
        return;
    }
    // SAFETY: ours; the queue lock is held.
    unsafe {
        compat::IoSetCancelRoutine(irp, Some(cancel_wait));
        if (*irp).Cancel != 0 && compat::IoSetCancelRoutine(irp, None).is_some() {
            // Cancelled before it was queued, and the cancel routine will not run.
            drop(q);
            e.device.cancel_wait(open, token);
            complete(irp, sys::STATUS_CANCELLED, 0);
            return;
        }
    }
    // If the I/O manager already took the cancel routine, it runs as soon as we drop the lock
    // and finds the IRP here.
    q.pending.push(WaitEntry { irp, open, token });
}

/// The cancel routine of queued WAIT_EVENT IRPs (DISPATCH_LEVEL, cancel spin lock held).
unsafe extern "system" fn cancel_wait(_device: *mut sys::DEVICE_OBJECT, irp: *mut sys::IRP) {
    // SAFETY: the I/O manager holds the cancel spin lock for us; release it first.
    unsafe { sys::IoReleaseCancelSpinLock((*irp).CancelIrql) };
    let d = driver();
    let found = {
        let mut q = d.waits.lock();
        match q.pending.iter().position(|w| w.irp == irp) {
            Some(i) => {
                let w = q.pending.remove(i);
                // Capacity reserved at queue time: no allocation here.
                q.cancelled.push((w.open, w.token));
                true
            }
            None => false,
        }
    };
    if found {
        // SAFETY: removed from the queue with its cancel routine gone: ours.
        unsafe { complete(irp, sys::STATUS_CANCELLED, 0) };
        d.wake.set();
    }
}

/// Tells the engine about waits the cancel routine completed (engine lock held).
pub fn drain_cancelled(e: &mut Engine) {
    let d = driver();
    loop {
        let next = d.waits.lock().cancelled.pop();
        match next {
            Some((open, token)) => {
                e.device.cancel_wait(open, token);
            }
            None => break,
        }
    }
}

/// Completes the waits the engine finished (engine lock held).
pub fn complete_waits(e: &mut Engine) {
    let d = driver();
    while let Some(done) = e.device.poll_wait_completion() {
        let irp = {
            let mut q = d.waits.lock();
            match q.pending.iter().position(|w| w.open == done.open && w.token == done.token) {
                // SAFETY: a queued IRP; taking the cancel routine back makes it ours.
                Some(i) if unsafe { compat::IoSetCancelRoutine(q.pending[i].irp, None) }.is_some() => {
                    Some(q.pending.remove(i).irp)
                }
                // Being cancelled (the cancel routine completes it) or already gone.
                _ => None,
            }
        };
        // Its IRP was cancelled after the engine chose it: the event waits for the next one.
        let Some(irp) = irp else {
            e.device.wait_completion_undelivered(done);
            continue;
        };
        // SAFETY: ours now; its stack location and system buffer are still the request's.
        unsafe {
            let capacity =
                (*compat::current_stack(irp)).Parameters.DeviceIoControl.OutputBufferLength as usize;
            let buffer = (*irp).AssociatedIrp.SystemBuffer as *mut u8;
            let n = if buffer.is_null() { 0 } else { done.output.len().min(capacity) };
            if n > 0 {
                core::ptr::copy_nonoverlapping(done.output.as_ptr(), buffer, n);
            }
            complete(irp, done.status as sys::NTSTATUS, n);
        }
    }
}

/// Completes every queued wait of `open` as cancelled (cleanup; engine lock held).
pub fn cancel_open(open: OpenId) {
    cancel_matching(|w| w.open == open);
}

/// Completes every queued wait as cancelled (DriverUnload).
pub fn cancel_all() {
    cancel_matching(|_| true);
}

fn cancel_matching(matches: impl Fn(&WaitEntry) -> bool) {
    let d = driver();
    loop {
        let irp = {
            let mut q = d.waits.lock();
            let mut found = None;
            for i in 0..q.pending.len() {
                // SAFETY: a queued IRP; taking the cancel routine back makes it ours.
                if matches(&q.pending[i])
                    && unsafe { compat::IoSetCancelRoutine(q.pending[i].irp, None) }.is_some()
                {
                    found = Some(q.pending.remove(i).irp);
                    break;
                }
            }
            found
        };
        match irp {
            // SAFETY: ours.
            Some(irp) => unsafe {
                complete(irp, abi_status::CANCELLED as sys::NTSTATUS, 0);
            },
            None => break,
        }
    }
}

/// IRPs still queued (DriverUnload's check).
pub fn queued() -> usize {
    driver().waits.lock().len()
}
