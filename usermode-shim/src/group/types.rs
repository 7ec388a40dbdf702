//! The C types of p2p.h's grouping section, laid out as on Win32 x64 (natural C alignment), with
//! compile-time size and offset checks. Names follow the header.

#![allow(non_camel_case_types, non_snake_case)]

use std::ffi::c_void;
use std::mem::{align_of, offset_of, size_of};

/// WCHAR (UTF-16).
pub type WCHAR = u16;
/// PWSTR.
pub type PWSTR = *mut WCHAR;
/// HGROUP.
pub type HGROUP = *mut c_void;
/// HPEEREVENT.
pub type HPEEREVENT = *mut c_void;
/// HPEERENUM.
pub type HPEERENUM = *mut c_void;

/// GUID, as laid out in memory (Data1..Data3 little-endian on x64).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GUID {
    /// Data1.
    pub Data1: u32,
    /// Data2.
    pub Data2: u16,
    /// Data3.
    pub Data3: u16,
    /// Data4.
    pub Data4: [u8; 8],
}

impl GUID {
    /// The GUID's bytes in wire order (big-endian fields, as [MS-PPGRH] and the engine use).
    pub fn to_wire(&self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..4].copy_from_slice(&self.Data1.to_be_bytes());
        out[4..6].copy_from_slice(&self.Data2.to_be_bytes());
        out[6..8].copy_from_slice(&self.Data3.to_be_bytes());
        out[8..].copy_from_slice(&self.Data4);
        out
    }

    /// The GUID of wire-order bytes.
    pub fn from_wire(bytes: &[u8; 16]) -> Self {
        let mut data4 = [0u8; 8];
        data4.copy_from_slice(&bytes[8..]);
        Self {
            Data1: u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]),
            Data2: u16::from_be_bytes([bytes[4], bytes[5]]),
            Data3: u16::from_be_bytes([bytes[6], bytes[7]]),
            Data4: data4,
        }
    }
}

/// FILETIME.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FILETIME {
    /// dwLowDateTime.
    pub dwLowDateTime: u32,
    /// dwHighDateTime.
    pub dwHighDateTime: u32,
}

impl FILETIME {
    /// The 64-bit value.
    pub fn to_u64(self) -> u64 {
        (u64::from(self.dwHighDateTime) << 32) | u64::from(self.dwLowDateTime)
    }

    /// The FILETIME of a 64-bit value.
    pub fn from_u64(value: u64) -> Self {
        Self { dwLowDateTime: value as u32, dwHighDateTime: (value >> 32) as u32 }
    }
}

/// PEER_DATA.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct PEER_DATA {
    /// cbData.
    pub cbData: u32,
    /// pbData.
    pub pbData: *mut u8,
}

/// PEER_VERSION_DATA.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PEER_VERSION_DATA {
    /// wVersion: low byte major, high byte minor.
    pub wVersion: u16,
    /// wHighestVersion.
    pub wHighestVersion: u16,
}

/// PEER_RECORD.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct PEER_RECORD {
    /// dwSize.
    pub dwSize: u32,
    /// type.
    pub r#type: GUID,
    /// id.
    pub id: GUID,
    /// dwVersion.
    pub dwVersion: u32,
    /// dwFlags (PEER_RECORD_FLAG_*).
    pub dwFlags: u32,
    /// pwzCreatorId.
    pub pwzCreatorId: PWSTR,
    /// pwzModifiedById.
    pub pwzModifiedById: PWSTR,
    /// pwzAttributes.
    pub pwzAttributes: PWSTR,
    /// ftCreation.
    pub ftCreation: FILETIME,
    /// ftExpiration.
    pub ftExpiration: FILETIME,
    /// ftLastModified.
    pub ftLastModified: FILETIME,
    /// securityData.
    pub securityData: PEER_DATA,
    /// data.
    pub data: PEER_DATA,
}

/// PEER_GROUP_PROPERTIES (Vista+ layout, with the password fields).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct PEER_GROUP_PROPERTIES {
    /// dwSize.
    pub dwSize: u32,
    /// dwFlags.
    pub dwFlags: u32,
    /// pwzCloud.
    pub pwzCloud: PWSTR,
    /// pwzClassifier.
    pub pwzClassifier: PWSTR,
    /// pwzGroupPeerName.
    pub pwzGroupPeerName: PWSTR,
    /// pwzCreatorPeerName.
    pub pwzCreatorPeerName: PWSTR,
    /// pwzFriendlyName.
    pub pwzFriendlyName: PWSTR,
    /// pwzComment.
    pub pwzComment: PWSTR,
    /// ulMemberDataLifetime.
    pub ulMemberDataLifetime: u32,
    /// ulPresenceLifetime.
    pub ulPresenceLifetime: u32,
    /// dwAuthenticationSchemes.
    pub dwAuthenticationSchemes: u32,
    /// pwzGroupPassword.
    pub pwzGroupPassword: PWSTR,
    /// groupPasswordRole.
    pub groupPasswordRole: GUID,
}

/// PEER_INVITATION_INFO (PeerGroupParseInvitation).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct PEER_INVITATION_INFO {
    /// dwSize.
    pub dwSize: u32,
    /// dwFlags.
    pub dwFlags: u32,
    /// pwzCloudName.
    pub pwzCloudName: PWSTR,
    /// dwScope (PNRP_GLOBAL_SCOPE 1).
    pub dwScope: u32,
    /// dwCloudFlags.
    pub dwCloudFlags: u32,
    /// pwzGroupPeerName.
    pub pwzGroupPeerName: PWSTR,
    /// pwzIssuerPeerName.
    pub pwzIssuerPeerName: PWSTR,
    /// pwzSubjectPeerName.
    pub pwzSubjectPeerName: PWSTR,
    /// pwzGroupFriendlyName.
    pub pwzGroupFriendlyName: PWSTR,
    /// pwzIssuerFriendlyName.
    pub pwzIssuerFriendlyName: PWSTR,
    /// pwzSubjectFriendlyName.
    pub pwzSubjectFriendlyName: PWSTR,
    /// ftValidityStart.
    pub ftValidityStart: FILETIME,
    /// ftValidityEnd.
    pub ftValidityEnd: FILETIME,
    /// cRoles.
    pub cRoles: u32,
    /// pRoles.
    pub pRoles: *mut GUID,
    /// cClassifiers.
    pub cClassifiers: u32,
    /// ppwzClassifiers.
    pub ppwzClassifiers: *mut PWSTR,
    /// pSubjectPublicKey (CERT_PUBLIC_KEY_INFO*).
    pub pSubjectPublicKey: *mut c_void,
    /// authScheme (PEER_GROUP_GMC_AUTHENTICATION / PEER_GROUP_PASSWORD_AUTHENTICATION).
    pub authScheme: u32,
}

/// PEER_EVENT_RECORD_CHANGE_DATA.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct PEER_EVENT_RECORD_CHANGE_DATA {
    /// dwSize.
    pub dwSize: u32,
    /// changeType (PEER_RECORD_*).
    pub changeType: u32,
    /// recordId.
    pub recordId: GUID,
    /// recordType.
    pub recordType: GUID,
}

/// PEER_GROUP_EVENT_REGISTRATION.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct PEER_GROUP_EVENT_REGISTRATION {
    /// eventType.
    pub eventType: u32,
    /// pType (a record or data type filter, or null).
    pub pType: *mut GUID,
}

/// PEER_EVENT_MEMBER_CHANGE_DATA.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct PEER_EVENT_MEMBER_CHANGE_DATA {
    /// dwSize.
    pub dwSize: u32,
    /// changeType (PEER_MEMBER_*).
    pub changeType: u32,
    /// pwzIdentity: the member's key in hex (as PEER_RECORD.pwzCreatorId).
    pub pwzIdentity: PWSTR,
}

/// PEER_GROUP_EVENT_DATA: the event type, then the union of its data (48 bytes on x64, the size
/// of its largest member PEER_EVENT_INCOMING_DATA), which [`PEER_GROUP_EVENT_DATA::union`]
/// holds as raw storage.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct PEER_GROUP_EVENT_DATA {
    /// eventType (PEER_GROUP_EVENT_*).
    pub eventType: u32,
    /// dwStatus / recordChangeData / memberChangeData / … .
    pub union: [u64; 6],
}

/// PEER_ADDRESS: a member's address.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct PEER_ADDRESS {
    /// dwSize.
    pub dwSize: u32,
    /// sin6.
    pub sin6: crate::ffi::types::SOCKADDR_IN6,
}

/// PEER_MEMBER (PeerGroupEnumMembers' items).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct PEER_MEMBER {
    /// dwSize.
    pub dwSize: u32,
    /// dwFlags (PEER_MEMBER_PRESENT).
    pub dwFlags: u32,
    /// pwzIdentity (peerdrt: the member's key in hex, as in PEER_RECORD.pwzCreatorId).
    pub pwzIdentity: PWSTR,
    /// pwzAttributes (NULL: members carry no attributes here).
    pub pwzAttributes: PWSTR,
    /// ullNodeId.
    pub ullNodeId: u64,
    /// cAddresses.
    pub cAddresses: u32,
    /// pAddresses.
    pub pAddresses: *mut PEER_ADDRESS,
    /// pCredentialInfo (PEER_CREDENTIAL_INFO*; NULL here).
    pub pCredentialInfo: *mut c_void,
}

/// PEER_CONNECTION_INFO (PeerGroupEnumConnections' items).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct PEER_CONNECTION_INFO {
    /// dwSize.
    pub dwSize: u32,
    /// dwFlags (PEER_CONNECTION_NEIGHBOR / PEER_CONNECTION_DIRECT).
    pub dwFlags: u32,
    /// ullConnectionId.
    pub ullConnectionId: u64,
    /// ullNodeId.
    pub ullNodeId: u64,
    /// pwzPeerId (peerdrt: the member's key in hex).
    pub pwzPeerId: PWSTR,
    /// address.
    pub address: PEER_ADDRESS,
}

/// PEER_CONNECTION_NEIGHBOR.
pub const PEER_CONNECTION_NEIGHBOR: u32 = 1;
/// PEER_CONNECTION_DIRECT.
pub const PEER_CONNECTION_DIRECT: u32 = 2;

/// PEER_MEMBER_PRESENT: PEER_MEMBER.dwFlags and PeerGroupEnumMembers' filter.
pub const PEER_MEMBER_PRESENT: u32 = 1;

/// PEER_GROUP_VERSION = MAKEWORD(1, 1).
pub const PEER_GROUP_VERSION: u16 = 0x0101;
/// PEER_RECORD_FLAG_AUTOREFRESH.
pub const PEER_RECORD_FLAG_AUTOREFRESH: u32 = 1;
/// PEER_RECORD_FLAG_DELETED.
pub const PEER_RECORD_FLAG_DELETED: u32 = 2;
/// PEER_GROUP_EVENT_STATUS_CHANGED.
pub const PEER_GROUP_EVENT_STATUS_CHANGED: u32 = 1;
/// PEER_GROUP_EVENT_PROPERTY_CHANGED.
pub const PEER_GROUP_EVENT_PROPERTY_CHANGED: u32 = 2;
/// PEER_GROUP_EVENT_RECORD_CHANGED.
pub const PEER_GROUP_EVENT_RECORD_CHANGED: u32 = 3;
/// PEER_GROUP_EVENT_DIRECT_CONNECTION.
pub const PEER_GROUP_EVENT_DIRECT_CONNECTION: u32 = 4;
/// PEER_GROUP_EVENT_NEIGHBOR_CONNECTION.
pub const PEER_GROUP_EVENT_NEIGHBOR_CONNECTION: u32 = 5;
/// PEER_GROUP_EVENT_INCOMING_DATA.
pub const PEER_GROUP_EVENT_INCOMING_DATA: u32 = 6;
/// PEER_GROUP_EVENT_MEMBER_CHANGED.
pub const PEER_GROUP_EVENT_MEMBER_CHANGED: u32 = 8;
/// PEER_GROUP_EVENT_CONNECTION_FAILED.
pub const PEER_GROUP_EVENT_CONNECTION_FAILED: u32 = 10;
/// PEER_GROUP_EVENT_CONNECTION_FAILED's reason when a connection attempt ends unanswered.
pub const PEER_E_CONNECTION_FAILED: u32 = 0x8063_0109;
/// PEER_GROUP_EVENT_AUTHENTICATION_FAILED.
pub const PEER_GROUP_EVENT_AUTHENTICATION_FAILED: u32 = 11;
/// PEER_GROUP_STATUS_LISTENING.
pub const PEER_GROUP_STATUS_LISTENING: u32 = 1;
/// PEER_GROUP_STATUS_HAS_CONNECTIONS.
pub const PEER_GROUP_STATUS_HAS_CONNECTIONS: u32 = 2;
/// PEER_RECORD_ADDED.
pub const PEER_RECORD_ADDED: u32 = 1;
/// PEER_RECORD_UPDATED.
pub const PEER_RECORD_UPDATED: u32 = 2;
/// PEER_RECORD_DELETED.
pub const PEER_RECORD_DELETED: u32 = 3;
/// PEER_RECORD_EXPIRED.
pub const PEER_RECORD_EXPIRED: u32 = 4;
/// PEER_MEMBER_CONNECTED.
pub const PEER_MEMBER_CONNECTED: u32 = 1;
/// PEER_MEMBER_DISCONNECTED.
pub const PEER_MEMBER_DISCONNECTED: u32 = 2;
/// PEER_MEMBER_UPDATED.
pub const PEER_MEMBER_UPDATED: u32 = 3;
/// PEER_MEMBER_JOINED.
pub const PEER_MEMBER_JOINED: u32 = 4;
/// PEER_MEMBER_LEFT.
pub const PEER_MEMBER_LEFT: u32 = 5;
/// PEER_GROUP_GMC_AUTHENTICATION.
pub const PEER_GROUP_GMC_AUTHENTICATION: u32 = 1;
/// PEER_GROUP_PASSWORD_AUTHENTICATION.
pub const PEER_GROUP_PASSWORD_AUTHENTICATION: u32 = 2;
/// PEER_GROUP_ROLE_ADMIN {04387127-aa56-450a-8ce5-4f565c6790f4}.
pub const PEER_GROUP_ROLE_ADMIN: GUID = GUID {
    Data1: 0x0438_7127,
    Data2: 0xaa56,
    Data3: 0x450a,
    Data4: [0x8c, 0xe5, 0x4f, 0x56, 0x5c, 0x67, 0x90, 0xf4],
};
/// PEER_GROUP_ROLE_MEMBER {f12dc4c7-0857-4ca0-93fc-b1bb19a3d8c2}.
pub const PEER_GROUP_ROLE_MEMBER: GUID = GUID {
    Data1: 0xf12d_c4c7,
    Data2: 0x0857,
    Data3: 0x4ca0,
    Data4: [0x93, 0xfc, 0xb1, 0xbb, 0x19, 0xa3, 0xd8, 0xc2],
};
/// PEER_GROUP_ROLE_INVITING_MEMBER {4370fd89-dc18-4cfb-8dbf-9853a8a9f905}.
pub const PEER_GROUP_ROLE_INVITING_MEMBER: GUID = GUID {
    Data1: 0x4370_fd89,
    Data2: 0xdc18,
    Data3: 0x4cfb,
    Data4: [0x8d, 0xbf, 0x98, 0x53, 0xa8, 0xa9, 0xf9, 0x05],
};

macro_rules! layout {
    ($t:ty, $s:expr, $a:expr) => {
        const _: () = assert!(size_of::<$t>() == $s);
        const _: () = assert!(align_of::<$t>() == $a);
    };
}

#[cfg(target_pointer_width = "64")]
mod x64 {
    use super::*;

    layout!(GUID, 16, 4);
    layout!(FILETIME, 8, 4);
    layout!(PEER_DATA, 16, 8);
    layout!(PEER_VERSION_DATA, 4, 2);
    layout!(PEER_RECORD, 128, 8);
    layout!(PEER_GROUP_PROPERTIES, 96, 8);
    layout!(PEER_INVITATION_INFO, 136, 8);
    const _: () = assert!(offset_of!(PEER_INVITATION_INFO, ftValidityStart) == 72);
    const _: () = assert!(offset_of!(PEER_INVITATION_INFO, pRoles) == 96);
    const _: () = assert!(offset_of!(PEER_INVITATION_INFO, authScheme) == 128);
    layout!(PEER_EVENT_RECORD_CHANGE_DATA, 40, 4);
    layout!(PEER_GROUP_EVENT_REGISTRATION, 16, 8);
    layout!(PEER_EVENT_MEMBER_CHANGE_DATA, 16, 8);
    layout!(PEER_GROUP_EVENT_DATA, 56, 8);
    const _: () = assert!(offset_of!(PEER_GROUP_EVENT_DATA, union) == 8);
    layout!(PEER_ADDRESS, 32, 4);
    const _: () = assert!(offset_of!(PEER_ADDRESS, sin6) == 4);
    layout!(PEER_MEMBER, 56, 8);
    const _: () = assert!(offset_of!(PEER_MEMBER, pwzIdentity) == 8);
    const _: () = assert!(offset_of!(PEER_MEMBER, pwzAttributes) == 16);
    const _: () = assert!(offset_of!(PEER_MEMBER, ullNodeId) == 24);
    const _: () = assert!(offset_of!(PEER_MEMBER, cAddresses) == 32);
    const _: () = assert!(offset_of!(PEER_MEMBER, pAddresses) == 40);
    const _: () = assert!(offset_of!(PEER_MEMBER, pCredentialInfo) == 48);
    layout!(PEER_CONNECTION_INFO, 64, 8);
    const _: () = assert!(offset_of!(PEER_CONNECTION_INFO, ullConnectionId) == 8);
    const _: () = assert!(offset_of!(PEER_CONNECTION_INFO, ullNodeId) == 16);
    const _: () = assert!(offset_of!(PEER_CONNECTION_INFO, pwzPeerId) == 24);
    const _: () = assert!(offset_of!(PEER_CONNECTION_INFO, address) == 32);
    const _: () = assert!(offset_of!(PEER_RECORD, dwVersion) == 36);
    const _: () = assert!(offset_of!(PEER_RECORD, pwzCreatorId) == 48);
    const _: () = assert!(offset_of!(PEER_RECORD, ftCreation) == 72);
    const _: () = assert!(offset_of!(PEER_RECORD, securityData) == 96);
    const _: () = assert!(offset_of!(PEER_RECORD, data) == 112);
    const _: () = assert!(offset_of!(PEER_GROUP_PROPERTIES, ulMemberDataLifetime) == 56);
    const _: () = assert!(offset_of!(PEER_GROUP_PROPERTIES, pwzGroupPassword) == 72);
    const _: () = assert!(offset_of!(PEER_GROUP_PROPERTIES, groupPasswordRole) == 80);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_guids_match_the_engine_wire_order() {
        use peerdrt_core::group::membership::{ROLE_ADMIN_GUID, ROLE_MEMBER_GUID};
        assert_eq!(PEER_GROUP_ROLE_ADMIN.to_wire(), ROLE_ADMIN_GUID);
        assert_eq!(PEER_GROUP_ROLE_MEMBER.to_wire(), ROLE_MEMBER_GUID);
        assert_eq!(GUID::from_wire(&ROLE_ADMIN_GUID), PEER_GROUP_ROLE_ADMIN);
    }

    #[test]
    fn filetime_splits_into_its_halves() {
        let t = FILETIME::from_u64(0x01d8_1234_5678_9abc);
        assert_eq!((t.dwHighDateTime, t.dwLowDateTime), (0x01d8_1234, 0x5678_9abc));
        assert_eq!(t.to_u64(), 0x01d8_1234_5678_9abc);
    }
}
