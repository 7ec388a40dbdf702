//! Hostile nodes: real nodes (they bootstrap, hold a key and answer for it, so honest nodes
//! cache them) whose answers about every *other* key are attacks.

use std::collections::HashMap;
use std::net::Ipv6Addr;

use peerdrt_core::drt::keyspace::common_prefix_bits;
use peerdrt_core::drt::security::{
    DerivedKeyProvider, Identity, KeyCredential, NullProvider, SecurityMode, SecurityProvider,
};
use peerdrt_core::wire::fragment::fragments;
use peerdrt_core::wire::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// What a hostile node does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Attack {
    /// Claims to hold every key searched for and answers INQUIREs with a record for it bound to
    /// a nonce other than the searcher's (what an attacker who cannot see the request sends),
    /// carrying forged application data.
    SpoofedAuthority,
    /// Derived-key mode: claims to hold every key and answers with a record signed by its own
    /// certified identity, bound to the right nonce (a forged registration).
    ForgedRegistration,
    /// Derived-key mode: claims to hold every key and answers with the key's genuine record,
    /// signed by its owner, recorded earlier (another nonce).
    Replay,
    /// Answers every LOOKUP with a fake route entry: a key next to the target at the endpoint of
    /// another hostile node or of nobody.
    RoutePoisoning,
    /// A cluster of nodes whose keys surround one key: they answer LOOKUPs for it with "nothing
    /// closer" and INQUIREs for it with "not found".
    Sybil,
    /// The same Sybil cluster, but in place before the key's owner joins: the attacker knows
    /// the key in advance, its nodes join first, and the owner joins last.
    SybilBeforeOwner,
    /// Nodes that crowd one victim's cache (several keys each, near the victim's, flooded to it)
    /// and answer LOOKUPs by pointing only at each other.
    Eclipse,
}

impl Attack {
    /// Every attack.
    pub const ALL: [Attack; 7] = [
        Attack::SpoofedAuthority,
        Attack::ForgedRegistration,
        Attack::Replay,
        Attack::RoutePoisoning,
        Attack::Sybil,
        Attack::SybilBeforeOwner,
        Attack::Eclipse,
    ];

    /// Short name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Attack::SpoofedAuthority => "spoofed AUTHORITY (wrong nonce)",
            Attack::ForgedRegistration => "forged registration (derived key)",
            Attack::Replay => "replayed record (derived key)",
            Attack::RoutePoisoning => "route poisoning",
            Attack::Sybil => "Sybil cluster around one key",
            Attack::SybilBeforeOwner => "Sybil cluster in place before the key's owner joins",
            Attack::Eclipse => "eclipse of one node",
        }
    }

    /// Whether the attack needs the derived-key security provider to mean anything.
    pub fn needs_derived_keys(self) -> bool {
        matches!(self, Attack::ForgedRegistration | Attack::Replay)
    }

    /// Whether the hostile nodes form a cluster around one key (whenever it was placed).
    pub fn is_sybil(self) -> bool {
        matches!(self, Attack::Sybil | Attack::SybilBeforeOwner)
    }
}

/// Leading bits a Sybil's key shares with the key its cluster surrounds (and the least a
/// target shares with it for the cluster to attack the search).
pub const SYBIL_PREFIX_BITS: u32 = 16;

/// Application data hostile nodes put in forged records.
pub const FORGED_DATA: &[u8] = b"forged by a hostile node";

/// The state of one hostile node.
#[derive(Debug)]
pub struct Hostile {
    /// Its attack.
    pub attack: Attack,
    /// Its own endpoint.
    pub local: Endpoint,
    /// Keys it registered honestly (it answers for those like any node).
    pub own_keys: Vec<Key>,
    /// The key a Sybil cluster surrounds.
    pub focus: Key,
    /// Other hostile endpoints (where poisoned routes point).
    pub accomplices: Vec<Endpoint>,
    /// Its certified identity (derived-key clouds).
    pub identity: Option<Identity>,
    /// Records it recorded earlier: key → (owner identity, application data).
    pub recorded: HashMap<Key, (Identity, Vec<u8>)>,
    /// The root the cloud trusts (derived-key clouds).
    pub root: Option<ed25519_dalek::VerifyingKey>,
    rng: ChaCha8Rng,
}

/// What the hostile node does with a datagram.
#[derive(Debug)]
pub enum Intercept {
    /// Hand it to the node inside (it is about the node's own keys, or not worth attacking).
    Pass,
    /// Send these datagrams back to the source instead.
    Reply(Vec<Vec<u8>>),
}

impl Hostile {
    /// A hostile node at `local`.
    pub fn new(attack: Attack, local: Endpoint, seed: u64) -> Self {
        Self {
            attack,
            local,
            own_keys: Vec::new(),
            focus: [0; 32],
            accomplices: Vec::new(),
            identity: None,
            recorded: HashMap::new(),
            root: None,
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// Decides what to do with `bytes` from `from`.
    pub fn intercept(&mut self, bytes: &[u8]) -> Intercept {
        let Ok(datagram) = Datagram::decode(bytes) else { return Intercept::Pass };
        let version = datagram.version;
        let id = datagram.message_id;
        match datagram.message {
            Message::Inquire(m) if !self.own_keys.contains(m.validate_key) => {
                let key = *m.validate_key;
                let nonce = m.nonce.copied().unwrap_or([0; NONCE_LEN]);
                self.answer_inquire(version, id, key, nonce).map_or(Intercept::Pass, Intercept::Reply)
            }
            Message::Lookup(m) => {
                let target = *m.target;
                self.answer_lookup(version, id, &target).map_or(Intercept::Pass, Intercept::Reply)
            }
            _ => Intercept::Pass,
        }
    }

    fn answer_inquire(
        &mut self,
        version: ProtocolVersion,
        id: u32,
        key: Key,
        nonce: Nonce,
    ) -> Option<Vec<Vec<u8>>> {
        let addresses = [self.local.addr];
        let entry =
            RouteEntry { key: &key, version, port: self.local.port, addresses: List::Items(&addresses) };
        let mut cpa = Vec::new();
        let mut credential = Vec::new();
        let mut payload = FORGED_DATA.to_vec();
        let not_found = match self.attack {
            Attack::SpoofedAuthority => {
                let wrong: Nonce = self.rng.r#gen();
                NullProvider.seal(&key, &KeyCredential::None, &payload, &wrong, false, &mut cpa);
                false
            }
            Attack::ForgedRegistration => {
                let identity = self.identity.clone()?;
                let provider = DerivedKeyProvider::new(self.root?, None, SecurityMode::Resolve).ok()?;
                let own = KeyCredential::Identity(Box::new(identity));
                credential = provider.seal(&key, &own, &payload, &nonce, false, &mut cpa);
                false
            }
            Attack::Replay => match self.recorded.get(&key) {
                Some((owner, data)) => {
                    let provider = DerivedKeyProvider::new(self.root?, None, SecurityMode::Resolve).ok()?;
                    let genuine = KeyCredential::Identity(Box::new(owner.clone()));
                    let old: Nonce = self.rng.r#gen();
                    payload = data.clone();
                    credential = provider.seal(&key, &genuine, &payload, &old, false, &mut cpa);
                    false
                }
                None => true,
            },
            Attack::RoutePoisoning | Attack::Sybil | Attack::SybilBeforeOwner | Attack::Eclipse => true,
        };
        let buffer = AuthorityBuffer {
            flags: AuthorityFlags { not_found, ..AuthorityFlags::default() },
            credential: (!not_found && !credential.is_empty()).then_some(&credential[..]),
            keytoken: None,
            classifier: None,
            extended_payload: (!not_found).then_some(&payload[..]),
            route_entry: (!not_found).then_some(entry),
            cpa: (!not_found).then_some(&cpa[..]),
        };
        Some(authority(version, id, &buffer, &mut self.rng))
    }

    fn answer_lookup(&mut self, version: ProtocolVersion, id: u32, target: &Key) -> Option<Vec<Vec<u8>>> {
        // A key one step from the target: nearer than any honest node's.
        let mut near = *target;
        near[31] ^= 1;
        let (key, endpoint, leaf) = match self.attack {
            // Claims to hold the target itself, so the searcher INQUIREs it.
            Attack::SpoofedAuthority | Attack::ForgedRegistration | Attack::Replay => {
                (*target, self.local, false)
            }
            Attack::RoutePoisoning => {
                // Half the time another hostile node, half the time nobody.
                let endpoint = if self.rng.gen_bool(0.5) && !self.accomplices.is_empty() {
                    self.accomplices[self.rng.gen_range(0..self.accomplices.len())]
                } else {
                    Endpoint {
                        addr: Ipv6Addr::new(0x2001, 0xdb8, 0xdead, 0, 0, 0, 0, self.rng.r#gen()),
                        port: 3540,
                    }
                };
                (near, endpoint, false)
            }
            Attack::Sybil | Attack::SybilBeforeOwner => {
                // Only the cluster's key is attacked: elsewhere it routes honestly.
                if common_prefix_bits(target, &self.focus) < SYBIL_PREFIX_BITS {
                    return None;
                }
                (near, self.local, true)
            }
            Attack::Eclipse => {
                let endpoint = if self.accomplices.is_empty() {
                    self.local
                } else {
                    self.accomplices[self.rng.gen_range(0..self.accomplices.len())]
                };
                (near, endpoint, false)
            }
        };
        let addresses = [endpoint.addr];
        let entry =
            RouteEntry { key: &key, version, port: endpoint.port, addresses: List::Items(&addresses) };
        let buffer = AuthorityBuffer {
            flags: AuthorityFlags { leaf_set: leaf, ..AuthorityFlags::default() },
            credential: None,
            keytoken: None,
            classifier: None,
            extended_payload: None,
            route_entry: (!leaf).then_some(entry),
            cpa: None,
        };
        Some(authority(version, id, &buffer, &mut self.rng))
    }
}

/// Encodes `buffer` as AUTHORITY datagrams answering `acked_id`.
fn authority(
    version: ProtocolVersion,
    acked_id: u32,
    buffer: &AuthorityBuffer<'_>,
    rng: &mut ChaCha8Rng,
) -> Vec<Vec<u8>> {
    let mut bytes = vec![0u8; 40_000];
    let Ok(len) = buffer.encode(&mut bytes) else { return Vec::new() };
    let message_id: u32 = rng.r#gen();
    let Ok(parts) = fragments(&bytes[..len]) else { return Vec::new() };
    parts
        .filter_map(|(split, fragment)| {
            let datagram = Datagram {
                version,
                message_id,
                message: Message::Authority(Authority { acked_id, split, fragment }),
            };
            let mut out = vec![0u8; MAX_DATAGRAM_LEN];
            let len = datagram.encode(&mut out).ok()?;
            out.truncate(len);
            Some(out)
        })
        .collect()
}
