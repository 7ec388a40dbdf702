//! The PeerGroup* C API as the group tests call it, through the functions the cdylib exports:
//! the records, group creation, peer names, invitations and enumerations every such test needs.

use std::ffi::c_void;

use peerdrt_shim::ffi::group::*;
use peerdrt_shim::ffi::pnrp::PeerFreeData;
use peerdrt_shim::group::client::utc_now;
use peerdrt_shim::group::hresult::PEER_S_NO_EVENT_DATA;
use peerdrt_shim::group::types::*;

use super::{narrow, wide};

/// FILETIME ticks (100 ns) in a second.
const TICKS_PER_SECOND: u64 = 10_000_000;

/// A PEER_RECORD of `record_type` holding `data`, expiring `seconds` from now; the fields the
/// caller does not give are zero, as an application leaves them.
pub fn record(record_type: GUID, data: &mut [u8], seconds: u64) -> PEER_RECORD {
    PEER_RECORD {
        dwSize: size_of::<PEER_RECORD>() as u32,
        r#type: record_type,
        id: GUID::default(),
        dwVersion: 0,
        dwFlags: 0,
        pwzCreatorId: std::ptr::null_mut(),
        pwzModifiedById: std::ptr::null_mut(),
        pwzAttributes: std::ptr::null_mut(),
        ftCreation: FILETIME::default(),
        ftExpiration: FILETIME::from_u64(utc_now() + seconds * TICKS_PER_SECOND),
        ftLastModified: FILETIME::default(),
        securityData: PEER_DATA { cbData: 0, pbData: std::ptr::null_mut() },
        data: PEER_DATA { cbData: data.len() as u32, pbData: data.as_mut_ptr() },
    }
}

/// PeerGroupStartup at PEER_GROUP_VERSION, which must succeed.
///
/// # Safety
/// Calls the C API.
pub unsafe fn startup() {
    let mut version = PEER_VERSION_DATA::default();
    assert_eq!(unsafe { PeerGroupStartup(PEER_GROUP_VERSION, &mut version) }, 0);
}

/// What PeerGroupCreate is given beyond its classifier.
#[derive(Default)]
pub struct Options<'a> {
    pub friendly_name: Option<&'a str>,
    /// PEER_GROUP_PASSWORD_AUTHENTICATION with this password, granting this role.
    pub password: Option<(&'a str, GUID)>,
}

/// PeerGroupCreate by the default identity with `classifier` and `options`: the group, or the
/// HRESULT it failed with.
///
/// # Safety
/// Calls the C API.
pub unsafe fn create(classifier: &str, options: Options<'_>) -> Result<HGROUP, u32> {
    let mut props: PEER_GROUP_PROPERTIES = unsafe { std::mem::zeroed() };
    props.dwSize = size_of::<PEER_GROUP_PROPERTIES>() as u32;
    let classifier = wide(classifier);
    props.pwzClassifier = classifier.as_ptr() as *mut u16;
    let friendly_name = options.friendly_name.map(wide);
    if let Some(name) = &friendly_name {
        props.pwzFriendlyName = name.as_ptr() as *mut u16;
    }
    let password = options.password.map(|(password, role)| (wide(password), role));
    if let Some((password, role)) = &password {
        props.dwAuthenticationSchemes = PEER_GROUP_PASSWORD_AUTHENTICATION;
        props.pwzGroupPassword = password.as_ptr() as *mut u16;
        props.groupPasswordRole = *role;
    }
    let mut group: HGROUP = std::ptr::null_mut();
    match unsafe { PeerGroupCreate(&props, &mut group) } as u32 {
        0 => Ok(group),
        hr => Err(hr),
    }
}

/// The group's peer name, from PeerGroupGetProperties.
///
/// # Safety
/// `group` is an open group.
pub unsafe fn peer_name(group: HGROUP) -> String {
    let mut got: *mut PEER_GROUP_PROPERTIES = std::ptr::null_mut();
    assert_eq!(unsafe { PeerGroupGetProperties(group, &mut got) }, 0);
    let name = unsafe { narrow((*got).pwzGroupPeerName) };
    PeerFreeData(got as *const c_void);
    name
}

/// PeerGroupCreateInvitation for the identity `invitee`, with the default lifetime and roles,
/// which must succeed: the invitation's text.
///
/// # Safety
/// `group` is an open group.
pub unsafe fn invite(group: HGROUP, invitee: &str) -> String {
    let invitee = wide(invitee);
    let mut invitation: *mut u16 = std::ptr::null_mut();
    let hr = unsafe {
        PeerGroupCreateInvitation(
            group,
            invitee.as_ptr(),
            std::ptr::null(),
            0,
            std::ptr::null(),
            &mut invitation,
        )
    };
    assert_eq!(hr, 0);
    let text = unsafe { narrow(invitation) };
    PeerFreeData(invitation as *const c_void);
    text
}

/// The data of every record of an open group (PeerGroupEnumRecords), as text, sorted.
///
/// # Safety
/// `group` is an open group.
pub unsafe fn all_data(group: HGROUP) -> Vec<String> {
    unsafe {
        let mut records: HPEERENUM = std::ptr::null_mut();
        assert_eq!(PeerGroupEnumRecords(group, std::ptr::null(), &mut records), 0);
        let mut count = 100u32;
        let mut items: *mut *mut c_void = std::ptr::null_mut();
        assert_eq!(PeerGetNextItem(records, &mut count, &mut items), 0);
        let mut out: Vec<String> = (0..count as usize)
            .map(|i| {
                let r = *items.add(i) as *const PEER_RECORD;
                let bytes = std::slice::from_raw_parts((*r).data.pbData, (*r).data.cbData as usize);
                String::from_utf8_lossy(bytes).into_owned()
            })
            .collect();
        PeerFreeData(items as *const c_void);
        assert_eq!(PeerEndEnumeration(records), 0);
        out.sort();
        out
    }
}

/// Every event queued on a registration, until PEER_S_NO_EVENT_DATA: what `read` makes of each
/// from its event type and its union's address (`None`: passed over). Each event's block is
/// freed once `read` returns.
///
/// # Safety
/// `event` is a registration; `read` reads the union as the event type says.
pub unsafe fn drain_events<T>(
    event: HPEEREVENT,
    mut read: impl FnMut(u32, *const u8) -> Option<T>,
) -> Vec<T> {
    let mut out = Vec::new();
    loop {
        let mut data: *mut PEER_GROUP_EVENT_DATA = std::ptr::null_mut();
        let hr = unsafe { PeerGroupGetEventData(event, &mut data) } as u32;
        if hr == PEER_S_NO_EVENT_DATA {
            assert!(data.is_null());
            return out;
        }
        assert_eq!(hr, 0);
        let (event_type, union) =
            unsafe { ((*data).eventType, std::ptr::addr_of!((*data).union) as *const u8) };
        out.extend(read(event_type, union));
        PeerFreeData(data as *const c_void);
    }
}
