//! peerdrt: the driver.
//!
//! This package becomes `peerdrt.sys` on Windows and `peerdrtd` on Linux:
//! * [`engine`]: the platform-neutral device (opens, handle tables, event queues, IOCTL
//!   dispatch, DRT instances on the sans-IO core), `no_std` + `alloc`;
//! * `host` (Linux): UDP sockets, receive and worker threads, the Unix-socket device;
//! * [`store`]: group databases on disk (the log format and its bookkeeping, both platforms);
//! * `nt` (Windows): the WDM glue (DriverEntry, IRPs, NMR + WSK); built into `peerdrt.sys`.

#![cfg_attr(windows, no_std)]
#![forbid(unsafe_op_in_unsafe_fn)]

extern crate alloc;

pub use peerdrt_abi as abi;
pub use peerdrt_core as core;

pub mod engine;
#[cfg(not(windows))]
pub mod host;
#[cfg(windows)]
pub mod nt;
pub mod store;
