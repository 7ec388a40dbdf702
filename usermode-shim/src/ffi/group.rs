//! The first `PeerGroup*` exports of p2p.dll (`include/p2p.h`): startup and shutdown, creating
//! and closing a group, adding / updating / deleting / reading records, enumerating them
//! (PeerGetNextItem / PeerGetItemCount / PeerEndEnumeration), the group status and peer time.
//!
//! Each HGROUP is an open group on the device (`group::client`), named by an opaque token from
//! the process-wide registry, so a stale or made-up value is PEER_E_INVALID_GROUP. Records are
//! returned as single blocks (PeerFreeData, shared with PNRP): the PEER_RECORD, then its strings
//! and bytes. `pwzCreatorId` / `pwzModifiedById` are the members' public keys in hex (the engine
//! knows members by key, not by identity name). An enumeration is a snapshot taken by
//! PeerGroupEnumRecords, as on Windows.
//!
//! Invitations, joining and reopening: PeerGroupCreate, PeerGroupJoin and PeerGroupOpen keep
//! the identity's membership (certificate, on the creator the root secret, the invitation's
//! address hints) in the membership store (`group::membership_store`), so a group can be
//! reopened after PeerGroupClose or a restart of the application; PeerGroupConnect connects to
//! the hints, or the endpoints of the group's PNRP peer name. Events come from the device's
//! WAIT_EVENT queue through one pump per connection (`group::events`); PeerGroupEnumMembers and
//! PeerGroupEnumConnections are in `ffi::group_members`; PeerGroupSearchRecords filters a
//! snapshot with `group::search`.
//! Password groups: PeerGroupCreate with PEER_GROUP_PASSWORD_AUTHENTICATION publishes the
//! group's security properties (a salted PBKDF2 verifier, never the password);
//! PeerGroupCreatePasswordInvitation hands them out; PeerGroupPasswordJoin derives the
//! password's key and PeerGroupConnect proves it to the creator, which grants a certificate
//! (see `docs/grouping.md`, "Password groups").

#![allow(non_snake_case, non_camel_case_types)]

use std::collections::HashMap;
use std::ffi::c_void;
use std::mem::{align_of, size_of};
use std::sync::{Arc, LazyLock, Mutex};

use peerdrt_core::group::record::Record;

use super::pnrp::alloc_block;
use super::types::HANDLE;
use super::types::HRESULT;
use super::{guard, read_wstr, registry};
use crate::device::Device;
use crate::event::lock;
use crate::group::client::utc_now;
use crate::group::client::{GroupCallError, GroupHandle};
use crate::group::events::{EventHub, GroupEvent, Interest, Registration};
use crate::group::hresult::{
    E_INVALIDARG, E_POINTER, PEER_E_GROUP_NOT_READY, PEER_E_INVALID_CREDENTIAL, PEER_E_INVALID_GROUP,
    PEER_E_INVALID_SEARCH, PEER_E_INVALID_TIME_PERIOD, PEER_E_INVITATION_NOT_TRUSTED,
    PEER_E_NO_MEMBER_CONNECTIONS, PEER_E_NOT_AUTHORIZED, PEER_E_NOT_INITIALIZED,
    PEER_E_PASSWORD_DOES_NOT_MEET_POLICY, PEER_S_NO_EVENT_DATA,
};
use crate::group::invitation::{Invitation, MAX_INVITATION_UNITS, PasswordInvitation};
use crate::group::membership_store::{MAX_HINTS, unhex};
use crate::group::membership_store::{Membership, MembershipStore, group_peer_name, hex};
use crate::group::record::read_record;
use crate::group::search::{MAX_SEARCH_LEN, Search, attributes_of};
use crate::group::time::PeerClock;
use crate::group::types::PEER_INVITATION_INFO;
use crate::group::types::{
    FILETIME, GUID, HGROUP, HPEERENUM, HPEEREVENT, PEER_DATA, PEER_EVENT_MEMBER_CHANGE_DATA,
    PEER_EVENT_RECORD_CHANGE_DATA, PEER_GROUP_EVENT_AUTHENTICATION_FAILED,
    PEER_GROUP_EVENT_CONNECTION_FAILED, PEER_GROUP_EVENT_DATA, PEER_GROUP_EVENT_MEMBER_CHANGED,
    PEER_GROUP_EVENT_RECORD_CHANGED, PEER_GROUP_EVENT_REGISTRATION, PEER_GROUP_EVENT_STATUS_CHANGED,
    PEER_GROUP_GMC_AUTHENTICATION, PEER_GROUP_PASSWORD_AUTHENTICATION, PEER_GROUP_PROPERTIES,
    PEER_GROUP_ROLE_ADMIN, PEER_GROUP_ROLE_MEMBER, PEER_RECORD, PEER_VERSION_DATA,
};
use crate::group::version::negotiate;
use crate::hresult::E_UNEXPECTED;
use crate::hresult::{Error, Result};
use crate::pnrp::{Addresses, DEFAULT_MAX_ENDPOINTS, IdentityStore, Pnrp, RegistrationInfo};
use ed25519_dalek::SigningKey;
use peerdrt_core::group::limits::{MAX_PASSWORD_CHARS, PASSWORD_ITERATIONS, PASSWORD_SALT_LEN};
use peerdrt_core::group::membership::{GroupRoot, MembershipCertificate, Role, member_key};
use peerdrt_core::group::password::{SECURITY_PROPERTIES_LEN, SecurityProperties, check_policy, derive_seed};
use peerdrt_core::pnrp::GLOBAL_CLOUD;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// Validity of a created group's creator certificate when PEER_GROUP_PROPERTIES gives no
/// ulMemberDataLifetime (seconds; Windows' default member data lifetime is one day).
const DEFAULT_LIFETIME_SECONDS: u32 = 24 * 3600;
/// PEER_GROUP_PROPERTIES.ulPresenceLifetime reported (Windows' default, seconds).
const DEFAULT_PRESENCE_LIFETIME: u32 = 300;
/// How long PeerGroupConnect waits for the group's peer name to resolve.
pub const GROUP_RESOLVE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// The comment of a group peer name's PNRP registration.
const GROUP_NAME_COMMENT: &str = "peer group";
/// The role byte of a plain member's certificate.
const ROLE_MEMBER: u8 = 1;
/// The role byte of an administrator's certificate.
const ROLE_ADMIN: u8 = 2;
/// Longest identity or classifier read from the caller.
const MAX_NAME_UNITS: usize = 512;
/// Longest password read from the caller (UTF-16 units: a character may take two); a longer one
/// does not meet the policy of at most MAX_PASSWORD_CHARS characters either.
const MAX_PASSWORD_UNITS: usize = 2 * MAX_PASSWORD_CHARS;

/// A records enumeration: a snapshot and a cursor.
struct Enumeration {
    records: Vec<Record>,
    next: usize,
}

/// An open group: the device's handle, the membership it was opened with, and on the creator
/// the PNRP registration of the group's peer name (dropped, so unregistered, on close).
struct OpenGroup {
    handle: Arc<GroupHandle>,
    membership: Membership,
    #[expect(dead_code, reason = "held so that dropping the open group unregisters its name")]
    publication: Option<crate::pnrp::Registration>,
}

#[derive(Default)]
struct GroupApi {
    startups: u32,
    device: Option<Device>,
    groups: HashMap<usize, OpenGroup>,
    enums: HashMap<usize, Enumeration>,
    /// Event registrations: the group's token and the registration.
    events: HashMap<usize, (usize, Registration)>,
    /// The event pump of `device` (started by the first PeerGroupRegisterEvent).
    hub: Option<Arc<EventHub>>,
    /// The PNRP session that publishes and resolves group peer names (started on first use).
    pnrp: Option<Pnrp>,
}

/// The process's PNRP session on the device.
fn pnrp() -> Result<Pnrp> {
    let mut api = lock(&API);
    if let Some(p) = &api.pnrp {
        return Ok(p.clone());
    }
    let p = Pnrp::startup(None, None)?;
    api.pnrp = Some(p.clone());
    Ok(p)
}

/// Publishes the group's peer name in PNRP with this node's group socket, signed by the group
/// root (so only the creator, who holds it, can). Best effort: a node without a PNRP cloud
/// still runs the group, and members find it through the invitation's address hints.
fn publish_name(m: &Membership, port: u16) -> Option<crate::pnrp::Registration> {
    let root = unhex::<32>(m.root.as_deref()?)?;
    let info = RegistrationInfo {
        addresses: Addresses::Auto(port),
        comment: GROUP_NAME_COMMENT.into(),
        ..RegistrationInfo::default()
    };
    pnrp().ok()?.register_with_key(&m.group_peer_name, &info, SigningKey::from_bytes(&root)).ok()
}

static API: LazyLock<Mutex<GroupApi>> = LazyLock::new(|| Mutex::new(GroupApi::default()));

fn call<T>(r: std::result::Result<T, GroupCallError>) -> Result<T> {
    r.map_err(|e| Error(e.0))
}

fn group(h: HGROUP) -> Result<Arc<GroupHandle>> {
    let api = lock(&API);
    if api.startups == 0 {
        return Err(Error(PEER_E_NOT_INITIALIZED));
    }
    api.groups.get(&(h as usize)).map(|g| g.handle.clone()).ok_or(Error(PEER_E_INVALID_GROUP))
}

/// The open group behind an HGROUP (for the other `PeerGroup*` modules).
pub(crate) fn group_handle(h: HGROUP) -> Result<Arc<GroupHandle>> {
    group(h)
}

/// The event pump of the connection `g` is open on.
fn hub(g: &GroupHandle) -> Arc<EventHub> {
    let mut api = lock(&API);
    api.hub.get_or_insert_with(|| EventHub::start(g.connection().clone())).clone()
}

/// The group's peer clock: the offset its member agreed when it connected. Peer time cannot be
/// computed before the database is synchronised (PEER_E_GROUP_NOT_READY, as the reference says).
fn peer_clock(group: &GroupHandle) -> Result<PeerClock> {
    let status = call(group.status())?;
    if !status.ready {
        return Err(Error(crate::group::hresult::PEER_E_GROUP_NOT_READY));
    }
    Ok(PeerClock { offset: status.peer_time_offset })
}

fn membership_of(h: HGROUP) -> Result<Membership> {
    let api = lock(&API);
    if api.startups == 0 {
        return Err(Error(PEER_E_NOT_INITIALIZED));
    }
    api.groups.get(&(h as usize)).map(|g| g.membership.clone()).ok_or(Error(PEER_E_INVALID_GROUP))
}

/// Registers an open group and writes its handle.
///
/// # Safety
/// `phGroup` must be non-null and writable.
unsafe fn publish(handle: GroupHandle, membership: Membership, phGroup: *mut HGROUP) {
    let publication = publish_name(&membership, handle.port);
    let token = registry().token();
    lock(&API).groups.insert(token, OpenGroup { handle: Arc::new(handle), membership, publication });
    // SAFETY: per the caller's contract.
    unsafe { phGroup.write_unaligned(token as HGROUP) };
}

fn device() -> Result<Device> {
    let mut api = lock(&API);
    if api.startups == 0 {
        return Err(Error(PEER_E_NOT_INITIALIZED));
    }
    if let Some(d) = api.device.as_ref().filter(|d| !d.is_closed()) {
        return Ok(d.clone());
    }
    let d = Device::open_default().map_err(|_| Error(crate::hresult::E_HANDLE))?;
    api.device = Some(d.clone());
    api.hub = None;
    Ok(d)
}

/// Reads a caller's string; E_INVALIDARG if too long or not UTF-16.
unsafe fn string(p: *const u16) -> Result<Option<String>> {
    // SAFETY: per the caller's contract (NULL or NUL-terminated).
    match unsafe { read_wstr(p, MAX_NAME_UNITS) } {
        Ok(None) => Ok(None),
        Ok(Some(units)) => String::from_utf16(&units).map(Some).map_err(|_| Error(E_INVALIDARG)),
        Err(()) => Err(Error(E_INVALIDARG)),
    }
}

/// Bytes a record takes in a block after its PEER_RECORD, 8-aligned.
fn tail_len(r: &Record) -> usize {
    let wide = |s: &str| (s.encode_utf16().count() + 1) * 2;
    let security = r.certificate.to_bytes().len() + r.signature.len();
    (wide(&r.attributes) + 2 * wide(&hex(&r.creator)) + security + r.data.len()).next_multiple_of(8)
}

/// Writes `r` as a PEER_RECORD at `at` with its strings and bytes after it.
///
/// # Safety
/// `at` must be 8-aligned with `size_of::<PEER_RECORD>() + tail_len(r)` writable zeroed bytes.
unsafe fn write_record(at: *mut u8, r: &Record) {
    // SAFETY: the caller sized and aligned the space; every write stays inside it.
    unsafe {
        let mut cursor = at.add(size_of::<PEER_RECORD>());
        let mut put_wide = |s: &str| {
            let start = cursor as *mut u16;
            let mut p = start;
            for unit in s.encode_utf16() {
                p.write_unaligned(unit);
                p = p.add(1);
            }
            p.write_unaligned(0);
            cursor = p.add(1) as *mut u8;
            start
        };
        let attributes = put_wide(&r.attributes);
        let creator = put_wide(&hex(&r.creator));
        let modifier = put_wide(&hex(&r.certificate.member));
        let mut security = r.certificate.to_bytes().to_vec();
        security.extend_from_slice(&r.signature);
        let security_at = cursor;
        std::ptr::copy_nonoverlapping(security.as_ptr(), security_at, security.len());
        let data_at = security_at.add(security.len());
        std::ptr::copy_nonoverlapping(r.data.as_ptr(), data_at, r.data.len());
        let record = PEER_RECORD {
            dwSize: size_of::<PEER_RECORD>() as u32,
            r#type: GUID::from_wire(&r.record_type),
            id: GUID::from_wire(&r.id.0),
            dwVersion: r.version,
            dwFlags: r.flags,
            pwzCreatorId: creator,
            pwzModifiedById: modifier,
            pwzAttributes: attributes,
            ftCreation: FILETIME::from_u64(r.creation.0),
            ftExpiration: FILETIME::from_u64(r.expiration.0),
            ftLastModified: FILETIME::from_u64(r.modified.0),
            securityData: PEER_DATA { cbData: security.len() as u32, pbData: security_at },
            data: PEER_DATA { cbData: r.data.len() as u32, pbData: data_at },
        };
        (at as *mut PEER_RECORD).write(record);
    }
}

const _: () = assert!(size_of::<PEER_RECORD>().is_multiple_of(8) && align_of::<PEER_RECORD>() == 8);

/// PeerGroupStartup: version negotiation; counted, like WSAStartup.
/// # Safety
/// Every pointer must be NULL or valid for the reads and writes p2p.h documents for it.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn PeerGroupStartup(
    wVersionRequested: u16,
    pVersionData: *mut PEER_VERSION_DATA,
) -> HRESULT {
    guard(|| {
        if pVersionData.is_null() {
            return Err(Error(E_POINTER));
        }
        let data = negotiate(wVersionRequested).map_err(Error)?;
        // SAFETY: non-null, writable per the API contract.
        unsafe { pVersionData.write_unaligned(data) };
        lock(&API).startups += 1;
        Ok(())
    })
}

/// PeerGroupShutdown: the last one closes every group and the device connection.
#[unsafe(no_mangle)]
pub extern "system" fn PeerGroupShutdown() -> HRESULT {
    guard(|| {
        let mut api = lock(&API);
        if api.startups == 0 {
            return Err(Error(PEER_E_NOT_INITIALIZED));
        }
        api.startups -= 1;
        if api.startups == 0 {
            let groups = std::mem::take(&mut api.groups);
            api.enums.clear();
            api.events.clear();
            api.hub = None;
            let pnrp = api.pnrp.take();
            drop(api);
            drop(groups);
            if let Some(p) = pnrp {
                p.shutdown();
            }
            let mut api = lock(&API);
            if let Some(d) = api.device.take() {
                d.close();
            }
        }
        Ok(())
    })
}

/// PeerGroupCreate: a new group whose administrator is the identity `pwzCreatorPeerName` (of the
/// PeerIdentity store); its root key is fresh.
/// # Safety
/// Every pointer must be NULL or valid for the reads and writes p2p.h documents for it.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn PeerGroupCreate(
    pProperties: *const PEER_GROUP_PROPERTIES,
    phGroup: *mut HGROUP,
) -> HRESULT {
    guard(|| {
        if pProperties.is_null() || phGroup.is_null() {
            return Err(Error(E_POINTER));
        }
        // SAFETY: non-null, readable per the API contract.
        let p = unsafe { pProperties.read_unaligned() };
        if (p.dwSize as usize) < size_of::<PEER_GROUP_PROPERTIES>() {
            return Err(Error(E_INVALIDARG));
        }
        // SAFETY: NULL or NUL-terminated strings per the API contract.
        let (creator, classifier) = unsafe { (string(p.pwzCreatorPeerName)?, string(p.pwzClassifier)?) };
        let Some(classifier) = classifier else {
            return Err(Error(E_INVALIDARG));
        };
        let store = IdentityStore::open_default()?;
        let creator = match creator {
            Some(c) => c,
            None => store.default_identity()?,
        };
        let identity = store.get(&creator)?;
        // SAFETY: NULL or NUL-terminated, per the API contract.
        let friendly_name = unsafe { string(p.pwzFriendlyName)? }.unwrap_or_default();
        let mut root = [0u8; 32];
        getrandom::getrandom(&mut root).map_err(|_| Error(crate::hresult::E_OUTOFMEMORY))?;
        let lifetime =
            if p.ulMemberDataLifetime == 0 { DEFAULT_LIFETIME_SECONDS } else { p.ulMemberDataLifetime };
        // SAFETY: the password string is NULL or NUL-terminated per the API contract.
        let security = unsafe { password_properties(&p, &root)? };
        let g = call(GroupHandle::create(&device()?, &root, &identity.key.to_bytes(), lifetime))?;
        let mut root_public = [0u8; 32];
        root_public.copy_from_slice(&g.certificate[..32]);
        let membership = Membership {
            identity: creator.clone(),
            group_peer_name: group_peer_name(&root_public, &classifier)?,
            friendly_name,
            creator,
            certificate: hex(&g.certificate),
            root: Some(hex(&root)),
            member_lifetime: lifetime,
            hints: Vec::new(),
            security_properties: security.map(|s| hex(&s.to_bytes())),
            password_pending: false,
        };
        let saved =
            enable_password(&g, &membership).and_then(|()| MembershipStore::open_default().save(&membership));
        if let Err(e) = saved {
            let _ = g.close();
            return Err(e);
        }
        // SAFETY: non-null, writable.
        unsafe { publish(g, membership, phGroup) };
        Ok(())
    })
}

/// PeerGroupClose.
#[unsafe(no_mangle)]
pub extern "system" fn PeerGroupClose(hGroup: HGROUP) -> HRESULT {
    guard(|| {
        let g = group(hGroup)?;
        let mut api = lock(&API);
        let open = api.groups.remove(&(hGroup as usize));
        api.events.retain(|_, (owner, _)| *owner != hGroup as usize);
        drop(api);
        drop(open);
        call(g.close())
    })
}

/// PeerGroupAddRecord: the record's ID once it is durable on this node.
/// # Safety
/// Every pointer must be NULL or valid for the reads and writes p2p.h documents for it.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn PeerGroupAddRecord(
    hGroup: HGROUP,
    pRecord: *const PEER_RECORD,
    pRecordId: *mut GUID,
) -> HRESULT {
    guard(|| {
        if pRecordId.is_null() {
            return Err(Error(E_POINTER));
        }
        let g = group(hGroup)?;
        // SAFETY: per the API contract.
        let input = unsafe { read_record(pRecord) }.map_err(Error)?;
        let id = call(g.add(input.fields()))?;
        // SAFETY: non-null, writable.
        unsafe { pRecordId.write_unaligned(GUID::from_wire(&id)) };
        Ok(())
    })
}

/// PeerGroupUpdateRecord: `pRecord->id` names the record.
/// # Safety
/// Every pointer must be NULL or valid for the reads and writes p2p.h documents for it.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn PeerGroupUpdateRecord(hGroup: HGROUP, pRecord: *const PEER_RECORD) -> HRESULT {
    guard(|| {
        let g = group(hGroup)?;
        // SAFETY: per the API contract.
        let input = unsafe { read_record(pRecord) }.map_err(Error)?;
        // SAFETY: read_record checked it is non-null and readable.
        let id = unsafe { (*pRecord).id }.to_wire();
        call(g.update(&id, input.fields()))
    })
}

/// PeerGroupDeleteRecord.
/// # Safety
/// Every pointer must be NULL or valid for the reads and writes p2p.h documents for it.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn PeerGroupDeleteRecord(hGroup: HGROUP, pRecordId: *const GUID) -> HRESULT {
    guard(|| {
        if pRecordId.is_null() {
            return Err(Error(E_POINTER));
        }
        let g = group(hGroup)?;
        // SAFETY: non-null, readable.
        let id = unsafe { pRecordId.read_unaligned() }.to_wire();
        call(g.delete(&id))
    })
}

/// PeerGroupGetRecord: one block (PeerFreeData).
/// # Safety
/// Every pointer must be NULL or valid for the reads and writes p2p.h documents for it.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn PeerGroupGetRecord(
    hGroup: HGROUP,
    pRecordId: *const GUID,
    ppRecord: *mut *mut PEER_RECORD,
) -> HRESULT {
    guard(|| {
        if pRecordId.is_null() || ppRecord.is_null() {
            return Err(Error(E_POINTER));
        }
        let g = group(hGroup)?;
        // SAFETY: non-null, readable.
        let id = unsafe { pRecordId.read_unaligned() }.to_wire();
        let record = call(g.get(&id))?;
        let block = alloc_block(size_of::<PEER_RECORD>() + tail_len(&record))?;
        // SAFETY: the block is sized for it and 8-aligned; ppRecord is non-null and writable.
        unsafe {
            write_record(block, &record);
            ppRecord.write_unaligned(block as *mut PEER_RECORD);
        }
        Ok(())
    })
}

/// PeerGroupEnumRecords: a snapshot of the live records (of `pRecordType`, if given).
/// # Safety
/// Every pointer must be NULL or valid for the reads and writes p2p.h documents for it.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn PeerGroupEnumRecords(
    hGroup: HGROUP,
    pRecordType: *const GUID,
    phRecordEnum: *mut HPEERENUM,
) -> HRESULT {
    guard(|| {
        if phRecordEnum.is_null() {
            return Err(Error(E_POINTER));
        }
        let g = group(hGroup)?;
        // SAFETY: NULL or readable.
        let record_type = (!pRecordType.is_null()).then(|| unsafe { pRecordType.read_unaligned() }.to_wire());
        let records = call(g.records(record_type.as_ref()))?;
        let token = registry().token();
        lock(&API).enums.insert(token, Enumeration { records, next: 0 });
        // SAFETY: non-null, writable.
        unsafe { phRecordEnum.write_unaligned(token as HPEERENUM) };
        Ok(())
    })
}

/// PeerGetItemCount: items not yet returned.
/// # Safety
/// Every pointer must be NULL or valid for the reads and writes p2p.h documents for it.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn PeerGetItemCount(hPeerEnum: HPEERENUM, pCount: *mut u32) -> HRESULT {
    guard(|| {
        if pCount.is_null() {
            return Err(Error(E_POINTER));
        }
        let api = lock(&API);
        let count = match api.enums.get(&(hPeerEnum as usize)) {
            Some(e) => (e.records.len() - e.next) as u32,
            None => super::group_members::item_count(hPeerEnum).ok_or(Error(crate::hresult::E_HANDLE))?,
        };
        // SAFETY: non-null, writable.
        unsafe { pCount.write_unaligned(count) };
        Ok(())
    })
}

/// PeerGetNextItem: up to `*pCount` items as one block: an array of pointers, then the items.
/// # Safety
/// Every pointer must be NULL or valid for the reads and writes p2p.h documents for it.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn PeerGetNextItem(
    hPeerEnum: HPEERENUM,
    pCount: *mut u32,
    pppvItems: *mut *mut *mut c_void,
) -> HRESULT {
    guard(|| {
        if pCount.is_null() || pppvItems.is_null() {
            return Err(Error(E_POINTER));
        }
        // SAFETY: non-null, readable.
        let wanted = unsafe { pCount.read_unaligned() } as usize;
        let mut api = lock(&API);
        let Some(e) = api.enums.get_mut(&(hPeerEnum as usize)) else {
            drop(api);
            let (count, block) = super::group_members::next_items(hPeerEnum, wanted)
                .ok_or(Error(crate::hresult::E_HANDLE))??;
            // SAFETY: non-null, writable.
            unsafe {
                pCount.write_unaligned(count);
                pppvItems.write_unaligned(block);
            }
            return Ok(());
        };
        let take = wanted.min(e.records.len() - e.next);
        let items = &e.records[e.next..e.next + take];
        let pointers = (take * size_of::<*mut c_void>()).next_multiple_of(8);
        let total = pointers + items.iter().map(|r| size_of::<PEER_RECORD>() + tail_len(r)).sum::<usize>();
        let block = alloc_block(total)?;
        // SAFETY: the block holds the pointer array and every record at 8-aligned offsets.
        unsafe {
            let mut at = block.add(pointers);
            for (i, r) in items.iter().enumerate() {
                write_record(at, r);
                (block as *mut *mut c_void).add(i).write(at as *mut c_void);
                at = at.add(size_of::<PEER_RECORD>() + tail_len(r));
            }
            pCount.write_unaligned(take as u32);
            pppvItems.write_unaligned(block as *mut *mut c_void);
        }
        e.next += take;
        Ok(())
    })
}

/// PeerEndEnumeration.
#[unsafe(no_mangle)]
pub extern "system" fn PeerEndEnumeration(hPeerEnum: HPEERENUM) -> HRESULT {
    guard(|| {
        let records = lock(&API).enums.remove(&(hPeerEnum as usize)).is_some();
        if records || super::group_members::end(hPeerEnum) {
            Ok(())
        } else {
            Err(Error(crate::hresult::E_HANDLE))
        }
    })
}

/// PeerGroupGetStatus: PEER_GROUP_STATUS_LISTENING | PEER_GROUP_STATUS_HAS_CONNECTIONS.
/// # Safety
/// Every pointer must be NULL or valid for the reads and writes p2p.h documents for it.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn PeerGroupGetStatus(hGroup: HGROUP, pdwStatus: *mut u32) -> HRESULT {
    guard(|| {
        if pdwStatus.is_null() {
            return Err(Error(E_POINTER));
        }
        let status = call(group(hGroup)?.status())?;
        // SAFETY: non-null, writable.
        unsafe { pdwStatus.write_unaligned(status.status) };
        Ok(())
    })
}

/// PeerGroupUniversalTimeToPeerTime: UTC plus the offset the member agreed with the group when
/// it connected (the device reports it with the group's status).
/// # Safety
/// Every pointer must be NULL or valid for the reads and writes p2p.h documents for it.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn PeerGroupUniversalTimeToPeerTime(
    hGroup: HGROUP,
    pftUniversalTime: *const FILETIME,
    pftPeerTime: *mut FILETIME,
) -> HRESULT {
    guard(|| {
        if pftUniversalTime.is_null() || pftPeerTime.is_null() {
            return Err(Error(E_POINTER));
        }
        let clock = peer_clock(&*group(hGroup)?)?;
        // SAFETY: non-null, readable / writable.
        unsafe {
            let peer = clock.to_peer_time(pftUniversalTime.read_unaligned());
            pftPeerTime.write_unaligned(FILETIME::from_u64(peer.0));
        }
        Ok(())
    })
}

/// PeerGroupPeerTimeToUniversalTime.
/// # Safety
/// Every pointer must be NULL or valid for the reads and writes p2p.h documents for it.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn PeerGroupPeerTimeToUniversalTime(
    hGroup: HGROUP,
    pftPeerTime: *const FILETIME,
    pftUniversalTime: *mut FILETIME,
) -> HRESULT {
    guard(|| {
        if pftPeerTime.is_null() || pftUniversalTime.is_null() {
            return Err(Error(E_POINTER));
        }
        let clock = peer_clock(&*group(hGroup)?)?;
        // SAFETY: non-null, readable / writable.
        unsafe {
            let peer = peerdrt_core::group::time::PeerTime(pftPeerTime.read_unaligned().to_u64());
            pftUniversalTime.write_unaligned(clock.to_universal_time(peer));
        }
        Ok(())
    })
}

/// Most PEER_GROUP_EVENT_REGISTRATIONs one PeerGroupRegisterEvent takes.
pub const MAX_EVENT_REGISTRATIONS: u32 = 16;
/// Most roles one PeerGroupCreateInvitation takes in `pRoles`: the roles p2p.h defines
/// (PEER_GROUP_ROLE_ADMIN, _MEMBER, _INVITING_MEMBER), so a longer list names one twice. A
/// longer list is refused (E_INVALIDARG) rather than read in part, which would drop a role.
pub const MAX_INVITATION_ROLES: u32 = 3;
/// Longest identity-info or group peer name read from the caller (UTF-16 units).
const MAX_PEER_NAME_UNITS: usize = 512;

/// Reads an invitation string (up to MAX_INVITATION_UNITS).
unsafe fn invitation_string(p: *const u16) -> Result<Invitation> {
    // SAFETY: per the caller's contract.
    let units = match unsafe { read_wstr(p, MAX_INVITATION_UNITS) } {
        Ok(Some(u)) => u,
        Ok(None) => return Err(Error(E_POINTER)),
        Err(()) => return Err(Error(E_INVALIDARG)),
    };
    let text = String::from_utf16(&units).map_err(|_| Error(E_INVALIDARG))?;
    Invitation::decode(&text).map_err(|_| Error(E_INVALIDARG))
}

/// A string returned in its own PeerFreeData block.
fn wide_block(s: &str) -> Result<*mut u16> {
    let units: Vec<u16> = s.encode_utf16().chain([0]).collect();
    let block = alloc_block(units.len() * 2)?;
    // SAFETY: the block holds exactly the units.
    unsafe { std::ptr::copy_nonoverlapping(units.as_ptr(), block as *mut u16, units.len()) };
    Ok(block as *mut u16)
}

/// The identity named `name`, or the store's default one.
fn identity_of(name: Option<String>) -> Result<crate::pnrp::Identity> {
    let store = IdentityStore::open_default()?;
    let name = match name {
        Some(n) => n,
        None => store.default_identity()?,
    };
    store.get(&name)
}

/// This node's group socket addresses to hand an invitee: the host's addresses, then loopback
/// (for a member on the same host), at most MAX_HINTS.
fn address_hints(port: u16, known: &[String]) -> Vec<String> {
    let mut hints: Vec<String> = crate::pnrp::host_addresses(port).iter().map(|a| a.to_string()).collect();
    hints.push(SocketAddr::from((Ipv4Addr::LOCALHOST, port)).to_string());
    hints.extend(known.iter().cloned());
    hints.dedup();
    hints.truncate(MAX_HINTS);
    hints
}

/// The role an invitation grants for PeerGroupCreateInvitation's `pRoles`: administrator if
/// PEER_GROUP_ROLE_ADMIN is among them, else member (none given: member); E_INVALIDARG for any
/// other role or more than [`MAX_INVITATION_ROLES`].
fn invitation_role(roles: &[GUID]) -> Result<u8> {
    if roles.len() > MAX_INVITATION_ROLES as usize {
        return Err(Error(E_INVALIDARG));
    }
    let mut role = ROLE_MEMBER;
    for r in roles {
        match *r {
            r if r == PEER_GROUP_ROLE_ADMIN => role = ROLE_ADMIN,
            r if r == PEER_GROUP_ROLE_MEMBER => {}
            _ => return Err(Error(E_INVALIDARG)),
        }
    }
    Ok(role)
}

/// PeerGroupCreateInvitation: the invitee is `pwzIdentityInfo` — an identity of this machine's
/// store, or a member public key as 64 hex digits (`peerdrt group key`); roles
/// PEER_GROUP_ROLE_MEMBER (the default) or PEER_GROUP_ROLE_ADMIN; valid until `pftExpiration`
/// (NULL: the group's member lifetime). Only the creator (who holds the root) can invite.
/// # Safety
/// Every pointer must be NULL or valid for the reads and writes p2p.h documents for it.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn PeerGroupCreateInvitation(
    hGroup: HGROUP,
    pwzIdentityInfo: *const u16,
    pftExpiration: *const FILETIME,
    cRoles: u32,
    pRoles: *const GUID,
    ppwzInvitation: *mut *mut u16,
) -> HRESULT {
    guard(|| {
        if ppwzInvitation.is_null() || pwzIdentityInfo.is_null() || (cRoles > 0 && pRoles.is_null()) {
            return Err(Error(E_POINTER));
        }
        if cRoles > MAX_INVITATION_ROLES {
            return Err(Error(E_INVALIDARG));
        }
        let mut roles = [GUID::default(); MAX_INVITATION_ROLES as usize];
        for (i, slot) in roles.iter_mut().take(cRoles as usize).enumerate() {
            // SAFETY: non-null; cRoles GUIDs are readable per the API contract.
            *slot = unsafe { pRoles.add(i).read_unaligned() };
        }
        let role = invitation_role(&roles[..cRoles as usize])?;
        let g = group(hGroup)?;
        let m = membership_of(hGroup)?;
        // SAFETY: non-null, NUL-terminated per the API contract.
        let info = unsafe { read_wstr(pwzIdentityInfo, MAX_PEER_NAME_UNITS) }
            .map_err(|_| Error(E_INVALIDARG))?
            .and_then(|u| String::from_utf16(&u).ok())
            .ok_or(Error(E_INVALIDARG))?;
        let member: [u8; 32] = match unhex(info.trim()) {
            Some(key) => key,
            None => member_key(&identity_of(Some(info))?.key.to_bytes()),
        };
        let lifetime = if pftExpiration.is_null() {
            m.member_lifetime
        } else {
            // SAFETY: non-null, readable.
            let until = unsafe { pftExpiration.read_unaligned() }.to_u64();
            let seconds = until.saturating_sub(utc_now()) / 10_000_000;
            if seconds == 0 {
                return Err(Error(PEER_E_INVALID_TIME_PERIOD));
            }
            u32::try_from(seconds).unwrap_or(u32::MAX)
        };
        let certificate = call(g.invite(&member, role, lifetime))?;
        let invitation = Invitation {
            group_peer_name: m.group_peer_name.clone(),
            friendly_name: m.friendly_name.clone(),
            creator: m.creator.clone(),
            certificate,
            hints: address_hints(g.port, &m.hints),
        };
        let block = wide_block(&invitation.encode())?;
        // SAFETY: non-null, writable.
        unsafe { ppwzInvitation.write_unaligned(block) };
        Ok(())
    })
}

/// PeerGroupJoin: `pwzIdentity` (NULL: the default identity) joins with the invitation; the
/// membership is stored so PeerGroupOpen can reopen it. `pwzCloud` is accepted and unused
/// (members connect over the group socket, found through the invitation's hints or PNRP).
/// # Safety
/// Every pointer must be NULL or valid for the reads and writes p2p.h documents for it.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn PeerGroupJoin(
    pwzIdentity: *const u16,
    pwzInvitation: *const u16,
    pwzCloud: *const u16,
    phGroup: *mut HGROUP,
) -> HRESULT {
    guard(|| {
        let _ = pwzCloud;
        if phGroup.is_null() {
            return Err(Error(E_POINTER));
        }
        // SAFETY: per the API contract.
        let (identity, invitation) = unsafe { (string(pwzIdentity)?, invitation_string(pwzInvitation)?) };
        let identity = identity_of(identity)?;
        let secret = identity.key.to_bytes();
        let mut root_public = [0u8; 32];
        root_public.copy_from_slice(&invitation.certificate[..32]);
        let classifier = invitation.group_peer_name.split_once('.').map(|(_, c)| c).unwrap_or_default();
        // The name must be the one the certificate's root secures, and the certificate this
        // identity's: otherwise the invitation was made for another group or member.
        if group_peer_name(&root_public, classifier).ok().as_deref()
            != Some(invitation.group_peer_name.as_str())
            || invitation.certificate[32..64] != member_key(&secret)
        {
            return Err(Error(PEER_E_INVALID_CREDENTIAL));
        }
        let g = call(GroupHandle::join(&device()?, &secret, &invitation.certificate))?;
        let membership = Membership {
            identity: identity.name.clone(),
            group_peer_name: invitation.group_peer_name,
            friendly_name: invitation.friendly_name,
            creator: invitation.creator,
            certificate: hex(&invitation.certificate),
            root: None,
            member_lifetime: DEFAULT_LIFETIME_SECONDS,
            hints: invitation.hints,
            security_properties: None,
            password_pending: false,
        };
        if let Err(e) = MembershipStore::open_default().save(&membership) {
            let _ = g.close();
            return Err(e);
        }
        // SAFETY: non-null, writable.
        unsafe { publish(g, membership, phGroup) };
        Ok(())
    })
}

/// PeerGroupOpen: reopens a group `pwzIdentity` (NULL: the default identity) created or joined
/// before, from its stored membership; its records are the node's. PEER_E_NOT_FOUND if this
/// identity has no membership of that group.
/// # Safety
/// Every pointer must be NULL or valid for the reads and writes p2p.h documents for it.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn PeerGroupOpen(
    pwzIdentity: *const u16,
    pwzGroupPeerName: *const u16,
    pwzCloud: *const u16,
    phGroup: *mut HGROUP,
) -> HRESULT {
    guard(|| {
        let _ = pwzCloud;
        if phGroup.is_null() || pwzGroupPeerName.is_null() {
            return Err(Error(E_POINTER));
        }
        // SAFETY: per the API contract.
        let (identity, name) = unsafe { (string(pwzIdentity)?, string(pwzGroupPeerName)?) };
        let identity = identity_of(identity)?;
        let name = name.ok_or(Error(E_INVALIDARG))?;
        let membership = MembershipStore::open_default().load(&identity.name, &name)?;
        let secret = identity.key.to_bytes();
        let d = device()?;
        let g = match &membership.root {
            Some(root) => {
                let root = unhex(root).ok_or(Error(E_UNEXPECTED))?;
                let g = call(GroupHandle::create(&d, &root, &secret, membership.member_lifetime))?;
                if let Err(e) = enable_password(&g, &membership) {
                    let _ = g.close();
                    return Err(e);
                }
                g
            }
            None => call(GroupHandle::join(&d, &secret, &membership.certificate()?))?,
        };
        // SAFETY: non-null, writable.
        unsafe { publish(g, membership, phGroup) };
        Ok(())
    })
}

/// PeerGroupConnect: connects to the members the invitation named (their group sockets), or,
/// when it named none, to the endpoints of the group's peer name resolved through PNRP (the
/// creator publishes it). The creator, with no one to connect to, is listening already; a
/// member with no address to try gets PEER_E_NO_MEMBER_CONNECTIONS.
#[unsafe(no_mangle)]
pub extern "system" fn PeerGroupConnect(hGroup: HGROUP) -> HRESULT {
    guard(|| {
        let g = group(hGroup)?;
        let m = membership_of(hGroup)?;
        let mut addresses: Vec<SocketAddr> = m.hints.iter().filter_map(|h| h.parse().ok()).collect();
        if addresses.is_empty() && m.root.is_none() {
            let found = pnrp().and_then(|p| {
                p.resolve(&m.group_peer_name, None, DEFAULT_MAX_ENDPOINTS, GROUP_RESOLVE_TIMEOUT)
            });
            addresses = found.unwrap_or_default().into_iter().flat_map(|e| e.addresses).collect();
        }
        let mut tried = 0;
        for addr in addresses {
            let ip = match addr.ip() {
                IpAddr::V4(a) => a.to_ipv6_mapped(),
                IpAddr::V6(a) => a,
            };
            if call(g.connect(ip, addr.port())).is_ok() {
                tried += 1;
            }
        }
        if tried == 0 && m.root.is_none() {
            return Err(Error(PEER_E_NO_MEMBER_CONNECTIONS));
        }
        if m.password_pending {
            await_grant(hGroup, &g, m)?;
        }
        Ok(())
    })
}

/// PeerGroupDelete: the node forgets the group — peerdrtd removes its durable log
/// (PEER_E_GROUP_IN_USE while a handle has it open) — and `pwzIdentity`'s membership of it is
/// removed, so it can no longer be opened.
/// # Safety
/// Every pointer must be NULL or valid for the reads and writes p2p.h documents for it.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn PeerGroupDelete(
    pwzIdentity: *const u16,
    pwzGroupPeerName: *const u16,
) -> HRESULT {
    guard(|| {
        if pwzGroupPeerName.is_null() {
            return Err(Error(E_POINTER));
        }
        if lock(&API).startups == 0 {
            return Err(Error(PEER_E_NOT_INITIALIZED));
        }
        // SAFETY: per the API contract.
        let (identity, name) = unsafe { (string(pwzIdentity)?, string(pwzGroupPeerName)?) };
        let identity = identity_of(identity)?;
        let name = name.ok_or(Error(E_INVALIDARG))?;
        let store = MembershipStore::open_default();
        let certificate = store.load(&identity.name, &name)?.certificate()?;
        let root = peerdrt_core::group::membership::MembershipCertificate::from_bytes(&certificate)
            .map_err(|_| Error(PEER_E_INVALID_CREDENTIAL))?
            .group_root;
        // The node forgets the group (its log) first: refused while a handle has it open.
        call(GroupHandle::delete_group(&device()?, &root))?;
        store.delete(&identity.name, &name)
    })
}

/// PeerGroupGetProperties: one PeerFreeData block, PEER_GROUP_PROPERTIES then its strings.
/// # Safety
/// Every pointer must be NULL or valid for the reads and writes p2p.h documents for it.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn PeerGroupGetProperties(
    hGroup: HGROUP,
    ppProperties: *mut *mut PEER_GROUP_PROPERTIES,
) -> HRESULT {
    guard(|| {
        if ppProperties.is_null() {
            return Err(Error(E_POINTER));
        }
        let m = membership_of(hGroup)?;
        let strings = [
            GLOBAL_CLOUD.to_owned(),
            m.classifier(),
            m.group_peer_name.clone(),
            m.creator.clone(),
            m.friendly_name.clone(),
        ]
        .map(|s| s.encode_utf16().chain([0]).collect::<Vec<u16>>());
        let head = size_of::<PEER_GROUP_PROPERTIES>();
        let total = head + strings.iter().map(|s| s.len() * 2).sum::<usize>();
        let block = alloc_block(total)?;
        // SAFETY: the block holds the struct and every string after it.
        unsafe {
            let mut at = block.add(head) as *mut u16;
            let mut pointers = [std::ptr::null_mut::<u16>(); 5];
            for (p, s) in pointers.iter_mut().zip(&strings) {
                std::ptr::copy_nonoverlapping(s.as_ptr(), at, s.len());
                *p = at;
                at = at.add(s.len());
            }
            let mut props: PEER_GROUP_PROPERTIES = std::mem::zeroed();
            props.dwSize = head as u32;
            props.pwzCloud = pointers[0];
            props.pwzClassifier = pointers[1];
            props.pwzGroupPeerName = pointers[2];
            props.pwzCreatorPeerName = pointers[3];
            props.pwzFriendlyName = pointers[4];
            props.ulMemberDataLifetime = m.member_lifetime;
            props.ulPresenceLifetime = DEFAULT_PRESENCE_LIFETIME;
            props.dwAuthenticationSchemes = PEER_GROUP_GMC_AUTHENTICATION
                | if m.security_properties.is_some() { PEER_GROUP_PASSWORD_AUTHENTICATION } else { 0 };
            (block as *mut PEER_GROUP_PROPERTIES).write(props);
            ppProperties.write_unaligned(block as *mut PEER_GROUP_PROPERTIES);
        }
        Ok(())
    })
}

/// PeerGroupRegisterEvent: `hEvent` is signalled whenever events of the registered types are
/// queued; RECORD_CHANGED, MEMBER_CHANGED, STATUS_CHANGED and CONNECTION_FAILED are raised, from
/// the device's queue (`group::events`), every one in order (the other types are accepted and
/// never raised).
/// # Safety
/// Every pointer must be NULL or valid for the reads and writes p2p.h documents for it.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn PeerGroupRegisterEvent(
    hGroup: HGROUP,
    hEvent: HANDLE,
    cEventRegistration: u32,
    pEventRegistrations: *const PEER_GROUP_EVENT_REGISTRATION,
    phPeerEvent: *mut HPEEREVENT,
) -> HRESULT {
    guard(|| {
        if phPeerEvent.is_null() || pEventRegistrations.is_null() {
            return Err(Error(E_POINTER));
        }
        if hEvent.is_null() || cEventRegistration == 0 || cEventRegistration > MAX_EVENT_REGISTRATIONS {
            return Err(Error(E_INVALIDARG));
        }
        let g = group(hGroup)?;
        let mut interests = Vec::new();
        for i in 0..cEventRegistration as usize {
            // SAFETY: cEventRegistration entries are readable per the API contract.
            let r = unsafe { pEventRegistrations.add(i).read_unaligned() };
            if !(PEER_GROUP_EVENT_STATUS_CHANGED..=PEER_GROUP_EVENT_AUTHENTICATION_FAILED)
                .contains(&r.eventType)
            {
                return Err(Error(E_INVALIDARG));
            }
            // SAFETY: NULL or a readable GUID.
            let record_type = (!r.pType.is_null()).then(|| unsafe { r.pType.read_unaligned() }.to_wire());
            interests.push(Interest { event_type: r.eventType, record_type });
        }
        let signal = super::signal_of(&registry(), hEvent)?.ok_or(Error(crate::hresult::E_HANDLE))?;
        let registration = call(Registration::start(&hub(&g), g, interests, signal))?;
        let token = registry().token();
        lock(&API).events.insert(token, (hGroup as usize, registration));
        // SAFETY: non-null, writable.
        unsafe { phPeerEvent.write_unaligned(token as HPEEREVENT) };
        Ok(())
    })
}

/// PeerGroupUnregisterEvent.
#[unsafe(no_mangle)]
pub extern "system" fn PeerGroupUnregisterEvent(hPeerEvent: HPEEREVENT) -> HRESULT {
    guard(|| {
        lock(&API).events.remove(&(hPeerEvent as usize)).map(|_| ()).ok_or(Error(crate::hresult::E_HANDLE))
    })
}

/// PeerGroupGetEventData: the next queued event as a PeerFreeData block; PEER_S_NO_EVENT_DATA
/// (a success code, `*ppEventData` NULL) once the queue is drained.
/// # Safety
/// Every pointer must be NULL or valid for the reads and writes p2p.h documents for it.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn PeerGroupGetEventData(
    hPeerEvent: HPEEREVENT,
    ppEventData: *mut *mut PEER_GROUP_EVENT_DATA,
) -> HRESULT {
    guard(|| {
        if ppEventData.is_null() {
            return Err(Error(E_POINTER));
        }
        let next = {
            let api = lock(&API);
            let (_, r) = api.events.get(&(hPeerEvent as usize)).ok_or(Error(crate::hresult::E_HANDLE))?;
            r.next()
        };
        let Some(event) = next else {
            // SAFETY: non-null, writable.
            unsafe { ppEventData.write_unaligned(std::ptr::null_mut()) };
            return Err(Error(PEER_S_NO_EVENT_DATA));
        };
        let identity: Vec<u16> = match event {
            GroupEvent::Member { member, .. } => hex(&member).encode_utf16().chain([0]).collect(),
            _ => Vec::new(),
        };
        let block = alloc_block(size_of::<PEER_GROUP_EVENT_DATA>() + identity.len() * 2)?;
        let data = block as *mut PEER_GROUP_EVENT_DATA;
        // SAFETY: the block is a zeroed, 8-aligned PEER_GROUP_EVENT_DATA followed by room for the
        // identity; the union's storage is 48 bytes, larger than every member written into it.
        unsafe {
            let union = std::ptr::addr_of_mut!((*data).union) as *mut u8;
            match event {
                GroupEvent::Status(status) => {
                    (*data).eventType = PEER_GROUP_EVENT_STATUS_CHANGED;
                    (union as *mut u32).write(status);
                }
                GroupEvent::Record { change, id, record_type } => {
                    (*data).eventType = PEER_GROUP_EVENT_RECORD_CHANGED;
                    (union as *mut PEER_EVENT_RECORD_CHANGE_DATA).write_unaligned(
                        PEER_EVENT_RECORD_CHANGE_DATA {
                            dwSize: size_of::<PEER_EVENT_RECORD_CHANGE_DATA>() as u32,
                            changeType: change,
                            recordId: GUID::from_wire(&id),
                            recordType: GUID::from_wire(&record_type),
                        },
                    );
                }
                GroupEvent::Member { change, .. } => {
                    let at = block.add(size_of::<PEER_GROUP_EVENT_DATA>()) as *mut u16;
                    std::ptr::copy_nonoverlapping(identity.as_ptr(), at, identity.len());
                    (*data).eventType = PEER_GROUP_EVENT_MEMBER_CHANGED;
                    (union as *mut PEER_EVENT_MEMBER_CHANGE_DATA).write(PEER_EVENT_MEMBER_CHANGE_DATA {
                        dwSize: size_of::<PEER_EVENT_MEMBER_CHANGE_DATA>() as u32,
                        changeType: change,
                        pwzIdentity: at,
                    });
                }
                GroupEvent::ConnectionFailed(hresult) => {
                    (*data).eventType = PEER_GROUP_EVENT_CONNECTION_FAILED;
                    (union as *mut u32).write(hresult);
                }
                GroupEvent::AuthenticationFailed(hresult) => {
                    (*data).eventType = PEER_GROUP_EVENT_AUTHENTICATION_FAILED;
                    (union as *mut u32).write(hresult);
                }
            }
            ppEventData.write_unaligned(data);
        }
        Ok(())
    })
}

/// PeerGroupSearchRecords: a snapshot of the live records whose attributes match the record
/// search XML (`group::search`), enumerated like PeerGroupEnumRecords. A malformed search is
/// PEER_E_INVALID_SEARCH, a bad `\` escape E_INVALIDARG.
/// # Safety
/// Every pointer must be NULL or valid for the reads and writes p2p.h documents for it.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn PeerGroupSearchRecords(
    hGroup: HGROUP,
    pwzCriteria: *const u16,
    phRecordEnum: *mut HPEERENUM,
) -> HRESULT {
    guard(|| {
        if phRecordEnum.is_null() || pwzCriteria.is_null() {
            return Err(Error(E_POINTER));
        }
        let g = group(hGroup)?;
        // SAFETY: non-null, NUL-terminated per the API contract.
        let criteria = match unsafe { read_wstr(pwzCriteria, MAX_SEARCH_LEN) } {
            Ok(Some(units)) => String::from_utf16(&units).map_err(|_| Error(PEER_E_INVALID_SEARCH))?,
            _ => return Err(Error(PEER_E_INVALID_SEARCH)),
        };
        let search = Search::parse(&criteria).map_err(|e| Error(e.0))?;
        let records: Vec<Record> = call(g.records(None))?
            .into_iter()
            .filter(|r| search.matches(&attributes_of(&r.attributes)))
            .collect();
        let token = registry().token();
        lock(&API).enums.insert(token, Enumeration { records, next: 0 });
        // SAFETY: non-null, writable.
        unsafe { phRecordEnum.write_unaligned(token as HPEERENUM) };
        Ok(())
    })
}

/// How long PeerGroupConnect of a password joiner waits for the creator's grant or refusal.
pub const PASSWORD_GRANT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// How often PeerGroupConnect looks whether the grant arrived.
const GRANT_POLL_INTERVAL: std::time::Duration = std::time::Duration::from_millis(25);

/// The security properties a new group publishes when PEER_GROUP_PROPERTIES asks for password
/// authentication: PEER_E_PASSWORD_DOES_NOT_MEET_POLICY for an empty or over-long password,
/// E_INVALIDARG for unknown schemes or a role other than PEER_GROUP_ROLE_ADMIN /
/// PEER_GROUP_ROLE_MEMBER (a zero GUID means member).
///
/// # Safety
/// `p.pwzGroupPassword` must be NULL or NUL-terminated.
unsafe fn password_properties(
    p: &PEER_GROUP_PROPERTIES,
    root: &[u8; 32],
) -> Result<Option<SecurityProperties>> {
    let schemes = p.dwAuthenticationSchemes;
    if schemes & !(PEER_GROUP_GMC_AUTHENTICATION | PEER_GROUP_PASSWORD_AUTHENTICATION) != 0 {
        return Err(Error(E_INVALIDARG));
    }
    if schemes & PEER_GROUP_PASSWORD_AUTHENTICATION == 0 {
        return Ok(None);
    }
    // SAFETY: per the caller's contract.
    let password = match unsafe { read_wstr(p.pwzGroupPassword, MAX_PASSWORD_UNITS) } {
        Ok(units) => String::from_utf16(&units.unwrap_or_default()).map_err(|_| Error(E_INVALIDARG))?,
        Err(()) => return Err(Error(PEER_E_PASSWORD_DOES_NOT_MEET_POLICY)),
    };
    let role = match p.groupPasswordRole {
        r if r == PEER_GROUP_ROLE_ADMIN => Role::Administrator,
        r if r == PEER_GROUP_ROLE_MEMBER || r == GUID::default() => Role::Member,
        _ => return Err(Error(E_INVALIDARG)),
    };
    check_policy(&password).map_err(|_| Error(PEER_E_PASSWORD_DOES_NOT_MEET_POLICY))?;
    let mut salt = [0u8; PASSWORD_SALT_LEN];
    getrandom::getrandom(&mut salt).map_err(|_| Error(crate::hresult::E_OUTOFMEMORY))?;
    let seed = derive_seed(&password, &salt, PASSWORD_ITERATIONS)
        .map_err(|_| Error(PEER_E_PASSWORD_DOES_NOT_MEET_POLICY))?;
    Ok(Some(SecurityProperties::issue(&GroupRoot::from_secret(root), role, salt, PASSWORD_ITERATIONS, &seed)))
}

/// Lets the device grant password memberships of a group created here whose membership carries
/// security properties (nothing to do otherwise).
fn enable_password(g: &GroupHandle, m: &Membership) -> Result<()> {
    let Some(text) = &m.security_properties else { return Ok(()) };
    let bytes: [u8; SECURITY_PROPERTIES_LEN] = unhex(text).ok_or(Error(E_UNEXPECTED))?;
    let properties = SecurityProperties::from_bytes(&bytes).map_err(|_| Error(E_UNEXPECTED))?;
    call(g.enable_password(&properties.verifier, properties.role.to_byte(), m.member_lifetime))
}

/// Waits until the device holds a password joiner's granted certificate, then keeps the
/// membership (so PeerGroupOpen reopens it as an ordinary member).
fn await_grant(h: HGROUP, g: &GroupHandle, mut m: Membership) -> Result<()> {
    let deadline = std::time::Instant::now() + PASSWORD_GRANT_TIMEOUT;
    let certificate = loop {
        match g.granted_certificate() {
            Ok(certificate) => break certificate,
            Err(GroupCallError(hr))
                if hr == PEER_E_GROUP_NOT_READY && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(GRANT_POLL_INTERVAL);
            }
            Err(GroupCallError(hr)) if hr == PEER_E_GROUP_NOT_READY => {
                return Err(Error(PEER_E_NO_MEMBER_CONNECTIONS));
            }
            Err(e) => return Err(Error(e.0)),
        }
    };
    m.certificate = hex(&certificate);
    m.password_pending = false;
    MembershipStore::open_default().save(&m)?;
    if let Some(open) = lock(&API).groups.get_mut(&(h as usize)) {
        open.membership = m;
    }
    Ok(())
}

/// PeerGroupCreatePasswordInvitation: the group's security properties and this node's group
/// socket addresses, for any number of joiners. Only the creator of a group created with
/// PEER_GROUP_PASSWORD_AUTHENTICATION can issue one (PEER_E_NOT_AUTHORIZED otherwise).
/// # Safety
/// Every pointer must be NULL or valid for the reads and writes p2p.h documents for it.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn PeerGroupCreatePasswordInvitation(
    hGroup: HGROUP,
    ppwzInvitation: *mut *mut u16,
) -> HRESULT {
    guard(|| {
        if ppwzInvitation.is_null() {
            return Err(Error(E_POINTER));
        }
        let g = group(hGroup)?;
        let m = membership_of(hGroup)?;
        let Some(text) = m.security_properties.as_deref().filter(|_| m.root.is_some()) else {
            return Err(Error(PEER_E_NOT_AUTHORIZED));
        };
        let invitation = PasswordInvitation {
            group_peer_name: m.group_peer_name.clone(),
            friendly_name: m.friendly_name.clone(),
            creator: m.creator.clone(),
            security_properties: unhex(text).ok_or(Error(E_UNEXPECTED))?,
            hints: address_hints(g.port, &m.hints),
        };
        let block = wide_block(&invitation.encode())?;
        // SAFETY: non-null, writable.
        unsafe { ppwzInvitation.write_unaligned(block) };
        Ok(())
    })
}

/// PeerGroupPasswordJoin: `pwzIdentity` (NULL: the default identity) prepares to join with a
/// password invitation and the password. The invitation's security properties must be signed by
/// the root its peer name is secured by (PEER_E_INVITATION_NOT_TRUSTED otherwise); the password's
/// key is derived here, in user mode, and only that key's seed reaches the device. The
/// certificate is granted on PeerGroupConnect, which fails with
/// PEER_E_CONNECTION_NOT_AUTHENTICATED for a wrong password; the membership is stored once
/// granted. A certificate invitation (PeerGroupCreateInvitation's) is E_INVALIDARG here.
/// # Safety
/// Every pointer must be NULL or valid for the reads and writes p2p.h documents for it.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn PeerGroupPasswordJoin(
    pwzIdentity: *const u16,
    pwzInvitation: *const u16,
    pwzPassword: *const u16,
    pwzCloud: *const u16,
    phGroup: *mut HGROUP,
) -> HRESULT {
    guard(|| {
        let _ = pwzCloud;
        if phGroup.is_null() || pwzInvitation.is_null() || pwzPassword.is_null() {
            return Err(Error(E_POINTER));
        }
        // SAFETY: per the API contract.
        let units =
            unsafe { read_wstr(pwzInvitation, MAX_INVITATION_UNITS) }.map_err(|_| Error(E_INVALIDARG))?;
        let text = String::from_utf16(&units.unwrap_or_default()).map_err(|_| Error(E_INVALIDARG))?;
        let invitation = PasswordInvitation::decode(&text).map_err(|_| Error(E_INVALIDARG))?;
        // SAFETY: per the API contract.
        let password = match unsafe { read_wstr(pwzPassword, MAX_PASSWORD_UNITS) } {
            Ok(units) => String::from_utf16(&units.unwrap_or_default()).map_err(|_| Error(E_INVALIDARG))?,
            Err(()) => return Err(Error(PEER_E_PASSWORD_DOES_NOT_MEET_POLICY)),
        };
        check_policy(&password).map_err(|_| Error(PEER_E_PASSWORD_DOES_NOT_MEET_POLICY))?;
        let properties = SecurityProperties::from_bytes(&invitation.security_properties)
            .map_err(|_| Error(PEER_E_INVITATION_NOT_TRUSTED))?;
        let root = properties.group_root;
        let classifier = invitation.group_peer_name.split_once('.').map(|(_, c)| c).unwrap_or_default();
        if properties.check(&root).is_err()
            || group_peer_name(&root, classifier).ok().as_deref() != Some(invitation.group_peer_name.as_str())
        {
            return Err(Error(PEER_E_INVITATION_NOT_TRUSTED));
        }
        // SAFETY: per the API contract.
        let identity = identity_of(unsafe { string(pwzIdentity)? })?;
        let secret = identity.key.to_bytes();
        let seed = derive_seed(&password, &properties.salt, properties.iterations)
            .map_err(|_| Error(PEER_E_INVITATION_NOT_TRUSTED))?;
        let g = call(GroupHandle::password_join(&device()?, &secret, &root, &seed))?;
        let membership = Membership {
            identity: identity.name.clone(),
            group_peer_name: invitation.group_peer_name,
            friendly_name: invitation.friendly_name,
            creator: invitation.creator,
            certificate: hex(&g.certificate),
            root: None,
            member_lifetime: DEFAULT_LIFETIME_SECONDS,
            hints: invitation.hints,
            security_properties: None,
            password_pending: true,
        };
        // SAFETY: non-null, writable.
        unsafe { publish(g, membership, phGroup) };
        Ok(())
    })
}

/// PNRP_GLOBAL_SCOPE, the scope of the `Global_` cloud reported by PeerGroupParseInvitation.
const PNRP_GLOBAL_SCOPE: u32 = 1;

/// What PeerGroupParseInvitation reports, checked: the signed part (certificate or security
/// properties) must be the root's whose key secures the group's peer name.
struct ParsedInvitation {
    group_peer_name: String,
    group_friendly_name: String,
    issuer: String,
    subject: Option<String>,
    validity: (u64, u64),
    role: Role,
    scheme: u32,
}

/// Parses and checks an invitation of either kind: E_INVALIDARG if it is neither,
/// PEER_E_INVITATION_NOT_TRUSTED if its signed part does not hold.
fn parse_invitation(text: &str) -> Result<ParsedInvitation> {
    let untrusted = Error(PEER_E_INVITATION_NOT_TRUSTED);
    let secured_by = |root: &[u8; 32], name: &str| {
        let classifier = name.split_once('.').map(|(_, c)| c).unwrap_or_default();
        group_peer_name(root, classifier).ok().as_deref() == Some(name)
    };
    if let Ok(i) = Invitation::decode(text) {
        let certificate = MembershipCertificate::from_bytes(&i.certificate).map_err(|_| untrusted)?;
        let root = ed25519_dalek::VerifyingKey::from_bytes(&certificate.group_root).map_err(|_| untrusted)?;
        // Checked at its first instant: the signature and a non-empty validity period.
        certificate.check(&root, certificate.valid_from).map_err(|_| untrusted)?;
        if !secured_by(&certificate.group_root, &i.group_peer_name) {
            return Err(untrusted);
        }
        return Ok(ParsedInvitation {
            group_peer_name: i.group_peer_name,
            group_friendly_name: i.friendly_name,
            issuer: i.creator,
            subject: Some(hex(&certificate.member)),
            validity: (certificate.valid_from.0, certificate.valid_until.0),
            role: certificate.role,
            scheme: PEER_GROUP_GMC_AUTHENTICATION,
        });
    }
    let i = PasswordInvitation::decode(text).map_err(|_| Error(E_INVALIDARG))?;
    let properties = SecurityProperties::from_bytes(&i.security_properties).map_err(|_| untrusted)?;
    if properties.check(&properties.group_root).is_err()
        || !secured_by(&properties.group_root, &i.group_peer_name)
    {
        return Err(untrusted);
    }
    Ok(ParsedInvitation {
        group_peer_name: i.group_peer_name,
        group_friendly_name: i.friendly_name,
        issuer: i.creator,
        subject: None,
        validity: (0, 0),
        role: properties.role,
        scheme: PEER_GROUP_PASSWORD_AUTHENTICATION,
    })
}

/// PeerGroupParseInvitation: one PeerFreeData block — PEER_INVITATION_INFO, its role GUID, then
/// its strings. A certificate invitation's subject is the invitee's member key (64 hex digits,
/// what PeerGroupCreateInvitation accepts as pwzIdentityInfo) and its validity the
/// certificate's; a password invitation names no subject and has no validity period (zero
/// FILETIMEs). No classifiers and no subject public key structure are reported.
/// # Safety
/// Every pointer must be NULL or valid for the reads and writes p2p.h documents for it.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn PeerGroupParseInvitation(
    pwzInvitation: *const u16,
    ppInvitationInfo: *mut *mut PEER_INVITATION_INFO,
) -> HRESULT {
    guard(|| {
        if pwzInvitation.is_null() || ppInvitationInfo.is_null() {
            return Err(Error(E_POINTER));
        }
        // SAFETY: per the API contract.
        let units =
            unsafe { read_wstr(pwzInvitation, MAX_INVITATION_UNITS) }.map_err(|_| Error(E_INVALIDARG))?;
        let text = String::from_utf16(&units.unwrap_or_default()).map_err(|_| Error(E_INVALIDARG))?;
        let parsed = parse_invitation(&text)?;
        let strings: Vec<Option<Vec<u16>>> = [
            Some(GLOBAL_CLOUD.to_owned()),
            Some(parsed.group_peer_name),
            Some(parsed.issuer),
            parsed.subject,
            Some(parsed.group_friendly_name),
        ]
        .into_iter()
        .map(|s| s.map(|s| s.encode_utf16().chain([0]).collect()))
        .collect();
        let head = size_of::<PEER_INVITATION_INFO>();
        let role_at = head.next_multiple_of(align_of::<GUID>());
        let strings_at = role_at + size_of::<GUID>();
        let total = strings_at + strings.iter().flatten().map(|s| s.len() * 2).sum::<usize>();
        let block = alloc_block(total)?;
        // SAFETY: the block holds the struct, the GUID and every string after them.
        unsafe {
            let role = block.add(role_at) as *mut GUID;
            role.write_unaligned(GUID::from_wire(&parsed.role.guid()));
            let mut at = block.add(strings_at) as *mut u16;
            let mut pointers = [std::ptr::null_mut::<u16>(); 5];
            for (p, s) in pointers.iter_mut().zip(&strings) {
                if let Some(s) = s {
                    std::ptr::copy_nonoverlapping(s.as_ptr(), at, s.len());
                    *p = at;
                    at = at.add(s.len());
                }
            }
            let mut info: PEER_INVITATION_INFO = std::mem::zeroed();
            info.dwSize = head as u32;
            info.pwzCloudName = pointers[0];
            info.dwScope = PNRP_GLOBAL_SCOPE;
            info.pwzGroupPeerName = pointers[1];
            info.pwzIssuerPeerName = pointers[2];
            info.pwzSubjectPeerName = pointers[3];
            info.pwzGroupFriendlyName = pointers[4];
            info.ftValidityStart = FILETIME::from_u64(parsed.validity.0);
            info.ftValidityEnd = FILETIME::from_u64(parsed.validity.1);
            info.cRoles = 1;
            info.pRoles = role;
            info.authScheme = parsed.scheme;
            (block as *mut PEER_INVITATION_INFO).write(info);
            ppInvitationInfo.write_unaligned(block as *mut PEER_INVITATION_INFO);
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_register_event_call_takes_max_event_registrations_and_no_more() {
        let registrations = [PEER_GROUP_EVENT_REGISTRATION {
            eventType: PEER_GROUP_EVENT_RECORD_CHANGED,
            pType: std::ptr::null_mut(),
        }; MAX_EVENT_REGISTRATIONS as usize + 1];
        let register = |count: u32| {
            let mut peer_event: HPEEREVENT = std::ptr::null_mut();
            // No group is open: a call whose count is accepted fails on its group instead.
            let event = std::ptr::dangling_mut::<c_void>() as HANDLE;
            // SAFETY: every pointer is valid for what the call reads and writes.
            unsafe {
                PeerGroupRegisterEvent(
                    std::ptr::null_mut(),
                    event,
                    count,
                    registrations.as_ptr(),
                    &mut peer_event,
                ) as u32
            }
        };
        let at_edge = register(MAX_EVENT_REGISTRATIONS);
        assert!([PEER_E_NOT_INITIALIZED, PEER_E_INVALID_GROUP].contains(&at_edge), "{at_edge:#x}");
        assert_eq!(register(MAX_EVENT_REGISTRATIONS + 1), E_INVALIDARG);
    }

    #[test]
    fn an_invitation_takes_max_invitation_roles_roles_and_no_more() {
        const ADMIN: GUID = PEER_GROUP_ROLE_ADMIN;
        const MEMBER: GUID = PEER_GROUP_ROLE_MEMBER;
        assert_eq!(invitation_role(&[]), Ok(ROLE_MEMBER), "no role: a member");
        assert_eq!(invitation_role(&[MEMBER, MEMBER, ADMIN]), Ok(ROLE_ADMIN), "at the edge, the last read");
        assert_eq!(invitation_role(&[MEMBER; MAX_INVITATION_ROLES as usize]), Ok(ROLE_MEMBER));
        assert_eq!(invitation_role(&[MEMBER, MEMBER, MEMBER, ADMIN]), Err(Error(E_INVALIDARG)), "one past");
        assert_eq!(
            invitation_role(&[crate::group::types::PEER_GROUP_ROLE_INVITING_MEMBER]),
            Err(Error(E_INVALIDARG))
        );

        // Through the C API: a list one past the edge is refused before anything else is looked
        // at; one at the edge is read and the call goes on to its (missing) group.
        let roles = [MEMBER; MAX_INVITATION_ROLES as usize + 1];
        let identity: Vec<u16> = "0f".repeat(32).encode_utf16().chain([0]).collect();
        let invite = |count: u32| {
            let mut invitation: *mut u16 = std::ptr::null_mut();
            // SAFETY: every pointer is valid for what the call reads and writes.
            unsafe {
                PeerGroupCreateInvitation(
                    std::ptr::null_mut(),
                    identity.as_ptr(),
                    std::ptr::null(),
                    count,
                    roles.as_ptr(),
                    &mut invitation,
                ) as u32
            }
        };
        let at_edge = invite(MAX_INVITATION_ROLES);
        assert!([PEER_E_NOT_INITIALIZED, PEER_E_INVALID_GROUP].contains(&at_edge), "{at_edge:#x}");
        assert_eq!(invite(MAX_INVITATION_ROLES + 1), E_INVALIDARG);
    }
}
