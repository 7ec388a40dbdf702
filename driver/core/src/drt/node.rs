//! The sans-IO DRT node: datagrams, timer expiries and API calls go in; datagrams to send,
//! the next deadline and events come out.
//!
//! One `Node` is one DRT instance bound to one transport. The kernel driver, the Linux daemon
//! and the simulator all drive it the same way: feed [`Node::handle_datagram`] and
//! [`Node::handle_timeout`], then drain [`Node::poll_transmit`] and [`Node::poll_event`], and
//! call back at [`Node::next_deadline`].

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::net::Ipv6Addr;
use core::time::Duration;

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use sha1::{Digest, Sha1};

use super::cache::{CacheEntry, Inserted, RouteCache};
use super::config::*;
use super::keyspace::{common_prefix_bits, distance};
use super::rate::{RateLimiter, TokenBucket};
use super::search::{Asked, Fetch, Purpose, Search, SearchSettings, Step};
use super::security::{BoxedProvider, KeyCredential};
use super::types::*;
use super::verified::{Deferral, DeferredRequests, MAX_PENDING_CHALLENGES, VerifiedSources};
use crate::time::Instant;
use crate::wire::fragment::{FRAGMENT_LEN, MAX_AUTHORITY_BUFFER_LEN, fragments};
use crate::wire::*;

/// A datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Where to.
    pub destination: Endpoint,
    /// The encoded datagram.
    pub payload: Vec<u8>,
}

/// Counters, for benchmarks and diagnostics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Datagrams handed in.
    pub received: u64,
    /// Datagrams that did not decode, or came with another version or a low port.
    pub malformed: u64,
    /// Datagrams queued for sending.
    pub sent: u64,
    /// Datagrams dropped because the outbox was full.
    pub outbox_dropped: u64,
    /// Events dropped because the event queue was full.
    pub events_dropped: u64,
    /// Retransmissions.
    pub retransmitted: u64,
    /// Datagrams dropped unread by the rate limits.
    pub rate_limited: u64,
    /// Datagrams not sent because they would have exceeded an unverified source's byte budget.
    pub amplification_refused: u64,
    /// Route entries naming a third party not verified: the source was unverified, or the
    /// third-party probe budget was spent.
    pub third_party_refused: u64,
    /// Requests from unverified sources held back until a challenge was answered.
    pub deferred: u64,
    /// SOLICITs sent to re-contact seeds or lost peers (partition detection).
    pub reseed_solicits: u64,
}

#[derive(Debug)]
struct Registration {
    id: RegistrationId,
    key: Key,
    app_data: Vec<u8>,
    credential: KeyCredential,
}

#[derive(Debug, Clone)]
enum Purpose2 {
    Solicit {
        nonce: Nonce,
    },
    Request,
    Flood,
    Verify {
        key: Key,
        nonce: Nonce,
        version: ProtocolVersion,
    },
    Lookup {
        search: SearchId,
        key: Key,
    },
    Inquire {
        search: SearchId,
        key: Key,
        nonce: Nonce,
    },
    /// A bare FLOOD asking an unverified source to complete a round trip (its ACK does).
    Challenge,
}

#[derive(Debug)]
struct Pending {
    message_id: u32,
    peer: Endpoint,
    purpose: Purpose2,
    payload: Vec<u8>,
    sent_at: Instant,
    deadline: Instant,
    rto: Duration,
    retries_left: u8,
    retransmitted: bool,
}

#[derive(Debug)]
struct Conversation {
    peer: Endpoint,
    hashed_nonce: HashedNonce,
    expires: Instant,
}

/// A DRT node (one DRT instance).
#[derive(Debug)]
pub struct Node {
    version: ProtocolVersion,
    port: u16,
    addresses: Vec<Ipv6Addr>,
    local: Endpoint,
    seeds: Vec<Endpoint>,
    security: BoxedProvider,
    timing: Timing,
    rng: ChaCha8Rng,
    node_id: Key,
    status: Option<Status>,
    cache: RouteCache,
    cache_dirty: bool,
    registrations: Vec<Registration>,
    searches: Vec<Search>,
    pending: Vec<Pending>,
    conversations: Vec<Conversation>,
    reassembler: Reassembler<Endpoint>,
    outbox: VecDeque<Transmit>,
    events: VecDeque<Event>,
    leaf_sets: Vec<(Key, Vec<Key>)>,
    next_maintenance: Option<Instant>,
    bootstrap_deadline: Option<Instant>,
    next_handle: u32,
    closed: bool,
    stats: Stats,
    /// Smoothed RTT over all peers, for peers not measured yet.
    rtt_all: Option<(Duration, Duration)>,
    /// Reused buffer for encoding AUTHORITY_BUFFERs (up to 37,348 bytes).
    authority_scratch: Vec<u8>,
    /// Endpoints that completed a round trip (anti-amplification).
    verified: VerifiedSources,
    /// Requests from unverified sources awaiting their challenge's answer.
    deferred: DeferredRequests,
    /// Per-source and shared token buckets.
    limiter: RateLimiter,
    /// While a datagram from an unverified source is handled: that source and the bytes that
    /// may still be sent to it in reaction.
    reply_budget: Option<(Endpoint, usize)>,
    /// Partition detection: see [`Node::detect_partition`].
    partition: PartitionWatch,
    /// Buffers of sent datagrams given back by the host ([`Node::recycle`]), reused by
    /// [`Node::encode`] so that answering allocates nothing in steady state.
    buffers: Vec<Vec<u8>>,
    /// How application searches run (disjoint paths).
    search_settings: SearchSettings,
    /// Verifications towards third parties (see [`THIRD_PARTY_PROBE_BURST`]).
    third_party_probes: TokenBucket,
}

/// What partition detection remembers between maintenance rounds.
#[derive(Debug, Default)]
struct PartitionWatch {
    /// When the current re-seeding interval began.
    interval_start: Option<Instant>,
    /// Peers lost as unreachable since then.
    lost: usize,
    /// Until when a suspected partition keeps the node re-seeding.
    suspect_until: Option<Instant>,
    /// Peers lost as unreachable (at most [`MAX_DEPARTED`]), and when.
    departed: Vec<(Endpoint, Instant)>,
    /// The cache size when the last re-seeding round went out: once the cache grows past it,
    /// the registrations are announced to the (re)found neighbourhood.
    announce_above: Option<usize>,
}

fn endpoint_of(entry: &RouteEntry<'_>) -> Option<Endpoint> {
    entry.addresses.iter().next().map(|addr| Endpoint { addr, port: entry.port })
}

/// The wire form of a provider's MEMBERSHIP proof (credential, signature, key identifier).
fn as_proof(proof: &Option<(Vec<u8>, Vec<u8>, Vec<u8>)>) -> Option<MembershipProof<'_>> {
    proof.as_ref().map(|(credential, signature, key_identifier)| MembershipProof {
        credential,
        signature,
        key_identifier,
    })
}

/// A FLOOD with no route entry: a knock (`no_ack`) or a challenge (expects an ACK).
fn bare_flood(no_ack: bool) -> Message<'static> {
    Message::Flood(Flood {
        no_ack,
        validate_key: &[0; KEY_LEN],
        keytoken: None,
        revoke_cpa: None,
        route_entry: None,
        flooded: None,
    })
}

fn sha1(nonce: &Nonce) -> HashedNonce {
    Sha1::digest(nonce).into()
}

impl Node {
    /// A node that has not started yet.
    pub fn new(config: NodeConfig) -> Result<Self, DrtError> {
        let count = config.addresses.len();
        if !(MIN_ROUTE_ADDRESSES..=MAX_ROUTE_ADDRESSES).contains(&count) {
            return Err(DrtError::InvalidArgument);
        }
        if config.port < MIN_ROUTE_PORT {
            return Err(DrtError::InvalidArgument);
        }
        let mut rng = ChaCha8Rng::from_seed(config.rng_seed);
        let mut node_id = [0u8; 32];
        rng.fill_bytes(&mut node_id);
        let mut seeds = config.seeds;
        seeds.truncate(MAX_SEEDS);
        let local = Endpoint { addr: config.addresses[0], port: config.port };
        Ok(Self {
            version: config.version,
            port: config.port,
            addresses: config.addresses,
            local,
            seeds,
            security: config.security,
            timing: config.timing,
            rng,
            node_id,
            status: None,
            cache: RouteCache::new(node_id),
            cache_dirty: false,
            registrations: Vec::new(),
            searches: Vec::new(),
            pending: Vec::new(),
            conversations: Vec::new(),
            reassembler: Reassembler::new(),
            outbox: VecDeque::new(),
            events: VecDeque::new(),
            leaf_sets: Vec::new(),
            next_maintenance: None,
            bootstrap_deadline: None,
            next_handle: 1,
            closed: false,
            stats: Stats::default(),
            rtt_all: None,
            authority_scratch: Vec::new(),
            verified: VerifiedSources::default(),
            deferred: DeferredRequests::default(),
            limiter: RateLimiter::new(Instant(0), config.flood),
            reply_budget: None,
            partition: PartitionWatch::default(),
            buffers: Vec::new(),
            search_settings: SearchSettings::default(),
            third_party_probes: TokenBucket::new(THIRD_PARTY_PROBE_BURST, THIRD_PARTY_PROBE_RATE, Instant(0)),
        })
    }

    // ----- the outside view -------------------------------------------------------------------

    /// Current status (ALONE until bootstrap has found a peer).
    pub fn status(&self) -> Status {
        self.status.unwrap_or(Status::Alone)
    }

    /// This node's primary endpoint.
    pub fn local_endpoint(&self) -> Endpoint {
        self.local
    }

    /// The protocol version.
    pub fn version(&self) -> ProtocolVersion {
        self.version
    }

    /// The route cache.
    pub fn cache(&self) -> &RouteCache {
        &self.cache
    }

    /// How application searches run.
    pub fn search_settings(&self) -> SearchSettings {
        self.search_settings
    }

    /// Sets how application searches started from now on run (disjoint paths).
    pub fn set_search_settings(&mut self, settings: SearchSettings) {
        self.search_settings = settings;
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Heap bytes this node holds (cache, registrations, searches, queues), for memory figures.
    pub fn heap_bytes(&self) -> usize {
        use core::mem::size_of;
        self.cache.heap_bytes()
            + self.registrations.capacity() * size_of::<Registration>()
            + self.registrations.iter().map(|r| r.app_data.capacity()).sum::<usize>()
            + self.searches.capacity() * size_of::<Search>()
            + self
                .searches
                .iter()
                .map(|s| {
                    s.candidates.capacity() * size_of::<super::search::Candidate>()
                        + s.path.capacity() * size_of::<PathEntry>()
                        + s.visited.capacity() * size_of::<Endpoint>()
                })
                .sum::<usize>()
            + self.pending.capacity() * size_of::<Pending>()
            + self.pending.iter().map(|p| p.payload.capacity()).sum::<usize>()
            + self.conversations.capacity() * size_of::<Conversation>()
            + self.outbox.capacity() * size_of::<Transmit>()
            + self.outbox.iter().map(|t| t.payload.capacity()).sum::<usize>()
            + self.events.capacity() * size_of::<Event>()
            + self.leaf_sets.iter().map(|(_, l)| l.capacity() * 32 + 56).sum::<usize>()
            + self.reassembler.reserved_bytes()
            + self.authority_scratch.capacity()
            + self.verified.heap_bytes()
            + self.deferred.heap_bytes()
            + self.limiter.heap_bytes()
            + self.partition.departed.capacity() * size_of::<(Endpoint, Instant)>()
            + self.buffers.capacity() * size_of::<Vec<u8>>()
            + self.buffers.iter().map(Vec::capacity).sum::<usize>()
    }

    /// Whether `endpoint` has completed a round trip with this node (see [`super::verified`]).
    pub fn is_verified(&self, endpoint: &Endpoint, now: Instant) -> bool {
        self.cache.by_endpoint(endpoint).is_some() || self.verified.contains(endpoint, now)
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.outbox.pop_front()
    }

    /// Gives back the payload of a sent [`Transmit`]: later datagrams are encoded into it, so a
    /// host that returns what it sent lets the node answer without allocating. At most
    /// [`MAX_POOLED_BUFFERS`] of at most [`MAX_POOLED_BUFFER_CAPACITY`] bytes each are kept.
    pub fn recycle(&mut self, mut payload: Vec<u8>) {
        if self.buffers.len() < MAX_POOLED_BUFFERS && payload.capacity() <= MAX_POOLED_BUFFER_CAPACITY {
            payload.clear();
            self.buffers.push(payload);
        }
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Node::handle_timeout`] must be called next.
    pub fn next_deadline(&self) -> Option<Instant> {
        let searches = self.searches.iter().filter(|s| !s.done).map(|s| s.deadline);
        let pending = self.pending.iter().map(|p| p.deadline);
        let conversations = self.conversations.iter().map(|c| c.expires);
        searches
            .chain(pending)
            .chain(conversations)
            .chain(self.next_maintenance)
            .chain(self.bootstrap_deadline)
            .chain(self.reassembler.next_deadline())
            .min()
    }

    /// The search path of a search (DrtGetSearchPath).
    pub fn search_path(&self, id: SearchId) -> Option<&[PathEntry]> {
        self.searches.iter().find(|s| s.id == id && s.purpose == Purpose::App).map(|s| &s.path[..])
    }

    /// Locally registered keys.
    pub fn local_keys(&self) -> impl Iterator<Item = &Key> {
        self.registrations.iter().map(|r| &r.key)
    }

    // ----- API calls --------------------------------------------------------------------------

    /// Starts the node: bootstrap from the seeds (DrtOpen).
    pub fn start(&mut self, now: Instant) {
        if self.next_maintenance.is_some() || self.closed {
            return;
        }
        self.next_maintenance = Some(now.saturating_add(self.timing.maintenance_sparse));
        self.bootstrap(now);
        self.after_input(now);
    }

    /// DrtRegisterKey.
    pub fn register(
        &mut self,
        now: Instant,
        key: Key,
        app_data: &[u8],
        credential: KeyCredential,
    ) -> Result<RegistrationId, DrtError> {
        self.check_open()?;
        if app_data.is_empty() || app_data.len() > MAX_PAYLOAD_SIZE {
            return Err(DrtError::InvalidArgument);
        }
        if self.registrations.iter().any(|r| r.key == key) {
            return Err(DrtError::DuplicateKey);
        }
        if self.registrations.len() >= MAX_REGISTRATIONS {
            return Err(DrtError::LimitReached);
        }
        self.security.check_registration(&key, &credential)?;
        let id = RegistrationId(self.next_handle());
        self.registrations.push(Registration { id, key, app_data: app_data.to_vec(), credential });
        self.update_anchors();
        self.leaf_sets.push((key, Vec::new()));
        self.cache_dirty = true;
        if !self.cache.is_empty() {
            self.start_announce(now, key);
        }
        self.after_input(now);
        Ok(id)
    }

    /// DrtUpdateKey: later searches see the new application data.
    pub fn update(&mut self, now: Instant, id: RegistrationId, app_data: &[u8]) -> Result<(), DrtError> {
        self.check_open()?;
        if app_data.is_empty() || app_data.len() > MAX_PAYLOAD_SIZE {
            return Err(DrtError::InvalidArgument);
        }
        let reg = self.registrations.iter_mut().find(|r| r.id == id).ok_or(DrtError::InvalidHandle)?;
        reg.app_data.clear();
        reg.app_data.extend_from_slice(app_data);
        self.after_input(now);
        Ok(())
    }

    /// DrtUnregisterKey: revoke the record at the leaf set and forget the key.
    pub fn unregister(&mut self, now: Instant, id: RegistrationId) -> Result<(), DrtError> {
        let index = self.registrations.iter().position(|r| r.id == id).ok_or(DrtError::InvalidHandle)?;
        let reg = self.registrations.remove(index);
        let targets: Vec<Endpoint> = self.cache.leaf_set(&reg.key).iter().map(|e| e.endpoint).collect();
        let mut cpa = Vec::new();
        self.security.seal(&reg.key, &reg.credential, &[], &[0; NONCE_LEN], true, &mut cpa);
        for to in targets {
            self.send_flood(now, to, &reg.key, Some(&cpa), false);
        }
        self.searches.retain(|s| s.purpose != Purpose::Announce(reg.key));
        if let Some(i) = self.leaf_sets.iter().position(|(k, _)| *k == reg.key) {
            let (local_key, old) = self.leaf_sets.remove(i);
            for remote_key in old {
                self.push_event(Event::LeafSetKeyChanged {
                    local_key,
                    remote_key,
                    change: LeafSetChange::Deleted,
                });
            }
        }
        self.update_anchors();
        self.after_input(now);
        Ok(())
    }

    /// DrtStartSearch.
    pub fn start_search(
        &mut self,
        now: Instant,
        target: Key,
        info: SearchInfo,
        timeout: Duration,
    ) -> Result<SearchId, DrtError> {
        self.check_open()?;
        info.validate(&target)?;
        if self.searches.len() >= MAX_SEARCHES {
            return Err(DrtError::LimitReached);
        }
        let id = SearchId(self.next_handle());
        let mut search = Search::new(id, Purpose::App, target, info, now.saturating_add(timeout), self.local);
        // Exact and any-in-range searches run disjoint paths; a nearest or range search asks
        // every node around its target anyway, and an iterative one goes hop by hop.
        if (search.exact_only() || search.info.any_match_in_range) && !search.info.iterative {
            search.paths = self.search_settings.disjoint_paths();
        }
        self.seed_search(&mut search, true);
        search.assign_paths();
        // This instance's own matches need no network: exact ones are reported at once.
        if search.exact_only() || search.info.any_match_in_range {
            let local: Vec<SearchResult> = search
                .candidates
                .iter()
                .filter(|c| {
                    c.endpoint == self.local
                        && matches!(c.fetch, Fetch::Done(_))
                        && search.info.accepts(&target, &c.key)
                })
                .take(search.info.max_endpoints as usize)
                .map(|c| search.result_of(c))
                .collect();
            for result in local {
                search.delivered += 1;
                self.push_event(Event::SearchResult { search: id, result });
            }
        }
        self.searches.push(search);
        self.after_input(now);
        Ok(id)
    }

    /// DrtContinueSearch: an iterative search goes on after an intermediate result.
    pub fn continue_search(&mut self, now: Instant, id: SearchId) -> Result<(), DrtError> {
        let search = self
            .searches
            .iter_mut()
            .find(|s| s.id == id && s.purpose == Purpose::App)
            .ok_or(DrtError::InvalidHandle)?;
        if !search.info.iterative || !search.waiting || search.done {
            return Err(DrtError::Unexpected);
        }
        search.waiting = false;
        self.after_input(now);
        Ok(())
    }

    /// DrtEndSearch.
    pub fn end_search(&mut self, id: SearchId) -> Result<(), DrtError> {
        let index = self
            .searches
            .iter()
            .position(|s| s.id == id && s.purpose == Purpose::App)
            .ok_or(DrtError::InvalidHandle)?;
        self.searches.swap_remove(index);
        self.pending.retain(|p| !matches!(p.purpose, Purpose2::Lookup { search, .. } | Purpose2::Inquire { search, .. } if search == id));
        Ok(())
    }

    /// DrtClose: unregister every key and stop.
    pub fn close(&mut self, now: Instant) {
        let ids: Vec<RegistrationId> = self.registrations.iter().map(|r| r.id).collect();
        for id in ids {
            let _ = self.unregister(now, id);
        }
        self.searches.clear();
        self.pending.clear();
        self.closed = true;
        self.next_maintenance = None;
        self.bootstrap_deadline = None;
    }

    fn check_open(&self) -> Result<(), DrtError> {
        if self.closed || self.status == Some(Status::Faulted) { Err(DrtError::Faulted) } else { Ok(()) }
    }

    fn next_handle(&mut self) -> u32 {
        let handle = self.next_handle;
        self.next_handle = self.next_handle.wrapping_add(1).max(1);
        handle
    }

    fn update_anchors(&mut self) {
        let keys: Vec<Key> = self.registrations.iter().map(|r| r.key).collect();
        self.cache.set_local_keys(self.node_id, &keys);
    }

    // ----- inputs -----------------------------------------------------------------------------

    /// A datagram arrived from `from`.
    pub fn handle_datagram(&mut self, now: Instant, from: Endpoint, bytes: &[u8]) {
        if self.closed {
            return;
        }
        self.stats.received += 1;
        let verified = self.is_verified(&from, now);
        if self.limiter.admit(now, from, verified).is_err() {
            self.stats.rate_limited += 1;
            return;
        }
        self.dispatch(now, from, bytes, verified);
        self.after_input(now);
    }

    /// Decodes and handles one datagram; what it sends back to an unverified source is bounded
    /// by the datagram's own length.
    fn dispatch(&mut self, now: Instant, from: Endpoint, bytes: &[u8], verified: bool) {
        let datagram = match Datagram::decode(bytes) {
            Ok(d) if d.version == self.version && from.port >= MIN_ROUTE_PORT => d,
            _ => {
                self.stats.malformed += 1;
                return;
            }
        };
        let outer = self.reply_budget.take();
        self.reply_budget = (!verified).then_some((from, bytes.len()));
        let id = datagram.message_id;
        match &datagram.message {
            Message::Solicit(m) => self.on_solicit(now, from, id, m, bytes),
            Message::Advertise(m) => self.on_advertise(now, from, m),
            Message::Request(Request::Plain(body)) => self.on_request(now, from, id, body, bytes),
            // Fragmented REQUESTs belong to MEMBERSHIP bootstrap, which sends none yet.
            Message::Request(Request::Fragment { .. }) => {}
            Message::Flood(m) => self.on_flood(now, from, id, m),
            Message::Inquire(m) => self.on_inquire(now, from, id, m, bytes),
            Message::Authority(m) => self.on_authority(now, from, id, m),
            Message::Ack(m) => {
                if let Some((p, _)) = self.take_pending(m.acked_id, from, now)
                    && matches!(p.purpose, Purpose2::Challenge)
                {
                    // The source receives at its address: answer what it asked meanwhile.
                    for request in self.deferred.take(&from) {
                        self.dispatch(now, from, &request, true);
                    }
                }
            }
            Message::Lookup(m) => self.on_lookup(now, from, id, m, bytes),
        }
        self.reply_budget = outer;
    }

    /// Bytes that may still be sent to `to` in reaction to the datagram being handled (`None`:
    /// no limit, the source is verified or `to` is someone else).
    fn reply_allowance(&self, to: &Endpoint) -> Option<usize> {
        self.reply_budget.filter(|(source, _)| source == to).map(|(_, left)| left)
    }

    /// Holds back a request from an unverified source and challenges the source, once.
    fn defer_and_challenge(&mut self, now: Instant, from: Endpoint, message_id: u32, bytes: &[u8]) {
        match self.deferred.defer(now, from, message_id, bytes) {
            Deferral::Held => self.stats.deferred += 1,
            Deferral::Duplicate => {}
            Deferral::TooLarge => {
                self.stats.amplification_refused += 1;
                return;
            }
        }
        self.challenge(now, from);
    }

    /// Sends `from` a challenge (a bare FLOOD asking for an ACK) unless one is outstanding or
    /// the datagram being handled is too small to pay for it. A bare SOLICIT (36 bytes) cannot:
    /// a node with no key to put in its SOLICIT also sends a knock (see [`Node::on_flood`]).
    fn challenge(&mut self, now: Instant, from: Endpoint) {
        if let Some(i) =
            self.pending.iter().position(|p| p.peer == from && matches!(p.purpose, Purpose2::Challenge))
        {
            // The source repeated its request: the challenge (or its ACK) may have been lost,
            // and this datagram pays for sending it again.
            let p = &mut self.pending[i];
            if self.reply_budget.is_none_or(|(_, allowed)| p.payload.len() <= allowed) {
                p.retransmitted = true;
                p.deadline = now.saturating_add(p.rto);
                let transmit = Transmit { destination: from, payload: p.payload.clone() };
                self.stats.retransmitted += 1;
                self.queue(transmit);
            }
            return;
        }
        let challenges = self.pending.iter().filter(|p| matches!(p.purpose, Purpose2::Challenge)).count();
        if challenges >= MAX_PENDING_CHALLENGES || self.pending.len() >= MAX_PENDING {
            return;
        }
        let id = self.random_id();
        let Some(payload) = self.encode(id, bare_flood(false)) else { return };
        if self.reply_allowance(&from).is_some_and(|allowed| payload.len() > allowed) {
            return;
        }
        // No retransmission: the source's own retransmitted request brings a new challenge,
        // so every challenge answers one datagram received.
        let sent = self.send_request(now, from, Purpose2::Challenge, id, bare_flood(false));
        if sent && let Some(p) = self.pending.last_mut() {
            p.retries_left = 0;
        }
    }

    /// Time passed: retransmit, give up, maintain, time searches out.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.closed {
            return;
        }
        self.reassembler.expire(now);
        self.deferred.expire(now);
        self.conversations.retain(|c| c.expires > now);
        // Requests whose timer expired: retransmit, or give up after the retries.
        let mut i = 0;
        while i < self.pending.len() {
            if self.pending[i].deadline > now {
                i += 1;
                continue;
            }
            if self.pending[i].retries_left > 0 {
                let p = &mut self.pending[i];
                if !p.retransmitted {
                    // Its first timeout passed: it no longer holds back its search.
                    if let Purpose2::Lookup { search, key } | Purpose2::Inquire { search, key, .. } =
                        p.purpose
                        && let Some(s) = self.searches.iter_mut().find(|s| s.id == search)
                    {
                        s.first_timeout(&key, &p.peer);
                    }
                }
                let p = &mut self.pending[i];
                p.retries_left -= 1;
                p.retransmitted = true;
                p.rto = (p.rto * 2).min(self.timing.max_rto);
                p.deadline = now.saturating_add(p.rto);
                let transmit = Transmit { destination: p.peer, payload: p.payload.clone() };
                self.stats.retransmitted += 1;
                self.queue(transmit);
                i += 1;
            } else {
                let p = self.pending.swap_remove(i);
                self.give_up(now, p);
            }
        }
        // Searches past their timeout.
        let expired: Vec<SearchId> =
            self.searches.iter().filter(|s| !s.done && s.deadline <= now).map(|s| s.id).collect();
        for id in expired {
            self.end(id, SearchEnd::TimedOut);
        }
        if self.bootstrap_deadline.is_some_and(|d| d <= now) {
            self.bootstrap_deadline = None;
            if self.cache.is_empty() {
                let seeds = self.seeds.clone();
                self.set_status(Status::Alone, seeds);
            }
        }
        if self.next_maintenance.is_some_and(|d| d <= now) {
            self.maintain(now);
        }
        self.after_input(now);
    }

    /// What every input ends with: searches advance, leaf-set and status changes are reported.
    fn after_input(&mut self, now: Instant) {
        self.pump_searches(now);
        if self.cache_dirty {
            self.cache_dirty = false;
            self.report_leaf_sets();
            if !self.cache.is_empty() && self.status != Some(Status::Active) {
                self.set_status(Status::Active, Vec::new());
                // Registrations made while alone are announced now.
                let keys: Vec<Key> = self.registrations.iter().map(|r| r.key).collect();
                for key in keys {
                    self.start_announce(now, key);
                }
                self.pump_searches(now);
            } else if self.cache.is_empty() && self.status == Some(Status::Active) {
                self.set_status(Status::Alone, Vec::new());
            } else if self.partition.announce_above.is_some_and(|size| self.cache.len() > size) {
                // Re-seeding found peers: announce this node's keys to them now rather than at
                // the next maintenance round.
                self.partition.announce_above = None;
                let keys: Vec<Key> = self.registrations.iter().map(|r| r.key).collect();
                for key in keys {
                    self.start_announce(now, key);
                }
                self.pump_searches(now);
            }
        }
    }

    fn set_status(&mut self, status: Status, bootstrap: Vec<Endpoint>) {
        if self.status != Some(status) {
            self.status = Some(status);
            self.push_event(Event::StatusChanged { status, bootstrap });
        }
    }

    fn report_leaf_sets(&mut self) {
        for i in 0..self.leaf_sets.len() {
            let local_key = self.leaf_sets[i].0;
            let current: Vec<Key> = self.cache.leaf_set(&local_key).iter().map(|e| e.key).collect();
            let old = core::mem::take(&mut self.leaf_sets[i].1);
            for remote_key in old.iter().filter(|k| !current.contains(k)) {
                self.push_event(Event::LeafSetKeyChanged {
                    local_key,
                    remote_key: *remote_key,
                    change: LeafSetChange::Deleted,
                });
            }
            for remote_key in current.iter().filter(|k| !old.contains(k)) {
                self.push_event(Event::LeafSetKeyChanged {
                    local_key,
                    remote_key: *remote_key,
                    change: LeafSetChange::Added,
                });
            }
            self.leaf_sets[i].1 = current;
        }
    }

    fn push_event(&mut self, event: Event) {
        if self.events.len() >= MAX_EVENTS {
            self.events.pop_front();
            self.stats.events_dropped += 1;
        }
        self.events.push_back(event);
    }

    // ----- sending ----------------------------------------------------------------------------

    fn queue(&mut self, transmit: Transmit) {
        if let Some((source, left)) = &mut self.reply_budget
            && transmit.destination == *source
        {
            if transmit.payload.len() > *left {
                self.stats.amplification_refused += 1;
                self.recycle(transmit.payload);
                return;
            }
            *left -= transmit.payload.len();
        }
        if self.outbox.len() >= MAX_OUTBOX {
            self.stats.outbox_dropped += 1;
            self.recycle(transmit.payload);
            return;
        }
        self.stats.sent += 1;
        self.outbox.push_back(transmit);
    }

    /// Encodes a datagram into a recycled buffer if there is one (see [`Node::recycle`]).
    fn encode(&mut self, message_id: u32, message: Message<'_>) -> Option<Vec<u8>> {
        let datagram = Datagram { version: self.version, message_id, message };
        let mut buf = [0u8; MAX_POOLED_BUFFER_CAPACITY];
        match datagram.encode(&mut buf) {
            Ok(len) => {
                let mut payload = self.buffers.pop().unwrap_or_default();
                payload.extend_from_slice(&buf[..len]);
                Some(payload)
            }
            Err(EncodeError::BufferTooSmall { needed }) if needed <= MAX_DATAGRAM_LEN => {
                let mut big = alloc::vec![0u8; needed];
                datagram.encode(&mut big).ok().map(|len| {
                    big.truncate(len);
                    big
                })
            }
            Err(_) => None,
        }
    }

    fn send(&mut self, to: Endpoint, message_id: u32, message: Message<'_>) {
        if let Some(payload) = self.encode(message_id, message) {
            self.queue(Transmit { destination: to, payload });
        }
    }

    /// Sends a request that expects an answer, tracked for retransmission.
    fn send_request(
        &mut self,
        now: Instant,
        to: Endpoint,
        purpose: Purpose2,
        message_id: u32,
        message: Message<'_>,
    ) -> bool {
        if self.pending.len() >= MAX_PENDING {
            return false;
        }
        let Some(payload) = self.encode(message_id, message) else { return false };
        let rto = self.rto(&to);
        self.queue(Transmit { destination: to, payload: payload.clone() });
        self.pending.push(Pending {
            message_id,
            peer: to,
            purpose,
            payload,
            sent_at: now,
            deadline: now.saturating_add(rto),
            rto,
            retries_left: RETRIES,
            retransmitted: false,
        });
        true
    }

    fn rto(&self, peer: &Endpoint) -> Duration {
        match (self.cache.rtt(peer), self.rtt_all) {
            (Some((srtt, rttvar)), _) => (srtt + rttvar * 4).clamp(self.timing.min_rto, self.timing.max_rto),
            // An unmeasured peer is probably about as far as the others.
            (None, Some((srtt, rttvar))) => {
                (srtt * 2 + rttvar * 4).clamp(self.timing.min_rto, self.timing.initial_rto)
            }
            (None, None) => self.timing.initial_rto,
        }
    }

    fn take_pending(
        &mut self,
        acked_id: u32,
        from: Endpoint,
        now: Instant,
    ) -> Option<(Pending, Option<Duration>)> {
        let index = self.pending.iter().position(|p| p.message_id == acked_id && p.peer == from)?;
        let p = self.pending.swap_remove(index);
        // It answered a request sent to this endpoint: a completed round trip.
        self.verified.insert(from, now);
        if self.reply_budget.is_some_and(|(source, _)| source == from) {
            self.reply_budget = None;
        }
        // Karn: no RTT sample from a retransmitted request.
        let rtt = (!p.retransmitted).then(|| now.saturating_since(p.sent_at));
        if let Some(rtt) = rtt {
            self.cache.record_rtt(&from, rtt, now);
            self.rtt_all = Some(match self.rtt_all {
                None => (rtt, rtt / 2),
                Some((srtt, var)) => {
                    let delta = srtt.abs_diff(rtt);
                    ((srtt * 7 + rtt) / 8, (var * 3 + delta) / 4)
                }
            });
        }
        Some((p, rtt))
    }

    fn random_id(&mut self) -> u32 {
        self.rng.next_u32()
    }

    fn random_nonce(&mut self) -> Nonce {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill_bytes(&mut nonce);
        nonce
    }

    fn send_flood(&mut self, now: Instant, to: Endpoint, key: &Key, revoke: Option<&[u8]>, no_ack: bool) {
        let id = self.random_id();
        let addresses = self.addresses.clone();
        let entry =
            RouteEntry { key, version: self.version, port: self.port, addresses: List::Items(&addresses) };
        let message = Message::Flood(Flood {
            no_ack,
            validate_key: &[0; KEY_LEN],
            keytoken: None,
            revoke_cpa: revoke,
            route_entry: Some(entry),
            flooded: None,
        });
        if no_ack {
            self.send(to, id, message);
        } else {
            self.send_request(now, to, Purpose2::Flood, id, message);
        }
    }

    /// Sends an AUTHORITY_BUFFER as AUTHORITY fragments answering `acked_id`.
    fn send_authority(&mut self, to: Endpoint, acked_id: u32, buffer: &AuthorityBuffer<'_>) {
        for payload in self.authority_datagrams(acked_id, buffer) {
            self.queue(Transmit { destination: to, payload });
        }
    }

    /// The encoded AUTHORITY fragments carrying `buffer`, answering `acked_id`.
    fn authority_datagrams(&mut self, acked_id: u32, buffer: &AuthorityBuffer<'_>) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        // Sized to what answers need (a few hundred bytes, more with a large payload).
        let mut bytes = core::mem::take(&mut self.authority_scratch);
        let encoded = match buffer.encode(&mut bytes) {
            Err(EncodeError::BufferTooSmall { needed }) if needed <= MAX_AUTHORITY_BUFFER_LEN => {
                bytes.resize(needed, 0);
                buffer.encode(&mut bytes)
            }
            other => other,
        };
        if let Ok(len) = encoded {
            let id = self.random_id();
            if let Ok(parts) = fragments(&bytes[..len]) {
                for (split, fragment) in parts {
                    debug_assert!(fragment.len() <= FRAGMENT_LEN);
                    out.extend(self.encode(id, Message::Authority(Authority { acked_id, split, fragment })));
                }
            }
        }
        self.authority_scratch = bytes;
        out
    }

    fn send_not_found(&mut self, to: Endpoint, acked_id: u32) {
        let buffer = AuthorityBuffer {
            flags: AuthorityFlags { not_found: true, ..AuthorityFlags::default() },
            credential: None,
            keytoken: None,
            classifier: None,
            extended_payload: None,
            route_entry: None,
            cpa: None,
        };
        self.send_authority(to, acked_id, &buffer);
    }

    // ----- bootstrap and maintenance ----------------------------------------------------------

    fn bootstrap(&mut self, now: Instant) {
        if self.seeds.is_empty() {
            self.set_status(Status::Alone, Vec::new());
            return;
        }
        let seeds = self.seeds.clone();
        for seed in seeds {
            if seed == self.local {
                continue;
            }
            self.solicit(now, seed);
        }
        self.bootstrap_deadline = Some(now.saturating_add(self.timing.bootstrap_wait));
    }

    /// Sends `to` a SOLICIT carrying this node's first key (a knock follows a bare one).
    fn solicit(&mut self, now: Instant, to: Endpoint) {
        let nonce = self.random_nonce();
        let hashed = sha1(&nonce);
        let id = self.random_id();
        let key = self.registrations.first().map(|r| r.key);
        let addresses = self.addresses.clone();
        let entry = key.as_ref().map(|k| RouteEntry {
            key: k,
            version: self.version,
            port: self.port,
            addresses: List::Items(&addresses),
        });
        let bare = entry.is_none();
        let message =
            Message::Solicit(Solicit { solicit_type: None, route_entry: entry, hashed_nonce: &hashed });
        self.send_request(now, to, Purpose2::Solicit { nonce }, id, message);
        if bare {
            // Too small to pay for the seed's challenge: knock so the seed sends one.
            let knock_id = self.random_id();
            self.send(to, knock_id, bare_flood(true));
        }
    }

    /// A peer was given up as unreachable and left the cache: counted, and remembered so it
    /// is re-contacted should this node turn out to be cut off.
    fn note_lost(&mut self, now: Instant, peer: Endpoint) {
        let watch = &mut self.partition;
        watch.lost = watch.lost.saturating_add(1);
        watch.departed.retain(|(e, _)| *e != peer);
        if watch.departed.len() >= MAX_DEPARTED {
            watch.departed.remove(0);
        }
        watch.departed.push((peer, now));
    }

    /// Partition detection, at most once per [`RESEED_INTERVAL`]: a node whose cache is small
    /// (fewer than [`RESEED_BELOW_ENTRIES`]) or that recently lost many peers (see
    /// [`PARTITION_LOSS`]) re-contacts the seeds and lost peers missing from its cache. A node
    /// in a large, healthy cloud sends nothing here.
    fn detect_partition(&mut self, now: Instant) {
        let watch = &mut self.partition;
        if watch.interval_start.is_some_and(|start| now.saturating_since(start) < RESEED_INTERVAL) {
            return;
        }
        watch.interval_start = Some(now);
        let lost = core::mem::take(&mut watch.lost);
        if lost >= PARTITION_LOSS && lost.saturating_mul(4) >= self.cache.len().saturating_add(lost) {
            watch.suspect_until = Some(now.saturating_add(PARTITION_SUSPICION));
        }
        watch.departed.retain(|(_, at)| now.saturating_since(*at) < DEPARTED_FOR);
        let suspect = watch.suspect_until.is_some_and(|until| until > now);
        if self.cache.len() >= RESEED_BELOW_ENTRIES && !suspect {
            return;
        }
        let mut targets: Vec<Endpoint> = Vec::new();
        for to in self.seeds.iter().chain(self.partition.departed.iter().map(|(e, _)| e)) {
            let own = to.port == self.port && self.addresses.contains(&to.addr);
            if !own && self.cache.by_endpoint(to).is_none() && !targets.contains(to) {
                targets.push(*to);
            }
        }
        if targets.is_empty() {
            return;
        }
        self.partition.announce_above = Some(self.cache.len());
        for to in targets {
            self.stats.reseed_solicits += 1;
            self.solicit(now, to);
        }
    }

    fn maintain(&mut self, now: Instant) {
        let period =
            if self.cache.len() > 2 { self.timing.maintenance } else { self.timing.maintenance_sparse };
        self.next_maintenance = Some(now.saturating_add(period));
        if self.cache.is_empty() {
            self.bootstrap(now);
            return;
        }
        self.detect_partition(now);
        // Refresh every registration's neighbourhood and re-announce it.
        let keys: Vec<Key> = self.registrations.iter().map(|r| r.key).collect();
        for key in keys {
            self.start_announce(now, key);
        }
        // Re-verify the stalest entries; the dead ones go.
        for (key, endpoint) in self.cache.stalest(now, self.timing.entry_refresh, PINGS_PER_MAINTENANCE) {
            self.verify(now, key, endpoint, self.version);
        }
        // Look up a random key so the upper levels stay populated.
        let mut target = [0u8; KEY_LEN];
        self.rng.fill_bytes(&mut target);
        if self.searches.len() < MAX_SEARCHES {
            let timeout = self.timing.maintenance;
            let mut search = Search::new(
                SearchId(0),
                Purpose::Maintenance,
                target,
                SearchInfo::exact(),
                now.saturating_add(timeout),
                self.local,
            );
            search.fetch_results = false;
            self.seed_search(&mut search, false);
            self.searches.push(search);
        }
    }

    fn start_announce(&mut self, now: Instant, key: Key) {
        if self.searches.len() >= MAX_SEARCHES
            || self.searches.iter().any(|s| s.purpose == Purpose::Announce(key))
        {
            return;
        }
        // A margin over 5 + 5, since the keys seldom fall evenly on both sides.
        let info = SearchInfo::nearest(2 * super::cache::LEAF_SET_SIDE as u32 + 4);
        let mut search = Search::new(
            SearchId(0),
            Purpose::Announce(key),
            key,
            info,
            now.saturating_add(self.timing.maintenance),
            self.local,
        );
        search.fetch_results = false;
        self.seed_search(&mut search, false);
        self.searches.push(search);
    }

    /// Starts a search from the cache entries nearest its target (and, when allowed, this
    /// node's own registrations, which need no network).
    fn seed_search(&self, search: &mut Search, allow_local: bool) {
        for entry in self.cache.closest_n(&search.target, super::search::SEED_CANDIDATES) {
            search.add_candidate(entry.key, entry.endpoint);
        }
        if allow_local && search.exact_only() {
            // A reserve from elsewhere on the ring: the nearest entry of each shared-prefix
            // length not seeded yet.
            let mut taken = [false; 257];
            let mut reserve = 0;
            for entry in self.cache.closest_n(&search.target, self.cache.len()) {
                let bits = common_prefix_bits(&entry.key, &search.target) as usize;
                if reserve >= super::search::RESERVE_CANDIDATES {
                    break;
                }
                if taken[bits.min(256)] || search.candidates.iter().any(|c| c.endpoint == entry.endpoint) {
                    taken[bits.min(256)] = true;
                    continue;
                }
                taken[bits.min(256)] = true;
                if search.add_candidate(entry.key, entry.endpoint).is_some() {
                    reserve += 1;
                }
            }
        }
        if allow_local && search.info.allow_current_instance_match {
            for reg in &self.registrations {
                if let Some(i) = search.add_candidate(reg.key, self.local) {
                    let c = &mut search.candidates[i];
                    c.asked = Asked::Yes;
                    c.fetch = Fetch::Done(reg.app_data.clone());
                }
            }
        }
    }

    /// Sends an INQUIRE to check that `endpoint` holds `key` before caching it.
    fn verify(&mut self, now: Instant, key: Key, endpoint: Endpoint, version: ProtocolVersion) {
        if endpoint == self.local || self.registrations.iter().any(|r| r.key == key && endpoint == self.local)
        {
            return;
        }
        let verifying = self.pending.iter().filter(|p| matches!(p.purpose, Purpose2::Verify { .. })).count();
        let already = self.pending.iter().any(|p| {
            p.peer == endpoint && matches!(&p.purpose, Purpose2::Verify { key: k, .. } if *k == key)
        });
        if already || verifying >= MAX_PENDING_VERIFICATIONS {
            return;
        }
        let nonce = self.random_nonce();
        let id = self.random_id();
        let proof = self.security.prove(&key);
        let message = Message::Inquire(Inquire {
            flags: InquireFlags { want_cpa: true, want_payload: false, want_credential: true },
            validate_key: &key,
            nonce: Some(&nonce),
            proof: as_proof(&proof),
        });
        self.send_request(now, endpoint, Purpose2::Verify { key, nonce, version }, id, message);
    }

    /// A route entry heard from `from`: verify it unless it is known. An entry naming another
    /// endpoint than its source (a third party) is followed only from a verified source and
    /// within the third-party probe budget, so nobody can aim this node's INQUIREs at a
    /// victim faster than [`THIRD_PARTY_PROBE_RATE`].
    fn consider(&mut self, now: Instant, from: Endpoint, entry: &RouteEntry<'_>) {
        let Some(endpoint) = endpoint_of(entry) else { return };
        if endpoint == self.local || self.cache.get(entry.key, &endpoint).is_some() {
            return;
        }
        if endpoint != from && (!self.is_verified(&from, now) || !self.third_party_probes.take(now)) {
            self.stats.third_party_refused += 1;
            return;
        }
        self.verify(now, *entry.key, endpoint, entry.version);
    }

    /// Caches a node whose record just verified. If its level is full of live old contacts it
    /// stays out, and the stalest of them (if stale) is probed: should it not answer, it goes,
    /// and the next newcomer gets its place (Kademlia's rule: old contacts are kept).
    fn admit(&mut self, now: Instant, entry: CacheEntry) {
        let (key, version) = (entry.key, entry.version);
        match self.cache.insert(entry) {
            Inserted::Added => self.cache_dirty = true,
            Inserted::Refreshed => {}
            Inserted::Refused => {
                if let Some((old_key, old_endpoint)) = self.cache.replacement_probe(&key, now) {
                    self.verify(now, old_key, old_endpoint, version);
                }
            }
        }
    }

    fn give_up(&mut self, now: Instant, p: Pending) {
        match p.purpose {
            Purpose2::Solicit { .. } => {}
            Purpose2::Challenge => self.deferred.forget(&p.peer),
            Purpose2::Request | Purpose2::Flood | Purpose2::Verify { .. } => {
                if self.cache.remove_endpoint(&p.peer) {
                    self.cache_dirty = true;
                    self.note_lost(now, p.peer);
                }
            }
            Purpose2::Lookup { search, key } | Purpose2::Inquire { search, key, .. } => {
                if self.cache.remove_endpoint(&p.peer) {
                    self.cache_dirty = true;
                    self.note_lost(now, p.peer);
                }
                let is_lookup = matches!(p.purpose, Purpose2::Lookup { .. });
                if let Some(s) = self.searches.iter_mut().find(|s| s.id == search) {
                    s.request_done(&key, &p.peer, !p.retransmitted);
                    let nearness = common_prefix_bits(&key, &s.target);
                    s.referral_failed(&key, &p.peer, false);
                    if let Some(c) = s.candidates.iter_mut().find(|c| c.key == key && c.endpoint == p.peer) {
                        if is_lookup {
                            c.asked = Asked::Failed;
                        } else if c.fetches < super::search::MAX_FETCHES_PER_NODE {
                            // A lost answer is more likely than a dead node that just answered.
                            c.fetch = Fetch::No;
                        } else {
                            c.fetch = Fetch::Failed;
                        }
                    }
                    let flags =
                        address_flags::UNREACHABLE | if is_lookup { 0 } else { address_flags::INQUIRE };
                    s.record_path(PathEntry { endpoint: p.peer, flags, nearness, latency: Duration::ZERO });
                }
            }
        }
    }

    // ----- searches ---------------------------------------------------------------------------

    fn pump_searches(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.searches.len() {
            let id = self.searches[i].id;
            let purpose = self.searches[i].purpose;
            while let Some(s) = self.searches.get_mut(i) {
                if s.done {
                    break;
                }
                match s.next_step() {
                    Step::Lookup(c) => self.send_lookup(now, i, c),
                    Step::Inquire(c) => self.send_search_inquire(now, i, c),
                    Step::Intermediate(c) => {
                        let c = &s.candidates[c];
                        let result = SearchResult {
                            match_type: MatchType::Intermediate,
                            key: c.key,
                            app_data: Vec::new(),
                            endpoint: c.endpoint,
                        };
                        self.push_event(Event::SearchResult { search: id, result });
                    }
                    Step::Wait => break,
                    Step::Finish => {
                        self.finish(id);
                        break;
                    }
                }
            }
            // `finish` removes internal searches; only advance past ones still here.
            if self.searches.get(i).is_some_and(|s| s.id == id && s.purpose == purpose) {
                i += 1;
            }
        }
    }

    fn send_lookup(&mut self, now: Instant, index: usize, candidate: usize) {
        let s = &self.searches[index];
        let c = &s.candidates[candidate];
        let (key, endpoint, target, search) = (c.key, c.endpoint, s.target, s.id);
        let exact = s.exact_only();
        let path = s.flagged_path();
        let reason = match s.purpose {
            Purpose::App => ResolveReason::AppRequest,
            Purpose::Announce(_) => ResolveReason::Registration,
            Purpose::Maintenance => ResolveReason::CacheMaintenance,
        };
        let controls = LookupControls {
            accept_any: !exact,
            precision: 0,
            criteria: if exact { ResolveCriteria::Exact } else { ResolveCriteria::Nearest },
            reason,
        };
        let proof = self.security.prove(&key);
        let id = self.random_id();
        let message = Message::Lookup(Lookup {
            controls,
            target: &target,
            validate_key: &key,
            best_match: None,
            path: List::Items(&path),
            proof: as_proof(&proof),
        });
        let sent = self.send_request(now, endpoint, Purpose2::Lookup { search, key }, id, message);
        let s = &mut self.searches[index];
        s.visit(endpoint);
        if !sent {
            s.request_done(&key, &endpoint, true);
            s.candidates[candidate].asked = Asked::Failed;
        }
    }

    fn send_search_inquire(&mut self, now: Instant, index: usize, candidate: usize) {
        let s = &self.searches[index];
        let c = &s.candidates[candidate];
        let (key, endpoint, search) = (c.key, c.endpoint, s.id);
        let nonce = self.random_nonce();
        let proof = self.security.prove(&key);
        let id = self.random_id();
        let message = Message::Inquire(Inquire {
            flags: InquireFlags { want_cpa: true, want_payload: true, want_credential: true },
            validate_key: &key,
            nonce: Some(&nonce),
            proof: as_proof(&proof),
        });
        if !self.send_request(now, endpoint, Purpose2::Inquire { search, key, nonce }, id, message) {
            let s = &mut self.searches[index];
            s.request_done(&key, &endpoint, true);
            s.candidates[candidate].fetch = Fetch::Failed;
        }
    }

    fn finish(&mut self, id: SearchId) {
        let Some(index) = self.searches.iter().position(|s| s.id == id && !s.done) else { return };
        match self.searches[index].purpose {
            Purpose::App => {
                let s = &self.searches[index];
                let results =
                    if s.exact_only() || s.info.any_match_in_range { Vec::new() } else { s.final_results() };
                for result in results {
                    self.push_event(Event::SearchResult { search: id, result });
                }
                self.end(id, SearchEnd::Complete);
            }
            Purpose::Announce(key) => {
                // Every node the search reached is in the cache now; flood to the leaf set it
                // makes (five on each side, however unevenly the keys fall).
                self.searches.swap_remove(index);
                let targets: Vec<Endpoint> = self.cache.leaf_set(&key).iter().map(|e| e.endpoint).collect();
                if self.registrations.iter().any(|r| r.key == key) {
                    for to in targets {
                        self.send_flood_now(to, &key);
                    }
                }
            }
            Purpose::Maintenance => {
                self.searches.swap_remove(index);
            }
        }
    }

    fn send_flood_now(&mut self, to: Endpoint, key: &Key) {
        let id = self.random_id();
        let addresses = self.addresses.clone();
        let entry =
            RouteEntry { key, version: self.version, port: self.port, addresses: List::Items(&addresses) };
        self.send(
            to,
            id,
            Message::Flood(Flood {
                no_ack: true,
                validate_key: &[0; KEY_LEN],
                keytoken: None,
                revoke_cpa: None,
                route_entry: Some(entry),
                flooded: None,
            }),
        );
    }

    /// Ends an application search (results already reported) or drops an internal one.
    fn end(&mut self, id: SearchId, end: SearchEnd) {
        let Some(index) = self.searches.iter().position(|s| s.id == id && !s.done) else { return };
        if self.searches[index].purpose == Purpose::App {
            self.searches[index].done = true;
            self.push_event(Event::SearchEnded { search: id, end });
        } else {
            self.searches.swap_remove(index);
        }
        self.pending.retain(|p| !matches!(p.purpose, Purpose2::Lookup { search, .. } | Purpose2::Inquire { search, .. } if search == id));
    }

    // ----- message handlers -------------------------------------------------------------------

    fn on_solicit(&mut self, now: Instant, from: Endpoint, id: u32, m: &Solicit<'_>, bytes: &[u8]) {
        // Offer our own keys, then cache keys spread over the ring.
        let mut keys: Vec<Key> = self.registrations.iter().map(|r| r.key).take(MAX_ADVERTISE_KEYS).collect();
        let entries = self.cache.entries();
        let room = MAX_ADVERTISE_KEYS - keys.len();
        if room > 0 && !entries.is_empty() {
            let step = entries.len().div_ceil(room).max(1);
            keys.extend(entries.iter().step_by(step).map(|e| e.key).take(room));
        }
        let reply_id = self.random_id();
        let advertise = |node: &mut Self, keys: &[Key]| {
            let message = Message::Advertise(Advertise {
                acked_id: id,
                keys: List::Items(keys),
                hashed_nonce: m.hashed_nonce,
            });
            node.encode(reply_id, message)
        };
        let Some(reply) = advertise(self, &keys) else { return };
        if self.reply_allowance(&from).is_some_and(|allowed| reply.len() > allowed) {
            self.defer_and_challenge(now, from, id, bytes);
            return;
        }
        if self.conversations.len() >= MAX_CONVERSATIONS {
            self.conversations.remove(0);
        }
        self.conversations.retain(|c| c.peer != from);
        self.conversations.push(Conversation {
            peer: from,
            hashed_nonce: *m.hashed_nonce,
            expires: now.saturating_add(self.timing.conversation),
        });
        self.queue(Transmit { destination: from, payload: reply });
        if let Some(entry) = &m.route_entry {
            self.consider(now, from, entry);
        }
    }

    fn on_advertise(&mut self, now: Instant, from: Endpoint, m: &Advertise<'_>) {
        let Some((p, _)) = self.take_pending(m.acked_id, from, now) else { return };
        let Purpose2::Solicit { nonce } = p.purpose else { return };
        if sha1(&nonce) != *m.hashed_nonce {
            return;
        }
        let wanted: Vec<Key> = m
            .keys
            .iter()
            .filter(|k| {
                !self.registrations.iter().any(|r| r.key == *k)
                    && !self.cache.entries().iter().any(|e| e.key == *k)
            })
            .take(MAX_REQUEST_KEYS)
            .collect();
        if wanted.is_empty() {
            return;
        }
        let id = self.random_id();
        let proof = self.security.prove(&wanted.concat());
        let message = Message::Request(Request::Plain(RequestBody {
            nonce: &nonce,
            keys: List::Items(&wanted),
            proof: as_proof(&proof),
        }));
        self.send_request(now, from, Purpose2::Request, id, message);
    }

    fn on_request(&mut self, now: Instant, from: Endpoint, id: u32, body: &RequestBody<'_>, bytes: &[u8]) {
        let Some(index) =
            self.conversations.iter().position(|c| c.peer == from && c.hashed_nonce == sha1(body.nonce))
        else {
            return;
        };
        // The answer (an ACK and a FLOOD per key) outweighs the REQUEST.
        if self.reply_allowance(&from).is_some() {
            self.defer_and_challenge(now, from, id, bytes);
            return;
        }
        let keys: Vec<Key> = body.keys.iter().collect();
        if self.security.verify_proof(body.proof.as_ref(), &keys.concat()).is_err() {
            return;
        }
        self.conversations.swap_remove(index);
        let reply_id = self.random_id();
        self.send(from, reply_id, Message::Ack(Ack { acked_id: id, not_found: false }));
        for key in keys.iter().take(MAX_REQUEST_KEYS) {
            if self.registrations.iter().any(|r| r.key == *key) {
                self.send_flood_now(from, key);
            } else if let Some(e) = self.cache.entries().iter().find(|e| e.key == *key).cloned() {
                let message_id = self.random_id();
                let entry = RouteEntry {
                    key: &e.key,
                    version: e.version,
                    port: e.endpoint.port,
                    addresses: List::Items(core::slice::from_ref(&e.endpoint.addr)),
                };
                self.send(
                    from,
                    message_id,
                    Message::Flood(Flood {
                        no_ack: true,
                        validate_key: &[0; KEY_LEN],
                        keytoken: None,
                        revoke_cpa: None,
                        route_entry: Some(entry),
                        flooded: None,
                    }),
                );
            }
        }
        let _ = now;
    }

    fn on_flood(&mut self, now: Instant, from: Endpoint, id: u32, m: &Flood<'_>) {
        if let (Some(cpa), Some(entry)) = (m.revoke_cpa, &m.route_entry) {
            let valid =
                self.security.open(entry.key, cpa, None, None, &[0; NONCE_LEN]).is_ok_and(|r| r.revoked);
            if let (true, Some(endpoint)) = (valid, endpoint_of(entry))
                && endpoint == from
                && self.cache.remove(entry.key, &endpoint)
            {
                self.cache_dirty = true;
            }
        } else if let Some(entry) = &m.route_entry {
            self.consider(now, from, entry);
        } else if m.no_ack && self.reply_allowance(&from).is_some() {
            // A knock: an unverified source asks to be challenged (its SOLICIT is too small to
            // pay for the challenge).
            self.challenge(now, from);
        }
        if !m.no_ack {
            let unknown = *m.validate_key != [0; KEY_LEN]
                && !self.registrations.iter().any(|r| r.key == *m.validate_key);
            let reply_id = self.random_id();
            self.send(from, reply_id, Message::Ack(Ack { acked_id: id, not_found: unknown }));
        }
    }

    fn on_inquire(&mut self, now: Instant, from: Endpoint, id: u32, m: &Inquire<'_>, bytes: &[u8]) {
        if self.security.verify_proof(m.proof.as_ref(), m.validate_key).is_err() {
            return;
        }
        let Some(index) = self.registrations.iter().position(|r| r.key == *m.validate_key) else {
            self.send_not_found(from, id);
            return;
        };
        let reg = &self.registrations[index];
        let nonce = m.nonce.copied().unwrap_or([0; NONCE_LEN]);
        let mut cpa = Vec::new();
        let credential =
            self.security.seal(&reg.key, &reg.credential, &reg.app_data, &nonce, false, &mut cpa);
        let key = reg.key;
        let app_data = reg.app_data.clone();
        let addresses = self.addresses.clone();
        let buffer = AuthorityBuffer {
            flags: AuthorityFlags::default(),
            credential: (m.flags.want_credential && !credential.is_empty()).then_some(&credential[..]),
            keytoken: None,
            classifier: None,
            extended_payload: m.flags.want_payload.then_some(&app_data[..]),
            route_entry: Some(RouteEntry {
                key: &key,
                version: self.version,
                port: self.port,
                addresses: List::Items(&addresses),
            }),
            cpa: m.flags.want_cpa.then_some(&cpa[..]),
        };
        let datagrams = self.authority_datagrams(id, &buffer);
        let total: usize = datagrams.iter().map(Vec::len).sum();
        if self.reply_allowance(&from).is_some_and(|allowed| total > allowed) {
            self.defer_and_challenge(now, from, id, bytes);
            return;
        }
        for payload in datagrams {
            self.queue(Transmit { destination: from, payload });
        }
    }

    fn on_lookup(&mut self, now: Instant, from: Endpoint, id: u32, m: &Lookup<'_>, bytes: &[u8]) {
        if self.security.verify_proof(m.proof.as_ref(), m.validate_key).is_err() {
            return;
        }
        if !self.registrations.iter().any(|r| r.key == *m.validate_key) {
            self.send_not_found(from, id);
            return;
        }
        // The path (at most MAX_ENDPOINT_ARRAY_ENTRIES, checked by the decoder) on the stack.
        let mut on_path = [from; MAX_ENDPOINT_ARRAY_ENTRIES];
        let mut path_len = 0;
        for (slot, e) in on_path.iter_mut().zip(m.path.iter()) {
            *slot = e;
            path_len += 1;
        }
        let path = &on_path[..path_len];
        let excluded = |e: &Endpoint| *e == from || path.contains(e);
        // Our own keys compete unless we are on the path already.
        let local = (!excluded(&self.local))
            .then(|| self.registrations.iter().map(|r| r.key).min_by_key(|k| distance(k, m.target)))
            .flatten();
        let remote = self.cache.closest(m.target, excluded).map(|e| (e.key, e.endpoint, e.version));
        let own_dist = distance(m.validate_key, m.target);
        let best = match (local, remote) {
            (Some(l), Some(r)) if distance(&r.0, m.target) < distance(&l, m.target) => Some(r),
            (Some(l), _) => Some((l, self.local, self.version)),
            (None, r) => r,
        };
        let best = best
            .filter(|(k, _, _)| m.controls.accept_any || *k == *m.target || distance(k, m.target) < own_dist);
        let leaf = best.is_none();
        let single;
        let entry = match &best {
            Some((key, endpoint, version)) => {
                single = [endpoint.addr];
                let addresses = if *endpoint == self.local {
                    List::Items(&self.addresses[..])
                } else {
                    List::Items(&single[..])
                };
                Some(RouteEntry { key, version: *version, port: endpoint.port, addresses })
            }
            None => None,
        };
        let buffer = AuthorityBuffer {
            flags: AuthorityFlags { leaf_set: leaf, ..AuthorityFlags::default() },
            credential: None,
            keytoken: None,
            classifier: None,
            extended_payload: None,
            route_entry: entry,
            cpa: None,
        };
        let mut buffer_bytes = [0u8; 512];
        let Ok(len) = buffer.encode(&mut buffer_bytes) else { return };
        let message_id = self.rng.next_u32();
        let Some(reply) = self.encode(
            message_id,
            Message::Authority(Authority {
                acked_id: id,
                split: SplitControls { size: len as u16, offset: 0 },
                fragment: &buffer_bytes[..len],
            }),
        ) else {
            return;
        };
        if self.reply_allowance(&from).is_some_and(|allowed| reply.len() > allowed) {
            self.defer_and_challenge(now, from, id, bytes);
            return;
        }
        self.queue(Transmit { destination: from, payload: reply });
    }

    fn on_authority(&mut self, now: Instant, from: Endpoint, id: u32, m: &Authority<'_>) {
        if !self.pending.iter().any(|p| p.message_id == m.acked_id && p.peer == from) {
            return;
        }
        let whole = match self.reassembler.accept(now, from, id, m.split, m.fragment) {
            Ok(Reassembled::Whole(bytes)) => AuthorityBytes::Borrowed(bytes),
            Ok(Reassembled::Complete(bytes)) => AuthorityBytes::Owned(bytes),
            _ => return,
        };
        let Ok(buffer) = AuthorityBuffer::decode(whole.bytes()) else { return };
        let Some((p, rtt)) = self.take_pending(m.acked_id, from, now) else { return };
        let latency = rtt.unwrap_or(Duration::ZERO);
        match p.purpose {
            Purpose2::Verify { key, nonce, version } => {
                let ok = !buffer.flags.not_found
                    && buffer.route_entry.as_ref().is_some_and(|e| *e.key == key)
                    && buffer.cpa.is_some_and(|cpa| {
                        self.security
                            .open(&key, cpa, buffer.credential, None, &nonce)
                            .is_ok_and(|r| !r.revoked)
                    });
                if ok {
                    self.admit(now, CacheEntry::new(key, from, version, now, rtt));
                } else if self.cache.remove(&key, &from) {
                    self.cache_dirty = true;
                }
            }
            Purpose2::Lookup { search, key } => {
                let version = buffer.route_entry.as_ref().map_or(self.version, |e| e.version);
                let Some(index) = self.searches.iter().position(|s| s.id == search) else { return };
                let s = &mut self.searches[index];
                s.request_done(&key, &from, !p.retransmitted);
                let nearness = common_prefix_bits(&key, &s.target);
                let Some(ci) = s.candidates.iter().position(|c| c.key == key && c.endpoint == from) else {
                    return;
                };
                if buffer.flags.not_found || buffer.flags.busy {
                    s.candidates[ci].asked = Asked::Failed;
                    let flags = if buffer.flags.busy {
                        address_flags::TOO_BUSY
                    } else {
                        address_flags::REJECTED | address_flags::BAD_VALIDATE_ID
                    };
                    s.record_path(PathEntry { endpoint: from, flags, nearness, latency });
                    if buffer.flags.not_found && self.cache.remove(&key, &from) {
                        self.cache_dirty = true;
                    }
                    return;
                }
                s.candidates[ci].asked = Asked::Yes;
                s.record_path(PathEntry {
                    endpoint: from,
                    flags: address_flags::ACCEPTED,
                    nearness,
                    latency,
                });
                let next = buffer.route_entry.as_ref().and_then(|e| endpoint_of(e).map(|ep| (*e.key, ep)));
                // No route: it knows nothing closer, and a longer flagged path will not change it.
                s.candidates[ci].exhausted = next.is_none();
                if let Some((next_key, next_endpoint)) = next
                    && (next_endpoint != self.local || s.info.allow_current_instance_match)
                {
                    s.add_referred(next_key, next_endpoint, from);
                }
                // The node answered from its address, but a LOOKUP answer proves nothing about
                // the key it was asked as (a liar answers every LOOKUP): a known entry is
                // refreshed (by `take_pending`), a new one is cached only once its record
                // verifies.
                if self.cache.get(&key, &from).is_none() {
                    self.verify(now, key, from, version);
                }
            }
            Purpose2::Inquire { search, key, nonce } => {
                let opened = buffer.cpa.and_then(|cpa| {
                    self.security
                        .open(
                            &key,
                            cpa,
                            buffer.credential,
                            Some(buffer.extended_payload.unwrap_or_default()),
                            &nonce,
                        )
                        .ok()
                });
                let valid = !buffer.flags.not_found && opened.is_some_and(|r| !r.revoked);
                let version = buffer.route_entry.as_ref().map_or(self.version, |e| e.version);
                if valid {
                    self.admit(now, CacheEntry::new(key, from, version, now, rtt));
                } else if self.cache.remove(&key, &from) {
                    self.cache_dirty = true;
                }
                let Some(index) = self.searches.iter().position(|s| s.id == search) else { return };
                let s = &mut self.searches[index];
                s.request_done(&key, &from, !p.retransmitted);
                let nearness = common_prefix_bits(&key, &s.target);
                let Some(ci) = s.candidates.iter().position(|c| c.key == key && c.endpoint == from) else {
                    return;
                };
                let mut flags = address_flags::INQUIRE;
                if !valid && !buffer.flags.not_found {
                    // A record that does not verify: a liar (or a replay). Nothing it says is
                    // used again by this search, nor is what the node that named it says.
                    s.referral_failed(&key, &from, true);
                    s.distrust(from);
                    if self.cache.remove_endpoint(&from) {
                        self.cache_dirty = true;
                    }
                }
                let s = &mut self.searches[index];
                if valid {
                    s.candidates[ci].fetch =
                        Fetch::Done(buffer.extended_payload.unwrap_or_default().to_vec());
                    flags |= address_flags::ACCEPTED;
                } else {
                    s.candidates[ci].fetch = Fetch::Failed;
                    flags |= address_flags::REJECTED
                        | if buffer.flags.not_found { address_flags::SUSPECT_UNREGISTERED_ID } else { 0 };
                }
                s.record_path(PathEntry { endpoint: from, flags, nearness, latency });
                if valid && s.purpose == Purpose::App && (s.exact_only() || s.info.any_match_in_range) {
                    let result = s.result_of(&s.candidates[ci]);
                    s.delivered += 1;
                    self.push_event(Event::SearchResult { search, result });
                }
            }
            Purpose2::Solicit { .. } | Purpose2::Request | Purpose2::Flood | Purpose2::Challenge => {}
        }
    }
}

enum AuthorityBytes<'a> {
    Borrowed(&'a [u8]),
    Owned(Vec<u8>),
}

impl AuthorityBytes<'_> {
    fn bytes(&self) -> &[u8] {
        match self {
            Self::Borrowed(b) => b,
            Self::Owned(v) => v,
        }
    }
}

#[cfg(test)]
#[path = "amplification_tests.rs"]
mod amplification_tests;

#[cfg(test)]
#[path = "recycle_tests.rs"]
mod recycle_tests;

#[cfg(test)]
#[path = "admission_tests.rs"]
mod admission_tests;

#[cfg(test)]
#[path = "search_seed_tests.rs"]
mod search_seed_tests;
