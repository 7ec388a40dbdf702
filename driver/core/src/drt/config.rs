//! How a node is set up: its transport addresses, seeds, security provider, randomness and
//! timers, and the named bounds on everything it keeps.

use alloc::vec::Vec;
use core::net::Ipv6Addr;
use core::time::Duration;

use super::rate::FloodLimits;
use super::security::BoxedProvider;
use crate::wire::{Endpoint, ProtocolVersion};

/// Most bootstrap seeds used.
pub const MAX_SEEDS: usize = 16;
/// Most registrations one node holds.
pub const MAX_REGISTRATIONS: usize = 256;
/// Most searches at once (application and internal, ended or not).
pub const MAX_SEARCHES: usize = 128;
/// Most requests awaiting an answer.
pub const MAX_PENDING: usize = 1024;
/// Most cache candidates being verified at once.
pub const MAX_PENDING_VERIFICATIONS: usize = 32;
/// Verifications a node may start towards *third parties* — endpoints named in a FLOOD or
/// SOLICIT route entry other than the datagram's source — in one burst (a bootstrap REQUEST's
/// answer names up to [`MAX_REQUEST_KEYS`] of them). Only a verified source's route entries are
/// followed at all, so a spoofer cannot aim them; a hostile peer can aim at most this many, then
/// [`THIRD_PARTY_PROBE_RATE`] per second, each an INQUIRE sent at most [`RETRIES`] + 1 times.
pub const THIRD_PARTY_PROBE_BURST: u32 = 24;
/// Verifications per second towards third parties once [`THIRD_PARTY_PROBE_BURST`] is spent.
pub const THIRD_PARTY_PROBE_RATE: u32 = 4;
/// Most SOLICIT conversations remembered (the oldest goes).
pub const MAX_CONVERSATIONS: usize = 64;
/// Most datagrams waiting to be sent (further ones are dropped and counted).
pub const MAX_OUTBOX: usize = 4096;
/// Most events waiting to be read (the oldest goes, and is counted).
pub const MAX_EVENTS: usize = 1024;
/// Keys offered in one ADVERTISE.
pub const MAX_ADVERTISE_KEYS: usize = 20;
/// Keys asked for in one REQUEST.
pub const MAX_REQUEST_KEYS: usize = 20;
/// Stale entries re-verified per maintenance round.
pub const PINGS_PER_MAINTENANCE: usize = 3;
/// Sent-datagram buffers kept for reuse (see `Node::recycle`).
pub const MAX_POOLED_BUFFERS: usize = 64;
/// Largest capacity of a buffer kept for reuse: one ordinary datagram (AUTHORITY fragments
/// and answers fit; a rare larger buffer is dropped rather than held).
pub const MAX_POOLED_BUFFER_CAPACITY: usize = 1536;
/// Transmissions of a request beyond the first ([MS-PNRP] Retry Count).
pub const RETRIES: u8 = 2;

// Partition detection (in the spirit of DrtStartPartitionDetection): a node that may have been
// cut off from the cloud re-contacts its seeds and the peers it lost, so an island whose
// members keep each other company (never ALONE, so never re-bootstrapping) rejoins once the
// network heals. A node in a large, healthy cloud does neither, so it never hammers its seeds.

/// A cache with fewer entries than this may be an island: the node re-contacts the seeds (and
/// lost peers) it does not have in its cache.
pub const RESEED_BELOW_ENTRIES: usize = 8;
/// Least time between two re-seeding rounds (checked at each cache maintenance).
pub const RESEED_INTERVAL: Duration = Duration::from_secs(30);
/// Peers lost as unreachable within one re-seeding interval that make the node suspect a
/// partition, if they are also at least a quarter of what its cache held.
pub const PARTITION_LOSS: usize = 4;
/// How long a suspected partition keeps the node re-seeding, however large its cache.
pub const PARTITION_SUSPICION: Duration = Duration::from_secs(600);
/// Peers lost as unreachable that are remembered and re-contacted (the oldest goes).
pub const MAX_DEPARTED: usize = 4;
/// How long a lost peer is remembered and re-contacted.
pub const DEPARTED_FOR: Duration = Duration::from_secs(600);

/// Timer settings. The defaults are the Windows values where [MS-PNRP] gives them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Cache maintenance period with more than two cache entries (15 s).
    pub maintenance: Duration,
    /// Cache maintenance period with two entries or fewer (10 s), also the re-bootstrap period.
    pub maintenance_sparse: Duration,
    /// Retransmission timeout for a peer whose RTT is unknown.
    pub initial_rto: Duration,
    /// Lower bound of the RTT-based retransmission timeout.
    pub min_rto: Duration,
    /// Upper bound of the retransmission timeout.
    pub max_rto: Duration,
    /// Cache entries not heard from for this long are re-verified.
    pub entry_refresh: Duration,
    /// How long a SOLICIT conversation waits for its REQUEST.
    pub conversation: Duration,
    /// How long bootstrap waits before declaring the node ALONE.
    pub bootstrap_wait: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            maintenance: Duration::from_secs(15),
            maintenance_sparse: Duration::from_secs(10),
            initial_rto: Duration::from_millis(500),
            min_rto: Duration::from_millis(100),
            max_rto: Duration::from_secs(2),
            entry_refresh: Duration::from_secs(60),
            conversation: Duration::from_secs(10),
            bootstrap_wait: Duration::from_secs(3),
        }
    }
}

/// Everything a node needs to start.
#[derive(Debug)]
pub struct NodeConfig {
    /// Protocol version bytes (DRT_SETTINGS.bProtocolMajor/MinorVersion; PNRP: 4.0).
    pub version: ProtocolVersion,
    /// UDP port the node listens on (≥ 1024).
    pub port: u16,
    /// Addresses the node is reachable at (1..=20; the first is its primary endpoint).
    pub addresses: Vec<Ipv6Addr>,
    /// Bootstrap seeds (at most [`MAX_SEEDS`] are used).
    pub seeds: Vec<Endpoint>,
    /// The security provider.
    pub security: BoxedProvider,
    /// Seed of the node's random numbers (message IDs, nonces, its ID): from the OS in
    /// production, fixed in the simulator.
    pub rng_seed: [u8; 32],
    /// Timers.
    pub timing: Timing,
    /// Flood control ([`FloodLimits::default`] on a network).
    pub flood: FloodLimits,
}

impl NodeConfig {
    /// A node of Null security on `port`, reachable at `address`, bootstrapping from `seeds`,
    /// with default timers and flood limits — the node tests, tools and benchmarks build most.
    pub fn null_security(
        version: ProtocolVersion,
        port: u16,
        address: Ipv6Addr,
        seeds: Vec<Endpoint>,
        rng_seed: [u8; 32],
    ) -> Self {
        Self {
            version,
            port,
            addresses: alloc::vec![address],
            seeds,
            security: alloc::boxed::Box::new(super::security::NullProvider),
            rng_seed,
            timing: Timing::default(),
            flood: FloodLimits::default(),
        }
    }
}
