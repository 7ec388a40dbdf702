//! The shim's own state behind both APIs: a DRT instance on its open of the device, its event
//! queue filled by an event pump, and per-search result queues.
//!
//! Each instance has its own open (connection), so the device's per-open event queue is this
//! instance's, and closing the instance's open is what ends everything it held — exactly the
//! lifetime rule of the device. The pump thread keeps one `WAIT_EVENT` outstanding; it sorts
//! what arrives into the instance's event queue (DRT_EVENT_*) and the searches' result queues,
//! and signals the application's events.
//!
//! A search's results can arrive before the `START_SEARCH` reply that names the search (the
//! device reports local matches at once, and the pending wait may complete first); they wait
//! in a small orphan list until the search is known.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::thread;
use std::time::{Duration, Instant};

use peerdrt_abi::status::{self, to_hresult};
use peerdrt_abi::{
    EndpointRecord, EventRecord, Handle, IdentityRecord, InstanceInfo, MAX_EVENT_LEN, MAX_PATH_REPLY_LEN,
    MAX_SEEDS, OpenInstance, PathRecord, Request, Response, SecurityKind, StartSearch, encode_endpoints,
    ioctl,
};

use crate::cert::Credential;
use crate::device::{self, Device};
use crate::drt::{Event, LeafSetChange, MatchType, SearchInfo, SearchResult, Status};
use crate::event::{Fire, Signal, lock};
use crate::hresult::*;
use crate::key::Key;

/// Events kept per instance before the oldest is dropped (the device's own bound).
pub(crate) const MAX_QUEUED_EVENTS: usize = 1024;
/// Results kept for searches not yet known (see the module documentation).
const MAX_ORPHANS: usize = 256;
/// Recently ended searches whose late results are dropped.
const MAX_ENDED: usize = 64;

/// What DrtOpen needs, after validation.
#[derive(Debug, Clone)]
pub(crate) struct OpenParams {
    pub version: (u8, u8),
    pub port: u16,
    pub scope: u32,
    pub scope_id: u32,
    pub max_addresses: u32,
    pub security_mode: u32,
    pub security: SecurityKind,
    pub root: Option<[u8; 32]>,
    pub identity: Option<Credential>,
    pub seeds: Vec<SocketAddr>,
}

/// The ABI form of an endpoint: IPv6, IPv4 as IPv4-mapped.
pub(crate) fn endpoint_record(addr: &SocketAddr) -> EndpointRecord {
    let v6 = match addr.ip() {
        IpAddr::V4(a) => a.to_ipv6_mapped(),
        IpAddr::V6(a) => a,
    };
    EndpointRecord { addr: v6.octets(), port: addr.port() }
}

/// An ABI endpoint as a socket address (IPv4-mapped addresses stay IPv6).
pub(crate) fn socket_addr(e: &EndpointRecord) -> SocketAddr {
    SocketAddr::new(IpAddr::V6(e.addr.into()), e.port)
}

/// Sends a request and maps its completion to an HRESULT. A lost connection is DRT_E_FAULTED:
/// the instance cannot go on, the application must close it.
pub(crate) fn call(device: &Device, request: &Request<'_>, output_capacity: usize) -> Result<Vec<u8>> {
    match device.request(request, output_capacity) {
        Ok((status::SUCCESS, output)) => Ok(output),
        Ok((status, _)) => Err(Error(to_hresult(status))),
        Err(_) => Err(Error(DRT_E_FAULTED)),
    }
}

fn decode<'a>(code: u32, output: &'a [u8]) -> Result<Response<'a>> {
    Response::decode(code, output).map_err(|_| Error(E_UNEXPECTED))
}

enum Update {
    Result(SearchResult),
    End(u32),
}

#[derive(Debug, Default)]
struct SearchState {
    results: VecDeque<SearchResult>,
    end: Option<u32>,
}

/// A search's result queue.
#[derive(Debug)]
pub(crate) struct SearchCore {
    pub handle: Handle,
    pub context: usize,
    signal: Option<Signal>,
    state: Mutex<SearchState>,
    cond: Condvar,
}

/// Where the next result stands.
pub(crate) enum Next<'a> {
    /// A result is at the front of the queue.
    Ready(&'a SearchResult),
    /// No result now: DRT_E_SEARCH_IN_PROGRESS, or the search's final HRESULT.
    Status(u32),
}

impl SearchCore {
    fn apply(&self, update: Update) -> Fire {
        let mut s = lock(&self.state);
        match update {
            Update::Result(r) if s.end.is_none() => s.results.push_back(r),
            Update::Result(_) => return Fire::NONE,
            Update::End(hr) => {
                if s.end.is_some() {
                    return Fire::NONE;
                }
                s.end = Some(hr);
            }
        }
        self.cond.notify_all();
        // Signalled under the lock so a concurrent "buffer consumed" reset cannot undo it.
        self.signal.as_ref().map_or(Fire::NONE, Signal::set)
    }

    /// Looks at the front of the queue and, if `take` accepts it, removes it. When the queue
    /// runs dry before the search has ended, the search's event is reset ("the DRT will reset
    /// the event when the search result buffer has been consumed").
    pub fn next<R>(&self, take: impl FnOnce(Next<'_>) -> (R, bool)) -> R {
        let mut s = lock(&self.state);
        let next = match s.results.front() {
            Some(r) => Next::Ready(r),
            None => Next::Status(s.end.unwrap_or(DRT_E_SEARCH_IN_PROGRESS)),
        };
        let (out, remove) = take(next);
        if remove {
            s.results.pop_front();
            if s.results.is_empty()
                && s.end.is_none()
                && let Some(sig) = &self.signal
            {
                sig.reset();
            }
        }
        out
    }

    /// Blocks until a result or the end, up to `wait`. `Ok(Some)`: a result; `Ok(None)`: the
    /// search completed (DRT_E_NO_MORE); `Err`: its failure (DRT_E_TIMEOUT, DRT_E_FAULTED), or
    /// DRT_E_SEARCH_IN_PROGRESS if `wait` passed with nothing new.
    pub fn wait_next(&self, wait: Duration) -> Result<Option<SearchResult>> {
        let deadline = Instant::now() + wait;
        let mut s = lock(&self.state);
        loop {
            if let Some(r) = s.results.pop_front() {
                if s.results.is_empty()
                    && s.end.is_none()
                    && let Some(sig) = &self.signal
                {
                    sig.reset();
                }
                return Ok(Some(r));
            }
            match s.end {
                Some(DRT_E_NO_MORE) => return Ok(None),
                Some(hr) => return Err(Error(hr)),
                None => {}
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Error(DRT_E_SEARCH_IN_PROGRESS));
            }
            s = self.cond.wait_timeout(s, deadline - now).unwrap_or_else(|p| p.into_inner()).0;
        }
    }
}

#[derive(Debug, Default)]
struct InstanceState {
    events: VecDeque<Event>,
    status: Option<Status>,
    searches: HashMap<Handle, Arc<SearchCore>>,
    orphans: VecDeque<(Handle, SearchResultOrEnd)>,
    ended: VecDeque<Handle>,
    closed: bool,
}

impl InstanceState {
    /// Queues an instance event; with [`MAX_QUEUED_EVENTS`] queued, the oldest goes.
    fn queue_event(&mut self, event: Event) {
        if let Event::StatusChanged { status, .. } = &event {
            self.status = Some(*status);
        }
        if self.events.len() >= MAX_QUEUED_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(event);
    }

    /// Keeps an update of a search not known yet, unless the search has ended; with
    /// [`MAX_ORPHANS`] kept, the oldest goes.
    fn keep_orphan(&mut self, search: Handle, update: SearchResultOrEnd) {
        if self.ended.contains(&search) {
            return;
        }
        if self.orphans.len() >= MAX_ORPHANS {
            self.orphans.pop_front();
        }
        self.orphans.push_back((search, update));
    }

    /// The application ended `search`: its late updates are dropped (for the last
    /// [`MAX_ENDED`] searches ended).
    fn search_ended(&mut self, search: Handle) {
        self.searches.remove(&search);
        self.ended.push_back(search);
        if self.ended.len() > MAX_ENDED {
            self.ended.pop_front();
        }
        self.orphans.retain(|(h, _)| *h != search);
    }
}

#[derive(Debug)]
enum SearchResultOrEnd {
    Result(SearchResult),
    End(u32),
}

/// What one `WAIT_EVENT` output becomes in the shim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// An instance event (DRT_EVENT_*), queued for DrtGetEventData.
    Event(Event),
    /// A result of the search with this device handle.
    SearchResult(Handle, SearchResult),
    /// The end (its HRESULT) of the search with this device handle.
    SearchEnded(Handle, u32),
}

/// Parses the output of a completed `WAIT_EVENT` the way the event pump does; `None` for
/// bytes that are not an event record (the pump drops them). Public for the fuzz target.
pub fn parse_event(bytes: &[u8]) -> Option<Delivery> {
    Some(match EventRecord::decode(bytes).ok()? {
        EventRecord::SearchResult { search, match_type, key, endpoint, app_data, .. } => {
            Delivery::SearchResult(
                search,
                SearchResult {
                    match_type: MatchType::from_raw(match_type),
                    key: Key(*key),
                    app_data: app_data.to_vec(),
                    endpoint: socket_addr(&endpoint),
                },
            )
        }
        EventRecord::SearchEnded { search, hresult, .. } => Delivery::SearchEnded(search, hresult),
        EventRecord::StatusChanged { status, bootstrap, .. } => Delivery::Event(Event::StatusChanged {
            status: Status::from_raw(status),
            bootstrap: bootstrap.iter().map(|e| socket_addr(&e)).collect(),
        }),
        EventRecord::LeafSetKeyChanged { change, local_key, remote_key, .. } => {
            Delivery::Event(Event::LeafSetKeyChanged {
                change: if change == 0 { LeafSetChange::Added } else { LeafSetChange::Deleted },
                local_key: Key(*local_key),
                remote_key: Key(*remote_key),
            })
        }
        EventRecord::RegistrationStateChanged { registration, state, key, .. } => {
            Delivery::Event(Event::RegistrationStateChanged { registration, state, key: Key(*key) })
        }
    })
}

/// A DRT instance on its own open of the device.
#[derive(Debug)]
pub(crate) struct Instance {
    device: Device,
    pub handle: Handle,
    /// An attachment to one of the device's PNRP clouds rather than an instance of its own.
    attached: bool,
    pub port: u16,
    pub context: usize,
    signal: Option<Signal>,
    state: Mutex<InstanceState>,
    cond: Condvar,
}

impl Instance {
    /// OPEN_INSTANCE on `device` (which becomes this instance's), and the event pump.
    pub fn open(device: Device, p: &OpenParams, signal: Option<Signal>, context: usize) -> Result<Arc<Self>> {
        let mut records: Vec<EndpointRecord> = Vec::new();
        for s in &p.seeds {
            let r = endpoint_record(s);
            if !records.contains(&r) && records.len() < MAX_SEEDS {
                records.push(r);
            }
        }
        let mut seed_buf = [0u8; MAX_SEEDS * peerdrt_abi::ENDPOINT_LEN];
        let seeds = encode_endpoints(&records, &mut seed_buf).map_err(|_| Error(E_INVALIDARG))?;
        let request = Request::OpenInstance(OpenInstance {
            version_major: p.version.0,
            version_minor: p.version.1,
            port: p.port,
            scope: p.scope,
            scope_id: p.scope_id,
            max_addresses: p.max_addresses,
            security_mode: p.security_mode,
            security: p.security,
            root: p.root.as_ref(),
            identity: p
                .identity
                .as_ref()
                .map(|c| IdentityRecord { secret: &c.secret, certificate: &c.certificate }),
            seeds,
        });
        let output = call(&device, &request, 16)?;
        let Response::Instance { instance, port } = decode(ioctl::OPEN_INSTANCE, &output)? else {
            return Err(Error(E_UNEXPECTED));
        };
        Self::start(device, instance, port, false, signal, context)
    }

    /// ATTACH_CLOUD on `device` (which becomes this attachment's): the cloud's standing
    /// instance, used like an instance of its own; closing it detaches.
    pub fn attach(device: Device, cloud: &str) -> Result<Arc<Self>> {
        let output = call(&device, &Request::AttachCloud { name: cloud }, 16)?;
        let Response::Instance { instance, port } = decode(peerdrt_abi::pnrp::ATTACH_CLOUD, &output)? else {
            return Err(Error(E_UNEXPECTED));
        };
        Self::start(device, instance, port, true, None, 0)
    }

    fn start(
        device: Device,
        instance: Handle,
        port: u16,
        attached: bool,
        signal: Option<Signal>,
        context: usize,
    ) -> Result<Arc<Self>> {
        let this = Arc::new(Self {
            device: device.clone(),
            handle: instance,
            attached,
            port,
            context,
            signal,
            state: Mutex::new(InstanceState::default()),
            cond: Condvar::new(),
        });
        let weak = Arc::downgrade(&this);
        let spawned =
            thread::Builder::new().name("peerdrt-event-pump".into()).spawn(move || pump(weak, device));
        if spawned.is_err() {
            this.close();
            return Err(Error(E_OUTOFMEMORY));
        }
        Ok(this)
    }

    /// The device open this instance lives on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    fn check_open(&self) -> Result<()> {
        if lock(&self.state).closed { Err(Error(E_HANDLE)) } else { Ok(()) }
    }

    /// DrtClose: CLOSE_INSTANCE, then the open goes (cancelling the pump's wait). Idempotent.
    pub fn close(&self) {
        let searches = {
            let mut s = lock(&self.state);
            if s.closed {
                return;
            }
            s.closed = true;
            std::mem::take(&mut s.searches)
        };
        // Bounded: a device that does not answer must not hang DrtClose; closing the open ends
        // the instance anyway.
        let request = if self.attached {
            Request::DetachCloud { attachment: self.handle }
        } else {
            Request::CloseInstance { instance: self.handle }
        };
        if let Ok(p) = self.device.submit_request(&request, 0) {
            let _ = p.wait_timeout(Duration::from_secs(5));
        }
        self.device.close();
        let fires: Vec<Fire> = searches.values().map(|s| s.apply(Update::End(E_HANDLE))).collect();
        self.cond.notify_all();
        fires.into_iter().for_each(Fire::run);
    }

    /// The last status reported (None before the first STATUS_CHANGED).
    pub fn status(&self) -> Option<Status> {
        lock(&self.state).status
    }

    /// QUERY_INSTANCE.
    pub fn query(&self) -> Result<InstanceInfo> {
        self.check_open()?;
        let output = call(&self.device, &Request::QueryInstance { instance: self.handle }, 64)?;
        match decode(ioctl::QUERY_INSTANCE, &output)? {
            Response::InstanceInfo(info) => Ok(info),
            _ => Err(Error(E_UNEXPECTED)),
        }
    }

    /// DrtRegisterKey.
    pub fn register(&self, key: &Key, app_data: &[u8], credential: Option<&Credential>) -> Result<Handle> {
        self.check_open()?;
        let request = Request::RegisterKey {
            instance: self.handle,
            key: key.as_wire(),
            app_data,
            credential: credential.map(|c| IdentityRecord { secret: &c.secret, certificate: &c.certificate }),
        };
        let output = call(&self.device, &request, 8)?;
        match decode(ioctl::REGISTER_KEY, &output)? {
            Response::Registration { registration } => Ok(registration),
            _ => Err(Error(E_UNEXPECTED)),
        }
    }

    /// DrtUpdateKey.
    pub fn update(&self, registration: Handle, app_data: &[u8]) -> Result<()> {
        self.check_open()?;
        call(&self.device, &Request::UpdateKey { registration, app_data }, 0).map(drop)
    }

    /// DrtUnregisterKey.
    pub fn unregister(&self, registration: Handle) -> Result<()> {
        self.check_open()?;
        call(&self.device, &Request::UnregisterKey { registration }, 0).map(drop)
    }

    /// DrtStartSearch (arguments already validated).
    pub fn start_search(
        &self,
        key: &Key,
        info: &SearchInfo,
        timeout_ms: u32,
        signal: Option<Signal>,
        context: usize,
    ) -> Result<Arc<SearchCore>> {
        self.check_open()?;
        let range = info.range.map(|(min, max)| (min.0, max.0));
        let request = Request::StartSearch(StartSearch {
            instance: self.handle,
            key: key.as_wire(),
            iterative: info.iterative,
            allow_current_instance_match: info.allow_current_instance_match,
            any_match_in_range: info.any_match_in_range,
            max_endpoints: info.max_endpoints,
            range: range.as_ref().map(|(a, b)| (a, b)),
            timeout_ms,
        });
        let output = call(&self.device, &request, 8)?;
        let Response::Search { search } = decode(ioctl::START_SEARCH, &output)? else {
            return Err(Error(E_UNEXPECTED));
        };
        let core = Arc::new(SearchCore {
            handle: search,
            context,
            signal,
            state: Mutex::new(SearchState::default()),
            cond: Condvar::new(),
        });
        let mut fires = Vec::new();
        {
            let mut s = lock(&self.state);
            s.searches.insert(search, core.clone());
            let orphans = std::mem::take(&mut s.orphans);
            for (h, u) in orphans {
                if h == search {
                    fires.push(core.apply(match u {
                        SearchResultOrEnd::Result(r) => Update::Result(r),
                        SearchResultOrEnd::End(hr) => Update::End(hr),
                    }));
                } else {
                    s.orphans.push_back((h, u));
                }
            }
        }
        fires.into_iter().for_each(Fire::run);
        Ok(core)
    }

    /// DrtContinueSearch.
    pub fn continue_search(&self, search: &SearchCore) -> Result<()> {
        self.check_open()?;
        call(&self.device, &Request::ContinueSearch { search: search.handle }, 0).map(drop)
    }

    /// DrtGetSearchPath.
    pub fn search_path(&self, search: &SearchCore) -> Result<Vec<PathRecord>> {
        self.check_open()?;
        let output =
            call(&self.device, &Request::GetSearchPath { search: search.handle }, MAX_PATH_REPLY_LEN)?;
        match decode(ioctl::GET_SEARCH_PATH, &output)? {
            Response::Path(p) => Ok(p.iter().collect()),
            _ => Err(Error(E_UNEXPECTED)),
        }
    }

    /// DrtEndSearch.
    pub fn end_search(&self, search: &SearchCore) -> Result<()> {
        let fire = {
            let mut s = lock(&self.state);
            s.search_ended(search.handle);
            s.closed
        };
        if fire {
            return Ok(());
        }
        call(&self.device, &Request::EndSearch { search: search.handle }, 0).map(drop)
    }

    /// Looks at the next queued event and, if `take` accepts it, dequeues it.
    pub fn next_event<R>(&self, take: impl FnOnce(Option<&Event>) -> (R, bool)) -> R {
        let mut s = lock(&self.state);
        let (out, remove) = take(s.events.front());
        if remove {
            s.events.pop_front();
        }
        out
    }

    /// Waits up to `wait` for an event and dequeues it.
    pub fn wait_event(&self, wait: Duration) -> Option<Event> {
        let deadline = Instant::now() + wait;
        let mut s = lock(&self.state);
        loop {
            if let Some(e) = s.events.pop_front() {
                return Some(e);
            }
            let now = Instant::now();
            if now >= deadline || s.closed {
                return None;
            }
            s = self.cond.wait_timeout(s, deadline - now).unwrap_or_else(|p| p.into_inner()).0;
        }
    }

    /// Waits up to `wait` until the status satisfies `pred`; returns the last status.
    pub fn wait_status(&self, wait: Duration, pred: impl Fn(Status) -> bool) -> Option<Status> {
        let deadline = Instant::now() + wait;
        let mut s = lock(&self.state);
        loop {
            if s.status.is_some_and(&pred) || s.closed {
                return s.status;
            }
            let now = Instant::now();
            if now >= deadline {
                return s.status;
            }
            s = self.cond.wait_timeout(s, deadline - now).unwrap_or_else(|p| p.into_inner()).0;
        }
    }

    fn push_event(&self, s: &mut InstanceState, event: Event) -> Fire {
        s.queue_event(event);
        self.cond.notify_all();
        self.signal.as_ref().map_or(Fire::NONE, Signal::set)
    }

    fn route(&self, search: Handle, update: SearchResultOrEnd) {
        let core = {
            let mut s = lock(&self.state);
            match s.searches.get(&search) {
                Some(c) => c.clone(),
                None => {
                    s.keep_orphan(search, update);
                    return;
                }
            }
        };
        core.apply(match update {
            SearchResultOrEnd::Result(r) => Update::Result(r),
            SearchResultOrEnd::End(hr) => Update::End(hr),
        })
        .run();
    }

    fn dispatch(&self, bytes: &[u8]) {
        let event = match parse_event(bytes) {
            Some(Delivery::Event(event)) => event,
            Some(Delivery::SearchResult(search, result)) => {
                return self.route(search, SearchResultOrEnd::Result(result));
            }
            Some(Delivery::SearchEnded(search, hresult)) => {
                return self.route(search, SearchResultOrEnd::End(hresult));
            }
            None => return,
        };
        let fire = {
            let mut s = lock(&self.state);
            self.push_event(&mut s, event)
        };
        fire.run();
    }

    /// The open went away underneath us (the daemon stopped): the instance is faulted.
    fn connection_lost(&self) {
        let (fire, searches) = {
            let mut s = lock(&self.state);
            if s.closed {
                return;
            }
            let fire = self
                .push_event(&mut s, Event::StatusChanged { status: Status::Faulted, bootstrap: Vec::new() });
            (fire, s.searches.values().cloned().collect::<Vec<_>>())
        };
        fire.run();
        for core in searches {
            core.apply(Update::End(DRT_E_FAULTED)).run();
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.close();
    }
}

/// The event pump: one `WAIT_EVENT` outstanding at a time, until the open closes.
fn pump(instance: Weak<Instance>, device: Device) {
    let Ok(input) = device::encode(&Request::WaitEvent) else { return };
    loop {
        let reply = device.ioctl(ioctl::WAIT_EVENT, &input, MAX_EVENT_LEN);
        let Some(instance) = instance.upgrade() else { return };
        match reply {
            Ok((status::SUCCESS, output)) => instance.dispatch(&output),
            Ok((status::INSUFFICIENT_RESOURCES, _)) => thread::sleep(Duration::from_millis(10)),
            _ => {
                instance.connection_lost();
                return;
            }
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::io::{Read, Write};
    use std::os::unix::net::{UnixListener, UnixStream};

    use peerdrt_abi::frame::{REQUEST_HEADER_LEN, RequestHeader, ResponseHeader};
    use peerdrt_abi::{EndpointRecord, EventRecord};

    use super::*;

    /// The `n`-th event of a kind the pump queues.
    fn registration_event(n: u64) -> Event {
        Event::RegistrationStateChanged { registration: n, state: 1, key: Key([0; 32]) }
    }

    fn registrations(s: &InstanceState) -> Vec<u64> {
        s.events
            .iter()
            .map(|e| match e {
                Event::RegistrationStateChanged { registration, .. } => *registration,
                other => panic!("unexpected {other:?}"),
            })
            .collect()
    }

    #[test]
    fn an_instance_queues_max_queued_events_and_then_drops_the_oldest() {
        let mut s = InstanceState::default();
        let edge = MAX_QUEUED_EVENTS as u64;
        for n in 0..edge {
            s.queue_event(registration_event(n));
        }
        assert_eq!(registrations(&s), (0..edge).collect::<Vec<_>>());
        s.queue_event(registration_event(edge));
        assert_eq!(registrations(&s), (1..=edge).collect::<Vec<_>>());
    }

    fn orphan_searches(s: &InstanceState) -> Vec<Handle> {
        s.orphans.iter().map(|(h, _)| *h).collect()
    }

    #[test]
    fn results_of_max_orphans_unknown_searches_wait_and_then_the_oldest_goes() {
        let mut s = InstanceState::default();
        let edge = MAX_ORPHANS as Handle;
        for search in 0..edge {
            s.keep_orphan(search, SearchResultOrEnd::End(DRT_E_NO_MORE));
        }
        assert_eq!(orphan_searches(&s), (0..edge).collect::<Vec<_>>());
        s.keep_orphan(edge, SearchResultOrEnd::End(DRT_E_NO_MORE));
        assert_eq!(orphan_searches(&s), (1..=edge).collect::<Vec<_>>());
    }

    #[test]
    fn late_results_of_the_last_max_ended_searches_are_dropped_and_of_older_ones_kept() {
        let mut s = InstanceState::default();
        let edge = MAX_ENDED as Handle;
        for search in 0..edge {
            s.search_ended(search);
        }
        // At the edge: every ended search's late result is dropped.
        for search in 0..edge {
            s.keep_orphan(search, SearchResultOrEnd::End(DRT_E_NO_MORE));
        }
        assert!(s.orphans.is_empty());
        // One past: the first ended is forgotten, and a result for it waits like any other.
        s.search_ended(edge);
        s.keep_orphan(0, SearchResultOrEnd::End(DRT_E_NO_MORE));
        s.keep_orphan(1, SearchResultOrEnd::End(DRT_E_NO_MORE));
        s.keep_orphan(edge, SearchResultOrEnd::End(DRT_E_NO_MORE));
        assert_eq!(orphan_searches(&s), [0]);
    }

    #[test]
    fn ending_a_search_drops_the_results_waiting_for_it() {
        let mut s = InstanceState::default();
        s.keep_orphan(5, SearchResultOrEnd::End(DRT_E_NO_MORE));
        s.keep_orphan(6, SearchResultOrEnd::End(DRT_E_NO_MORE));
        s.search_ended(5);
        assert_eq!(orphan_searches(&s), [6]);
    }

    fn read_request(s: &mut UnixStream) -> RequestHeader {
        let mut h = [0u8; REQUEST_HEADER_LEN];
        s.read_exact(&mut h).unwrap();
        let h = RequestHeader::decode(&h).unwrap();
        let mut input = vec![0u8; h.input_len];
        s.read_exact(&mut input).unwrap();
        h
    }

    fn reply(s: &mut UnixStream, id: u64, response: &Response<'_>) {
        let mut out = vec![0u8; 8192];
        let n = response.encode(&mut out).unwrap();
        s.write_all(&ResponseHeader { request_id: id, status: 0, information: n }.encode()).unwrap();
        s.write_all(&out[..n]).unwrap();
    }

    /// The device may complete the pump's pending wait with a search's first result before it
    /// answers the START_SEARCH that names the search: the result must not be lost.
    #[test]
    fn results_that_overtake_the_start_search_reply_are_kept() {
        let dir = std::env::temp_dir().join(format!("peerdrt-shim-client-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("device.sock");
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).unwrap();
        const SEARCH: Handle = 0x0001_0000_3001_0001;
        let server = thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let open = read_request(&mut s);
            assert_eq!(open.code, ioctl::OPEN_INSTANCE);
            reply(
                &mut s,
                open.request_id,
                &Response::Instance { instance: 0x0001_0000_1000_0001, port: 4000 },
            );
            let (a, b) = (read_request(&mut s), read_request(&mut s));
            let (wait, start) = if a.code == ioctl::WAIT_EVENT { (a, b) } else { (b, a) };
            assert_eq!((wait.code, start.code), (ioctl::WAIT_EVENT, ioctl::START_SEARCH));
            let key = [7u8; 32];
            let result = EventRecord::SearchResult {
                instance: 1,
                search: SEARCH,
                match_type: 0,
                key: &key,
                endpoint: EndpointRecord { addr: [0; 16], port: 4001 },
                app_data: b"early",
            };
            reply(&mut s, wait.request_id, &Response::Event(result));
            let next_wait = read_request(&mut s);
            reply(&mut s, start.request_id, &Response::Search { search: SEARCH });
            let end = EventRecord::SearchEnded { instance: 1, search: SEARCH, hresult: DRT_E_NO_MORE };
            reply(&mut s, next_wait.request_id, &Response::Event(end));
            // Answer what follows (CLOSE_INSTANCE) until the client hangs up; waits stay pending.
            let mut h = [0u8; REQUEST_HEADER_LEN];
            while s.read_exact(&mut h).is_ok() {
                let h = RequestHeader::decode(&h).unwrap();
                let mut input = vec![0u8; h.input_len];
                s.read_exact(&mut input).unwrap();
                if h.code != ioctl::WAIT_EVENT {
                    reply(&mut s, h.request_id, &Response::Empty);
                }
            }
        });
        let device = Device::connect(&path).unwrap();
        let params = OpenParams {
            version: (6, 101),
            port: 0,
            scope: 1,
            scope_id: 0,
            max_addresses: 4,
            security_mode: 0,
            security: SecurityKind::Null,
            root: None,
            identity: None,
            seeds: vec!["127.0.0.1:4001".parse().unwrap()],
        };
        let instance = Instance::open(device, &params, None, 0).unwrap();
        assert_eq!((instance.port, instance.handle), (4000, 0x0001_0000_1000_0001));
        let search = instance.start_search(&Key([7; 32]), &SearchInfo::exact(), 1000, None, 0).unwrap();
        let first = search.wait_next(Duration::from_secs(5)).unwrap().unwrap();
        assert_eq!(
            (first.key, first.app_data.as_slice(), first.endpoint.port()),
            (Key([7; 32]), &b"early"[..], 4001)
        );
        assert_eq!(search.wait_next(Duration::from_secs(5)), Ok(None), "then DRT_E_NO_MORE");
        instance.close();
        server.join().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
