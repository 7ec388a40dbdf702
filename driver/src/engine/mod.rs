//! The platform-neutral device: what `peerdrt.sys` and `peerdrtd` both are, minus their I/O.
//!
//! A [`Device`] holds the opens (a file object on Windows, a connection on Linux), the DRT
//! instances they created, and per-open handle tables and event queues. The platform adapter
//! feeds it IOCTLs, datagrams and timer expiries and drains what it produces: datagrams to send
//! and completions of pending wait-for-event requests (the inverted call).
//!
//! IRQL: every entry point here runs at PASSIVE_LEVEL on a worker thread, under the adapter's
//! device lock. Receive paths (WSK receive-from callbacks at DISPATCH_LEVEL; the Linux receive
//! threads) only enqueue datagrams for the worker; they never call into the engine.

#[cfg(test)]
mod cloud_tests;
mod device;
pub mod group;
#[cfg(test)]
mod group_device_tests;
#[cfg(test)]
mod group_password_tests;
mod handles;
pub mod nmr;
pub mod search_settings;
pub mod standing;

pub use device::*;
pub use handles::{HandleKind, OpenId};
