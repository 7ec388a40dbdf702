//! The safe Rust API: the DRT without pointers.
//!
//! ```no_run
//! use std::time::Duration;
//! use peerdrt_shim::drt::{Drt, SearchInfo, Settings};
//! use peerdrt_shim::Key;
//!
//! let drt = Drt::open(&Settings { seeds: vec!["127.0.0.1:3540".parse()?], ..Settings::default() })?;
//! drt.wait_active(Duration::from_secs(10));
//! let key = Key::parse_hex("1234")?;
//! let registration = drt.register(&key, b"hello")?;
//! let search = drt.search(&key, &SearchInfo::exact(), Duration::from_secs(5))?;
//! for result in search.results() {
//!     println!("{} -> {:?}", result?.key, registration.key());
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A [`Drt`] is one `DrtOpen`: its own open of the device, so its registrations live exactly as
//! long as it (or the process) does.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use peerdrt_abi::{Handle, InstanceInfo, MAX_APP_DATA, SecurityKind};
use peerdrt_core::wire::MAX_ROUTE_ADDRESSES;

use crate::cert::{Credential, RootCredential};
use crate::client::{Instance, OpenParams, SearchCore};
use crate::device::{self, Device};
use crate::hresult::*;
use crate::key::Key;

/// The protocol version the SDK sample and `peerdrtd`'s standing instances use (6.101).
pub const DEFAULT_PROTOCOL_VERSION: (u8, u8) = (6, 101);

/// DRT_STATUS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Status {
    /// DRT_ACTIVE (0): other nodes were found.
    Active,
    /// DRT_ALONE (1): no other node yet.
    Alone,
    /// DRT_NO_NETWORK (10).
    NoNetwork,
    /// DRT_FAULTED (20): close the instance.
    Faulted,
    /// A value this shim does not know.
    Other(u32),
}

impl Status {
    /// From the DRT_STATUS value.
    pub fn from_raw(v: u32) -> Self {
        match v {
            0 => Self::Active,
            1 => Self::Alone,
            10 => Self::NoNetwork,
            20 => Self::Faulted,
            v => Self::Other(v),
        }
    }

    /// The DRT_STATUS value.
    pub fn raw(self) -> u32 {
        match self {
            Self::Active => 0,
            Self::Alone => 1,
            Self::NoNetwork => 10,
            Self::Faulted => 20,
            Self::Other(v) => v,
        }
    }
}

/// DRT_MATCH_TYPE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum MatchType {
    /// DRT_MATCH_EXACT (0).
    Exact,
    /// DRT_MATCH_NEAR (1).
    Near,
    /// DRT_MATCH_INTERMEDIATE (2): an iterative search's hop; call [`Search::continue_search`].
    Intermediate,
}

impl MatchType {
    /// From the DRT_MATCH_TYPE value (unknown values read as near).
    pub fn from_raw(v: u32) -> Self {
        match v {
            0 => Self::Exact,
            2 => Self::Intermediate,
            _ => Self::Near,
        }
    }

    /// The DRT_MATCH_TYPE value.
    pub fn raw(self) -> u32 {
        match self {
            Self::Exact => 0,
            Self::Near => 1,
            Self::Intermediate => 2,
        }
    }
}

/// DRT_LEAFSET_KEY_CHANGE_TYPE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum LeafSetChange {
    /// DRT_LEAFSET_KEY_ADDED (0).
    Added,
    /// DRT_LEAFSET_KEY_DELETED (1).
    Deleted,
}

/// An event of an instance (DRT_EVENT_DATA).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// DRT_EVENT_STATUS_CHANGED.
    StatusChanged {
        /// The new status.
        status: Status,
        /// What the bootstrapper returned (on DRT_ALONE).
        bootstrap: Vec<SocketAddr>,
    },
    /// DRT_EVENT_LEAFSET_KEY_CHANGED.
    LeafSetKeyChanged {
        /// Added or deleted.
        change: LeafSetChange,
        /// The local key whose leaf set changed.
        local_key: Key,
        /// The remote key.
        remote_key: Key,
    },
    /// DRT_EVENT_REGISTRATION_STATE_CHANGED.
    RegistrationStateChanged {
        /// The registration's device handle.
        registration: Handle,
        /// DRT_REGISTRATION_STATE.
        state: u32,
        /// Its key.
        key: Key,
    },
}

/// DRT_SEARCH_INFO (plus the "nothing given" exact search).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchInfo {
    /// fIterative: report every hop as an intermediate result.
    pub iterative: bool,
    /// fAllowCurrentInstanceMatch: keys of the searching instance may match.
    pub allow_current_instance_match: bool,
    /// fAnyMatchInRange: stop at the first key in range.
    pub any_match_in_range: bool,
    /// cMaxEndpoints.
    pub max_endpoints: u32,
    /// pMinimumKey / pMaximumKey.
    pub range: Option<(Key, Key)>,
}

impl SearchInfo {
    /// `pInfo == NULL`: the exact key, one result.
    pub fn exact() -> Self {
        Self {
            iterative: false,
            allow_current_instance_match: false,
            any_match_in_range: false,
            max_endpoints: 1,
            range: None,
        }
    }

    /// The `count` keys nearest the target, anywhere (the sample's "Nearest Match Search").
    pub fn nearest(count: u32) -> Self {
        Self { max_endpoints: count, range: Some((Key::MIN, Key::MAX)), ..Self::exact() }
    }

    /// Up to `count` keys in `[min, max]`, nearest the target first.
    pub fn range(min: Key, max: Key, count: u32) -> Self {
        Self { max_endpoints: count, range: Some((min, max)), ..Self::exact() }
    }

    /// An iterative exact search (the sample's "Iterative Search": min = max = target).
    pub fn iterative(target: Key) -> Self {
        Self { iterative: true, range: Some((target, target)), ..Self::exact() }
    }

    /// With fAllowCurrentInstanceMatch set.
    pub fn allowing_current_instance(mut self) -> Self {
        self.allow_current_instance_match = true;
        self
    }

    /// The DrtStartSearch checks, with their HRESULTs.
    pub fn validate(&self, target: &Key) -> Result<()> {
        if self.max_endpoints == 0
            || (self.max_endpoints > 1 && (self.any_match_in_range || self.iterative))
            || self.max_endpoints > peerdrt_core::drt::MAX_SEARCH_RESULTS
        {
            return Err(Error(DRT_E_INVALID_MAX_ENDPOINTS));
        }
        if let Some((min, max)) = &self.range
            && (min > max || !(min <= target && target <= max) || (min == max && min != target))
        {
            return Err(Error(DRT_E_INVALID_SEARCH_RANGE));
        }
        Ok(())
    }
}

/// One result of a search (DRT_SEARCH_RESULT, plus where its publisher is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchResult {
    /// Exact, near or intermediate.
    pub match_type: MatchType,
    /// The key found (for an intermediate result: the next node's key).
    pub key: Key,
    /// The application data registered with it.
    pub app_data: Vec<u8>,
    /// The publishing node.
    pub endpoint: SocketAddr,
}

/// One node a search contacted (DRT_ADDRESS).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct PathEntry {
    /// The node.
    pub address: SocketAddr,
    /// DRT_ADDRESS_FLAGS.
    pub flags: u32,
    /// Leading bits its key shares with the target.
    pub nearness: u32,
    /// Round-trip time, milliseconds.
    pub latency_ms: u32,
}

/// The security provider of an instance.
#[derive(Debug, Clone, Default)]
pub enum Security {
    /// DrtCreateNullSecurityProvider.
    #[default]
    Null,
    /// DrtCreateDerivedKeySecurityProvider.
    DerivedKey {
        /// The root that vouches for every key.
        root: RootCredential,
        /// This node's identity (needed for DRT_SECURE_MEMBERSHIP; the default credential
        /// of its registrations).
        local: Option<Credential>,
    },
}

/// DRT_SETTINGS, the transport and the bootstrap, in one.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The device; `None`: [`device::default_path`].
    pub device: Option<PathBuf>,
    /// UDP port of the transport (0: the device picks one).
    pub port: u16,
    /// DRT_SCOPE (1 global, 2 site-local, 3 link-local).
    pub scope: u32,
    /// Scope id.
    pub scope_id: u32,
    /// bProtocolMajorVersion / bProtocolMinorVersion.
    pub protocol_version: (u8, u8),
    /// ulMaxRoutingAddresses (1..=20).
    pub max_addresses: u32,
    /// DRT_SECURITY_MODE (0 resolve, 1 membership, 2 confidential payload).
    pub security_mode: u32,
    /// The security provider.
    pub security: Security,
    /// Bootstrap seeds.
    pub seeds: Vec<SocketAddr>,
    /// pwzDrtInstancePrefix.
    pub instance_prefix: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            device: None,
            port: 0,
            scope: 1,
            scope_id: 0,
            protocol_version: DEFAULT_PROTOCOL_VERSION,
            max_addresses: 4,
            security_mode: 0,
            security: Security::Null,
            seeds: Vec::new(),
            instance_prefix: "peerdrt".into(),
        }
    }
}

impl Settings {
    /// Adds seeds resolved from `host:port` text (IPv4 results become IPv4-mapped later).
    pub fn with_seed(mut self, text: &str) -> std::io::Result<Self> {
        self.seeds.extend(text.to_socket_addrs()?);
        Ok(self)
    }
}

/// An open DRT instance (`HDRT`). Dropping it is `DrtClose`.
#[derive(Debug, Clone)]
pub struct Drt {
    inner: Arc<Instance>,
    default_credential: Option<Credential>,
}

impl Drt {
    /// DrtOpen.
    pub fn open(settings: &Settings) -> Result<Drt> {
        if !(1..=MAX_ROUTE_ADDRESSES as u32).contains(&settings.max_addresses) {
            return Err(Error(DRT_E_INVALID_MAX_ADDRESSES));
        }
        if settings.security_mode > 2 {
            return Err(Error(DRT_E_INVALID_SECURITY_MODE));
        }
        if settings.instance_prefix.encode_utf16().count() > 128 {
            return Err(Error(DRT_E_INVALID_INSTANCE_PREFIX));
        }
        let (security, root, local) = match &settings.security {
            Security::Null => (SecurityKind::Null, None, None),
            Security::DerivedKey { root, local } => {
                if let Some(l) = local
                    && !root.verifies(l)
                {
                    return Err(Error(DRT_E_INVALID_CERT_CHAIN));
                }
                (SecurityKind::DerivedKey, Some(root.public_key), local.clone())
            }
        };
        let path = settings.device.clone().unwrap_or_else(device::default_path);
        let device = Device::connect(&path).map_err(|_| Error(E_SERVICE_NOT_ACTIVE))?;
        let params = OpenParams {
            version: settings.protocol_version,
            port: settings.port,
            scope: settings.scope,
            scope_id: settings.scope_id,
            max_addresses: settings.max_addresses,
            security_mode: settings.security_mode,
            security,
            root,
            identity: local.clone(),
            seeds: settings.seeds.clone(),
        };
        let inner = Instance::open(device, &params, None, 0)?;
        Ok(Drt { inner, default_credential: local })
    }

    /// The UDP port the transport bound.
    pub fn port(&self) -> u16 {
        self.inner.port
    }

    /// The instance's device handle (only meaningful on its own open).
    pub fn raw_handle(&self) -> Handle {
        self.inner.handle
    }

    /// The device open this instance lives on (for raw IOCTLs).
    pub fn device(&self) -> &Device {
        self.inner.device()
    }

    /// The last status reported.
    pub fn status(&self) -> Option<Status> {
        self.inner.status()
    }

    /// Waits until the instance is DRT_ACTIVE (or `wait` passes); returns the last status.
    pub fn wait_active(&self, wait: Duration) -> Option<Status> {
        self.inner.wait_status(wait, |s| matches!(s, Status::Active | Status::Faulted))
    }

    /// Status and counters from the device.
    pub fn info(&self) -> Result<InstanceInfo> {
        self.inner.query()
    }

    /// The next event, waiting up to `wait`.
    pub fn next_event(&self, wait: Duration) -> Option<Event> {
        self.inner.wait_event(wait)
    }

    /// DrtRegisterKey with the instance's own credential (derived-key provider) or none.
    pub fn register(&self, key: &Key, app_data: &[u8]) -> Result<Registration> {
        self.register_with(key, app_data, self.default_credential.as_ref())
    }

    /// DrtRegisterKey with an explicit credential (the `pvKeyContext` of the derived-key
    /// provider).
    pub fn register_with(
        &self,
        key: &Key,
        app_data: &[u8],
        credential: Option<&Credential>,
    ) -> Result<Registration> {
        check_app_data(app_data)?;
        let handle = self.inner.register(key, app_data, credential)?;
        Ok(Registration { drt: self.inner.clone(), handle, key: *key, live: true })
    }

    /// DrtStartSearch. `timeout` is the search's own (DRT_E_TIMEOUT after it).
    pub fn search(&self, key: &Key, info: &SearchInfo, timeout: Duration) -> Result<Search> {
        info.validate(key)?;
        let timeout_ms = u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX);
        let core = self.inner.start_search(key, info, timeout_ms, None, 0)?;
        Ok(Search {
            drt: self.inner.clone(),
            core,
            deadline: Instant::now() + timeout + Duration::from_secs(5),
            ended: false,
        })
    }

    /// DrtClose (also what dropping the last clone does).
    pub fn close(self) {
        self.inner.close();
    }
}

fn check_app_data(app_data: &[u8]) -> Result<()> {
    if app_data.is_empty() || app_data.len() > MAX_APP_DATA {
        return Err(Error(E_INVALIDARG));
    }
    Ok(())
}

/// A registered key (`HDRT_REGISTRATION_CONTEXT`). Dropping it unregisters.
#[derive(Debug)]
pub struct Registration {
    drt: Arc<Instance>,
    handle: Handle,
    key: Key,
    live: bool,
}

impl Registration {
    /// The key.
    pub fn key(&self) -> Key {
        self.key
    }

    /// The device handle (only meaningful on its instance's open).
    pub fn raw_handle(&self) -> Handle {
        self.handle
    }

    /// DrtUpdateKey.
    pub fn update(&self, app_data: &[u8]) -> Result<()> {
        check_app_data(app_data)?;
        self.drt.update(self.handle, app_data)
    }

    /// DrtUnregisterKey.
    pub fn unregister(mut self) -> Result<()> {
        self.live = false;
        self.drt.unregister(self.handle)
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if self.live {
            let _ = self.drt.unregister(self.handle);
        }
    }
}

/// A search (`HDRT_SEARCH_CONTEXT`). Dropping it is `DrtEndSearch`.
#[derive(Debug)]
pub struct Search {
    drt: Arc<Instance>,
    core: Arc<SearchCore>,
    deadline: Instant,
    ended: bool,
}

impl Search {
    /// The device handle (only meaningful on its instance's open).
    pub fn raw_handle(&self) -> Handle {
        self.core.handle
    }

    /// The next result, waiting up to `wait`. `Ok(None)`: the search completed
    /// (DRT_E_NO_MORE). `Err(DRT_E_SEARCH_IN_PROGRESS)`: nothing within `wait`;
    /// `Err(DRT_E_TIMEOUT)`: the search's own timeout passed.
    pub fn next_result(&self, wait: Duration) -> Result<Option<SearchResult>> {
        self.core.wait_next(wait)
    }

    /// The results until the search ends (bounded by its timeout). A timed-out search ends the
    /// iteration with `Err(DRT_E_TIMEOUT)` after the results it found.
    pub fn results(&self) -> impl Iterator<Item = Result<SearchResult>> + '_ {
        let mut done = false;
        std::iter::from_fn(move || {
            if done {
                return None;
            }
            let wait = self.deadline.saturating_duration_since(Instant::now());
            match self.core.wait_next(wait) {
                Ok(Some(r)) => Some(Ok(r)),
                Ok(None) => {
                    done = true;
                    None
                }
                Err(e) => {
                    done = true;
                    Some(Err(e))
                }
            }
        })
    }

    /// DrtContinueSearch (after an intermediate result of an iterative search).
    pub fn continue_search(&self) -> Result<()> {
        self.drt.continue_search(&self.core)
    }

    /// DrtGetSearchPath: the nodes contacted so far.
    pub fn path(&self) -> Result<Vec<PathEntry>> {
        Ok(self
            .drt
            .search_path(&self.core)?
            .iter()
            .map(|p| PathEntry {
                address: crate::client::socket_addr(&p.endpoint),
                flags: p.flags,
                nearness: p.nearness,
                latency_ms: p.latency_ms,
            })
            .collect())
    }

    /// DrtEndSearch.
    pub fn end(mut self) -> Result<()> {
        self.ended = true;
        self.drt.end_search(&self.core)
    }
}

impl Drop for Search {
    fn drop(&mut self) {
        if !self.ended {
            let _ = self.drt.end_search(&self.core);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_info_checks_match_drt_start_search() {
        let t = Key::from_u64(50);
        assert_eq!(SearchInfo::exact().validate(&t), Ok(()));
        assert_eq!(SearchInfo::nearest(5).validate(&t), Ok(()));
        assert_eq!(SearchInfo::iterative(t).validate(&t), Ok(()));
        let zero = SearchInfo { max_endpoints: 0, ..SearchInfo::exact() };
        assert_eq!(zero.validate(&t), Err(Error(DRT_E_INVALID_MAX_ENDPOINTS)));
        let any = SearchInfo { any_match_in_range: true, ..SearchInfo::nearest(2) };
        assert_eq!(any.validate(&t), Err(Error(DRT_E_INVALID_MAX_ENDPOINTS)));
        let it = SearchInfo { max_endpoints: 2, ..SearchInfo::iterative(t) };
        assert_eq!(it.validate(&t), Err(Error(DRT_E_INVALID_MAX_ENDPOINTS)));
        let outside = SearchInfo::range(Key::from_u64(60), Key::from_u64(70), 1);
        assert_eq!(outside.validate(&t), Err(Error(DRT_E_INVALID_SEARCH_RANGE)));
        let point = SearchInfo::range(Key::from_u64(49), Key::from_u64(49), 1);
        assert_eq!(point.validate(&t), Err(Error(DRT_E_INVALID_SEARCH_RANGE)));
        let inverted = SearchInfo::range(Key::from_u64(70), Key::from_u64(10), 1);
        assert_eq!(inverted.validate(&t), Err(Error(DRT_E_INVALID_SEARCH_RANGE)));
        assert_eq!(SearchInfo::range(Key::from_u64(10), Key::from_u64(70), 3).validate(&t), Ok(()));
    }

    #[test]
    fn status_and_match_values_are_drt_h() {
        for (s, v) in
            [(Status::Active, 0), (Status::Alone, 1), (Status::NoNetwork, 10), (Status::Faulted, 20)]
        {
            assert_eq!(s.raw(), v);
            assert_eq!(Status::from_raw(v), s);
        }
        for (m, v) in [(MatchType::Exact, 0), (MatchType::Near, 1), (MatchType::Intermediate, 2)] {
            assert_eq!(m.raw(), v);
            assert_eq!(MatchType::from_raw(v), m);
        }
    }
}
