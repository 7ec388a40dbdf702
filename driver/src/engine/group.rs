//! Peer groups on the device: group handles, the GROUP_* control codes run against
//! [`Member`]s, their datagrams, and the records the host must make durable.
//!
//! [`Device`](super::Device) owns one table: it dispatches the GROUP_* codes to it, routes the
//! datagrams of its group socket to it, and converts its clock to peer time; see
//! `docs/grouping.md`.

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::vec::Vec;

use peerdrt_abi::group::{
    GroupEventRecord, GroupRequest, GroupResponse, GroupStatus, MAX_MEMBER_PAGE, MEMBER_ENTRY_LEN,
    MEMBER_LOCAL, MEMBER_PRESENT, MemberEntry, RecordFields, hresult,
};
use peerdrt_abi::{AbiError, Handle};
use peerdrt_core::group::database::DbError;
use peerdrt_core::group::id::{GroupTag, MemberKey, RecordId};
use peerdrt_core::group::limits::MAX_GROUP_DB_BYTES;
use peerdrt_core::group::member::{GroupError, GroupEvent, Member, PasswordJoinState};
use peerdrt_core::group::membership::{Credentials, GroupRoot, MembershipCertificate, Role, member_key};
use peerdrt_core::group::password::PasswordGrantor;
use peerdrt_core::group::record::{Record, RecordDraft, RecordError};
use peerdrt_core::group::time::PeerTime;
use peerdrt_core::wire::Endpoint;

use super::OpenId;
use super::handles::{self, HandleKind};

/// Most groups open on one device at once.
pub const MAX_GROUPS: usize = 64;
/// Most groups one open may hold at once: the group handles it has open (CREATE, JOIN and
/// PASSWORD_JOIN each take one; CLOSE, or the open's own close, gives it back). A share of
/// [`MAX_GROUPS`], like `MAX_INSTANCES_PER_OPEN`, so that no single open can take every slot
/// and starve the others. Many opens together can still fill the device (docs/security.md).
pub const MAX_GROUPS_PER_OPEN: usize = 16;
const _: () = assert!(
    MAX_GROUPS_PER_OPEN >= 1 && 4 * MAX_GROUPS_PER_OPEN <= MAX_GROUPS,
    "four opens' full shares fit on the device"
);
/// Most bytes of records all the device's groups together may hold (each group's records at
/// their wire length, as `RecordDb::bytes` counts them): four groups filled to the core's own
/// bound, `MAX_GROUP_DB_BYTES`. Without it 64 groups could hold 2 GiB, in the kernel's
/// non-paged pool, where running out bug-checks the machine. Each group may grow by what the
/// others leave (`GroupTable::share_budget`); past its share a group refuses new records
/// (E_OUTOFMEMORY locally, a refused record from a peer) and still takes deletions.
pub const MAX_DEVICE_GROUP_BYTES: usize = 4 * MAX_GROUP_DB_BYTES;
const _: () = assert!(MAX_DEVICE_GROUP_BYTES >= MAX_GROUP_DB_BYTES, "one group can fill to the core's bound");

/// Most members one group remembers having seen (on records or in handshakes) besides those
/// connected; past it a new member is neither listed by ENUM_MEMBERS unless connected nor
/// announced as JOINED.
pub const MAX_KNOWN_MEMBERS: usize = 1024;

/// PEER_MEMBER_CHANGE_TYPE values the table raises.
pub mod member_change {
    /// PEER_MEMBER_CONNECTED.
    pub const CONNECTED: u32 = 1;
    /// PEER_MEMBER_DISCONNECTED.
    pub const DISCONNECTED: u32 = 2;
    /// PEER_MEMBER_JOINED: the first time this node sees the member (a record it wrote, or a
    /// handshake).
    pub const JOINED: u32 = 4;
}

/// A group event for the open that owns the group (queued only while the open watches it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupNotice {
    /// A record was added, updated, deleted or expired.
    RecordChanged {
        /// The group.
        group: Handle,
        /// PEER_RECORD_CHANGE_TYPE.
        change: u32,
        /// The record.
        id: [u8; 16],
        /// Its type.
        record_type: [u8; 16],
    },
    /// A member connected, disconnected or was seen for the first time.
    MemberChanged {
        /// The group.
        group: Handle,
        /// [`member_change`].
        change: u32,
        /// The member's key.
        member: MemberKey,
    },
    /// The PEER_GROUP_STATUS flags changed.
    StatusChanged {
        /// The group.
        group: Handle,
        /// The new flags.
        status: u32,
    },
    /// A connection this node started ended before the handshake completed.
    ConnectionFailed {
        /// The group.
        group: Handle,
        /// The reason.
        hresult: u32,
    },
    /// A password proof failed: this joiner's at another member, or a joiner's here.
    AuthenticationFailed {
        /// The group.
        group: Handle,
        /// The reason.
        hresult: u32,
    },
}

impl GroupNotice {
    /// The ABI form WAIT_EVENT delivers.
    pub fn record(&self) -> GroupEventRecord<'_> {
        match self {
            Self::RecordChanged { group, change, id, record_type } => {
                GroupEventRecord::RecordChanged { group: *group, change: *change, id, record_type }
            }
            Self::MemberChanged { group, change, member } => {
                GroupEventRecord::MemberChanged { group: *group, change: *change, member }
            }
            Self::StatusChanged { group, status } => {
                GroupEventRecord::StatusChanged { group: *group, status: *status }
            }
            Self::ConnectionFailed { group, hresult } => {
                GroupEventRecord::ConnectionFailed { group: *group, hresult: *hresult }
            }
            Self::AuthenticationFailed { group, hresult } => {
                GroupEventRecord::AuthenticationFailed { group: *group, hresult: *hresult }
            }
        }
    }
}

/// The members a group has seen, bounded by [`MAX_KNOWN_MEMBERS`].
#[derive(Debug, Default)]
struct KnownMembers(BTreeSet<MemberKey>);

impl KnownMembers {
    /// Remembers `key`; true if it was not known and fits.
    fn note(&mut self, key: MemberKey) -> bool {
        if self.0.contains(&key) || self.0.len() >= MAX_KNOWN_MEMBERS {
            return false;
        }
        self.0.insert(key)
    }
}

/// PEER_GROUP_STATUS of a member: LISTENING once synchronised, HAS_CONNECTIONS with any.
fn status_of(member: &Member<Endpoint>) -> u32 {
    u32::from(member.is_ready()) | if member.connected().next().is_some() { 2 } else { 0 }
}

/// Why a group request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupFailure {
    /// The buffers were malformed.
    Abi(AbiError),
    /// The API's HRESULT (FACILITY_P2P or a generic one).
    HResult(u32),
}

impl From<AbiError> for GroupFailure {
    fn from(error: AbiError) -> Self {
        GroupFailure::Abi(error)
    }
}

/// The HRESULT PeerGroup* returns for an engine error.
pub fn hresult_of(error: GroupError) -> u32 {
    use RecordError as R;
    match error {
        GroupError::NotReady => hresult::PEER_E_GROUP_NOT_READY,
        GroupError::NotFound => hresult::PEER_E_RECORD_NOT_FOUND,
        GroupError::TypeChanged => hresult::PEER_E_INVALID_RECORD,
        GroupError::NotMember(_) | GroupError::BadProof => hresult::PEER_E_INVALID_CREDENTIAL,
        GroupError::Record(record) | GroupError::Database(DbError::Record(record)) => match record {
            R::TooLarge => hresult::PEER_E_MAX_RECORD_SIZE_EXCEEDED,
            R::InvalidAttributes(_) => hresult::PEER_E_INVALID_ATTRIBUTES,
            R::NotAuthorized => hresult::PEER_E_NOT_AUTHORIZED,
            R::ExpirationShortened => hresult::PEER_E_INVALID_RECORD_EXPIRATION,
            R::NotMember(_) => hresult::PEER_E_INVALID_CREDENTIAL,
            R::Malformed | R::InvalidTimes | R::Inconsistent | R::IdNotBoundToCreator | R::BadSignature => {
                hresult::PEER_E_INVALID_RECORD
            }
        },
        GroupError::Database(DbError::Expired) => hresult::PEER_E_INVALID_RECORD_EXPIRATION,
        GroupError::Database(DbError::Full) => hresult::E_OUTOFMEMORY,
        GroupError::PasswordRefused(_) => hresult::PEER_E_CONNECTION_NOT_AUTHENTICATED,
        GroupError::ClockSkew => hresult::PEER_E_INVALID_TIME_PERIOD,
        GroupError::Decode(_)
        | GroupError::OtherGroup
        | GroupError::NotConnected
        | GroupError::Seal(_)
        | GroupError::Unsealed => hresult::E_INVALIDARG,
    }
}

/// A datagram a group wants sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupOutgoing {
    /// Where to.
    pub destination: Endpoint,
    /// The encoded group message.
    pub bytes: Vec<u8>,
}

#[derive(Debug)]
struct Slot {
    open: OpenId,
    /// The root key, on the member that created the group (only it signs invitations).
    root: Option<GroupRoot>,
    member: Member<Endpoint>,
    /// This node's member key.
    local: MemberKey,
    /// Whether the open watches the group's events (GROUP_WATCH_EVENTS).
    watched: bool,
    /// The status last seen (a change raises STATUS_CHANGED).
    status: u32,
    /// Members seen on records and in handshakes.
    known: KnownMembers,
    /// Connected members by address (so a disconnection names its member).
    connections: BTreeMap<Endpoint, MemberKey>,
    /// Addresses this node connected to whose handshake has not completed (so a failure
    /// raises CONNECTION_FAILED). At most the core's MAX_CONNECTIONS: the core refuses more at
    /// once, which ends the attempt.
    dialing: BTreeSet<Endpoint>,
}

impl Slot {
    fn new(open: OpenId, root: Option<GroupRoot>, member: Member<Endpoint>, local: MemberKey) -> Self {
        let mut known = KnownMembers::default();
        known.note(local);
        let status = status_of(&member);
        Self {
            open,
            root,
            member,
            local,
            watched: false,
            status,
            known,
            connections: BTreeMap::new(),
            dialing: BTreeSet::new(),
        }
    }

    /// The root key, if this member created the group: only it invites and grants passwords.
    fn administered(&self) -> Result<&GroupRoot, GroupFailure> {
        self.root.as_ref().ok_or(GroupFailure::HResult(hresult::PEER_E_NOT_AUTHORIZED))
    }

    /// The members to list, in key order after `after`: the known ones and the connected ones,
    /// this node's own member flagged local and present, connected ones present.
    fn members(&self, after: Option<&MemberKey>, port: u16) -> Vec<MemberEntry> {
        let mut keys: BTreeSet<&MemberKey> = self.known.0.iter().collect();
        keys.extend(self.connections.values());
        keys.into_iter()
            .filter(|k| after.is_none_or(|a| *k > a))
            .take(MAX_MEMBER_PAGE)
            .map(|key| {
                let connected = self.connections.iter().find(|(_, k)| *k == key).map(|(e, _)| e);
                match connected {
                    _ if *key == self.local => MemberEntry {
                        key: *key,
                        flags: MEMBER_PRESENT | MEMBER_LOCAL,
                        address: [0; 16],
                        port,
                    },
                    Some(e) => MemberEntry {
                        key: *key,
                        flags: MEMBER_PRESENT,
                        address: e.addr.octets(),
                        port: e.port,
                    },
                    None => MemberEntry { key: *key, flags: 0, address: [0; 16], port: 0 },
                }
            })
            .collect()
    }
}

/// The groups open on a device.
#[derive(Debug, Default)]
pub struct GroupTable {
    slots: Vec<Option<Slot>>,
    generations: Vec<u16>,
    stored: VecDeque<(Handle, Record)>,
    /// Events of watched groups, for the device to queue on their opens. Drained after every
    /// call; what one call adds is bounded by the records and connections it touches.
    notices: VecDeque<(OpenId, GroupNotice)>,
    /// DISCONNECTs of closed groups, still to be sent.
    farewells: VecDeque<GroupOutgoing>,
    /// The port of the socket the groups' datagrams use (reported to CREATE / JOIN).
    port: u16,
    /// What all groups' records may hold together: [`MAX_DEVICE_GROUP_BYTES`] (0 in
    /// `Default`, read as that; tests set less).
    byte_budget: usize,
}

/// An invitation's or a password grant's role byte (1 member, 2 administrator).
fn role_of(byte: u8) -> Result<Role, GroupFailure> {
    Role::from_byte(byte).ok_or(GroupFailure::Abi(AbiError::BadValue))
}

/// The first 8 bytes of a request's random bits, for what takes a number (record IDs, message
/// ID seeds).
fn low_bits(random: &[u8; 32]) -> u64 {
    let mut bits = [0u8; 8];
    bits.copy_from_slice(&random[..8]);
    u64::from_le_bytes(bits)
}

fn draft(fields: &RecordFields<'_>) -> Result<RecordDraft, GroupFailure> {
    let attributes = core::str::from_utf8(fields.attributes)
        .map_err(|_| GroupFailure::HResult(hresult::PEER_E_INVALID_ATTRIBUTES))?;
    Ok(RecordDraft {
        record_type: fields.record_type,
        attributes: attributes.into(),
        data: fields.data.to_vec(),
        expiration: PeerTime(fields.expiration),
        flags: fields.flags,
    })
}

impl GroupTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty table whose groups hold at most `budget` bytes of records together (tests of
    /// the budget's edge; the device uses [`MAX_DEVICE_GROUP_BYTES`]).
    #[cfg(test)]
    pub fn with_byte_budget(budget: usize) -> Self {
        Self { byte_budget: budget, ..Self::default() }
    }

    fn byte_budget(&self) -> usize {
        if self.byte_budget == 0 { MAX_DEVICE_GROUP_BYTES } else { self.byte_budget }
    }

    /// Gives the group in slot `index` its share of the device's byte budget: what the other
    /// groups leave of it, at most the core's own bound. Called before anything may store a
    /// record in that group (a request, a datagram, a restore from the log).
    fn share_budget(&mut self, index: usize) {
        let others: usize = self
            .slots
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != index)
            .filter_map(|(_, s)| s.as_ref())
            .map(|s| s.member.database().bytes())
            .sum();
        let share = self.byte_budget().saturating_sub(others).min(MAX_GROUP_DB_BYTES);
        if let Some(Some(slot)) = self.slots.get_mut(index) {
            slot.member.set_database_byte_limit(share);
        }
    }

    /// Bytes of records all groups hold together.
    pub fn stored_bytes(&self) -> usize {
        self.slots.iter().flatten().map(|s| s.member.database().bytes()).sum()
    }

    /// Sets the port of the groups' socket, reported by CREATE and JOIN.
    pub fn set_port(&mut self, port: u16) {
        self.port = port;
    }

    /// The group root key of group `group` of `open` (what names its durable log).
    pub fn group_root(&mut self, open: OpenId, group: Handle) -> Option<[u8; 32]> {
        let (_, slot) = self.slot(open, group).ok()?;
        Some(slot.member.group_root())
    }

    /// The member of group `group` of `open`, read only (its readiness and database are what
    /// its durable log records).
    pub fn member(&self, open: OpenId, group: Handle) -> Option<&Member<Endpoint>> {
        let (index, generation) = handles::split(group, open, HandleKind::Group)?;
        let index = usize::from(index);
        if self.generations.get(index) != Some(&generation) {
            return None;
        }
        self.slots.get(index)?.as_ref().filter(|slot| slot.open == open).map(|slot| &slot.member)
    }

    /// Groups open.
    pub fn len(&self) -> usize {
        self.slots.iter().flatten().count()
    }

    /// Whether no group is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn slot(&mut self, open: OpenId, group: Handle) -> Result<(usize, &mut Slot), GroupFailure> {
        let invalid = GroupFailure::HResult(hresult::PEER_E_INVALID_GROUP);
        let (index, generation) = handles::split(group, open, HandleKind::Group).ok_or(invalid)?;
        let index = usize::from(index);
        if self.generations.get(index) != Some(&generation) {
            return Err(invalid);
        }
        match self.slots.get_mut(index) {
            Some(Some(slot)) if slot.open == open => Ok((index, slot)),
            _ => Err(invalid),
        }
    }

    /// Groups `open` holds (its open group handles).
    pub fn held_by(&self, open: OpenId) -> usize {
        self.slots.iter().flatten().filter(|s| s.open == open).count()
    }

    /// Takes a slot for a new group of `slot.open`: the one path by which an open comes to
    /// hold a group, so the per-open share is checked here and only here. E_OUTOFMEMORY
    /// (INSUFFICIENT_RESOURCES) when the open holds [`MAX_GROUPS_PER_OPEN`] or the device
    /// [`MAX_GROUPS`]; nothing changes then.
    fn insert(&mut self, slot: Slot) -> Result<Handle, GroupFailure> {
        let open = slot.open;
        let full = GroupFailure::HResult(hresult::E_OUTOFMEMORY);
        if self.held_by(open) >= MAX_GROUPS_PER_OPEN {
            return Err(full);
        }
        let index = match self.slots.iter().position(Option::is_none) {
            Some(index) => index,
            None if self.slots.len() < MAX_GROUPS => {
                self.slots.push(None);
                self.generations.push(0);
                self.slots.len() - 1
            }
            None => return Err(full),
        };
        self.generations[index] = self.generations[index].wrapping_add(1);
        self.slots[index] = Some(slot);
        Ok(handles::make(open, HandleKind::Group, index as u16, self.generations[index]))
    }

    fn handle_of(&self, index: usize) -> Option<Handle> {
        let slot = self.slots.get(index)?.as_ref()?;
        Some(handles::make(slot.open, HandleKind::Group, index as u16, self.generations[index]))
    }

    /// Runs one GROUP_* request of `open` at peer time `now`; `random` supplies fresh bits (all
    /// of them seed a new member's handshake entropy; the first 8 bytes the record IDs and
    /// message ID seeds). Writes the response into `out` and returns its length.
    pub fn execute(
        &mut self,
        open: OpenId,
        request: &GroupRequest<'_>,
        now: PeerTime,
        random: &[u8; 32],
        out: &mut [u8],
    ) -> Result<usize, GroupFailure> {
        let bits = low_bits(random);
        let fail = |error: GroupError| GroupFailure::HResult(hresult_of(error));
        match *request {
            GroupRequest::Create { root_secret, member_secret, lifetime_seconds } => {
                let root = GroupRoot::from_secret(root_secret);
                let until = now.plus_seconds(u64::from(lifetime_seconds));
                let certificate = root.invite(&member_key(member_secret), Role::Administrator, now, until);
                self.open_member(open, Some(root), member_secret, certificate, true, random, out)
            }
            GroupRequest::Join { member_secret, certificate } => {
                let certificate = MembershipCertificate::from_bytes(certificate)
                    .map_err(|_| GroupFailure::HResult(hresult::PEER_E_INVALID_CREDENTIAL))?;
                self.open_member(open, None, member_secret, certificate, false, random, out)
            }
            GroupRequest::CreateInvitation { group, member, role, lifetime_seconds } => {
                let (_, slot) = self.slot(open, group)?;
                let (root, role) = (slot.administered()?, role_of(role)?);
                let until = now.plus_seconds(u64::from(lifetime_seconds));
                let certificate = root.invite(member, role, now, until).to_bytes();
                Ok(GroupResponse::Invitation(&certificate).encode(out)?)
            }
            GroupRequest::Connect { group, address, port } => {
                let endpoint = Endpoint { addr: (*address).into(), port };
                self.change(open, group, |slot| {
                    if !slot.connections.contains_key(&endpoint) {
                        slot.dialing.insert(endpoint);
                    }
                    slot.member.connect(endpoint, now);
                    Ok(())
                })?;
                Ok(GroupResponse::Done.encode(out)?)
            }
            GroupRequest::Close { group } => {
                let (index, _) = self.slot(open, group)?;
                self.close_slot(index);
                Ok(GroupResponse::Done.encode(out)?)
            }
            GroupRequest::AddRecord { group, record } => {
                let draft = draft(&record)?;
                let id = self.change(open, group, |slot| {
                    slot.member.add_record(draft, bits, now).map(|r| r.id.0).map_err(fail)
                })?;
                Ok(GroupResponse::RecordId(&id).encode(out)?)
            }
            GroupRequest::UpdateRecord { group, id, record } => {
                let draft = draft(&record)?;
                self.change(open, group, |slot| {
                    slot.member.update_record(&RecordId(*id), draft, now).map_err(fail)
                })?;
                Ok(GroupResponse::Done.encode(out)?)
            }
            GroupRequest::DeleteRecord { group, id } => {
                self.change(open, group, |slot| {
                    slot.member.delete_record(&RecordId(*id), now).map_err(fail)
                })?;
                Ok(GroupResponse::Done.encode(out)?)
            }
            GroupRequest::GetRecord { group, id } => {
                let (_, slot) = self.slot(open, group)?;
                let record = slot.member.record(&RecordId(*id)).map_err(fail)?;
                let mut bytes = Vec::with_capacity(record.view().encoded_len());
                record.encode(&mut bytes);
                Ok(GroupResponse::Record(&bytes).encode(out)?)
            }
            GroupRequest::EnumRecords { group, record_type, after } => {
                let (_, slot) = self.slot(open, group)?;
                if !slot.member.is_ready() {
                    return Err(fail(GroupError::NotReady));
                }
                let after = RecordId(*after);
                let mut ids: Vec<RecordId> = slot
                    .member
                    .database()
                    .live()
                    .filter(|r| record_type.is_none_or(|t| r.record_type == *t))
                    .map(|r| r.id)
                    .filter(|id| *id > after)
                    .collect();
                ids.sort_unstable();
                ids.truncate(peerdrt_abi::group::MAX_ENUM_PAGE);
                let bytes: Vec<u8> = ids.iter().flat_map(|id| id.0).collect();
                Ok(GroupResponse::RecordIds(&bytes).encode(out)?)
            }
            GroupRequest::EnablePassword { group, verifier, role, lifetime_seconds } => {
                let (_, slot) = self.slot(open, group)?;
                let (root, role) = (slot.administered()?.clone(), role_of(role)?);
                slot.member.enable_password_authentication(PasswordGrantor::new(
                    root,
                    *verifier,
                    role,
                    lifetime_seconds,
                ));
                Ok(GroupResponse::Done.encode(out)?)
            }
            GroupRequest::PasswordJoin { member_secret, group_root, password_seed } => {
                let member =
                    Member::new_password_join(member_secret, *group_root, password_seed, bits as u32)
                        .ok_or(GroupFailure::HResult(hresult::PEER_E_INVALID_CREDENTIAL))?;
                self.admit(open, None, member, random, out)
            }
            GroupRequest::GetCertificate { group } => {
                let (_, slot) = self.slot(open, group)?;
                match slot.member.password_join_state() {
                    PasswordJoinState::Member => {
                        Ok(GroupResponse::Invitation(&slot.member.certificate().to_bytes()).encode(out)?)
                    }
                    PasswordJoinState::Pending => Err(fail(GroupError::NotReady)),
                    PasswordJoinState::Refused(reason) => Err(fail(GroupError::PasswordRefused(reason))),
                }
            }
            GroupRequest::Delete { root } => {
                // Only a group no handle has open may be forgotten; the host then removes its
                // durable log (peerdrtd: `host/group_durability.rs`).
                if self.slots.iter().flatten().any(|slot| slot.member.group_root() == *root) {
                    return Err(GroupFailure::HResult(hresult::PEER_E_GROUP_IN_USE));
                }
                Ok(GroupResponse::Done.encode(out)?)
            }
            GroupRequest::GetStatus { group } => {
                let (_, slot) = self.slot(open, group)?;
                let connections = slot.member.connected().count() as u32;
                let status = GroupStatus {
                    status: status_of(&slot.member),
                    ready: slot.member.is_ready(),
                    connections,
                    records: slot.member.database().live().count() as u32,
                    peer_time_offset: slot.member.clock().offset(),
                };
                Ok(GroupResponse::Status(status).encode(out)?)
            }
            GroupRequest::WatchEvents { group, enabled } => {
                let (_, slot) = self.slot(open, group)?;
                slot.watched = enabled;
                Ok(GroupResponse::Done.encode(out)?)
            }
            GroupRequest::EnumMembers { group, after } => {
                let port = self.port;
                let (_, slot) = self.slot(open, group)?;
                let entries = slot.members(after, port);
                let mut bytes = Vec::with_capacity(entries.len() * MEMBER_ENTRY_LEN);
                for entry in &entries {
                    let mut encoded = [0u8; MEMBER_ENTRY_LEN];
                    entry.encode_into(&mut encoded);
                    bytes.extend_from_slice(&encoded);
                }
                Ok(GroupResponse::Members(&bytes).encode(out)?)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn open_member(
        &mut self,
        open: OpenId,
        root: Option<GroupRoot>,
        member_secret: &[u8; 32],
        certificate: MembershipCertificate,
        ready: bool,
        random: &[u8; 32],
        out: &mut [u8],
    ) -> Result<usize, GroupFailure> {
        let invalid = GroupFailure::HResult(hresult::PEER_E_INVALID_CREDENTIAL);
        let credentials = Credentials::new(member_secret, certificate).ok_or(invalid)?;
        let member = Member::new(credentials, ready, low_bits(random) as u32).ok_or(invalid)?;
        self.admit(open, root, member, random, out)
    }

    /// Seeds a new member with `random`, gives it a slot of `open` and answers OPENED with its
    /// handle, its certificate and the groups' port.
    fn admit(
        &mut self,
        open: OpenId,
        root: Option<GroupRoot>,
        mut member: Member<Endpoint>,
        random: &[u8; 32],
        out: &mut [u8],
    ) -> Result<usize, GroupFailure> {
        member.add_entropy(random);
        let (certificate, local) = (member.certificate().to_bytes(), member.key());
        let handle = self.insert(Slot::new(open, root, member, local))?;
        Ok(GroupResponse::Opened { group: handle, certificate: &certificate, port: self.port }.encode(out)?)
    }

    fn close_slot(&mut self, index: usize) {
        let Some(entry) = self.slots.get_mut(index) else { return };
        if let Some(mut slot) = entry.take() {
            slot.member.close();
            // After close() only the DISCONNECTs remain, and they do not depend on the time.
            while let Some((destination, bytes)) = slot.member.poll_transmit(PeerTime(0)) {
                self.farewells.push_back(GroupOutgoing { destination, bytes });
            }
        }
    }

    /// Closes every group of `open` (its handle was closed).
    pub fn close_open(&mut self, open: OpenId) {
        for index in 0..self.slots.len() {
            if self.slots[index].as_ref().is_some_and(|s| s.open == open) {
                self.close_slot(index);
            }
        }
    }

    /// Restores a record read from durable storage into group `group` of `open`.
    pub fn restore(
        &mut self,
        open: OpenId,
        group: Handle,
        record: &Record,
        now: PeerTime,
    ) -> Result<(), GroupFailure> {
        let (index, _) = self.slot(open, group)?;
        self.share_budget(index);
        let (_, slot) = self.slot(open, group)?;
        slot.member
            .restore(record, now)
            .map_err(|e| GroupFailure::HResult(hresult_of(GroupError::Database(e))))?;
        slot.known.note(record.creator);
        slot.known.note(record.certificate.member);
        Ok(())
    }

    /// Marks group `group` of `open` synchronised (reopened from its durable log).
    pub fn mark_ready(&mut self, open: OpenId, group: Handle) -> Result<(), GroupFailure> {
        self.change(open, group, |slot| {
            slot.member.mark_ready();
            Ok(())
        })
    }

    /// Runs `change` on group `group` of `open` and, if it succeeds, takes the events it
    /// raised (a failed change leaves them for the next).
    fn change<T>(
        &mut self,
        open: OpenId,
        group: Handle,
        change: impl FnOnce(&mut Slot) -> Result<T, GroupFailure>,
    ) -> Result<T, GroupFailure> {
        let (index, _) = self.slot(open, group)?;
        self.share_budget(index);
        let (_, slot) = self.slot(open, group)?;
        let changed = change(slot)?;
        self.drain_events(index);
        Ok(changed)
    }

    /// The next event of a watched group, with the open to queue it on.
    pub fn poll_notice(&mut self) -> Option<(OpenId, GroupNotice)> {
        self.notices.pop_front()
    }

    /// Hands a group datagram to the group it names. Several slots may be members of one group
    /// (other opens' included: a PASSWORD_JOIN needs only the group's public root), and a
    /// message names no member, only the group: it goes to the slot connected to the sender,
    /// else the one dialing it, else the first ordinary member (not a password joiner still
    /// waiting for its grant), else the first. So a joiner opened on the same device cannot take
    /// an established member's datagrams (docs/security.md: what remains).
    pub fn handle_datagram(&mut self, from: Endpoint, bytes: &[u8], now: PeerTime) {
        let Some(tag) = bytes.get(4..12).and_then(|t| <[u8; 8]>::try_from(t).ok()).map(GroupTag) else {
            return;
        };
        let first = |prefer: &dyn Fn(&Slot) -> bool| {
            self.slots.iter().position(|s| s.as_ref().is_some_and(|s| s.member.tag() == tag && prefer(s)))
        };
        let Some(index) = first(&|s| s.connections.contains_key(&from))
            .or_else(|| first(&|s| s.dialing.contains(&from)))
            .or_else(|| first(&|s| s.member.password_join_state() == PasswordJoinState::Member))
            .or_else(|| first(&|_| true))
        else {
            return;
        };
        self.share_budget(index);
        if let Some(Some(slot)) = self.slots.get_mut(index) {
            let _ = slot.member.handle_datagram(from, bytes, now);
        }
        self.drain_events(index);
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self, now: PeerTime) -> Option<GroupOutgoing> {
        if let Some(farewell) = self.farewells.pop_front() {
            return Some(farewell);
        }
        self.slots.iter_mut().flatten().find_map(|slot| {
            slot.member.poll_transmit(now).map(|(destination, bytes)| GroupOutgoing { destination, bytes })
        })
    }

    /// Runs timers due at `now`.
    pub fn handle_timeout(&mut self, now: PeerTime) {
        for index in 0..self.slots.len() {
            if let Some(Some(slot)) = self.slots.get_mut(index) {
                slot.member.handle_timeout(now);
            }
            self.drain_events(index);
        }
    }

    /// When [`GroupTable::handle_timeout`] is next needed.
    pub fn next_deadline(&self) -> Option<PeerTime> {
        self.slots.iter().flatten().filter_map(|s| s.member.next_timeout()).min()
    }

    /// The next record the host must make durable (every stored version, local or received).
    pub fn poll_stored(&mut self) -> Option<(Handle, Record)> {
        self.stored.pop_front()
    }

    /// Takes the member's events: stored records go to the host to persist; the rest update the
    /// members seen and connected and, while the group is watched, become notices in order.
    fn drain_events(&mut self, index: usize) {
        let Some(group) = self.handle_of(index) else { return };
        let Some(Some(slot)) = self.slots.get_mut(index) else { return };
        let mut notices = Vec::new();
        let joined = |member| GroupNotice::MemberChanged { group, change: member_change::JOINED, member };
        while let Some(event) = slot.member.poll_event() {
            match event {
                GroupEvent::RecordStored(id) => {
                    let Some(record) = slot.member.database().get(&id) else { continue };
                    self.stored.push_back((group, record.clone()));
                    for member in [record.creator, record.certificate.member] {
                        if slot.known.note(member) {
                            notices.push(joined(member));
                        }
                    }
                }
                GroupEvent::RecordChanged { change, id, record_type } => {
                    notices.push(GroupNotice::RecordChanged {
                        group,
                        change: change as u32,
                        id: id.0,
                        record_type,
                    });
                }
                GroupEvent::MemberConnected { peer, member } => {
                    slot.dialing.remove(&peer);
                    slot.connections.insert(peer, member);
                    if slot.known.note(member) {
                        notices.push(joined(member));
                    }
                    notices.push(GroupNotice::MemberChanged {
                        group,
                        change: member_change::CONNECTED,
                        member,
                    });
                }
                GroupEvent::MemberDisconnected(peer) => {
                    if let Some(member) = slot.connections.remove(&peer) {
                        let change = member_change::DISCONNECTED;
                        notices.push(GroupNotice::MemberChanged { group, change, member });
                    } else if slot.dialing.remove(&peer) {
                        let hresult = hresult::PEER_E_CONNECTION_FAILED;
                        notices.push(GroupNotice::ConnectionFailed { group, hresult });
                    }
                }
                GroupEvent::AuthenticationFailed { .. } => {
                    let hresult = hresult::PEER_E_CONNECTION_NOT_AUTHENTICATED;
                    notices.push(GroupNotice::AuthenticationFailed { group, hresult });
                }
                // The shim reads a granted certificate with GROUP_GET_CERTIFICATE.
                GroupEvent::RecordRefused { .. }
                | GroupEvent::Synchronised
                | GroupEvent::CertificateGranted(_) => {}
            }
        }
        let status = status_of(&slot.member);
        if status != slot.status {
            slot.status = status;
            notices.push(GroupNotice::StatusChanged { group, status });
        }
        if slot.watched {
            let open = slot.open;
            self.notices.extend(notices.into_iter().map(|n| (open, n)));
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use std::net::Ipv6Addr;

    use peerdrt_abi::group::CERTIFICATE_LEN;

    use super::*;

    pub(in crate::engine) const NOW: PeerTime = PeerTime(133_000_000_000_000_000);
    pub(in crate::engine) const OPEN: OpenId = OpenId { slot: 1, generation: 1 };

    pub(in crate::engine) fn endpoint(n: u16) -> Endpoint {
        Endpoint { addr: Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, n), port: 3600 + n }
    }

    /// A request's random bits whose first 8 bytes (what record IDs take) are `n`.
    fn seed(n: u64) -> [u8; 32] {
        let mut random = [0x5a; 32];
        random[..8].copy_from_slice(&n.to_le_bytes());
        random
    }

    fn run(table: &mut GroupTable, request: GroupRequest<'_>) -> Result<Vec<u8>, GroupFailure> {
        let mut out = vec![0u8; 32 * 1024];
        let len = table.execute(OPEN, &request, NOW, &seed(0x1234_5678_9abc_def0), &mut out)?;
        out.truncate(len);
        Ok(out)
    }

    fn opened(bytes: &[u8], code: u32) -> (Handle, [u8; CERTIFICATE_LEN]) {
        match GroupResponse::decode(code, bytes).unwrap() {
            GroupResponse::Opened { group, certificate, .. } => (group, *certificate),
            other => panic!("unexpected {other:?}"),
        }
    }

    /// A group created on `table` by [`OPEN`]: root `[1; 32]`, creator `[2; 32]`, for an hour.
    fn created(table: &mut GroupTable) -> Handle {
        let request =
            GroupRequest::Create { root_secret: &[1; 32], member_secret: &[2; 32], lifetime_seconds: 3600 };
        opened(&run(table, request).unwrap(), peerdrt_abi::group::GROUP_CREATE).0
    }

    /// Delivers datagrams between two tables (`a` at endpoint 1, `b` at endpoint 2) until both
    /// are quiet.
    pub(in crate::engine) fn settle(a: &mut GroupTable, b: &mut GroupTable) {
        for _ in 0..1000 {
            let mut moved = false;
            while let Some(out) = a.poll_transmit(NOW) {
                b.handle_datagram(endpoint(1), &out.bytes, NOW);
                moved = true;
            }
            while let Some(out) = b.poll_transmit(NOW) {
                a.handle_datagram(endpoint(2), &out.bytes, NOW);
                moved = true;
            }
            if !moved {
                return;
            }
        }
        panic!("the two nodes did not settle");
    }

    fn fields<'a>(attributes: &'a [u8], data: &'a [u8]) -> RecordFields<'a> {
        RecordFields { record_type: [4; 16], expiration: NOW.plus_seconds(600).0, flags: 0, attributes, data }
    }

    #[test]
    fn create_invite_join_connect_add_and_read_across_two_nodes() {
        let (mut a, mut b) = (GroupTable::new(), GroupTable::new());
        let group_a = created(&mut a);
        let invitee = member_key(&[3; 32]);
        let invitation = run(
            &mut a,
            GroupRequest::CreateInvitation {
                group: group_a,
                member: &invitee,
                role: 1,
                lifetime_seconds: 3600,
            },
        )
        .unwrap();
        let certificate: [u8; CERTIFICATE_LEN] = invitation.try_into().unwrap();
        let joined =
            run(&mut b, GroupRequest::Join { member_secret: &[3; 32], certificate: &certificate }).unwrap();
        let (group_b, _) = opened(&joined, peerdrt_abi::group::GROUP_JOIN);

        let early =
            run(&mut b, GroupRequest::AddRecord { group: group_b, record: fields(b"", b"too early") });
        assert_eq!(early, Err(GroupFailure::HResult(hresult::PEER_E_GROUP_NOT_READY)));

        let id =
            run(&mut a, GroupRequest::AddRecord { group: group_a, record: fields(b"", b"hello") }).unwrap();
        let id: [u8; 16] = id.try_into().unwrap();
        let (handle, persisted) = a.poll_stored().expect("the new record is handed to the host to persist");
        assert_eq!((handle, persisted.id.0), (group_a, id));

        run(
            &mut b,
            GroupRequest::Connect {
                group: group_b,
                address: &endpoint(1).addr.octets(),
                port: endpoint(1).port,
            },
        )
        .unwrap();
        settle(&mut a, &mut b);
        let status = run(&mut b, GroupRequest::GetStatus { group: group_b }).unwrap();
        assert_eq!(
            GroupResponse::decode(peerdrt_abi::group::GROUP_GET_STATUS, &status),
            Ok(GroupResponse::Status(GroupStatus {
                status: 3,
                ready: true,
                connections: 1,
                records: 1,
                peer_time_offset: 0
            }))
        );
        let record = run(&mut b, GroupRequest::GetRecord { group: group_b, id: &id }).unwrap();
        let GroupResponse::Record(bytes) =
            GroupResponse::decode(peerdrt_abi::group::GROUP_GET_RECORD, &record).unwrap()
        else {
            panic!("a record")
        };
        let (view, _) = peerdrt_core::group::record::RecordView::decode(bytes).unwrap();
        assert_eq!(view.data, b"hello");
        assert!(b.poll_stored().is_some(), "the replicated record is persisted on the joiner too");

        let page = run(
            &mut b,
            GroupRequest::EnumRecords { group: group_b, record_type: Some(&[4; 16]), after: &[0; 16] },
        )
        .unwrap();
        assert_eq!(
            GroupResponse::decode(peerdrt_abi::group::GROUP_ENUM_RECORDS, &page),
            Ok(GroupResponse::RecordIds(&id))
        );

        // The joiner (a plain member) may not change the creator's record nor invite.
        let update = run(
            &mut b,
            GroupRequest::UpdateRecord { group: group_b, id: &id, record: fields(b"", b"mine now") },
        );
        assert_eq!(update, Err(GroupFailure::HResult(hresult::PEER_E_NOT_AUTHORIZED)));
        let invite = run(
            &mut b,
            GroupRequest::CreateInvitation { group: group_b, member: &invitee, role: 1, lifetime_seconds: 1 },
        );
        assert_eq!(invite, Err(GroupFailure::HResult(hresult::PEER_E_NOT_AUTHORIZED)));

        // Closing the joiner's group tells the creator, which drops the connection.
        run(&mut b, GroupRequest::Close { group: group_b }).unwrap();
        settle(&mut a, &mut b);
        let status = run(&mut a, GroupRequest::GetStatus { group: group_a }).unwrap();
        assert_eq!(
            GroupResponse::decode(peerdrt_abi::group::GROUP_GET_STATUS, &status),
            Ok(GroupResponse::Status(GroupStatus {
                status: 1,
                ready: true,
                connections: 0,
                records: 1,
                peer_time_offset: 0
            }))
        );
    }

    #[test]
    fn errors_map_to_the_documented_hresults() {
        let mut a = GroupTable::new();
        let group = created(&mut a);
        let bad_attributes =
            run(&mut a, GroupRequest::AddRecord { group, record: fields(b"<attributes>", b"x") });
        assert_eq!(bad_attributes, Err(GroupFailure::HResult(hresult::PEER_E_INVALID_ATTRIBUTES)));
        let data = vec![0u8; peerdrt_core::group::limits::MAX_RECORD_SIZE];
        let attributes = br#"<attributes><attribute name="a" type="int">1</attribute></attributes>"#;
        let too_big = run(&mut a, GroupRequest::AddRecord { group, record: fields(attributes, &data) });
        assert_eq!(too_big, Err(GroupFailure::HResult(hresult::PEER_E_MAX_RECORD_SIZE_EXCEEDED)));
        let missing = run(&mut a, GroupRequest::DeleteRecord { group, id: &[9; 16] });
        assert_eq!(missing, Err(GroupFailure::HResult(hresult::PEER_E_RECORD_NOT_FOUND)));

        run(&mut a, GroupRequest::Close { group }).unwrap();
        let closed = run(&mut a, GroupRequest::GetStatus { group });
        assert_eq!(
            closed,
            Err(GroupFailure::HResult(hresult::PEER_E_INVALID_GROUP)),
            "a closed handle is invalid"
        );
        let mut other_open = vec![0u8; 64];
        let foreign = a.execute(
            OpenId { slot: 2, generation: 1 },
            &GroupRequest::GetStatus { group },
            NOW,
            &seed(0),
            &mut other_open,
        );
        assert_eq!(foreign, Err(GroupFailure::HResult(hresult::PEER_E_INVALID_GROUP)));
    }

    #[test]
    fn the_abi_record_payload_limit_is_the_engines() {
        assert_eq!(peerdrt_abi::group::MAX_RECORD_PAYLOAD, peerdrt_core::group::limits::MAX_RECORD_SIZE);
    }

    /// A creator on `a` and an invited member on `b` (not connected yet).
    fn two_members(a: &mut GroupTable, b: &mut GroupTable) -> (Handle, Handle) {
        let group_a = created(a);
        let invitation = run(
            a,
            GroupRequest::CreateInvitation {
                group: group_a,
                member: &member_key(&[3; 32]),
                role: 1,
                lifetime_seconds: 3600,
            },
        )
        .unwrap();
        let certificate: [u8; CERTIFICATE_LEN] = invitation.try_into().unwrap();
        let joined =
            run(b, GroupRequest::Join { member_secret: &[3; 32], certificate: &certificate }).unwrap();
        (group_a, opened(&joined, peerdrt_abi::group::GROUP_JOIN).0)
    }

    fn notices(table: &mut GroupTable) -> Vec<GroupNotice> {
        core::iter::from_fn(|| table.poll_notice())
            .map(|(open, n)| {
                assert_eq!(open, OPEN);
                n
            })
            .collect()
    }

    /// Adds a record with fresh random bits (so every ID differs).
    fn add(table: &mut GroupTable, group: Handle, data: &[u8], random: u64) -> [u8; 16] {
        let mut out = vec![0u8; 64];
        let request = GroupRequest::AddRecord { group, record: fields(b"", data) };
        let len = table.execute(OPEN, &request, NOW, &seed(random), &mut out).unwrap();
        out[..len].try_into().unwrap()
    }

    /// Runs the table's timers through `seconds` of peer time, dropping what it sends.
    fn go_silent(table: &mut GroupTable, seconds: u64) {
        for step in 1..=seconds * 4 {
            let now = PeerTime(NOW.0 + step * 250 * PeerTime::TICKS_PER_MILLI);
            table.handle_timeout(now);
            while table.poll_transmit(now).is_some() {}
        }
    }

    fn watch(table: &mut GroupTable, group: Handle, enabled: bool) {
        run(table, GroupRequest::WatchEvents { group, enabled }).unwrap();
    }

    fn connect(table: &mut GroupTable, group: Handle, to: Endpoint) {
        run(table, GroupRequest::Connect { group, address: &to.addr.octets(), port: to.port }).unwrap();
    }

    #[test]
    fn every_byte_of_a_requests_random_bits_seeds_the_handshake() {
        // The same group and member created twice, the random bits differing only in their last
        // byte: the HELLOs the two members send differ (nonce and ephemeral key).
        let hello = |last: u8| {
            let mut table = GroupTable::new();
            let mut random = seed(7);
            random[31] = last;
            let request = GroupRequest::Create {
                root_secret: &[1; 32],
                member_secret: &[2; 32],
                lifetime_seconds: 3600,
            };
            let mut out = vec![0u8; 1024];
            let len = table.execute(OPEN, &request, NOW, &random, &mut out).unwrap();
            let group = opened(&out[..len], peerdrt_abi::group::GROUP_CREATE).0;
            connect(&mut table, group, endpoint(9));
            table.poll_transmit(NOW).expect("a HELLO").bytes
        };
        assert_eq!(hello(0), hello(0), "the same bits, the same HELLO");
        assert_ne!(hello(0), hello(1));
    }

    #[test]
    fn a_watched_group_reports_every_record_change_in_order_and_an_unwatched_one_nothing() {
        let mut a = GroupTable::new();
        let group = created(&mut a);
        let unwatched = add(&mut a, group, b"unwatched", 1);
        assert_eq!(notices(&mut a), vec![], "no events for a group nobody watches");

        watch(&mut a, group, true);
        let first = add(&mut a, group, b"one", 2);
        let second = add(&mut a, group, b"two", 3);
        run(&mut a, GroupRequest::UpdateRecord { group, id: &first, record: fields(b"", b"one again") })
            .unwrap();
        run(&mut a, GroupRequest::DeleteRecord { group, id: &first }).unwrap();
        let change = |change, id| GroupNotice::RecordChanged { group, change, id, record_type: [4; 16] };
        assert_eq!(
            notices(&mut a),
            vec![change(1, first), change(1, second), change(2, first), change(3, first)],
            "added, added, updated, deleted: each change once, none merged"
        );

        a.handle_timeout(NOW.plus_seconds(601));
        assert_eq!(
            notices(&mut a),
            vec![change(4, unwatched), change(4, second)],
            "the live records expire (the deleted one's tombstone goes silently)"
        );
        watch(&mut a, group, false);
        add(&mut a, group, b"after", 4);
        assert_eq!(notices(&mut a), vec![]);
    }

    #[test]
    fn members_are_reported_joined_connected_and_disconnected_by_key() {
        let (mut a, mut b) = (GroupTable::new(), GroupTable::new());
        let (group_a, group_b) = two_members(&mut a, &mut b);
        watch(&mut a, group_a, true);
        watch(&mut b, group_b, true);
        connect(&mut b, group_b, endpoint(1));
        settle(&mut a, &mut b);
        let (creator, member) = (member_key(&[2; 32]), member_key(&[3; 32]));
        let m = |group, change, member| GroupNotice::MemberChanged { group, change, member };
        assert_eq!(
            notices(&mut a),
            vec![
                m(group_a, member_change::JOINED, member),
                m(group_a, member_change::CONNECTED, member),
                GroupNotice::StatusChanged { group: group_a, status: 3 },
            ]
        );
        assert_eq!(
            notices(&mut b),
            vec![
                m(group_b, member_change::JOINED, creator),
                m(group_b, member_change::CONNECTED, creator),
                GroupNotice::StatusChanged { group: group_b, status: 2 },
                GroupNotice::StatusChanged { group: group_b, status: 3 },
            ],
            "connected, then listening once synchronised"
        );

        // B goes silent: A declares it lost once its retransmissions run out.
        let id = add(&mut a, group_a, b"x", 5);
        go_silent(&mut a, 30);
        assert_eq!(
            notices(&mut a),
            vec![
                GroupNotice::RecordChanged { group: group_a, change: 1, id, record_type: [4; 16] },
                m(group_a, member_change::DISCONNECTED, member),
                GroupNotice::StatusChanged { group: group_a, status: 1 },
            ]
        );
    }

    #[test]
    fn a_connection_that_never_completes_is_reported_failed() {
        let (mut a, mut b) = (GroupTable::new(), GroupTable::new());
        let (_, group_b) = two_members(&mut a, &mut b);
        watch(&mut b, group_b, true);
        connect(&mut b, group_b, endpoint(9));
        go_silent(&mut b, 30);
        assert_eq!(
            notices(&mut b),
            vec![GroupNotice::ConnectionFailed {
                group: group_b,
                hresult: hresult::PEER_E_CONNECTION_FAILED
            }]
        );
    }

    fn members(table: &mut GroupTable, group: Handle) -> Vec<MemberEntry> {
        let page = run(table, GroupRequest::EnumMembers { group, after: None }).unwrap();
        GroupResponse::decode(peerdrt_abi::group::GROUP_ENUM_MEMBERS, &page).unwrap().members().collect()
    }

    #[test]
    fn enum_members_lists_this_member_and_the_connected_ones_present() {
        let (mut a, mut b) = (GroupTable::new(), GroupTable::new());
        a.set_port(3601);
        let (group_a, group_b) = two_members(&mut a, &mut b);
        let (creator, member) = (member_key(&[2; 32]), member_key(&[3; 32]));
        let local =
            MemberEntry { key: creator, flags: MEMBER_PRESENT | MEMBER_LOCAL, address: [0; 16], port: 3601 };
        assert_eq!(members(&mut a, group_a), vec![local]);

        connect(&mut b, group_b, endpoint(1));
        settle(&mut a, &mut b);
        let connected = MemberEntry {
            key: member,
            flags: MEMBER_PRESENT,
            address: endpoint(2).addr.octets(),
            port: endpoint(2).port,
        };
        let mut expected = vec![local, connected];
        expected.sort_by_key(|e| e.key);
        assert_eq!(members(&mut a, group_a), expected);

        // B closes: it stays known (it was seen) but is no longer present.
        run(&mut b, GroupRequest::Close { group: group_b }).unwrap();
        settle(&mut a, &mut b);
        let gone = MemberEntry { flags: 0, address: [0; 16], port: 0, ..connected };
        let mut expected = vec![local, gone];
        expected.sort_by_key(|e| e.key);
        assert_eq!(members(&mut a, group_a), expected);
        let first = expected[0].key;
        let rest = run(&mut a, GroupRequest::EnumMembers { group: group_a, after: Some(&first) }).unwrap();
        let rest: Vec<MemberEntry> =
            GroupResponse::decode(peerdrt_abi::group::GROUP_ENUM_MEMBERS, &rest).unwrap().members().collect();
        assert_eq!(rest, expected[1..], "the next page starts after the given key");
    }

    #[test]
    fn enum_members_pages_hold_max_member_page_entries() {
        let mut a = GroupTable::new();
        let group = created(&mut a);
        // This member and MAX_MEMBER_PAGE others seen: one page too many for one page.
        let slot = a.slots[0].as_mut().unwrap();
        for n in 0..MAX_MEMBER_PAGE as u8 {
            slot.known.note([n; 32]);
        }
        let first = members(&mut a, group);
        assert_eq!(first.len(), MAX_MEMBER_PAGE, "a full page");
        let last = first[MAX_MEMBER_PAGE - 1].key;
        let rest = run(&mut a, GroupRequest::EnumMembers { group, after: Some(&last) }).unwrap();
        let rest: Vec<MemberEntry> =
            GroupResponse::decode(peerdrt_abi::group::GROUP_ENUM_MEMBERS, &rest).unwrap().members().collect();
        assert_eq!(rest.len(), 1, "the one past the page comes next");
        assert!(rest[0].key > last);
    }

    #[test]
    fn known_members_are_bounded_at_their_limit() {
        let mut known = KnownMembers::default();
        let key = |n: usize| {
            let mut k = [0u8; 32];
            k[..8].copy_from_slice(&(n as u64).to_le_bytes());
            k
        };
        for n in 0..MAX_KNOWN_MEMBERS {
            assert!(known.note(key(n)), "member {n} is new");
        }
        assert!(!known.note(key(0)), "a known member is not new");
        assert!(!known.note(key(MAX_KNOWN_MEMBERS)), "one past the limit is not remembered");
        assert_eq!(known.0.len(), MAX_KNOWN_MEMBERS);
    }

    fn run_as(
        table: &mut GroupTable,
        open: OpenId,
        request: GroupRequest<'_>,
    ) -> Result<Handle, GroupFailure> {
        let mut out = vec![0u8; 1024];
        let len = table.execute(open, &request, NOW, &seed(0x1234_5678_9abc_def0), &mut out)?;
        match GroupResponse::decode(request.code(), &out[..len]) {
            Ok(GroupResponse::Opened { group, .. }) => Ok(group),
            other => panic!("{other:?}"),
        }
    }

    /// GROUP_CREATE of a group of `open` rooted at `[n; 32]`.
    fn create_as(table: &mut GroupTable, open: OpenId, n: u8) -> Result<Handle, GroupFailure> {
        run_as(
            table,
            open,
            GroupRequest::Create { root_secret: &[n; 32], member_secret: &[2; 32], lifetime_seconds: 60 },
        )
    }

    const FULL: Result<Handle, GroupFailure> = Err(GroupFailure::HResult(hresult::E_OUTOFMEMORY));

    /// GROUP_ADD_RECORD of 1,000 bytes to `group` of `open` (record ID bits `n`): its ID.
    fn add_as(table: &mut GroupTable, open: OpenId, group: Handle, n: u64) -> Result<[u8; 16], GroupFailure> {
        let data = [0x42; 1000];
        let request = GroupRequest::AddRecord { group, record: fields(b"", &data) };
        let mut out = vec![0u8; 64];
        let len = table.execute(open, &request, NOW, &seed(n), &mut out)?;
        match GroupResponse::decode(request.code(), &out[..len]) {
            Ok(GroupResponse::RecordId(id)) => Ok(*id),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_device_default_byte_budget_is_max_device_group_bytes() {
        let table = GroupTable::new();
        assert_eq!(table.byte_budget(), MAX_DEVICE_GROUP_BYTES);
        assert_eq!(MAX_DEVICE_GROUP_BYTES, 4 * MAX_GROUP_DB_BYTES);
    }

    #[test]
    fn all_groups_together_hold_the_byte_budget_and_no_more_and_deleting_gives_it_back() {
        // What one record of 1,000 bytes costs.
        let mut probe = GroupTable::new();
        let g = create_as(&mut probe, OPEN, 1).unwrap();
        add_as(&mut probe, OPEN, g, 1).unwrap();
        let one = probe.stored_bytes();
        // A budget of exactly three such records, over two groups of two opens.
        let other = OpenId { slot: 2, generation: 1 };
        let mut table = GroupTable::with_byte_budget(3 * one);
        let (a, b) = (create_as(&mut table, OPEN, 1).unwrap(), create_as(&mut table, other, 2).unwrap());
        let first = add_as(&mut table, OPEN, a, 1).unwrap();
        let second = add_as(&mut table, OPEN, a, 2).unwrap();
        add_as(&mut table, other, b, 3).unwrap();
        assert_eq!(table.stored_bytes(), 3 * one, "at the edge");
        // One record past it, in either group.
        let full = Err(GroupFailure::HResult(hresult::E_OUTOFMEMORY));
        assert_eq!(add_as(&mut table, other, b, 4), full);
        assert_eq!(add_as(&mut table, OPEN, a, 5), full);
        assert_eq!(table.stored_bytes(), 3 * one, "nothing was stored");
        // Deletions are taken past the share, and what they give back the other group may use.
        for id in [first, second] {
            let delete = GroupRequest::DeleteRecord { group: a, id: &id };
            table.execute(OPEN, &delete, NOW, &seed(9), &mut [0u8; 16]).unwrap();
        }
        assert!(table.stored_bytes() < 2 * one);
        add_as(&mut table, other, b, 6).unwrap();
    }

    #[test]
    fn an_open_holds_max_groups_per_open_by_every_way_of_opening_one_and_closing_gives_them_back() {
        let (mut a, other) = (GroupTable::new(), OpenId { slot: 2, generation: 1 });
        // The other open's group, whose root signs an invitation and names a password join.
        let theirs = create_as(&mut a, other, 0xEE).unwrap();
        let root = a.group_root(other, theirs).unwrap();
        let mut invite = vec![0u8; CERTIFICATE_LEN];
        let request = GroupRequest::CreateInvitation {
            group: theirs,
            member: &member_key(&[3; 32]),
            role: 1,
            lifetime_seconds: 60,
        };
        a.execute(other, &request, NOW, &seed(0), &mut invite).unwrap();
        let certificate: [u8; CERTIFICATE_LEN] = invite.try_into().unwrap();
        let join = GroupRequest::Join { member_secret: &[3; 32], certificate: &certificate };
        let password_join = GroupRequest::PasswordJoin {
            member_secret: &[4; 32],
            group_root: &root,
            password_seed: &[5; 32],
        };

        // Filled by creates, then a JOIN and a PASSWORD_JOIN: all three count.
        let mut mine: Vec<Handle> =
            (0..MAX_GROUPS_PER_OPEN as u8 - 2).map(|n| create_as(&mut a, OPEN, n).unwrap()).collect();
        mine.push(run_as(&mut a, OPEN, join).unwrap());
        mine.push(run_as(&mut a, OPEN, password_join).unwrap());
        assert_eq!(a.held_by(OPEN), MAX_GROUPS_PER_OPEN);
        for one_more in [
            GroupRequest::Create { root_secret: &[0x77; 32], member_secret: &[2; 32], lifetime_seconds: 60 },
            join,
            password_join,
        ] {
            assert_eq!(run_as(&mut a, OPEN, one_more), FULL, "one past the share by {one_more:?}");
        }
        assert_eq!((a.held_by(OPEN), a.len()), (MAX_GROUPS_PER_OPEN, MAX_GROUPS_PER_OPEN + 1));
        // Its groups still work, and the other open still opens groups meanwhile.
        for &group in &mine {
            run(&mut a, GroupRequest::GetStatus { group }).unwrap();
        }
        add(&mut a, mine[0], b"still mine", 7);
        let another = create_as(&mut a, other, 0xEF).unwrap();

        // Closing one group gives back exactly one place.
        run(&mut a, GroupRequest::Close { group: mine[0] }).unwrap();
        let again = run_as(&mut a, OPEN, join).unwrap();
        assert_eq!(run_as(&mut a, OPEN, password_join), FULL);
        run(&mut a, GroupRequest::GetStatus { group: again }).unwrap();
        // Closing the open gives back all of them; the other open's groups stay.
        a.close_open(OPEN);
        assert_eq!((a.held_by(OPEN), a.held_by(other)), (0, 2));
        for n in 0..MAX_GROUPS_PER_OPEN as u8 {
            create_as(&mut a, OPEN, n).unwrap();
        }
        let mut status = vec![0u8; 64];
        a.execute(other, &GroupRequest::GetStatus { group: another }, NOW, &seed(0), &mut status).unwrap();
    }

    #[test]
    fn many_opens_together_fill_the_device_at_max_groups() {
        let mut a = GroupTable::new();
        let opens: Vec<OpenId> = (0..MAX_GROUPS / MAX_GROUPS_PER_OPEN)
            .map(|n| OpenId { slot: n as u16 + 1, generation: 1 })
            .collect();
        for &open in &opens {
            for n in 0..MAX_GROUPS_PER_OPEN as u8 {
                create_as(&mut a, open, n).unwrap();
            }
        }
        assert_eq!(a.len(), MAX_GROUPS);
        let late = OpenId { slot: 99, generation: 1 };
        assert_eq!(create_as(&mut a, late, 1), FULL, "the device is full though this open holds none");
        a.close_open(opens[0]);
        for n in 0..MAX_GROUPS_PER_OPEN as u8 {
            create_as(&mut a, late, n).unwrap();
        }
        assert_eq!(create_as(&mut a, late, 0x40), FULL);
        for open in opens.into_iter().chain([late]) {
            a.close_open(open);
        }
        assert!(a.is_empty());
    }

    #[test]
    fn another_opens_member_of_the_same_group_does_not_take_its_datagrams() {
        let (mut a, mut b) = (GroupTable::new(), GroupTable::new());
        let attacker = OpenId { slot: 2, generation: 1 };
        // The attacker's first group takes slot 0, the victim's slot 1; slot 0 is freed.
        let first = create_as(&mut a, attacker, 0x55).unwrap();
        let (group_a, group_b) = two_members(&mut a, &mut b);
        let mut out = vec![0u8; 64];
        a.execute(attacker, &GroupRequest::Close { group: first }, NOW, &seed(0), &mut out).unwrap();
        // A password join naming the victim's group root lands in slot 0, before it.
        let root = a.group_root(OPEN, group_a).unwrap();
        let join = GroupRequest::PasswordJoin {
            member_secret: &[9; 32],
            group_root: &root,
            password_seed: &[8; 32],
        };
        run_as(&mut a, attacker, join).unwrap();
        // The victim's invited member connects: the victim's group must answer.
        connect(&mut b, group_b, endpoint(1));
        settle(&mut a, &mut b);
        let status = run(&mut a, GroupRequest::GetStatus { group: group_a }).unwrap();
        let Ok(GroupResponse::Status(status)) =
            GroupResponse::decode(peerdrt_abi::group::GROUP_GET_STATUS, &status)
        else {
            panic!()
        };
        assert_eq!(status.connections, 1, "the victim's group was not reached");
    }
}
