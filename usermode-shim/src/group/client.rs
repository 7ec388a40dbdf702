//! A group as seen through the device: the GROUP_* requests with the caller's UTC, their replies
//! decoded, failures as the API's HRESULTs. What the `PeerGroup*` layer and the CLI build on.

use std::io;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use peerdrt_abi::group::{
    self, CERTIFICATE_LEN, GroupRequest, GroupResponse, GroupStatus, MAX_ENUM_PAGE, MAX_MEMBER_PAGE,
    MemberEntry, RecordFields,
};
use peerdrt_abi::{Request, status};
use peerdrt_core::group::record::{Record, RecordView};

use crate::device::Device;

/// FILETIME of 1970-01-01 (the Unix epoch).
const UNIX_EPOCH_FILETIME: u64 = 116_444_736_000_000_000;

/// The current UTC as a FILETIME.
pub fn utc_now() -> u64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    UNIX_EPOCH_FILETIME + (since.as_nanos() / 100) as u64
}

/// Why a group call failed: the HRESULT the API returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupCallError(pub u32);

impl std::fmt::Display for GroupCallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The generic HRESULTs too: E_OUTOFMEMORY is what a device at its group quota returns.
        match super::hresult::name(self.0).or_else(|| crate::hresult::name(self.0)) {
            Some(name) => write!(f, "{name} ({:#010x})", self.0),
            None => write!(f, "HRESULT {:#010x}", self.0),
        }
    }
}

impl std::error::Error for GroupCallError {}

impl From<io::Error> for GroupCallError {
    fn from(e: io::Error) -> Self {
        match e.kind() {
            // The request did not encode (a field over its limit).
            io::ErrorKind::InvalidInput => GroupCallError(peerdrt_abi::status::hresult::E_INVALIDARG),
            // The device went away: what DeviceIoControl on a dead handle reports.
            _ => GroupCallError(peerdrt_abi::status::hresult::E_HANDLE),
        }
    }
}

/// The result of a group call.
pub type GroupResult<T> = Result<T, GroupCallError>;

/// Largest reply of any group request.
const REPLY_CAPACITY: usize = group::MAX_RECORD_LEN + 64;

/// An open group on a device.
#[derive(Debug, Clone)]
pub struct GroupHandle {
    device: Device,
    /// The device's handle.
    pub handle: u64,
    /// This member's certificate (the invitation it joined with, or the creator's own).
    pub certificate: [u8; CERTIFICATE_LEN],
    /// The UDP port of the device's group socket.
    pub port: u16,
}

fn call(device: &Device, request: GroupRequest<'_>) -> GroupResult<Vec<u8>> {
    let (st, out) = device.request(&Request::Group { utc: utc_now(), request }, REPLY_CAPACITY)?;
    if st != status::SUCCESS {
        return Err(GroupCallError(status::to_hresult(st)));
    }
    Ok(out)
}

fn decode(code: u32, bytes: &[u8]) -> GroupResult<GroupResponse<'_>> {
    GroupResponse::decode(code, bytes).map_err(|_| GroupCallError(status::hresult::E_UNEXPECTED))
}

fn opened(device: Device, code: u32, bytes: &[u8]) -> GroupResult<GroupHandle> {
    match decode(code, bytes)? {
        GroupResponse::Opened { group, certificate, port } => {
            Ok(GroupHandle { device, handle: group, certificate: *certificate, port })
        }
        _ => Err(GroupCallError(status::hresult::E_UNEXPECTED)),
    }
}

impl GroupHandle {
    /// Makes the node forget the group rooted at `root` (PeerGroupDelete): peerdrtd removes its
    /// durable log. Refused with PEER_E_GROUP_IN_USE while any handle has the group open.
    pub fn delete_group(device: &Device, root: &[u8; 32]) -> GroupResult<()> {
        call(device, GroupRequest::Delete { root }).map(|_| ())
    }

    /// Creates a group rooted at `root_secret` with this member (`member_secret`) as its
    /// administrator, valid `lifetime_seconds`.
    pub fn create(
        device: &Device,
        root_secret: &[u8; 32],
        member_secret: &[u8; 32],
        lifetime_seconds: u32,
    ) -> GroupResult<Self> {
        let out = call(device, GroupRequest::Create { root_secret, member_secret, lifetime_seconds })?;
        opened(device.clone(), group::GROUP_CREATE, &out)
    }

    /// Joins (or reopens) a group with an invitation (membership certificate).
    pub fn join(
        device: &Device,
        member_secret: &[u8; 32],
        certificate: &[u8; CERTIFICATE_LEN],
    ) -> GroupResult<Self> {
        let out = call(device, GroupRequest::Join { member_secret, certificate })?;
        opened(device.clone(), group::GROUP_JOIN, &out)
    }

    /// Joins a group with a password: `password_seed` is the password's key seed, derived from
    /// the invitation's security properties. The returned certificate is a placeholder until
    /// [`GroupHandle::granted_certificate`] returns the one the root granted on connect.
    pub fn password_join(
        device: &Device,
        member_secret: &[u8; 32],
        group_root: &[u8; 32],
        password_seed: &[u8; 32],
    ) -> GroupResult<Self> {
        let out = call(device, GroupRequest::PasswordJoin { member_secret, group_root, password_seed })?;
        opened(device.clone(), group::GROUP_PASSWORD_JOIN, &out)
    }

    /// Lets this group (created here) grant `role` (1 member, 2 administrator) for
    /// `lifetime_seconds` to joiners proving the password whose verifier is `verifier`.
    pub fn enable_password(&self, verifier: &[u8; 32], role: u8, lifetime_seconds: u32) -> GroupResult<()> {
        call(
            &self.device,
            GroupRequest::EnablePassword { group: self.handle, verifier, role, lifetime_seconds },
        )?;
        Ok(())
    }

    /// This member's certificate as the device holds it: a password joiner's once granted
    /// (PEER_E_GROUP_NOT_READY while waiting, PEER_E_CONNECTION_NOT_AUTHENTICATED once refused).
    pub fn granted_certificate(&self) -> GroupResult<[u8; CERTIFICATE_LEN]> {
        let out = call(&self.device, GroupRequest::GetCertificate { group: self.handle })?;
        match decode(group::GROUP_GET_CERTIFICATE, &out)? {
            GroupResponse::Invitation(certificate) => Ok(*certificate),
            _ => Err(GroupCallError(status::hresult::E_UNEXPECTED)),
        }
    }

    /// Connects to the device at `socket`.
    pub fn device(socket: &Path) -> GroupResult<Device> {
        Ok(Device::connect(socket)?)
    }

    /// Issues an invitation for `member` (role 1 member, 2 administrator).
    pub fn invite(
        &self,
        member: &[u8; 32],
        role: u8,
        lifetime_seconds: u32,
    ) -> GroupResult<[u8; CERTIFICATE_LEN]> {
        let out = call(
            &self.device,
            GroupRequest::CreateInvitation { group: self.handle, member, role, lifetime_seconds },
        )?;
        match decode(group::GROUP_CREATE_INVITATION, &out)? {
            GroupResponse::Invitation(certificate) => Ok(*certificate),
            _ => Err(GroupCallError(status::hresult::E_UNEXPECTED)),
        }
    }

    /// Connects to the member whose group socket is at `address` (IPv6 or IPv4-mapped) `port`.
    pub fn connect(&self, address: std::net::Ipv6Addr, port: u16) -> GroupResult<()> {
        call(&self.device, GroupRequest::Connect { group: self.handle, address: &address.octets(), port })?;
        Ok(())
    }

    /// Adds a record; returns its ID once it is durable on this node.
    pub fn add(&self, record: RecordFields<'_>) -> GroupResult<[u8; 16]> {
        let out = call(&self.device, GroupRequest::AddRecord { group: self.handle, record })?;
        match decode(group::GROUP_ADD_RECORD, &out)? {
            GroupResponse::RecordId(id) => Ok(*id),
            _ => Err(GroupCallError(status::hresult::E_UNEXPECTED)),
        }
    }

    /// Updates a record.
    pub fn update(&self, id: &[u8; 16], record: RecordFields<'_>) -> GroupResult<()> {
        call(&self.device, GroupRequest::UpdateRecord { group: self.handle, id, record })?;
        Ok(())
    }

    /// Deletes a record.
    pub fn delete(&self, id: &[u8; 16]) -> GroupResult<()> {
        call(&self.device, GroupRequest::DeleteRecord { group: self.handle, id })?;
        Ok(())
    }

    /// Reads a record.
    pub fn get(&self, id: &[u8; 16]) -> GroupResult<Record> {
        let out = call(&self.device, GroupRequest::GetRecord { group: self.handle, id })?;
        match decode(group::GROUP_GET_RECORD, &out)? {
            GroupResponse::Record(bytes) => RecordView::decode(bytes)
                .map(|(view, _)| view.to_record())
                .map_err(|_| GroupCallError(status::hresult::E_UNEXPECTED)),
            _ => Err(GroupCallError(status::hresult::E_UNEXPECTED)),
        }
    }

    /// The IDs of every live record (of `record_type`, if given), in ID order.
    pub fn ids(&self, record_type: Option<&[u8; 16]>) -> GroupResult<Vec<[u8; 16]>> {
        let mut ids = Vec::new();
        let mut after = [0u8; 16];
        loop {
            let out = call(
                &self.device,
                GroupRequest::EnumRecords { group: self.handle, record_type, after: &after },
            )?;
            let GroupResponse::RecordIds(page) = decode(group::GROUP_ENUM_RECORDS, &out)? else {
                return Err(GroupCallError(status::hresult::E_UNEXPECTED));
            };
            let count = page.len() / 16;
            ids.extend(page.chunks_exact(16).filter_map(|c| <[u8; 16]>::try_from(c).ok()));
            match ids.last() {
                Some(last) if count == MAX_ENUM_PAGE => after = *last,
                _ => return Ok(ids),
            }
        }
    }

    /// Every live record (of `record_type`, if given); records that vanish meanwhile are skipped.
    pub fn records(&self, record_type: Option<&[u8; 16]>) -> GroupResult<Vec<Record>> {
        let mut records = Vec::new();
        for id in self.ids(record_type)? {
            match self.get(&id) {
                Ok(record) => records.push(record),
                Err(GroupCallError(group::hresult::PEER_E_RECORD_NOT_FOUND)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(records)
    }

    /// The group's status.
    pub fn status(&self) -> GroupResult<GroupStatus> {
        let out = call(&self.device, GroupRequest::GetStatus { group: self.handle })?;
        match decode(group::GROUP_GET_STATUS, &out)? {
            GroupResponse::Status(s) => Ok(s),
            _ => Err(GroupCallError(status::hresult::E_UNEXPECTED)),
        }
    }

    /// The device connection the group is open on (its WAIT_EVENT queue carries the group's
    /// events while they are watched).
    pub fn connection(&self) -> &Device {
        &self.device
    }

    /// Starts (`true`) or stops queueing the group's events on this connection's WAIT_EVENT.
    pub fn watch_events(&self, enabled: bool) -> GroupResult<()> {
        call(&self.device, GroupRequest::WatchEvents { group: self.handle, enabled })?;
        Ok(())
    }

    /// The members the node knows (this one, those seen on records or in handshakes, those
    /// connected), in key order.
    pub fn members(&self) -> GroupResult<Vec<MemberEntry>> {
        let mut members: Vec<MemberEntry> = Vec::new();
        loop {
            let after = members.last().map(|m| m.key);
            let out =
                call(&self.device, GroupRequest::EnumMembers { group: self.handle, after: after.as_ref() })?;
            let page = decode(group::GROUP_ENUM_MEMBERS, &out)?;
            if !matches!(page, GroupResponse::Members(_)) {
                return Err(GroupCallError(status::hresult::E_UNEXPECTED));
            }
            let count = page.members().count();
            members.extend(page.members());
            if count < MAX_MEMBER_PAGE {
                return Ok(members);
            }
        }
    }

    /// Closes the group handle (the database stays on disk).
    pub fn close(&self) -> GroupResult<()> {
        call(&self.device, GroupRequest::Close { group: self.handle })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_at_its_group_quota_is_e_outofmemory_by_name() {
        // The engine's E_OUTOFMEMORY travels as INSUFFICIENT_RESOURCES and comes back whole.
        let quota = group::status_of_hresult(group::hresult::E_OUTOFMEMORY);
        assert_eq!(quota, status::INSUFFICIENT_RESOURCES);
        let error = GroupCallError(status::to_hresult(quota));
        assert_eq!(error, GroupCallError(status::hresult::E_OUTOFMEMORY));
        assert_eq!(error.to_string(), "E_OUTOFMEMORY (0x8007000e)");
        let invalid = GroupCallError(group::hresult::PEER_E_INVALID_GROUP);
        assert_eq!(invalid.to_string(), "PEER_E_INVALID_GROUP (0x80632093)");
    }
}
