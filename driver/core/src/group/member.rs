//! One member's replication state machine: connections to other members, flooding of records
//! with acknowledgement and retransmission, and synchronisation by hashed ranges on connect.
//!
//! Sans-IO: datagrams and the host's clock go in ([`Member::handle_datagram`],
//! [`Member::handle_timeout`]), datagrams and events come out ([`Member::poll_transmit`],
//! [`Member::poll_event`]). `A` is whatever the host uses to address a member (a socket address,
//! a simulator index). Every `now` a method takes is the host's clock (its UTC as a FILETIME);
//! the member turns it into the group's peer time with the offset it learned when it connected
//! ([`PeerClock`]), and [`Member::next_timeout`] answers on the host's clock.
//!
//! Connections: HELLO / WELCOME / PROOF ([`handshake`]) prove both keys, agree a session key
//! per direction and exchange peer times; after that every message between the two members is
//! sealed ([`super::session`]) and a clear one is refused, except the handshake's own messages
//! and the clear ACKs that acknowledge them.
//!
//! Synchronisation (the connecting side drives it, one conversation at a time):
//! SOLICIT_HASH(range) → HASHES(children digests); for each child whose digest differs, either
//! SOLICIT_HASH(child) again (many records) or SOLICIT_ABSTRACTS(child) → ADVERTISE(abstracts);
//! then REQUEST the records the driver is missing or holds older, and FLOOD the peer the records
//! it is missing or holds older. Equal digests end the descent, so only differences move.

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::vec::Vec;

use ed25519_dalek::{SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use super::channel::Channel;
use super::database::{Applied, Change, DbError, RecordDb};
use super::handshake::{
    self, Contribution, ENTROPY_LEN, Ephemeral, Nonce, PROOF_LEN, Side, Transcript, TranscriptHash,
};
use super::id::{GroupTag, MemberKey, RecordId, RecordType};
use super::limits::{
    HANDSHAKE_TIMEOUT, HELLO_WINDOW, LEAF_RECORDS, MAX_ABSTRACTS, MAX_CONNECTIONS, MAX_HALF_OPEN,
    MAX_HANDSHAKE_AMPLIFICATION, MAX_HELLOS_PER_WINDOW, MAX_MESSAGE_LEN, MAX_QUEUED_PUSHES, MAX_RANGE_DEPTH,
    MAX_REQUEST_IDS, MAX_SYNC_OUTSTANDING, MAX_TRANSMISSIONS, RANGE_FANOUT, RETRANSMIT_INTERVAL,
};
use super::membership::{Credentials, MembershipCertificate, MembershipError, Role};
use super::password::{PasswordGrantor, PasswordProof};
use super::range::Range;
use super::record::{Record, RecordDraft, RecordError, RecordView};
use super::session::{Rejects, SealError, SealedFrame, Session};
use super::time::{PeerClock, PeerTime};
use super::wire::{Abstract, Abstracts, Body, DecodeError, HEADER_LEN, Ids, Message, Records, RefuseReason};

/// Why an operation or an incoming datagram failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupError {
    /// The database is not synchronised yet (PEER_E_GROUP_NOT_READY).
    NotReady,
    /// No live record with this ID (PEER_E_NOT_FOUND).
    NotFound,
    /// An update tried to change the record's type (PEER_E_INVALID_RECORD).
    TypeChanged,
    /// The record was refused.
    Record(RecordError),
    /// The database refused it.
    Database(DbError),
    /// The local member's certificate is not valid now, or a connecting member's is not.
    NotMember(MembershipError),
    /// A connecting member did not prove it holds its certificate's key.
    BadProof,
    /// Not a group message.
    Decode(DecodeError),
    /// A message for another group.
    OtherGroup,
    /// A message from an address with no connection.
    NotConnected,
    /// A password join was refused (wrong password, or no password authentication there).
    PasswordRefused(RefuseReason),
    /// A sealed frame was refused (malformed, wrong key, tampered, replayed, too old).
    Seal(SealError),
    /// A clear message from a member whose messages must be sealed.
    Unsealed,
    /// The two members' peer times differ by more than
    /// [`MAX_CLOCK_SKEW`](super::limits::MAX_CLOCK_SKEW) (PEER_E_INVALID_TIME_PERIOD).
    ClockSkew,
}

/// What the host and the application hear about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupEvent<A> {
    /// PEER_GROUP_EVENT_RECORD_CHANGED.
    RecordChanged {
        /// Added, updated, deleted or expired.
        change: Change,
        /// The record.
        id: RecordId,
        /// Its type.
        record_type: RecordType,
    },
    /// A new version of this record was stored (tombstones included): the host persists it.
    RecordStored(RecordId),
    /// A record from this member was refused.
    RecordRefused {
        /// Who sent it.
        peer: A,
        /// Why.
        error: GroupError,
    },
    /// A member connected (PEER_MEMBER_CONNECTED).
    MemberConnected {
        /// Its address.
        peer: A,
        /// Its key.
        member: MemberKey,
    },
    /// A connection ended: closed, refused, lost or overloaded (PEER_MEMBER_DISCONNECTED).
    MemberDisconnected(A),
    /// The database finished its first synchronisation: the group is ready.
    Synchronised,
    /// A password joiner was refused by this member (wrong password…), or this password joiner
    /// was refused by the member at `peer` (PEER_GROUP_EVENT_AUTHENTICATION_FAILED).
    AuthenticationFailed {
        /// The other side.
        peer: A,
        /// Why.
        reason: RefuseReason,
    },
    /// This password joiner received its membership certificate: the host keeps it, so the
    /// group can be reopened as an ordinary member.
    CertificateGranted(MembershipCertificate),
}

/// Where a password join stands ([`Member::password_join_state`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordJoinState {
    /// Not a password join, or the certificate was granted: an ordinary member.
    Member,
    /// Waiting for a grant.
    Pending,
    /// The last member asked refused, for this reason, and no grant came.
    Refused(RefuseReason),
}

/// One password HELLO under way.
#[derive(Debug, Clone)]
struct PasswordAttempt {
    nonce: Nonce,
    /// When to send the HELLO (again); `None`: at the next poll.
    due: Option<PeerTime>,
    transmissions: u32,
}

/// A member that joined with a password and holds no certificate yet.
#[derive(Clone)]
struct PasswordJoin<A> {
    key: SigningKey,
    attempts: BTreeMap<A, PasswordAttempt>,
    refused: Option<RefuseReason>,
}

impl<A: core::fmt::Debug> core::fmt::Debug for PasswordJoin<A> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PasswordJoin")
            .field("attempts", &self.attempts)
            .field("refused", &self.refused)
            .finish_non_exhaustive()
    }
}

/// Counters of what this member sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Datagrams sent (retransmissions included).
    pub datagrams: u64,
    /// Bytes sent.
    pub bytes: u64,
    /// Retransmissions.
    pub retransmissions: u64,
    /// Records sent by flooding (new or changed records, and pushes during synchronisation).
    pub records_flooded: u64,
    /// Records sent in answer to REQUEST.
    pub records_served: u64,
    /// Bytes of synchronisation messages (solicits, hashes, abstracts, requests, answers).
    pub sync_bytes: u64,
    /// Records refused from other members.
    pub records_refused: u64,
    /// Records that arrived in FLOOD and RECORDS messages (duplicates included).
    pub records_received: u64,
    /// HELLOs dropped unanswered past [`MAX_HELLOS_PER_WINDOW`].
    pub hellos_dropped: u64,
    /// Datagrams refused by the sealing layer, by reason.
    pub rejects: Rejects,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PeerState {
    /// HELLO (message `hello_id`) sent with this contribution (its secrets are those of
    /// `counter`), no WELCOME yet.
    Connecting { counter: u64, hello: Contribution, hello_id: u32 },
    /// Certificates exchanged, keys proven.
    Connected(MemberKey),
}

/// A HELLO answered with a WELCOME, waiting for the connecting member's PROOF. It holds no
/// connection slot and replaces no connection until the PROOF verifies.
#[derive(Debug, Clone)]
struct HalfOpen {
    certificate: MembershipCertificate,
    transcript: TranscriptHash,
    session: Session,
    /// The HELLO's message ID: its retransmissions get the same WELCOME again, once each.
    hello_id: u32,
    /// The encoded WELCOME.
    welcome: Vec<u8>,
    /// Host clock past which the PROOF is no longer awaited.
    deadline: PeerTime,
}

#[derive(Debug, Clone)]
struct Peer {
    state: PeerState,
    /// The peer time at which the member's certificate expires (connected members).
    valid_until: PeerTime,
    channel: Channel,
    /// The sealing keys, from the moment this side has them (WELCOME sent or received).
    session: Option<Session>,
    /// Records a synchronisation found the member lacks, sent as the channel has room
    /// ([`MAX_QUEUED_PUSHES`]).
    pushes: VecDeque<RecordId>,
}

impl Peer {
    fn new(state: PeerState) -> Self {
        Self {
            state,
            valid_until: PeerTime(u64::MAX),
            channel: Channel::default(),
            session: None,
            pushes: VecDeque::new(),
        }
    }
}

/// The work of one synchronisation conversation.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum SyncStep {
    Hashes(Range),
    Abstracts(Range),
}

#[derive(Debug, Clone)]
struct Sync<A> {
    peer: A,
    /// Solicits sent and not answered.
    pending: BTreeSet<SyncStep>,
    /// Solicits waiting for room under MAX_SYNC_OUTSTANDING.
    todo: VecDeque<SyncStep>,
    /// Records to request.
    wanted: VecDeque<RecordId>,
    /// Records requested and not received.
    requested: BTreeSet<RecordId>,
}

impl<A> Sync<A> {
    fn is_done(&self) -> bool {
        self.pending.is_empty() && self.todo.is_empty() && self.wanted.is_empty() && self.requested.is_empty()
    }
}

/// One member of one group.
#[derive(Debug, Clone)]
pub struct Member<A: Ord + Clone> {
    credentials: Credentials,
    root: MemberKey,
    tag: GroupTag,
    db: RecordDb,
    peers: BTreeMap<A, Peer>,
    /// HELLOs answered and waiting for their PROOF, at most [`MAX_HALF_OPEN`].
    half_open: BTreeMap<A, HalfOpen>,
    /// The current [`HELLO_WINDOW`] (host clock, in windows) and the HELLOs answered in it.
    hello_window: (u64, u32),
    outbox: VecDeque<(A, Vec<u8>)>,
    events: VecDeque<GroupEvent<A>>,
    sync: Option<Sync<A>>,
    sync_queue: VecDeque<A>,
    ready: bool,
    next_id: u32,
    nonces: u64,
    entropy: [u8; ENTROPY_LEN],
    clock: PeerClock,
    stats: Stats,
    /// On the root's holder of a group with password authentication.
    grantor: Option<PasswordGrantor>,
    /// On a password joiner until its certificate is granted.
    password_join: Option<PasswordJoin<A>>,
    /// Tests: the clear message of every sealed datagram sent ([`Member::clear_view`]).
    #[cfg(test)]
    sealed_clear: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl<A: Ord + Clone> Member<A> {
    /// A member of the group rooted at `root`. `ready` is true for the group's creator (its
    /// database is the group's) and for a member reopening a database it had synchronised;
    /// a joining member is not ready until its first synchronisation ends. `id_seed` starts the
    /// message IDs (random per start, so a restarted member is not taken for its old self); the
    /// host should also hand in entropy ([`Member::add_entropy`]) for the handshake's secrets.
    pub fn new(credentials: Credentials, ready: bool, id_seed: u32) -> Option<Self> {
        let root = credentials.certificate.group_root;
        Some(Self {
            tag: GroupTag::of_root(&root),
            db: RecordDb::new(&root)?,
            root,
            credentials,
            peers: BTreeMap::new(),
            half_open: BTreeMap::new(),
            hello_window: (0, 0),
            outbox: VecDeque::new(),
            events: VecDeque::new(),
            sync: None,
            sync_queue: VecDeque::new(),
            ready,
            next_id: id_seed,
            nonces: u64::from(id_seed) << 32,
            entropy: [0; ENTROPY_LEN],
            clock: PeerClock::default(),
            stats: Stats::default(),
            grantor: None,
            password_join: None,
            #[cfg(test)]
            sealed_clear: BTreeMap::new(),
        })
    }

    /// A member of the group rooted at `group_root` that joins with a password
    /// (PeerGroupPasswordJoin): `password_seed` is the password's key seed
    /// ([`super::password::derive_seed`] with the group's security properties). Until a member
    /// holding the root grants a certificate, [`Member::connect`] runs the password exchange and
    /// every record operation is PEER_E_GROUP_NOT_READY.
    pub fn new_password_join(
        member_secret: &[u8; 32],
        group_root: MemberKey,
        password_seed: &[u8; 32],
        id_seed: u32,
    ) -> Option<Self> {
        let member = super::membership::member_key(member_secret);
        // A placeholder that proves nothing: valid for no instant and signed by no one.
        let placeholder = MembershipCertificate {
            group_root,
            member,
            role: Role::Member,
            valid_from: PeerTime(0),
            valid_until: PeerTime(0),
            signature: [0; 64],
        };
        let mut this = Self::new(Credentials::new(member_secret, placeholder)?, false, id_seed)?;
        this.password_join = Some(PasswordJoin {
            key: SigningKey::from_bytes(password_seed),
            attempts: BTreeMap::new(),
            refused: None,
        });
        Some(this)
    }

    /// Lets this member grant certificates to password joiners (it must hold the group root the
    /// grantor signs with).
    pub fn enable_password_authentication(&mut self, grantor: PasswordGrantor) {
        self.grantor = Some(grantor);
    }

    /// Whether this member grants password memberships.
    pub fn grants_passwords(&self) -> bool {
        self.grantor.is_some()
    }

    /// Where a password join stands.
    pub fn password_join_state(&self) -> PasswordJoinState {
        match &self.password_join {
            None => PasswordJoinState::Member,
            Some(PasswordJoin { refused: Some(reason), .. }) => PasswordJoinState::Refused(*reason),
            Some(_) => PasswordJoinState::Pending,
        }
    }

    /// This member's certificate (a placeholder until a password join is granted).
    pub fn certificate(&self) -> MembershipCertificate {
        self.credentials.certificate
    }

    /// Mixes `seed` (random bytes from the host) into the entropy the handshake's nonces and
    /// ephemeral secrets are derived from, so they are fresh across runs.
    pub fn add_entropy(&mut self, seed: &[u8]) {
        let mut hasher = Sha256::new();
        hasher.update(self.entropy);
        hasher.update(seed);
        self.entropy = hasher.finalize().into();
    }

    /// The offset from the host's clock to the group's peer time.
    pub fn clock(&self) -> PeerClock {
        self.clock
    }

    /// PeerGroupUniversalTimeToPeerTime: the peer time at host clock reading `utc`.
    pub fn peer_time(&self, utc: PeerTime) -> PeerTime {
        self.clock.peer_time(utc)
    }

    /// PeerGroupPeerTimeToUniversalTime: the host clock reading at peer time `peer`.
    pub fn universal_time(&self, peer: PeerTime) -> PeerTime {
        self.clock.universal_time(peer)
    }

    /// Loads a record from durable storage (verified like any other).
    pub fn restore(&mut self, record: &Record, now: PeerTime) -> Result<Applied, DbError> {
        let now = self.clock.peer_time(now);
        self.db.apply(&record.view(), now)
    }

    /// Marks the database synchronised: a member reopening a group from its durable log held a
    /// synchronised database when it last ran, so it may read and write at once (as
    /// PeerGroupOpen allows); later connections synchronise the difference as usual.
    /// A password joiner still waiting for its certificate stays not ready.
    pub fn mark_ready(&mut self) {
        self.ready = self.password_join.is_none();
    }

    /// The database.
    pub fn database(&self) -> &RecordDb {
        &self.db
    }

    /// Bounds the bytes this member's database may grow to (see [`RecordDb::set_byte_limit`]):
    /// the host's share for this group of a budget over all its groups.
    pub fn set_database_byte_limit(&mut self, limit: usize) {
        self.db.set_byte_limit(limit);
    }

    /// Whether the database is synchronised (records may be read and written).
    pub fn is_ready(&self) -> bool {
        self.ready
    }

    /// This member's key.
    pub fn key(&self) -> MemberKey {
        self.credentials.member()
    }

    /// The group root's public key (from this member's certificate).
    pub fn group_root(&self) -> MemberKey {
        self.credentials.certificate.group_root
    }

    /// The group's tag.
    pub fn tag(&self) -> GroupTag {
        self.tag
    }

    /// What was sent so far.
    pub fn stats(&self) -> Stats {
        let mut stats = self.stats;
        stats.retransmissions = self.peers.values().map(|p| p.channel.retransmissions()).sum::<u64>();
        stats
    }

    /// The members connected now.
    pub fn connected(&self) -> impl Iterator<Item = (&A, &MemberKey)> {
        self.peers.iter().filter_map(|(a, p)| match &p.state {
            PeerState::Connected(key) => Some((a, key)),
            PeerState::Connecting { .. } => None,
        })
    }

    /// Whether nothing is waiting to be sent, acknowledged or synchronised.
    pub fn is_idle(&self) -> bool {
        self.outbox.is_empty()
            && self.sync.is_none()
            && self.peers.values().all(|p| p.channel.is_idle() && p.pushes.is_empty())
    }

    /// Whether a synchronisation is under way or waiting.
    pub fn is_synchronising(&self) -> bool {
        self.sync.is_some() || !self.sync_queue.is_empty()
    }

    // ---- local operations (PeerGroupAddRecord / UpdateRecord / DeleteRecord) ----

    /// Adds a record written by this member; `random` supplies the free half of its ID. The
    /// returned record must be made durable before the application hears of success.
    pub fn add_record(
        &mut self,
        draft: RecordDraft,
        random: u64,
        now: PeerTime,
    ) -> Result<Record, GroupError> {
        let now = self.clock.peer_time(now);
        self.check_local(now)?;
        let record =
            Record::create(&self.credentials, &self.root, draft, random, now).map_err(GroupError::Record)?;
        self.store_local(record, now)
    }

    /// Replaces a live record's attributes, data and expiration.
    pub fn update_record(
        &mut self,
        id: &RecordId,
        draft: RecordDraft,
        now: PeerTime,
    ) -> Result<Record, GroupError> {
        let now = self.clock.peer_time(now);
        self.check_local(now)?;
        let current = self.db.get_live(id).ok_or(GroupError::NotFound)?;
        if current.record_type != draft.record_type {
            return Err(GroupError::TypeChanged);
        }
        let next = current.revise(&self.credentials, &self.root, draft, now).map_err(GroupError::Record)?;
        self.store_local(next, now)
    }

    /// Deletes a live record (a tombstone replaces it until its expiration).
    pub fn delete_record(&mut self, id: &RecordId, now: PeerTime) -> Result<Record, GroupError> {
        let now = self.clock.peer_time(now);
        self.check_local(now)?;
        let current = self.db.get_live(id).ok_or(GroupError::NotFound)?;
        let tombstone = current.tombstone(&self.credentials, &self.root, now).map_err(GroupError::Record)?;
        self.store_local(tombstone, now)
    }

    /// A live record (PeerGroupGetRecord).
    pub fn record(&self, id: &RecordId) -> Result<&Record, GroupError> {
        if !self.ready {
            return Err(GroupError::NotReady);
        }
        self.db.get_live(id).ok_or(GroupError::NotFound)
    }

    fn check_local(&self, now: PeerTime) -> Result<(), GroupError> {
        if !self.ready {
            return Err(GroupError::NotReady);
        }
        let root = VerifyingKey::from_bytes(&self.root)
            .map_err(|_| GroupError::NotMember(MembershipError::Malformed))?;
        self.credentials.certificate.check(&root, now).map_err(GroupError::NotMember)
    }

    fn store_local(&mut self, record: Record, now: PeerTime) -> Result<Record, GroupError> {
        match self.db.apply(&record.view(), now).map_err(GroupError::Database)? {
            Applied::Stored(change) => {
                self.announce(record.id, change, now);
                self.flood(&record, None);
                Ok(record)
            }
            Applied::NotNewer => Err(GroupError::Record(RecordError::Inconsistent)),
        }
    }

    fn announce(&mut self, id: RecordId, change: Option<Change>, _now: PeerTime) {
        self.events.push_back(GroupEvent::RecordStored(id));
        if let (Some(change), Some(record)) = (change, self.db.get(&id)) {
            self.events.push_back(GroupEvent::RecordChanged { change, id, record_type: record.record_type });
        }
    }

    /// Sends `record` to every connected member but `except`.
    fn flood(&mut self, record: &Record, except: Option<&A>) {
        let targets: Vec<A> =
            self.connected().map(|(a, _)| a.clone()).filter(|a| Some(a) != except).collect();
        for peer in targets {
            self.send_record(&peer, record);
        }
    }

    fn send_record(&mut self, peer: &A, record: &Record) {
        self.stats.records_flooded += 1;
        self.send_reliable(peer, Body::Flood(record.view()));
    }

    // ---- connections ----

    /// Connects to the member at `peer` (PeerGroupConnect / ConnectByAddress) at host clock
    /// `now`: sends HELLO, or PASSWORD_HELLO while a password join waits for its certificate.
    /// Nothing happens if a connection to `peer` exists or is being made.
    pub fn connect(&mut self, peer: A, now: PeerTime) {
        if let Some(join) = self.password_join.as_mut() {
            if join.attempts.len() >= MAX_CONNECTIONS && !join.attempts.contains_key(&peer) {
                self.events.push_back(GroupEvent::MemberDisconnected(peer));
                return;
            }
            self.nonces = self.nonces.wrapping_add(1);
            let nonce = handshake::nonce(&self.credentials.signing_key, &self.entropy, self.nonces);
            if let Some(join) = self.password_join.as_mut() {
                join.attempts.insert(peer, PasswordAttempt { nonce, due: None, transmissions: 0 });
            }
            return;
        }
        if self.peers.contains_key(&peer) {
            // Connected, or a handshake under way: starting another would strand what the
            // connection carries (a synchronisation waiting on its answers).
            return;
        }
        if self.peers.len() >= MAX_CONNECTIONS {
            self.events.push_back(GroupEvent::MemberDisconnected(peer));
            return;
        }
        let (counter, hello) = self.contribution(self.clock.peer_time(now));
        let hello_id = self.next_id;
        self.peers.insert(peer.clone(), Peer::new(PeerState::Connecting { counter, hello, hello_id }));
        let certificate = self.credentials.certificate;
        let Contribution { nonce, ephemeral, clock, .. } = hello;
        self.send_reliable(&peer, Body::Hello { certificate, nonce, ephemeral, clock });
    }

    /// A fresh nonce and ephemeral key (from the returned counter) and our peer time `clock`.
    fn contribution(&mut self, clock: PeerTime) -> (u64, Contribution) {
        self.nonces = self.nonces.wrapping_add(1);
        let key = &self.credentials.signing_key;
        let secret = handshake::ephemeral_secret(key, &self.entropy, self.nonces);
        let contribution = Contribution {
            member: self.credentials.member(),
            nonce: handshake::nonce(key, &self.entropy, self.nonces),
            ephemeral: handshake::ephemeral_public(&secret),
            clock,
        };
        (self.nonces, contribution)
    }

    /// Closes the connection to `peer`, telling it.
    pub fn disconnect(&mut self, peer: &A) {
        if self.peers.contains_key(peer) {
            self.send_now(peer, Body::Disconnect);
            self.lost(peer.clone());
        }
    }

    /// Closes every connection, telling each member (PeerGroupClose): afterwards
    /// [`Member::poll_transmit`] yields only the DISCONNECTs.
    pub fn close(&mut self) {
        self.half_open.clear();
        let peers: Vec<A> = self.peers.keys().cloned().collect();
        for peer in peers {
            self.disconnect(&peer);
        }
    }

    /// Drops every connection without a word (the member goes offline).
    pub fn drop_connections(&mut self) {
        let peers: Vec<A> = self.peers.keys().cloned().collect();
        self.peers.clear();
        self.half_open.clear();
        self.outbox.clear();
        for peer in peers {
            self.lost(peer);
        }
    }

    fn lost(&mut self, peer: A) {
        self.peers.remove(&peer);
        self.sync_queue.retain(|p| *p != peer);
        if self.sync.as_ref().is_some_and(|s| s.peer == peer) {
            self.sync = None;
            self.start_next_sync();
        }
        self.events.push_back(GroupEvent::MemberDisconnected(peer));
    }

    fn send_reliable(&mut self, peer: &A, body: Body<'_>) {
        let sync = matches!(
            body,
            Body::SolicitHash(_)
                | Body::Hashes { .. }
                | Body::SolicitAbstracts(_)
                | Body::Advertise { .. }
                | Body::Request(_)
                | Body::Records { .. }
        );
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        let bytes = Message { tag: self.tag, id, body }.encode();
        if sync {
            self.stats.sync_bytes += bytes.len() as u64;
        }
        let Some(state) = self.peers.get_mut(peer) else { return };
        if state.channel.send(id, bytes).is_err() {
            // Overloaded: drop the member; it catches up by synchronisation when it reconnects.
            self.lost(peer.clone());
        }
    }

    /// Sends an unreliable message at once: sealed to a member we hold keys for, unless it
    /// belongs to the handshake.
    fn send_now(&mut self, peer: &A, body: Body<'_>) {
        let clear = body.is_handshake();
        let bytes = Message { tag: self.tag, id: 0, body }.encode();
        self.push_out(peer, bytes, clear);
    }

    /// Acknowledges message `id`; the acknowledgement of a handshake message travels in the
    /// clear (the other side may not hold the keys yet).
    fn send_ack(&mut self, peer: &A, id: u32, of_handshake: bool) {
        let bytes = Message { tag: self.tag, id: 0, body: Body::Ack(id) }.encode();
        self.push_out(peer, bytes, of_handshake);
    }

    fn push_out(&mut self, peer: &A, bytes: Vec<u8>, clear: bool) {
        let bytes = match self.peers.get_mut(peer).and_then(|p| p.session.as_mut()) {
            Some(session) if !clear => match session.seal(&bytes) {
                Ok(sealed) => {
                    #[cfg(test)]
                    self.sealed_clear.insert(sealed.clone(), bytes.clone());
                    sealed
                }
                // Never sent in the clear instead.
                Err(_) => return,
            },
            _ => bytes,
        };
        self.outbox.push_back((peer.clone(), bytes));
    }

    // ---- I/O ----

    /// The next datagram to send at host clock `now`, with its destination. Reliable messages are
    /// sealed as they leave, so every retransmission has a counter of its own.
    pub fn poll_transmit(&mut self, now: PeerTime) -> Option<(A, Vec<u8>)> {
        self.queue_password_hellos(now);
        let next = self.outbox.pop_front().or_else(|| {
            self.peers.iter_mut().find_map(|(a, p)| {
                let bytes = p.channel.poll(now)?.bytes;
                if bytes.get(3).is_some_and(|kind| Body::is_handshake_type(*kind)) {
                    return Some((a.clone(), bytes));
                }
                // Only connected members have reliable messages outside the handshake, and
                // they hold keys; a message that cannot be sealed is never sent in the clear.
                let sealed = p.session.as_mut()?.seal(&bytes).ok()?;
                #[cfg(test)]
                self.sealed_clear.insert(sealed.clone(), bytes);
                Some((a.clone(), sealed))
            })
        })?;
        self.stats.datagrams += 1;
        self.stats.bytes += next.1.len() as u64;
        Some(next)
    }

    /// Tests: the clear message of a datagram this member sent (itself if it was not sealed).
    #[cfg(test)]
    pub(crate) fn clear_view(&self, datagram: &[u8]) -> Vec<u8> {
        self.sealed_clear.get(datagram).cloned().unwrap_or_else(|| datagram.to_vec())
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<GroupEvent<A>> {
        self.events.pop_front()
    }

    /// When [`Member::handle_timeout`] (and then [`Member::poll_transmit`]) is next needed, on
    /// the host's clock.
    pub fn next_timeout(&self) -> Option<PeerTime> {
        let channels = self.peers.values().filter_map(|p| p.channel.next_timeout());
        let expiration = self.db.next_expiration().map(|peer| self.clock.universal_time(peer));
        // Password HELLOs are due on the host's clock.
        let hellos = self.password_join.iter().flat_map(|j| j.attempts.values().filter_map(|a| a.due));
        let half_open = self.half_open.values().map(|h| h.deadline);
        let certificates = self
            .peers
            .values()
            .filter(|p| p.valid_until != PeerTime(u64::MAX))
            .map(|p| self.clock.universal_time(p.valid_until));
        channels.chain(hellos).chain(expiration).chain(half_open).chain(certificates).min()
    }

    /// Sends the password HELLOs due at `now`; an attempt sent [`MAX_TRANSMISSIONS`] times
    /// without a grant is given up (MemberDisconnected).
    fn queue_password_hellos(&mut self, now: PeerTime) {
        let Some(join) = self.password_join.as_mut() else { return };
        let member = self.credentials.certificate.member;
        let mut given_up = Vec::new();
        for (peer, attempt) in join.attempts.iter_mut() {
            if attempt.due.is_some_and(|due| due > now) {
                continue;
            }
            if attempt.transmissions >= MAX_TRANSMISSIONS {
                given_up.push(peer.clone());
                continue;
            }
            attempt.transmissions += 1;
            attempt.due = Some(now.plus_ticks(RETRANSMIT_INTERVAL));
            let body = Body::PasswordHello { member, nonce: attempt.nonce };
            self.outbox.push_back((peer.clone(), Message { tag: self.tag, id: 0, body }.encode()));
        }
        for peer in given_up {
            join.attempts.remove(&peer);
            self.events.push_back(GroupEvent::MemberDisconnected(peer));
        }
    }

    /// PASSWORD_HELLO on the granting side: a challenge, or a refusal when this member grants
    /// nothing.
    fn on_password_hello(&mut self, from: A, member: MemberKey, nonce: Nonce, now: PeerTime) {
        match &self.grantor {
            Some(grantor) => {
                let challenge = grantor.challenge(&member, &nonce, now);
                self.send_now(&from, Body::PasswordChallenge { nonce, challenge });
            }
            None => self.send_now(&from, Body::Refuse(RefuseReason::NoPasswordAuthentication)),
        }
    }

    /// PASSWORD_CHALLENGE on the joining side at host clock `now`: answer it with the password's
    /// key.
    fn on_password_challenge(&mut self, from: A, nonce: Nonce, challenge: Nonce, now: PeerTime) {
        let Some(join) = self.password_join.as_mut() else { return };
        let Some(attempt) = join.attempts.get_mut(&from).filter(|a| a.nonce == nonce) else { return };
        // Give the answer one retransmission interval before the HELLO is repeated.
        attempt.due = Some(now.plus_ticks(RETRANSMIT_INTERVAL));
        let proof =
            PasswordProof::answer(&join.key, &self.credentials.signing_key, self.tag, nonce, challenge);
        self.send_now(&from, Body::PasswordProof(proof));
    }

    /// PASSWORD_PROOF on the granting side: a certificate, or AuthenticationFailed.
    fn on_password_proof(&mut self, from: A, proof: &PasswordProof, now: PeerTime) -> Result<(), GroupError> {
        let tag = self.tag;
        let Some(grantor) = self.grantor.as_mut() else {
            self.send_now(&from, Body::Refuse(RefuseReason::NoPasswordAuthentication));
            return Err(GroupError::PasswordRefused(RefuseReason::NoPasswordAuthentication));
        };
        match grantor.grant(tag, proof, now) {
            Ok(certificate) => {
                self.send_now(&from, Body::PasswordGrant(certificate));
                Ok(())
            }
            Err(_) => {
                let reason = RefuseReason::AuthenticationFailed;
                self.send_now(&from, Body::Refuse(reason));
                self.events.push_back(GroupEvent::AuthenticationFailed { peer: from, reason });
                Err(GroupError::PasswordRefused(reason))
            }
        }
    }

    /// PASSWORD_GRANT on the joining side at peer time `now` (host clock `local`): becomes an
    /// ordinary member and connects as one to every member it was trying.
    fn on_password_grant(
        &mut self,
        from: A,
        certificate: MembershipCertificate,
        now: PeerTime,
        local: PeerTime,
    ) -> Result<(), GroupError> {
        let Some(join) = self.password_join.as_ref() else { return Ok(()) };
        if !join.attempts.contains_key(&from) {
            return Err(GroupError::NotConnected);
        }
        if certificate.member != self.credentials.certificate.member {
            return Err(GroupError::NotMember(MembershipError::Malformed));
        }
        self.check_peer_certificate(&certificate, now).map_err(GroupError::NotMember)?;
        let peers: Vec<A> = join.attempts.keys().cloned().collect();
        self.password_join = None;
        self.credentials.certificate = certificate;
        self.events.push_back(GroupEvent::CertificateGranted(certificate));
        for peer in peers {
            self.connect(peer, local);
        }
        Ok(())
    }

    /// A REFUSE of a password attempt: the attempt ends.
    fn on_password_refused(&mut self, from: &A, reason: RefuseReason) -> bool {
        let Some(join) = self.password_join.as_mut() else { return false };
        if join.attempts.remove(from).is_none() {
            return false;
        }
        join.refused = Some(reason);
        self.events.push_back(GroupEvent::AuthenticationFailed { peer: from.clone(), reason });
        true
    }

    /// Advances to host clock `now`: expires records (in peer time), declares silent members lost.
    pub fn handle_timeout(&mut self, now: PeerTime) {
        for (id, record_type) in self.db.expire(self.clock.peer_time(now)) {
            self.events.push_back(GroupEvent::RecordChanged { change: Change::Expired, id, record_type });
        }
        let dead: Vec<A> =
            self.peers.iter().filter(|(_, p)| p.channel.is_dead(now)).map(|(a, _)| a.clone()).collect();
        for peer in dead {
            self.lost(peer);
        }
        self.half_open.retain(|_, h| h.deadline > now);
        // A member stays a member only while its certificate is valid.
        let peer_now = self.clock.peer_time(now);
        let expired: Vec<A> = self
            .peers
            .iter()
            .filter(|(_, p)| matches!(p.state, PeerState::Connected(_)) && p.valid_until <= peer_now)
            .map(|(a, _)| a.clone())
            .collect();
        for peer in expired {
            self.disconnect(&peer);
        }
    }

    /// Seals an encoded message to connected member `peer` as this member's next datagram to it
    /// would be. For tests that play a member misbehaving inside its own connection (a forged
    /// record sent over a genuine session); the engine itself never needs it.
    pub fn seal_to(&mut self, peer: &A, clear: &[u8]) -> Result<Vec<u8>, GroupError> {
        let session =
            self.peers.get_mut(peer).and_then(|p| p.session.as_mut()).ok_or(GroupError::NotConnected)?;
        session.seal(clear).map_err(GroupError::Seal)
    }

    /// Opens a sealed frame from `from` into the clear message it carries.
    fn open(&mut self, from: &A, bytes: &[u8]) -> Result<Vec<u8>, GroupError> {
        let frame = match SealedFrame::decode(bytes) {
            Ok(frame) => frame,
            Err(error) => {
                self.stats.rejects.count(error);
                return Err(GroupError::Seal(error));
            }
        };
        if frame.tag != self.tag {
            return Err(GroupError::OtherGroup);
        }
        let Some(peer) = self.peers.get_mut(from) else {
            // A member whose PROOF is still on its way may already send sealed messages; they are
            // not acknowledged, so it retransmits them once connected.
            if self.half_open.contains_key(from) {
                return Err(GroupError::NotConnected);
            }
            // A member that still thinks it is connected (we restarted or dropped it): tell it.
            self.send_now(from, Body::Disconnect);
            return Err(GroupError::NotConnected);
        };
        let Some(session) = peer.session.as_mut() else { return Err(GroupError::NotConnected) };
        session.open(&frame).map_err(|error| {
            self.stats.rejects.count(error);
            GroupError::Seal(error)
        })
    }

    /// Handles one datagram from `from` at host clock `now`. Errors leave the state as it was
    /// (apart from the acknowledgement of a well-formed reliable message and the counters of
    /// refused datagrams).
    pub fn handle_datagram(&mut self, from: A, bytes: &[u8], now: PeerTime) -> Result<(), GroupError> {
        let local = now;
        let now = self.clock.peer_time(local);
        let opened;
        let (bytes, sealed) = if SealedFrame::is_sealed(bytes) {
            opened = self.open(&from, bytes)?;
            (opened.as_slice(), true)
        } else {
            (bytes, false)
        };
        let message = Message::decode(bytes).map_err(GroupError::Decode)?;
        if message.tag != self.tag {
            return Err(GroupError::OtherGroup);
        }
        if !sealed {
            self.check_clear(&from, &message.body)?;
        }
        self.stats.records_received += match &message.body {
            Body::Flood(_) => 1,
            Body::Records { records, .. } => records.len() as u64,
            _ => 0,
        };
        match message.body {
            Body::Ack(id) => {
                if let Some(peer) = self.peers.get_mut(&from) {
                    peer.channel.acknowledge(id);
                }
                self.pump_pushes(&from);
                return Ok(());
            }
            Body::Refuse(reason) if self.on_password_refused(&from, reason) => return Ok(()),
            Body::Refuse(reason) => {
                if self.peers.contains_key(&from) {
                    self.lost(from);
                    if reason == RefuseReason::ClockSkew {
                        return Err(GroupError::ClockSkew);
                    }
                }
                return Ok(());
            }
            Body::Disconnect => {
                if self.peers.contains_key(&from) {
                    self.lost(from);
                }
                return Ok(());
            }
            Body::Hello { certificate, nonce, ephemeral, clock } => {
                let hello = Contribution { member: certificate.member, nonce, ephemeral, clock };
                return self.on_hello(from, (message.id, bytes.len()), certificate, hello, (now, local));
            }
            Body::Welcome { certificate, nonce, ephemeral, clock, proof } => {
                return self.on_welcome(from, certificate, (nonce, ephemeral, clock), &proof, local);
            }
            Body::Proof(proof) => return self.on_proof(from, message.id, &proof),
            Body::PasswordHello { member, nonce } => {
                self.on_password_hello(from, member, nonce, now);
                return Ok(());
            }
            Body::PasswordChallenge { nonce, challenge } => {
                self.on_password_challenge(from, nonce, challenge, local);
                return Ok(());
            }
            Body::PasswordProof(proof) => return self.on_password_proof(from, &proof, now),
            Body::PasswordGrant(certificate) => return self.on_password_grant(from, certificate, now, local),
            _ => {}
        }
        let Some(peer) = self.peers.get_mut(&from) else {
            // A member that still thinks it is connected (we restarted or dropped it): tell it.
            self.send_now(&from, Body::Disconnect);
            return Err(GroupError::NotConnected);
        };
        if !matches!(peer.state, PeerState::Connected(_)) {
            // Not acknowledged: the sender retransmits it once the handshake completes (a message
            // can overtake the PROOF that precedes it).
            return Err(GroupError::NotConnected);
        }
        let duplicate = peer.channel.is_duplicate(message.id);
        self.send_ack(&from, message.id, false);
        if duplicate {
            return Ok(());
        }
        match message.body {
            Body::SolicitHash(range) => {
                let children = self.db.child_digests(&range);
                self.send_reliable(&from, Body::Hashes { range, children });
                Ok(())
            }
            Body::SolicitAbstracts(range) => {
                let items: Vec<Abstract> = self.db.abstracts(&range).take(MAX_ABSTRACTS).collect();
                let encoded = Abstracts::encode(&items);
                // At most MAX_ABSTRACTS items, so the encoding is always accepted.
                let Some(abstracts) = Abstracts::from_encoded(&encoded) else { return Ok(()) };
                self.send_reliable(&from, Body::Advertise { range, abstracts });
                Ok(())
            }
            Body::Request(ids) => {
                self.serve(&from, ids.iter().collect());
                Ok(())
            }
            Body::Flood(record) => self.on_record(&from, &record, now),
            Body::Hashes { range, children } => {
                self.on_hashes(&from, range, &children);
                Ok(())
            }
            Body::Advertise { range, abstracts } => {
                self.on_advertise(&from, range, abstracts);
                Ok(())
            }
            Body::Records { records, gone } => {
                self.on_records(&from, records, gone, now);
                Ok(())
            }
            Body::Ack(_)
            | Body::Refuse(_)
            | Body::Disconnect
            | Body::Hello { .. }
            | Body::Welcome { .. }
            | Body::Proof(_)
            | Body::PasswordHello { .. }
            | Body::PasswordChallenge { .. }
            | Body::PasswordProof(_)
            | Body::PasswordGrant(_) => Ok(()),
        }
    }

    fn check_peer_certificate(
        &self,
        certificate: &MembershipCertificate,
        now: PeerTime,
    ) -> Result<(), MembershipError> {
        let root = VerifyingKey::from_bytes(&self.root).map_err(|_| MembershipError::Malformed)?;
        certificate.check(&root, now)
    }

    /// A clear message from `from`: handshake messages are welcome, anything else only from a
    /// member we hold no keys for (and then it goes through the usual checks). A clear ACK may
    /// acknowledge a handshake message; a clear REFUSE cannot end an established connection.
    fn check_clear(&mut self, from: &A, body: &Body<'_>) -> Result<(), GroupError> {
        let Some(peer) = self.peers.get_mut(from) else { return Ok(()) };
        let allowed = match body {
            Body::Refuse(_) => !matches!(peer.state, PeerState::Connected(_)),
            Body::Ack(id) => {
                peer.session.is_none()
                    || peer.channel.acknowledge_if(*id, |bytes| {
                        bytes.get(3).is_some_and(|kind| Body::is_handshake_type(*kind))
                    })
            }
            body if body.is_handshake() => true,
            _ => peer.session.is_none(),
        };
        if allowed {
            return Ok(());
        }
        self.stats.rejects.unsealed += 1;
        Err(GroupError::Unsealed)
    }

    /// A HELLO from `from` (message `id`, `received` bytes long) at peer time `now` (host clock
    /// `local`). Whoever sent it has proven nothing yet (its certificate is public), so the answer
    /// is one WELCOME per HELLO, never retransmitted, a HELLO that costs work is rate-limited
    /// ([`MAX_HELLOS_PER_WINDOW`]), and an existing connection from that address stays until the
    /// new handshake's PROOF verifies.
    fn on_hello(
        &mut self,
        from: A,
        (id, received): (u32, usize),
        certificate: MembershipCertificate,
        hello: Contribution,
        (now, local): (PeerTime, PeerTime),
    ) -> Result<(), GroupError> {
        if let Some(half_open) = self.half_open.get(&from).filter(|h| h.hello_id == id) {
            // A retransmitted HELLO: our WELCOME was lost. Answer it again, once.
            let welcome = half_open.welcome.clone();
            self.send_to_unverified(&from, welcome, received);
            return Ok(());
        }
        let own_key = self.key();
        if let Some(peer) = self.peers.get(&from) {
            match peer.state {
                // The HELLO that opened this connection, retransmitted before our WELCOME arrived.
                PeerState::Connected(_) if peer.channel.was_seen(id) => return Ok(()),
                PeerState::Connecting { .. } if own_key < certificate.member => {
                    // Both sides connect at once: the smaller key stays the connecting side.
                    self.send_ack(&from, id, true);
                    return Ok(());
                }
                _ => {}
            }
        } else if self.peers.len() >= MAX_CONNECTIONS {
            self.send_to_unverified(&from, self.encode(Body::Refuse(RefuseReason::Full)), received);
            return Ok(());
        }
        let window = local.0 / HELLO_WINDOW;
        if self.hello_window.0 != window {
            self.hello_window = (window, 0);
        }
        if self.hello_window.1 >= MAX_HELLOS_PER_WINDOW {
            self.stats.hellos_dropped += 1;
            return Ok(());
        }
        self.hello_window.1 += 1;
        if let Err(error) = self.check_peer_certificate(&certificate, now) {
            self.send_to_unverified(&from, self.encode(Body::Refuse(RefuseReason::NotMember)), received);
            return Err(GroupError::NotMember(error));
        }
        if PeerClock::check(now, hello.clock).is_err() {
            self.send_to_unverified(&from, self.encode(Body::Refuse(RefuseReason::ClockSkew)), received);
            return Err(GroupError::ClockSkew);
        }
        let (counter, welcome) = self.contribution(now);
        let transcript = Transcript { tag: self.tag, connecting: hello, accepting: welcome }.hash();
        let secret = handshake::ephemeral_secret(&self.credentials.signing_key, &self.entropy, counter);
        let Some(keys) = handshake::session_keys(&secret, &hello.ephemeral, &transcript, Side::Welcome)
        else {
            self.send_to_unverified(&from, self.encode(Body::Refuse(RefuseReason::NotMember)), received);
            return Err(GroupError::BadProof);
        };
        let proof = handshake::prove(&self.credentials.signing_key, Side::Welcome, &transcript);
        let own = self.credentials.certificate;
        let Contribution { nonce, ephemeral, clock, .. } = welcome;
        let welcome = self.encode(Body::Welcome { certificate: own, nonce, ephemeral, clock, proof });
        if !self.half_open.contains_key(&from)
            && self.half_open.len() >= MAX_HALF_OPEN
            && let Some(oldest) =
                self.half_open.iter().min_by_key(|(_, h)| h.deadline).map(|(a, _)| a.clone())
        {
            self.half_open.remove(&oldest);
        }
        let half_open = HalfOpen {
            certificate,
            transcript,
            session: Session::new(&keys),
            hello_id: id,
            welcome: welcome.clone(),
            deadline: local.plus_ticks(HANDSHAKE_TIMEOUT),
        };
        self.half_open.insert(from.clone(), half_open);
        self.send_to_unverified(&from, welcome, received);
        Ok(())
    }

    /// Encodes an unreliable message.
    fn encode(&self, body: Body<'_>) -> Vec<u8> {
        Message { tag: self.tag, id: 0, body }.encode()
    }

    /// Sends a clear handshake answer to an address whose owner has not proven its key, if it is
    /// at most [`MAX_HANDSHAKE_AMPLIFICATION`] times the `received` bytes it answers.
    fn send_to_unverified(&mut self, to: &A, bytes: Vec<u8>, received: usize) {
        if bytes.len() <= received.saturating_mul(MAX_HANDSHAKE_AMPLIFICATION) {
            self.outbox.push_back((to.clone(), bytes));
        }
    }

    /// The PROOF (message `id`) that completes a handshake we answered: a proof that does not
    /// verify is ignored (it proves nothing, so it ends nothing); one that does makes the member
    /// connected, replacing an older connection from the same address (the member restarted).
    fn on_proof(&mut self, from: A, id: u32, proof: &[u8; PROOF_LEN]) -> Result<(), GroupError> {
        let Some(half_open) = self.half_open.get(&from) else {
            if self.peers.get(&from).is_some_and(|p| p.channel.was_seen(id)) {
                // Our acknowledgement was lost.
                self.send_ack(&from, id, true);
                return Ok(());
            }
            return Err(GroupError::NotConnected);
        };
        let member = half_open.certificate.member;
        if !handshake::check(&member, Side::Connect, &half_open.transcript, proof) {
            return Err(GroupError::BadProof);
        }
        let Some(half_open) = self.half_open.remove(&from) else { return Err(GroupError::NotConnected) };
        match self.peers.get(&from).map(|p| &p.state) {
            Some(PeerState::Connected(_)) => self.lost(from.clone()),
            Some(PeerState::Connecting { .. }) => {}
            None if self.peers.len() >= MAX_CONNECTIONS => {
                self.send_now(&from, Body::Refuse(RefuseReason::Full));
                return Ok(());
            }
            None => {}
        }
        let mut peer = Peer::new(PeerState::Connected(member));
        peer.valid_until = half_open.certificate.valid_until;
        peer.session = Some(half_open.session);
        let _ = peer.channel.is_duplicate(half_open.hello_id);
        let _ = peer.channel.is_duplicate(id);
        self.peers.insert(from.clone(), peer);
        self.send_ack(&from, id, true);
        self.events.push_back(GroupEvent::MemberConnected { peer: from, member });
        Ok(())
    }

    /// The WELCOME: checks the proof over the transcript, then the certificate
    /// against the peer time it carries (host clock `local`), derives the session keys, adopts
    /// that peer time and answers PROOF. A WELCOME whose proof does not verify is ignored.
    fn on_welcome(
        &mut self,
        from: A,
        certificate: MembershipCertificate,
        (nonce, ephemeral, clock): (Nonce, Ephemeral, PeerTime),
        proof: &[u8; PROOF_LEN],
        local: PeerTime,
    ) -> Result<(), GroupError> {
        let Some(PeerState::Connecting { counter, hello, hello_id }) =
            self.peers.get(&from).map(|p| p.state.clone())
        else {
            return Err(GroupError::NotConnected);
        };
        let welcome = Contribution { member: certificate.member, nonce, ephemeral, clock };
        let transcript = Transcript { tag: self.tag, connecting: hello, accepting: welcome }.hash();
        if !handshake::check(&certificate.member, Side::Welcome, &transcript, proof) {
            return Err(GroupError::BadProof);
        }
        // The clock is authenticated now, but only a member's clock may become the group's: the
        // certificate is checked against the peer time we would adopt, which is committed only
        // once everything else passed.
        let mut clock_then = self.clock;
        if clock_then.learn(hello.clock, self.clock.peer_time(local), clock).is_err() {
            self.send_now(&from, Body::Refuse(RefuseReason::ClockSkew));
            self.lost(from);
            return Err(GroupError::ClockSkew);
        }
        if let Err(error) = self.check_peer_certificate(&certificate, clock_then.peer_time(local)) {
            self.lost(from);
            return Err(GroupError::NotMember(error));
        }
        let secret = handshake::ephemeral_secret(&self.credentials.signing_key, &self.entropy, counter);
        let Some(keys) = handshake::session_keys(&secret, &ephemeral, &transcript, Side::Connect) else {
            self.lost(from);
            return Err(GroupError::BadProof);
        };
        self.clock = clock_then;
        let answer = handshake::prove(&self.credentials.signing_key, Side::Connect, &transcript);
        let Some(peer) = self.peers.get_mut(&from) else { return Err(GroupError::NotConnected) };
        // The WELCOME answers the HELLO. (It is not reliable: its message ID is 0 and is not
        // remembered; a copy of it finds this member no longer connecting.)
        peer.channel.acknowledge(hello_id);
        peer.state = PeerState::Connected(certificate.member);
        peer.valid_until = certificate.valid_until;
        peer.session = Some(Session::new(&keys));
        self.send_reliable(&from, Body::Proof(answer));
        self.events.push_back(GroupEvent::MemberConnected { peer: from.clone(), member: certificate.member });
        if !self.sync_queue.contains(&from) {
            self.sync_queue.push_back(from);
        }
        if self.sync.is_none() {
            self.start_next_sync();
        }
        Ok(())
    }

    fn on_record(&mut self, from: &A, record: &RecordView<'_>, now: PeerTime) -> Result<(), GroupError> {
        if let Some(sync) = self.sync.as_mut().filter(|s| s.peer == *from) {
            sync.requested.remove(&record.id);
        }
        match self.db.apply(record, now) {
            Ok(Applied::Stored(change)) => {
                self.announce(record.id, change, now);
                if let Some(stored) = self.db.get(&record.id).cloned() {
                    self.flood(&stored, Some(from));
                }
                Ok(())
            }
            Ok(Applied::NotNewer) | Err(DbError::Expired) => Ok(()),
            Err(error) => {
                self.stats.records_refused += 1;
                let error = GroupError::Database(error);
                self.events.push_back(GroupEvent::RecordRefused { peer: from.clone(), error });
                Err(error)
            }
        }
    }

    /// Answers a REQUEST with as many RECORDS messages as needed.
    fn serve(&mut self, to: &A, ids: Vec<RecordId>) {
        let mut gone = Vec::new();
        let mut batch = Vec::new();
        let budget = MAX_MESSAGE_LEN - HEADER_LEN - 4 - MAX_REQUEST_IDS * 16;
        for id in ids {
            let Some(len) = self.db.get(&id).map(|r| r.view().encoded_len()) else {
                gone.push(id);
                continue;
            };
            if !batch.is_empty() && batch.len() + len > budget {
                self.send_records(to, &batch, &[]);
                batch.clear();
            }
            if let Some(record) = self.db.get(&id) {
                record.encode(&mut batch);
            }
            self.stats.records_served += 1;
        }
        self.send_records(to, &batch, &gone);
    }

    fn send_records(&mut self, to: &A, encoded: &[u8], gone: &[RecordId]) {
        let Ok(records) = Records::from_encoded(encoded) else { return };
        let gone = Ids::encode(gone);
        let Some(gone) = Ids::from_encoded(&gone) else { return };
        self.send_reliable(to, Body::Records { records, gone });
    }

    // ---- synchronisation (the driving side) ----

    fn start_next_sync(&mut self) {
        while self.sync.is_none() {
            let Some(peer) = self.sync_queue.pop_front() else { return };
            if !self.peers.contains_key(&peer) {
                continue;
            }
            self.sync = Some(Sync {
                peer,
                pending: BTreeSet::new(),
                todo: VecDeque::from([SyncStep::Hashes(Range::ROOT)]),
                wanted: VecDeque::new(),
                requested: BTreeSet::new(),
            });
            self.pump_sync();
        }
    }

    /// Sends solicits and requests while there is room; ends the conversation when all is done.
    fn pump_sync(&mut self) {
        let Some(mut sync) = self.sync.take() else { return };
        while sync.pending.len() + usize::from(!sync.requested.is_empty()) < MAX_SYNC_OUTSTANDING {
            let Some(step) = sync.todo.pop_front() else { break };
            let body = match step {
                SyncStep::Hashes(range) => Body::SolicitHash(range),
                SyncStep::Abstracts(range) => Body::SolicitAbstracts(range),
            };
            sync.pending.insert(step);
            let peer = sync.peer.clone();
            self.sync = Some(sync);
            self.send_reliable(&peer, body);
            match self.sync.take() {
                Some(s) => sync = s,
                None => return,
            }
        }
        if sync.requested.is_empty() && !sync.wanted.is_empty() {
            let batch: Vec<RecordId> = (0..MAX_REQUEST_IDS).map_while(|_| sync.wanted.pop_front()).collect();
            sync.requested.extend(batch.iter().copied());
            let encoded = Ids::encode(&batch);
            let peer = sync.peer.clone();
            self.sync = Some(sync);
            if let Some(ids) = Ids::from_encoded(&encoded) {
                self.send_reliable(&peer, Body::Request(ids));
            }
            return;
        }
        if sync.is_done() {
            if !self.ready {
                self.ready = true;
                self.events.push_back(GroupEvent::Synchronised);
            }
            self.start_next_sync();
        } else {
            self.sync = Some(sync);
        }
    }

    fn on_hashes(&mut self, from: &A, range: Range, remote: &[super::range::RangeDigest; RANGE_FANOUT]) {
        let Some(sync) = self.sync.as_mut().filter(|s| s.peer == *from) else { return };
        if !sync.pending.remove(&SyncStep::Hashes(range)) {
            return;
        }
        let local = self.db.child_digests(&range);
        for digit in 0..RANGE_FANOUT as u8 {
            let (mine, theirs) = (local[usize::from(digit)], remote[usize::from(digit)]);
            if mine == theirs {
                continue;
            }
            let Some(child) = range.child(digit) else { continue };
            let step = if theirs.count <= LEAF_RECORDS || child.depth() >= MAX_RANGE_DEPTH {
                SyncStep::Abstracts(child)
            } else {
                SyncStep::Hashes(child)
            };
            sync.todo.push_back(step);
        }
        self.pump_sync();
    }

    fn on_advertise(&mut self, from: &A, range: Range, abstracts: Abstracts<'_>) {
        let Some(sync) = self.sync.as_mut().filter(|s| s.peer == *from) else { return };
        if !sync.pending.remove(&SyncStep::Abstracts(range)) {
            return;
        }
        let theirs: BTreeMap<RecordId, Abstract> = abstracts.iter().map(|a| (a.id, a)).collect();
        for item in theirs.values() {
            // Ranges of one conversation are disjoint, so an ID is wanted at most once.
            if self.db.wants(item) && !sync.requested.contains(&item.id) {
                sync.wanted.push_back(item.id);
            }
        }
        // Push what the peer is missing or holds older. (A range listing only its first
        // MAX_ABSTRACTS records cannot say what the peer lacks past them; those are left to the
        // peer's own synchronisation.)
        let complete = abstracts.len() < MAX_ABSTRACTS;
        if let Some(peer) = self.peers.get_mut(from) {
            let push = self.db.abstracts(&range).filter(|mine| match theirs.get(&mine.id) {
                Some(t) => (t.version, t.modified) < (mine.version, mine.modified),
                None => complete,
            });
            peer.pushes.extend(push.map(|mine| mine.id));
        }
        self.pump_pushes(from);
        self.pump_sync();
    }

    /// Sends pushed records to `to` while its queue holds fewer than [`MAX_QUEUED_PUSHES`].
    fn pump_pushes(&mut self, to: &A) {
        loop {
            let Some(peer) = self.peers.get_mut(to) else { return };
            if peer.channel.queued() >= MAX_QUEUED_PUSHES {
                return;
            }
            let Some(id) = peer.pushes.pop_front() else { return };
            // The newest version by now; a record that expired meanwhile is not sent.
            if let Some(record) = self.db.get(&id).cloned() {
                self.send_record(to, &record);
            }
        }
    }

    fn on_records(&mut self, from: &A, records: Records<'_>, gone: Ids<'_>, now: PeerTime) {
        for record in records.iter() {
            let _ = self.on_record(from, &record, now);
        }
        if let Some(sync) = self.sync.as_mut().filter(|s| s.peer == *from) {
            for id in gone.iter() {
                sync.requested.remove(&id);
            }
        }
        self.pump_sync();
    }
}
