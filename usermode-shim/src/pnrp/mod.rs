//! PNRP for applications: peer names, identities and `PeerPnrp*` over the device's PNRP clouds.
//!
//! A PNRP cloud is a DRT instance the node runs itself (`peerdrtd --pnrp-port`, or `[pnrp]` in
//! its configuration): `Global_`, and one `LinkLocal_<interface>` per configured interface. A
//! [`Pnrp`] session attaches to the clouds it uses (one device open per cloud). A registration
//! is a DRT key — the name's PNRP ID, P2P ID ‖ service location — whose payload is a record
//! the session signs ([`peerdrt_core::pnrp::record`]); a resolve is a DRT range search over
//! every service location of the name's P2P ID. Before an endpoint is returned its record is
//! checked: bound to its key and name, a secured name's authority is the hash of the signing
//! key, the signature holds, it is within its validity window, and no newer record of the
//! same PNRP ID has been seen. So forged, altered and replayed records are never returned.
//!
//! The device never returns a session's own registrations to that session's resolves (its
//! searches exclude keys registered through the same open): through the C API, whose session
//! is the process's, a process never resolves its own names. Registrations end when the
//! session unregisters them, shuts down, or its process exits (the device closes its opens).

pub mod hostname;
pub mod hresult;
pub mod identity;

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ed25519_dalek::SigningKey;
use peerdrt_abi::pnrp::ENUM_CLOUDS;
use peerdrt_abi::{Request, Response};
use peerdrt_core::pnrp::record::{
    MAX_ADDRESSES, MAX_COMMENT_UNITS, MAX_PAYLOAD, MAX_RECORD_LIFETIME_SECS, RecordAddress,
};
use peerdrt_core::pnrp::{
    GLOBAL_CLOUD, LINK_LOCAL_PREFIX, PeerName, PnrpId, Record, RecordContent, p2p_id, service_location,
};

use crate::client::{Instance, call};
use crate::device::Device;
use crate::drt::SearchInfo;
use crate::event::{EventObject, Fire, Signal, lock};
use crate::hresult::{DRT_E_SEARCH_IN_PROGRESS, E_INVALIDARG, E_UNEXPECTED, Error, Result};
use crate::key::Key;
pub use hresult::*;
pub use identity::{Identity, IdentityStore};

/// `PNRP_VERSION`, MAKEWORD(2, 0).
pub const PNRP_VERSION: u16 = 0x0002;
/// `PEER_PNRP_ALL_LINK_CLOUDS`: every link-local cloud.
pub const PEER_PNRP_ALL_LINK_CLOUDS: &str = "PEER_PNRP_ALL_LINKS";
/// `PEER_PNRP_AUTO_ADDRESSES`: the registration's addresses are this host's.
pub const PEER_PNRP_AUTO_ADDRESSES: u32 = u32::MAX;
/// Endpoints a resolve asks for when the caller does not say (the SDK sample's 5).
pub const DEFAULT_MAX_ENDPOINTS: u32 = 5;
/// Most endpoints one resolve returns (a DRT search's result limit).
pub const MAX_ENDPOINTS: u32 = 64;
/// PeerPnrpResolve's internal timeout.
pub const RESOLVE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a record a session signs stays valid: PNRP's CPA lifetime.
pub const RECORD_LIFETIME_SECS: u64 = MAX_RECORD_LIFETIME_SECS;
/// Newest sequences remembered per session (replays of older records are refused).
pub const MAX_REMEMBERED_SEQUENCES: usize = 4096;
/// Endpoints a resolve asks the DRT for beyond those wanted, so that records refused after
/// verification (forgeries, older duplicates) do not crowd out valid ones.
pub const RESOLVE_HEADROOM: u32 = 8;

/// A cloud (PEER_PNRP_CLOUD_INFO).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudInfo {
    /// Its name.
    pub name: String,
    /// PNRP_SCOPE.
    pub scope: u32,
    /// Interface index of a link-local cloud.
    pub scope_id: u32,
    /// DRT_STATUS of the node's instance.
    pub status: u32,
    /// The node's UDP port in it.
    pub port: u16,
}

/// Which addresses a registration carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Addresses {
    /// These (≤ [`MAX_ADDRESSES`]).
    List(Vec<SocketAddr>),
    /// PEER_PNRP_AUTO_ADDRESSES: this host's addresses with this port.
    Auto(u16),
}

/// PEER_PNRP_REGISTRATION_INFO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationInfo {
    /// A cloud, [`PEER_PNRP_ALL_LINK_CLOUDS`], or `None` for every cloud.
    pub cloud: Option<String>,
    /// The identity publishing a secured name (`None`: the one in the store holding its key).
    pub identity: Option<String>,
    /// The addresses.
    pub addresses: Addresses,
    /// ≤ 39 characters.
    pub comment: String,
    /// ≤ 4096 bytes.
    pub payload: Vec<u8>,
}

impl Default for RegistrationInfo {
    /// PeerPnrpRegister with NULL info: every cloud, automatic addresses.
    fn default() -> Self {
        Self {
            cloud: None,
            identity: None,
            addresses: Addresses::Auto(0),
            comment: String::new(),
            payload: Vec::new(),
        }
    }
}

/// PEER_PNRP_ENDPOINT_INFO, verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The peer name.
    pub name: String,
    /// Its addresses.
    pub addresses: Vec<SocketAddr>,
    /// Its comment.
    pub comment: String,
    /// Its payload.
    pub payload: Vec<u8>,
    /// The cloud it was found in.
    pub cloud: String,
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn unix_micros() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64)
}

fn parse_name(name: &str) -> Result<PeerName> {
    PeerName::parse(name).map_err(identity::name_error)
}

fn record_address(a: &SocketAddr) -> RecordAddress {
    let (addr, scope_id) = match a {
        SocketAddr::V4(v4) => (v4.ip().to_ipv6_mapped(), 0),
        SocketAddr::V6(v6) => (*v6.ip(), v6.scope_id()),
    };
    RecordAddress { addr: addr.octets(), port: a.port(), scope_id }
}

fn socket_address(a: &RecordAddress) -> SocketAddr {
    let ip = Ipv6Addr::from(a.addr);
    match ip.to_ipv4_mapped() {
        Some(v4) => SocketAddr::new(IpAddr::V4(v4), a.port),
        None => SocketAddr::V6(SocketAddrV6::new(ip, a.port, 0, a.scope_id)),
    }
}

/// This host's unicast addresses (loopback only when there is nothing else).
#[cfg(unix)]
pub fn host_addresses(port: u16) -> Vec<SocketAddr> {
    let mut out = Vec::new();
    let mut loopback = Vec::new();
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list`, freed below.
    if unsafe { libc::getifaddrs(&mut list) } == 0 {
        let mut p = list;
        while !p.is_null() {
            // SAFETY: a node of the list getifaddrs returned.
            let ifa = unsafe { &*p };
            p = ifa.ifa_next;
            if ifa.ifa_addr.is_null() {
                continue;
            }
            // SAFETY: non-NULL sockaddr of the family it states.
            let family = i32::from(unsafe { (*ifa.ifa_addr).sa_family });
            let addr = match family {
                libc::AF_INET => {
                    // SAFETY: AF_INET: a sockaddr_in.
                    let sin = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
                    SocketAddr::new(IpAddr::V4(u32::from_be(sin.sin_addr.s_addr).into()), port)
                }
                libc::AF_INET6 => {
                    // SAFETY: AF_INET6: a sockaddr_in6.
                    let sin6 = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in6) };
                    SocketAddr::V6(SocketAddrV6::new(
                        sin6.sin6_addr.s6_addr.into(),
                        port,
                        0,
                        sin6.sin6_scope_id,
                    ))
                }
                _ => continue,
            };
            let bucket = if addr.ip().is_loopback() { &mut loopback } else { &mut out };
            if !bucket.contains(&addr) {
                bucket.push(addr);
            }
        }
        // SAFETY: the list getifaddrs returned.
        unsafe { libc::freeifaddrs(list) };
    }
    if out.is_empty() {
        out = loopback;
    }
    out.truncate(MAX_ADDRESSES);
    out
}

/// This host's addresses: loopback only (no interface enumeration off Unix).
#[cfg(not(unix))]
pub fn host_addresses(port: u16) -> Vec<SocketAddr> {
    vec![SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), port)]
}

/// Checks a registration's limits: E_INVALIDARG past any of them, or with neither addresses
/// nor a payload.
fn check_info(info: &RegistrationInfo) -> Result<()> {
    if let Addresses::List(list) = &info.addresses
        && (list.len() > MAX_ADDRESSES || (list.is_empty() && info.payload.is_empty()))
    {
        return Err(Error(E_INVALIDARG));
    }
    if info.comment.encode_utf16().count() > MAX_COMMENT_UNITS || info.payload.len() > MAX_PAYLOAD {
        return Err(Error(E_INVALIDARG));
    }
    Ok(())
}

#[derive(Debug)]
struct Session {
    device: Option<PathBuf>,
    store: Option<IdentityStore>,
    /// Signs unsecured names (which anyone may publish; PNRP still signs them).
    ephemeral: SigningKey,
    attachments: Mutex<HashMap<String, Arc<Instance>>>,
    newest: Mutex<NewestSequences>,
}

/// A PNRP session: PeerPnrpStartup … PeerPnrpShutdown.
#[derive(Debug, Clone)]
pub struct Pnrp(Arc<Session>);

impl Pnrp {
    /// PeerPnrpStartup against the device at `device` (default: the shim's device path),
    /// with the identity store `identities` (default: [`IdentityStore::open_default`], opened
    /// when a secured name is first registered).
    pub fn startup(device: Option<PathBuf>, identities: Option<IdentityStore>) -> Result<Pnrp> {
        let d = Self::connect(&device)?;
        d.close();
        let mut secret = [0u8; 32];
        getrandom::getrandom(&mut secret).map_err(|_| Error(E_UNEXPECTED))?;
        Ok(Pnrp(Arc::new(Session {
            device,
            store: identities,
            ephemeral: SigningKey::from_bytes(&secret),
            attachments: Mutex::new(HashMap::new()),
            newest: Mutex::new(NewestSequences::default()),
        })))
    }

    fn connect(device: &Option<PathBuf>) -> Result<Device> {
        match device {
            Some(p) => Device::connect(p),
            None => Device::open_default(),
        }
        .map_err(|_| Error(PEER_E_SERVICE_NOT_AVAILABLE))
    }

    /// PeerPnrpShutdown: every attachment detaches, which ends the session's registrations.
    pub fn shutdown(&self) {
        let all: Vec<Arc<Instance>> = lock(&self.0.attachments).drain().map(|(_, a)| a).collect();
        for a in all {
            a.close();
        }
    }

    /// PeerPnrpGetCloudInfo.
    pub fn clouds(&self) -> Result<Vec<CloudInfo>> {
        let d = Self::connect(&self.0.device)?;
        let out = call(&d, &Request::EnumClouds, peerdrt_abi::pnrp::MAX_CLOUDS_REPLY_LEN);
        d.close();
        match Response::decode(ENUM_CLOUDS, &out?).map_err(|_| Error(E_UNEXPECTED))? {
            Response::Clouds(list) => Ok(list
                .iter()
                .map(|c| CloudInfo {
                    name: c.name.into(),
                    scope: c.scope,
                    scope_id: c.scope_id,
                    status: c.status,
                    port: c.port,
                })
                .collect()),
            _ => Err(Error(E_UNEXPECTED)),
        }
    }

    /// The clouds a cloud argument names: `None` every cloud, [`PEER_PNRP_ALL_LINK_CLOUDS`]
    /// every link-local one, else that cloud (`GLOBAL_` in any case is `Global_`).
    pub fn target_clouds(&self, cloud: Option<&str>) -> Result<Vec<String>> {
        let all = self.clouds()?;
        let names: Vec<String> = match cloud {
            None => all.into_iter().map(|c| c.name).collect(),
            Some(PEER_PNRP_ALL_LINK_CLOUDS) => {
                all.into_iter().filter(|c| c.name.starts_with(LINK_LOCAL_PREFIX)).map(|c| c.name).collect()
            }
            Some(n) if n.eq_ignore_ascii_case(GLOBAL_CLOUD) => {
                all.into_iter().filter(|c| c.name == GLOBAL_CLOUD).map(|c| c.name).collect()
            }
            Some(n) => all.into_iter().filter(|c| c.name == n).map(|c| c.name).collect(),
        };
        if names.is_empty() {
            return Err(Error(PEER_E_CLOUD_NOT_FOUND));
        }
        Ok(names)
    }

    fn attachment(&self, cloud: &str) -> Result<Arc<Instance>> {
        let mut a = lock(&self.0.attachments);
        if let Some(i) = a.get(cloud) {
            return Ok(i.clone());
        }
        let device = Self::connect(&self.0.device)?;
        let i = Instance::attach(device, cloud)?;
        a.insert(cloud.to_string(), i.clone());
        Ok(i)
    }

    fn signing_key(&self, name: &PeerName, identity: Option<&str>) -> Result<SigningKey> {
        if !name.is_secured() {
            return Ok(self.0.ephemeral.clone());
        }
        let store = match &self.0.store {
            Some(s) => s.clone(),
            None => IdentityStore::open_default()?,
        };
        let id = match identity {
            Some(i) => store.get(i)?,
            None => store.for_authority(&name.authority)?,
        };
        // Only the holder of the name's key may publish it.
        if PeerName::parse(&id.name).map(|n| n.authority) != Ok(name.authority) {
            return Err(Error(PEER_E_INVALID_IDENTITY));
        }
        Ok(id.key)
    }

    /// PeerPnrpRegister.
    pub fn register(&self, name: &str, info: &RegistrationInfo) -> Result<Registration> {
        let peer_name = parse_name(name)?;
        check_info(info)?;
        let key = self.signing_key(&peer_name, info.identity.as_deref())?;
        self.register_signed(peer_name, info, key)
    }

    /// Registers the secured name `name` signed by `key`, a key the identity store does not
    /// hold (a peer group's root key); PEER_E_INVALID_IDENTITY unless `name`'s authority is
    /// `key`'s.
    pub fn register_with_key(
        &self,
        name: &str,
        info: &RegistrationInfo,
        key: SigningKey,
    ) -> Result<Registration> {
        let peer_name = parse_name(name)?;
        check_info(info)?;
        if peer_name.authority != peerdrt_core::pnrp::Authority::of_key(key.verifying_key().as_bytes()) {
            return Err(Error(PEER_E_INVALID_IDENTITY));
        }
        self.register_signed(peer_name, info, key)
    }

    fn register_signed(
        &self,
        peer_name: PeerName,
        info: &RegistrationInfo,
        key: SigningKey,
    ) -> Result<Registration> {
        let clouds = self.target_clouds(info.cloud.as_deref())?;
        let addresses = match &info.addresses {
            Addresses::List(l) => l.clone(),
            Addresses::Auto(port) => host_addresses(*port),
        };
        if addresses.is_empty() && info.payload.is_empty() {
            return Err(Error(E_INVALIDARG));
        }
        let records: Vec<RecordAddress> = addresses.iter().map(record_address).collect();
        let mut reg = RegInner {
            name: peer_name,
            key,
            cloud_arg: info.cloud.clone(),
            address_count: match &info.addresses {
                Addresses::List(l) => Some(l.len()),
                Addresses::Auto(_) => None,
            },
            auto_port: match &info.addresses {
                Addresses::List(_) => None,
                Addresses::Auto(port) => Some(*port),
            },
            sequence: 0,
            signed_at: unix_now(),
            content: (records.clone(), info.comment.clone(), info.payload.clone()),
            entries: Vec::new(),
            closed: false,
        };
        for cloud in clouds {
            let attachment = self.attachment(&cloud)?;
            let mut salt = [0u8; 8];
            getrandom::getrandom(&mut salt).map_err(|_| Error(E_UNEXPECTED))?;
            let hint = match addresses.first().map(SocketAddr::ip) {
                Some(IpAddr::V6(a)) if a.to_ipv4_mapped().is_none() => {
                    let mut h = [0u8; 8];
                    h.copy_from_slice(&a.octets()[..8]);
                    h
                }
                _ => [0; 8],
            };
            let plain: Vec<([u8; 16], u16)> = records.iter().map(|r| (r.addr, r.port)).collect();
            let id = PnrpId::new(
                p2p_id(&reg.name),
                service_location(hint, reg.key.verifying_key().as_bytes(), &plain, salt),
            );
            let bytes = reg.sign(id, &records, &info.comment, &info.payload)?;
            let handle = attachment.register(&Key(id.0), &bytes, None)?;
            reg.entries.push(Entry { attachment, handle, id });
        }
        Registration::start(reg)
    }

    /// PeerPnrpResolve: up to `max_endpoints` verified endpoints of `name`, from `cloud` (or
    /// every cloud, searched in parallel). None found: PEER_E_NOT_FOUND.
    pub fn resolve(
        &self,
        name: &str,
        cloud: Option<&str>,
        max_endpoints: u32,
        timeout: Duration,
    ) -> Result<Vec<Endpoint>> {
        let (out, clouds) =
            (Arc::new(Collector::default()), self.resolve_targets(name, cloud, max_endpoints)?);
        self.run_resolve(name, clouds, max_endpoints, timeout, &out, None)?;
        let found: Vec<Endpoint> = lock(&out.state).queue.drain(..).collect();
        if found.is_empty() {
            return Err(Error(PEER_E_NOT_FOUND));
        }
        Ok(found)
    }

    fn resolve_targets(&self, name: &str, cloud: Option<&str>, max_endpoints: u32) -> Result<Vec<String>> {
        parse_name(name)?;
        if max_endpoints == 0 || max_endpoints > MAX_ENDPOINTS {
            return Err(Error(E_INVALIDARG));
        }
        self.target_clouds(cloud)
    }

    /// Searches every cloud in parallel, feeding verified endpoints to `out` as they are known.
    fn run_resolve(
        &self,
        name: &str,
        clouds: Vec<String>,
        max: u32,
        timeout: Duration,
        out: &Arc<Collector>,
        cancel: Option<&Arc<AtomicBool>>,
    ) -> Result<()> {
        let peer_name = parse_name(name)?;
        let p2p = p2p_id(&peer_name);
        let mut errors = Vec::new();
        std::thread::scope(|scope| {
            let handles: Vec<_> = clouds
                .iter()
                .map(|cloud| {
                    let (this, out) = (self.clone(), out.clone());
                    scope.spawn(move || this.resolve_in(cloud, p2p, max, timeout, &out, cancel))
                })
                .collect();
            for h in handles {
                if let Ok(Err(e)) = h.join() {
                    errors.push(e);
                }
            }
        });
        match errors.into_iter().next() {
            Some(e) if lock(&out.state).delivered == 0 && errors_matter(e) => Err(e),
            _ => Ok(()),
        }
    }

    fn resolve_in(
        &self,
        cloud: &str,
        p2p: [u8; 16],
        max: u32,
        timeout: Duration,
        out: &Collector,
        cancel: Option<&Arc<AtomicBool>>,
    ) -> Result<()> {
        let attachment = self.attachment(cloud)?;
        let (lo, hi) = PnrpId::range(p2p);
        let mut middle = [0u8; 16];
        middle[0] = 0x80;
        let target = Key(PnrpId::new(p2p, middle).0);
        let info = SearchInfo::range(Key(lo.0), Key(hi.0), (max + RESOLVE_HEADROOM).min(MAX_ENDPOINTS))
            .allowing_current_instance();
        let timeout_ms = u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX);
        let search = attachment.start_search(&target, &info, timeout_ms, None, 0)?;
        let deadline = Instant::now() + timeout;
        let mut found: Vec<(PnrpId, u64, Endpoint)> = Vec::new();
        let ended = loop {
            // Ended, or other clouds already found enough: return as soon as there are.
            if cancel.is_some_and(|c| c.load(Ordering::Acquire)) || lock(&out.state).delivered >= max {
                break Ok(());
            }
            let left = deadline.saturating_duration_since(Instant::now()).min(Duration::from_millis(200));
            match search.wait_next(left) {
                Ok(Some(r)) => {
                    if let Some((id, seq, ep)) = self.verified(cloud, &r.key, &r.app_data) {
                        match found.iter_mut().find(|(i, _, _)| *i == id) {
                            Some(f) if f.1 < seq => *f = (id, seq, ep),
                            Some(_) => {}
                            None => found.push((id, seq, ep)),
                        }
                    }
                }
                Ok(None) => break Ok(()),
                Err(Error(DRT_E_SEARCH_IN_PROGRESS)) if Instant::now() < deadline => {}
                Err(Error(DRT_E_SEARCH_IN_PROGRESS)) => break Err(Error(PEER_E_TIMEOUT)),
                Err(e) => break Err(e),
            }
        };
        let _ = attachment.end_search(&search);
        // Only records still the newest of their PNRP ID once the search is over.
        let newest = lock(&self.0.newest);
        for (id, seq, ep) in found {
            if newest.get(&id.0).is_none_or(|n| n <= seq) {
                out.push(ep, max);
            }
        }
        drop(newest);
        match ended {
            Err(Error(PEER_E_TIMEOUT)) => Ok(()),
            other => other,
        }
    }

    /// Decodes and verifies a record found under `key`; remembers its sequence as the newest
    /// of its PNRP ID. `None` for anything a resolver must not return.
    fn verified(&self, cloud: &str, key: &Key, bytes: &[u8]) -> Option<(PnrpId, u64, Endpoint)> {
        let record = Record::decode(bytes).ok()?;
        record.verify(&key.0, unix_now()).ok()?;
        if !lock(&self.0.newest).remember(record.id.0, record.sequence) {
            return None;
        }
        Some((
            record.id,
            record.sequence,
            Endpoint {
                name: record.name.to_string(),
                addresses: record.addresses().map(|a| socket_address(&a)).collect(),
                comment: record.comment.to_string(),
                payload: record.payload.to_vec(),
                cloud: cloud.to_string(),
            },
        ))
    }

    /// PeerPnrpStartResolve: endpoints arrive one by one; `event` is set for each, and once
    /// more when the resolve is over.
    pub fn start_resolve(
        &self,
        name: &str,
        cloud: Option<&str>,
        max_endpoints: u32,
        event: Option<Arc<EventObject>>,
    ) -> Result<Resolve> {
        self.start_resolve_signal(name, cloud, max_endpoints, event.map(Signal::Object))
    }

    pub(crate) fn start_resolve_signal(
        &self,
        name: &str,
        cloud: Option<&str>,
        max_endpoints: u32,
        signal: Option<Signal>,
    ) -> Result<Resolve> {
        let max = if max_endpoints == 0 { DEFAULT_MAX_ENDPOINTS } else { max_endpoints };
        let clouds = self.resolve_targets(name, cloud, max)?;
        let out = Arc::new(Collector { signal, ..Collector::default() });
        let cancel = Arc::new(AtomicBool::new(false));
        let (this, name, o, c) = (self.clone(), name.to_string(), out.clone(), cancel.clone());
        std::thread::Builder::new()
            .name("peerdrt-pnrp-resolve".into())
            .spawn(move || {
                let result = this.run_resolve(&name, clouds, max, RESOLVE_TIMEOUT, &o, Some(&c));
                o.finish(result.err());
            })
            .map_err(|_| Error(E_UNEXPECTED))?;
        Ok(Resolve { out, cancel })
    }
}

/// Failures worth reporting when nothing was found (a cloud that cannot be attached, a device
/// gone); a search that simply found nothing is not one.
fn errors_matter(e: Error) -> bool {
    e != Error(crate::hresult::DRT_E_NO_MORE)
}

#[derive(Debug, Default)]
struct CollectorState {
    queue: VecDeque<Endpoint>,
    delivered: u32,
    done: Option<Option<Error>>,
}

/// Endpoints of a resolve, as they are verified.
#[derive(Debug, Default)]
struct Collector {
    state: Mutex<CollectorState>,
    cond: Condvar,
    signal: Option<Signal>,
}

impl Collector {
    fn push(&self, ep: Endpoint, max: u32) {
        let fire = {
            let mut s = lock(&self.state);
            if s.delivered >= max || s.done.is_some() {
                return;
            }
            s.delivered += 1;
            s.queue.push_back(ep);
            self.cond.notify_all();
            self.signal.as_ref().map_or(Fire::NONE, Signal::set)
        };
        fire.run();
    }

    fn finish(&self, error: Option<Error>) {
        let fire = {
            let mut s = lock(&self.state);
            if s.done.is_some() {
                return;
            }
            s.done = Some(error);
            self.cond.notify_all();
            self.signal.as_ref().map_or(Fire::NONE, Signal::set)
        };
        fire.run();
    }
}

/// An asynchronous resolve (HRESOLUTION).
#[derive(Debug)]
pub struct Resolve {
    out: Arc<Collector>,
    cancel: Arc<AtomicBool>,
}

impl Resolve {
    /// PeerPnrpGetEndpoint: the next endpoint; E_PENDING while the resolve goes on with none
    /// queued, PEER_E_NO_MORE once it is over and every endpoint was taken.
    pub fn get_endpoint(&self) -> Result<Endpoint> {
        let mut s = lock(&self.out.state);
        if let Some(ep) = s.queue.pop_front() {
            return Ok(ep);
        }
        match s.done {
            None => Err(Error(E_PENDING)),
            Some(None) => Err(Error(PEER_E_NO_MORE)),
            Some(Some(e)) if s.delivered == 0 => {
                s.done = Some(None);
                Err(e)
            }
            Some(Some(_)) => Err(Error(PEER_E_NO_MORE)),
        }
    }

    /// Waits up to `wait` for [`Resolve::get_endpoint`] to have something other than E_PENDING.
    pub fn wait(&self, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        let mut s = lock(&self.out.state);
        loop {
            if !s.queue.is_empty() || s.done.is_some() {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            s = self.out.cond.wait_timeout(s, deadline - now).unwrap_or_else(|p| p.into_inner()).0;
        }
    }

    /// PeerPnrpEndResolve: stops the searches; endpoints not taken are dropped.
    pub fn end(&self) {
        self.cancel.store(true, Ordering::Release);
        self.out.finish(None);
        lock(&self.out.state).queue.clear();
    }
}

impl Drop for Resolve {
    fn drop(&mut self) {
        self.end();
    }
}

#[derive(Debug)]
struct Entry {
    attachment: Arc<Instance>,
    handle: u64,
    id: PnrpId,
}

/// How often a registration checks whether its record must be re-signed.
pub const REFRESH_CHECK: Duration = Duration::from_secs(60);
/// A record is re-signed once it is this old (half its lifetime), so a valid one always stands.
pub const RESIGN_AFTER_SECS: u64 = RECORD_LIFETIME_SECS / 2;

/// Whether a registration's records must be re-signed now: they are half-way through their
/// validity, or (automatic addresses) the host's addresses changed.
pub fn refresh_due(now: u64, signed_at: u64, addresses_changed: bool) -> bool {
    addresses_changed || now.saturating_sub(signed_at) >= RESIGN_AFTER_SECS
}

#[derive(Debug)]
struct RegInner {
    name: PeerName,
    key: SigningKey,
    cloud_arg: Option<String>,
    address_count: Option<usize>,
    /// The port of automatic addresses (re-read by the refresher).
    auto_port: Option<u16>,
    sequence: u64,
    signed_at: u64,
    /// Addresses, comment and payload of the current records.
    content: (Vec<RecordAddress>, String, Vec<u8>),
    entries: Vec<Entry>,
    closed: bool,
}

impl RegInner {
    fn sign(
        &mut self,
        id: PnrpId,
        addresses: &[RecordAddress],
        comment: &str,
        payload: &[u8],
    ) -> Result<Vec<u8>> {
        // Strictly increasing, and newer than any earlier version a resolver may have seen.
        self.sequence = unix_micros().max(self.sequence + 1);
        let now = unix_now();
        self.signed_at = now;
        let content = RecordContent {
            name: &self.name,
            id,
            sequence: self.sequence,
            not_before: now,
            not_after: now + RECORD_LIFETIME_SECS,
            addresses,
            comment,
            payload,
        };
        content.sign(&self.key).map_err(|_| Error(E_INVALIDARG))
    }

    /// Signs and publishes new content under every cloud's key.
    fn publish(&mut self, addresses: Vec<RecordAddress>, comment: String, payload: Vec<u8>) -> Result<()> {
        for i in 0..self.entries.len() {
            let id = self.entries[i].id;
            let bytes = self.sign(id, &addresses, &comment, &payload)?;
            self.entries[i].attachment.update(self.entries[i].handle, &bytes)?;
        }
        self.content = (addresses, comment, payload);
        Ok(())
    }

    fn remove(&mut self) -> Result<()> {
        self.closed = true;
        let mut result = Ok(());
        for e in self.entries.drain(..) {
            if let Err(err) = e.attachment.unregister(e.handle) {
                result = Err(err);
            }
        }
        result
    }
}

#[derive(Debug)]
struct Shared {
    inner: Mutex<RegInner>,
    cond: Condvar,
}

/// A registration (HREGISTRATION): one DRT key per cloud, kept fresh (re-signed before its
/// records expire; automatic addresses follow the host's) until it is unregistered or dropped.
#[derive(Debug)]
pub struct Registration(Arc<Shared>);

impl Registration {
    fn start(inner: RegInner) -> Result<Registration> {
        let shared = Arc::new(Shared { inner: Mutex::new(inner), cond: Condvar::new() });
        let s = shared.clone();
        std::thread::Builder::new()
            .name("peerdrt-pnrp-refresh".into())
            .spawn(move || refresh(&s))
            .map_err(|_| Error(E_UNEXPECTED))?;
        Ok(Registration(shared))
    }

    /// The peer name.
    pub fn name(&self) -> String {
        lock(&self.0.inner).name.to_string()
    }

    /// The PNRP IDs it holds, one per cloud.
    pub fn ids(&self) -> Vec<PnrpId> {
        lock(&self.0.inner).entries.iter().map(|e| e.id).collect()
    }

    /// PeerPnrpUpdateRegistration: new addresses, comment and payload, re-signed. The cloud
    /// and the number of addresses cannot change (E_INVALIDARG).
    pub fn update(&mut self, info: &RegistrationInfo) -> Result<()> {
        check_info(info)?;
        let mut g = lock(&self.0.inner);
        let count = match &info.addresses {
            Addresses::List(l) => Some(l.len()),
            Addresses::Auto(_) => None,
        };
        if info.cloud != g.cloud_arg || count != g.address_count {
            return Err(Error(E_INVALIDARG));
        }
        let addresses = match &info.addresses {
            Addresses::List(l) => l.clone(),
            Addresses::Auto(port) => host_addresses(*port),
        };
        g.auto_port = match &info.addresses {
            Addresses::List(_) => None,
            Addresses::Auto(port) => Some(*port),
        };
        g.publish(addresses.iter().map(record_address).collect(), info.comment.clone(), info.payload.clone())
    }

    /// PeerPnrpUnregister.
    pub fn unregister(self) -> Result<()> {
        self.stop()
    }

    fn stop(&self) -> Result<()> {
        let result = lock(&self.0.inner).remove();
        self.0.cond.notify_all();
        result
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// The refresher of one registration: every [`REFRESH_CHECK`], re-sign when [`refresh_due`].
fn refresh(shared: &Shared) {
    let mut g = lock(&shared.inner);
    loop {
        g = shared.cond.wait_timeout(g, REFRESH_CHECK).unwrap_or_else(|p| p.into_inner()).0;
        if g.closed {
            return;
        }
        let current =
            g.auto_port.map(|port| host_addresses(port).iter().map(record_address).collect::<Vec<_>>());
        let changed = current.as_ref().is_some_and(|c| *c != g.content.0);
        if refresh_due(unix_now(), g.signed_at, changed) {
            let (addresses, comment, payload) = g.content.clone();
            let _ = g.publish(current.unwrap_or(addresses), comment, payload);
        }
    }
}

/// PeerCreatePeerName: `0.<classifier>` without an identity, else `<authority>.<classifier>`
/// with the identity's authority.
pub fn create_peer_name(identity: Option<&str>, classifier: &str) -> Result<String> {
    let authority = match identity {
        None => peerdrt_core::pnrp::Authority::Unsecured,
        Some(i) => PeerName::parse(i).map_err(|_| Error(PEER_E_INVALID_IDENTITY))?.authority,
    };
    if identity.is_some() && authority == peerdrt_core::pnrp::Authority::Unsecured {
        return Err(Error(PEER_E_INVALID_IDENTITY));
    }
    Ok(PeerName::new(authority, classifier).map_err(identity::name_error)?.to_string())
}

/// The newest record sequence a session has seen per PNRP ID, for [`MAX_REMEMBERED_SEQUENCES`]
/// IDs: past that the ID remembered longest ago is forgotten (its older records would be taken
/// again), so a flood of new IDs costs one ID's replay protection each, never all of them.
#[derive(Debug, Default)]
struct NewestSequences {
    by_id: HashMap<[u8; 32], u64>,
    /// The remembered IDs, the one remembered longest ago first.
    order: VecDeque<[u8; 32]>,
}

impl NewestSequences {
    /// The newest sequence remembered for `id`.
    fn get(&self, id: &[u8; 32]) -> Option<u64> {
        self.by_id.get(id).copied()
    }

    /// Remembers `sequence` as the newest of `id`, unless a newer one is remembered (a replay:
    /// false).
    fn remember(&mut self, id: [u8; 32], sequence: u64) -> bool {
        match self.by_id.get_mut(&id) {
            Some(newest) if *newest > sequence => false,
            Some(newest) => {
                *newest = sequence;
                true
            }
            None => {
                if self.order.len() >= MAX_REMEMBERED_SEQUENCES
                    && let Some(oldest) = self.order.pop_front()
                {
                    self.by_id.remove(&oldest);
                }
                self.by_id.insert(id, sequence);
                self.order.push_back(id);
                true
            }
        }
    }

    /// How many IDs are remembered.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.by_id.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pnrp_id(n: usize) -> [u8; 32] {
        let mut id = [0u8; 32];
        id[..8].copy_from_slice(&(n as u64).to_le_bytes());
        id
    }

    #[test]
    fn a_session_remembers_max_remembered_sequences_ids_and_refuses_their_older_records() {
        let mut newest = NewestSequences::default();
        for n in 0..MAX_REMEMBERED_SEQUENCES {
            assert!(newest.remember(pnrp_id(n), 5));
        }
        assert_eq!(newest.len(), MAX_REMEMBERED_SEQUENCES);
        // At the edge every ID is still remembered: older records are refused, the same or a
        // newer one accepted (and a known ID never makes room).
        for n in 0..MAX_REMEMBERED_SEQUENCES {
            assert!(!newest.remember(pnrp_id(n), 4), "ID {n} forgotten at the edge");
        }
        assert!(newest.remember(pnrp_id(0), 5));
        assert!(newest.remember(pnrp_id(MAX_REMEMBERED_SEQUENCES - 1), 6));
        assert!(!newest.remember(pnrp_id(MAX_REMEMBERED_SEQUENCES - 1), 5));
        assert_eq!(newest.len(), MAX_REMEMBERED_SEQUENCES);
    }

    #[test]
    fn one_id_past_max_remembered_sequences_forgets_only_the_id_remembered_longest_ago() {
        let mut newest = NewestSequences::default();
        for n in 0..=MAX_REMEMBERED_SEQUENCES {
            assert!(newest.remember(pnrp_id(n), 5));
        }
        assert_eq!(newest.len(), MAX_REMEMBERED_SEQUENCES);
        assert_eq!(newest.get(&pnrp_id(0)), None, "the oldest ID made room");
        // Every other ID still refuses its older records, the newest one included.
        for n in 1..=MAX_REMEMBERED_SEQUENCES {
            assert!(!newest.remember(pnrp_id(n), 4), "ID {n} forgotten one past the edge");
        }
        // The forgotten ID's older records are accepted again (the bound costs replay memory,
        // never memory without a bound); remembering it anew makes ID 1 the one to go next.
        assert!(newest.remember(pnrp_id(0), 1));
        assert_eq!(newest.len(), MAX_REMEMBERED_SEQUENCES);
        assert_eq!(newest.get(&pnrp_id(1)), None);
        assert_eq!(newest.get(&pnrp_id(2)), Some(5));
    }

    #[test]
    fn peer_names_are_created_from_identities() {
        assert_eq!(create_peer_name(None, "demo").unwrap(), "0.demo");
        let id = format!("{}.me", "0f".repeat(20));
        assert_eq!(create_peer_name(Some(&id), "chat").unwrap(), format!("{}.chat", "0f".repeat(20)));
        assert_eq!(create_peer_name(Some("0.me"), "chat"), Err(Error(PEER_E_INVALID_IDENTITY)));
        assert_eq!(create_peer_name(None, "a b"), Err(Error(PEER_E_INVALID_CLASSIFIER)));
        let long = "c".repeat(peerdrt_core::pnrp::name::MAX_CLASSIFIER_UNITS + 1);
        assert_eq!(create_peer_name(None, &long), Err(Error(PEER_E_CLASSIFIER_TOO_LONG)));
    }

    #[test]
    fn registration_limits_are_checked_at_and_past_their_edges() {
        let addr: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let ok = |n: usize, comment: usize, payload: usize| {
            check_info(&RegistrationInfo {
                addresses: Addresses::List(vec![addr; n]),
                comment: "c".repeat(comment),
                payload: vec![1; payload],
                ..RegistrationInfo::default()
            })
        };
        assert!(ok(MAX_ADDRESSES, MAX_COMMENT_UNITS, MAX_PAYLOAD).is_ok());
        assert_eq!(ok(MAX_ADDRESSES + 1, 0, 0), Err(Error(E_INVALIDARG)));
        assert_eq!(ok(1, MAX_COMMENT_UNITS + 1, 0), Err(Error(E_INVALIDARG)));
        assert_eq!(ok(1, 0, MAX_PAYLOAD + 1), Err(Error(E_INVALIDARG)));
        assert_eq!(ok(0, 0, 0), Err(Error(E_INVALIDARG)), "neither addresses nor a payload");
        assert!(ok(0, 0, 1).is_ok());
    }

    #[test]
    fn records_are_re_signed_half_way_through_their_lifetime_or_when_addresses_change() {
        let t = 1_700_000_000;
        assert!(!refresh_due(t + RESIGN_AFTER_SECS - 1, t, false));
        assert!(refresh_due(t + RESIGN_AFTER_SECS, t, false));
        assert!(refresh_due(t, t, true));
        assert!(
            RESIGN_AFTER_SECS + REFRESH_CHECK.as_secs() < RECORD_LIFETIME_SECS,
            "re-signed before expiry"
        );
    }

    #[test]
    fn addresses_survive_the_record_form() {
        for text in ["127.0.0.1:80", "[2001:db8::1]:3540", "[fe80::1%3]:9"] {
            let a: SocketAddr = text.parse().unwrap();
            assert_eq!(socket_address(&record_address(&a)), a, "{text}");
        }
    }
}
