//! Peer groups on the device: group handles, the GROUP_* control codes run against
//! [`Member`]s, their datagrams, and the records the host must make durable.
//!
//! [`Device`](super::Device) owns one table: it dispatches the GROUP_* codes to it, routes the
//! datagrams of its group socket to it, and converts its clock to peer time; see
//! `docs/grouping.md`.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use peerdrt_abi::group::{GroupRequest, GroupResponse, GroupStatus, RecordFields, hresult};
use peerdrt_abi::{AbiError, Handle};
use peerdrt_core::group::database::DbError;
use peerdrt_core::group::id::{GroupTag, RecordId};
use peerdrt_core::group::member::{GroupError, GroupEvent, Member};
use peerdrt_core::group::membership::{Credentials, GroupRoot, MembershipCertificate, Role, member_key};
use peerdrt_core::group::record::{Record, RecordDraft, RecordError};
use peerdrt_core::group::time::PeerTime;
use peerdrt_core::wire::Endpoint;

use super::OpenId;
use super::handles::{self, HandleKind};

/// Most groups open on one device at once.
pub const MAX_GROUPS: usize = 64;

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
}

/// The groups open on a device.
#[derive(Debug, Default)]
pub struct GroupTable {
    slots: Vec<Option<Slot>>,
    generations: Vec<u16>,
    stored: VecDeque<(Handle, Record)>,
    /// DISCONNECTs of closed groups, still to be sent.
    farewells: VecDeque<GroupOutgoing>,
    /// The port of the socket the groups' datagrams use (reported to CREATE / JOIN).
    port: u16,
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

    /// Sets the port of the groups' socket, reported by CREATE and JOIN.
    pub fn set_port(&mut self, port: u16) {
        self.port = port;
    }

    /// The group root key of group `group` of `open` (what names its durable log).
    pub fn group_root(&mut self, open: OpenId, group: Handle) -> Option<[u8; 32]> {
        let (_, slot) = self.slot(open, group).ok()?;
        Some(slot.member.group_root())
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

    fn insert(&mut self, slot: Slot) -> Result<Handle, GroupFailure> {
        let open = slot.open;
        let index = match self.slots.iter().position(Option::is_none) {
            Some(index) => index,
            None if self.slots.len() < MAX_GROUPS => {
                self.slots.push(None);
                self.generations.push(0);
                self.slots.len() - 1
            }
            None => return Err(GroupFailure::HResult(hresult::E_OUTOFMEMORY)),
        };
        self.generations[index] = self.generations[index].wrapping_add(1);
        self.slots[index] = Some(slot);
        Ok(handles::make(open, HandleKind::Group, index as u16, self.generations[index]))
    }

    fn handle_of(&self, index: usize) -> Option<Handle> {
        let slot = self.slots.get(index)?.as_ref()?;
        Some(handles::make(slot.open, HandleKind::Group, index as u16, self.generations[index]))
    }

    /// Runs one GROUP_* request of `open` at peer time `now`; `random` supplies fresh bits (record
    /// IDs, message ID seeds). Writes the response into `out` and returns its length.
    pub fn execute(
        &mut self,
        open: OpenId,
        request: &GroupRequest<'_>,
        now: PeerTime,
        random: u64,
        out: &mut [u8],
    ) -> Result<usize, GroupFailure> {
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
                let root = slot.root.as_ref().ok_or(GroupFailure::HResult(hresult::PEER_E_NOT_AUTHORIZED))?;
                let role = Role::from_byte(role).ok_or(GroupFailure::Abi(AbiError::BadValue))?;
                let until = now.plus_seconds(u64::from(lifetime_seconds));
                let certificate = root.invite(member, role, now, until).to_bytes();
                Ok(GroupResponse::Invitation(&certificate).encode(out)?)
            }
            GroupRequest::Connect { group, address, port } => {
                let (_, slot) = self.slot(open, group)?;
                slot.member.connect(Endpoint { addr: (*address).into(), port }, now);
                Ok(GroupResponse::Done.encode(out)?)
            }
            GroupRequest::Close { group } => {
                let (index, _) = self.slot(open, group)?;
                self.close_slot(index);
                Ok(GroupResponse::Done.encode(out)?)
            }
            GroupRequest::AddRecord { group, record } => {
                let draft = draft(&record)?;
                let (index, slot) = self.slot(open, group)?;
                let stored = slot.member.add_record(draft, random, now).map_err(fail)?;
                let id = stored.id.0;
                self.drain_events(index);
                Ok(GroupResponse::RecordId(&id).encode(out)?)
            }
            GroupRequest::UpdateRecord { group, id, record } => {
                let draft = draft(&record)?;
                let (index, slot) = self.slot(open, group)?;
                slot.member.update_record(&RecordId(*id), draft, now).map_err(fail)?;
                self.drain_events(index);
                Ok(GroupResponse::Done.encode(out)?)
            }
            GroupRequest::DeleteRecord { group, id } => {
                let (index, slot) = self.slot(open, group)?;
                slot.member.delete_record(&RecordId(*id), now).map_err(fail)?;
                self.drain_events(index);
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
                    // PEER_GROUP_STATUS_LISTENING once synchronised, HAS_CONNECTIONS with any.
                    status: u32::from(slot.member.is_ready()) | if connections > 0 { 2 } else { 0 },
                    ready: slot.member.is_ready(),
                    connections,
                    records: slot.member.database().live().count() as u32,
                    peer_time_offset: slot.member.clock().offset(),
                };
                Ok(GroupResponse::Status(status).encode(out)?)
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
        random: u64,
        out: &mut [u8],
    ) -> Result<usize, GroupFailure> {
        let invalid = GroupFailure::HResult(hresult::PEER_E_INVALID_CREDENTIAL);
        let credentials = Credentials::new(member_secret, certificate).ok_or(invalid)?;
        let mut member = Member::new(credentials, ready, random as u32).ok_or(invalid)?;
        member.add_entropy(&random.to_le_bytes());
        let handle = self.insert(Slot { open, root, member })?;
        Ok(GroupResponse::Opened { group: handle, certificate: &certificate.to_bytes(), port: self.port }
            .encode(out)?)
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
        let (_, slot) = self.slot(open, group)?;
        slot.member
            .restore(record, now)
            .map(|_| ())
            .map_err(|e| GroupFailure::HResult(hresult_of(GroupError::Database(e))))
    }

    /// Marks group `group` of `open` synchronised (reopened from its durable log).
    pub fn mark_ready(&mut self, open: OpenId, group: Handle) -> Result<(), GroupFailure> {
        let (_, slot) = self.slot(open, group)?;
        slot.member.mark_ready();
        Ok(())
    }

    /// Hands a group datagram to the group it names.
    pub fn handle_datagram(&mut self, from: Endpoint, bytes: &[u8], now: PeerTime) {
        let Some(tag) = bytes.get(4..12).and_then(|t| <[u8; 8]>::try_from(t).ok()).map(GroupTag) else {
            return;
        };
        let Some(index) = self.slots.iter().position(|s| s.as_ref().is_some_and(|s| s.member.tag() == tag))
        else {
            return;
        };
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

    fn drain_events(&mut self, index: usize) {
        let Some(handle) = self.handle_of(index) else { return };
        let Some(Some(slot)) = self.slots.get_mut(index) else { return };
        while let Some(event) = slot.member.poll_event() {
            if let GroupEvent::RecordStored(id) = event
                && let Some(record) = slot.member.database().get(&id)
            {
                self.stored.push_back((handle, record.clone()));
            }
            // The other events (record/member changes, synchronised) will feed PeerGroupGetEventData
            // once the event queue of the open carries group events; not yet.
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv6Addr;

    use peerdrt_abi::group::CERTIFICATE_LEN;

    use super::*;

    const NOW: PeerTime = PeerTime(133_000_000_000_000_000);
    const OPEN: OpenId = OpenId { slot: 1, generation: 1 };

    fn endpoint(n: u16) -> Endpoint {
        Endpoint { addr: Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, n), port: 3600 + n }
    }

    fn run(table: &mut GroupTable, request: GroupRequest<'_>) -> Result<Vec<u8>, GroupFailure> {
        let mut out = vec![0u8; 32 * 1024];
        let len = table.execute(OPEN, &request, NOW, 0x1234_5678_9abc_def0, &mut out)?;
        out.truncate(len);
        Ok(out)
    }

    fn opened(bytes: &[u8], code: u32) -> (Handle, [u8; CERTIFICATE_LEN]) {
        match GroupResponse::decode(code, bytes).unwrap() {
            GroupResponse::Opened { group, certificate, .. } => (group, *certificate),
            other => panic!("unexpected {other:?}"),
        }
    }

    /// Delivers datagrams between two tables until both are quiet.
    fn settle(a: &mut GroupTable, b: &mut GroupTable) {
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
        let created = run(
            &mut a,
            GroupRequest::Create { root_secret: &[1; 32], member_secret: &[2; 32], lifetime_seconds: 3600 },
        )
        .unwrap();
        let (group_a, _) = opened(&created, peerdrt_abi::group::GROUP_CREATE);
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
        let created = run(
            &mut a,
            GroupRequest::Create { root_secret: &[1; 32], member_secret: &[2; 32], lifetime_seconds: 3600 },
        )
        .unwrap();
        let (group, _) = opened(&created, peerdrt_abi::group::GROUP_CREATE);
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
            0,
            &mut other_open,
        );
        assert_eq!(foreign, Err(GroupFailure::HResult(hresult::PEER_E_INVALID_GROUP)));
    }

    #[test]
    fn the_abi_record_payload_limit_is_the_engines() {
        assert_eq!(peerdrt_abi::group::MAX_RECORD_PAYLOAD, peerdrt_core::group::limits::MAX_RECORD_SIZE);
    }

    #[test]
    fn the_number_of_groups_is_bounded() {
        let mut a = GroupTable::new();
        for _ in 0..MAX_GROUPS {
            run(
                &mut a,
                GroupRequest::Create { root_secret: &[1; 32], member_secret: &[2; 32], lifetime_seconds: 60 },
            )
            .unwrap();
        }
        let past = run(
            &mut a,
            GroupRequest::Create { root_secret: &[1; 32], member_secret: &[2; 32], lifetime_seconds: 60 },
        );
        assert_eq!(past, Err(GroupFailure::HResult(hresult::E_OUTOFMEMORY)));
        a.close_open(OPEN);
        assert!(a.is_empty());
    }
}
