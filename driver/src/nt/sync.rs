//! Kernel synchronisation wrappers: a spin lock owning its data, the engine's ERESOURCE, and a
//! KEVENT. All live in non-paged pool (inside the boxed driver state) and never move.
//!
//! IRQL:
//! * [`SpinLock::lock`]: callable at <= DISPATCH_LEVEL; holds the lock at DISPATCH_LEVEL, so the
//!   closure-free guard must not wait, call the engine, or touch pageable memory.
//! * [`Resource::lock`]: PASSIVE_LEVEL (or APC_LEVEL) only; it enters a critical region (normal
//!   kernel APCs off) and keeps the IRQL at PASSIVE_LEVEL, so holders may wait (WSK calls made
//!   synchronous with an event) and allocate.
//! * [`Event::set`]: <= DISPATCH_LEVEL. [`Event::wait`]: PASSIVE_LEVEL (< DISPATCH with a timeout).

use core::cell::UnsafeCell;
use core::ops::{Deref, DerefMut};

use super::sys;

/// A `KSPIN_LOCK` guarding a `T`.
pub struct SpinLock<T> {
    lock: UnsafeCell<sys::KSPIN_LOCK>,
    value: UnsafeCell<T>,
}

// SAFETY: access to `value` is serialised by the spin lock.
unsafe impl<T: Send> Sync for SpinLock<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Send for SpinLock<T> {}

impl<T> SpinLock<T> {
    /// A released lock (`KeInitializeSpinLock` stores zero).
    pub const fn new(value: T) -> Self {
        Self { lock: UnsafeCell::new(0), value: UnsafeCell::new(value) }
    }

    /// Acquires the lock, raising to DISPATCH_LEVEL.
    pub fn lock(&self) -> SpinGuard<'_, T> {
        // SAFETY: the lock word lives as long as `self`.
        let irql = unsafe { sys::KeAcquireSpinLockRaiseToDpc(self.lock.get()) };
        SpinGuard { owner: self, irql }
    }
}

/// Holds a [`SpinLock`]; releasing restores the previous IRQL.
pub struct SpinGuard<'a, T> {
    owner: &'a SpinLock<T>,
    irql: sys::KIRQL,
}

impl<T> Deref for SpinGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the lock is held.
        unsafe { &*self.owner.value.get() }
    }
}

impl<T> DerefMut for SpinGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the lock is held, exclusively.
        unsafe { &mut *self.owner.value.get() }
    }
}

impl<T> Drop for SpinGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: acquired in `lock` with this IRQL.
        unsafe { sys::KeReleaseSpinLock(self.owner.lock.get(), self.irql) };
    }
}

/// An `ERESOURCE` used as an exclusive lock over a `T` (the engine).
pub struct Resource<T> {
    resource: UnsafeCell<sys::ERESOURCE>,
    value: UnsafeCell<T>,
}

// SAFETY: access to `value` is serialised by the resource, held exclusively.
unsafe impl<T: Send> Sync for Resource<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Send for Resource<T> {}

impl<T> Resource<T> {
    /// An uninitialised resource; [`Resource::init`] it in place before use.
    pub fn new(value: T) -> Self {
        // SAFETY: an ERESOURCE is plain memory until ExInitializeResourceLite.
        Self { resource: UnsafeCell::new(unsafe { core::mem::zeroed() }), value: UnsafeCell::new(value) }
    }

    /// `ExInitializeResourceLite` on the resource at its final (non-paged) address.
    pub fn init(&self) -> sys::NTSTATUS {
        // SAFETY: the resource does not move after this (it lives in the boxed driver state).
        unsafe { sys::ExInitializeResourceLite(self.resource.get()) }
    }

    /// `ExDeleteResourceLite`: no thread holds or waits for it any more.
    pub fn delete(&self) {
        // SAFETY: initialised by `init`, unused from now on.
        unsafe { sys::ExDeleteResourceLite(self.resource.get()) };
    }

    /// Acquires it exclusively (PASSIVE_LEVEL), inside a critical region.
    pub fn lock(&self) -> ResourceGuard<'_, T> {
        // SAFETY: PASSIVE_LEVEL caller; the critical region covers the hold, as required.
        unsafe {
            sys::KeEnterCriticalRegion();
            sys::ExAcquireResourceExclusiveLite(self.resource.get(), sys::TRUE);
        }
        ResourceGuard { owner: self }
    }
}

/// Holds a [`Resource`] exclusively.
pub struct ResourceGuard<'a, T> {
    owner: &'a Resource<T>,
}

impl<T> Deref for ResourceGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: held exclusively.
        unsafe { &*self.owner.value.get() }
    }
}

impl<T> DerefMut for ResourceGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: held exclusively.
        unsafe { &mut *self.owner.value.get() }
    }
}

impl<T> Drop for ResourceGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: acquired in `lock`.
        unsafe {
            sys::ExReleaseResourceLite(self.owner.resource.get());
            sys::KeLeaveCriticalRegion();
        }
    }
}

/// A `KEVENT`.
pub struct Event(UnsafeCell<sys::KEVENT>);

// SAFETY: KEVENTs are made for cross-thread signalling.
unsafe impl Sync for Event {}
// SAFETY: as above.
unsafe impl Send for Event {}

/// Why [`Event::wait`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// The event was signalled.
    Signalled,
    /// The timeout passed.
    TimedOut,
}

impl Event {
    /// Zeroed storage; [`Event::init`] it in place.
    pub fn new() -> Self {
        // SAFETY: a KEVENT is plain memory until KeInitializeEvent.
        Self(UnsafeCell::new(unsafe { core::mem::zeroed() }))
    }

    /// `KeInitializeEvent` at the event's final address; `synchronization`: auto-reset.
    pub fn init(&self, synchronization: bool) {
        let kind = if synchronization { sys::SynchronizationEvent } else { sys::NotificationEvent };
        // SAFETY: the event does not move after this.
        unsafe { sys::KeInitializeEvent(self.0.get(), kind, sys::FALSE) };
    }

    /// `KeSetEvent(.., IO_NO_INCREMENT, FALSE)` (<= DISPATCH_LEVEL).
    pub fn set(&self) {
        // SAFETY: an initialised event.
        unsafe { sys::KeSetEvent(self.0.get(), sys::IO_NO_INCREMENT, sys::FALSE) };
    }

    /// Waits (kernel mode, not alertable) until signalled or `timeout_ms` passed (None: forever).
    pub fn wait(&self, timeout_ms: Option<u64>) -> Wait {
        // Relative timeouts are negative, in 100 ns units.
        let mut timeout = sys::LARGE_INTEGER { QuadPart: 0 };
        let timeout_ptr = match timeout_ms {
            Some(ms) => {
                timeout.QuadPart = -(ms.min(i64::MAX as u64 / 10_000) as i64 * 10_000);
                &mut timeout as *mut sys::LARGE_INTEGER
            }
            None => core::ptr::null_mut(),
        };
        // SAFETY: an initialised event; PASSIVE_LEVEL caller.
        let status = unsafe {
            sys::KeWaitForSingleObject(
                self.0.get().cast(),
                sys::Executive,
                sys::KernelMode,
                sys::FALSE,
                timeout_ptr,
            )
        };
        if status == sys::STATUS_TIMEOUT { Wait::TimedOut } else { Wait::Signalled }
    }

    /// The `PKEVENT` (for completion routines).
    pub fn as_ptr(&self) -> *mut sys::KEVENT {
        self.0.get()
    }
}
