//! The NMR binding to the WSK provider: attach/detach and in-flight call counting.
//!
//! NMR's contract for a client (netioddk.h; reference/wdk-wsk-nmr.md §3.3): once the
//! registrar calls `ClientDetachProvider`, no new call may enter the provider's dispatch table;
//! the callback returns `STATUS_SUCCESS` when nothing is in flight, or `STATUS_PENDING` and the
//! client calls `NmrClientDetachProviderComplete` exactly once, after the last call in progress
//! has returned and every socket is closed. Detach may start at any moment on any thread
//! (<= DISPATCH_LEVEL): the driver unloading, or the WSK subsystem going away.
//!
//! [`ProviderBinding`] is that state machine, lock-free on one atomic word, so it works at any
//! IRQL and never waits:
//!
//! ```text
//! Unattached --attach--> Attached --begin_detach--> Detaching --last exit--> Detached
//!                            \------------------begin_detach, nothing in flight---^
//! ```
//!
//! * Every provider call runs inside a [`CallGuard`] from [`ProviderBinding::try_enter`], which
//!   succeeds only while `Attached`.
//! * An object that outlives a call and must be torn down before detach completes (a WSK
//!   socket) keeps the count up with a [`Hold`] ([`CallGuard::into_hold`]); calls on that object
//!   still enter through [`ProviderBinding::enter_held`] while detaching (to close it), and
//!   [`ProviderBinding::release`] ends the hold when the close has completed.
//! * [`ProviderBinding::begin_detach`] answers [`DetachStart::DetachNow`] (return
//!   STATUS_SUCCESS) or [`DetachStart::DetachPending`] (return STATUS_PENDING); in the pending
//!   case the exit that brings the count to zero calls [`DetachNotify::detach_complete`] once,
//!   where the NT glue calls `NmrClientDetachProviderComplete`.
//! * [`ProviderBinding::is_detached`] / [`ProviderBinding::wait_detached`] are the signal the
//!   unload path (and ClientCleanupBindingContext) waits on before freeing what calls used.

use core::sync::atomic::{AtomicU32, Ordering};

use crate::abi::status;

/// Where the binding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// No provider yet (or reset after a completed detach).
    Unattached,
    /// Provider calls may enter.
    Attached,
    /// `ClientDetachProvider` was called; calls in flight and holds are draining.
    Detaching,
    /// Detach is complete: nothing in flight, no holds.
    Detached,
}

/// What `ClientDetachProvider` must return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetachStart {
    /// Nothing was in flight: the binding is already `Detached`. Return STATUS_SUCCESS and do
    /// not call `NmrClientDetachProviderComplete`; [`DetachNotify`] is not called.
    DetachNow,
    /// Calls or holds are outstanding. Return STATUS_PENDING; the last exit calls
    /// [`DetachNotify::detach_complete`] exactly once.
    DetachPending,
}

impl DetachStart {
    /// The NTSTATUS `ClientDetachProvider` returns.
    pub fn ntstatus(self) -> u32 {
        match self {
            DetachStart::DetachNow => status::SUCCESS,
            DetachStart::DetachPending => status::PENDING,
        }
    }
}

/// A transition the binding refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindingError {
    /// `attach` when not `Unattached`.
    AlreadyAttached,
    /// `begin_detach` before `attach`.
    NotAttached,
    /// `begin_detach` a second time (NMR calls `ClientDetachProvider` once).
    AlreadyDetaching,
    /// `reset` before detach completed.
    NotDetached,
}

/// Called when a pending detach finishes: the NT glue calls
/// `NmrClientDetachProviderComplete(NmrBindingHandle)` and signals its unload event here.
///
/// Runs on the thread whose exit was the last, at that thread's IRQL (<= DISPATCH_LEVEL): it
/// must not wait.
pub trait DetachNotify {
    /// The last call or hold has ended after `begin_detach` returned `DetachPending`.
    fn detach_complete(&self);
}

const PHASE_SHIFT: u32 = 30;
const COUNT_MASK: u32 = (1 << PHASE_SHIFT) - 1;
const UNATTACHED: u32 = 0;
const ATTACHED: u32 = 1;
const DETACHING: u32 = 2;
const DETACHED: u32 = 3;

const fn word(phase: u32, count: u32) -> u32 {
    (phase << PHASE_SHIFT) | count
}
const fn phase_of(word: u32) -> u32 {
    word >> PHASE_SHIFT
}
const fn count_of(word: u32) -> u32 {
    word & COUNT_MASK
}

/// One NMR binding to the WSK provider: phase and in-flight count in one atomic word.
pub struct ProviderBinding<N: DetachNotify> {
    state: AtomicU32,
    notify: N,
}

impl<N: DetachNotify> ProviderBinding<N> {
    /// An `Unattached` binding that reports pending-detach completion to `notify`.
    pub const fn new(notify: N) -> Self {
        ProviderBinding { state: AtomicU32::new(word(UNATTACHED, 0)), notify }
    }

    /// The notifier.
    pub fn notifier(&self) -> &N {
        &self.notify
    }

    /// `Unattached` → `Attached`, once `NmrClientAttachProvider` succeeded.
    pub fn attach(&self) -> Result<(), BindingError> {
        self.state
            .compare_exchange(word(UNATTACHED, 0), word(ATTACHED, 0), Ordering::AcqRel, Ordering::Acquire)
            .map(|_| ())
            .map_err(|_| BindingError::AlreadyAttached)
    }

    /// Enter a provider call: `Some` only while `Attached`. Keep the guard alive until the
    /// provider function has returned.
    #[must_use]
    pub fn try_enter(&self) -> Option<CallGuard<'_, N>> {
        let mut current = self.state.load(Ordering::Acquire);
        loop {
            if phase_of(current) != ATTACHED || count_of(current) == COUNT_MASK {
                return None;
            }
            match self.state.compare_exchange_weak(current, current + 1, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Some(CallGuard { binding: self }),
                Err(seen) => current = seen,
            }
        }
    }

    /// Enter a call on an object that holds the binding (a socket being used or closed): allowed
    /// while `Attached` or `Detaching`, since the hold keeps the binding from completing detach.
    /// `None` if `hold` belongs to another binding.
    #[must_use]
    pub fn enter_held(&self, hold: &Hold) -> Option<CallGuard<'_, N>> {
        if hold.binding != self.id() {
            return None;
        }
        let mut current = self.state.load(Ordering::Acquire);
        loop {
            // A live hold means count >= 1 and phase Attached or Detaching.
            if count_of(current) == 0 || count_of(current) == COUNT_MASK {
                return None;
            }
            match self.state.compare_exchange_weak(current, current + 1, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Some(CallGuard { binding: self }),
                Err(seen) => current = seen,
            }
        }
    }

    /// End a hold (the object's close has completed). May complete a pending detach. A hold of
    /// another binding is not counted here (and is consumed: pass each hold to its own binding).
    pub fn release(&self, hold: Hold) {
        if hold.binding == self.id() {
            self.exit();
        }
    }

    /// `ClientDetachProvider`: no call enters from now on.
    pub fn begin_detach(&self) -> Result<DetachStart, BindingError> {
        let mut current = self.state.load(Ordering::Acquire);
        loop {
            let (next, start) = match phase_of(current) {
                ATTACHED if count_of(current) == 0 => (word(DETACHED, 0), DetachStart::DetachNow),
                ATTACHED => (word(DETACHING, count_of(current)), DetachStart::DetachPending),
                UNATTACHED => return Err(BindingError::NotAttached),
                _ => return Err(BindingError::AlreadyDetaching),
            };
            match self.state.compare_exchange_weak(current, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Ok(start),
                Err(seen) => current = seen,
            }
        }
    }

    /// `Detached` → `Unattached`, for a binding context reused by a later attach.
    pub fn reset(&self) -> Result<(), BindingError> {
        self.state
            .compare_exchange(word(DETACHED, 0), word(UNATTACHED, 0), Ordering::AcqRel, Ordering::Acquire)
            .map(|_| ())
            .map_err(|_| BindingError::NotDetached)
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        match phase_of(self.state.load(Ordering::Acquire)) {
            UNATTACHED => Phase::Unattached,
            ATTACHED => Phase::Attached,
            DETACHING => Phase::Detaching,
            _ => Phase::Detached,
        }
    }

    /// Calls in flight plus holds.
    pub fn in_flight(&self) -> u32 {
        count_of(self.state.load(Ordering::Acquire))
    }

    /// Detach has completed (either `DetachNow`, or the last exit after `DetachPending`).
    pub fn is_detached(&self) -> bool {
        phase_of(self.state.load(Ordering::Acquire)) == DETACHED
    }

    /// Wait until detach has completed, calling `park` between checks (the NT glue waits on
    /// the event its [`DetachNotify`] sets, with a timeout; tests yield). PASSIVE_LEVEL only.
    pub fn wait_detached(&self, mut park: impl FnMut()) {
        while !self.is_detached() {
            park();
        }
    }

    fn id(&self) -> usize {
        self as *const Self as usize
    }

    /// One call or hold ended. The exit that takes a `Detaching` binding to zero completes it.
    fn exit(&self) {
        // Every exit pairs with an entry (guards and holds only come from entering), so the
        // count is at least 1 here and the subtraction never borrows from the phase bits.
        let previous = self.state.fetch_sub(1, Ordering::AcqRel);
        if phase_of(previous) == DETACHING && count_of(previous) == 1 {
            // Nobody can enter a Detaching binding at zero (try_enter refuses, and no hold is
            // left for enter_held), so this exchange is ours alone.
            if self
                .state
                .compare_exchange(word(DETACHING, 0), word(DETACHED, 0), Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                self.notify.detach_complete();
            }
        }
    }
}

/// A provider call in flight. Dropping it ends the call (after the provider function returned).
#[must_use = "the call is only counted while the guard lives"]
pub struct CallGuard<'a, N: DetachNotify> {
    binding: &'a ProviderBinding<N>,
}

impl<N: DetachNotify> CallGuard<'_, N> {
    /// Keep the count up past this call: the call created an object (a socket) that must be
    /// closed before detach completes. End it with [`ProviderBinding::release`].
    pub fn into_hold(self) -> Hold {
        let hold = Hold { binding: self.binding.id() };
        core::mem::forget(self);
        hold
    }
}

impl<N: DetachNotify> Drop for CallGuard<'_, N> {
    fn drop(&mut self) {
        self.binding.exit();
    }
}

/// An object's share of the binding's count (see [`CallGuard::into_hold`]). Not `Clone`: one
/// hold, one release.
#[must_use = "a dropped hold never lets detach complete; pass it to ProviderBinding::release"]
#[derive(Debug, PartialEq, Eq)]
pub struct Hold {
    binding: usize,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize};
    use std::thread;
    use std::time::{Duration, Instant};

    /// Counts completions and checks, at the moment of completion, that no test-visible call
    /// is still live.
    #[derive(Default)]
    struct Recorder {
        completions: AtomicUsize,
        live: Arc<AtomicUsize>,
        live_at_completion: AtomicUsize,
    }

    impl DetachNotify for Recorder {
        fn detach_complete(&self) {
            self.live_at_completion.fetch_add(self.live.load(Ordering::SeqCst), Ordering::SeqCst);
            self.completions.fetch_add(1, Ordering::SeqCst);
        }
    }

    impl DetachNotify for &Recorder {
        fn detach_complete(&self) {
            (*self).detach_complete()
        }
    }

    fn binding() -> ProviderBinding<Recorder> {
        let binding = ProviderBinding::new(Recorder::default());
        binding.attach().unwrap();
        binding
    }

    #[test]
    fn no_calls_means_detach_now() {
        let b = binding();
        assert_eq!(b.begin_detach(), Ok(DetachStart::DetachNow));
        assert_eq!(DetachStart::DetachNow.ntstatus(), status::SUCCESS);
        assert!(b.is_detached());
        assert!(b.try_enter().is_none());
        assert_eq!(b.notifier().completions.load(Ordering::SeqCst), 0);
        assert_eq!(b.begin_detach(), Err(BindingError::AlreadyDetaching));
    }

    #[test]
    fn calls_only_enter_while_attached() {
        let b = ProviderBinding::new(Recorder::default());
        assert!(b.try_enter().is_none());
        assert_eq!(b.begin_detach(), Err(BindingError::NotAttached));
        b.attach().unwrap();
        assert_eq!(b.attach(), Err(BindingError::AlreadyAttached));
        let g = b.try_enter().unwrap();
        assert_eq!(b.in_flight(), 1);
        drop(g);
        assert_eq!(b.in_flight(), 0);
        assert_eq!(b.phase(), Phase::Attached);
    }

    #[test]
    fn pending_detach_completes_when_the_last_call_ends() {
        let b = binding();
        let first = b.try_enter().unwrap();
        let second = b.try_enter().unwrap();
        assert_eq!(b.begin_detach(), Ok(DetachStart::DetachPending));
        assert_eq!(DetachStart::DetachPending.ntstatus(), status::PENDING);
        assert_eq!(b.phase(), Phase::Detaching);
        assert!(b.try_enter().is_none());
        drop(first);
        assert_eq!(b.notifier().completions.load(Ordering::SeqCst), 0);
        assert!(!b.is_detached());
        drop(second);
        assert_eq!(b.notifier().completions.load(Ordering::SeqCst), 1);
        assert!(b.is_detached());
        assert_eq!(b.reset(), Ok(()));
        assert_eq!(b.phase(), Phase::Unattached);
        b.attach().unwrap();
    }

    #[test]
    fn holds_keep_detach_pending_and_may_still_close() {
        let b = binding();
        // WskSocket succeeded: the socket holds the binding.
        let socket = b.try_enter().unwrap().into_hold();
        assert_eq!(b.in_flight(), 1);
        assert_eq!(b.begin_detach(), Ok(DetachStart::DetachPending));
        assert!(b.try_enter().is_none(), "no new provider call while detaching");
        // WskCloseSocket on the held socket enters while detaching ...
        let close = b.enter_held(&socket).unwrap();
        // ... its completion routine ends the hold before the call has returned:
        b.release(socket);
        assert_eq!(b.notifier().completions.load(Ordering::SeqCst), 0, "the close call is still in flight");
        drop(close);
        assert_eq!(b.notifier().completions.load(Ordering::SeqCst), 1);
        assert!(b.is_detached());
    }

    #[test]
    fn a_hold_of_another_binding_is_refused() {
        let a = binding();
        let b = binding();
        let hold = a.try_enter().unwrap().into_hold();
        assert!(b.enter_held(&hold).is_none());
        b.release(Hold { binding: hold.binding });
        assert_eq!(b.in_flight(), 0);
        assert_eq!(a.in_flight(), 1);
        a.release(hold);
        assert_eq!(a.in_flight(), 0);
    }

    /// Threads enter and leave as fast as they can, some keeping calls open for a while, some
    /// keeping holds; detach starts in the middle. Checks: nothing enters once `begin_detach`
    /// has returned, completion fires exactly once, and only after every call and hold ended.
    #[test]
    fn hammered_detach_completes_once_after_the_last_exit() {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut pending_rounds = 0;
        for round in 0..200 {
            let live = Arc::new(AtomicUsize::new(0));
            let b = Arc::new(ProviderBinding::new(Recorder { live: live.clone(), ..Recorder::default() }));
            b.attach().unwrap();
            let detach_returned = Arc::new(AtomicBool::new(false));
            let entered_after_detach = Arc::new(AtomicUsize::new(0));
            let threads: Vec<_> = (0..6)
                .map(|t| {
                    let (b, live, flag, late) =
                        (b.clone(), live.clone(), detach_returned.clone(), entered_after_detach.clone());
                    thread::spawn(move || {
                        let mut i = 0u32;
                        loop {
                            // Read the flag first: if begin_detach already returned, this
                            // try_enter starts after it and must fail.
                            let after = flag.load(Ordering::SeqCst);
                            let Some(guard) = b.try_enter() else {
                                if after {
                                    break;
                                }
                                thread::yield_now();
                                continue;
                            };
                            if after {
                                late.fetch_add(1, Ordering::SeqCst);
                            }
                            live.fetch_add(1, Ordering::SeqCst);
                            i += 1;
                            if t == 0 && i.is_multiple_of(7) {
                                // A socket: hold, use while detaching, close, release.
                                let hold = guard.into_hold();
                                thread::yield_now();
                                let close = b.enter_held(&hold).expect("a held binding admits its holder");
                                b.release(hold);
                                thread::yield_now();
                                live.fetch_sub(1, Ordering::SeqCst);
                                drop(close);
                                continue;
                            }
                            if i.is_multiple_of(5) {
                                thread::sleep(Duration::from_micros(50));
                            }
                            live.fetch_sub(1, Ordering::SeqCst);
                            drop(guard);
                        }
                    })
                })
                .collect();
            thread::sleep(Duration::from_micros(200 + (round % 7) * 100));
            let start = b.begin_detach().unwrap();
            detach_returned.store(true, Ordering::SeqCst);
            for _ in 0..100 {
                assert!(b.try_enter().is_none());
            }
            b.wait_detached(|| {
                assert!(Instant::now() < deadline, "detach never completed");
                thread::yield_now();
            });
            for t in threads {
                t.join().unwrap();
            }
            let r = b.notifier();
            assert_eq!(entered_after_detach.load(Ordering::SeqCst), 0, "round {round}: entered after detach");
            let expected = if start == DetachStart::DetachPending {
                pending_rounds += 1;
                1
            } else {
                0
            };
            assert_eq!(r.completions.load(Ordering::SeqCst), expected, "round {round}: completions");
            assert_eq!(r.live_at_completion.load(Ordering::SeqCst), 0, "round {round}: completed early");
            assert_eq!(b.in_flight(), 0);
            assert!(b.is_detached());
        }
        assert!(pending_rounds > 0, "detach never raced a call in flight");
    }

    #[test]
    fn a_borrowed_notifier_works_too() {
        let recorder = Recorder::default();
        let b = ProviderBinding::new(&recorder);
        b.attach().unwrap();
        let g = b.try_enter().unwrap();
        assert_eq!(b.begin_detach(), Ok(DetachStart::DetachPending));
        drop(g);
        assert_eq!(recorder.completions.load(Ordering::SeqCst), 1);
    }
}
