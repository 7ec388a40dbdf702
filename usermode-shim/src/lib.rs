//! peerdrt-shim: the Win32 Distributed Routing Table API (`Drt*` of drt.dll, drtprov.dll and
//! drttransport.dll) over the peerdrt device — `peerdrt.sys` on Windows, `peerdrtd`'s Unix
//! socket on Linux.
//!
//! * [`ffi`]: the C API, exported from the cdylib with the Win32 names, signatures, x64 struct
//!   layouts and HRESULTs; declared in `include/drt.h` (and `include/peerdrt.h` for the shim's
//!   event objects and credential helpers).
//! * [`drt`]: the same API for Rust, without pointers.
//! * [`device`]: the device client both are built on (IOCTLs, pending waits).
//! * [`key`]: DRT keys, and the one place their byte order changes between `DRT_DATA`
//!   (least-significant byte first) and the ABI (most-significant byte first).

#![forbid(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub use peerdrt_abi as abi;

pub mod cert;
mod client;
pub mod device;
pub mod drt;
pub mod event;
pub mod ffi;
pub mod group;
pub mod hresult;
pub mod key;
pub mod pnrp;

pub use client::{Delivery, parse_event};
pub use hresult::{Error, Result};
pub use key::Key;
