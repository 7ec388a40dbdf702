//! The registration record: what a PNRP registration stores as its DRT key's payload, and what
//! a resolver checks before it returns an endpoint.
//!
//! The publisher (the shim, which holds the private key; the driver never does) signs the
//! record with Ed25519. A resolver accepts it only if the name belongs to the key it was found
//! under (the P2P ID half of the PNRP ID), a secured name's authority is the hash of the
//! record's public key, the signature holds, and the validity window is current: forged,
//! altered and stale records are never returned. Among several records under one PNRP ID the
//! highest sequence wins, so an old record replayed beside a newer one loses.
//!
//! Encoding (little-endian; lengths bounded by the named constants):
//!
//! | field | size |
//! |---|---|
//! | magic `PNRR`, version 1, flags 0 | 4 + 1 + 1 |
//! | PNRP ID | 32 |
//! | sequence, not before, not after (Unix seconds) | 8 + 8 + 8 |
//! | publisher public key (Ed25519) | 32 |
//! | peer name (UTF-8), u16 length first | 2 + ≤ [`MAX_PEER_NAME_BYTES`] |
//! | address count (≤ [`MAX_ADDRESSES`]), each IPv6 (16) ‖ port (2) ‖ scope id (4) | 1 + 22 n |
//! | comment (UTF-8, ≤ [`MAX_COMMENT_UNITS`] UTF-16 units), u8 length first | 1 + ≤ 117 |
//! | payload, u16 length first (≤ [`MAX_PAYLOAD`]) | 2 + ≤ 4096 |
//! | signature over [`SIGNATURE_CONTEXT`] ‖ everything above | 64 |

use alloc::vec::Vec;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

use super::id::{PnrpId, p2p_id};
use super::name::{Authority, MAX_PEER_NAME_BYTES, NameError, PeerName};

/// First bytes of every record.
pub const MAGIC: [u8; 4] = *b"PNRR";
/// The record format's version.
pub const VERSION: u8 = 1;
/// Most addresses a registration carries (`PNRP_MAX_ENDPOINT_ADDRESSES`).
pub const MAX_ADDRESSES: usize = 10;
/// Longest comment in UTF-16 code units (40 WCHARs with the NUL).
pub const MAX_COMMENT_UNITS: usize = 39;
/// Longest comment in UTF-8 bytes.
pub const MAX_COMMENT_BYTES: usize = 3 * MAX_COMMENT_UNITS;
/// Largest payload (`PNRP_MAX_EXTENDED_PAYLOAD_BYTES`).
pub const MAX_PAYLOAD: usize = 4096;
/// Longest validity window a record may claim (PNRP's 86 400 s CPA lifetime).
pub const MAX_RECORD_LIFETIME_SECS: u64 = 86_400;
/// How far ahead of the resolver's clock a record's start may be.
pub const MAX_CLOCK_SKEW_SECS: u64 = 300;
/// Size of an encoded address.
pub const ADDRESS_LEN: usize = 22;
/// Size of a signature.
pub const SIGNATURE_LEN: usize = 64;
/// What the signature covers before the record's bytes (domain separation).
pub const SIGNATURE_CONTEXT: &[u8] = b"peerdrt PNRP registration record v1\0";
const FIXED_LEN: usize = 4 + 1 + 1 + 32 + 8 + 8 + 8 + 32;
/// Largest encoded record; it fits a DRT key's payload (5120 bytes).
pub const MAX_RECORD_LEN: usize = FIXED_LEN
    + 2
    + MAX_PEER_NAME_BYTES
    + 1
    + MAX_ADDRESSES * ADDRESS_LEN
    + 1
    + MAX_COMMENT_BYTES
    + 2
    + MAX_PAYLOAD
    + SIGNATURE_LEN;
const _: () = assert!(MAX_RECORD_LEN <= 5120);

/// One address of a registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RecordAddress {
    /// IPv6 octets (IPv4 as mapped).
    pub addr: [u8; 16],
    /// Port.
    pub port: u16,
    /// Scope id (link-local addresses).
    pub scope_id: u32,
}

/// Why bytes are not a well-formed record, or content cannot become one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordError {
    /// Shorter than its fields say.
    Truncated,
    /// Bytes after the signature.
    TrailingBytes,
    /// Not a record of this format (magic, version or flags).
    BadHeader,
    /// The name is not a valid peer name.
    Name(NameError),
    /// Text is not UTF-8.
    BadText,
    /// More than [`MAX_ADDRESSES`].
    TooManyAddresses,
    /// Comment longer than [`MAX_COMMENT_UNITS`].
    CommentTooLong,
    /// Payload larger than [`MAX_PAYLOAD`].
    PayloadTooLarge,
    /// Neither addresses nor a payload: nothing to resolve to.
    Empty,
    /// The public key is not a valid Ed25519 point.
    BadKey,
}

/// Why a well-formed record is not returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyError {
    /// Found under another DRT key than its own PNRP ID.
    KeyMismatch,
    /// Its PNRP ID is not of its name.
    NameMismatch,
    /// A secured name whose authority is not the hash of the record's key.
    WrongKey,
    /// The signature does not hold.
    BadSignature,
    /// Validity window longer than [`MAX_RECORD_LIFETIME_SECS`] or inverted.
    BadValidity,
    /// Not valid yet (beyond the clock skew allowed).
    NotYetValid,
    /// Expired.
    Expired,
}

/// What a publisher signs.
#[derive(Debug, Clone, Copy)]
pub struct RecordContent<'a> {
    /// The name.
    pub name: &'a PeerName,
    /// Its PNRP ID (the DRT key).
    pub id: PnrpId,
    /// Higher for newer versions of the registration.
    pub sequence: u64,
    /// Start of validity, Unix seconds.
    pub not_before: u64,
    /// End of validity, Unix seconds.
    pub not_after: u64,
    /// Addresses (≤ [`MAX_ADDRESSES`]).
    pub addresses: &'a [RecordAddress],
    /// Comment (≤ [`MAX_COMMENT_UNITS`]).
    pub comment: &'a str,
    /// Payload (≤ [`MAX_PAYLOAD`]).
    pub payload: &'a [u8],
}

fn check_limits(addresses: usize, comment: &str, payload: usize) -> Result<(), RecordError> {
    if addresses > MAX_ADDRESSES {
        return Err(RecordError::TooManyAddresses);
    }
    if comment.encode_utf16().count() > MAX_COMMENT_UNITS {
        return Err(RecordError::CommentTooLong);
    }
    if payload > MAX_PAYLOAD {
        return Err(RecordError::PayloadTooLarge);
    }
    if addresses == 0 && payload == 0 {
        return Err(RecordError::Empty);
    }
    Ok(())
}

impl RecordContent<'_> {
    /// Encodes and signs with the publisher's key.
    pub fn sign(&self, key: &SigningKey) -> Result<Vec<u8>, RecordError> {
        check_limits(self.addresses.len(), self.comment, self.payload.len())?;
        let mut out = Vec::with_capacity(MAX_RECORD_LEN);
        out.extend_from_slice(&MAGIC);
        out.push(VERSION);
        out.push(0);
        out.extend_from_slice(&self.id.0);
        out.extend_from_slice(&self.sequence.to_le_bytes());
        out.extend_from_slice(&self.not_before.to_le_bytes());
        out.extend_from_slice(&self.not_after.to_le_bytes());
        out.extend_from_slice(key.verifying_key().as_bytes());
        let mut name = alloc::string::String::new();
        let _ = core::fmt::write(&mut name, format_args!("{}", self.name));
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.push(self.addresses.len() as u8);
        for a in self.addresses {
            out.extend_from_slice(&a.addr);
            out.extend_from_slice(&a.port.to_le_bytes());
            out.extend_from_slice(&a.scope_id.to_le_bytes());
        }
        out.push(self.comment.len() as u8);
        out.extend_from_slice(self.comment.as_bytes());
        out.extend_from_slice(&(self.payload.len() as u16).to_le_bytes());
        out.extend_from_slice(self.payload);
        let signature = key.sign(&signed_message(&out));
        out.extend_from_slice(&signature.to_bytes());
        Ok(out)
    }
}

fn signed_message(body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(SIGNATURE_CONTEXT.len() + body.len());
    m.extend_from_slice(SIGNATURE_CONTEXT);
    m.extend_from_slice(body);
    m
}

/// A decoded record, borrowing the bytes it came from.
#[derive(Debug, Clone)]
pub struct Record<'a> {
    /// Its PNRP ID.
    pub id: PnrpId,
    /// Its sequence.
    pub sequence: u64,
    /// Start of validity.
    pub not_before: u64,
    /// End of validity.
    pub not_after: u64,
    /// The publisher's key.
    pub public_key: [u8; 32],
    /// The name (validated).
    pub name: PeerName,
    addresses: &'a [u8],
    /// The comment.
    pub comment: &'a str,
    /// The payload.
    pub payload: &'a [u8],
    signature: [u8; SIGNATURE_LEN],
    body: &'a [u8],
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], RecordError> {
        if self.0.len() < n {
            return Err(RecordError::Truncated);
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], RecordError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }
    fn u8(&mut self) -> Result<u8, RecordError> {
        Ok(self.array::<1>()?[0])
    }
    fn u16(&mut self) -> Result<u16, RecordError> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, RecordError> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    fn text(&mut self, len: usize, max: usize) -> Result<&'a str, RecordError> {
        if len > max {
            return Err(RecordError::Truncated);
        }
        core::str::from_utf8(self.take(len)?).map_err(|_| RecordError::BadText)
    }
}

impl<'a> Record<'a> {
    /// Decodes a record; never panics, allocates only the name (bounded).
    pub fn decode(bytes: &'a [u8]) -> Result<Self, RecordError> {
        let mut c = Cursor(bytes);
        if c.array::<4>()? != MAGIC || c.u8()? != VERSION || c.u8()? != 0 {
            return Err(RecordError::BadHeader);
        }
        let id = PnrpId(c.array()?);
        let (sequence, not_before, not_after) = (c.u64()?, c.u64()?, c.u64()?);
        let public_key = c.array()?;
        let name_len = usize::from(c.u16()?);
        if name_len > MAX_PEER_NAME_BYTES {
            return Err(RecordError::Name(NameError::InvalidPeerName));
        }
        let name = PeerName::parse(c.text(name_len, MAX_PEER_NAME_BYTES)?).map_err(RecordError::Name)?;
        let count = usize::from(c.u8()?);
        if count > MAX_ADDRESSES {
            return Err(RecordError::TooManyAddresses);
        }
        let addresses = c.take(count * ADDRESS_LEN)?;
        let comment_len = usize::from(c.u8()?);
        if comment_len > MAX_COMMENT_BYTES {
            return Err(RecordError::CommentTooLong);
        }
        let comment = c.text(comment_len, MAX_COMMENT_BYTES)?;
        let payload_len = usize::from(c.u16()?);
        if payload_len > MAX_PAYLOAD {
            return Err(RecordError::PayloadTooLarge);
        }
        let payload = c.take(payload_len)?;
        check_limits(count, comment, payload_len)?;
        let body = &bytes[..bytes.len() - c.0.len()];
        let signature = c.array()?;
        if !c.0.is_empty() {
            return Err(RecordError::TrailingBytes);
        }
        Ok(Self {
            id,
            sequence,
            not_before,
            not_after,
            public_key,
            name,
            addresses,
            comment,
            payload,
            signature,
            body,
        })
    }

    /// The addresses.
    pub fn addresses(&self) -> impl Iterator<Item = RecordAddress> + 'a {
        self.addresses.chunks_exact(ADDRESS_LEN).map(|a| {
            let mut addr = [0u8; 16];
            addr.copy_from_slice(&a[..16]);
            RecordAddress {
                addr,
                port: u16::from_le_bytes([a[16], a[17]]),
                scope_id: u32::from_le_bytes([a[18], a[19], a[20], a[21]]),
            }
        })
    }

    /// Whether a resolver may return it: found under `key`, at Unix time `now`.
    pub fn verify(&self, key: &[u8; 32], now: u64) -> Result<(), VerifyError> {
        if self.id.0 != *key {
            return Err(VerifyError::KeyMismatch);
        }
        if self.id.p2p() != p2p_id(&self.name) {
            return Err(VerifyError::NameMismatch);
        }
        if let Authority::Secured(_) = self.name.authority
            && Authority::of_key(&self.public_key) != self.name.authority
        {
            return Err(VerifyError::WrongKey);
        }
        let key = VerifyingKey::from_bytes(&self.public_key).map_err(|_| VerifyError::BadSignature)?;
        key.verify_strict(&signed_message(self.body), &Signature::from_bytes(&self.signature))
            .map_err(|_| VerifyError::BadSignature)?;
        if self.not_after < self.not_before || self.not_after - self.not_before > MAX_RECORD_LIFETIME_SECS {
            return Err(VerifyError::BadValidity);
        }
        if self.not_before > now.saturating_add(MAX_CLOCK_SKEW_SECS) {
            return Err(VerifyError::NotYetValid);
        }
        if now > self.not_after {
            return Err(VerifyError::Expired);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pnrp::id::service_location;
    use alloc::string::String;
    use alloc::vec;

    const NOW: u64 = 1_700_000_000;
    const ONE: [RecordAddress; 1] = [RecordAddress { addr: [1; 16], port: 3541, scope_id: 1 }];

    fn signer(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn addr(i: u8) -> RecordAddress {
        RecordAddress { addr: [i; 16], port: 3540 + u16::from(i), scope_id: u32::from(i) }
    }

    fn content<'a>(
        name: &'a PeerName,
        addresses: &'a [RecordAddress],
        comment: &'a str,
        payload: &'a [u8],
    ) -> RecordContent<'a> {
        let id = PnrpId::new(p2p_id(name), service_location([0; 8], &[9; 32], &[], [1; 8]));
        RecordContent {
            name,
            id,
            sequence: 1,
            not_before: NOW,
            not_after: NOW + 3600,
            addresses,
            comment,
            payload,
        }
    }

    fn secured(key: &SigningKey, classifier: &str) -> PeerName {
        PeerName::new(Authority::of_key(key.verifying_key().as_bytes()), classifier).unwrap()
    }

    #[test]
    fn a_signed_record_decodes_to_what_was_signed_and_verifies() {
        let key = signer(1);
        let name = secured(&key, "demo");
        let addrs = [addr(1), addr(2)];
        let c = content(&name, &addrs, "hello", b"payload");
        let bytes = c.sign(&key).unwrap();
        let r = Record::decode(&bytes).unwrap();
        assert_eq!((&r.name, r.comment, r.payload, r.sequence), (&name, "hello", &b"payload"[..], 1));
        assert_eq!(r.addresses().collect::<Vec<_>>(), addrs);
        assert_eq!(r.public_key, *key.verifying_key().as_bytes());
        assert_eq!(r.verify(&c.id.0, NOW + 10), Ok(()));
    }

    #[test]
    fn the_largest_record_fits_a_drt_payload_and_one_past_each_limit_is_refused() {
        let key = signer(2);
        let classifier: String = "c".repeat(crate::pnrp::name::MAX_CLASSIFIER_UNITS);
        let name = secured(&key, &classifier);
        let addrs = vec![addr(3); MAX_ADDRESSES];
        let comment: String = "é".repeat(MAX_COMMENT_UNITS);
        let payload = vec![7u8; MAX_PAYLOAD];
        let bytes = content(&name, &addrs, &comment, &payload).sign(&key).unwrap();
        assert!(bytes.len() <= MAX_RECORD_LEN);
        assert!(Record::decode(&bytes).is_ok());

        let more = vec![addr(3); MAX_ADDRESSES + 1];
        assert_eq!(content(&name, &more, "", b"x").sign(&key), Err(RecordError::TooManyAddresses));
        let long: String = "é".repeat(MAX_COMMENT_UNITS + 1);
        assert_eq!(content(&name, &addrs, &long, b"").sign(&key), Err(RecordError::CommentTooLong));
        let big = vec![0u8; MAX_PAYLOAD + 1];
        assert_eq!(content(&name, &addrs, "", &big).sign(&key), Err(RecordError::PayloadTooLarge));
        assert_eq!(content(&name, &[], "c", b"").sign(&key), Err(RecordError::Empty));
        assert!(content(&name, &[], "", b"p").sign(&key).is_ok(), "a payload alone is enough");
        assert!(content(&name, &addrs[..1], "", b"").sign(&key).is_ok(), "an address alone is enough");
    }

    #[test]
    fn every_truncation_and_trailing_byte_is_a_typed_error() {
        let key = signer(3);
        let name = secured(&key, "t");
        let bytes = content(&name, &ONE, "c", b"p").sign(&key).unwrap();
        for n in 0..bytes.len() {
            assert!(Record::decode(&bytes[..n]).is_err(), "prefix of {n}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(Record::decode(&longer).unwrap_err(), RecordError::TrailingBytes);
        let mut bad = bytes;
        bad[4] = 2;
        assert_eq!(Record::decode(&bad).unwrap_err(), RecordError::BadHeader);
    }

    #[test]
    fn a_secured_name_signed_with_another_key_is_refused() {
        let (owner, forger) = (signer(4), signer(5));
        let name = secured(&owner, "bank");
        let c = content(&name, &ONE, "", b"");
        let forged = c.sign(&forger).unwrap();
        assert_eq!(Record::decode(&forged).unwrap().verify(&c.id.0, NOW), Err(VerifyError::WrongKey));
    }

    #[test]
    fn any_altered_byte_breaks_the_signature_or_the_binding() {
        let key = signer(6);
        let name = secured(&key, "x");
        let c = content(&name, &ONE, "comment", b"payload");
        let bytes = c.sign(&key).unwrap();
        for i in 6..bytes.len() {
            let mut altered = bytes.clone();
            altered[i] ^= 0x01;
            if let Ok(r) = Record::decode(&altered) {
                assert!(r.verify(&c.id.0, NOW).is_err(), "byte {i} altered and still accepted");
            }
        }
    }

    #[test]
    fn a_record_is_bound_to_its_key_and_its_name() {
        let key = signer(7);
        let name = secured(&key, "x");
        let c = content(&name, &ONE, "", b"");
        let r_bytes = c.sign(&key).unwrap();
        let r = Record::decode(&r_bytes).unwrap();
        let mut other = c.id.0;
        other[31] ^= 1;
        assert_eq!(r.verify(&other, NOW), Err(VerifyError::KeyMismatch));
        // A record whose ID is of another name.
        let other_name = secured(&key, "y");
        let mut c2 = c;
        c2.name = &other_name;
        let moved = c2.sign(&key).unwrap();
        assert_eq!(Record::decode(&moved).unwrap().verify(&c.id.0, NOW), Err(VerifyError::NameMismatch));
    }

    #[test]
    fn validity_is_checked_at_and_past_its_edges() {
        let key = signer(8);
        let name = PeerName::parse("0.demo").unwrap();
        let mut c = content(&name, &ONE, "", b"");
        let verify =
            |c: &RecordContent<'_>, now| Record::decode(&c.sign(&key).unwrap()).unwrap().verify(&c.id.0, now);
        assert_eq!(verify(&c, c.not_after), Ok(()));
        assert_eq!(verify(&c, c.not_after + 1), Err(VerifyError::Expired));
        assert_eq!(verify(&c, NOW - MAX_CLOCK_SKEW_SECS), Ok(()));
        assert_eq!(verify(&c, NOW - MAX_CLOCK_SKEW_SECS - 1), Err(VerifyError::NotYetValid));
        c.not_after = c.not_before + MAX_RECORD_LIFETIME_SECS;
        assert_eq!(verify(&c, NOW), Ok(()));
        c.not_after += 1;
        assert_eq!(verify(&c, NOW), Err(VerifyError::BadValidity));
        c.not_after = c.not_before - 1;
        assert_eq!(verify(&c, NOW), Err(VerifyError::BadValidity));
    }
}
