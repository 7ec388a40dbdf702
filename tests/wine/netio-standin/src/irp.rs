//! IRPs the WSK way, and the thread that completes them.
//!
//! A WSK function that takes an IRP sets up the next stack location for itself (the caller set
//! its completion routine there with IoSetCompletionRoutine), marks it pending, returns
//! STATUS_PENDING, and later completes it: IoStatus filled, then what IoCompleteRequest does —
//! advance the location and call the routine if its SL_INVOKE_ON_* flags match. This module
//! runs that walk for the provider's own location so it can check the routine's answer (an IRP
//! the client allocated must come back with STATUS_MORE_PROCESSING_REQUIRED), then hands any
//! remaining locations to ntoskrnl's IofCompleteRequest (Wine's walks the same way and frees
//! the IRP at the end, like Windows).
//!
//! Completions always run on the completion thread, never on the caller's, after a small
//! random delay — sometimes before the dispatch call has even returned to the client.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use peerdrt_nt_sys::*;

use crate::log::{self, hex, violation};
use crate::nmr::Binding;

#[link(name = "ntoskrnl")]
unsafe extern "system" {
    /// `IoCompleteRequest` (a FASTCALL export; on x64 the one calling convention).
    fn IofCompleteRequest(irp: *mut IRP, priority_boost: CCHAR);
}

/// A raw pointer that may cross to the completion or receive threads. Use [`SendPtr::get`] in
/// closures (capturing `.0` would capture the bare pointer).
#[derive(Debug)]
pub struct SendPtr<T>(pub *mut T);
// SAFETY: the pointers are client objects (IRPs, buffers) the WSK contract lets the provider
// use from any thread until it completes the request.
unsafe impl<T> Send for SendPtr<T> {}
impl<T> Clone for SendPtr<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for SendPtr<T> {}
impl<T> SendPtr<T> {
    pub fn get(self) -> *mut T {
        self.0
    }
}

/// IRPs handed to the provider and not completed yet.
static OWNED: Mutex<Vec<usize>> = Mutex::new(Vec::new());

/// An IRP the provider took over.
pub struct Ticket {
    irp: SendPtr<IRP>,
    self_allocated: bool,
    what: &'static str,
    binding: Option<Arc<Binding>>,
}

impl Ticket {
    pub fn irp(&self) -> *mut IRP {
        self.irp.get()
    }
}

/// Takes over `irp` for the WSK function `what`, checking the client set it up as WSK requires.
///
/// # Safety
/// `irp` must be null or a valid IRP.
pub unsafe fn accept(
    irp: *mut IRP,
    what: &'static str,
    binding: Option<&Arc<Binding>>,
) -> Result<Ticket, NTSTATUS> {
    if irp.is_null() {
        violation(&format!("{what} called without an IRP"));
        return Err(STATUS_INVALID_PARAMETER);
    }
    // SAFETY: the caller passes a valid IRP.
    let (current, count) = unsafe { ((*irp).CurrentLocation, (*irp).StackCount) };
    if current <= 1 || current > count + 1 {
        violation(&format!(
            "{what}: the IRP has no stack location left for the WSK subsystem (CurrentLocation {current}, StackCount {count})"
        ));
        return Err(STATUS_INVALID_PARAMETER);
    }
    let self_allocated = current == count + 1;
    // SAFETY: CurrentLocation > 1, so the next location is inside the IRP.
    let next = unsafe { &mut *IoGetNextIrpStackLocation(irp) };
    if self_allocated {
        if next.CompletionRoutine.is_none() {
            violation(&format!("{what}: the IRP the client allocated has no completion routine"));
        } else if next.Control & SL_INVOKE_ON_ALL != SL_INVOKE_ON_ALL {
            violation(&format!(
                "{what}: the completion routine must be set to run on success, error and cancel (Control 0x{:02X})",
                next.Control
            ));
        }
    }
    {
        let mut owned = OWNED.lock().unwrap_or_else(|e| e.into_inner());
        if owned.contains(&(irp as usize)) {
            drop(owned);
            violation(&format!("{what}: the IRP {irp:p} is still pending in an earlier WSK call"));
            return Err(STATUS_INVALID_PARAMETER);
        }
        owned.push(irp as usize);
    }
    // SAFETY: as above; the location becomes the provider's.
    unsafe {
        IoSetNextIrpStackLocation(irp);
        (*IoGetCurrentIrpStackLocation(irp)).DeviceObject = std::ptr::null_mut();
        IoMarkIrpPending(irp);
    }
    Ok(Ticket { irp: SendPtr(irp), self_allocated, what, binding: binding.cloned() })
}

/// Completes the request on the completion thread.
pub fn complete_later(ticket: Ticket, status: NTSTATUS, information: usize) {
    submit(move || complete_now(ticket, status, information));
}

/// Completes the request on the calling thread (only ever the completion thread).
pub fn complete_now(ticket: Ticket, status: NTSTATUS, information: usize) {
    let irp = ticket.irp();
    OWNED.lock().unwrap_or_else(|e| e.into_inner()).retain(|&p| p != irp as usize);
    log::IRPS_COMPLETED.fetch_add(1, Ordering::Relaxed);
    // SAFETY: the provider owns the IRP until this completion; its current location is the
    // provider's (set up in `accept`).
    unsafe {
        (*irp).IoStatus.__bindgen_anon_1.Status = status;
        (*irp).IoStatus.Information = information;
        let location = &mut *IoGetCurrentIrpStackLocation(irp);
        let (routine, context, control) = (location.CompletionRoutine, location.Context, location.Control);
        (*irp).PendingReturned = BOOLEAN::from(control & SL_PENDING_RETURNED != 0);
        location.Control = 0;
        IoSkipCurrentIrpStackLocation(irp);
        let invoke = (NT_SUCCESS(status) && control & SL_INVOKE_ON_SUCCESS != 0)
            || (!NT_SUCCESS(status) && control & SL_INVOKE_ON_ERROR != 0)
            || ((*irp).Cancel != 0 && control & SL_INVOKE_ON_CANCEL != 0);
        if let (true, Some(routine)) = (invoke, routine) {
            if let Some(b) = &ticket.binding {
                b.completing.fetch_add(1, Ordering::SeqCst);
            }
            let answer = routine(std::ptr::null_mut(), irp, context);
            if let Some(b) = &ticket.binding {
                b.completing.fetch_sub(1, Ordering::SeqCst);
            }
            if answer == STATUS_MORE_PROCESSING_REQUIRED {
                return;
            }
            if ticket.self_allocated {
                violation(&format!(
                    "{}: the completion routine returned {} for an IRP the client allocated (must be STATUS_MORE_PROCESSING_REQUIRED); IoCompleteRequest goes on and frees it",
                    ticket.what,
                    hex(answer)
                ));
            }
        }
        // The rest of IoCompleteRequest: upper locations, UserIosb/UserEvent, IoFreeIrp.
        IofCompleteRequest(irp, 0);
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// Runs `job` on the completion thread (FIFO), after a random delay of up to
/// PEERDRT_NETIO_COMPLETION_DELAY_MS.
pub fn submit(job: impl FnOnce() + Send + 'static) {
    static QUEUE: OnceLock<Mutex<Sender<Job>>> = OnceLock::new();
    let queue = QUEUE.get_or_init(|| {
        let (tx, rx) = channel::<Job>();
        std::thread::Builder::new()
            .name("netio-completion".into())
            .spawn(move || {
                for job in rx {
                    let max = log::config().max_completion_delay.as_micros() as u64;
                    if max > 0 {
                        std::thread::sleep(Duration::from_micros(random() % (max + 1)));
                    }
                    job();
                }
            })
            .expect("the completion thread starts");
        Mutex::new(tx)
    });
    let _ = queue.lock().unwrap_or_else(|e| e.into_inner()).send(Box::new(job));
}

/// IRPs still owned by the provider.
pub fn pending_irps() -> usize {
    OWNED.lock().unwrap_or_else(|e| e.into_inner()).len()
}

/// xorshift64*: delays and flag choices, not security.
pub fn random() -> u64 {
    static STATE: AtomicU64 = AtomicU64::new(0x9E37_79B9_7F4A_7C15);
    let mut x = STATE.load(Ordering::Relaxed);
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    STATE.store(x, Ordering::Relaxed);
    x.wrapping_mul(0x2545_F491_4F6C_DD1D)
}
