//! Peer Grouping's control codes and request/response encodings (functions 0x820–0x83F).
//!
//! Same conventions as the DRT requests: `METHOD_BUFFERED`, a 4-byte header (ABI version,
//! reserved), little-endian fields, length-checked blobs, canonical encodings, no panics and no
//! allocation. Keys are plain Ed25519 key material until grouping is wired to PeerIdentity*;
//! certificates and records travel in the core's wire forms, opaque to this crate.

use crate::codec::{AbiError, Reader, Writer};
use crate::{
    ABI_VERSION, FILE_DEVICE_NETWORK, FILE_READ_ACCESS, FILE_WRITE_ACCESS, METHOD_BUFFERED, ctl_code,
};

const RW: u32 = FILE_READ_ACCESS | FILE_WRITE_ACCESS;

/// PeerGroupCreate: a new group whose root and first member (an administrator) are given keys.
pub const GROUP_CREATE: u32 = ctl_code(FILE_DEVICE_NETWORK, 0x820, METHOD_BUFFERED, RW);
/// PeerGroupCreateInvitation: the group root signs a membership certificate.
pub const GROUP_CREATE_INVITATION: u32 = ctl_code(FILE_DEVICE_NETWORK, 0x821, METHOD_BUFFERED, RW);
/// PeerGroupJoin: open a group as the holder of an invitation (not ready until synchronised).
pub const GROUP_JOIN: u32 = ctl_code(FILE_DEVICE_NETWORK, 0x822, METHOD_BUFFERED, RW);
/// PeerGroupConnectByAddress: connect to a member at an address.
pub const GROUP_CONNECT: u32 = ctl_code(FILE_DEVICE_NETWORK, 0x823, METHOD_BUFFERED, RW);
/// PeerGroupClose.
pub const GROUP_CLOSE: u32 = ctl_code(FILE_DEVICE_NETWORK, 0x824, METHOD_BUFFERED, RW);
/// PeerGroupAddRecord.
pub const GROUP_ADD_RECORD: u32 = ctl_code(FILE_DEVICE_NETWORK, 0x825, METHOD_BUFFERED, RW);
/// PeerGroupUpdateRecord.
pub const GROUP_UPDATE_RECORD: u32 = ctl_code(FILE_DEVICE_NETWORK, 0x826, METHOD_BUFFERED, RW);
/// PeerGroupDeleteRecord.
pub const GROUP_DELETE_RECORD: u32 = ctl_code(FILE_DEVICE_NETWORK, 0x827, METHOD_BUFFERED, RW);
/// PeerGroupGetRecord.
pub const GROUP_GET_RECORD: u32 = ctl_code(FILE_DEVICE_NETWORK, 0x828, METHOD_BUFFERED, FILE_READ_ACCESS);
/// PeerGroupEnumRecords: one page of record IDs.
pub const GROUP_ENUM_RECORDS: u32 = ctl_code(FILE_DEVICE_NETWORK, 0x829, METHOD_BUFFERED, FILE_READ_ACCESS);
/// PeerGroupGetStatus.
pub const GROUP_GET_STATUS: u32 = ctl_code(FILE_DEVICE_NETWORK, 0x82A, METHOD_BUFFERED, FILE_READ_ACCESS);
/// PeerGroupRegisterEvent's device side: start or stop queueing a group's events
/// ([`GroupEventRecord`]) on the open's WAIT_EVENT queue.
pub const GROUP_WATCH_EVENTS: u32 = ctl_code(FILE_DEVICE_NETWORK, 0x82B, METHOD_BUFFERED, RW);
/// PeerGroupEnumMembers: one page of the members the node knows.
pub const GROUP_ENUM_MEMBERS: u32 = ctl_code(FILE_DEVICE_NETWORK, 0x82C, METHOD_BUFFERED, FILE_READ_ACCESS);
/// PeerGroupCreate with PEER_GROUP_PASSWORD_AUTHENTICATION: the group's root holder grants
/// certificates to joiners that prove the password whose verifier this is.
pub const GROUP_ENABLE_PASSWORD: u32 = ctl_code(FILE_DEVICE_NETWORK, 0x82D, METHOD_BUFFERED, RW);
/// PeerGroupPasswordJoin: open a group as a password joiner (its certificate comes on connect).
pub const GROUP_PASSWORD_JOIN: u32 = ctl_code(FILE_DEVICE_NETWORK, 0x82E, METHOD_BUFFERED, RW);
/// A member's certificate: a password joiner's once granted (PEER_E_GROUP_NOT_READY before,
/// PEER_E_CONNECTION_NOT_AUTHENTICATED once refused).
pub const GROUP_GET_CERTIFICATE: u32 =
    ctl_code(FILE_DEVICE_NETWORK, 0x82F, METHOD_BUFFERED, FILE_READ_ACCESS);
/// PeerGroupDelete: the node forgets a group that no handle has open (peerdrtd removes its
/// durable log), so it cannot be reopened from this node.
pub const GROUP_DELETE: u32 = ctl_code(FILE_DEVICE_NETWORK, 0x830, METHOD_BUFFERED, RW);

/// Every group control code, in function order.
pub const ALL: [u32; 17] = [
    GROUP_CREATE,
    GROUP_CREATE_INVITATION,
    GROUP_JOIN,
    GROUP_CONNECT,
    GROUP_CLOSE,
    GROUP_ADD_RECORD,
    GROUP_UPDATE_RECORD,
    GROUP_DELETE_RECORD,
    GROUP_GET_RECORD,
    GROUP_ENUM_RECORDS,
    GROUP_GET_STATUS,
    GROUP_WATCH_EVENTS,
    GROUP_ENUM_MEMBERS,
    GROUP_ENABLE_PASSWORD,
    GROUP_PASSWORD_JOIN,
    GROUP_GET_CERTIFICATE,
    GROUP_DELETE,
];

/// Length of an encoded membership certificate (the core's `CERTIFICATE_LEN`).
pub const CERTIFICATE_LEN: usize = 145;
/// Largest attribute XML the ABI carries (the engine then applies the core's 4 KiB limit and
/// answers PEER_E_INVALID_ATTRIBUTES past it).
pub const MAX_ATTRIBUTES_LEN: usize = 16 * 1024;
/// Largest record data in a request (the core's `MAX_RECORD_SIZE`; the engine refuses records
/// over it with PEER_E_MAX_RECORD_SIZE_EXCEEDED).
pub const MAX_DATA_LEN: usize = 16 * 1024;
/// Largest encoded record in a GET_RECORD response.
pub const MAX_RECORD_LEN: usize = 17 * 1024;
/// Most record IDs in one ENUM_RECORDS page.
pub const MAX_ENUM_PAGE: usize = 256;
/// Most members in one ENUM_MEMBERS page.
pub const MAX_MEMBER_PAGE: usize = 128;
/// Bytes of one member in an ENUM_MEMBERS page: key, flags, IPv6 address, port.
pub const MEMBER_ENTRY_LEN: usize = 32 + 4 + 16 + 2;
/// [`MemberEntry::flags`]: connected to this node, or this node's own member (PEER_MEMBER_PRESENT).
pub const MEMBER_PRESENT: u32 = 1;
/// [`MemberEntry::flags`]: this node's own member.
pub const MEMBER_LOCAL: u32 = 2;

/// The caller-set fields of PEER_RECORD for add and update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordFields<'a> {
    /// PEER_RECORD.type.
    pub record_type: [u8; 16],
    /// ftExpiration, in peer time.
    pub expiration: u64,
    /// dwFlags (AUTOREFRESH).
    pub flags: u32,
    /// pwzAttributes as UTF-8 (the shim converts from UTF-16).
    pub attributes: &'a [u8],
    /// data.
    pub data: &'a [u8],
}

/// A group request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupRequest<'a> {
    /// Create a group.
    Create {
        /// The group root's secret key.
        root_secret: &'a [u8; 32],
        /// The creator's member secret key.
        member_secret: &'a [u8; 32],
        /// Validity of the creator's certificate, in seconds of peer time from now.
        lifetime_seconds: u32,
    },
    /// Issue an invitation.
    CreateInvitation {
        /// The group (must have been created here: only the root signs).
        group: u64,
        /// The invitee's public key.
        member: &'a [u8; 32],
        /// 1 = member, 2 = administrator.
        role: u8,
        /// Validity in seconds of peer time from now.
        lifetime_seconds: u32,
    },
    /// Join with an invitation.
    Join {
        /// The member's secret key.
        member_secret: &'a [u8; 32],
        /// The invitation (membership certificate).
        certificate: &'a [u8; CERTIFICATE_LEN],
    },
    /// Connect to a member.
    Connect {
        /// The group.
        group: u64,
        /// IPv6 address.
        address: &'a [u8; 16],
        /// UDP port.
        port: u16,
    },
    /// Close a group handle.
    Close {
        /// The group.
        group: u64,
    },
    /// Add a record.
    AddRecord {
        /// The group.
        group: u64,
        /// The record.
        record: RecordFields<'a>,
    },
    /// Update a record.
    UpdateRecord {
        /// The group.
        group: u64,
        /// Its ID.
        id: &'a [u8; 16],
        /// The new fields.
        record: RecordFields<'a>,
    },
    /// Delete a record.
    DeleteRecord {
        /// The group.
        group: u64,
        /// Its ID.
        id: &'a [u8; 16],
    },
    /// Read a record.
    GetRecord {
        /// The group.
        group: u64,
        /// Its ID.
        id: &'a [u8; 16],
    },
    /// List record IDs, in ID order, after `after` (all-zero to start).
    EnumRecords {
        /// The group.
        group: u64,
        /// Only this type, if given.
        record_type: Option<&'a [u8; 16]>,
        /// The last ID of the previous page.
        after: &'a [u8; 16],
    },
    /// Status of a group.
    GetStatus {
        /// The group.
        group: u64,
    },
    /// Start (`enabled`) or stop queueing the group's events for this open's WAIT_EVENT.
    WatchEvents {
        /// The group.
        group: u64,
        /// Whether its events are queued.
        enabled: bool,
    },
    /// List the members the node knows, in key order, after `after` (none to start).
    EnumMembers {
        /// The group.
        group: u64,
        /// The last key of the previous page.
        after: Option<&'a [u8; 32]>,
    },
    /// Let the group's root holder grant certificates to password joiners.
    EnablePassword {
        /// The group (created here: only the root signs).
        group: u64,
        /// The password verifier (public key of the password's key).
        verifier: &'a [u8; 32],
        /// Role of the certificates granted: 1 = member, 2 = administrator.
        role: u8,
        /// Validity of a granted certificate in seconds of peer time from the grant.
        lifetime_seconds: u32,
    },
    /// Join with a password.
    PasswordJoin {
        /// The member's secret key.
        member_secret: &'a [u8; 32],
        /// The group root's public key (from the invitation's security properties).
        group_root: &'a [u8; 32],
        /// The password's key seed (PBKDF2 of the password, derived in user mode).
        password_seed: &'a [u8; 32],
    },
    /// The member's certificate.
    GetCertificate {
        /// The group.
        group: u64,
    },
    /// Forget the group rooted at `root` (no handle may have it open).
    Delete {
        /// The group root's public key.
        root: &'a [u8; 32],
    },
}

impl<'a> GroupRequest<'a> {
    /// The control code of this request.
    pub fn code(&self) -> u32 {
        match self {
            Self::Create { .. } => GROUP_CREATE,
            Self::CreateInvitation { .. } => GROUP_CREATE_INVITATION,
            Self::Join { .. } => GROUP_JOIN,
            Self::Connect { .. } => GROUP_CONNECT,
            Self::Close { .. } => GROUP_CLOSE,
            Self::AddRecord { .. } => GROUP_ADD_RECORD,
            Self::UpdateRecord { .. } => GROUP_UPDATE_RECORD,
            Self::DeleteRecord { .. } => GROUP_DELETE_RECORD,
            Self::GetRecord { .. } => GROUP_GET_RECORD,
            Self::EnumRecords { .. } => GROUP_ENUM_RECORDS,
            Self::GetStatus { .. } => GROUP_GET_STATUS,
            Self::WatchEvents { .. } => GROUP_WATCH_EVENTS,
            Self::EnumMembers { .. } => GROUP_ENUM_MEMBERS,
            Self::EnablePassword { .. } => GROUP_ENABLE_PASSWORD,
            Self::PasswordJoin { .. } => GROUP_PASSWORD_JOIN,
            Self::GetCertificate { .. } => GROUP_GET_CERTIFICATE,
            Self::Delete { .. } => GROUP_DELETE,
        }
    }

    /// Parses the input buffer of group control code `code`.
    pub fn decode(code: u32, input: &'a [u8]) -> Result<Self, AbiError> {
        if !ALL.contains(&code) {
            return Err(AbiError::UnknownCode);
        }
        let mut r = Reader::new(input);
        if r.u16()? != ABI_VERSION {
            return Err(AbiError::VersionMismatch);
        }
        if r.u16()? != 0 {
            return Err(AbiError::BadValue);
        }
        let request = match code {
            GROUP_CREATE => Self::Create {
                root_secret: r.array()?,
                member_secret: r.array()?,
                lifetime_seconds: r.u32()?,
            },
            GROUP_CREATE_INVITATION => Self::CreateInvitation {
                group: r.u64()?,
                member: r.array()?,
                role: match r.u8()? {
                    role @ (1 | 2) => role,
                    _ => return Err(AbiError::BadValue),
                },
                lifetime_seconds: r.u32()?,
            },
            GROUP_JOIN => Self::Join { member_secret: r.array()?, certificate: r.array()? },
            GROUP_CONNECT => Self::Connect { group: r.u64()?, address: r.array()?, port: r.u16()? },
            GROUP_CLOSE => Self::Close { group: r.u64()? },
            GROUP_ADD_RECORD => Self::AddRecord { group: r.u64()?, record: record_fields(&mut r)? },
            GROUP_UPDATE_RECORD => {
                Self::UpdateRecord { group: r.u64()?, id: r.array()?, record: record_fields(&mut r)? }
            }
            GROUP_DELETE_RECORD => Self::DeleteRecord { group: r.u64()?, id: r.array()? },
            GROUP_GET_RECORD => Self::GetRecord { group: r.u64()?, id: r.array()? },
            GROUP_ENUM_RECORDS => Self::EnumRecords {
                group: r.u64()?,
                record_type: if r.flag()? { Some(r.array()?) } else { None },
                after: r.array()?,
            },
            GROUP_WATCH_EVENTS => Self::WatchEvents { group: r.u64()?, enabled: r.flag()? },
            GROUP_ENUM_MEMBERS => {
                Self::EnumMembers { group: r.u64()?, after: if r.flag()? { Some(r.array()?) } else { None } }
            }
            GROUP_ENABLE_PASSWORD => Self::EnablePassword {
                group: r.u64()?,
                verifier: r.array()?,
                role: match r.u8()? {
                    role @ (1 | 2) => role,
                    _ => return Err(AbiError::BadValue),
                },
                lifetime_seconds: r.u32()?,
            },
            GROUP_PASSWORD_JOIN => Self::PasswordJoin {
                member_secret: r.array()?,
                group_root: r.array()?,
                password_seed: r.array()?,
            },
            GROUP_GET_CERTIFICATE => Self::GetCertificate { group: r.u64()? },
            GROUP_DELETE => Self::Delete { root: r.array()? },
            _ => Self::GetStatus { group: r.u64()? },
        };
        r.finish()?;
        Ok(request)
    }

    /// Encodes the input buffer, returning its length.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, AbiError> {
        let mut w = Writer::new(out);
        w.u16(ABI_VERSION);
        w.u16(0);
        match self {
            Self::Create { root_secret, member_secret, lifetime_seconds } => {
                w.bytes(*root_secret);
                w.bytes(*member_secret);
                w.u32(*lifetime_seconds);
            }
            Self::CreateInvitation { group, member, role, lifetime_seconds } => {
                w.u64(*group);
                w.bytes(*member);
                w.u8(*role);
                w.u32(*lifetime_seconds);
            }
            Self::Join { member_secret, certificate } => {
                w.bytes(*member_secret);
                w.bytes(*certificate);
            }
            Self::Connect { group, address, port } => {
                w.u64(*group);
                w.bytes(*address);
                w.u16(*port);
            }
            Self::Close { group } | Self::GetStatus { group } | Self::GetCertificate { group } => {
                w.u64(*group)
            }
            Self::EnablePassword { group, verifier, role, lifetime_seconds } => {
                w.u64(*group);
                w.bytes(*verifier);
                w.u8(*role);
                w.u32(*lifetime_seconds);
            }
            Self::PasswordJoin { member_secret, group_root, password_seed } => {
                w.bytes(*member_secret);
                w.bytes(*group_root);
                w.bytes(*password_seed);
            }
            Self::AddRecord { group, record } => {
                w.u64(*group);
                write_record_fields(&mut w, record)?;
            }
            Self::UpdateRecord { group, id, record } => {
                w.u64(*group);
                w.bytes(*id);
                write_record_fields(&mut w, record)?;
            }
            Self::DeleteRecord { group, id } | Self::GetRecord { group, id } => {
                w.u64(*group);
                w.bytes(*id);
            }
            Self::Delete { root } => w.bytes(*root),
            Self::EnumRecords { group, record_type, after } => {
                w.u64(*group);
                w.flag(record_type.is_some());
                if let Some(t) = record_type {
                    w.bytes(*t);
                }
                w.bytes(*after);
            }
            Self::WatchEvents { group, enabled } => {
                w.u64(*group);
                w.flag(*enabled);
            }
            Self::EnumMembers { group, after } => {
                w.u64(*group);
                w.flag(after.is_some());
                if let Some(key) = after {
                    w.bytes(*key);
                }
            }
        }
        w.finish()
    }
}

/// The completion status (a customer NTSTATUS, like the DRT's 0xE062xxxx) carrying a
/// FACILITY_P2P HRESULT (0x8063xxxx); generic HRESULTs map to their NTSTATUS.
/// [`crate::status::to_hresult`] maps it back.
pub const fn status_of_hresult(hr: u32) -> u32 {
    match hr {
        hresult::E_INVALIDARG => crate::status::INVALID_PARAMETER,
        hresult::E_OUTOFMEMORY => crate::status::INSUFFICIENT_RESOURCES,
        hr => 0xE063_0000 | (hr & 0xFFFF),
    }
}

/// Most bytes of data plus attributes in one record (peerdrt-core's `MAX_RECORD_SIZE`).
pub const MAX_RECORD_PAYLOAD: usize = 16 * 1024;

/// The largest GROUP_UPDATE_RECORD input: UTC, version, group, ID, type, expiration, flags, the
/// two length prefixes and the payload.
pub const MAX_RECORD_CALL_LEN: usize = CALL_HEADER_LEN + 4 + 8 + 16 + 16 + 8 + 4 + 2 + 2 + MAX_RECORD_PAYLOAD;
const _: () =
    assert!(MAX_RECORD_CALL_LEN <= crate::frame::MAX_INPUT_LEN, "a full record fits a device frame");

/// Bytes of the caller's UTC in front of every group request.
pub const CALL_HEADER_LEN: usize = 8;

/// Length of a GROUP_GET_STATUS reply: status, ready, connections, records, peer-time offset.
pub const STATUS_REPLY_LEN: usize = 4 + 1 + 4 + 4 + 8;

/// Output space each group code needs, checked before any state changes (so a request that
/// changed state never fails for want of room to answer).
pub const fn output_needed(code: u32) -> usize {
    match code {
        GROUP_CREATE | GROUP_JOIN | GROUP_PASSWORD_JOIN => 8 + CERTIFICATE_LEN + 2,
        GROUP_CREATE_INVITATION | GROUP_GET_CERTIFICATE => CERTIFICATE_LEN,
        GROUP_ADD_RECORD => 16,
        _ => 0,
    }
}

/// Splits a group input buffer: the caller's UTC (FILETIME, little-endian) then the request.
pub fn decode_call(code: u32, input: &[u8]) -> Result<(u64, GroupRequest<'_>), AbiError> {
    let header = input.get(..CALL_HEADER_LEN).ok_or(AbiError::Truncated)?;
    let mut utc = [0u8; CALL_HEADER_LEN];
    utc.copy_from_slice(header);
    Ok((u64::from_le_bytes(utc), GroupRequest::decode(code, &input[CALL_HEADER_LEN..])?))
}

/// Encodes a group input buffer ([`decode_call`]'s inverse), returning its length.
pub fn encode_call(utc: u64, request: &GroupRequest<'_>, out: &mut [u8]) -> Result<usize, AbiError> {
    if out.len() < CALL_HEADER_LEN {
        return Err(AbiError::BufferTooSmall { needed: CALL_HEADER_LEN });
    }
    out[..CALL_HEADER_LEN].copy_from_slice(&utc.to_le_bytes());
    Ok(CALL_HEADER_LEN + request.encode(&mut out[CALL_HEADER_LEN..])?)
}

fn record_fields<'a>(r: &mut Reader<'a>) -> Result<RecordFields<'a>, AbiError> {
    Ok(RecordFields {
        record_type: *r.array()?,
        expiration: r.u64()?,
        flags: r.u32()?,
        attributes: r.blob(MAX_ATTRIBUTES_LEN)?,
        data: r.blob(MAX_DATA_LEN)?,
    })
}

fn write_record_fields(w: &mut Writer<'_>, f: &RecordFields<'_>) -> Result<(), AbiError> {
    if f.attributes.len() > MAX_ATTRIBUTES_LEN || f.data.len() > MAX_DATA_LEN {
        return Err(AbiError::BadValue);
    }
    w.bytes(&f.record_type);
    w.u64(f.expiration);
    w.u32(f.flags);
    w.blob(f.attributes);
    w.blob(f.data);
    Ok(())
}

/// PEER_GROUP_STATUS and the engine's view of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupStatus {
    /// PEER_GROUP_STATUS flags: LISTENING 1, HAS_CONNECTIONS 2.
    pub status: u32,
    /// Whether the database is synchronised (else PEER_E_GROUP_NOT_READY).
    pub ready: bool,
    /// Connected members.
    pub connections: u32,
    /// Live records.
    pub records: u32,
    /// Peer time minus the caller's UTC, in 100-ns units: the offset the member agreed with the
    /// group when it connected (PeerGroupUniversalTimeToPeerTime adds it).
    pub peer_time_offset: i64,
}

/// A group response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupResponse<'a> {
    /// CREATE / JOIN: the new handle, and the member's certificate.
    Opened {
        /// The group handle.
        group: u64,
        /// The member's certificate.
        certificate: &'a [u8; CERTIFICATE_LEN],
        /// The UDP port of the device's group socket (what other members connect to).
        port: u16,
    },
    /// CREATE_INVITATION: the certificate.
    Invitation(&'a [u8; CERTIFICATE_LEN]),
    /// ADD_RECORD: the new record's ID.
    RecordId(&'a [u8; 16]),
    /// GET_RECORD: the record in the core's wire form.
    Record(&'a [u8]),
    /// ENUM_RECORDS: a page of IDs (fewer than [`MAX_ENUM_PAGE`] means the last page).
    RecordIds(&'a [u8]),
    /// GET_STATUS.
    Status(GroupStatus),
    /// ENUM_MEMBERS: a page of [`MEMBER_ENTRY_LEN`]-byte entries (fewer than
    /// [`MAX_MEMBER_PAGE`] means the last page); read them with [`GroupResponse::members`].
    Members(&'a [u8]),
    /// CONNECT / CLOSE / UPDATE / DELETE / WATCH_EVENTS: nothing.
    Done,
}

/// One member of an ENUM_MEMBERS page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberEntry {
    /// Its member key.
    pub key: [u8; 32],
    /// [`MEMBER_PRESENT`], [`MEMBER_LOCAL`].
    pub flags: u32,
    /// The group socket it is connected from (IPv6 or IPv4-mapped); all zero when not connected
    /// (this node's own member: the unspecified address and the group socket's port).
    pub address: [u8; 16],
    /// Its UDP port (0 when not connected).
    pub port: u16,
}

impl MemberEntry {
    /// Appends the entry's encoding to `out` (exactly [`MEMBER_ENTRY_LEN`] bytes).
    pub fn encode_into(&self, out: &mut [u8; MEMBER_ENTRY_LEN]) {
        out[..32].copy_from_slice(&self.key);
        out[32..36].copy_from_slice(&self.flags.to_le_bytes());
        out[36..52].copy_from_slice(&self.address);
        out[52..54].copy_from_slice(&self.port.to_le_bytes());
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, AbiError> {
        let entry = Self { key: *r.array()?, flags: r.u32()?, address: *r.array()?, port: r.u16()? };
        if entry.flags & !(MEMBER_PRESENT | MEMBER_LOCAL) != 0 {
            return Err(AbiError::BadValue);
        }
        Ok(entry)
    }
}

impl<'a> GroupResponse<'a> {
    /// Encodes the output buffer for control code `code`, returning its length.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, AbiError> {
        let mut w = Writer::new(out);
        match self {
            Self::Opened { group, certificate, port } => {
                w.u64(*group);
                w.bytes(*certificate);
                w.u16(*port);
            }
            Self::Invitation(certificate) => w.bytes(*certificate),
            Self::RecordId(id) => w.bytes(*id),
            Self::Record(record) => {
                if record.len() > MAX_RECORD_LEN {
                    return Err(AbiError::BadValue);
                }
                w.blob(record);
            }
            Self::RecordIds(ids) => {
                if !ids.len().is_multiple_of(16) || ids.len() / 16 > MAX_ENUM_PAGE {
                    return Err(AbiError::BadValue);
                }
                w.u16((ids.len() / 16) as u16);
                w.bytes(ids);
            }
            Self::Status(s) => {
                w.u32(s.status);
                w.flag(s.ready);
                w.u32(s.connections);
                w.u32(s.records);
                w.u64(s.peer_time_offset as u64);
            }
            Self::Members(entries) => {
                if !entries.len().is_multiple_of(MEMBER_ENTRY_LEN)
                    || entries.len() / MEMBER_ENTRY_LEN > MAX_MEMBER_PAGE
                {
                    return Err(AbiError::BadValue);
                }
                let mut check = Reader::new(entries);
                while check.remaining() > 0 {
                    MemberEntry::read(&mut check)?;
                }
                w.u16((entries.len() / MEMBER_ENTRY_LEN) as u16);
                w.bytes(entries);
            }
            Self::Done => {}
        }
        w.finish()
    }

    /// Parses the output buffer of control code `code`.
    pub fn decode(code: u32, output: &'a [u8]) -> Result<Self, AbiError> {
        let mut r = Reader::new(output);
        let response = match code {
            GROUP_CREATE | GROUP_JOIN | GROUP_PASSWORD_JOIN => {
                Self::Opened { group: r.u64()?, certificate: r.array()?, port: r.u16()? }
            }
            GROUP_CREATE_INVITATION | GROUP_GET_CERTIFICATE => Self::Invitation(r.array()?),
            GROUP_ADD_RECORD => Self::RecordId(r.array()?),
            GROUP_GET_RECORD => Self::Record(r.blob(MAX_RECORD_LEN)?),
            GROUP_ENUM_RECORDS => {
                let count = usize::from(r.u16()?);
                if count > MAX_ENUM_PAGE {
                    return Err(AbiError::BadValue);
                }
                Self::RecordIds(r.bytes(count * 16)?)
            }
            GROUP_GET_STATUS => Self::Status(GroupStatus {
                status: r.u32()?,
                ready: r.flag()?,
                connections: r.u32()?,
                records: r.u32()?,
                peer_time_offset: r.u64()? as i64,
            }),
            GROUP_ENUM_MEMBERS => {
                let count = usize::from(r.u16()?);
                if count > MAX_MEMBER_PAGE {
                    return Err(AbiError::BadValue);
                }
                let entries = r.bytes(count * MEMBER_ENTRY_LEN)?;
                let mut check = Reader::new(entries);
                for _ in 0..count {
                    MemberEntry::read(&mut check)?;
                }
                Self::Members(entries)
            }
            GROUP_CONNECT
            | GROUP_CLOSE
            | GROUP_UPDATE_RECORD
            | GROUP_DELETE_RECORD
            | GROUP_WATCH_EVENTS
            | GROUP_ENABLE_PASSWORD
            | GROUP_DELETE => Self::Done,
            _ => return Err(AbiError::UnknownCode),
        };
        r.finish()?;
        Ok(response)
    }

    /// The entries of a [`GroupResponse::Members`] page (empty for any other response).
    pub fn members(&self) -> impl Iterator<Item = MemberEntry> + 'a {
        let entries: &'a [u8] = match self {
            Self::Members(entries) => entries,
            _ => &[],
        };
        entries.chunks_exact(MEMBER_ENTRY_LEN).filter_map(|c| MemberEntry::read(&mut Reader::new(c)).ok())
    }
}

/// Entries of an open's event queue that group events may fill; the last is kept for the
/// [`GroupEventRecord::EventsDropped`] count (the device keeps the oldest events).
pub const EVENT_QUEUE_DEPTH: usize = 1024;

/// Largest encoded [`GroupEventRecord`].
pub const MAX_GROUP_EVENT_LEN: usize = 1 + 8 + 4 + 32;
const _: () = assert!(MAX_GROUP_EVENT_LEN <= crate::MAX_EVENT_LEN, "a group event fits a WAIT_EVENT reply");

/// A group event delivered by WAIT_EVENT to an open that watches the group
/// ([`GROUP_WATCH_EVENTS`]). Its first byte (0x41–0x46) is distinct from every DRT
/// [`crate::EventRecord`] kind; like those, the group's handle follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupEventRecord<'a> {
    /// PEER_GROUP_EVENT_RECORD_CHANGED.
    RecordChanged {
        /// The group.
        group: u64,
        /// PEER_RECORD_CHANGE_TYPE: ADDED 1, UPDATED 2, DELETED 3, EXPIRED 4.
        change: u32,
        /// The record's ID.
        id: &'a [u8; 16],
        /// Its type.
        record_type: &'a [u8; 16],
    },
    /// PEER_GROUP_EVENT_MEMBER_CHANGED.
    MemberChanged {
        /// The group.
        group: u64,
        /// PEER_MEMBER_CHANGE_TYPE: CONNECTED 1, DISCONNECTED 2, UPDATED 3, JOINED 4, LEFT 5.
        change: u32,
        /// The member's key.
        member: &'a [u8; 32],
    },
    /// PEER_GROUP_EVENT_STATUS_CHANGED.
    StatusChanged {
        /// The group.
        group: u64,
        /// PEER_GROUP_STATUS flags.
        status: u32,
    },
    /// PEER_GROUP_EVENT_CONNECTION_FAILED.
    ConnectionFailed {
        /// The group.
        group: u64,
        /// hrConnectionFailedReason.
        hresult: u32,
    },
    /// PEER_GROUP_EVENT_AUTHENTICATION_FAILED: a password proof failed, this node's at another
    /// member or another's at this one.
    AuthenticationFailed {
        /// The group.
        group: u64,
        /// Why (PEER_E_CONNECTION_NOT_AUTHENTICATED).
        hresult: u32,
    },
    /// The open's queue was full: `count` group events after the one before this record were
    /// dropped (the queue keeps its oldest events; this record takes its last place).
    EventsDropped {
        /// Always 0: the queue is the open's, not one group's.
        group: u64,
        /// Events dropped.
        count: u32,
    },
}

impl<'a> GroupEventRecord<'a> {
    const RECORD_CHANGED: u8 = 0x41;
    const MEMBER_CHANGED: u8 = 0x42;
    const STATUS_CHANGED: u8 = 0x43;
    const CONNECTION_FAILED: u8 = 0x44;
    const EVENTS_DROPPED: u8 = 0x45;
    const AUTHENTICATION_FAILED: u8 = 0x46;

    /// Whether a WAIT_EVENT reply is a group event (by its first byte).
    pub fn is_group_event(bytes: &[u8]) -> bool {
        matches!(bytes.first(), Some(0x41..=0x46))
    }

    /// Encodes the record, returning its length.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, AbiError> {
        let mut w = Writer::new(out);
        match self {
            Self::RecordChanged { group, change, id, record_type } => {
                w.u8(Self::RECORD_CHANGED);
                w.u64(*group);
                w.u32(*change);
                w.bytes(*id);
                w.bytes(*record_type);
            }
            Self::MemberChanged { group, change, member } => {
                w.u8(Self::MEMBER_CHANGED);
                w.u64(*group);
                w.u32(*change);
                w.bytes(*member);
            }
            Self::StatusChanged { group, status } => {
                w.u8(Self::STATUS_CHANGED);
                w.u64(*group);
                w.u32(*status);
            }
            Self::ConnectionFailed { group, hresult } => {
                w.u8(Self::CONNECTION_FAILED);
                w.u64(*group);
                w.u32(*hresult);
            }
            Self::AuthenticationFailed { group, hresult } => {
                w.u8(Self::AUTHENTICATION_FAILED);
                w.u64(*group);
                w.u32(*hresult);
            }
            Self::EventsDropped { group, count } => {
                w.u8(Self::EVENTS_DROPPED);
                w.u64(*group);
                w.u32(*count);
            }
        }
        w.finish()
    }

    /// Decodes a record.
    pub fn decode(input: &'a [u8]) -> Result<Self, AbiError> {
        let mut r = Reader::new(input);
        let kind = r.u8()?;
        let group = r.u64()?;
        let record = match kind {
            Self::RECORD_CHANGED => {
                Self::RecordChanged { group, change: r.u32()?, id: r.array()?, record_type: r.array()? }
            }
            Self::MEMBER_CHANGED => Self::MemberChanged { group, change: r.u32()?, member: r.array()? },
            Self::STATUS_CHANGED => Self::StatusChanged { group, status: r.u32()? },
            Self::CONNECTION_FAILED => Self::ConnectionFailed { group, hresult: r.u32()? },
            Self::EVENTS_DROPPED => Self::EventsDropped { group, count: r.u32()? },
            Self::AUTHENTICATION_FAILED => Self::AuthenticationFailed { group, hresult: r.u32()? },
            _ => return Err(AbiError::BadValue),
        };
        r.finish()?;
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ioctl::function;

    #[test]
    fn group_codes_are_buffered_network_codes_from_0x820() {
        for (i, code) in ALL.iter().enumerate() {
            assert_eq!(code >> 16, FILE_DEVICE_NETWORK);
            assert_eq!(function(*code), 0x820 + i as u32);
        }
        assert!(function(ALL[ALL.len() - 1]) <= 0x83F, "inside the range reserved for grouping");
    }

    fn roundtrip(request: GroupRequest<'_>) {
        let mut buf = [0u8; 40 * 1024];
        let len = request.encode(&mut buf).unwrap();
        assert_eq!(GroupRequest::decode(request.code(), &buf[..len]), Ok(request));
        for cut in 0..len {
            assert!(GroupRequest::decode(request.code(), &buf[..cut]).is_err());
        }
        assert_eq!(
            GroupRequest::decode(request.code(), &[&buf[..len], &[0][..]].concat()),
            Err(AbiError::TrailingBytes)
        );
    }

    #[test]
    fn every_request_survives_encode_and_decode() {
        let key = [7u8; 32];
        let cert = [9u8; CERTIFICATE_LEN];
        let id = [3u8; 16];
        let fields = RecordFields {
            record_type: [1; 16],
            expiration: 133_000_000_000_000_000,
            flags: 1,
            attributes: b"<attributes></attributes>",
            data: b"hello",
        };
        roundtrip(GroupRequest::Create { root_secret: &key, member_secret: &key, lifetime_seconds: 86_400 });
        roundtrip(GroupRequest::CreateInvitation { group: 5, member: &key, role: 2, lifetime_seconds: 60 });
        roundtrip(GroupRequest::Join { member_secret: &key, certificate: &cert });
        roundtrip(GroupRequest::Connect { group: 5, address: &[0xfe; 16], port: 3587 });
        roundtrip(GroupRequest::Close { group: 5 });
        roundtrip(GroupRequest::AddRecord { group: 5, record: fields });
        roundtrip(GroupRequest::UpdateRecord { group: 5, id: &id, record: fields });
        roundtrip(GroupRequest::DeleteRecord { group: 5, id: &id });
        roundtrip(GroupRequest::Delete { root: &[0x3c; 32] });
        roundtrip(GroupRequest::GetRecord { group: 5, id: &id });
        roundtrip(GroupRequest::EnumRecords { group: 5, record_type: Some(&id), after: &[0; 16] });
        roundtrip(GroupRequest::EnumRecords { group: 5, record_type: None, after: &id });
        roundtrip(GroupRequest::GetStatus { group: 5 });
        roundtrip(GroupRequest::WatchEvents { group: 5, enabled: true });
        roundtrip(GroupRequest::WatchEvents { group: 5, enabled: false });
        roundtrip(GroupRequest::EnumMembers { group: 5, after: None });
        roundtrip(GroupRequest::EnumMembers { group: 5, after: Some(&key) });
        roundtrip(GroupRequest::EnablePassword { group: 5, verifier: &key, role: 1, lifetime_seconds: 60 });
        roundtrip(GroupRequest::PasswordJoin { member_secret: &key, group_root: &key, password_seed: &key });
        roundtrip(GroupRequest::GetCertificate { group: 5 });
    }

    #[test]
    fn every_group_event_survives_encode_and_decode_and_is_told_from_drt_events() {
        let events = [
            GroupEventRecord::RecordChanged { group: 9, change: 1, id: &[1; 16], record_type: &[2; 16] },
            GroupEventRecord::MemberChanged { group: 9, change: 2, member: &[3; 32] },
            GroupEventRecord::StatusChanged { group: 9, status: 3 },
            GroupEventRecord::ConnectionFailed { group: 9, hresult: hresult::PEER_E_CONNECTION_FAILED },
            GroupEventRecord::EventsDropped { group: 0, count: 77 },
            GroupEventRecord::AuthenticationFailed {
                group: 9,
                hresult: hresult::PEER_E_CONNECTION_NOT_AUTHENTICATED,
            },
        ];
        for event in events {
            let mut buf = [0u8; MAX_GROUP_EVENT_LEN];
            let len = event.encode(&mut buf).unwrap();
            assert_eq!(GroupEventRecord::decode(&buf[..len]), Ok(event));
            assert!(GroupEventRecord::is_group_event(&buf[..len]));
            assert!(crate::EventRecord::decode(&buf[..len]).is_err(), "not mistaken for a DRT event");
            for cut in 0..len {
                assert!(GroupEventRecord::decode(&buf[..cut]).is_err());
            }
        }
        let drt = crate::EventRecord::SearchEnded { instance: 1, search: 2, hresult: 3 };
        let mut buf = [0u8; 64];
        let len = drt.encode(&mut buf).unwrap();
        assert!(!GroupEventRecord::is_group_event(&buf[..len]));
        assert_eq!(GroupEventRecord::decode(&buf[..len]), Err(AbiError::BadValue));
    }

    #[test]
    fn member_pages_are_bounded_at_their_edge_and_carry_only_known_flags() {
        let entry = |n: u8| MemberEntry { key: [n; 32], flags: MEMBER_PRESENT, address: [n; 16], port: 3000 };
        let mut page = [0u8; (MAX_MEMBER_PAGE + 1) * MEMBER_ENTRY_LEN];
        for (n, chunk) in page.chunks_exact_mut(MEMBER_ENTRY_LEN).enumerate() {
            entry(n as u8).encode_into(chunk.try_into().unwrap());
        }
        let mut buf = [0u8; 2 + (MAX_MEMBER_PAGE + 1) * MEMBER_ENTRY_LEN];
        let full = &page[..MAX_MEMBER_PAGE * MEMBER_ENTRY_LEN];
        let len = GroupResponse::Members(full).encode(&mut buf).unwrap();
        let decoded = GroupResponse::decode(GROUP_ENUM_MEMBERS, &buf[..len]).unwrap();
        assert_eq!(decoded, GroupResponse::Members(full));
        assert_eq!(decoded.members().count(), MAX_MEMBER_PAGE);
        assert_eq!(decoded.members().nth(3), Some(entry(3)));
        assert_eq!(
            GroupResponse::Members(&page).encode(&mut buf),
            Err(AbiError::BadValue),
            "one past the page"
        );
        buf[..2].copy_from_slice(&((MAX_MEMBER_PAGE + 1) as u16).to_le_bytes());
        buf[2..].copy_from_slice(&page);
        assert_eq!(GroupResponse::decode(GROUP_ENUM_MEMBERS, &buf), Err(AbiError::BadValue));

        let mut odd = [0u8; MEMBER_ENTRY_LEN];
        MemberEntry { flags: 4, ..entry(1) }.encode_into(&mut odd);
        assert_eq!(GroupResponse::Members(&odd).encode(&mut buf), Err(AbiError::BadValue));
        let mut framed = [0u8; 2 + MEMBER_ENTRY_LEN];
        framed[0] = 1;
        framed[2..].copy_from_slice(&odd);
        assert_eq!(GroupResponse::decode(GROUP_ENUM_MEMBERS, &framed), Err(AbiError::BadValue));
    }

    #[test]
    fn blobs_and_pages_are_bounded_at_their_edges() {
        let data = [0u8; MAX_DATA_LEN + 1];
        let mut fields = RecordFields {
            record_type: [1; 16],
            expiration: 1,
            flags: 0,
            attributes: b"",
            data: &data[..MAX_DATA_LEN],
        };
        let mut buf = [0u8; 40 * 1024];
        let len = GroupRequest::AddRecord { group: 1, record: fields }.encode(&mut buf).unwrap();
        assert!(GroupRequest::decode(GROUP_ADD_RECORD, &buf[..len]).is_ok());
        fields.data = &data;
        assert_eq!(
            GroupRequest::AddRecord { group: 1, record: fields }.encode(&mut buf),
            Err(AbiError::BadValue)
        );

        let ids = [0u8; (MAX_ENUM_PAGE + 1) * 16];
        let len = GroupResponse::RecordIds(&ids[..MAX_ENUM_PAGE * 16]).encode(&mut buf).unwrap();
        assert!(GroupResponse::decode(GROUP_ENUM_RECORDS, &buf[..len]).is_ok());
        assert_eq!(GroupResponse::RecordIds(&ids).encode(&mut buf), Err(AbiError::BadValue));
        buf[..2].copy_from_slice(&((MAX_ENUM_PAGE + 1) as u16).to_le_bytes());
        assert_eq!(GroupResponse::decode(GROUP_ENUM_RECORDS, &buf[..2 + ids.len()]), Err(AbiError::BadValue));
    }

    #[test]
    fn a_record_reply_holds_max_record_len_and_is_refused_one_past_it() {
        let record = [0x5Au8; MAX_RECORD_LEN + 1];
        let mut buf = [0u8; MAX_RECORD_LEN + 8];
        let len = GroupResponse::Record(&record[..MAX_RECORD_LEN]).encode(&mut buf).unwrap();
        assert_eq!(len, 2 + MAX_RECORD_LEN);
        assert_eq!(
            GroupResponse::decode(GROUP_GET_RECORD, &buf[..len]),
            Ok(GroupResponse::Record(&record[..MAX_RECORD_LEN]))
        );
        assert_eq!(GroupResponse::Record(&record).encode(&mut buf), Err(AbiError::BadValue));
        // A reply claiming one byte more is refused by the shim's decoder.
        buf[..2].copy_from_slice(&(MAX_RECORD_LEN as u16 + 1).to_le_bytes());
        buf[2 + MAX_RECORD_LEN] = 0x5A;
        assert_eq!(GroupResponse::decode(GROUP_GET_RECORD, &buf[..len + 1]), Err(AbiError::BadValue));
    }

    #[test]
    fn every_response_survives_encode_and_decode() {
        let cert = [9u8; CERTIFICATE_LEN];
        let id = [3u8; 16];
        let cases = [
            (GROUP_CREATE, GroupResponse::Opened { group: 8, certificate: &cert, port: 3600 }),
            (GROUP_CREATE_INVITATION, GroupResponse::Invitation(&cert)),
            (GROUP_ADD_RECORD, GroupResponse::RecordId(&id)),
            (GROUP_GET_RECORD, GroupResponse::Record(b"opaque record bytes")),
            (GROUP_ENUM_RECORDS, GroupResponse::RecordIds(&[5; 32])),
            (
                GROUP_GET_STATUS,
                GroupResponse::Status(GroupStatus {
                    status: 3,
                    ready: true,
                    connections: 4,
                    records: 200,
                    peer_time_offset: -900_000_000,
                }),
            ),
            (GROUP_DELETE_RECORD, GroupResponse::Done),
            (GROUP_WATCH_EVENTS, GroupResponse::Done),
            (GROUP_ENUM_MEMBERS, GroupResponse::Members(&[])),
            (GROUP_PASSWORD_JOIN, GroupResponse::Opened { group: 9, certificate: &cert, port: 3601 }),
            (GROUP_GET_CERTIFICATE, GroupResponse::Invitation(&cert)),
            (GROUP_ENABLE_PASSWORD, GroupResponse::Done),
        ];
        for (code, response) in cases {
            let mut buf = [0u8; 1024];
            let len = response.encode(&mut buf).unwrap();
            assert_eq!(GroupResponse::decode(code, &buf[..len]), Ok(response));
        }
    }
    #[test]
    fn a_group_call_carries_the_callers_utc_before_the_request() {
        let request = GroupRequest::GetStatus { group: 42 };
        let call = crate::Request::Group { utc: 0x0123_4567_89AB_CDEF, request };
        let mut buf = [0u8; 64];
        let n = call.encode(&mut buf).unwrap();
        assert_eq!(&buf[..8], &0x0123_4567_89AB_CDEFu64.to_le_bytes());
        assert_eq!(crate::Request::decode(GROUP_GET_STATUS, &buf[..n]), Ok(call));
        assert_eq!(call.code(), GROUP_GET_STATUS);
        assert_eq!(decode_call(GROUP_GET_STATUS, &buf[..7]), Err(AbiError::Truncated), "a cut-off UTC");
    }

    #[test]
    fn p2p_hresults_survive_the_completion_status() {
        for hr in
            [hresult::PEER_E_INVALID_GROUP, hresult::PEER_E_GROUP_NOT_READY, hresult::PEER_E_NOT_AUTHORIZED]
        {
            assert_eq!(crate::status::to_hresult(status_of_hresult(hr)), hr);
        }
        assert_eq!(
            crate::status::to_hresult(status_of_hresult(hresult::E_INVALIDARG)),
            hresult::E_INVALIDARG
        );
    }
}

/// The FACILITY_P2P (0x63) HRESULTs grouping returns, bit-exact from p2p.h (reference §3.4).
pub mod hresult {
    /// PEER_S_NO_EVENT_DATA.
    pub const PEER_S_NO_EVENT_DATA: u32 = 0x0063_0002;
    /// PEER_S_ALREADY_CONNECTED.
    pub const PEER_S_ALREADY_CONNECTED: u32 = 0x0063_2000;
    /// PEER_E_NOT_INITIALIZED.
    pub const PEER_E_NOT_INITIALIZED: u32 = 0x8063_0002;
    /// PEER_E_RECORD_NOT_FOUND.
    pub const PEER_E_RECORD_NOT_FOUND: u32 = 0x8063_0301;
    /// PEER_E_MAX_RECORD_SIZE_EXCEEDED.
    pub const PEER_E_MAX_RECORD_SIZE_EXCEEDED: u32 = 0x8063_0304;
    /// PEER_E_INVALID_ATTRIBUTES.
    pub const PEER_E_INVALID_ATTRIBUTES: u32 = 0x8063_0602;
    /// PEER_E_INVALID_SEARCH.
    pub const PEER_E_INVALID_SEARCH: u32 = 0x8063_0601;
    /// PEER_E_GROUP_IN_USE.
    pub const PEER_E_GROUP_IN_USE: u32 = 0x8063_2092;
    /// PEER_E_INVALID_TIME_PERIOD.
    pub const PEER_E_INVALID_TIME_PERIOD: u32 = 0x8063_0705;
    /// PEER_E_INVALID_RECORD.
    pub const PEER_E_INVALID_RECORD: u32 = 0x8063_2010;
    /// PEER_E_NOT_AUTHORIZED.
    pub const PEER_E_NOT_AUTHORIZED: u32 = 0x8063_2020;
    /// PEER_E_INVALID_RECORD_EXPIRATION.
    pub const PEER_E_INVALID_RECORD_EXPIRATION: u32 = 0x8063_2080;
    /// PEER_E_CONNECTION_NOT_AUTHENTICATED: a password join was refused.
    pub const PEER_E_CONNECTION_NOT_AUTHENTICATED: u32 = 0x8063_010A;
    /// PEER_E_PASSWORD_DOES_NOT_MEET_POLICY.
    pub const PEER_E_PASSWORD_DOES_NOT_MEET_POLICY: u32 = 0x8063_2021;
    /// PEER_E_INVITATION_NOT_TRUSTED.
    pub const PEER_E_INVITATION_NOT_TRUSTED: u32 = 0x8063_0701;
    /// PEER_E_INVALID_CREDENTIAL.
    pub const PEER_E_INVALID_CREDENTIAL: u32 = 0x8063_2082;
    /// PEER_E_GROUP_NOT_READY.
    pub const PEER_E_GROUP_NOT_READY: u32 = 0x8063_2091;
    /// PEER_E_INVALID_GROUP.
    pub const PEER_E_INVALID_GROUP: u32 = 0x8063_2093;
    /// PEER_E_NO_MEMBER_CONNECTIONS.
    pub const PEER_E_NO_MEMBER_CONNECTIONS: u32 = 0x8063_2095;
    /// PEER_E_CONNECTION_FAILED.
    pub const PEER_E_CONNECTION_FAILED: u32 = 0x8063_0109;
    /// E_INVALIDARG.
    pub const E_INVALIDARG: u32 = 0x8007_0057;
    /// E_OUTOFMEMORY.
    pub const E_OUTOFMEMORY: u32 = 0x8007_000E;
}
