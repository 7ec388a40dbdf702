//! Every bound of the grouping engine, in one place, so each one is named, documented and
//! tested at and one past its edge.

/// Largest `data.len() + attributes.len()` of one record ([MS-PPGRH] §3.1.7.27 "payload and
/// attributes within Max Record Size"). Records travel in one datagram, so the bound is far below
/// the graph's 60 MB default.
pub const MAX_RECORD_SIZE: usize = 16 * 1024;

/// Largest attribute XML of one record, in bytes of UTF-8.
pub const MAX_ATTRIBUTES_LEN: usize = 4 * 1024;

/// Most `<attribute>` elements in one record's attribute XML.
pub const MAX_ATTRIBUTES: usize = 64;

/// Longest attribute name, in characters.
pub const MAX_ATTRIBUTE_NAME_LEN: usize = 64;

/// Most records (tombstones included) one group database holds.
pub const MAX_RECORDS: usize = 65_536;

/// Most bytes of records (tombstones included, each counted at its wire length,
/// [`RecordView::encoded_len`](super::record::RecordView::encoded_len)) one group database holds:
/// 32 MiB. [`MAX_RECORDS`] alone would let a member flood ~1.1 GB of maximal records into every
/// connected member's kernel pool (65,536 × 16,695 bytes); 32 MiB keeps [`MAX_RECORDS`] records of
/// up to 512 bytes each (a record's fixed part is 311 bytes, so 65,536 empty records take 19.4 MiB)
/// or about 2,000 records of [`MAX_RECORD_SIZE`]. Past 512 bytes per record this is the binding
/// bound; the device bounds the sum over its groups on top of it.
pub const MAX_GROUP_DB_BYTES: usize = 32 * 1024 * 1024;
const _: () = assert!(MAX_GROUP_DB_BYTES < MAX_RECORDS * super::record::MAX_RECORD_WIRE_LEN);
const _: () = assert!(MAX_RECORDS * super::record::RECORD_FIXED_LEN <= MAX_GROUP_DB_BYTES);

/// Largest encoded group message (one datagram). Large enough for one record of
/// [`MAX_RECORD_SIZE`] with its header, certificate and signature.
pub const MAX_MESSAGE_LEN: usize = 32 * 1024;

/// Most members a member is connected to at once.
pub const MAX_CONNECTIONS: usize = 32;

/// Most reliable messages sent to one member and not yet acknowledged.
pub const MAX_IN_FLIGHT: usize = 16;

/// Most reliable messages waiting behind the in-flight window for one member. A member whose
/// queue would overflow is disconnected: it catches up by synchronisation when it reconnects.
pub const MAX_QUEUED: usize = 1024;

/// Most records a synchronisation's pushes (records the other member lacks) keep queued to it
/// at once: the rest wait in the connection and follow as acknowledgements drain the queue, so
/// a database larger than [`MAX_QUEUED`] never overflows it. A quarter of the queue, so floods and
/// synchronisation messages keep room.
pub const MAX_QUEUED_PUSHES: usize = MAX_QUEUED / 4;

/// Sends of one reliable message before the member it goes to is declared lost.
pub const MAX_TRANSMISSIONS: u32 = 8;

/// Time between two sends of an unacknowledged message, in peer-time units (100 ns): 250 ms.
pub const RETRANSMIT_INTERVAL: u64 = 2_500_000;

/// How long an answered HELLO waits for the connecting member's PROOF, in peer-time units
/// (100 ns): as long as the connecting member keeps retransmitting its HELLO (2 s).
pub const HANDSHAKE_TIMEOUT: u64 = MAX_TRANSMISSIONS as u64 * RETRANSMIT_INTERVAL;

/// Most bytes a member sends in answer to a HELLO, per byte of that HELLO, to an address whose
/// owner has not proven its key yet: one WELCOME (or REFUSE) per HELLO received, never
/// retransmitted, so a spoofed source cannot make a member an amplifier.
pub const MAX_HANDSHAKE_AMPLIFICATION: usize = 2;

/// Length of the window HELLOs are counted in, in peer-time units (100 ns): 1 s.
pub const HELLO_WINDOW: u64 = 10_000_000;

/// Most HELLOs a member answers per [`HELLO_WINDOW`] (each costs a certificate check, a
/// signature and a key agreement); past it a HELLO is dropped unanswered, and its sender
/// retransmits it. Above [`MAX_CONNECTIONS`], so every member may connect at once.
pub const MAX_HELLOS_PER_WINDOW: u32 = 64;

/// Most answered HELLOs waiting for their PROOF at once. They hold no connection slot (a
/// spoofed HELLO never proves its key, so it can never take one of the [`MAX_CONNECTIONS`]); a
/// new one past this bound replaces the oldest.
pub const MAX_HALF_OPEN: usize = MAX_CONNECTIONS;

/// Message IDs remembered per member to drop retransmitted duplicates.
pub const DEDUP_WINDOW: usize = 256;

/// Children of one hashed range (one hexadecimal digit of the record ID per level).
pub const RANGE_FANOUT: usize = 16;

/// Deepest range level: a range at this depth fixes this many leading hex digits of the
/// 32-digit sync key, i.e. all of them.
pub const MAX_RANGE_DEPTH: u8 = 32;

/// A mismatched range holding at most this many records on the answering side is listed record by
/// record (ADVERTISE) instead of being split into child ranges.
pub const LEAF_RECORDS: u32 = 48;

/// Most record abstracts in one ADVERTISE message.
pub const MAX_ABSTRACTS: usize = 256;

/// Most record IDs in one REQUEST message.
pub const MAX_REQUEST_IDS: usize = 64;

/// Most ranges or requests one synchronisation has outstanding at a time.
pub const MAX_SYNC_OUTSTANDING: usize = 64;

/// Fewest characters of a group password (PEER_E_PASSWORD_DOES_NOT_MEET_POLICY below it: an empty
/// password protects nothing).
pub const MIN_PASSWORD_CHARS: usize = 1;

/// Most characters of a group password (PEER_E_PASSWORD_DOES_NOT_MEET_POLICY past it), as long
/// as PEER_GROUP_PROPERTIES' other strings.
pub const MAX_PASSWORD_CHARS: usize = 255;

/// Bytes of salt in a group's password verifier.
pub const PASSWORD_SALT_LEN: usize = 16;

/// PBKDF2-HMAC-SHA256 iterations a creator uses for a new group's password verifier.
pub const PASSWORD_ITERATIONS: u32 = 100_000;

/// Fewest iterations a verifier may ask for (a cheaper one makes offline guessing cheap).
pub const MIN_PASSWORD_ITERATIONS: u32 = 10_000;

/// Most iterations a verifier may ask for (bounds the work a joiner does for an invitation).
pub const MAX_PASSWORD_ITERATIONS: u32 = 10_000_000;

/// Lifetime of a password challenge, in peer-time units (100 ns): 60 s. Challenges are derived
/// from the root key and the window number, so the granting member keeps no state per joiner;
/// a proof answers the current window's challenge or the previous one's.
pub const PASSWORD_CHALLENGE_WINDOW: u64 = 600_000_000;

/// Wrong password proofs a granting member checks per challenge window; past it every proof is
/// refused unchecked until the next window (bounds online guessing).
pub const MAX_PASSWORD_FAILURES_PER_WINDOW: u32 = 16;
/// Counters of sealed frames remembered per connection and direction (`session.rs`): a frame
/// reordered by fewer than this many newer ones is accepted once; an older one is refused.
pub const REPLAY_WINDOW: u64 = 64;

/// Largest difference between two members' peer times, in 100-ns units (5 minutes), at which
/// they still connect; past it the connection is refused (PEER_E_INVALID_TIME_PERIOD). Within
/// it, a member adopts the peer time of the first member it connects to (`time.rs`).
pub const MAX_CLOCK_SKEW: u64 = 5 * 60 * 10_000_000;
