//! The worker: one PASSIVE_LEVEL system thread that owns the engine's background work.
//!
//! It sleeps on the driver's wake event with a timeout of the engine's next deadline (at most
//! a second), and on each round, under the engine lock on an expanded stack: services the NMR
//! binding (closing sockets when the provider detaches, freeing the binding after cleanup),
//! feeds the received datagrams to the device and releases their indications, runs due timers,
//! and [`settle`]s. Receive callbacks, cancel routines and NMR callbacks only set the event.

use core::sync::atomic::Ordering;

use super::{Engine, dispatch, driver, pnrp, time, with_engine};

/// Longest sleep between rounds.
const MAX_SLEEP_MS: u64 = 1000;
/// Sleep before retrying when the kernel could not give the engine its stack.
const RETRY_MS: u64 = 50;

/// After any engine call (engine lock held): make the records groups received durable, tell the engine about cancelled waits, send what it
/// queued, complete finished waits, and close the sockets unbound in the call.
pub fn settle(e: &mut Engine, _now: peerdrt_core::time::Instant) {
    super::durability::persist_received(e);
    dispatch::drain_cancelled(e);
    while let Some(out) = e.device.poll_transmit() {
        e.platform.send(out);
    }
    dispatch::complete_waits(e);
    e.platform.close_retiring();
}

/// One round of background work.
fn round(e: &mut Engine) -> Option<u64> {
    let now = time::now();
    // The cloud closes before a detaching provider's sockets are, and opens once one is attached.
    pnrp::service(e, now);
    e.platform.service_binding();
    e.platform.drain_rx(&mut e.device, now);
    e.device.handle_timeout(now);
    settle(e, now);
    e.device.next_deadline().map(|d| d.saturating_since(time::now()).as_millis() as u64)
}

/// The thread's body; returns when DriverUnload sets `stopping`.
pub fn run() {
    let d = driver();
    while !d.stopping.load(Ordering::Acquire) {
        // At least a millisecond: a deadline that is already due is handled in the next round
        // without spinning on it.
        let sleep = match with_engine(round) {
            Ok(next) => next.unwrap_or(MAX_SLEEP_MS).clamp(1, MAX_SLEEP_MS),
            Err(_) => RETRY_MS,
        };
        d.wake.wait(Some(sleep));
    }
}

/// The system thread's start routine.
pub unsafe extern "system" fn main(_context: super::sys::PVOID) {
    run();
    // SAFETY: a system thread ends itself; this does not return.
    unsafe { super::sys::PsTerminateSystemThread(super::sys::STATUS_SUCCESS) };
}
