//! Field values: keys, nonces, route entries, endpoints, controls, and the FIELD_ARRAY lists.
//!
//! Decoded values borrow from the datagram. Lists are either the wire bytes (after decoding) or
//! a caller slice of typed items (before encoding); both compare equal when their items do.

use core::fmt;
use core::net::Ipv6Addr;

use super::error::DecodeError;
use super::field;
use super::header::ProtocolVersion;
use super::tlv::{RawField, Writer};

/// Size of a DRT key / PNRP ID.
pub const KEY_LEN: usize = 32;
/// Size of a nonce.
pub const NONCE_LEN: usize = 16;
/// Size of a hashed nonce (SHA-1 of the nonce).
pub const HASHED_NONCE_LEN: usize = 20;
/// Fewest IPv6 addresses in a route entry.
pub const MIN_ROUTE_ADDRESSES: usize = 1;
/// Most IPv6 addresses in a route entry (`DRT_MAX_ROUTING_ADDRESSES`).
pub const MAX_ROUTE_ADDRESSES: usize = 20;
/// Lowest UDP port a route entry may carry.
pub const MIN_ROUTE_PORT: u16 = 1024;
/// Most IDs in a key array (NumEntries is at most 0x7FFF).
pub const MAX_KEY_ARRAY_ENTRIES: usize = 0x7FFF;
/// Fewest endpoints in an endpoint array (flagged path / already-flooded list).
pub const MIN_ENDPOINT_ARRAY_ENTRIES: usize = 1;
/// Most endpoints in an endpoint array.
pub const MAX_ENDPOINT_ARRAY_ENTRIES: usize = 22;
/// Most UTF-16 units in a classifier (a peer-name classifier is at most 149 characters).
pub const MAX_CLASSIFIER_UNITS: usize = 149;

/// A 256-bit DRT key or PNRP ID, as it appears on the wire.
pub type Key = [u8; KEY_LEN];
/// A conversation or INQUIRE nonce.
pub type Nonce = [u8; NONCE_LEN];
/// SHA-1 of a nonce, sent in SOLICIT before the nonce itself.
pub type HashedNonce = [u8; HASHED_NONCE_LEN];

/// A fixed-size element of a FIELD_ARRAY.
pub trait Element: Copy {
    /// ElementFieldType of arrays of this element.
    const FIELD: u16;
    /// EntryLength of arrays of this element.
    const LEN: usize;
    /// Reads one element from exactly `LEN` bytes.
    fn read(bytes: &[u8]) -> Self;
    /// Writes one element (`LEN` bytes).
    fn write(&self, w: &mut Writer<'_>);
}

impl Element for Key {
    const FIELD: u16 = field::KEY;
    const LEN: usize = KEY_LEN;
    fn read(bytes: &[u8]) -> Self {
        let mut key = [0; KEY_LEN];
        key.copy_from_slice(&bytes[..KEY_LEN]);
        key
    }
    fn write(&self, w: &mut Writer<'_>) {
        w.bytes(self);
    }
}

/// A UDP endpoint: IPV6_ENDPOINT = Port(2) ‖ Address(16).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Endpoint {
    /// IPv6 address (IPv4 peers appear as IPv4-mapped addresses).
    pub addr: Ipv6Addr,
    /// UDP port.
    pub port: u16,
}

impl Element for Endpoint {
    const FIELD: u16 = field::IPV6_ENDPOINT;
    const LEN: usize = 18;
    fn read(bytes: &[u8]) -> Self {
        let port = u16::from_be_bytes([bytes[0], bytes[1]]);
        let mut octets = [0; 16];
        octets.copy_from_slice(&bytes[2..18]);
        Self { addr: Ipv6Addr::from(octets), port }
    }
    fn write(&self, w: &mut Writer<'_>) {
        w.u16(self.port);
        w.bytes(&self.addr.octets());
    }
}

/// A UTF-16 code unit of a classifier (WCHAR, big-endian on the wire).
impl Element for u16 {
    const FIELD: u16 = field::WCHAR;
    const LEN: usize = 2;
    fn read(bytes: &[u8]) -> Self {
        u16::from_be_bytes([bytes[0], bytes[1]])
    }
    fn write(&self, w: &mut Writer<'_>) {
        w.u16(*self);
    }
}

impl Element for Ipv6Addr {
    const FIELD: u16 = 0;
    const LEN: usize = 16;
    fn read(bytes: &[u8]) -> Self {
        let mut octets = [0; 16];
        octets.copy_from_slice(&bytes[..16]);
        Ipv6Addr::from(octets)
    }
    fn write(&self, w: &mut Writer<'_>) {
        w.bytes(&self.octets());
    }
}

/// A list of fixed-size elements: the wire bytes of a decoded field, or a caller's slice.
#[derive(Clone, Copy)]
pub enum List<'a, T: Element> {
    /// Bytes from a datagram; their length is a whole number of elements.
    Wire(&'a [u8]),
    /// Typed items to encode.
    Items(&'a [T]),
}

impl<'a, T: Element> List<'a, T> {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            Self::Wire(bytes) => bytes.len() / T::LEN,
            Self::Items(items) => items.len(),
        }
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The elements, in order.
    pub fn iter(&self) -> ListIter<'a, T> {
        ListIter { list: *self, index: 0 }
    }

    fn write_items(&self, w: &mut Writer<'_>) {
        match self {
            Self::Wire(bytes) => w.bytes(bytes),
            Self::Items(items) => items.iter().for_each(|item| item.write(w)),
        }
    }

    /// Writes a FIELD_ARRAY body: NumEntries, ArrayLength, ElementFieldType, EntryLength, items.
    pub(crate) fn write_array(&self, w: &mut Writer<'_>, field: u16, max: usize) {
        let count = self.len();
        let array_len = 8 + count * T::LEN;
        if count > max || array_len > usize::from(u16::MAX) {
            w.reject(field);
        }
        w.u16(count as u16);
        w.u16(array_len as u16);
        w.u16(T::FIELD);
        w.u16(T::LEN as u16);
        self.write_items(w);
    }

    /// Parses a FIELD_ARRAY body of `T` with between `min` and `max` entries.
    pub(crate) fn read_array(raw: &RawField<'a>, min: usize, max: usize) -> Result<Self, DecodeError> {
        let field = raw.id;
        let (head, items) = raw.body.split_at_checked(8).ok_or(raw.bad_length())?;
        let word = |i: usize| usize::from(u16::from_be_bytes([head[i], head[i + 1]]));
        let (count, array_len, element, entry_len) = (word(0), word(2), word(4), word(6));
        if element != usize::from(T::FIELD) || entry_len != T::LEN {
            return Err(DecodeError::BadFieldValue { field });
        }
        if count < min || count > max {
            return Err(DecodeError::TooManyEntries { field });
        }
        if array_len != 8 + count * T::LEN || items.len() != count * T::LEN {
            return Err(raw.bad_length());
        }
        Ok(Self::Wire(items))
    }
}

impl<T: Element + fmt::Debug> fmt::Debug for List<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<T: Element + PartialEq> PartialEq for List<'_, T> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl<T: Element + Eq> Eq for List<'_, T> {}

/// Iterator over a [`List`].
#[derive(Clone)]
pub struct ListIter<'a, T: Element> {
    list: List<'a, T>,
    index: usize,
}

impl<T: Element> Iterator for ListIter<'_, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        let item = match self.list {
            List::Wire(bytes) => {
                let start = self.index.checked_mul(T::LEN)?;
                T::read(bytes.get(start..start.checked_add(T::LEN)?)?)
            }
            List::Items(items) => *items.get(self.index)?,
        };
        self.index += 1;
        Some(item)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.list.len().saturating_sub(self.index);
        (left, Some(left))
    }
}

impl<T: Element> ExactSizeIterator for ListIter<'_, T> {}

/// ROUTE_ENTRY: how to reach the node that registered a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteEntry<'a> {
    /// The registered key.
    pub key: &'a Key,
    /// Protocol version the node speaks.
    pub version: ProtocolVersion,
    /// UDP port the node listens on (≥ 1024).
    pub port: u16,
    /// IPv6 addresses the node listens on (1..=20).
    pub addresses: List<'a, Ipv6Addr>,
}

/// Bytes of a ROUTE_ENTRY before its addresses.
const ROUTE_ENTRY_FIXED_LEN: usize = KEY_LEN + 6;

impl<'a> RouteEntry<'a> {
    pub(crate) fn decode(raw: &RawField<'a>) -> Result<Self, DecodeError> {
        let field = raw.id;
        let (fixed, addrs) = raw.body.split_at_checked(ROUTE_ENTRY_FIXED_LEN).ok_or(raw.bad_length())?;
        let (key, rest) = fixed.split_first_chunk::<KEY_LEN>().ok_or(raw.bad_length())?;
        let [major, minor, p0, p1, _flags, count] = *rest else { return Err(raw.bad_length()) };
        let port = u16::from_be_bytes([p0, p1]);
        let count = usize::from(count);
        if !(MIN_ROUTE_ADDRESSES..=MAX_ROUTE_ADDRESSES).contains(&count) {
            return Err(DecodeError::TooManyEntries { field });
        }
        if addrs.len() != count * 16 {
            return Err(raw.bad_length());
        }
        if port < MIN_ROUTE_PORT {
            return Err(DecodeError::BadFieldValue { field });
        }
        Ok(Self { key, version: ProtocolVersion::new(major, minor), port, addresses: List::Wire(addrs) })
    }

    pub(crate) fn encode(&self, w: &mut Writer<'_>, field: u16) {
        let count = self.addresses.len();
        if !(MIN_ROUTE_ADDRESSES..=MAX_ROUTE_ADDRESSES).contains(&count) || self.port < MIN_ROUTE_PORT {
            w.reject(field);
        }
        w.field(field, |w| {
            w.bytes(self.key);
            w.u8(self.version.major);
            w.u8(self.version.minor);
            w.u16(self.port);
            w.u8(0);
            w.u8(count as u8);
            self.addresses.write_items(w);
        });
    }
}

/// SOLICIT_CONTROLS (PNRP only): which cache entries the solicitor wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SolicitType {
    /// SOLICIT_TYPE_ANY: any cache entries.
    Any = 0,
    /// SOLICIT_TYPE_LOCAL: locally registered IDs only.
    Local = 1,
}

/// LOOKUP_CONTROLS ResolveCriteria.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResolveCriteria {
    /// Compare all 256 bits (exact).
    Exact = 0x00,
    /// Compare the first 128 bits (PNRP: any instance of a peer name).
    AnyPeerName = 0x01,
    /// Closest match over 256 bits.
    Nearest = 0x02,
    /// Closest match over the first 192 bits.
    Nearest64 = 0x04,
    /// Compare `precision` upper bits.
    UpperBits = 0x08,
}

impl ResolveCriteria {
    fn from_u8(value: u8) -> Option<Self> {
        [Self::Exact, Self::AnyPeerName, Self::Nearest, Self::Nearest64, Self::UpperBits]
            .into_iter()
            .find(|c| *c as u8 == value)
    }
}

/// LOOKUP_CONTROLS ResolveReasonCode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResolveReason {
    /// An application's search.
    AppRequest = 0,
    /// Announcing a completed registration.
    Registration = 1,
    /// Cache maintenance.
    CacheMaintenance = 2,
    /// Testing for a split cloud.
    SplitDetection = 3,
}

impl ResolveReason {
    fn from_u8(value: u8) -> Option<Self> {
        [Self::AppRequest, Self::Registration, Self::CacheMaintenance, Self::SplitDetection]
            .into_iter()
            .find(|r| *r as u8 == value)
    }
}

/// LOOKUP_CONTROLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LookupControls {
    /// A: accept next hops that are not closer to the target than the validate key.
    pub accept_any: bool,
    /// Significant bits for [`ResolveCriteria::UpperBits`] (else 0).
    pub precision: u16,
    /// How keys are matched.
    pub criteria: ResolveCriteria,
    /// Why the LOOKUP was sent.
    pub reason: ResolveReason,
}

/// LOOKUP_CONTROLS flag A.
const LOOKUP_FLAG_A: u16 = 0x0002;

impl LookupControls {
    pub(crate) fn decode(raw: &RawField<'_>) -> Result<Self, DecodeError> {
        let [f0, f1, p0, p1, criteria, reason, _, _] = *raw.fixed::<8>()?;
        let bad = DecodeError::BadFieldValue { field: raw.id };
        Ok(Self {
            accept_any: u16::from_be_bytes([f0, f1]) & LOOKUP_FLAG_A != 0,
            precision: u16::from_be_bytes([p0, p1]),
            criteria: ResolveCriteria::from_u8(criteria).ok_or(bad)?,
            reason: ResolveReason::from_u8(reason).ok_or(bad)?,
        })
    }

    pub(crate) fn encode(&self, w: &mut Writer<'_>) {
        w.field(field::LOOKUP_CONTROLS, |w| {
            w.u16(if self.accept_any { LOOKUP_FLAG_A } else { 0 });
            w.u16(self.precision);
            w.u8(self.criteria as u8);
            w.u8(self.reason as u8);
            w.u16(0);
        });
    }
}

/// INQUIRE flags: what the AUTHORITY answer should carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InquireFlags {
    /// A: include the CPA (signed over the nonce).
    pub want_cpa: bool,
    /// X: include the extended payload.
    pub want_payload: bool,
    /// C: include the certificate chain / credential.
    pub want_credential: bool,
}

/// INQUIRE flag bits.
const INQUIRE_FLAG_A: u16 = 0x0010;
const INQUIRE_FLAG_X: u16 = 0x0008;
const INQUIRE_FLAG_C: u16 = 0x0004;

impl InquireFlags {
    pub(crate) fn from_bits(bits: u16) -> Self {
        Self {
            want_cpa: bits & INQUIRE_FLAG_A != 0,
            want_payload: bits & INQUIRE_FLAG_X != 0,
            want_credential: bits & INQUIRE_FLAG_C != 0,
        }
    }

    pub(crate) fn bits(&self) -> u16 {
        (if self.want_cpa { INQUIRE_FLAG_A } else { 0 })
            | (if self.want_payload { INQUIRE_FLAG_X } else { 0 })
            | (if self.want_credential { INQUIRE_FLAG_C } else { 0 })
    }
}

/// AUTHORITY_BUFFER flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AuthorityFlags {
    /// L: the target is unknown here but would be in this node's leaf set.
    pub leaf_set: bool,
    /// B: too busy to handle the LOOKUP.
    pub busy: bool,
    /// N: the validate key is not registered here.
    pub not_found: bool,
}

const AUTHORITY_FLAG_L: u16 = 0x0200;
const AUTHORITY_FLAG_B: u16 = 0x0008;
const AUTHORITY_FLAG_N: u16 = 0x0001;

impl AuthorityFlags {
    pub(crate) fn from_bits(bits: u16) -> Self {
        Self {
            leaf_set: bits & AUTHORITY_FLAG_L != 0,
            busy: bits & AUTHORITY_FLAG_B != 0,
            not_found: bits & AUTHORITY_FLAG_N != 0,
        }
    }

    pub(crate) fn bits(&self) -> u16 {
        (if self.leaf_set { AUTHORITY_FLAG_L } else { 0 })
            | (if self.busy { AUTHORITY_FLAG_B } else { 0 })
            | (if self.not_found { AUTHORITY_FLAG_N } else { 0 })
    }
}

/// The credential, signature and key identifier that secure INQUIRE, LOOKUP and REQUEST in the
/// MEMBERSHIP and CONFIDENTIALPAYLOAD modes. All three are present or none is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MembershipProof<'a> {
    /// CREDENTIAL: the sender's serialized credential.
    pub credential: &'a [u8],
    /// SIGNATURE over the message's signed field.
    pub signature: &'a [u8],
    /// KEY_IDENTIFIER: which part of the credential signed.
    pub key_identifier: &'a [u8],
}
