//! Identifiers: record IDs bound to their creator, record types, member keys, group tags.

use sha2::{Digest, Sha256};

/// A member's identity: its Ed25519 public key. (The peer name that PNRP resolves for it is
/// derived from this key once grouping is wired to PeerIdentity*.)
pub type MemberKey = [u8; 32];

/// A GUID as 16 bytes in wire (big-endian, [MS-PPGRH]) order.
pub type Guid = [u8; 16];

/// A record's type GUID (PEER_RECORD.type).
pub type RecordType = Guid;

/// A record's ID (PEER_RECORD.id): 64 bits derived from the creator, 64 chosen by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct RecordId(pub Guid);

impl RecordId {
    /// The ID of a new record created by `creator`; `random` supplies the free low 64 bits.
    ///
    /// [MS-PPGRH] §3.1.7.27: the high 64 bits are the XOR of the two halves of a 128-bit hash of
    /// the creator ID. The spec's hash is MD5; peerdrt uses the first 128 bits of SHA-256 (no MD5
    /// crate is available to the build, and nothing here interoperates with Windows graphing).
    pub fn for_creator(creator: &MemberKey, random: u64) -> Self {
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&creator_binding(creator).to_be_bytes());
        id[8..].copy_from_slice(&random.to_be_bytes());
        Self(id)
    }

    /// Whether this ID is one `creator` may have made.
    pub fn is_bound_to(&self, creator: &MemberKey) -> bool {
        self.0[..8] == creator_binding(creator).to_be_bytes()
    }

    /// The key the database and synchronisation order records by: the ID with its random half
    /// first, so the records of one creator spread over the whole key space.
    pub fn sync_key(&self) -> SyncKey {
        let mut key = [0u8; 16];
        key[..8].copy_from_slice(&self.0[8..]);
        key[8..].copy_from_slice(&self.0[..8]);
        SyncKey(key)
    }
}

/// A record ID with its halves swapped (see [`RecordId::sync_key`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SyncKey(pub [u8; 16]);

impl SyncKey {
    /// The record ID this key orders.
    pub fn record_id(&self) -> RecordId {
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&self.0[8..]);
        id[8..].copy_from_slice(&self.0[..8]);
        RecordId(id)
    }

    /// The `index`-th hexadecimal digit, most significant first (`index` < 32).
    pub fn nibble(&self, index: u8) -> u8 {
        let byte = self.0[usize::from(index / 2) % 16];
        if index.is_multiple_of(2) { byte >> 4 } else { byte & 0x0f }
    }
}

fn creator_binding(creator: &MemberKey) -> u64 {
    let hash = Sha256::digest(creator);
    let mut high = [0u8; 8];
    let mut low = [0u8; 8];
    high.copy_from_slice(&hash[..8]);
    low.copy_from_slice(&hash[8..16]);
    u64::from_be_bytes(high) ^ u64::from_be_bytes(low)
}

/// A short tag naming a group in every message: the first 8 bytes of SHA-256 of the group root's
/// public key. A message for another group is dropped before anything else is looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupTag(pub [u8; 8]);

impl GroupTag {
    /// The tag of the group whose root key is `root`.
    pub fn of_root(root: &MemberKey) -> Self {
        let hash = Sha256::digest(root);
        let mut tag = [0u8; 8];
        tag.copy_from_slice(&hash[..8]);
        Self(tag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_bound_to_its_creator_and_no_other() {
        let alice = [1u8; 32];
        let bob = [2u8; 32];
        let id = RecordId::for_creator(&alice, 0x1234_5678_9abc_def0);
        assert!(id.is_bound_to(&alice));
        assert!(!id.is_bound_to(&bob));
        assert_eq!(&id.0[8..], &0x1234_5678_9abc_def0u64.to_be_bytes());
    }

    #[test]
    fn sync_keys_put_the_random_half_first_and_read_most_significant_first() {
        let mut raw = [0u8; 16];
        raw[8] = 0xab;
        raw[7] = 0xcd;
        let id = RecordId(raw);
        let key = id.sync_key();
        assert_eq!((key.nibble(0), key.nibble(1), key.nibble(30), key.nibble(31)), (0xa, 0xb, 0xc, 0xd));
        assert_eq!(key.record_id(), id);
    }
}
