//! A member's record database: the newest verified version of every record, tombstones kept
//! until they expire, and the range digests synchronisation compares.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;
use core::cmp::Ordering;

use ed25519_dalek::VerifyingKey;

use super::id::{MemberKey, RecordId, RecordType, SyncKey};
use super::limits::{MAX_CLOCK_SKEW, MAX_GROUP_DB_BYTES, MAX_RECORDS, RANGE_FANOUT};
use super::range::{DigestBuilder, Range, RangeDigest};
use super::record::{Record, RecordError, RecordView, order};
use super::time::PeerTime;
use super::wire::Abstract;

/// PEER_RECORD_CHANGE_TYPE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// PEER_RECORD_ADDED.
    Added = 1,
    /// PEER_RECORD_UPDATED.
    Updated = 2,
    /// PEER_RECORD_DELETED.
    Deleted = 3,
    /// PEER_RECORD_EXPIRED.
    Expired = 4,
}

/// What applying a record did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The record is now the newest version; what changed for the application, if anything
    /// (a tombstone for a record never seen changes nothing visible).
    Stored(Option<Change>),
    /// The database already held this version or a newer one.
    NotNewer,
}

/// Why a record was not applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbError {
    /// The record failed verification.
    Record(RecordError),
    /// It has already expired.
    Expired,
    /// The database holds [`MAX_RECORDS`] records, or the record would take it past
    /// [`MAX_GROUP_DB_BYTES`] bytes.
    Full,
}

/// The record database of one member of one group.
#[derive(Debug, Clone)]
pub struct RecordDb {
    root: VerifyingKey,
    records: BTreeMap<SyncKey, Record>,
    /// Every stored record by expiration, so expiry and the next deadline cost O(log n).
    expiry: BTreeSet<(PeerTime, SyncKey)>,
    /// Sum of the stored records' wire lengths, at most [`MAX_GROUP_DB_BYTES`].
    bytes: usize,
    /// What the stored bytes may grow to: [`MAX_GROUP_DB_BYTES`], or less where the host
    /// bounds all its groups together ([`RecordDb::set_byte_limit`]).
    byte_limit: usize,
}

impl RecordDb {
    /// An empty database for the group rooted at `root`; `None` if `root` is not a valid
    /// Ed25519 public key.
    pub fn new(root: &MemberKey) -> Option<Self> {
        Some(Self {
            root: VerifyingKey::from_bytes(root).ok()?,
            records: BTreeMap::new(),
            expiry: BTreeSet::new(),
            bytes: 0,
            byte_limit: MAX_GROUP_DB_BYTES,
        })
    }

    /// The group root's key.
    pub fn root(&self) -> &VerifyingKey {
        &self.root
    }

    /// Verifies `view` and stores it if it is newer than what the database holds. `now` is the
    /// group's peer time: a record modified later than `now` plus
    /// [`MAX_CLOCK_SKEW`] was not written on the group's clock and is refused
    /// ([`RecordError::InvalidTimes`]), as is one that would take the database past
    /// [`MAX_RECORDS`] records or grow it past its byte limit (at most [`MAX_GROUP_DB_BYTES`],
    /// [`RecordDb::set_byte_limit`]) ([`DbError::Full`]).
    pub fn apply(&mut self, view: &RecordView<'_>, now: PeerTime) -> Result<Applied, DbError> {
        if view.expiration <= now {
            return Err(DbError::Expired);
        }
        if view.modified > now.plus_ticks(MAX_CLOCK_SKEW) {
            return Err(DbError::Record(RecordError::InvalidTimes));
        }
        let existing = self.records.get(&view.id.sync_key());
        if let Some(existing) = existing
            && order(existing.order_key(), (view.version, view.modified, &view.signature)) != Ordering::Less
        {
            return Ok(Applied::NotNewer);
        }
        if existing.is_none() && self.records.len() >= MAX_RECORDS {
            return Err(DbError::Full);
        }
        let replaced = existing.map_or(0, |r| r.view().encoded_len());
        let bytes = self.bytes.saturating_sub(replaced).saturating_add(view.encoded_len());
        // Past the limit only a change that shrinks the database is taken (a deletion's
        // tombstone, a smaller version): a lowered limit never blocks giving bytes back.
        if bytes > self.byte_limit && bytes > self.bytes {
            return Err(DbError::Full);
        }
        view.verify(&self.root).map_err(DbError::Record)?;
        let record = view.to_record();
        let change = match (existing.map(Record::is_deleted), record.is_deleted()) {
            (None | Some(true), false) => Some(Change::Added),
            (Some(false), false) => Some(Change::Updated),
            (Some(false), true) => Some(Change::Deleted),
            (None | Some(true), true) => None,
        };
        let key = record.id.sync_key();
        self.bytes = bytes;
        self.expiry.insert((record.expiration, key));
        if let Some(old) = self.records.insert(key, record)
            && let Some(new) = self.records.get(&key)
            && old.expiration != new.expiration
        {
            self.expiry.remove(&(old.expiration, key));
        }
        Ok(Applied::Stored(change))
    }

    /// The stored version of a record, tombstones included.
    pub fn get(&self, id: &RecordId) -> Option<&Record> {
        self.records.get(&id.sync_key())
    }

    /// A live (not deleted) record.
    pub fn get_live(&self, id: &RecordId) -> Option<&Record> {
        self.records.get(&id.sync_key()).filter(|r| !r.is_deleted())
    }

    /// Every live record, in ID order.
    pub fn live(&self) -> impl Iterator<Item = &Record> {
        self.records.values().filter(|r| !r.is_deleted())
    }

    /// Every stored record, tombstones included.
    pub fn all(&self) -> impl Iterator<Item = &Record> {
        self.records.values()
    }

    /// Stored records, tombstones included.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Bytes stored: the sum of the stored records' wire lengths (tombstones included), at most
    /// [`MAX_GROUP_DB_BYTES`]. The device adds these up to bound all its groups together.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Lowers (or restores) what the stored bytes may grow to, at most [`MAX_GROUP_DB_BYTES`]:
    /// a host running many groups gives each the share of its budget the others leave. Records
    /// already stored stay; past the limit the database only shrinks.
    pub fn set_byte_limit(&mut self, limit: usize) {
        self.byte_limit = limit.min(MAX_GROUP_DB_BYTES);
    }

    /// What the stored bytes may grow to.
    pub fn byte_limit(&self) -> usize {
        self.byte_limit
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Removes every record whose expiration is at or before `now`; returns the removed live
    /// records' IDs and types (tombstones vanish silently).
    pub fn expire(&mut self, now: PeerTime) -> Vec<(RecordId, RecordType)> {
        let mut expired = Vec::new();
        while let Some(&(at, key)) = self.expiry.first() {
            if at > now {
                break;
            }
            self.expiry.pop_first();
            let Some(record) = self.records.remove(&key) else { continue };
            self.bytes = self.bytes.saturating_sub(record.view().encoded_len());
            if !record.is_deleted() {
                expired.push((record.id, record.record_type));
            }
        }
        expired
    }

    /// The earliest expiration of any stored record.
    pub fn next_expiration(&self) -> Option<PeerTime> {
        self.expiry.first().map(|(at, _)| *at)
    }

    /// The abstracts of the records in `range`, in ID order.
    pub fn abstracts(&self, range: &Range) -> impl Iterator<Item = Abstract> + '_ {
        let (low, high) = range.bounds();
        self.records.range(low..=high).map(|(_, r)| Abstract {
            id: r.id,
            version: r.version,
            modified: r.modified,
        })
    }

    /// The digest of each child of `range`, in one pass.
    pub fn child_digests(&self, range: &Range) -> [RangeDigest; RANGE_FANOUT] {
        let mut builders: [DigestBuilder; RANGE_FANOUT] = Default::default();
        for item in self.abstracts(range) {
            builders[usize::from(range.child_digit(&item.id)) % RANGE_FANOUT].add(&item);
        }
        builders.map(DigestBuilder::finish)
    }

    /// The digest of `range`.
    pub fn digest(&self, range: &Range) -> RangeDigest {
        let mut builder = DigestBuilder::default();
        self.abstracts(range).for_each(|item| builder.add(&item));
        builder.finish()
    }

    /// Whether the database would take a record with this abstract (it is missing or older here).
    pub fn wants(&self, item: &Abstract) -> bool {
        match self.records.get(&item.id.sync_key()) {
            None => true,
            Some(r) => (r.version, r.modified) < (item.version, item.modified),
        }
    }
}
