//! peerdrt: the driver.
//!
//! This package becomes `peerdrt.sys` on Windows and `peerdrtd` on Linux. Today it only ties
//! the protocol core and the IOCTL ABI together; the platform-neutral device (`engine`), the
//! Linux host adapter (`host`) and the NT glue (`nt`) arrive with their issues.

#![forbid(unsafe_op_in_unsafe_fn)]

pub use peerdrt_abi as abi;
pub use peerdrt_core as core;
