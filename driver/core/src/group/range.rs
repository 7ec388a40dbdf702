//! Hashed ranges of the record ID space, for synchronisation in the spirit of [MS-PPGRH]
//! SOLICIT_HASH / ADVERTISE: two members compare digests of the same ranges and descend only
//! into the ranges that differ, so only missing or newer records move.
//!
//! A range fixes the first `depth` hexadecimal digits of the records' [`SyncKey`] (the ID with
//! its random half first); its children fix one more. The root range (depth 0) holds every
//! record.

use sha2::{Digest, Sha256};

use super::id::{RecordId, SyncKey};
use super::limits::{MAX_RANGE_DEPTH, RANGE_FANOUT};
use super::wire::Abstract;

/// A prefix range of record IDs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Range {
    depth: u8,
    prefix: SyncKey,
}

impl Range {
    /// Every record ID.
    pub const ROOT: Range = Range { depth: 0, prefix: SyncKey([0; 16]) };

    /// The range of IDs starting with the first `depth` hex digits of `prefix`; `None` unless
    /// `depth` ≤ [`MAX_RANGE_DEPTH`] and the digits after them are zero.
    pub fn new(depth: u8, prefix: SyncKey) -> Option<Self> {
        if depth > MAX_RANGE_DEPTH || (depth..32).any(|i| prefix.nibble(i) != 0) {
            return None;
        }
        Some(Self { depth, prefix })
    }

    /// Hex digits fixed.
    pub fn depth(&self) -> u8 {
        self.depth
    }

    /// The fixed digits (zero after them).
    pub fn prefix(&self) -> SyncKey {
        self.prefix
    }

    /// Whether `id` lies in the range.
    pub fn contains(&self, id: &RecordId) -> bool {
        let key = id.sync_key();
        (0..self.depth).all(|i| key.nibble(i) == self.prefix.nibble(i))
    }

    /// The smallest and largest key in the range.
    pub fn bounds(&self) -> (SyncKey, SyncKey) {
        let mut high = self.prefix.0;
        for i in self.depth..32 {
            let byte = &mut high[usize::from(i / 2)];
            *byte |= if i.is_multiple_of(2) { 0xf0 } else { 0x0f };
        }
        (self.prefix, SyncKey(high))
    }

    /// Child `digit` (0..16), or `None` at the deepest level.
    pub fn child(&self, digit: u8) -> Option<Range> {
        if self.depth >= MAX_RANGE_DEPTH || usize::from(digit) >= RANGE_FANOUT {
            return None;
        }
        let mut prefix = self.prefix.0;
        let at = usize::from(self.depth / 2);
        prefix[at] |= if self.depth.is_multiple_of(2) { digit << 4 } else { digit };
        Some(Range { depth: self.depth + 1, prefix: SyncKey(prefix) })
    }

    /// The child digit `id` falls in (only meaningful for IDs in the range).
    pub fn child_digit(&self, id: &RecordId) -> u8 {
        id.sync_key().nibble(self.depth)
    }
}

/// The digest of one range on one member: a hash over its records' abstracts and their count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RangeDigest {
    /// First 16 bytes of SHA-256 over the abstracts in ID order ([MS-PPGRH] uses MD5).
    pub hash: [u8; 16],
    /// Records in the range.
    pub count: u32,
}

impl RangeDigest {
    /// The digest of an empty range.
    pub const EMPTY: RangeDigest = RangeDigest { hash: [0; 16], count: 0 };
}

/// Builds a [`RangeDigest`] from abstracts fed in ID order.
#[derive(Debug, Clone, Default)]
pub struct DigestBuilder {
    hasher: Sha256,
    count: u32,
}

impl DigestBuilder {
    /// Adds one record.
    pub fn add(&mut self, item: &Abstract) {
        self.hasher.update(item.id.0);
        self.hasher.update(item.version.to_be_bytes());
        self.hasher.update(item.modified.0.to_be_bytes());
        self.count = self.count.saturating_add(1);
    }

    /// The digest.
    pub fn finish(self) -> RangeDigest {
        if self.count == 0 {
            return RangeDigest::EMPTY;
        }
        let full = self.hasher.finalize();
        let mut hash = [0u8; 16];
        hash.copy_from_slice(&full[..16]);
        RangeDigest { hash, count: self.count }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_partition_their_parent() {
        let parent = Range::ROOT.child(0xa).unwrap().child(0x3).unwrap();
        assert_eq!(parent.prefix().0[0], 0xa3);
        let (low, high) = parent.bounds();
        assert_eq!((low.0[0], high.0[0], high.0[15]), (0xa3, 0xa3, 0xff));
        let mut id = [0x11u8; 16];
        id[8] = 0xa3;
        id[9] = 0x7f;
        let id = RecordId(id);
        assert!(parent.contains(&id));
        let digit = parent.child_digit(&id);
        assert_eq!(digit, 7);
        assert!(parent.child(digit).unwrap().contains(&id));
        assert!(!parent.child(8).unwrap().contains(&id));
    }

    #[test]
    fn depth_is_bounded_and_prefixes_are_canonical() {
        let mut range = Range::ROOT;
        for _ in 0..MAX_RANGE_DEPTH {
            range = range.child(1).unwrap();
        }
        assert_eq!(range.depth(), MAX_RANGE_DEPTH);
        assert_eq!(range.child(0), None);
        assert!(Range::new(MAX_RANGE_DEPTH, range.prefix()).is_some());
        assert!(Range::new(MAX_RANGE_DEPTH + 1, range.prefix()).is_none());
        assert!(Range::new(1, SyncKey([0x1f; 16])).is_none(), "digits after the prefix must be zero");
        assert!(Range::ROOT.child(16).is_none());
    }
}
