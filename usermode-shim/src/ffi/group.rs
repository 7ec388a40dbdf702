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
//! Not exported yet: PeerGroupCreateInvitation / Join / Open / Connect / Delete /
//! GetProperties, events, search and password invitations (see `docs/grouping.md`).

#![allow(non_snake_case, non_camel_case_types)]

use std::collections::HashMap;
use std::ffi::c_void;
use std::mem::{align_of, size_of};
use std::sync::{Arc, LazyLock, Mutex};

use peerdrt_core::group::record::Record;

use super::pnrp::alloc_block;
use super::types::HRESULT;
use super::{guard, read_wstr, registry};
use crate::device::Device;
use crate::event::lock;
use crate::group::client::{GroupCallError, GroupHandle};
use crate::group::hresult::{E_INVALIDARG, E_POINTER, PEER_E_INVALID_GROUP, PEER_E_NOT_INITIALIZED};
use crate::group::record::read_record;
use crate::group::time::PeerClock;
use crate::group::types::{
    FILETIME, GUID, HGROUP, HPEERENUM, PEER_DATA, PEER_GROUP_PROPERTIES, PEER_RECORD, PEER_VERSION_DATA,
};
use crate::group::version::negotiate;
use crate::hresult::{Error, Result};
use crate::pnrp::IdentityStore;

/// Validity of a created group's creator certificate when PEER_GROUP_PROPERTIES gives no
/// ulMemberDataLifetime (seconds; Windows' default member data lifetime is one day).
const DEFAULT_LIFETIME_SECONDS: u32 = 24 * 3600;
/// Longest identity or classifier read from the caller.
const MAX_NAME_UNITS: usize = 512;

/// A records enumeration: a snapshot and a cursor.
struct Enumeration {
    records: Vec<Record>,
    next: usize,
}

#[derive(Default)]
struct GroupApi {
    startups: u32,
    device: Option<Device>,
    groups: HashMap<usize, Arc<GroupHandle>>,
    enums: HashMap<usize, Enumeration>,
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
    api.groups.get(&(h as usize)).cloned().ok_or(Error(PEER_E_INVALID_GROUP))
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

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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
            api.groups.clear();
            api.enums.clear();
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
        let (Some(creator), Some(_classifier)) = (creator, classifier) else {
            return Err(Error(E_INVALIDARG));
        };
        let identity = IdentityStore::open_default()?.get(&creator)?;
        let mut root = [0u8; 32];
        getrandom::getrandom(&mut root).map_err(|_| Error(crate::hresult::E_OUTOFMEMORY))?;
        let lifetime =
            if p.ulMemberDataLifetime == 0 { DEFAULT_LIFETIME_SECONDS } else { p.ulMemberDataLifetime };
        let g = call(GroupHandle::create(&device()?, &root, &identity.key.to_bytes(), lifetime))?;
        let token = registry().token();
        lock(&API).groups.insert(token, Arc::new(g));
        // SAFETY: non-null, writable.
        unsafe { phGroup.write_unaligned(token as HGROUP) };
        Ok(())
    })
}

/// PeerGroupClose.
#[unsafe(no_mangle)]
pub extern "system" fn PeerGroupClose(hGroup: HGROUP) -> HRESULT {
    guard(|| {
        let g = group(hGroup)?;
        lock(&API).groups.remove(&(hGroup as usize));
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
        let e = api.enums.get(&(hPeerEnum as usize)).ok_or(Error(crate::hresult::E_HANDLE))?;
        // SAFETY: non-null, writable.
        unsafe { pCount.write_unaligned((e.records.len() - e.next) as u32) };
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
        let mut api = lock(&API);
        let e = api.enums.get_mut(&(hPeerEnum as usize)).ok_or(Error(crate::hresult::E_HANDLE))?;
        // SAFETY: non-null, readable.
        let wanted = unsafe { pCount.read_unaligned() } as usize;
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
        lock(&API).enums.remove(&(hPeerEnum as usize)).map(|_| ()).ok_or(Error(crate::hresult::E_HANDLE))
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

/// PeerGroupUniversalTimeToPeerTime (peer time is the callers' UTC: no offset is negotiated).
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
        group(hGroup)?;
        // SAFETY: non-null, readable / writable.
        unsafe {
            let peer = PeerClock::default().to_peer_time(pftUniversalTime.read_unaligned());
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
        group(hGroup)?;
        // SAFETY: non-null, readable / writable.
        unsafe {
            let peer = peerdrt_core::group::time::PeerTime(pftPeerTime.read_unaligned().to_u64());
            pftUniversalTime.write_unaligned(PeerClock::default().to_universal_time(peer));
        }
        Ok(())
    })
}
