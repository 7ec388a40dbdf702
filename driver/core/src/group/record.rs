//! PEER_RECORD: the replicated unit of a group, signed by the member that last wrote it.
//!
//! A record's wire form (big-endian):
//!
//! ```text
//! type(16) id(16) version(4) flags(4) creator(32) creation(8) modified(8) expiration(8)
//! attributes_len(2) attributes(UTF-8) data_len(4) data certificate(145) signature(64)
//! ```
//!
//! The certificate is the modifier's membership certificate (so the modifier is its key); the
//! signature is the modifier's over everything before it, prefixed by a domain string and the
//! group root. [`RecordView::verify`] applies the rules of [MS-PPGRH] §3.1.7.27 plus the group's
//! authorisation rules; a record that fails them never enters a database.

use alloc::string::String;
use alloc::vec::Vec;
use core::cmp::Ordering;

use ed25519_dalek::{Signature, Signer, Verifier, VerifyingKey};

use super::attributes::{self, AttributeError};
use super::id::{MemberKey, RecordId, RecordType};
use super::limits::MAX_RECORD_SIZE;
use super::membership::{CERTIFICATE_LEN, Credentials, MembershipCertificate, MembershipError, Role};
use super::time::PeerTime;

/// PEER_RECORD_FLAG_AUTOREFRESH.
pub const FLAG_AUTOREFRESH: u32 = 1;
/// PEER_RECORD_FLAG_DELETED: the record is a tombstone kept until it expires.
pub const FLAG_DELETED: u32 = 2;
/// The flags a record may carry.
const KNOWN_FLAGS: u32 = FLAG_AUTOREFRESH | FLAG_DELETED;

/// Domain separation for record signatures.
const RECORD_CONTEXT: &[u8] = b"peerdrt-group-record-v1";

/// Bytes of a record's wire form that do not depend on its attributes and data.
pub const RECORD_FIXED_LEN: usize = 16 + 16 + 4 + 4 + 32 + 8 + 8 + 8 + 2 + 4 + CERTIFICATE_LEN + 64;

/// The longest wire form of a record.
pub const MAX_RECORD_WIRE_LEN: usize = RECORD_FIXED_LEN + MAX_RECORD_SIZE;

/// Why a record is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordError {
    /// Not a well-formed record encoding.
    Malformed,
    /// Data and attributes exceed [`MAX_RECORD_SIZE`] (PEER_E_MAX_RECORD_SIZE_EXCEEDED).
    TooLarge,
    /// The attribute XML breaks the schema (PEER_E_INVALID_ATTRIBUTES).
    InvalidAttributes(AttributeError),
    /// Times out of order: expiration > last modified ≥ creation must hold, and a new record's
    /// expiration must lie in the future (PEER_E_INVALID_RECORD).
    InvalidTimes,
    /// Version 0, unknown flags, a tombstone with payload, or a first version written by someone
    /// other than its creator (PEER_E_INVALID_RECORD).
    Inconsistent,
    /// The ID is not bound to the creator ([MS-PPGRH] §3.1.7.27).
    IdNotBoundToCreator,
    /// The modifier's certificate does not make it a member at the modification time.
    NotMember(MembershipError),
    /// The modifier may not write this record: only its creator or an administrator may
    /// (PEER_E_NOT_AUTHORIZED).
    NotAuthorized,
    /// The signature does not match (a forged or altered record).
    BadSignature,
    /// An update may only keep or extend the expiration.
    ExpirationShortened,
}

/// What an application supplies to add or update a record (the caller-set PEER_RECORD fields).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordDraft {
    /// PEER_RECORD.type.
    pub record_type: RecordType,
    /// PEER_RECORD.pwzAttributes (may be empty).
    pub attributes: String,
    /// PEER_RECORD.data.
    pub data: Vec<u8>,
    /// PEER_RECORD.ftExpiration, in peer time.
    pub expiration: PeerTime,
    /// PEER_RECORD_FLAG_AUTOREFRESH, if wanted.
    pub flags: u32,
}

/// A record, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// PEER_RECORD.type.
    pub record_type: RecordType,
    /// PEER_RECORD.id.
    pub id: RecordId,
    /// PEER_RECORD.dwVersion: 1 when added, +1 per update or delete.
    pub version: u32,
    /// PEER_RECORD.dwFlags.
    pub flags: u32,
    /// The creator's key (pwzCreatorId).
    pub creator: MemberKey,
    /// ftCreation.
    pub creation: PeerTime,
    /// ftLastModified.
    pub modified: PeerTime,
    /// ftExpiration.
    pub expiration: PeerTime,
    /// pwzAttributes.
    pub attributes: String,
    /// data.
    pub data: Vec<u8>,
    /// The modifier's certificate (securityData, with the signature).
    pub certificate: MembershipCertificate,
    /// The modifier's signature.
    pub signature: [u8; 64],
}

/// A record decoded in place from a message or a log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordView<'a> {
    /// PEER_RECORD.type.
    pub record_type: RecordType,
    /// PEER_RECORD.id.
    pub id: RecordId,
    /// dwVersion.
    pub version: u32,
    /// dwFlags.
    pub flags: u32,
    /// Creator key.
    pub creator: MemberKey,
    /// ftCreation.
    pub creation: PeerTime,
    /// ftLastModified.
    pub modified: PeerTime,
    /// ftExpiration.
    pub expiration: PeerTime,
    /// Attribute XML.
    pub attributes: &'a str,
    /// Payload.
    pub data: &'a [u8],
    /// Modifier certificate.
    pub certificate: MembershipCertificate,
    /// Modifier signature.
    pub signature: [u8; 64],
}

/// The order in which versions of one record supersede each other: version, then modification
/// time, then the signature bytes (so two concurrent writes settle the same way everywhere).
pub fn order(a: (u32, PeerTime, &[u8; 64]), b: (u32, PeerTime, &[u8; 64])) -> Ordering {
    a.0.cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(b.2))
}

impl Record {
    /// A new record written by `author`, with the free half of its ID from `random`.
    pub fn create(
        author: &Credentials,
        group_root: &MemberKey,
        draft: RecordDraft,
        random: u64,
        now: PeerTime,
    ) -> Result<Self, RecordError> {
        check_draft(&draft)?;
        if draft.expiration <= now {
            return Err(RecordError::InvalidTimes);
        }
        let creator = author.member();
        let mut record = Self {
            record_type: draft.record_type,
            id: RecordId::for_creator(&creator, random),
            version: 1,
            flags: draft.flags & FLAG_AUTOREFRESH,
            creator,
            creation: now,
            modified: now,
            expiration: draft.expiration,
            attributes: draft.attributes,
            data: draft.data,
            certificate: author.certificate,
            signature: [0; 64],
        };
        record.sign(author, group_root);
        Ok(record)
    }

    /// The next version of this record with new attributes, data and expiration (the type is
    /// kept; PeerGraphUpdateRecord may change only these).
    pub fn revise(
        &self,
        author: &Credentials,
        group_root: &MemberKey,
        draft: RecordDraft,
        now: PeerTime,
    ) -> Result<Self, RecordError> {
        check_draft(&draft)?;
        if draft.expiration < self.expiration {
            return Err(RecordError::ExpirationShortened);
        }
        self.successor(author, group_root, draft.attributes, draft.data, draft.expiration, draft.flags, now)
    }

    /// The tombstone that deletes this record; it is kept until the record's expiration.
    pub fn tombstone(
        &self,
        author: &Credentials,
        group_root: &MemberKey,
        now: PeerTime,
    ) -> Result<Self, RecordError> {
        self.successor(author, group_root, String::new(), Vec::new(), self.expiration, FLAG_DELETED, now)
    }

    #[allow(clippy::too_many_arguments)]
    fn successor(
        &self,
        author: &Credentials,
        group_root: &MemberKey,
        attributes: String,
        data: Vec<u8>,
        expiration: PeerTime,
        flags: u32,
        now: PeerTime,
    ) -> Result<Self, RecordError> {
        if author.member() != self.creator && author.certificate.role != Role::Administrator {
            return Err(RecordError::NotAuthorized);
        }
        let modified = now.max(self.modified.plus_ticks(1));
        if expiration <= modified {
            return Err(RecordError::InvalidTimes);
        }
        let mut next = Self {
            record_type: self.record_type,
            id: self.id,
            version: self.version.checked_add(1).ok_or(RecordError::Inconsistent)?,
            flags: flags & KNOWN_FLAGS,
            creator: self.creator,
            creation: self.creation,
            modified,
            expiration,
            attributes,
            data,
            certificate: author.certificate,
            signature: [0; 64],
        };
        next.sign(author, group_root);
        Ok(next)
    }

    fn sign(&mut self, author: &Credentials, group_root: &MemberKey) {
        let signed = signed_bytes(&self.view(), group_root);
        self.signature = author.signing_key.sign(&signed).to_bytes();
    }

    /// The record as a view.
    pub fn view(&self) -> RecordView<'_> {
        RecordView {
            record_type: self.record_type,
            id: self.id,
            version: self.version,
            flags: self.flags,
            creator: self.creator,
            creation: self.creation,
            modified: self.modified,
            expiration: self.expiration,
            attributes: &self.attributes,
            data: &self.data,
            certificate: self.certificate,
            signature: self.signature,
        }
    }

    /// Whether this is a tombstone.
    pub fn is_deleted(&self) -> bool {
        self.flags & FLAG_DELETED != 0
    }

    /// The key the record is ordered by (see [`order`]).
    pub fn order_key(&self) -> (u32, PeerTime, &[u8; 64]) {
        (self.version, self.modified, &self.signature)
    }

    /// Appends the wire form to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        self.view().encode(out);
    }
}

fn check_draft(draft: &RecordDraft) -> Result<(), RecordError> {
    if draft.data.len().saturating_add(draft.attributes.len()) > MAX_RECORD_SIZE {
        return Err(RecordError::TooLarge);
    }
    attributes::validate(&draft.attributes).map_err(RecordError::InvalidAttributes)
}

fn signed_bytes(view: &RecordView<'_>, group_root: &MemberKey) -> Vec<u8> {
    let mut out = Vec::with_capacity(RECORD_CONTEXT.len() + 32 + view.encoded_len());
    out.extend_from_slice(RECORD_CONTEXT);
    out.extend_from_slice(group_root);
    view.encode_unsigned(&mut out);
    out
}

impl<'a> RecordView<'a> {
    /// Length of the wire form.
    pub fn encoded_len(&self) -> usize {
        RECORD_FIXED_LEN + self.attributes.len() + self.data.len()
    }

    fn encode_unsigned(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.record_type);
        out.extend_from_slice(&self.id.0);
        out.extend_from_slice(&self.version.to_be_bytes());
        out.extend_from_slice(&self.flags.to_be_bytes());
        out.extend_from_slice(&self.creator);
        out.extend_from_slice(&self.creation.0.to_be_bytes());
        out.extend_from_slice(&self.modified.0.to_be_bytes());
        out.extend_from_slice(&self.expiration.0.to_be_bytes());
        // Lengths fit: a record in memory was checked against MAX_RECORD_SIZE.
        out.extend_from_slice(&(self.attributes.len() as u16).to_be_bytes());
        out.extend_from_slice(self.attributes.as_bytes());
        out.extend_from_slice(&(self.data.len() as u32).to_be_bytes());
        out.extend_from_slice(self.data);
        out.extend_from_slice(&self.certificate.to_bytes());
    }

    /// Appends the wire form to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        self.encode_unsigned(out);
        out.extend_from_slice(&self.signature);
    }

    /// Decodes one record from the front of `bytes`; returns it and the bytes after it.
    pub fn decode(bytes: &'a [u8]) -> Result<(Self, &'a [u8]), RecordError> {
        let mut r = super::wire::Reader::new(bytes);
        let m = |_| RecordError::Malformed;
        let record_type = r.array::<16>().map_err(m)?;
        let id = RecordId(r.array::<16>().map_err(m)?);
        let version = r.u32().map_err(m)?;
        let flags = r.u32().map_err(m)?;
        let creator = r.array::<32>().map_err(m)?;
        let creation = PeerTime(r.u64().map_err(m)?);
        let modified = PeerTime(r.u64().map_err(m)?);
        let expiration = PeerTime(r.u64().map_err(m)?);
        let attributes_len = usize::from(r.u16().map_err(m)?);
        if attributes_len > MAX_RECORD_SIZE {
            return Err(RecordError::TooLarge);
        }
        let attributes =
            core::str::from_utf8(r.take(attributes_len).map_err(m)?).map_err(|_| RecordError::Malformed)?;
        let data_len = usize::try_from(r.u32().map_err(m)?).map_err(|_| RecordError::TooLarge)?;
        if data_len.saturating_add(attributes_len) > MAX_RECORD_SIZE {
            return Err(RecordError::TooLarge);
        }
        let data = r.take(data_len).map_err(m)?;
        let certificate = MembershipCertificate::from_bytes(r.take(CERTIFICATE_LEN).map_err(m)?)
            .map_err(|_| RecordError::Malformed)?;
        let signature = r.array::<64>().map_err(m)?;
        let view = Self {
            record_type,
            id,
            version,
            flags,
            creator,
            creation,
            modified,
            expiration,
            attributes,
            data,
            certificate,
            signature,
        };
        Ok((view, r.rest()))
    }

    /// Checks every rule a member applies before a record may enter its database: structure,
    /// schema, times, creator binding, membership of the modifier at the modification time,
    /// authorisation and signature.
    pub fn verify(&self, group_root: &VerifyingKey) -> Result<(), RecordError> {
        if self.data.len().saturating_add(self.attributes.len()) > MAX_RECORD_SIZE {
            return Err(RecordError::TooLarge);
        }
        attributes::validate(self.attributes).map_err(RecordError::InvalidAttributes)?;
        if !(self.creation <= self.modified && self.modified < self.expiration) {
            return Err(RecordError::InvalidTimes);
        }
        let deleted = self.flags & FLAG_DELETED != 0;
        let modifier = self.certificate.member;
        if self.version == 0
            || self.flags & !KNOWN_FLAGS != 0
            || (deleted && (!self.data.is_empty() || !self.attributes.is_empty()))
            || (self.version == 1 && (modifier != self.creator || self.modified != self.creation || deleted))
        {
            return Err(RecordError::Inconsistent);
        }
        if !self.id.is_bound_to(&self.creator) {
            return Err(RecordError::IdNotBoundToCreator);
        }
        self.certificate.check(group_root, self.modified).map_err(RecordError::NotMember)?;
        if modifier != self.creator && self.certificate.role != Role::Administrator {
            return Err(RecordError::NotAuthorized);
        }
        let modifier_key = VerifyingKey::from_bytes(&modifier).map_err(|_| RecordError::BadSignature)?;
        let signed = signed_bytes(self, &group_root.to_bytes());
        modifier_key
            .verify(&signed, &Signature::from_bytes(&self.signature))
            .map_err(|_| RecordError::BadSignature)
    }

    /// The owned record.
    pub fn to_record(&self) -> Record {
        Record {
            record_type: self.record_type,
            id: self.id,
            version: self.version,
            flags: self.flags,
            creator: self.creator,
            creation: self.creation,
            modified: self.modified,
            expiration: self.expiration,
            attributes: String::from(self.attributes),
            data: Vec::from(self.data),
            certificate: self.certificate,
            signature: self.signature,
        }
    }
}
