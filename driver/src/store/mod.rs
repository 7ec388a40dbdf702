//! Group databases on disk, shared by the Linux node and `peerdrt.sys`: the checksummed log of a
//! group's records and the bookkeeping that makes every stored record durable before the request
//! that stored it completes. `no_std` + `alloc`; the file system comes in through [`file`].
//!
//! * [`file`]: the file operations a log needs ([`file::LogDirectory`], [`file::LogFile`]);
//!   [`std_file`] implements them over `std::fs`, `crate::nt::file` over the `Zw*` routines.
//! * [`group_store`]: one group's append-only log (format, replay, torn-tail truncation,
//!   compaction).
//! * [`group_durability`]: which open group writes to which log, replay when a group opens.

pub mod file;
pub mod group_durability;
pub mod group_store;
#[cfg(all(not(windows), any(test, feature = "test-support")))]
pub mod memory_file;
#[cfg(not(windows))]
pub mod std_file;
