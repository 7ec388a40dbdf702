//! peerdrt.h's event objects for platforms without Win32 events: the `HANDLE hEvent` that
//! DrtOpen and DrtStartSearch signal. See [`crate::event`] for their semantics.

use std::ffi::c_void;
use std::time::Duration;

use super::types::*;
use super::{Object, registry};
use crate::event::{EventCallback, EventObject};

/// Creates an event (`CreateEvent(NULL, bManualReset, FALSE, NULL)`); NULL on failure.
#[unsafe(no_mangle)]
pub extern "system" fn PeerDrtCreateEvent(bManualReset: BOOL) -> HANDLE {
    let e = EventObject::new(bManualReset != 0);
    registry().insert(Object::Event(e)) as HANDLE
}

/// WaitForSingleObject: WAIT_OBJECT_0 (0), WAIT_TIMEOUT (0x102), or WAIT_FAILED for an unknown
/// handle. `dwMilliseconds` = INFINITE (0xFFFFFFFF) waits forever.
#[unsafe(no_mangle)]
pub extern "system" fn PeerDrtWaitForEvent(hEvent: HANDLE, dwMilliseconds: u32) -> u32 {
    let Some(e) = registry().event(hEvent) else { return WAIT_FAILED };
    let timeout = (dwMilliseconds != INFINITE).then(|| Duration::from_millis(u64::from(dwMilliseconds)));
    if e.wait(timeout) { WAIT_OBJECT_0 } else { WAIT_TIMEOUT }
}

/// SetEvent. Runs the event's callback, if any, on this thread.
#[unsafe(no_mangle)]
pub extern "system" fn PeerDrtSetEvent(hEvent: HANDLE) -> BOOL {
    let Some(e) = registry().event(hEvent) else { return 0 };
    e.set().run();
    1
}

/// ResetEvent.
#[unsafe(no_mangle)]
pub extern "system" fn PeerDrtResetEvent(hEvent: HANDLE) -> BOOL {
    let Some(e) = registry().event(hEvent) else { return 0 };
    e.reset();
    1
}

/// CloseHandle. Waiters already blocked on it are not woken (as with a Win32 event whose last
/// handle closes while others still reference it, the object lives until they return).
#[unsafe(no_mangle)]
pub extern "system" fn PeerDrtCloseEvent(hEvent: HANDLE) -> BOOL {
    let mut r = registry();
    match r.objects.get(&(hEvent as usize)) {
        Some(Object::Event(_)) => {
            r.objects.remove(&(hEvent as usize));
            1
        }
        _ => 0,
    }
}

/// The stand-in for RegisterWaitForSingleObject: `pfnCallback(pvContext)` runs every time the
/// event is set, on the thread that sets it (for the DRT: its event pump thread), with no shim
/// lock held, so it may call any Drt* function. On an auto-reset event the callback consumes the
/// signal. A NULL callback removes it.
///
/// # Safety
/// `pfnCallback` must be safe to call with `pvContext` from any thread until it is removed.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn PeerDrtSetEventCallback(
    hEvent: HANDLE,
    pfnCallback: Option<EventCallback>,
    pvContext: *mut c_void,
) -> BOOL {
    let Some(e) = registry().event(hEvent) else { return 0 };
    e.set_callback(pfnCallback.map(|cb| (cb, pvContext as usize)));
    1
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn event_handles_behave_like_win32_events() {
        let auto = PeerDrtCreateEvent(0);
        let manual = PeerDrtCreateEvent(1);
        assert!(!auto.is_null() && !manual.is_null() && auto != manual);
        assert_eq!(PeerDrtWaitForEvent(auto, 0), WAIT_TIMEOUT);
        assert_eq!(PeerDrtSetEvent(auto), 1);
        assert_eq!(PeerDrtWaitForEvent(auto, 0), WAIT_OBJECT_0);
        assert_eq!(PeerDrtWaitForEvent(auto, 10), WAIT_TIMEOUT, "auto-reset");
        assert_eq!(PeerDrtSetEvent(manual), 1);
        assert_eq!(PeerDrtWaitForEvent(manual, 0), WAIT_OBJECT_0);
        assert_eq!(PeerDrtWaitForEvent(manual, INFINITE), WAIT_OBJECT_0, "manual-reset stays set");
        assert_eq!(PeerDrtResetEvent(manual), 1);
        assert_eq!(PeerDrtWaitForEvent(manual, 10), WAIT_TIMEOUT);

        static HITS: AtomicUsize = AtomicUsize::new(0);
        unsafe extern "C" fn hit(ctx: *mut c_void) {
            HITS.fetch_add(ctx as usize, Ordering::SeqCst);
        }
        assert_eq!(unsafe { PeerDrtSetEventCallback(auto, Some(hit), 5 as *mut c_void) }, 1);
        PeerDrtSetEvent(auto);
        assert_eq!(HITS.load(Ordering::SeqCst), 5);
        assert_eq!(PeerDrtWaitForEvent(auto, 0), WAIT_TIMEOUT, "the callback consumed the signal");

        assert_eq!(PeerDrtCloseEvent(auto), 1);
        assert_eq!(PeerDrtCloseEvent(auto), 0);
        assert_eq!(PeerDrtWaitForEvent(auto, 0), WAIT_FAILED);
        assert_eq!(PeerDrtSetEvent(auto), 0);
        assert_eq!(PeerDrtCloseEvent(manual), 1);
        // Not an event: a made-up value.
        assert_eq!(PeerDrtWaitForEvent(0x40 as HANDLE, 0), WAIT_FAILED);
    }
}
