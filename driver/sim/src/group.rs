//! A deterministic simulator of a peer group: N [`Member`]s of one group exchanging real encoded
//! group messages on a virtual peer-time clock, with latency, loss and members going offline,
//! all drawn from one seed.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use peerdrt_core::group::id::RecordId;
use peerdrt_core::group::member::{GroupError, GroupEvent, Member};
use peerdrt_core::group::membership::{Credentials, GroupRoot, Role, member_key};
use peerdrt_core::group::record::{Record, RecordDraft};
use peerdrt_core::group::time::PeerTime;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Peer time at the start of every run (2022-06-…, any fixed FILETIME would do).
pub const START: PeerTime = PeerTime(133_000_000_000_000_000);

/// How long the members' certificates are valid.
pub const CERTIFICATE_LIFETIME_SECONDS: u64 = 30 * 86_400;

/// The network between members.
#[derive(Debug, Clone, Copy)]
pub struct GroupNetwork {
    /// One-way latency in milliseconds, uniformly drawn from this range.
    pub latency_ms: (u64, u64),
    /// Probability a datagram is lost.
    pub loss: f64,
}

impl Default for GroupNetwork {
    fn default() -> Self {
        Self { latency_ms: (5, 25), loss: 0.0 }
    }
}

/// What reached one member.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Received {
    /// Datagrams delivered.
    pub datagrams: u64,
    /// Bytes delivered.
    pub bytes: u64,
    /// Records delivered (in FLOOD and RECORDS messages).
    pub records: u64,
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Delivery {
    to: usize,
    from: usize,
    bytes: Vec<u8>,
}

/// A group of simulated members. Member 0 created the group (administrator); the others joined
/// with the member role.
#[derive(Debug)]
pub struct GroupSim {
    root: GroupRoot,
    members: Vec<Member<usize>>,
    online: Vec<bool>,
    received: Vec<Received>,
    events: Vec<Vec<GroupEvent<usize>>>,
    refused: Vec<GroupError>,
    now: PeerTime,
    queue: BinaryHeap<Reverse<(PeerTime, u64, Delivery)>>,
    sequence: u64,
    network: GroupNetwork,
    rng: ChaCha8Rng,
}

/// The credentials of simulated member `index` (its secret key is derived from the index).
pub fn credentials(root: &GroupRoot, index: usize, role: Role) -> Credentials {
    let secret = member_secret(index);
    let key = member_key(&secret);
    let certificate = root.invite(&key, role, START, START.plus_seconds(CERTIFICATE_LIFETIME_SECONDS));
    Credentials::new(&secret, certificate).expect("the certificate names the key")
}

fn member_secret(index: usize) -> [u8; 32] {
    let mut secret = [0x5a; 32];
    secret[..8].copy_from_slice(&(index as u64 + 1).to_be_bytes());
    secret
}

impl GroupSim {
    /// A group of `size` members, none connected yet.
    pub fn new(size: usize, seed: u64, network: GroupNetwork) -> Self {
        let root = GroupRoot::from_secret(&[0xa5; 32]);
        let members = (0..size)
            .map(|i| {
                let role = if i == 0 { Role::Administrator } else { Role::Member };
                Member::new(credentials(&root, i, role), i == 0, (i as u32) << 24).expect("valid root")
            })
            .collect();
        Self {
            root,
            members,
            online: vec![true; size],
            received: vec![Received::default(); size],
            events: vec![Vec::new(); size],
            refused: Vec::new(),
            now: START,
            queue: BinaryHeap::new(),
            sequence: 0,
            network,
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// The group root (to issue further certificates in tests).
    pub fn root(&self) -> &GroupRoot {
        &self.root
    }

    /// The current peer time.
    pub fn now(&self) -> PeerTime {
        self.now
    }

    /// Member `index`.
    pub fn member(&self, index: usize) -> &Member<usize> {
        &self.members[index]
    }

    /// Members in the group.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether the group has no members.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// What reached member `index` so far.
    pub fn received(&self, index: usize) -> Received {
        self.received[index]
    }

    /// The events member `index` raised so far.
    pub fn events(&self, index: usize) -> &[GroupEvent<usize>] {
        &self.events[index]
    }

    /// Errors members returned for datagrams they refused.
    pub fn refusals(&self) -> &[GroupError] {
        &self.refused
    }

    /// Member `from` connects to member `to`.
    pub fn connect(&mut self, from: usize, to: usize) {
        let now = self.now;
        self.members[from].connect(to, now);
    }

    /// Every member connects to every member with a lower index, member 1 first, so that each
    /// joiner synchronises with a member that is already synchronised.
    pub fn connect_all(&mut self) {
        for from in 1..self.members.len() {
            for to in 0..from {
                self.connect(from, to);
            }
            self.settle();
        }
    }

    /// Member `index` adds a record with `data`, expiring `lifetime_seconds` from now.
    pub fn add(&mut self, index: usize, data: &[u8], lifetime_seconds: u64) -> Result<Record, GroupError> {
        let draft = draft(data, self.now.plus_seconds(lifetime_seconds));
        let random = self.rng.r#gen();
        let now = self.now;
        let result = self.members[index].add_record(draft, random, now);
        self.collect(index);
        result
    }

    /// Member `index` updates record `id` to `data`, keeping its expiration.
    pub fn update(&mut self, index: usize, id: &RecordId, data: &[u8]) -> Result<Record, GroupError> {
        let expiration = self.members[index].database().get(id).map_or(self.now, |r| r.expiration);
        let now = self.now;
        let result = self.members[index].update_record(id, draft(data, expiration), now);
        self.collect(index);
        result
    }

    /// Member `index` deletes record `id`.
    pub fn delete(&mut self, index: usize, id: &RecordId) -> Result<Record, GroupError> {
        let now = self.now;
        let result = self.members[index].delete_record(id, now);
        self.collect(index);
        result
    }

    /// Member `index` drops off the network without a word.
    pub fn go_offline(&mut self, index: usize) {
        self.members[index].drop_connections();
        self.online[index] = false;
        self.collect(index);
    }

    /// Member `index` comes back and connects to every online member.
    pub fn go_online(&mut self, index: usize) {
        self.online[index] = true;
        for to in 0..self.members.len() {
            if to != index && self.online[to] {
                self.connect(index, to);
            }
        }
    }

    /// Delivers `bytes` to member `to` as if member `from` had sent it (a forger on the path).
    pub fn inject(&mut self, from: usize, to: usize, bytes: Vec<u8>) {
        self.schedule(from, to, bytes);
    }

    /// Delivers `clear` (an encoded message) to member `to`, sealed by member `from` over its
    /// connection to `to`: a member misbehaving inside its own session. Panics if the two are
    /// not connected.
    pub fn inject_sealed(&mut self, from: usize, to: usize, clear: &[u8]) {
        let bytes = self.members[from].seal_to(&to, clear).expect("the two members are connected");
        self.schedule(from, to, bytes);
    }

    /// Runs until nothing is in flight and every online member is idle (or a simulated hour
    /// passes, which no test should reach).
    pub fn settle(&mut self) {
        let limit = self.now.plus_seconds(3600);
        while self.now < limit {
            self.flush();
            let quiet = self.queue.is_empty()
                && (0..self.members.len()).all(|i| !self.online[i] || self.members[i].is_idle());
            if quiet {
                return;
            }
            self.step(limit);
        }
        panic!("the group did not settle within an hour of peer time");
    }

    /// Advances the clock by `seconds`, running everything due on the way.
    pub fn advance(&mut self, seconds: u64) {
        let until = self.now.plus_seconds(seconds);
        while self.step(until) {}
        self.now = until;
        for i in 0..self.members.len() {
            if self.online[i] {
                self.members[i].handle_timeout(until);
                self.collect(i);
            }
        }
        self.flush();
    }

    /// Processes the next delivery or timer at or before `until`; `false` if there was none.
    fn step(&mut self, until: PeerTime) -> bool {
        self.flush();
        let next_delivery = self.queue.peek().map(|Reverse((at, _, _))| *at);
        let next_timer = (0..self.members.len())
            .filter(|&i| self.online[i])
            .filter_map(|i| self.members[i].next_timeout())
            .min();
        let Some(at) = next_delivery.into_iter().chain(next_timer).min().filter(|at| *at <= until) else {
            return false;
        };
        self.now = self.now.max(at);
        if next_delivery == Some(at) {
            let Some(Reverse((_, _, delivery))) = self.queue.pop() else { return false };
            self.deliver(delivery);
        } else {
            for i in 0..self.members.len() {
                if self.online[i] && self.members[i].next_timeout().is_some_and(|t| t <= self.now) {
                    let now = self.now;
                    self.members[i].handle_timeout(now);
                    self.collect(i);
                }
            }
        }
        self.flush();
        true
    }

    fn deliver(&mut self, delivery: Delivery) {
        let Delivery { to, from, bytes } = delivery;
        if !self.online[to] {
            return;
        }
        let received = &mut self.received[to];
        received.datagrams += 1;
        received.bytes += bytes.len() as u64;
        // Datagrams between connected members are sealed: the member counts the records it
        // opened.
        let records_before = self.members[to].stats().records_received;
        let now = self.now;
        if let Err(error) = self.members[to].handle_datagram(from, &bytes, now) {
            self.refused.push(error);
        }
        self.received[to].records += self.members[to].stats().records_received - records_before;
        self.collect(to);
    }

    /// Schedules every datagram the online members want to send now.
    fn flush(&mut self) {
        for from in 0..self.members.len() {
            if !self.online[from] {
                continue;
            }
            while let Some((to, bytes)) = self.members[from].poll_transmit(self.now) {
                if self.rng.gen_bool(self.network.loss) {
                    continue;
                }
                self.schedule(from, to, bytes);
            }
        }
    }

    fn schedule(&mut self, from: usize, to: usize, bytes: Vec<u8>) {
        let (low, high) = self.network.latency_ms;
        let latency = self.rng.gen_range(low..=high.max(low));
        self.sequence += 1;
        self.queue.push(Reverse((
            self.now.plus_millis(latency),
            self.sequence,
            Delivery { to, from, bytes },
        )));
    }

    fn collect(&mut self, index: usize) {
        while let Some(event) = self.members[index].poll_event() {
            self.events[index].push(event);
        }
    }
}

/// The record every simulated add or update writes.
pub fn draft(data: &[u8], expiration: PeerTime) -> RecordDraft {
    RecordDraft {
        record_type: [0x42; 16],
        attributes: String::from(
            r#"<attributes><attribute name="sim" type="int">1</attribute></attributes>"#,
        ),
        data: data.to_vec(),
        expiration,
        flags: 0,
    }
}
