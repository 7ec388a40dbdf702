//! Peer Grouping's engine: replicated, signed records among the members of a group.
//!
//! * [`record`]: PEER_RECORD, signed by its author, verified by every member;
//! * [`attributes`]: the attribute XML schema;
//! * [`membership`]: the group root key, membership certificates (invitations), roles;
//! * [`database`]: the newest version of every record, tombstones, expiry, range digests;
//! * [`range`]: hashed ranges of the ID space for synchronisation;
//! * [`handshake`]: proof of key possession when members connect;
//! * [`password`]: password authentication (security properties, challenge, proof, grant);
//! * [`session`]: sealed (encrypted, authenticated, replay-checked) traffic between members;
//! * [`channel`]: acknowledged, retransmitted delivery to one member;
//! * [`member`]: one member's state machine (connections, flooding, synchronisation);
//! * [`wire`]: the message codec.
//!
//! Sans-IO like the rest of the core: the host hands in datagrams and the peer time, and makes
//! what [`member::Member`] stores durable (see `docs/grouping.md`).

pub mod attributes;
pub mod channel;
pub mod database;
pub mod handshake;
pub mod id;
pub mod limits;
pub mod member;
pub mod membership;
pub mod password;
pub mod range;
pub mod record;
pub mod session;
pub mod time;
pub mod wire;

#[cfg(test)]
mod connection_tests;
#[cfg(test)]
mod hostile_member_tests;
#[cfg(test)]
mod limit_tests;
#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;
