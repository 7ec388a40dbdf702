//! PeerGroupEnumMembers and PeerGroupEnumConnections: the members the node knows, as PEER_MEMBER
//! items, and its connections to them, as PEER_CONNECTION_INFO items, of enumerations that
//! PeerGetNextItem / PeerGetItemCount / PeerEndEnumeration (`ffi::group`) serve.
//!
//! The device lists this node's own member, every member seen on a record or in a handshake,
//! and every connected one (`GROUP_ENUM_MEMBERS`). PEER_MEMBER_PRESENT marks this member and
//! the connected ones; a connected member has one PEER_ADDRESS, its group socket, and an
//! ullNodeId (the first 8 bytes of its key, little-endian: one member per group per node);
//! the others have none and node ID 0. `pwzIdentity` is the key in hex, as in PEER_RECORD;
//! `pwzAttributes` and `pCredentialInfo` are NULL.
//!
//! Connections: every connected member is one neighbor connection (PEER_CONNECTION_NEIGHBOR)
//! whose ullConnectionId is the member's node ID (one connection per member) and pwzPeerId
//! its key in hex; direct connections (PeerGroupOpenDirectConnection) do not exist here, so
//! PEER_CONNECTION_DIRECT alone lists nothing.

#![allow(non_snake_case)]

use std::collections::HashMap;
use std::ffi::c_void;
use std::mem::size_of;
use std::sync::{LazyLock, Mutex};

use peerdrt_abi::group::{MEMBER_PRESENT, MemberEntry};

use super::group::group_handle;
use super::pnrp::alloc_block;
use super::types::{AF_INET6, HRESULT, SOCKADDR_IN6};
use super::{guard, registry};
use crate::event::lock;
use crate::group::hresult::{E_INVALIDARG, E_POINTER};
use crate::group::membership_store::{hex, unhex};
use crate::group::types::{
    HGROUP, HPEERENUM, PEER_ADDRESS, PEER_CONNECTION_DIRECT, PEER_CONNECTION_INFO, PEER_CONNECTION_NEIGHBOR,
    PEER_MEMBER, PEER_MEMBER_PRESENT,
};
use crate::hresult::{Error, Result};
use crate::pnrp::IdentityStore;
use peerdrt_core::group::membership::member_key;

/// Longest identity read from the caller.
const MAX_IDENTITY_UNITS: usize = 512;

/// What an enumeration's items are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Items {
    /// PEER_MEMBER.
    Members,
    /// PEER_CONNECTION_INFO.
    Connections,
}

/// A members or connections enumeration: a snapshot and a cursor.
struct MemberEnumeration {
    items: Items,
    members: Vec<MemberEntry>,
    next: usize,
}

static ENUMS: LazyLock<Mutex<HashMap<usize, MemberEnumeration>>> = LazyLock::new(Default::default);

/// Bytes of the key in hex, NUL-terminated, as UTF-16.
const IDENTITY_BYTES: usize = (64 + 1) * 2;

/// Bytes a member takes after its PEER_MEMBER: its address (if connected) and its identity.
fn tail_len(m: &MemberEntry) -> usize {
    (addresses(m) * size_of::<PEER_ADDRESS>() + IDENTITY_BYTES).next_multiple_of(8)
}

/// Bytes one item takes in a PeerGetNextItem block.
fn item_len(items: Items, m: &MemberEntry) -> usize {
    match items {
        Items::Members => size_of::<PEER_MEMBER>() + tail_len(m),
        Items::Connections => size_of::<PEER_CONNECTION_INFO>() + IDENTITY_BYTES.next_multiple_of(8),
    }
}

/// The node ID of a present member: the first 8 bytes of its key.
fn node_id(m: &MemberEntry) -> u64 {
    u64::from_le_bytes(m.key[..8].try_into().unwrap_or_default())
}

fn peer_address(m: &MemberEntry) -> PEER_ADDRESS {
    PEER_ADDRESS {
        dwSize: size_of::<PEER_ADDRESS>() as u32,
        sin6: SOCKADDR_IN6 {
            sin6_family: AF_INET6,
            sin6_port: m.port.to_be(),
            sin6_flowinfo: 0,
            sin6_addr: m.address,
            sin6_scope_id: 0,
        },
    }
}

/// Writes the key in hex as a NUL-terminated UTF-16 string at `at`.
///
/// # Safety
/// `at` must have [`IDENTITY_BYTES`] writable bytes.
unsafe fn write_identity(at: *mut u8, m: &MemberEntry) -> *mut u16 {
    let identity = at as *mut u16;
    for (i, unit) in hex(&m.key).encode_utf16().chain([0]).enumerate() {
        // SAFETY: 65 units fit IDENTITY_BYTES, per the caller's contract.
        unsafe { identity.add(i).write_unaligned(unit) };
    }
    identity
}

/// Writes `m` as a PEER_CONNECTION_INFO at `at`, its peer ID after it.
///
/// # Safety
/// `at` must be 8-aligned with `item_len(Items::Connections, m)` writable zeroed bytes.
unsafe fn write_connection(at: *mut u8, m: &MemberEntry) {
    // SAFETY: the caller sized and aligned the space.
    unsafe {
        let peer_id = write_identity(at.add(size_of::<PEER_CONNECTION_INFO>()), m);
        (at as *mut PEER_CONNECTION_INFO).write(PEER_CONNECTION_INFO {
            dwSize: size_of::<PEER_CONNECTION_INFO>() as u32,
            dwFlags: PEER_CONNECTION_NEIGHBOR,
            ullConnectionId: node_id(m),
            ullNodeId: node_id(m),
            pwzPeerId: peer_id,
            address: peer_address(m),
        });
    }
}

fn addresses(m: &MemberEntry) -> usize {
    usize::from(m.port != 0 && m.address != [0; 16])
}

/// Writes `m` as a PEER_MEMBER at `at`, its address and identity after it.
///
/// # Safety
/// `at` must be 8-aligned with `size_of::<PEER_MEMBER>() + tail_len(m)` writable zeroed bytes.
unsafe fn write_member(at: *mut u8, m: &MemberEntry) {
    // SAFETY: the caller sized and aligned the space; every write stays inside it.
    unsafe {
        let mut cursor = at.add(size_of::<PEER_MEMBER>());
        let address = if addresses(m) == 1 {
            let a = cursor as *mut PEER_ADDRESS;
            a.write_unaligned(peer_address(m));
            cursor = cursor.add(size_of::<PEER_ADDRESS>());
            a
        } else {
            std::ptr::null_mut()
        };
        let identity = write_identity(cursor, m);
        let present = m.flags & MEMBER_PRESENT != 0;
        let member = PEER_MEMBER {
            dwSize: size_of::<PEER_MEMBER>() as u32,
            dwFlags: if present { PEER_MEMBER_PRESENT } else { 0 },
            pwzIdentity: identity,
            pwzAttributes: std::ptr::null_mut(),
            ullNodeId: if present {
                u64::from_le_bytes(m.key[..8].try_into().unwrap_or_default())
            } else {
                0
            },
            cAddresses: addresses(m) as u32,
            pAddresses: address,
            pCredentialInfo: std::ptr::null_mut(),
        };
        (at as *mut PEER_MEMBER).write(member);
    }
}

/// The member key an identity filter names: 64 hex digits, or an identity of the store.
fn key_of(identity: &str) -> Option<[u8; 32]> {
    unhex::<32>(identity).or_else(|| {
        let store = IdentityStore::open_default().ok()?;
        store.get(identity).ok().map(|i| member_key(&i.key.to_bytes()))
    })
}

/// PeerGroupEnumMembers: a snapshot of the members the node knows; `dwFlags`
/// PEER_MEMBER_PRESENT keeps the present ones only, `pwzIdentity` (NULL for all) one member.
/// An identity that names no member gives an empty enumeration.
/// # Safety
/// Every pointer must be NULL or valid for the reads and writes p2p.h documents for it.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn PeerGroupEnumMembers(
    hGroup: HGROUP,
    dwFlags: u32,
    pwzIdentity: *const u16,
    phPeerEnum: *mut HPEERENUM,
) -> HRESULT {
    guard(|| {
        if phPeerEnum.is_null() {
            return Err(Error(E_POINTER));
        }
        if dwFlags & !PEER_MEMBER_PRESENT != 0 {
            return Err(Error(E_INVALIDARG));
        }
        let g = group_handle(hGroup)?;
        // SAFETY: NULL or NUL-terminated per the API contract.
        let identity = match unsafe { super::read_wstr(pwzIdentity, MAX_IDENTITY_UNITS) } {
            Ok(None) => None,
            Ok(Some(units)) => Some(String::from_utf16(&units).map_err(|_| Error(E_INVALIDARG))?),
            Err(()) => return Err(Error(E_INVALIDARG)),
        };
        let wanted = identity.as_deref().map(key_of);
        let members: Vec<MemberEntry> = g
            .members()
            .map_err(|e| Error(e.0))?
            .into_iter()
            .filter(|m| dwFlags & PEER_MEMBER_PRESENT == 0 || m.flags & MEMBER_PRESENT != 0)
            .filter(|m| wanted.is_none_or(|k| k == Some(m.key)))
            .collect();
        let token = registry().token();
        lock(&ENUMS).insert(token, MemberEnumeration { items: Items::Members, members, next: 0 });
        // SAFETY: non-null, writable.
        unsafe { phPeerEnum.write_unaligned(token as HPEERENUM) };
        Ok(())
    })
}

/// PeerGroupEnumConnections: a snapshot of the group's connections of the kinds `dwFlags`
/// names (PEER_CONNECTION_NEIGHBOR: one per connected member; PEER_CONNECTION_DIRECT: none
/// exist here). `dwFlags` must name at least one kind.
/// # Safety
/// Every pointer must be NULL or valid for the reads and writes p2p.h documents for it.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn PeerGroupEnumConnections(
    hGroup: HGROUP,
    dwFlags: u32,
    phPeerEnum: *mut HPEERENUM,
) -> HRESULT {
    guard(|| {
        if phPeerEnum.is_null() {
            return Err(Error(E_POINTER));
        }
        let kinds = PEER_CONNECTION_NEIGHBOR | PEER_CONNECTION_DIRECT;
        if dwFlags == 0 || dwFlags & !kinds != 0 {
            return Err(Error(E_INVALIDARG));
        }
        let g = group_handle(hGroup)?;
        let members: Vec<MemberEntry> = if dwFlags & PEER_CONNECTION_NEIGHBOR != 0 {
            g.members().map_err(|e| Error(e.0))?.into_iter().filter(|m| addresses(m) == 1).collect()
        } else {
            Vec::new()
        };
        let token = registry().token();
        lock(&ENUMS).insert(token, MemberEnumeration { items: Items::Connections, members, next: 0 });
        // SAFETY: non-null, writable.
        unsafe { phPeerEnum.write_unaligned(token as HPEERENUM) };
        Ok(())
    })
}

/// PeerGetItemCount of a members enumeration; `None` if `handle` is not one.
pub(crate) fn item_count(handle: HPEERENUM) -> Option<u32> {
    lock(&ENUMS).get(&(handle as usize)).map(|e| (e.members.len() - e.next) as u32)
}

/// Ends a members enumeration; whether `handle` was one.
pub(crate) fn end(handle: HPEERENUM) -> bool {
    lock(&ENUMS).remove(&(handle as usize)).is_some()
}

/// PeerGetNextItem of a members or connections enumeration: up to `wanted` items as one block
/// (an array of pointers, then the items); `None` if `handle` is not one.
pub(crate) fn next_items(handle: HPEERENUM, wanted: usize) -> Option<Result<(u32, *mut *mut c_void)>> {
    let mut enums = lock(&ENUMS);
    let e = enums.get_mut(&(handle as usize))?;
    let take = wanted.min(e.members.len() - e.next);
    let items = &e.members[e.next..e.next + take];
    let pointers = (take * size_of::<*mut c_void>()).next_multiple_of(8);
    let kind = e.items;
    let total = pointers + items.iter().map(|m| item_len(kind, m)).sum::<usize>();
    let block = match alloc_block(total) {
        Ok(block) => block,
        Err(e) => return Some(Err(e)),
    };
    // SAFETY: the block holds the pointer array and every item at 8-aligned offsets.
    unsafe {
        let mut at = block.add(pointers);
        for (i, m) in items.iter().enumerate() {
            match kind {
                Items::Members => write_member(at, m),
                Items::Connections => write_connection(at, m),
            }
            (block as *mut *mut c_void).add(i).write(at as *mut c_void);
            at = at.add(item_len(kind, m));
        }
    }
    e.next += take;
    Some(Ok((take as u32, block as *mut *mut c_void)))
}

const _: () = assert!(size_of::<PEER_MEMBER>().is_multiple_of(8));
const _: () = assert!(size_of::<PEER_CONNECTION_INFO>().is_multiple_of(8));
