//! Requests, responses and event records of the device.

use crate::codec::{AbiError, Reader, Writer};
use crate::pnrp::{self, CloudRecords, check_cloud_name};
use crate::{ABI_VERSION, group, ioctl};

/// A handle the device hands out (instance, registration or search). Opaque to the caller;
/// it names the open that created it, so another open's raw value never resolves.
pub type Handle = u64;
/// A DRT key on the wire of this ABI (most significant byte first).
pub type KeyBytes = [u8; KEY_LEN];

/// DRT key size.
pub const KEY_LEN: usize = 32;
/// Largest application data (`DRT_MAX_PAYLOAD_SIZE`).
pub const MAX_APP_DATA: usize = 5120;
/// Most bootstrap seeds in an open request.
pub const MAX_SEEDS: usize = 16;
/// Most entries a search path reply carries.
pub const MAX_PATH_ENTRIES: usize = 64;
/// Size of an encoded endpoint.
pub const ENDPOINT_LEN: usize = 18;
/// Size of an encoded path entry.
pub const PATH_ENTRY_LEN: usize = ENDPOINT_LEN + 12;
/// Ed25519 secret key size.
pub const SECRET_LEN: usize = 32;
/// Certificate size (public key ‖ root signature).
pub const CERTIFICATE_LEN: usize = 96;
/// Largest encoded event record: a search result with the largest application data.
pub const MAX_EVENT_LEN: usize = 1 + 8 + 8 + 4 + KEY_LEN + ENDPOINT_LEN + 2 + MAX_APP_DATA;
/// Largest search path reply.
pub const MAX_PATH_REPLY_LEN: usize = 2 + MAX_PATH_ENTRIES * PATH_ENTRY_LEN;

/// A UDP endpoint: IPv6 address (IPv4 as mapped) and port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EndpointRecord {
    /// Address octets.
    pub addr: [u8; 16],
    /// Port.
    pub port: u16,
}

impl EndpointRecord {
    fn read(r: &mut Reader<'_>) -> Result<Self, AbiError> {
        Ok(Self { addr: *r.array()?, port: r.u16()? })
    }
    fn write(&self, w: &mut Writer<'_>) {
        w.bytes(&self.addr);
        w.u16(self.port);
    }
}

/// Endpoints as they stand in a buffer (a whole number of 18-byte records).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoints<'a>(&'a [u8]);

impl<'a> Endpoints<'a> {
    /// Wraps encoded records.
    pub fn from_encoded(bytes: &'a [u8]) -> Option<Self> {
        bytes.len().is_multiple_of(ENDPOINT_LEN).then_some(Self(bytes))
    }
    /// Number of endpoints.
    pub fn len(&self) -> usize {
        self.0.len() / ENDPOINT_LEN
    }
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// The endpoints.
    pub fn iter(&self) -> impl Iterator<Item = EndpointRecord> + 'a {
        self.0.chunks_exact(ENDPOINT_LEN).filter_map(|c| EndpointRecord::read(&mut Reader::new(c)).ok())
    }
}

/// Which security provider an instance uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityKind {
    /// DrtCreateNullSecurityProvider.
    Null = 0,
    /// DrtCreateDerivedKeySecurityProvider.
    DerivedKey = 1,
}

/// An Ed25519 identity handed to the driver (DRT derived-key provider).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdentityRecord<'a> {
    /// The secret key.
    pub secret: &'a [u8; SECRET_LEN],
    /// Its certificate.
    pub certificate: &'a [u8; CERTIFICATE_LEN],
}

impl<'a> IdentityRecord<'a> {
    fn read_opt(r: &mut Reader<'a>) -> Result<Option<Self>, AbiError> {
        if !r.flag()? {
            return Ok(None);
        }
        Ok(Some(Self { secret: r.array()?, certificate: r.array()? }))
    }
    fn write_opt(this: &Option<Self>, w: &mut Writer<'_>) {
        w.flag(this.is_some());
        if let Some(id) = this {
            w.bytes(id.secret);
            w.bytes(id.certificate);
        }
    }
}

/// DrtOpen's settings, as far as the driver needs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenInstance<'a> {
    /// bProtocolMajorVersion.
    pub version_major: u8,
    /// bProtocolMinorVersion.
    pub version_minor: u8,
    /// UDP port of the transport (0: the driver picks one).
    pub port: u16,
    /// DRT_SCOPE of the transport.
    pub scope: u32,
    /// Scope id of the transport.
    pub scope_id: u32,
    /// ulMaxRoutingAddresses (1..=20).
    pub max_addresses: u32,
    /// DRT_SECURITY_MODE.
    pub security_mode: u32,
    /// The security provider.
    pub security: SecurityKind,
    /// Root public key (derived-key provider).
    pub root: Option<&'a [u8; 32]>,
    /// This node's identity (derived-key provider; needed in MEMBERSHIP mode).
    pub identity: Option<IdentityRecord<'a>>,
    /// Bootstrap seeds the shim resolved.
    pub seeds: Endpoints<'a>,
}

/// DRT_SEARCH_INFO plus the target and timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartSearch<'a> {
    /// The instance.
    pub instance: Handle,
    /// Target key.
    pub key: &'a KeyBytes,
    /// fIterative.
    pub iterative: bool,
    /// fAllowCurrentInstanceMatch.
    pub allow_current_instance_match: bool,
    /// fAnyMatchInRange.
    pub any_match_in_range: bool,
    /// cMaxEndpoints.
    pub max_endpoints: u32,
    /// pMinimumKey / pMaximumKey.
    pub range: Option<(&'a KeyBytes, &'a KeyBytes)>,
    /// Timeout in milliseconds.
    pub timeout_ms: u32,
}

/// A request to the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request<'a> {
    /// [`ioctl::OPEN_INSTANCE`].
    OpenInstance(OpenInstance<'a>),
    /// [`ioctl::CLOSE_INSTANCE`].
    CloseInstance {
        /// The instance.
        instance: Handle,
    },
    /// [`ioctl::REGISTER_KEY`].
    RegisterKey {
        /// The instance.
        instance: Handle,
        /// The key.
        key: &'a KeyBytes,
        /// Application data (1..=5120 bytes).
        app_data: &'a [u8],
        /// The registration's identity (derived-key provider).
        credential: Option<IdentityRecord<'a>>,
    },
    /// [`ioctl::UPDATE_KEY`].
    UpdateKey {
        /// The registration.
        registration: Handle,
        /// New application data.
        app_data: &'a [u8],
    },
    /// [`ioctl::UNREGISTER_KEY`].
    UnregisterKey {
        /// The registration.
        registration: Handle,
    },
    /// [`ioctl::START_SEARCH`].
    StartSearch(StartSearch<'a>),
    /// [`ioctl::CONTINUE_SEARCH`].
    ContinueSearch {
        /// The search.
        search: Handle,
    },
    /// [`ioctl::END_SEARCH`].
    EndSearch {
        /// The search.
        search: Handle,
    },
    /// [`ioctl::GET_SEARCH_PATH`].
    GetSearchPath {
        /// The search.
        search: Handle,
    },
    /// [`ioctl::WAIT_EVENT`].
    WaitEvent,
    /// [`ioctl::QUERY_INSTANCE`].
    QueryInstance {
        /// The instance.
        instance: Handle,
    },
    /// [`pnrp::ATTACH_CLOUD`].
    AttachCloud {
        /// The cloud's name.
        name: &'a str,
    },
    /// [`pnrp::DETACH_CLOUD`].
    DetachCloud {
        /// The attachment.
        attachment: Handle,
    },
    /// [`pnrp::ENUM_CLOUDS`].
    EnumClouds,
    /// One of the GROUP_* codes ([`group::ALL`]): the caller's UTC (a FILETIME, which the device
    /// anchors its peer clock to) and the group request.
    Group {
        /// The caller's UTC as a FILETIME.
        utc: u64,
        /// The request.
        request: group::GroupRequest<'a>,
    },
}

impl<'a> Request<'a> {
    /// The control code of this request.
    pub fn code(&self) -> u32 {
        match self {
            Self::OpenInstance(_) => ioctl::OPEN_INSTANCE,
            Self::CloseInstance { .. } => ioctl::CLOSE_INSTANCE,
            Self::RegisterKey { .. } => ioctl::REGISTER_KEY,
            Self::UpdateKey { .. } => ioctl::UPDATE_KEY,
            Self::UnregisterKey { .. } => ioctl::UNREGISTER_KEY,
            Self::StartSearch(_) => ioctl::START_SEARCH,
            Self::ContinueSearch { .. } => ioctl::CONTINUE_SEARCH,
            Self::EndSearch { .. } => ioctl::END_SEARCH,
            Self::GetSearchPath { .. } => ioctl::GET_SEARCH_PATH,
            Self::WaitEvent => ioctl::WAIT_EVENT,
            Self::QueryInstance { .. } => ioctl::QUERY_INSTANCE,
            Self::AttachCloud { .. } => pnrp::ATTACH_CLOUD,
            Self::DetachCloud { .. } => pnrp::DETACH_CLOUD,
            Self::EnumClouds => pnrp::ENUM_CLOUDS,
            Self::Group { request, .. } => request.code(),
        }
    }

    /// Parses the input buffer of control code `code`.
    pub fn decode(code: u32, input: &'a [u8]) -> Result<Self, AbiError> {
        if group::ALL.contains(&code) {
            let (utc, request) = group::decode_call(code, input)?;
            return Ok(Self::Group { utc, request });
        }
        if !ioctl::ALL.contains(&code) && !pnrp::ALL.contains(&code) {
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
            ioctl::OPEN_INSTANCE => {
                let version_major = r.u8()?;
                let version_minor = r.u8()?;
                let port = r.u16()?;
                let scope = r.u32()?;
                let scope_id = r.u32()?;
                let max_addresses = r.u32()?;
                let security_mode = r.u32()?;
                let security = match r.u8()? {
                    0 => SecurityKind::Null,
                    1 => SecurityKind::DerivedKey,
                    _ => return Err(AbiError::BadValue),
                };
                let root = if r.flag()? { Some(r.array()?) } else { None };
                let identity = IdentityRecord::read_opt(&mut r)?;
                let count = usize::from(r.u16()?);
                if count > MAX_SEEDS {
                    return Err(AbiError::BadValue);
                }
                let seeds = Endpoints(r.bytes(count * ENDPOINT_LEN)?);
                Self::OpenInstance(OpenInstance {
                    version_major,
                    version_minor,
                    port,
                    scope,
                    scope_id,
                    max_addresses,
                    security_mode,
                    security,
                    root,
                    identity,
                    seeds,
                })
            }
            ioctl::CLOSE_INSTANCE => Self::CloseInstance { instance: r.u64()? },
            ioctl::REGISTER_KEY => Self::RegisterKey {
                instance: r.u64()?,
                key: r.array()?,
                app_data: r.blob(MAX_APP_DATA)?,
                credential: IdentityRecord::read_opt(&mut r)?,
            },
            ioctl::UPDATE_KEY => Self::UpdateKey { registration: r.u64()?, app_data: r.blob(MAX_APP_DATA)? },
            ioctl::UNREGISTER_KEY => Self::UnregisterKey { registration: r.u64()? },
            ioctl::START_SEARCH => {
                let instance = r.u64()?;
                let key = r.array()?;
                let flags = r.u8()?;
                if flags & !0x0F != 0 {
                    return Err(AbiError::BadValue);
                }
                let max_endpoints = r.u32()?;
                let range = if flags & 0x08 != 0 { Some((r.array()?, r.array()?)) } else { None };
                let timeout_ms = r.u32()?;
                Self::StartSearch(StartSearch {
                    instance,
                    key,
                    iterative: flags & 0x01 != 0,
                    allow_current_instance_match: flags & 0x02 != 0,
                    any_match_in_range: flags & 0x04 != 0,
                    max_endpoints,
                    range,
                    timeout_ms,
                })
            }
            ioctl::CONTINUE_SEARCH => Self::ContinueSearch { search: r.u64()? },
            ioctl::END_SEARCH => Self::EndSearch { search: r.u64()? },
            ioctl::GET_SEARCH_PATH => Self::GetSearchPath { search: r.u64()? },
            ioctl::WAIT_EVENT => Self::WaitEvent,
            ioctl::QUERY_INSTANCE => Self::QueryInstance { instance: r.u64()? },
            pnrp::ATTACH_CLOUD => {
                let len = usize::from(r.u16()?);
                if len == 0 || len > pnrp::MAX_CLOUD_NAME_LEN {
                    return Err(AbiError::BadValue);
                }
                Self::AttachCloud {
                    name: core::str::from_utf8(r.bytes(len)?).map_err(|_| AbiError::BadValue)?,
                }
            }
            pnrp::DETACH_CLOUD => Self::DetachCloud { attachment: r.u64()? },
            pnrp::ENUM_CLOUDS => Self::EnumClouds,
            _ => return Err(AbiError::UnknownCode),
        };
        r.finish()?;
        Ok(request)
    }

    /// Encodes the input buffer, returning its length.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, AbiError> {
        if let Self::Group { utc, request } = self {
            return group::encode_call(*utc, request, out);
        }
        let mut w = Writer::new(out);
        w.u16(ABI_VERSION);
        w.u16(0);
        match self {
            Self::OpenInstance(o) => {
                w.u8(o.version_major);
                w.u8(o.version_minor);
                w.u16(o.port);
                w.u32(o.scope);
                w.u32(o.scope_id);
                w.u32(o.max_addresses);
                w.u32(o.security_mode);
                w.u8(o.security as u8);
                w.flag(o.root.is_some());
                if let Some(root) = o.root {
                    w.bytes(root);
                }
                IdentityRecord::write_opt(&o.identity, &mut w);
                if o.seeds.len() > MAX_SEEDS {
                    return Err(AbiError::BadValue);
                }
                w.u16(o.seeds.len() as u16);
                w.bytes(o.seeds.0);
            }
            Self::CloseInstance { instance } | Self::QueryInstance { instance } => w.u64(*instance),
            Self::RegisterKey { instance, key, app_data, credential } => {
                if app_data.len() > MAX_APP_DATA {
                    return Err(AbiError::BadValue);
                }
                w.u64(*instance);
                w.bytes(*key);
                w.blob(app_data);
                IdentityRecord::write_opt(credential, &mut w);
            }
            Self::UpdateKey { registration, app_data } => {
                if app_data.len() > MAX_APP_DATA {
                    return Err(AbiError::BadValue);
                }
                w.u64(*registration);
                w.blob(app_data);
            }
            Self::UnregisterKey { registration } => w.u64(*registration),
            Self::StartSearch(s) => {
                w.u64(s.instance);
                w.bytes(s.key);
                let flags = u8::from(s.iterative)
                    | u8::from(s.allow_current_instance_match) << 1
                    | u8::from(s.any_match_in_range) << 2
                    | u8::from(s.range.is_some()) << 3;
                w.u8(flags);
                w.u32(s.max_endpoints);
                if let Some((min, max)) = s.range {
                    w.bytes(min);
                    w.bytes(max);
                }
                w.u32(s.timeout_ms);
            }
            Self::ContinueSearch { search } | Self::EndSearch { search } | Self::GetSearchPath { search } => {
                w.u64(*search)
            }
            Self::WaitEvent | Self::EnumClouds => {}
            Self::AttachCloud { name } => {
                check_cloud_name(name)?;
                w.u16(name.len() as u16);
                w.bytes(name.as_bytes());
            }
            Self::DetachCloud { attachment } => w.u64(*attachment),
            // Encoded above.
            Self::Group { .. } => {}
        }
        w.finish()
    }
}

/// Encodes endpoints for [`OpenInstance::seeds`] into `out`, returning the used prefix.
pub fn encode_endpoints<'o>(
    endpoints: &[EndpointRecord],
    out: &'o mut [u8],
) -> Result<Endpoints<'o>, AbiError> {
    let len = endpoints.len() * ENDPOINT_LEN;
    let mut w = Writer::new(out);
    endpoints.iter().for_each(|e| e.write(&mut w));
    w.finish()?;
    Ok(Endpoints(&out[..len]))
}

/// DRT_STATUS values.
pub mod drt_status {
    /// DRT_ACTIVE.
    pub const ACTIVE: u32 = 0;
    /// DRT_ALONE.
    pub const ALONE: u32 = 1;
    /// DRT_NO_NETWORK.
    pub const NO_NETWORK: u32 = 10;
    /// DRT_FAULTED.
    pub const FAULTED: u32 = 20;
}

/// The reply of a successful request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Response<'a> {
    /// Nothing beyond success.
    Empty,
    /// A new instance, with the port its transport bound.
    Instance {
        /// The instance handle.
        instance: Handle,
        /// The UDP port.
        port: u16,
    },
    /// A new registration.
    Registration {
        /// The registration handle.
        registration: Handle,
    },
    /// A new search.
    Search {
        /// The search handle.
        search: Handle,
    },
    /// The search path (encoded [`PathRecord`]s).
    Path(PathRecords<'a>),
    /// Instance status and counters.
    InstanceInfo(InstanceInfo),
    /// The next event.
    Event(EventRecord<'a>),
    /// The clouds ([`pnrp::ENUM_CLOUDS`]).
    Clouds(CloudRecords<'a>),
}

/// Status and counters of an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InstanceInfo {
    /// DRT_STATUS.
    pub status: u32,
    /// The transport's port.
    pub port: u16,
    /// Route cache entries.
    pub cache_entries: u32,
    /// Keys registered.
    pub registrations: u32,
    /// Datagrams sent.
    pub sent: u64,
    /// Datagrams received.
    pub received: u64,
}

/// One entry of a search path (DRT_ADDRESS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathRecord {
    /// The node.
    pub endpoint: EndpointRecord,
    /// DRT_ADDRESS_FLAGS.
    pub flags: u32,
    /// Prefix bits shared with the target.
    pub nearness: u32,
    /// Round-trip time in milliseconds.
    pub latency_ms: u32,
}

/// Encoded path records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathRecords<'a>(&'a [u8]);

impl<'a> PathRecords<'a> {
    /// Encodes `records` into `out`.
    pub fn encode_into(records: &[PathRecord], out: &'a mut [u8]) -> Result<Self, AbiError> {
        if records.len() > MAX_PATH_ENTRIES {
            return Err(AbiError::BadValue);
        }
        let len = records.len() * PATH_ENTRY_LEN;
        let mut w = Writer::new(out);
        for p in records {
            p.endpoint.write(&mut w);
            w.u32(p.flags);
            w.u32(p.nearness);
            w.u32(p.latency_ms);
        }
        w.finish()?;
        Ok(Self(&out[..len]))
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.0.len() / PATH_ENTRY_LEN
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The records.
    pub fn iter(&self) -> impl Iterator<Item = PathRecord> + 'a {
        self.0.chunks_exact(PATH_ENTRY_LEN).filter_map(|c| {
            let mut r = Reader::new(c);
            Some(PathRecord {
                endpoint: EndpointRecord::read(&mut r).ok()?,
                flags: r.u32().ok()?,
                nearness: r.u32().ok()?,
                latency_ms: r.u32().ok()?,
            })
        })
    }
}

/// An event delivered by [`ioctl::WAIT_EVENT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventRecord<'a> {
    /// DRT_EVENT_STATUS_CHANGED.
    StatusChanged {
        /// The instance.
        instance: Handle,
        /// DRT_STATUS.
        status: u32,
        /// Bootstrap addresses (on ALONE).
        bootstrap: Endpoints<'a>,
    },
    /// DRT_EVENT_LEAFSET_KEY_CHANGED.
    LeafSetKeyChanged {
        /// The instance.
        instance: Handle,
        /// DRT_LEAFSET_KEY_CHANGE_TYPE.
        change: u32,
        /// The local key.
        local_key: &'a KeyBytes,
        /// The remote key.
        remote_key: &'a KeyBytes,
    },
    /// DRT_EVENT_REGISTRATION_STATE_CHANGED.
    RegistrationStateChanged {
        /// The instance.
        instance: Handle,
        /// The registration.
        registration: Handle,
        /// DRT_REGISTRATION_STATE.
        state: u32,
        /// Its key.
        key: &'a KeyBytes,
    },
    /// A search result.
    SearchResult {
        /// The instance.
        instance: Handle,
        /// The search.
        search: Handle,
        /// DRT_MATCH_TYPE.
        match_type: u32,
        /// The key.
        key: &'a KeyBytes,
        /// The publisher.
        endpoint: EndpointRecord,
        /// Its application data.
        app_data: &'a [u8],
    },
    /// A search ended; `hresult` is DRT_E_NO_MORE, DRT_E_TIMEOUT or DRT_E_FAULTED.
    SearchEnded {
        /// The instance.
        instance: Handle,
        /// The search.
        search: Handle,
        /// How it ended.
        hresult: u32,
    },
}

impl<'a> EventRecord<'a> {
    /// Encodes the record.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, AbiError> {
        let mut w = Writer::new(out);
        match self {
            Self::StatusChanged { instance, status, bootstrap } => {
                w.u8(1);
                w.u64(*instance);
                w.u32(*status);
                w.u16(bootstrap.len() as u16);
                w.bytes(bootstrap.0);
            }
            Self::LeafSetKeyChanged { instance, change, local_key, remote_key } => {
                w.u8(2);
                w.u64(*instance);
                w.u32(*change);
                w.bytes(*local_key);
                w.bytes(*remote_key);
            }
            Self::RegistrationStateChanged { instance, registration, state, key } => {
                w.u8(3);
                w.u64(*instance);
                w.u64(*registration);
                w.u32(*state);
                w.bytes(*key);
            }
            Self::SearchResult { instance, search, match_type, key, endpoint, app_data } => {
                if app_data.len() > MAX_APP_DATA {
                    return Err(AbiError::BadValue);
                }
                w.u8(4);
                w.u64(*instance);
                w.u64(*search);
                w.u32(*match_type);
                w.bytes(*key);
                endpoint.write(&mut w);
                w.blob(app_data);
            }
            Self::SearchEnded { instance, search, hresult } => {
                w.u8(5);
                w.u64(*instance);
                w.u64(*search);
                w.u32(*hresult);
            }
        }
        w.finish()
    }

    /// Decodes a record.
    pub fn decode(input: &'a [u8]) -> Result<Self, AbiError> {
        let mut r = Reader::new(input);
        let kind = r.u8()?;
        let instance = r.u64()?;
        let record = match kind {
            1 => {
                let status = r.u32()?;
                let count = usize::from(r.u16()?);
                if count > MAX_SEEDS {
                    return Err(AbiError::BadValue);
                }
                Self::StatusChanged { instance, status, bootstrap: Endpoints(r.bytes(count * ENDPOINT_LEN)?) }
            }
            2 => Self::LeafSetKeyChanged {
                instance,
                change: r.u32()?,
                local_key: r.array()?,
                remote_key: r.array()?,
            },
            3 => Self::RegistrationStateChanged {
                instance,
                registration: r.u64()?,
                state: r.u32()?,
                key: r.array()?,
            },
            4 => Self::SearchResult {
                instance,
                search: r.u64()?,
                match_type: r.u32()?,
                key: r.array()?,
                endpoint: EndpointRecord::read(&mut r)?,
                app_data: r.blob(MAX_APP_DATA)?,
            },
            5 => Self::SearchEnded { instance, search: r.u64()?, hresult: r.u32()? },
            _ => return Err(AbiError::BadValue),
        };
        r.finish()?;
        Ok(record)
    }
}

impl<'a> Response<'a> {
    /// Encodes the output buffer of a successful request.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, AbiError> {
        match self {
            Self::Event(e) => return e.encode(out),
            Self::Path(p) => {
                let mut w = Writer::new(out);
                w.u16(p.len() as u16);
                w.bytes(p.0);
                return w.finish();
            }
            Self::Clouds(c) => {
                let mut w = Writer::new(out);
                c.write(&mut w);
                return w.finish();
            }
            _ => {}
        }
        let mut w = Writer::new(out);
        match self {
            Self::Empty | Self::Event(_) | Self::Path(_) | Self::Clouds(_) => {}
            Self::Instance { instance, port } => {
                w.u64(*instance);
                w.u16(*port);
            }
            Self::Registration { registration } => w.u64(*registration),
            Self::Search { search } => w.u64(*search),
            Self::InstanceInfo(i) => {
                w.u32(i.status);
                w.u16(i.port);
                w.u32(i.cache_entries);
                w.u32(i.registrations);
                w.u64(i.sent);
                w.u64(i.received);
            }
        }
        w.finish()
    }

    /// Decodes the output buffer of a successful request with control code `code`.
    pub fn decode(code: u32, output: &'a [u8]) -> Result<Self, AbiError> {
        if code == ioctl::WAIT_EVENT {
            return EventRecord::decode(output).map(Self::Event);
        }
        let mut r = Reader::new(output);
        let response = match code {
            ioctl::OPEN_INSTANCE | pnrp::ATTACH_CLOUD => {
                Self::Instance { instance: r.u64()?, port: r.u16()? }
            }
            pnrp::ENUM_CLOUDS => Self::Clouds(CloudRecords::read(&mut r)?),
            ioctl::REGISTER_KEY => Self::Registration { registration: r.u64()? },
            ioctl::START_SEARCH => Self::Search { search: r.u64()? },
            ioctl::GET_SEARCH_PATH => {
                let count = usize::from(r.u16()?);
                if count > MAX_PATH_ENTRIES {
                    return Err(AbiError::BadValue);
                }
                Self::Path(PathRecords(r.bytes(count * PATH_ENTRY_LEN)?))
            }
            ioctl::QUERY_INSTANCE => Self::InstanceInfo(InstanceInfo {
                status: r.u32()?,
                port: r.u16()?,
                cache_entries: r.u32()?,
                registrations: r.u32()?,
                sent: r.u64()?,
                received: r.u64()?,
            }),
            c if ioctl::ALL.contains(&c) || c == pnrp::DETACH_CLOUD => Self::Empty,
            _ => return Err(AbiError::UnknownCode),
        };
        r.finish()?;
        Ok(response)
    }
}
