//! Group databases on disk: the checksummed log of a group's records and the bookkeeping that
//! makes every stored record durable before the request that stored it completes.
//!
//! * [`group_store`]: one group's append-only log (format, replay, torn-tail truncation,
//!   compaction).
//! * [`group_durability`]: which open group writes to which log, replay when a group opens.

pub mod group_durability;
pub mod group_store;
