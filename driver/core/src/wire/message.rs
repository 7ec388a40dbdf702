//! The eight messages of [MC-DRT] / PNRP v4, and the AUTHORITY_BUFFER they carry.
//!
//! Grammar per message follows [MC-DRT] §2.2.2: mandatory fields in order, optional ones
//! recognised by their FieldID at the place the spec allows them, nothing else.
//! CONFIDENTIALPAYLOAD's encrypted field variants (0x00A0–0x00A4) are not parsed yet: a datagram
//! carrying them is rejected as `UnexpectedField`.

use super::error::{DecodeError, EncodeError};
use super::field;
use super::fragment::SplitControls;
use super::header::{Header, MessageType, ProtocolVersion};
use super::tlv::{FieldReader, RawField, Writer};
use super::types::*;

/// Largest datagram the codec decodes or encodes: the largest UDP payload.
pub const MAX_DATAGRAM_LEN: usize = 65_507;

/// One datagram: header values plus the typed message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram<'a> {
    /// Protocol version bytes of the header.
    pub version: ProtocolVersion,
    /// Header MessageID.
    pub message_id: u32,
    /// The message.
    pub message: Message<'a>,
}

/// A decoded message; every borrowed slice points into the datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message<'a> {
    /// SOLICIT.
    Solicit(Solicit<'a>),
    /// ADVERTISE.
    Advertise(Advertise<'a>),
    /// REQUEST.
    Request(Request<'a>),
    /// FLOOD.
    Flood(Flood<'a>),
    /// INQUIRE.
    Inquire(Inquire<'a>),
    /// AUTHORITY (one fragment of an AUTHORITY_BUFFER).
    Authority(Authority<'a>),
    /// ACK.
    Ack(Ack),
    /// LOOKUP.
    Lookup(Lookup<'a>),
}

/// SOLICIT: ask a peer for the keys in its cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Solicit<'a> {
    /// SOLICIT_CONTROLS (PNRP only; DRT never sends it).
    pub solicit_type: Option<SolicitType>,
    /// The sender's route entry, if it has a registered key.
    pub route_entry: Option<RouteEntry<'a>>,
    /// SHA-1 of the conversation nonce revealed later in REQUEST.
    pub hashed_nonce: &'a HashedNonce,
}

/// ADVERTISE: the keys a peer offers, in answer to a SOLICIT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advertise<'a> {
    /// MessageID of the SOLICIT.
    pub acked_id: u32,
    /// Keys offered.
    pub keys: List<'a, Key>,
    /// The SOLICIT's hashed nonce, echoed.
    pub hashed_nonce: &'a HashedNonce,
}

/// REQUEST: ask for the route entries of advertised keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request<'a> {
    /// RESOLVE mode: the body in one datagram.
    Plain(RequestBody<'a>),
    /// MEMBERSHIP modes: FLAGS + SPLIT_CONTROLS + a fragment of a [`RequestBody`] encoding.
    Fragment {
        /// Where the fragment lies in the body.
        split: SplitControls,
        /// The fragment bytes.
        fragment: &'a [u8],
    },
}

/// The body of a REQUEST (whole, or reassembled from fragments).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestBody<'a> {
    /// The conversation nonce (its SHA-1 was in the SOLICIT).
    pub nonce: &'a Nonce,
    /// Keys whose route entries are wanted.
    pub keys: List<'a, Key>,
    /// Credential and signature over the key list (membership modes).
    pub proof: Option<MembershipProof<'a>>,
}

/// FLOOD: deliver a route entry, or revoke a registration, to a neighbour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flood<'a> {
    /// D: no ACK wanted.
    pub no_ack: bool,
    /// A key the receiver is known to publish (all zero when flooding to a new node).
    pub validate_key: &'a Key,
    /// KEYTOKEN (CONFIDENTIALPAYLOAD).
    pub keytoken: Option<&'a [u8]>,
    /// REVOKE_CPA: an encoded CPA withdrawing a registration.
    pub revoke_cpa: Option<&'a [u8]>,
    /// The route entry being flooded.
    pub route_entry: Option<RouteEntry<'a>>,
    /// PNRP's already-flooded list (1..=22 endpoints).
    pub flooded: Option<List<'a, Endpoint>>,
}

/// INQUIRE: ask a publisher for its CPA, or check it is alive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inquire<'a> {
    /// What the answer should carry.
    pub flags: InquireFlags,
    /// The key asked about.
    pub validate_key: &'a Key,
    /// Nonce to bind the CPA signature to (present when A is set).
    pub nonce: Option<&'a Nonce>,
    /// Credential and signature over the validate key (membership modes).
    pub proof: Option<MembershipProof<'a>>,
}

/// AUTHORITY: one fragment of an [`AuthorityBuffer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authority<'a> {
    /// MessageID of the INQUIRE or LOOKUP answered.
    pub acked_id: u32,
    /// Size of the whole buffer and offset of this fragment.
    pub split: SplitControls,
    /// The fragment bytes.
    pub fragment: &'a [u8],
}

/// ACK: acknowledge a REQUEST or FLOOD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ack {
    /// MessageID acknowledged.
    pub acked_id: u32,
    /// N: the FLOOD's validate key is not registered here.
    pub not_found: bool,
}

/// LOOKUP: one iterative step of a search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup<'a> {
    /// Matching rules and reason.
    pub controls: LookupControls,
    /// The key searched for.
    pub target: &'a Key,
    /// A key the receiver publishes.
    pub validate_key: &'a Key,
    /// Best match so far.
    pub best_match: Option<RouteEntry<'a>>,
    /// Nodes that have seen this LOOKUP (1..=22).
    pub path: List<'a, Endpoint>,
    /// Credential and signature over the validate key (membership modes).
    pub proof: Option<MembershipProof<'a>>,
}

/// AUTHORITY_BUFFER: the logical answer to INQUIRE/LOOKUP, carried in AUTHORITY fragments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorityBuffer<'a> {
    /// L / B / N.
    pub flags: AuthorityFlags,
    /// The publisher's credential (certificate chain).
    pub credential: Option<&'a [u8]>,
    /// KEYTOKEN (CONFIDENTIALPAYLOAD).
    pub keytoken: Option<&'a [u8]>,
    /// CLASSIFIER (UTF-16 units).
    pub classifier: Option<List<'a, u16>>,
    /// EXTENDED_PAYLOAD: the application data registered with the key.
    pub extended_payload: Option<&'a [u8]>,
    /// Route entry: the next hop (LOOKUP) or the publisher itself.
    pub route_entry: Option<RouteEntry<'a>>,
    /// VALIDATE_CPA: the signed address record.
    pub cpa: Option<&'a [u8]>,
}

impl Message<'_> {
    /// The header message type of this message.
    pub fn message_type(&self) -> MessageType {
        match self {
            Self::Solicit(_) => MessageType::Solicit,
            Self::Advertise(_) => MessageType::Advertise,
            Self::Request(_) => MessageType::Request,
            Self::Flood(_) => MessageType::Flood,
            Self::Inquire(_) => MessageType::Inquire,
            Self::Authority(_) => MessageType::Authority,
            Self::Ack(_) => MessageType::Ack,
            Self::Lookup(_) => MessageType::Lookup,
        }
    }
}

fn acked_id(raw: &RawField<'_>) -> Result<u32, DecodeError> {
    Ok(u32::from_be_bytes(*raw.fixed::<4>()?))
}

fn flags_u16(raw: &RawField<'_>) -> Result<u16, DecodeError> {
    let [a, b] = *raw.fixed::<2>()?;
    Ok(u16::from_be_bytes([a, b]))
}

fn key<'a>(r: &mut FieldReader<'a>, id: u16) -> Result<&'a Key, DecodeError> {
    r.expect(id)?.fixed::<KEY_LEN>()
}

fn opaque<'a>(r: &mut FieldReader<'a>, id: u16) -> Result<Option<&'a [u8]>, DecodeError> {
    Ok(r.optional(id)?.map(|raw| raw.body))
}

fn route_entry<'a>(r: &mut FieldReader<'a>) -> Result<Option<RouteEntry<'a>>, DecodeError> {
    r.optional(field::ROUTE_ENTRY)?.map(|raw| RouteEntry::decode(&raw)).transpose()
}

fn proof<'a>(r: &mut FieldReader<'a>) -> Result<Option<MembershipProof<'a>>, DecodeError> {
    let Some(credential) = r.optional(field::CREDENTIAL)? else { return Ok(None) };
    Ok(Some(MembershipProof {
        credential: credential.body,
        signature: r.expect(field::SIGNATURE)?.body,
        key_identifier: r.expect(field::KEY_IDENTIFIER)?.body,
    }))
}

fn write_proof(w: &mut Writer<'_>, proof: &Option<MembershipProof<'_>>) {
    if let Some(p) = proof {
        w.field(field::CREDENTIAL, |w| w.bytes(p.credential));
        w.field(field::SIGNATURE, |w| w.bytes(p.signature));
        w.field(field::KEY_IDENTIFIER, |w| w.bytes(p.key_identifier));
    }
}

fn write_opaque(w: &mut Writer<'_>, id: u16, bytes: Option<&[u8]>) {
    if let Some(bytes) = bytes {
        w.field(id, |w| w.bytes(bytes));
    }
}

fn write_acked(w: &mut Writer<'_>, acked_id: u32) {
    w.field(field::HEADER_ACKED, |w| w.u32(acked_id));
}

impl<'a> Datagram<'a> {
    /// Decodes one datagram. Borrows from `input`; never allocates, never panics.
    pub fn decode(input: &'a [u8]) -> Result<Self, DecodeError> {
        if input.len() > MAX_DATAGRAM_LEN {
            return Err(DecodeError::TooLong);
        }
        let header = Header::decode(input)?;
        let mut r = FieldReader::new(input.get(super::header::HEADER_LEN..).unwrap_or_default());
        let message = match header.message_type {
            MessageType::Solicit => Message::Solicit(Solicit {
                solicit_type: match r.optional(field::SOLICIT_CONTROLS)? {
                    None => None,
                    Some(raw) => Some(match raw.fixed::<2>()?[1] {
                        0 => SolicitType::Any,
                        1 => SolicitType::Local,
                        _ => return Err(DecodeError::BadFieldValue { field: raw.id }),
                    }),
                },
                route_entry: route_entry(&mut r)?,
                hashed_nonce: r.expect(field::HASHED_NONCE)?.fixed()?,
            }),
            MessageType::Advertise => Message::Advertise(Advertise {
                acked_id: acked_id(&r.expect(field::HEADER_ACKED)?)?,
                keys: List::read_array(&r.expect(field::KEY_ARRAY)?, 0, MAX_KEY_ARRAY_ENTRIES)?,
                hashed_nonce: r.expect(field::HASHED_NONCE)?.fixed()?,
            }),
            MessageType::Request => {
                if let Some(flags) = r.optional(field::FLAGS)? {
                    flags_u16(&flags)?;
                    let split = SplitControls::decode(&r.expect(field::SPLIT_CONTROLS)?)?;
                    let fragment = r.rest();
                    split.check_fragment(fragment.len())?;
                    return Ok(Self {
                        version: header.version,
                        message_id: header.message_id,
                        message: Message::Request(Request::Fragment { split, fragment }),
                    });
                }
                Message::Request(Request::Plain(RequestBody::read(&mut r)?))
            }
            MessageType::Flood => {
                let controls = r.expect(field::FLOOD_CONTROLS)?;
                let [c0, c1, _] = *controls.fixed::<3>()?;
                Message::Flood(Flood {
                    no_ack: u16::from_be_bytes([c0, c1]) & 1 != 0,
                    validate_key: key(&mut r, field::VALIDATE_KEY)?,
                    keytoken: opaque(&mut r, field::KEYTOKEN)?,
                    revoke_cpa: opaque(&mut r, field::REVOKE_CPA)?,
                    route_entry: route_entry(&mut r)?,
                    flooded: r
                        .optional(field::IPV6_ENDPOINT_ARRAY)?
                        .map(|raw| {
                            List::read_array(&raw, MIN_ENDPOINT_ARRAY_ENTRIES, MAX_ENDPOINT_ARRAY_ENTRIES)
                        })
                        .transpose()?,
                })
            }
            MessageType::Inquire => Message::Inquire(Inquire {
                flags: InquireFlags::from_bits(flags_u16(&r.expect(field::FLAGS)?)?),
                validate_key: key(&mut r, field::VALIDATE_KEY)?,
                nonce: r.optional(field::NONCE)?.map(|raw| raw.fixed()).transpose()?,
                proof: proof(&mut r)?,
            }),
            MessageType::Authority => {
                let acked_id = acked_id(&r.expect(field::HEADER_ACKED)?)?;
                let split = SplitControls::decode(&r.expect(field::SPLIT_CONTROLS)?)?;
                let fragment = r.rest();
                split.check_fragment(fragment.len())?;
                return Ok(Self {
                    version: header.version,
                    message_id: header.message_id,
                    message: Message::Authority(Authority { acked_id, split, fragment }),
                });
            }
            MessageType::Ack => Message::Ack(Ack {
                acked_id: acked_id(&r.expect(field::HEADER_ACKED)?)?,
                not_found: match r.optional(field::FLAGS)? {
                    Some(raw) => flags_u16(&raw)? & 1 != 0,
                    None => false,
                },
            }),
            MessageType::Lookup => Message::Lookup(Lookup {
                controls: LookupControls::decode(&r.expect(field::LOOKUP_CONTROLS)?)?,
                target: key(&mut r, field::TARGET_KEY)?,
                validate_key: key(&mut r, field::VALIDATE_KEY)?,
                best_match: route_entry(&mut r)?,
                path: List::read_array(
                    &r.expect(field::IPV6_ENDPOINT_ARRAY)?,
                    MIN_ENDPOINT_ARRAY_ENTRIES,
                    MAX_ENDPOINT_ARRAY_ENTRIES,
                )?,
                proof: proof(&mut r)?,
            }),
        };
        r.finish()?;
        Ok(Self { version: header.version, message_id: header.message_id, message })
    }

    /// Encodes into `buf`, returning the length written.
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize, EncodeError> {
        let mut w = Writer::new(buf);
        let header = Header {
            version: self.version,
            message_type: self.message.message_type(),
            message_id: self.message_id,
        };
        header.encode(&mut w);
        match &self.message {
            Message::Solicit(m) => {
                if let Some(t) = m.solicit_type {
                    w.field(field::SOLICIT_CONTROLS, |w| {
                        w.u8(0);
                        w.u8(t as u8);
                    });
                }
                if let Some(entry) = &m.route_entry {
                    entry.encode(&mut w, field::ROUTE_ENTRY);
                }
                w.field(field::HASHED_NONCE, |w| w.bytes(m.hashed_nonce));
            }
            Message::Advertise(m) => {
                write_acked(&mut w, m.acked_id);
                w.field(field::KEY_ARRAY, |w| m.keys.write_array(w, field::KEY_ARRAY, MAX_KEY_ARRAY_ENTRIES));
                w.field(field::HASHED_NONCE, |w| w.bytes(m.hashed_nonce));
            }
            Message::Request(Request::Plain(body)) => body.write(&mut w),
            Message::Request(Request::Fragment { split, fragment }) => {
                w.field(field::FLAGS, |w| w.u16(0));
                split.encode(&mut w, fragment.len());
                w.bytes(fragment);
            }
            Message::Flood(m) => {
                w.field(field::FLOOD_CONTROLS, |w| {
                    w.u16(u16::from(m.no_ack));
                    w.u8(0);
                });
                w.field(field::VALIDATE_KEY, |w| w.bytes(m.validate_key));
                write_opaque(&mut w, field::KEYTOKEN, m.keytoken);
                write_opaque(&mut w, field::REVOKE_CPA, m.revoke_cpa);
                if let Some(entry) = &m.route_entry {
                    entry.encode(&mut w, field::ROUTE_ENTRY);
                }
                if let Some(list) = &m.flooded {
                    endpoint_array(&mut w, list);
                }
            }
            Message::Inquire(m) => {
                w.field(field::FLAGS, |w| w.u16(m.flags.bits()));
                w.field(field::VALIDATE_KEY, |w| w.bytes(m.validate_key));
                if let Some(nonce) = m.nonce {
                    w.field(field::NONCE, |w| w.bytes(nonce));
                }
                write_proof(&mut w, &m.proof);
            }
            Message::Authority(m) => {
                write_acked(&mut w, m.acked_id);
                m.split.encode(&mut w, m.fragment.len());
                w.bytes(m.fragment);
            }
            Message::Ack(m) => {
                write_acked(&mut w, m.acked_id);
                if m.not_found {
                    w.field(field::FLAGS, |w| w.u16(1));
                }
            }
            Message::Lookup(m) => {
                m.controls.encode(&mut w);
                w.field(field::TARGET_KEY, |w| w.bytes(m.target));
                w.field(field::VALIDATE_KEY, |w| w.bytes(m.validate_key));
                if let Some(entry) = &m.best_match {
                    entry.encode(&mut w, field::ROUTE_ENTRY);
                }
                endpoint_array(&mut w, &m.path);
                write_proof(&mut w, &m.proof);
            }
        }
        w.end_message();
        let len = w.finish()?;
        if len > MAX_DATAGRAM_LEN {
            return Err(EncodeError::InvalidValue { field: field::HEADER });
        }
        Ok(len)
    }
}

fn endpoint_array(w: &mut Writer<'_>, list: &List<'_, Endpoint>) {
    if list.len() < MIN_ENDPOINT_ARRAY_ENTRIES {
        w.reject(field::IPV6_ENDPOINT_ARRAY);
    }
    w.field(field::IPV6_ENDPOINT_ARRAY, |w| {
        list.write_array(w, field::IPV6_ENDPOINT_ARRAY, MAX_ENDPOINT_ARRAY_ENTRIES)
    });
}

impl<'a> RequestBody<'a> {
    fn read(r: &mut FieldReader<'a>) -> Result<Self, DecodeError> {
        Ok(Self {
            nonce: r.expect(field::NONCE)?.fixed()?,
            keys: List::read_array(&r.expect(field::KEY_ARRAY)?, 0, MAX_KEY_ARRAY_ENTRIES)?,
            proof: proof(r)?,
        })
    }

    fn write(&self, w: &mut Writer<'_>) {
        w.field(field::NONCE, |w| w.bytes(self.nonce));
        w.field(field::KEY_ARRAY, |w| self.keys.write_array(w, field::KEY_ARRAY, MAX_KEY_ARRAY_ENTRIES));
        write_proof(w, &self.proof);
    }

    /// Decodes a whole (reassembled) REQUEST body.
    pub fn decode(input: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = FieldReader::new(input);
        let body = Self::read(&mut r)?;
        r.finish()?;
        Ok(body)
    }

    /// Encodes the body alone, to be split into REQUEST fragments.
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize, EncodeError> {
        let mut w = Writer::new(buf);
        self.write(&mut w);
        w.end_message();
        w.finish()
    }
}

impl<'a> AuthorityBuffer<'a> {
    /// Decodes a whole (reassembled) AUTHORITY_BUFFER.
    pub fn decode(input: &'a [u8]) -> Result<Self, DecodeError> {
        if input.len() > super::fragment::MAX_AUTHORITY_BUFFER_LEN {
            return Err(DecodeError::TooLong);
        }
        let mut r = FieldReader::new(input);
        let buffer = Self {
            flags: AuthorityFlags::from_bits(flags_u16(&r.expect(field::FLAGS)?)?),
            credential: opaque(&mut r, field::CREDENTIAL)?,
            keytoken: opaque(&mut r, field::KEYTOKEN)?,
            classifier: r
                .optional(field::CLASSIFIER)?
                .map(|raw| List::read_array(&raw, 0, MAX_CLASSIFIER_UNITS))
                .transpose()?,
            extended_payload: opaque(&mut r, field::EXTENDED_PAYLOAD)?,
            route_entry: route_entry(&mut r)?,
            cpa: opaque(&mut r, field::VALIDATE_CPA)?,
        };
        r.finish()?;
        Ok(buffer)
    }

    /// Encodes the buffer into `buf`, returning its length (at most 37,348 bytes).
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize, EncodeError> {
        let mut w = Writer::new(buf);
        w.field(field::FLAGS, |w| w.u16(self.flags.bits()));
        write_opaque(&mut w, field::CREDENTIAL, self.credential);
        write_opaque(&mut w, field::KEYTOKEN, self.keytoken);
        if let Some(classifier) = &self.classifier {
            w.field(field::CLASSIFIER, |w| {
                classifier.write_array(w, field::CLASSIFIER, MAX_CLASSIFIER_UNITS)
            });
        }
        write_opaque(&mut w, field::EXTENDED_PAYLOAD, self.extended_payload);
        if let Some(entry) = &self.route_entry {
            entry.encode(&mut w, field::ROUTE_ENTRY);
        }
        write_opaque(&mut w, field::VALIDATE_CPA, self.cpa);
        w.end_message();
        let len = w.finish()?;
        if len > super::fragment::MAX_AUTHORITY_BUFFER_LEN {
            return Err(EncodeError::InvalidValue { field: field::SPLIT_CONTROLS });
        }
        Ok(len)
    }
}
