//! The DRT routing engine: a sans-IO node (route cache, leaf sets, bootstrap, registration,
//! search, security providers) driven by datagrams, time values and API calls.

pub mod cache;
pub mod config;
pub mod keyspace;
mod node;
pub mod rate;
pub mod search;
pub mod security;
mod types;
pub mod verified;

pub use config::{NodeConfig, RESEED_BELOW_ENTRIES, RESEED_INTERVAL, Timing};
pub use node::{Node, Stats, Transmit};
pub use rate::{BucketSize, FloodLimits, SourceLimits};
pub use types::*;
