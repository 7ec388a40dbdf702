//! peerdrt-core: the sans-IO protocol core shared by the Windows kernel driver, the Linux node
//! and the simulator.
//!
//! `#![no_std]` + `alloc`, no clock, no sockets, no threads: bytes and time values go in, typed
//! values and actions come out. Nothing reachable from a datagram panics.

#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod drt;
pub mod group;
pub mod pnrp;
pub mod time;
pub mod wire;
