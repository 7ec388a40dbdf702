//! Event objects: what an application's `HANDLE hEvent` names.
//!
//! On Windows the handle is a real Win32 event and the shim calls SetEvent / ResetEvent on it.
//! Elsewhere there are no Win32 events, so the shim provides its own ([`EventObject`]),
//! created with `PeerDrtCreateEvent` and waited on with `PeerDrtWaitForEvent` (peerdrt.h).
//! They behave like Win32 events:
//! * auto-reset: a wait that succeeds, or one waiter woken by a set, resets it;
//! * manual-reset: it stays signalled until reset (the DRT resets a search's event when the
//!   search result buffer has been consumed).
//!
//! An event may carry a callback (`PeerDrtSetEventCallback`), the stand-in for
//! `RegisterWaitForSingleObject`: every set calls it, on the thread that set the event, with
//! no shim lock held. On an auto-reset event the callback consumes the signal, as a registered
//! wait would; a manual-reset event stays signalled.

use std::ffi::c_void;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// A callback of `PeerDrtSetEventCallback`.
pub type EventCallback = unsafe extern "C" fn(context: *mut c_void);

#[derive(Debug, Default)]
struct State {
    signaled: bool,
    callback: Option<(EventCallback, usize)>,
}

/// A Win32-style event.
#[derive(Debug)]
pub struct EventObject {
    manual_reset: bool,
    state: Mutex<State>,
    cond: Condvar,
}

/// A callback to run once the caller has released its locks.
#[must_use = "a pending callback must be run"]
#[derive(Debug)]
pub struct Fire(Option<(EventCallback, usize)>);

impl Fire {
    /// Nothing to run.
    pub const NONE: Fire = Fire(None);

    /// Runs the callback, if any.
    pub fn run(self) {
        if let Some((cb, ctx)) = self.0 {
            // SAFETY: the application registered `cb` with this context for exactly this call.
            unsafe { cb(ctx as *mut c_void) }
        }
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl EventObject {
    /// A new, unsignalled event.
    pub fn new(manual_reset: bool) -> Arc<Self> {
        Arc::new(Self { manual_reset, state: Mutex::new(State::default()), cond: Condvar::new() })
    }

    /// Whether it is a manual-reset event.
    pub fn is_manual_reset(&self) -> bool {
        self.manual_reset
    }

    /// SetEvent. Returns the callback to run after the caller has dropped its own locks.
    pub fn set(&self) -> Fire {
        let mut s = lock(&self.state);
        if let Some(cb) = s.callback {
            s.signaled = self.manual_reset;
            if self.manual_reset {
                self.cond.notify_all();
            }
            return Fire(Some(cb));
        }
        s.signaled = true;
        if self.manual_reset {
            self.cond.notify_all();
        } else {
            self.cond.notify_one();
        }
        Fire::NONE
    }

    /// ResetEvent.
    pub fn reset(&self) {
        lock(&self.state).signaled = false;
    }

    /// Whether it is signalled now (does not consume an auto-reset signal).
    pub fn is_set(&self) -> bool {
        lock(&self.state).signaled
    }

    /// WaitForSingleObject: `true` when signalled within `timeout` (`None`: forever).
    pub fn wait(&self, timeout: Option<Duration>) -> bool {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut s = lock(&self.state);
        loop {
            if s.signaled {
                if !self.manual_reset {
                    s.signaled = false;
                }
                return true;
            }
            match deadline {
                None => s = self.cond.wait(s).unwrap_or_else(|p| p.into_inner()),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return false;
                    }
                    s = self.cond.wait_timeout(s, d - now).unwrap_or_else(|p| p.into_inner()).0;
                }
            }
        }
    }

    /// Sets (or, with `None`, clears) the callback run on every set.
    pub fn set_callback(&self, callback: Option<(EventCallback, usize)>) {
        lock(&self.state).callback = callback;
    }
}

/// What the shim signals when it queues an event or a search result.
#[derive(Debug, Clone)]
pub(crate) enum Signal {
    /// A shim event object.
    #[cfg_attr(windows, allow(dead_code))]
    Object(Arc<EventObject>),
    /// A Win32 event handle.
    #[cfg(windows)]
    Win32(usize),
}

impl Signal {
    pub(crate) fn set(&self) -> Fire {
        match self {
            Self::Object(e) => e.set(),
            #[cfg(windows)]
            Self::Win32(h) => {
                // SAFETY: the application handed us this event handle for signalling.
                unsafe { windows_sys::Win32::System::Threading::SetEvent(*h as _) };
                Fire::NONE
            }
        }
    }

    pub(crate) fn reset(&self) {
        match self {
            Self::Object(e) => e.reset(),
            #[cfg(windows)]
            Self::Win32(h) => {
                // SAFETY: as above.
                unsafe { windows_sys::Win32::System::Threading::ResetEvent(*h as _) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::thread;

    #[test]
    fn auto_reset_wakes_one_waiter_and_resets() {
        let e = EventObject::new(false);
        assert!(!e.wait(Some(Duration::from_millis(10))));
        e.set().run();
        assert!(e.is_set());
        assert!(e.wait(Some(Duration::ZERO)));
        assert!(!e.is_set(), "a satisfied wait resets an auto-reset event");
        assert!(!e.wait(Some(Duration::from_millis(10))));

        // Two waiters, one set: exactly one wakes.
        let woken = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let (e, w) = (e.clone(), woken.clone());
                thread::spawn(move || {
                    if e.wait(Some(Duration::from_millis(400))) {
                        w.fetch_add(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        thread::sleep(Duration::from_millis(50));
        e.set().run();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(woken.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn manual_reset_stays_set_until_reset_and_wakes_everyone() {
        let e = EventObject::new(true);
        let handles: Vec<_> = (0..3)
            .map(|_| {
                let e = e.clone();
                thread::spawn(move || e.wait(Some(Duration::from_secs(5))))
            })
            .collect();
        thread::sleep(Duration::from_millis(50));
        e.set().run();
        for h in handles {
            assert!(h.join().unwrap());
        }
        assert!(e.wait(Some(Duration::ZERO)));
        assert!(e.wait(Some(Duration::ZERO)), "a wait does not reset a manual-reset event");
        e.reset();
        assert!(!e.wait(Some(Duration::from_millis(10))));
    }

    static CALLS: AtomicUsize = AtomicUsize::new(0);
    unsafe extern "C" fn count(ctx: *mut c_void) {
        CALLS.fetch_add(ctx as usize, Ordering::SeqCst);
    }

    #[test]
    fn callbacks_run_on_set_and_consume_auto_reset_signals() {
        let auto = EventObject::new(false);
        auto.set_callback(Some((count, 1)));
        auto.set().run();
        assert_eq!(CALLS.load(Ordering::SeqCst), 1);
        assert!(!auto.is_set(), "the callback consumed the signal");

        let manual = EventObject::new(true);
        manual.set_callback(Some((count, 10)));
        manual.set().run();
        assert_eq!(CALLS.load(Ordering::SeqCst), 11);
        assert!(manual.is_set());
        manual.set_callback(None);
        manual.set().run();
        assert_eq!(CALLS.load(Ordering::SeqCst), 11);
    }
}
