//! The IOCTL boundary: every control code — DRT (0x800–0x80A), PNRP (0x810–0x812) and
//! grouping (0x820–0x830) — with truncated, oversized, misaligned, wrong-version and
//! wrong-handle inputs, and output buffers one byte short, gets a defined status and leaves what
//! another open holds exactly as it was; many opens hammering a real `peerdrtd` at once never
//! stop it serving a well-behaved client.
//!
//! The first part drives the platform-neutral [`Device`] in process, the way the kernel glue and
//! the Linux adapter do, with a platform that binds nothing real (no datagram leaves). Each
//! test sets up two opens with the same holdings — an instance, a live registration, a live
//! search, an attachment to a PNRP cloud with a key registered through it, a group with a
//! record, and handles made stale by unregistering, ending, closing and detaching — and attacks
//! from one ("the attacker"), then checks the other ("the victim") with read-only requests.
//! The requests are table-driven from the ABI's lists of codes ([`requests_for`]), and
//! [`every_control_code_the_abi_knows_has_a_boundary_case`] fails when a code has no entry.

#![cfg(unix)]

mod support;

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant as WallClock};

use peerdrt::abi::frame::{MAX_INPUT_LEN, MAX_OUTPUT_CAPACITY};
use peerdrt::abi::group::{self, GroupRequest, GroupResponse, RecordFields, status_of_hresult};
use peerdrt::abi::status::{self, hresult, to_hresult};
use peerdrt::abi::*;
use peerdrt::core::time::Instant;
use peerdrt::engine::*;
use proptest::prelude::*;

// ----- what counts as a defined status ---------------------------------------------------------

/// NTSTATUS values a request to the device may complete with (docs/security.md lists which
/// input gets which).
const DEFINED_STATUSES: [u32; 12] = [
    status::SUCCESS,
    status::INVALID_HANDLE,
    status::INVALID_PARAMETER,
    status::INVALID_DEVICE_REQUEST,
    status::BUFFER_TOO_SMALL,
    status::REVISION_MISMATCH,
    status::INSUFFICIENT_RESOURCES,
    status::INVALID_DEVICE_STATE,
    status::ADDRESS_ALREADY_EXISTS,
    status::ACCESS_DENIED,
    status::UNEXPECTED_IO_ERROR,
    status::OBJECT_NAME_NOT_FOUND,
];

/// DRT HRESULTs the device may complete a request with (as customer NTSTATUS 0xE062xxxx).
const DEFINED_DRT_HRESULTS: [u32; 13] = [
    hresult::DRT_E_INVALID_KEY_SIZE,
    hresult::DRT_E_INVALID_KEY,
    hresult::DRT_E_DUPLICATE_KEY,
    hresult::DRT_E_INVALID_MAX_ENDPOINTS,
    hresult::DRT_E_INVALID_SEARCH_RANGE,
    hresult::DRT_E_FAULTED,
    hresult::DRT_E_CAPABILITY_MISMATCH,
    hresult::DRT_E_INVALID_MAX_ADDRESSES,
    hresult::DRT_E_INVALID_SCOPE,
    hresult::DRT_E_INVALID_SECURITY_MODE,
    hresult::DRT_E_INVALID_SECURITY_PROVIDER,
    hresult::DRT_E_NO_ADDRESSES_AVAILABLE,
    hresult::DRT_E_INVALID_PORT,
];

/// Peer Grouping HRESULTs a GROUP_* request may complete with (as customer NTSTATUS 0xE063xxxx,
/// [`status_of_hresult`]).
const DEFINED_P2P_HRESULTS: [u32; 13] = [
    group::hresult::PEER_E_RECORD_NOT_FOUND,
    group::hresult::PEER_E_MAX_RECORD_SIZE_EXCEEDED,
    group::hresult::PEER_E_INVALID_ATTRIBUTES,
    group::hresult::PEER_E_INVALID_RECORD,
    group::hresult::PEER_E_NOT_AUTHORIZED,
    group::hresult::PEER_E_INVALID_RECORD_EXPIRATION,
    group::hresult::PEER_E_INVALID_CREDENTIAL,
    group::hresult::PEER_E_GROUP_NOT_READY,
    group::hresult::PEER_E_INVALID_GROUP,
    group::hresult::PEER_E_NO_MEMBER_CONNECTIONS,
    group::hresult::PEER_E_INVALID_TIME_PERIOD,
    // GROUP_DELETE of a group a handle has open.
    group::hresult::PEER_E_GROUP_IN_USE,
    // GROUP_GET_CERTIFICATE after a member refused this password joiner.
    group::hresult::PEER_E_CONNECTION_NOT_AUTHENTICATED,
];

fn is_defined(s: u32) -> bool {
    DEFINED_STATUSES.contains(&s)
        || (s & 0xFFFF_0000 == 0xE062_0000 && DEFINED_DRT_HRESULTS.contains(&to_hresult(s)))
        || (s & 0xFFFF_0000 == 0xE063_0000 && DEFINED_P2P_HRESULTS.iter().any(|h| status_of_hresult(*h) == s))
}

/// The completion status of a group request refused for its group handle.
const INVALID_GROUP: u32 = status_of_hresult(group::hresult::PEER_E_INVALID_GROUP);

/// Every control code the ABI lists: DRT, PNRP and grouping.
fn all_codes() -> BTreeSet<u32> {
    ioctl::ALL.iter().chain(&pnrp::ALL).chain(&group::ALL).copied().collect()
}

/// Where the 4-byte request header (ABI version, reserved) starts: group requests carry the
/// caller's UTC in front of it.
fn header_at(code: u32) -> usize {
    if group::ALL.contains(&code) { group::CALL_HEADER_LEN } else { 0 }
}

// ----- the in-process device -------------------------------------------------------------------

/// A platform whose sockets exist only as ids: every bind succeeds, nothing is ever received.
#[derive(Default)]
struct NoNetwork {
    next_id: TransportId,
    /// Counts random draws, so that each is fresh (record IDs must differ).
    draws: u8,
}

impl Platform for NoNetwork {
    fn bind(&mut self, port: u16, _scope: u32, _scope_id: u32) -> Result<Bound, u32> {
        self.next_id += 1;
        let port = if port == 0 { 40_000 + self.next_id as u16 } else { port };
        Ok(Bound { id: self.next_id, port, addresses: vec![Ipv6Addr::LOCALHOST] })
    }
    fn unbind(&mut self, _id: TransportId) {}
    fn random_seed(&mut self) -> [u8; 32] {
        self.draws = self.draws.wrapping_add(1);
        std::array::from_fn(|i| if i % 2 == 0 { self.next_id as u8 } else { self.draws })
    }
    /// The platform's clock reads the tests' UTC.
    fn utc_now(&mut self) -> Option<u64> {
        Some(UTC)
    }
}

/// The PNRP cloud every bench publishes: a standing instance of the device's own open.
const CLOUD: &str = "Global_";
/// 2024-01-01 as a FILETIME: the UTC every group request of the tests carries.
const UTC: u64 = 133_485_408_000_000_000;

/// What one open holds, live and stale.
#[derive(Debug, Clone, Copy)]
struct Holdings {
    open: OpenId,
    instance: Handle,
    registration: Handle,
    search: Handle,
    stale_registration: Handle,
    stale_search: Handle,
    closed_instance: Handle,
    /// Its attachment to [`CLOUD`], and an earlier attachment it detached.
    attachment: Handle,
    stale_attachment: Handle,
    /// A key registered through the attachment: `[tag; 32]`, data `b"pnrp"`.
    attached_registration: Handle,
    /// A group it created (root and member secrets made of `tag`), one record in it, and a
    /// group it closed.
    group: Handle,
    record: [u8; 16],
    closed_group: Handle,
    tag: u8,
}

impl Holdings {
    fn live(&self) -> [Handle; 3] {
        [self.instance, self.registration, self.search]
    }
    fn stale(&self) -> [Handle; 3] {
        [self.stale_registration, self.stale_search, self.closed_instance]
    }
    /// The key its attachment registered.
    fn pnrp_key(&self) -> KeyBytes {
        [self.tag; KEY_LEN]
    }
}

/// What the victim's own read-only requests show (and what a third open finds of its PNRP
/// key); equal before and after an attack.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Snapshot {
    info: InstanceInfo,
    path: (u32, Vec<u8>),
    stale: Vec<u32>,
    /// The cloud's port as seen through the victim's attachment.
    attached_port: u16,
    /// The application data of the victim's PNRP key, as a third open's search finds it.
    pnrp_found: Option<Vec<u8>>,
    /// GET_STATUS, ENUM_RECORDS and GET_RECORD of the victim's group.
    group: Vec<Outcome>,
}

/// How a request completed: a status and its output, or pending (a wait-for-event).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Done(u32, Vec<u8>),
    Pending,
}

impl Outcome {
    fn status(&self) -> Option<u32> {
        match self {
            Self::Done(s, _) => Some(*s),
            Self::Pending => None,
        }
    }
}

struct Bench {
    device: Device,
    platform: NoNetwork,
    now: Instant,
    next_token: WaitToken,
    victim: Holdings,
    attacker: Holdings,
    /// A third open attached to the cloud, which searches for the victim's PNRP key.
    observer: (OpenId, Handle),
}

fn encode(request: &Request<'_>) -> Vec<u8> {
    let mut input = vec![0u8; MAX_INPUT_LEN];
    let len = request.encode(&mut input).unwrap();
    input.truncate(len);
    input
}

fn open_request<'a>(seeds: Endpoints<'a>) -> Request<'a> {
    Request::OpenInstance(OpenInstance {
        version_major: 6,
        version_minor: 101,
        port: 0,
        scope: 1,
        scope_id: 0,
        max_addresses: 4,
        security_mode: 0,
        security: SecurityKind::Null,
        root: None,
        identity: None,
        seeds,
    })
}

fn no_seeds() -> Endpoints<'static> {
    Endpoints::from_encoded(&[]).unwrap()
}

fn search_request(instance: Handle, key: &KeyBytes) -> Request<'_> {
    Request::StartSearch(StartSearch {
        instance,
        key,
        iterative: false,
        allow_current_instance_match: true,
        any_match_in_range: false,
        max_endpoints: 1,
        range: None,
        timeout_ms: 3_600_000,
    })
}

const KEY_A: KeyBytes = [0xA1; KEY_LEN];
const KEY_B: KeyBytes = [0xB2; KEY_LEN];

/// A group request with the tests' UTC.
fn group_call(request: GroupRequest<'_>) -> Request<'_> {
    Request::Group { utc: UTC, request }
}

fn record_fields(data: &[u8]) -> RecordFields<'_> {
    RecordFields {
        record_type: [0x7C; 16],
        expiration: UTC + 3600 * 10_000_000,
        flags: 0,
        attributes: b"",
        data,
    }
}

/// The public group root of the group [`Bench::create_group`] made with `tag` (what
/// PASSWORD_JOIN and DELETE name).
fn group_root_of(tag: u8) -> [u8; 32] {
    peerdrt::core::group::membership::GroupRoot::from_secret(&[tag; 32]).public_key()
}

/// A membership certificate no root signed (JOIN refuses it).
const FORGED_CERTIFICATE: [u8; group::CERTIFICATE_LEN] = [0x5F; group::CERTIFICATE_LEN];

impl Bench {
    fn new() -> Self {
        let mut bench = Self {
            device: Device::new(),
            platform: NoNetwork::default(),
            now: Instant(1),
            next_token: 1,
            victim: placeholder(),
            attacker: placeholder(),
            observer: (OpenId { slot: u16::MAX, generation: u16::MAX }, 0),
        };
        // The device's own open runs the cloud, as peerdrtd's standing instances do.
        let system = bench.device.open(Owner::default()).unwrap();
        let standing = bench.open_instance(system);
        bench.device.publish_cloud(system, standing, CLOUD, 1, 0).unwrap();
        bench.victim = bench.hold(Owner { pid: 100, uid: 1000 }, 0x10);
        bench.attacker = bench.hold(Owner { pid: 200, uid: 1001 }, 0x20);
        let observer = bench.device.open(Owner { pid: 300, uid: 1002 }).unwrap();
        bench.observer = (observer, bench.attach(observer));
        bench
    }

    /// A new open with an instance, a live registration and search, an attachment with a key,
    /// a group with a record, and stale handles of each kind.
    fn hold(&mut self, owner: Owner, tag: u8) -> Holdings {
        let open = self.device.open(owner).unwrap();
        let instance = self.open_instance(open);
        let registration = self.register(open, instance, &KEY_A, b"live");
        let stale_registration = self.register(open, instance, &KEY_B, b"gone");
        self.expect(open, &Request::UnregisterKey { registration: stale_registration }, 0, status::SUCCESS);
        let search = self.start_search(open, instance, &KEY_B);
        let stale_search = self.start_search(open, instance, &KEY_A);
        self.expect(open, &Request::EndSearch { search: stale_search }, 0, status::SUCCESS);
        let closed_instance = self.open_instance(open);
        self.expect(open, &Request::CloseInstance { instance: closed_instance }, 0, status::SUCCESS);
        let stale_attachment = self.attach(open);
        self.expect(open, &Request::DetachCloud { attachment: stale_attachment }, 0, status::SUCCESS);
        let attachment = self.attach(open);
        let attached_registration = self.register(open, attachment, &[tag; KEY_LEN], b"pnrp");
        let group = self.create_group(open, tag);
        let output = self.expect(
            open,
            &group_call(GroupRequest::AddRecord { group, record: record_fields(b"victim's record") }),
            16,
            status::SUCCESS,
        );
        let record = output.try_into().unwrap();
        let closed_group = self.create_group(open, tag + 1);
        self.expect(open, &group_call(GroupRequest::Close { group: closed_group }), 0, status::SUCCESS);
        Holdings {
            open,
            instance,
            registration,
            search,
            stale_registration,
            stale_search,
            closed_instance,
            attachment,
            stale_attachment,
            attached_registration,
            group,
            record,
            closed_group,
            tag,
        }
    }

    fn attach(&mut self, open: OpenId) -> Handle {
        let output = self.expect(open, &Request::AttachCloud { name: CLOUD }, 10, status::SUCCESS);
        match Response::decode(pnrp::ATTACH_CLOUD, &output).unwrap() {
            Response::Instance { instance, .. } => instance,
            other => panic!("{other:?}"),
        }
    }

    /// A group whose root and creator keys are made of `tag`.
    fn create_group(&mut self, open: OpenId, tag: u8) -> Handle {
        let (root, member) = ([tag; 32], [tag ^ 0x80; 32]);
        let create =
            GroupRequest::Create { root_secret: &root, member_secret: &member, lifetime_seconds: 86_400 };
        let output = self.expect(
            open,
            &group_call(create),
            group::output_needed(group::GROUP_CREATE),
            status::SUCCESS,
        );
        match GroupResponse::decode(group::GROUP_CREATE, &output).unwrap() {
            GroupResponse::Opened { group, .. } => group,
            other => panic!("{other:?}"),
        }
    }

    /// IRP_MJ_DEVICE_CONTROL with `input` (wherever it lies in memory) and an output buffer of
    /// `capacity` bytes. A pending wait is cancelled at once, so none accumulate.
    fn raw(&mut self, open: OpenId, code: u32, input: &[u8], capacity: usize) -> Outcome {
        let mut output = vec![0u8; capacity];
        self.raw_into(open, code, input, &mut output)
    }

    fn raw_into(&mut self, open: OpenId, code: u32, input: &[u8], output: &mut [u8]) -> Outcome {
        let token = self.next_token;
        self.next_token += 1;
        let completion =
            self.device.ioctl(self.now, open, Irp { code, input, output, token }, &mut self.platform);
        while self.device.poll_transmit().is_some() {}
        let outcome = match completion {
            Completion::Complete { status, information } => {
                assert!(
                    information <= output.len(),
                    "{information} bytes reported in a {}-byte buffer",
                    output.len()
                );
                Outcome::Done(status, output[..information].to_vec())
            }
            Completion::Pending => {
                assert!(self.device.cancel_wait(open, token));
                Outcome::Pending
            }
        };
        while self.device.poll_wait_completion().is_some() {}
        outcome
    }

    fn call(&mut self, open: OpenId, request: &Request<'_>, capacity: usize) -> Outcome {
        self.raw(open, request.code(), &encode(request), capacity)
    }

    fn expect(&mut self, open: OpenId, request: &Request<'_>, capacity: usize, want: u32) -> Vec<u8> {
        match self.call(open, request, capacity) {
            Outcome::Done(s, output) if s == want => output,
            other => panic!("{request:?}: {other:?}, expected {want:#x}"),
        }
    }

    fn open_instance(&mut self, open: OpenId) -> Handle {
        let output = self.expect(open, &open_request(no_seeds()), 64, status::SUCCESS);
        match Response::decode(ioctl::OPEN_INSTANCE, &output).unwrap() {
            Response::Instance { instance, .. } => instance,
            other => panic!("{other:?}"),
        }
    }

    fn register(&mut self, open: OpenId, instance: Handle, key: &KeyBytes, data: &[u8]) -> Handle {
        let request = Request::RegisterKey { instance, key, app_data: data, credential: None };
        let output = self.expect(open, &request, 8, status::SUCCESS);
        match Response::decode(ioctl::REGISTER_KEY, &output).unwrap() {
            Response::Registration { registration } => registration,
            other => panic!("{other:?}"),
        }
    }

    fn start_search(&mut self, open: OpenId, instance: Handle, key: &KeyBytes) -> Handle {
        let output = self.expect(open, &search_request(instance, key), 8, status::SUCCESS);
        match Response::decode(ioctl::START_SEARCH, &output).unwrap() {
            Response::Search { search } => search,
            other => panic!("{other:?}"),
        }
    }

    fn query(&mut self, h: Holdings) -> InstanceInfo {
        let output =
            self.expect(h.open, &Request::QueryInstance { instance: h.instance }, 64, status::SUCCESS);
        match Response::decode(ioctl::QUERY_INSTANCE, &output).unwrap() {
            Response::InstanceInfo(info) => info,
            other => panic!("{other:?}"),
        }
    }

    /// The victim's view of its own holdings, through read-only requests only.
    fn snapshot(&mut self, h: Holdings) -> Snapshot {
        let info = self.query(h);
        let path = match self.call(h.open, &Request::GetSearchPath { search: h.search }, MAX_PATH_REPLY_LEN) {
            Outcome::Done(s, output) => (s, output),
            Outcome::Pending => unreachable!(),
        };
        let stale = [
            Request::UpdateKey { registration: h.stale_registration, app_data: b"x" },
            Request::GetSearchPath { search: h.stale_search },
            Request::QueryInstance { instance: h.closed_instance },
            Request::DetachCloud { attachment: h.stale_attachment },
            group_call(GroupRequest::GetStatus { group: h.closed_group }),
        ]
        .iter()
        .map(|r| self.call(h.open, r, MAX_PATH_REPLY_LEN).status().unwrap())
        .collect();
        let attached =
            self.expect(h.open, &Request::QueryInstance { instance: h.attachment }, 64, status::SUCCESS);
        let Ok(Response::InstanceInfo(attached)) = Response::decode(ioctl::QUERY_INSTANCE, &attached) else {
            panic!("QUERY_INSTANCE through an attachment")
        };
        let pnrp_found = self.find_in_cloud(&h.pnrp_key());
        let group = [
            group_call(GroupRequest::GetStatus { group: h.group }),
            group_call(GroupRequest::EnumRecords { group: h.group, record_type: None, after: &[0; 16] }),
            group_call(GroupRequest::GetRecord { group: h.group, id: &h.record }),
        ]
        .iter()
        .map(|r| self.call(h.open, r, group::MAX_RECORD_LEN + 2))
        .collect();
        Snapshot { info, path, stale, attached_port: attached.port, pnrp_found, group }
    }

    /// What the observer's exact search through the cloud finds for `key`: its application
    /// data. The search runs to its end on the device's clock, a few milliseconds at most.
    fn find_in_cloud(&mut self, key: &KeyBytes) -> Option<Vec<u8>> {
        let (open, via) = self.observer;
        let mut search = search_request(via, key);
        if let Request::StartSearch(s) = &mut search {
            s.timeout_ms = 1000;
        }
        let output = self.expect(open, &search, 8, status::SUCCESS);
        let Ok(Response::Search { search }) = Response::decode(ioctl::START_SEARCH, &output) else {
            panic!()
        };
        let mut found = None;
        for _ in 0..200 {
            let token = self.next_token;
            self.next_token += 1;
            let mut output = vec![0u8; MAX_EVENT_LEN];
            let irp = Irp {
                code: ioctl::WAIT_EVENT,
                input: &encode(&Request::WaitEvent),
                output: &mut output,
                token,
            };
            let event = match self.device.ioctl(self.now, open, irp, &mut self.platform) {
                Completion::Complete { status: status::SUCCESS, information } => {
                    output[..information].to_vec()
                }
                Completion::Complete { status, .. } => panic!("WAIT_EVENT: {status:#x}"),
                Completion::Pending => {
                    self.now = Instant(self.now.0 + 10);
                    self.device.handle_timeout(self.now);
                    while self.device.poll_transmit().is_some() {}
                    match self.device.poll_wait_completion() {
                        Some(c) => c.output,
                        None => {
                            assert!(self.device.cancel_wait(open, token));
                            while self.device.poll_wait_completion().is_some() {}
                            continue;
                        }
                    }
                }
            };
            match EventRecord::decode(&event) {
                Ok(EventRecord::SearchResult { search: s, key: k, app_data, .. })
                    if s == search && k == key =>
                {
                    found = Some(app_data.to_vec())
                }
                Ok(EventRecord::SearchEnded { search: s, .. }) if s == search => {
                    self.expect(open, &Request::EndSearch { search }, 0, status::SUCCESS);
                    return found;
                }
                _ => {}
            }
        }
        panic!("the observer's search never ended");
    }

    /// Checks the victim is as `before`, and that its live handles still work for it.
    fn victim_intact(&mut self, before: &Snapshot) {
        let v = self.victim;
        assert_eq!(&self.snapshot(v), before, "the victim's holdings changed");
        assert_eq!(before.info.registrations, 1);
        assert_eq!(before.path.0, status::SUCCESS);
        assert_eq!(
            before.stale,
            vec![
                status::INVALID_HANDLE,
                status::INVALID_HANDLE,
                status::INVALID_HANDLE,
                status::INVALID_HANDLE,
                INVALID_GROUP
            ]
        );
        assert_eq!(before.pnrp_found.as_deref(), Some(&b"pnrp"[..]));
        assert!(before.group.iter().all(|o| o.status() == Some(status::SUCCESS)), "{:?}", before.group);
    }

    /// Every well-formed request the attacker can send about its own holdings (one per control
    /// code the ABI lists, in code order), encoded, with its code.
    fn attacker_requests(&self) -> Vec<(u32, Vec<u8>)> {
        requests_for(&self.attacker).iter().map(|r| (r.code(), encode(r))).collect()
    }
}

fn placeholder() -> Holdings {
    let open = OpenId { slot: u16::MAX, generation: u16::MAX };
    Holdings {
        open,
        instance: 0,
        registration: 0,
        search: 0,
        stale_registration: 0,
        stale_search: 0,
        closed_instance: 0,
        attachment: 0,
        stale_attachment: 0,
        attached_registration: 0,
        group: 0,
        record: [0; 16],
        closed_group: 0,
        tag: 0,
    }
}

/// One well-formed request per control code the ABI lists (DRT, PNRP, grouping, in code
/// order), naming `h`'s live handles. A new code needs an entry here:
/// [`every_control_code_the_abi_knows_has_a_boundary_case`] fails until it has one.
fn requests_for(h: &Holdings) -> Vec<Request<'_>> {
    let group = h.group;
    let mut requests = drt_requests_for(h);
    requests.extend([
        Request::AttachCloud { name: CLOUD },
        Request::DetachCloud { attachment: h.attachment },
        Request::EnumClouds,
    ]);
    requests.extend(
        [
            GroupRequest::Create {
                root_secret: &[0x61; 32],
                member_secret: &[0x62; 32],
                lifetime_seconds: 3600,
            },
            GroupRequest::CreateInvitation { group, member: &[0x63; 32], role: 1, lifetime_seconds: 3600 },
            GroupRequest::Join { member_secret: &[0x64; 32], certificate: &FORGED_CERTIFICATE },
            GroupRequest::Connect { group, address: &[0xFD; 16], port: 3587 },
            GroupRequest::Close { group },
            GroupRequest::AddRecord { group, record: record_fields(b"attack") },
            GroupRequest::UpdateRecord { group, id: &h.record, record: record_fields(b"attack again") },
            GroupRequest::DeleteRecord { group, id: &h.record },
            GroupRequest::GetRecord { group, id: &h.record },
            GroupRequest::EnumRecords { group, record_type: Some(&[0x7C; 16]), after: &[0; 16] },
            GroupRequest::GetStatus { group },
            GroupRequest::WatchEvents { group, enabled: true },
            GroupRequest::EnumMembers { group, after: None },
            GroupRequest::EnablePassword { group, verifier: &[0x65; 32], role: 1, lifetime_seconds: 3600 },
            GroupRequest::PasswordJoin {
                member_secret: &[0x66; 32],
                group_root: &[0x67; 32],
                password_seed: &[0x68; 32],
            },
            GroupRequest::GetCertificate { group },
            GroupRequest::Delete { root: &[0x69; 32] },
        ]
        .map(group_call),
    );
    requests
}

/// One well-formed request per DRT control code, naming `h`'s live handles.
fn drt_requests_for(h: &Holdings) -> Vec<Request<'static>> {
    let h = *h;
    vec![
        open_request(no_seeds()),
        Request::CloseInstance { instance: h.instance },
        Request::RegisterKey {
            instance: h.instance,
            key: &[0xC3; KEY_LEN],
            app_data: b"data",
            credential: None,
        },
        Request::UpdateKey { registration: h.registration, app_data: b"new data" },
        Request::UnregisterKey { registration: h.registration },
        search_request(h.instance, &[0xD4; KEY_LEN]),
        Request::ContinueSearch { search: h.search },
        Request::EndSearch { search: h.search },
        Request::GetSearchPath { search: h.search },
        Request::WaitEvent,
        Request::QueryInstance { instance: h.instance },
    ]
}

// ----- truncated, oversized, misaligned, wrong version --------------------------------------------

#[test]
fn every_request_cut_short_at_any_length_is_an_invalid_parameter() {
    let mut b = Bench::new();
    let before = b.snapshot(b.victim);
    let bad_before = b.device.stats().bad_requests;
    let mut tried = 0;
    for (code, input) in b.attacker_requests() {
        assert_eq!(Request::decode(code, &input).map(|r| r.code()), Ok(code));
        for len in 0..input.len() {
            let outcome = b.raw(b.attacker.open, code, &input[..len], MAX_EVENT_LEN);
            assert_eq!(
                outcome,
                Outcome::Done(status::INVALID_PARAMETER, vec![]),
                "code {code:#x}, {len} bytes"
            );
        }
        tried += 1;
    }
    assert_eq!(tried, all_codes().len());
    let cut: u64 = b.attacker_requests().iter().map(|(_, i)| i.len() as u64).sum();
    assert_eq!(b.device.stats().bad_requests - bad_before, cut, "every refusal is counted");
    b.victim_intact(&before);
}

#[test]
fn a_byte_past_the_end_or_an_input_over_the_frame_limit_is_an_invalid_parameter() {
    let mut b = Bench::new();
    let before = b.snapshot(b.victim);
    for (code, input) in b.attacker_requests() {
        for extra in [0x00, 0x01, 0xFF] {
            let mut long = input.clone();
            long.push(extra);
            assert_eq!(
                b.raw(b.attacker.open, code, &long, MAX_EVENT_LEN),
                Outcome::Done(status::INVALID_PARAMETER, vec![]),
                "code {code:#x} + {extra:#x}"
            );
        }
        // The largest input a frame may carry, and one byte more (the engine itself has no
        // frame limit: whatever follows the last field is refused).
        for len in [MAX_INPUT_LEN, MAX_INPUT_LEN + 1] {
            let mut huge = input.clone();
            huge.resize(len, 0xEE);
            assert_eq!(
                b.raw(b.attacker.open, code, &huge, MAX_EVENT_LEN),
                Outcome::Done(status::INVALID_PARAMETER, vec![])
            );
        }
    }
    b.victim_intact(&before);
}

#[test]
fn length_and_count_fields_hold_at_their_limit_and_are_refused_one_past_it() {
    let mut b = Bench::new();
    let before = b.snapshot(b.victim);
    let a = b.attacker;
    // Application data: MAX_APP_DATA bytes register; one more is refused by the decoder.
    let at_limit = vec![0x11; MAX_APP_DATA];
    b.register(a.open, a.instance, &[0x12; KEY_LEN], &at_limit);
    let mut over = encode(&Request::RegisterKey {
        instance: a.instance,
        key: &[0x13; KEY_LEN],
        app_data: &at_limit,
        credential: None,
    });
    // The blob's length field follows the header (4), the handle (8) and the key (32).
    over[44..46].copy_from_slice(&(MAX_APP_DATA as u16 + 1).to_le_bytes());
    over.splice(46..46, [0x11]);
    assert_eq!(
        b.raw(a.open, ioctl::REGISTER_KEY, &over, 8),
        Outcome::Done(status::INVALID_PARAMETER, vec![])
    );
    let mut update = encode(&Request::UpdateKey { registration: a.registration, app_data: &at_limit });
    b.expect(
        a.open,
        &Request::UpdateKey { registration: a.registration, app_data: &at_limit },
        0,
        status::SUCCESS,
    );
    update[12..14].copy_from_slice(&(MAX_APP_DATA as u16 + 1).to_le_bytes());
    update.push(0x11);
    assert_eq!(
        b.raw(a.open, ioctl::UPDATE_KEY, &update, 0),
        Outcome::Done(status::INVALID_PARAMETER, vec![])
    );
    // Seeds: MAX_SEEDS are accepted, one more is refused.
    let records: Vec<EndpointRecord> = (0..=MAX_SEEDS as u16)
        .map(|i| EndpointRecord {
            addr: Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped().octets(),
            port: 3540 + i,
        })
        .collect();
    let mut buf = vec![0u8; (MAX_SEEDS + 1) * ENDPOINT_LEN];
    let seeds = encode_endpoints(&records[..MAX_SEEDS], &mut buf).unwrap();
    b.expect(a.open, &open_request(seeds), 64, status::SUCCESS);
    let mut too_many = encode(&open_request(seeds));
    let count_at = too_many.len() - MAX_SEEDS * ENDPOINT_LEN - 2;
    too_many[count_at..count_at + 2].copy_from_slice(&(MAX_SEEDS as u16 + 1).to_le_bytes());
    too_many.extend_from_slice(&[0; ENDPOINT_LEN]);
    assert_eq!(
        b.raw(a.open, ioctl::OPEN_INSTANCE, &too_many, 64),
        Outcome::Done(status::INVALID_PARAMETER, vec![])
    );
    // Flags and enumerations outside their values.
    let mut search = encode(&search_request(a.instance, &KEY_A));
    search[44] = 0x10;
    assert_eq!(
        b.raw(a.open, ioctl::START_SEARCH, &search, 8),
        Outcome::Done(status::INVALID_PARAMETER, vec![])
    );
    let mut open = encode(&open_request(no_seeds()));
    open[24] = 2; // the security provider kind
    assert_eq!(
        b.raw(a.open, ioctl::OPEN_INSTANCE, &open, 64),
        Outcome::Done(status::INVALID_PARAMETER, vec![])
    );
    let mut open = encode(&open_request(no_seeds()));
    open[25] = 2; // the "root key follows" flag
    assert_eq!(
        b.raw(a.open, ioctl::OPEN_INSTANCE, &open, 64),
        Outcome::Done(status::INVALID_PARAMETER, vec![])
    );
    // Search timeouts over MAX_SEARCH_TIMEOUT are clamped, not refused.
    let mut long = encode(&search_request(a.instance, &KEY_A));
    let at = long.len() - 4;
    long[at..].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(b.raw(a.open, ioctl::START_SEARCH, &long, 8).status(), Some(status::SUCCESS));
    b.victim_intact(&before);
}

#[test]
fn misaligned_input_and_output_buffers_behave_exactly_as_aligned_ones() {
    let mut b = Bench::new();
    let before = b.snapshot(b.victim);
    let a = b.attacker;
    for (code, input) in b.attacker_requests() {
        for offset in 1..8 {
            let mut shifted = vec![0xAAu8; offset + input.len() + 8];
            shifted[offset..offset + input.len()].copy_from_slice(&input);
            let slice = &shifted[offset..offset + input.len()];
            assert_eq!(
                Request::decode(code, slice),
                Request::decode(code, &input),
                "code {code:#x} at +{offset}"
            );
        }
    }
    // Through the device: read-only requests give the same bytes from odd input and output
    // addresses as from aligned ones.
    for request in [
        Request::QueryInstance { instance: a.instance },
        Request::GetSearchPath { search: a.search },
        Request::QueryInstance { instance: a.attachment },
        Request::EnumClouds,
        group_call(GroupRequest::GetStatus { group: a.group }),
        group_call(GroupRequest::EnumRecords { group: a.group, record_type: None, after: &[0; 16] }),
        group_call(GroupRequest::GetRecord { group: a.group, id: &a.record }),
    ] {
        let input = encode(&request);
        let aligned = b.call(a.open, &request, MAX_PATH_REPLY_LEN);
        assert_eq!(aligned.status(), Some(status::SUCCESS), "{request:?}");
        for offset in [1, 3, 5, 7] {
            let mut shifted = vec![0u8; offset + input.len()];
            shifted[offset..].copy_from_slice(&input);
            let mut out = vec![0u8; offset + MAX_PATH_REPLY_LEN];
            let outcome = b.raw_into(a.open, request.code(), &shifted[offset..], &mut out[offset..]);
            assert_eq!(outcome, aligned, "{request:?} at +{offset}");
        }
    }
    // And a registration from an odd address works like any other.
    let key = [0x5D; KEY_LEN];
    let input =
        encode(&Request::RegisterKey { instance: a.instance, key: &key, app_data: b"odd", credential: None });
    let mut shifted = vec![0u8; 3 + input.len()];
    shifted[3..].copy_from_slice(&input);
    assert_eq!(b.raw(a.open, ioctl::REGISTER_KEY, &shifted[3..], 8).status(), Some(status::SUCCESS));
    // So does a group record (its UTC and every field at odd addresses).
    let input =
        encode(&group_call(GroupRequest::AddRecord { group: a.group, record: record_fields(b"odd") }));
    let mut shifted = vec![0u8; 5 + input.len()];
    shifted[5..].copy_from_slice(&input);
    let mut out = [0u8; 21];
    assert_eq!(
        b.raw_into(a.open, group::GROUP_ADD_RECORD, &shifted[5..], &mut out[5..]).status(),
        Some(status::SUCCESS)
    );
    b.victim_intact(&before);
}

#[test]
fn a_wrong_abi_version_is_a_revision_mismatch_for_every_control_code() {
    let mut b = Bench::new();
    let before = b.snapshot(b.victim);
    for (code, mut input) in b.attacker_requests() {
        // Group requests carry the caller's UTC in front of the header.
        let at = header_at(code);
        for version in [0u16, ABI_VERSION + 1, ABI_VERSION.swap_bytes(), u16::MAX] {
            input[at..at + 2].copy_from_slice(&version.to_le_bytes());
            assert_eq!(
                b.raw(b.attacker.open, code, &input, MAX_EVENT_LEN),
                Outcome::Done(status::REVISION_MISMATCH, vec![]),
                "code {code:#x}, version {version}"
            );
        }
        // The right version with the reserved half-word set.
        input[at..at + 2].copy_from_slice(&ABI_VERSION.to_le_bytes());
        input[at + 2] = 1;
        assert_eq!(
            b.raw(b.attacker.open, code, &input, MAX_EVENT_LEN),
            Outcome::Done(status::INVALID_PARAMETER, vec![]),
            "code {code:#x}, reserved bits"
        );
    }
    // Codes that are not this device's: another function, method, access or device type.
    let query = encode(&Request::QueryInstance { instance: b.attacker.instance });
    for code in [
        0,
        u32::MAX,
        ioctl::QUERY_INSTANCE + (0x7F0 << 2),
        ioctl::QUERY_INSTANCE | 3, // METHOD_NEITHER
        ioctl::QUERY_INSTANCE ^ (FILE_WRITE_ACCESS << 14),
        (ioctl::QUERY_INSTANCE & 0xFFFF) | (0x22 << 16),
    ] {
        assert_eq!(
            b.raw(b.attacker.open, code, &query, 64),
            Outcome::Done(status::INVALID_DEVICE_REQUEST, vec![]),
            "code {code:#x}"
        );
    }
    b.victim_intact(&before);
}

// ----- handles ---------------------------------------------------------------------------------

/// Every request that names a handle, with `handle` in its place (and what kind it must be).
fn with_handle(handle: Handle) -> Vec<Request<'static>> {
    vec![
        Request::CloseInstance { instance: handle },
        Request::RegisterKey { instance: handle, key: &[0xE5; KEY_LEN], app_data: b"x", credential: None },
        Request::UpdateKey { registration: handle, app_data: b"x" },
        Request::UnregisterKey { registration: handle },
        search_request(handle, &[0xE6; KEY_LEN]),
        Request::ContinueSearch { search: handle },
        Request::EndSearch { search: handle },
        Request::GetSearchPath { search: handle },
        Request::QueryInstance { instance: handle },
    ]
}

/// The handle kind a request expects: instance, registration or search.
fn expected_kind(request: &Request<'_>) -> usize {
    match request {
        Request::CloseInstance { .. }
        | Request::RegisterKey { .. }
        | Request::StartSearch(_)
        | Request::QueryInstance { .. } => 0,
        Request::UpdateKey { .. } | Request::UnregisterKey { .. } => 1,
        _ => 2,
    }
}

#[test]
fn another_opens_a_stale_a_wrong_kind_or_a_garbage_handle_is_an_invalid_handle() {
    let mut b = Bench::new();
    let before = b.snapshot(b.victim);
    let (a, v) = (b.attacker, b.victim);
    // An open that closed, and the open that reused its slot (next generation): handles of
    // the first never resolve on the second.
    let gone = b.hold(Owner { pid: 300, uid: 1002 }, 0x30);
    b.device.close(b.now, gone.open, &mut b.platform);
    let reused = b.device.open(Owner { pid: 301, uid: 1002 }).unwrap();
    assert_eq!((reused.slot, reused.generation), (gone.open.slot, gone.open.generation.wrapping_add(1)));
    let garbage = [0, 1, u64::MAX, 0x0000_0001_1000_0001, a.instance ^ 1 << 40, a.registration + 0x10000];
    let mut refused = 0;
    for kind in 0..3 {
        let mut handles: Vec<Handle> = vec![v.live()[kind], a.stale()[(kind + 2) % 3], gone.live()[kind]];
        // The attacker's own handles of the two other kinds.
        handles.extend((0..3).filter(|k| *k != kind).map(|k| a.live()[k]));
        handles.extend(garbage);
        for handle in handles {
            for request in with_handle(handle).iter().filter(|r| expected_kind(r) == kind) {
                for open in [a.open, reused] {
                    let outcome = b.call(open, request, MAX_PATH_REPLY_LEN);
                    assert_eq!(
                        outcome,
                        Outcome::Done(status::INVALID_HANDLE, vec![]),
                        "{request:?} from {open:?}"
                    );
                    refused += 1;
                }
            }
        }
    }
    assert!(refused > 100, "{refused}");
    // The handles of a closed open are dead for everyone, the closed open itself included.
    assert_eq!(
        b.call(gone.open, &Request::QueryInstance { instance: gone.instance }, 64).status(),
        Some(status::INVALID_HANDLE)
    );
    b.victim_intact(&before);
    // The attacker's own live handles still work: nothing it tried touched them either.
    assert_eq!(b.query(a).registrations, 1);
    b.expect(
        a.open,
        &Request::UpdateKey { registration: a.registration, app_data: b"mine" },
        0,
        status::SUCCESS,
    );
}

#[test]
fn a_handle_freed_and_its_slot_reused_by_a_new_object_stays_dead() {
    let mut b = Bench::new();
    let a = b.attacker;
    let old = b.register(a.open, a.instance, &[0x76; KEY_LEN], b"old");
    b.expect(a.open, &Request::UnregisterKey { registration: old }, 0, status::SUCCESS);
    // The next registration takes the freed slot, under the next generation.
    let fresh = b.register(a.open, a.instance, &[0x77; KEY_LEN], b"fresh");
    assert_eq!(fresh >> 16, old >> 16, "the same open, kind and slot");
    assert_ne!(fresh, old);
    let update = |registration| Request::UpdateKey { registration, app_data: b"y" };
    assert_eq!(b.call(a.open, &update(old), 0).status(), Some(status::INVALID_HANDLE));
    assert_eq!(b.call(a.open, &update(fresh), 0).status(), Some(status::SUCCESS));
}

/// Every group request that names a group, with `group` in its place.
fn with_group(group: Handle) -> Vec<Request<'static>> {
    const ID: [u8; 16] = [0x44; 16];
    [
        GroupRequest::CreateInvitation { group, member: &[0x63; 32], role: 2, lifetime_seconds: 60 },
        GroupRequest::Connect { group, address: &[0xFD; 16], port: 3587 },
        GroupRequest::Close { group },
        GroupRequest::AddRecord { group, record: record_fields(b"x") },
        GroupRequest::UpdateRecord { group, id: &ID, record: record_fields(b"x") },
        GroupRequest::DeleteRecord { group, id: &ID },
        GroupRequest::GetRecord { group, id: &ID },
        GroupRequest::EnumRecords { group, record_type: None, after: &[0; 16] },
        GroupRequest::GetStatus { group },
        GroupRequest::WatchEvents { group, enabled: true },
        GroupRequest::EnumMembers { group, after: Some(&[0x45; 32]) },
        GroupRequest::EnablePassword { group, verifier: &[0x65; 32], role: 1, lifetime_seconds: 60 },
        GroupRequest::GetCertificate { group },
    ]
    .map(group_call)
    .to_vec()
}

#[test]
fn every_control_code_the_abi_knows_has_a_boundary_case() {
    let b = Bench::new();
    let covered: Vec<u32> = b.attacker_requests().iter().map(|(code, _)| *code).collect();
    assert_eq!(covered.iter().copied().collect::<BTreeSet<_>>(), all_codes(), "one request per listed code");
    assert_eq!(covered.len(), all_codes().len(), "and only one");
    assert_eq!(all_codes().len(), ioctl::ALL.len() + pnrp::ALL.len() + group::ALL.len(), "the lists overlap");
    // The decoder knows no code outside the lists: every function under every method and access
    // of the device type, and the listed functions under every other device type.
    for function in 0..0x1000 {
        for method in 0..4 {
            for access in 0..4 {
                let code = ctl_code(FILE_DEVICE_NETWORK, function, method, access);
                let known = Request::decode(code, &[]) != Err(AbiError::UnknownCode);
                assert_eq!(known, all_codes().contains(&code), "code {code:#x}");
            }
        }
    }
    for code in all_codes() {
        for device_type in [0, 0x22, 0x12 ^ 0x8000, 0xFFFF] {
            let other = (code & 0xFFFF) | (device_type << 16);
            assert_eq!(Request::decode(other, &[]), Err(AbiError::UnknownCode), "code {other:#x}");
        }
    }
}

#[test]
fn another_opens_a_detached_or_a_wrong_kind_of_attachment_is_an_invalid_handle() {
    let mut b = Bench::new();
    let before = b.snapshot(b.victim);
    let (a, v) = (b.attacker, b.victim);
    let garbage = [0, 1, u64::MAX, v.attachment ^ 1, a.attachment ^ 1 << 40, a.attachment + 0x10000];
    // Where an attachment stands for an instance: the victim's, the detached one, garbage.
    for via in [v.attachment, a.stale_attachment].into_iter().chain(garbage) {
        for request in [
            Request::RegisterKey { instance: via, key: &[0x31; KEY_LEN], app_data: b"x", credential: None },
            search_request(via, &v.pnrp_key()),
            Request::QueryInstance { instance: via },
            Request::DetachCloud { attachment: via },
        ] {
            assert_eq!(
                b.call(a.open, &request, 64),
                Outcome::Done(status::INVALID_HANDLE, vec![]),
                "{request:?}"
            );
        }
    }
    // DETACH_CLOUD takes attachments only: the attacker's own instance, registrations and
    // search are refused, and CLOSE_INSTANCE refuses an attachment.
    for handle in [a.instance, a.registration, a.search, a.attached_registration, a.group] {
        let request = Request::DetachCloud { attachment: handle };
        assert_eq!(b.call(a.open, &request, 0), Outcome::Done(status::INVALID_HANDLE, vec![]), "{handle:#x}");
    }
    let close = Request::CloseInstance { instance: a.attachment };
    assert_eq!(b.call(a.open, &close, 0), Outcome::Done(status::INVALID_HANDLE, vec![]));
    // The victim's key registered through its attachment: neither updated nor unregistered.
    for request in [
        Request::UpdateKey { registration: v.attached_registration, app_data: b"hijacked" },
        Request::UnregisterKey { registration: v.attached_registration },
    ] {
        assert_eq!(b.call(a.open, &request, 0), Outcome::Done(status::INVALID_HANDLE, vec![]), "{request:?}");
    }
    // An unknown cloud, and a second attachment to the same cloud.
    assert_eq!(
        b.call(a.open, &Request::AttachCloud { name: "LinkLocal_nowhere" }, 10),
        Outcome::Done(status::OBJECT_NAME_NOT_FOUND, vec![])
    );
    assert_eq!(
        b.call(a.open, &Request::AttachCloud { name: CLOUD }, 10),
        Outcome::Done(status::ADDRESS_ALREADY_EXISTS, vec![])
    );
    b.victim_intact(&before);
    // The attacker's own attachment still works.
    b.expect(
        a.open,
        &Request::UpdateKey { registration: a.attached_registration, app_data: b"mine" },
        0,
        status::SUCCESS,
    );
}

#[test]
fn another_opens_a_closed_a_wrong_kind_or_a_garbage_group_is_an_invalid_group() {
    let mut b = Bench::new();
    let before = b.snapshot(b.victim);
    let (a, v) = (b.attacker, b.victim);
    let gone = b.hold(Owner { pid: 400, uid: 1003 }, 0x40);
    b.device.close(b.now, gone.open, &mut b.platform);
    let groups = [
        v.group,
        a.closed_group,
        gone.group,
        a.instance,
        a.attachment,
        a.registration,
        0,
        1,
        u64::MAX,
        v.group ^ 1,
        a.group.wrapping_add(1),
        a.group ^ 1 << 16,
    ];
    let mut refused = 0;
    for group in groups {
        for request in with_group(group) {
            let capacity = group::MAX_RECORD_LEN + 2;
            assert_eq!(
                b.call(a.open, &request, capacity),
                Outcome::Done(INVALID_GROUP, vec![]),
                "{request:?}"
            );
            refused += 1;
        }
    }
    assert_eq!(refused, groups.len() * 13);
    // The attacker's own group does not reach the victim's record by its ID.
    for request in [
        GroupRequest::GetRecord { group: a.group, id: &v.record },
        GroupRequest::DeleteRecord { group: a.group, id: &v.record },
        GroupRequest::UpdateRecord { group: a.group, id: &v.record, record: record_fields(b"hijacked") },
    ] {
        let not_found = status_of_hresult(group::hresult::PEER_E_RECORD_NOT_FOUND);
        assert_eq!(
            b.call(a.open, &group_call(request), 1024),
            Outcome::Done(not_found, vec![]),
            "{request:?}"
        );
    }
    // A membership certificate nobody signed opens nothing.
    let join = GroupRequest::Join { member_secret: &[0x64; 32], certificate: &FORGED_CERTIFICATE };
    let forged = status_of_hresult(group::hresult::PEER_E_INVALID_CREDENTIAL);
    assert_eq!(b.call(a.open, &group_call(join), 1024), Outcome::Done(forged, vec![]));
    // The victim's group, open, cannot be deleted by its root; a password join naming that root
    // is a member of the attacker's own, waiting for a grant it never gets.
    let victims_root = group_root_of(v.tag);
    let in_use = status_of_hresult(group::hresult::PEER_E_GROUP_IN_USE);
    let delete = GroupRequest::Delete { root: &victims_root };
    assert_eq!(b.call(a.open, &group_call(delete), 0), Outcome::Done(in_use, vec![]));
    let join = GroupRequest::PasswordJoin {
        member_secret: &[0x66; 32],
        group_root: &victims_root,
        password_seed: &[7; 32],
    };
    let output = b.expect(
        a.open,
        &group_call(join),
        group::output_needed(group::GROUP_PASSWORD_JOIN),
        status::SUCCESS,
    );
    let Ok(GroupResponse::Opened { group: joiner, .. }) =
        GroupResponse::decode(group::GROUP_PASSWORD_JOIN, &output)
    else {
        panic!("PASSWORD_JOIN: {output:?}")
    };
    let pending = status_of_hresult(group::hresult::PEER_E_GROUP_NOT_READY);
    let certificate = group_call(GroupRequest::GetCertificate { group: joiner });
    assert_eq!(b.call(a.open, &certificate, group::CERTIFICATE_LEN), Outcome::Done(pending, vec![]));
    b.victim_intact(&before);
}

/// Every group request carries its caller's UTC; the device's peer clock, which all groups'
/// timers run on, follows the platform's clock instead (`Platform::utc_now`), so an attacker
/// claiming a time far ahead (or the epoch) cannot expire the victim's records.
#[test]
fn a_callers_utc_does_not_move_another_opens_group_clock() {
    // An attacker claiming a time centuries ahead (or the epoch) must not expire the victim's
    // records or otherwise change its group.
    let mut b = Bench::new();
    let before = b.snapshot(b.victim);
    let a = b.attacker;
    for utc in [u64::MAX, UTC + 100 * 365 * 86_400 * 10_000_000, 0] {
        for request in requests_for(&a).into_iter().filter(|r| matches!(r, Request::Group { .. })) {
            let Request::Group { request, .. } = request else { unreachable!() };
            let _ = b.call(a.open, &Request::Group { utc, request }, 1024);
        }
        // Timers run on the device's clock after the attacker's requests.
        b.now = Instant(b.now.0 + 1000);
        b.device.handle_timeout(b.now);
        while b.device.poll_transmit().is_some() {}
    }
    b.victim_intact(&before);
}

// ----- field limits of the PNRP and group requests ------------------------------------------------

#[test]
fn cloud_names_and_record_fields_hold_at_their_limit_and_are_refused_one_past_it() {
    let mut b = Bench::new();
    let before = b.snapshot(b.victim);
    let a = b.attacker;
    // A cloud name of MAX_CLOUD_NAME_LEN bytes decodes (no such cloud); one more is refused.
    let name = "n".repeat(pnrp::MAX_CLOUD_NAME_LEN);
    assert_eq!(
        b.call(a.open, &Request::AttachCloud { name: &name }, 10),
        Outcome::Done(status::OBJECT_NAME_NOT_FOUND, vec![])
    );
    let mut long = encode(&Request::AttachCloud { name: &name });
    long[4..6].copy_from_slice(&(pnrp::MAX_CLOUD_NAME_LEN as u16 + 1).to_le_bytes());
    long.push(b'n');
    assert_eq!(
        b.raw(a.open, pnrp::ATTACH_CLOUD, &long, 10),
        Outcome::Done(status::INVALID_PARAMETER, vec![])
    );
    // An empty name, and one that is not UTF-8.
    assert_eq!(
        b.raw(a.open, pnrp::ATTACH_CLOUD, &[1, 0, 0, 0, 0, 0], 10),
        Outcome::Done(status::INVALID_PARAMETER, vec![])
    );
    assert_eq!(
        b.raw(a.open, pnrp::ATTACH_CLOUD, &[1, 0, 0, 0, 1, 0, 0xFF], 10),
        Outcome::Done(status::INVALID_PARAMETER, vec![])
    );

    // Record data: MAX_DATA_LEN bytes (the core's record size limit) are stored; one more byte
    // of data is refused by the decoder, and data plus attributes over the limit by the group.
    let data = vec![0x2D; group::MAX_DATA_LEN];
    let add = |data| group_call(GroupRequest::AddRecord { group: a.group, record: record_fields(data) });
    assert_eq!(b.call(a.open, &add(&data), 16).status(), Some(status::SUCCESS));
    let mut over = encode(&add(&data));
    // UTC (8), header (4), group (8), type (16), expiration (8), flags (4), attributes (2 + 0).
    let data_len_at = 8 + 4 + 8 + 16 + 8 + 4 + 2;
    over[data_len_at..data_len_at + 2].copy_from_slice(&(group::MAX_DATA_LEN as u16 + 1).to_le_bytes());
    over.push(0x2D);
    assert_eq!(
        b.raw(a.open, group::GROUP_ADD_RECORD, &over, 16),
        Outcome::Done(status::INVALID_PARAMETER, vec![])
    );
    let with_attributes = GroupRequest::AddRecord {
        group: a.group,
        record: RecordFields { attributes: b"<attributes/>", ..record_fields(&data) },
    };
    let too_large = status_of_hresult(group::hresult::PEER_E_MAX_RECORD_SIZE_EXCEEDED);
    assert_eq!(b.call(a.open, &group_call(with_attributes), 16), Outcome::Done(too_large, vec![]));
    // Attributes: the ABI carries MAX_ATTRIBUTES_LEN bytes; the group refuses what is not UTF-8.
    let attributes = vec![0xFF; group::MAX_ATTRIBUTES_LEN];
    let bad = GroupRequest::AddRecord {
        group: a.group,
        record: RecordFields { attributes: &attributes, ..record_fields(b"") },
    };
    let invalid_attributes = status_of_hresult(group::hresult::PEER_E_INVALID_ATTRIBUTES);
    assert_eq!(b.call(a.open, &group_call(bad), 16), Outcome::Done(invalid_attributes, vec![]));
    let mut over = encode(&group_call(bad));
    let attributes_len_at = data_len_at - 2;
    over[attributes_len_at..attributes_len_at + 2]
        .copy_from_slice(&(group::MAX_ATTRIBUTES_LEN as u16 + 1).to_le_bytes());
    over.insert(attributes_len_at + 2, 0xFF);
    assert_eq!(
        b.raw(a.open, group::GROUP_ADD_RECORD, &over, 16),
        Outcome::Done(status::INVALID_PARAMETER, vec![])
    );
    // A role other than member (1) or administrator (2), a flag byte other than 0 or 1.
    let mut invite = encode(&group_call(GroupRequest::CreateInvitation {
        group: a.group,
        member: &[0x63; 32],
        role: 1,
        lifetime_seconds: 60,
    }));
    for role in [0, 3, 0xFF] {
        invite[8 + 4 + 8 + 32] = role;
        assert_eq!(
            b.raw(a.open, group::GROUP_CREATE_INVITATION, &invite, group::CERTIFICATE_LEN),
            Outcome::Done(status::INVALID_PARAMETER, vec![])
        );
    }
    let mut page =
        encode(&group_call(GroupRequest::EnumRecords { group: a.group, record_type: None, after: &[0; 16] }));
    page[8 + 4 + 8] = 2;
    assert_eq!(
        b.raw(a.open, group::GROUP_ENUM_RECORDS, &page, 4096),
        Outcome::Done(status::INVALID_PARAMETER, vec![])
    );
    // A group input cut inside its UTC.
    for len in 0..group::CALL_HEADER_LEN {
        assert_eq!(
            b.raw(a.open, group::GROUP_GET_STATUS, &[0; 8][..len], 64),
            Outcome::Done(status::INVALID_PARAMETER, vec![])
        );
    }
    b.victim_intact(&before);
}

#[test]
fn an_open_holds_one_attachment_per_cloud_and_the_device_at_most_max_clouds() {
    let mut b = Bench::new();
    let before = b.snapshot(b.victim);
    let a = b.attacker;
    // Fill the device's cloud table from the system side: MAX_CLOUDS in all (CLOUD is one).
    let system = b.device.open(Owner::default()).unwrap();
    let names: Vec<String> = (1..=MAX_CLOUDS).map(|i| format!("LinkLocal_if{i}")).collect();
    for name in &names[..MAX_CLOUDS - 1] {
        let standing = b.open_instance(system);
        assert_eq!(b.device.publish_cloud(system, standing, name, 3, 1), Ok(()));
    }
    let one_more = b.open_instance(system);
    assert_eq!(
        b.device.publish_cloud(system, one_more, &names[MAX_CLOUDS - 1], 3, 1),
        Err(status::INSUFFICIENT_RESOURCES)
    );
    // The attacker attaches to each cloud once: MAX_ATTACHMENTS_PER_OPEN in all.
    let mut attached = 1;
    for name in &names[..MAX_CLOUDS - 1] {
        b.expect(a.open, &Request::AttachCloud { name }, 10, status::SUCCESS);
        attached += 1;
    }
    assert_eq!(attached, MAX_ATTACHMENTS_PER_OPEN);
    // With one attachment per cloud, the per-open bound is reached exactly when every cloud
    // is attached: a further ATTACH_CLOUD names a cloud already attached (or none).
    for name in names[..MAX_CLOUDS - 1].iter().map(String::as_str).chain([CLOUD]) {
        assert_eq!(
            b.call(a.open, &Request::AttachCloud { name }, 10),
            Outcome::Done(status::ADDRESS_ALREADY_EXISTS, vec![])
        );
    }
    let Outcome::Done(status::SUCCESS, full) =
        b.call(a.open, &Request::EnumClouds, pnrp::MAX_CLOUDS_REPLY_LEN)
    else {
        panic!()
    };
    let Ok(Response::Clouds(list)) = Response::decode(pnrp::ENUM_CLOUDS, &full) else { panic!() };
    assert_eq!(list.len(), MAX_CLOUDS);
    assert_eq!(
        b.call(a.open, &Request::EnumClouds, full.len() - 1),
        Outcome::Done(status::BUFFER_TOO_SMALL, vec![])
    );
    // Detaching frees the place for that cloud again.
    b.expect(a.open, &Request::DetachCloud { attachment: a.attachment }, 0, status::SUCCESS);
    assert_eq!(b.call(a.open, &Request::AttachCloud { name: CLOUD }, 10).status(), Some(status::SUCCESS));
    b.victim_intact(&before);
}

// ----- output buffers --------------------------------------------------------------------------

#[test]
fn an_output_buffer_one_byte_short_is_buffer_too_small_and_creates_nothing() {
    let mut b = Bench::new();
    let before = b.snapshot(b.victim);
    let a = b.attacker;
    let short = |s| Outcome::Done(status::BUFFER_TOO_SMALL, s);
    // OPEN_INSTANCE answers 10 bytes (handle, port).
    let instances = b.device.instance_count();
    assert_eq!(b.call(a.open, &open_request(no_seeds()), 9), short(vec![]));
    assert_eq!(b.device.instance_count(), instances, "an instance was created");
    assert_eq!(b.call(a.open, &open_request(no_seeds()), 10).status(), Some(status::SUCCESS));
    // REGISTER_KEY answers 8 bytes.
    let key = [0x99; KEY_LEN];
    let register = Request::RegisterKey { instance: a.instance, key: &key, app_data: b"z", credential: None };
    assert_eq!(b.call(a.open, &register, 7), short(vec![]));
    assert_eq!(b.query(a).registrations, 1, "a key was registered");
    assert_eq!(b.call(a.open, &register, 8).status(), Some(status::SUCCESS));
    // START_SEARCH answers 8 bytes.
    assert_eq!(b.call(a.open, &search_request(a.instance, &key), 7), short(vec![]));
    assert_eq!(b.call(a.open, &search_request(a.instance, &key), 8).status(), Some(status::SUCCESS));
    // QUERY_INSTANCE answers 30 bytes.
    let query = Request::QueryInstance { instance: a.instance };
    assert_eq!(b.call(a.open, &query, 29), short(vec![]));
    let Outcome::Done(status::SUCCESS, info) = b.call(a.open, &query, 30) else { panic!() };
    assert_eq!(info.len(), 30);
    // GET_SEARCH_PATH answers 2 + 30 per entry.
    let path = Request::GetSearchPath { search: a.search };
    let Outcome::Done(status::SUCCESS, full) = b.call(a.open, &path, MAX_PATH_REPLY_LEN) else { panic!() };
    assert_eq!(b.call(a.open, &path, full.len() - 1), short(vec![]));
    assert_eq!(b.call(a.open, &path, full.len()), Outcome::Done(status::SUCCESS, full));
    // ATTACH_CLOUD answers 10 bytes; one less, and no attachment is made (the open may still
    // attach once).
    b.expect(a.open, &Request::DetachCloud { attachment: a.attachment }, 0, status::SUCCESS);
    assert_eq!(b.call(a.open, &Request::AttachCloud { name: CLOUD }, 9), short(vec![]));
    assert_eq!(b.call(a.open, &Request::AttachCloud { name: CLOUD }, 10).status(), Some(status::SUCCESS));
    // GROUP_CREATE / GROUP_JOIN answer handle, certificate and port; CREATE_INVITATION a
    // certificate; ADD_RECORD an ID: one byte less creates no group, invitation or record.
    let groups = |b: &mut Bench| {
        let a = b.attacker;
        let out = b.expect(
            a.open,
            &group_call(GroupRequest::GetStatus { group: a.group }),
            group::STATUS_REPLY_LEN,
            status::SUCCESS,
        );
        match GroupResponse::decode(group::GROUP_GET_STATUS, &out) {
            Ok(GroupResponse::Status(s)) => s.records,
            other => panic!("{other:?}"),
        }
    };
    let records = groups(&mut b);
    for request in requests_for(&a).into_iter().filter(|r| r.code() != group::GROUP_CLOSE) {
        let needed = match request.code() {
            group::GROUP_CREATE | group::GROUP_CREATE_INVITATION | group::GROUP_ADD_RECORD => {
                group::output_needed(request.code())
            }
            group::GROUP_GET_STATUS => group::STATUS_REPLY_LEN,
            _ => continue,
        };
        assert_eq!(b.call(a.open, &request, needed - 1), short(vec![]), "{request:?}");
    }
    assert_eq!(groups(&mut b), records, "a record was added");
    assert_eq!(
        b.call(a.open, &group_call(GroupRequest::GetStatus { group: a.group }), group::STATUS_REPLY_LEN - 1),
        short(vec![])
    );
    // WAIT_EVENT needs room for the largest event; one byte less, and the queued event stays.
    assert_eq!(b.call(a.open, &Request::WaitEvent, MAX_EVENT_LEN - 1), short(vec![]));
    let Outcome::Done(status::SUCCESS, event) = b.call(a.open, &Request::WaitEvent, MAX_EVENT_LEN) else {
        panic!("the queued event was lost")
    };
    assert!(EventRecord::decode(&event).is_ok());
    b.victim_intact(&before);
}

// ----- arbitrary requests ----------------------------------------------------------------------

/// One request of an attack script.
#[derive(Debug, Clone)]
enum Attack {
    /// Arbitrary bytes for an arbitrary code (one of the device's, usually).
    Raw { code: u32, input: Vec<u8>, capacity: usize },
    /// A well-formed request (`template` of [`requests_for`]) naming someone's handle and group
    /// root (`whose`: attacker, victim, stale), then mutated: its UTC replaced (group requests),
    /// bytes overwritten anywhere (the UTC too), cut or appended.
    Mutated {
        template: usize,
        whose: u8,
        utc: Option<u64>,
        edits: Vec<(u16, u8)>,
        cut: Option<u16>,
        append: Vec<u8>,
        capacity: usize,
    },
}

fn attack() -> impl Strategy<Value = Attack> {
    let codes: Vec<u32> = all_codes().into_iter().collect();
    let templates = codes.len();
    let code = prop_oneof![
        8 => prop::sample::select(codes),
        1 => any::<u32>(),
    ];
    let capacity = prop_oneof![Just(0usize), 0..64usize, Just(MAX_EVENT_LEN), Just(MAX_PATH_REPLY_LEN)];
    prop_oneof![
        (code, prop::collection::vec(any::<u8>(), 0..96), capacity.clone(), any::<bool>()).prop_map(
            |(code, mut input, capacity, headed)| {
                let at = header_at(code);
                if headed && input.len() >= at + 4 {
                    input[at..at + 4].copy_from_slice(&[1, 0, 0, 0]);
                }
                Attack::Raw { code, input, capacity }
            }
        ),
        (
            0..templates,
            0..3u8,
            prop::option::of(prop_oneof![
                Just(0u64),
                Just(u64::MAX),
                Just(UTC + 100 * 365 * 86_400 * 10_000_000),
                any::<u64>()
            ]),
            prop::collection::vec((any::<u16>(), any::<u8>()), 0..4),
            prop::option::of(any::<u16>()),
            prop::collection::vec(any::<u8>(), 0..3),
            capacity,
        )
            .prop_map(|(template, whose, utc, edits, cut, append, capacity)| Attack::Mutated {
                template,
                whose,
                utc,
                edits,
                cut,
                append,
                capacity
            }),
    ]
}

impl Bench {
    fn launch(&mut self, attack: &Attack) -> (u32, Outcome) {
        let (code, input, capacity) = match attack {
            Attack::Raw { code, input, capacity } => (*code, input.clone(), *capacity),
            Attack::Mutated { template, whose, utc, edits, cut, append, capacity } => {
                let mut h = self.attacker;
                match whose {
                    1 => {
                        let v = self.victim;
                        (h.instance, h.registration, h.search, h.attachment, h.group, h.record) =
                            (v.instance, v.registration, v.search, v.attachment, v.group, v.record)
                    }
                    2 => {
                        (h.instance, h.registration, h.search, h.attachment, h.group) = (
                            h.closed_instance,
                            h.stale_registration,
                            h.stale_search,
                            h.stale_attachment,
                            h.closed_group,
                        )
                    }
                    _ => {}
                }
                // The group root PASSWORD_JOIN and DELETE name: the template's (nobody's), the
                // victim's open group, or the attacker's closed one.
                let root = match whose {
                    1 => Some(group_root_of(self.victim.tag)),
                    2 => Some(group_root_of(h.tag + 1)),
                    _ => None,
                };
                let mut request = requests_for(&h)[*template];
                if let (Some(root), Request::Group { request: r, .. }) = (&root, &mut request) {
                    match r {
                        GroupRequest::PasswordJoin { group_root, .. } => *group_root = root,
                        GroupRequest::Delete { root: named } => *named = root,
                        _ => {}
                    }
                }
                if let (Some(utc), Request::Group { utc: sent, .. }) = (utc, &mut request) {
                    *sent = *utc;
                }
                let mut input = encode(&request);
                for &(at, value) in edits {
                    let len = input.len();
                    input[usize::from(at) % len] = value;
                }
                if let Some(cut) = cut {
                    input.truncate(usize::from(*cut) % (input.len() + 1));
                }
                input.extend_from_slice(append);
                (request.code(), input, *capacity)
            }
        };
        (code, self.raw(self.attacker.open, code, &input, capacity))
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Whatever the attacker sends, each request completes with a defined status (or pends, for
    /// a well-formed wait) and the victim's holdings stay exactly as they were.
    #[test]
    fn arbitrary_and_mutated_requests_get_a_defined_status_and_leave_the_other_open_intact(
        script in prop::collection::vec(attack(), 1..24)
    ) {
        let mut b = Bench::new();
        let before = b.snapshot(b.victim);
        for attack in &script {
            let (code, outcome) = b.launch(attack);
            match outcome {
                Outcome::Done(s, _) => prop_assert!(is_defined(s), "{attack:?} -> undefined status {s:#x}"),
                Outcome::Pending => prop_assert_eq!(code, ioctl::WAIT_EVENT, "{:?} pended", attack),
            }
        }
        b.victim_intact(&before);
    }

    /// Any 64-bit value that is not one of the caller's own live handles is refused.
    #[test]
    fn a_random_handle_is_an_invalid_handle(handle in any::<u64>()) {
        let mut b = Bench::new();
        prop_assume!(!b.attacker.live().contains(&handle));
        let before = b.snapshot(b.victim);
        for request in with_handle(handle) {
            prop_assert_eq!(
                b.call(b.attacker.open, &request, MAX_PATH_REPLY_LEN),
                Outcome::Done(status::INVALID_HANDLE, vec![])
            );
        }
        b.victim_intact(&before);
    }
}

// ----- many opens on a real daemon -------------------------------------------------------------

/// Threads hammering the daemon, each on its own connection (open).
const HAMMERS: usize = 8;
/// Requests each hammer sends.
const ROUNDS: usize = 3000;

/// splitmix64: a reproducible stream of test inputs per hammer.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// The victim's raw handles, known to every hammer.
#[derive(Debug, Clone, Copy)]
struct Known {
    instance: Handle,
    registration: Handle,
    search: Handle,
    attachment: Handle,
    attached_registration: Handle,
    group: Handle,
    record: [u8; 16],
    /// The public root of the victim's group (what PASSWORD_JOIN and DELETE name).
    group_root: [u8; 32],
    seed: EndpointRecord,
}

/// Now as a FILETIME (what the shim puts in front of every group request).
fn utc_now() -> u64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    116_444_736_000_000_000 + since.as_nanos() as u64 / 100
}

/// One hammer: a mix of its own well-formed work (an instance, registrations, searches) and
/// hostile requests (the victim's handles, garbage, cut and mutated inputs, odd capacities).
/// Every answer must carry a defined status; the victim's handles must be refused. Returns the
/// number of requests answered.
fn hammer(socket: &std::path::Path, index: usize, known: Known) -> usize {
    let mut c = support::Client::connect(socket);
    let mut rng = Rng(0xB0_0DA2_7000 + index as u64);
    let mut mine: Vec<Handle> = Vec::new();
    let mut groups: Vec<Handle> = Vec::new();
    let mut answered = 0;
    for round in 0..ROUNDS {
        let key: KeyBytes = std::array::from_fn(|i| (rng.next() as u8) ^ i as u8);
        // Groups are opened on a schedule (a CREATE and a PASSWORD_JOIN every 600 rounds,
        // well-formed), so that each hammer holds a few of its own: ten each, 80 in all, more
        // than the device's MAX_GROUPS, so later ones are refused for the device's bound.
        let scheduled = round % 300 == 0;
        let pick = match round % 600 {
            0 => 12,
            300 => 24,
            _ => rng.below(28),
        };
        // A group request names, half the time, one of the hammer's groups or the victim's.
        let group_pick = (13..=25).contains(&pick) && rng.below(2) == 0;
        let (pool, theirs) = if group_pick {
            (&groups, known.group)
        } else {
            let theirs = [
                known.instance,
                known.registration,
                known.search,
                known.attachment,
                known.attached_registration,
                known.group,
            ][rng.below(6)];
            (&mine, theirs)
        };
        let own = pool.get(rng.below(pool.len().max(1))).copied().unwrap_or(0);
        let handle = [own, theirs, rng.next(), 0][rng.below(4)];
        let seeds = [known.seed];
        let mut seed_buf = [0u8; ENDPOINT_LEN];
        let secret: [u8; 32] = std::array::from_fn(|i| (index * 31 + round + i) as u8);
        let id = [known.record, key[..16].try_into().unwrap()][rng.below(2)];
        let fields =
            RecordFields { expiration: utc_now() + 600 * 10_000_000, ..record_fields(b"hammer's record") };
        // The group root PASSWORD_JOIN and DELETE name: the victim's open group, or nobody's.
        let root = [known.group_root, key][rng.below(2)];
        let group = |request| Request::Group { utc: utc_now(), request };
        let request = match pick {
            0 if round % 50 == 0 => open_request(encode_endpoints(&seeds, &mut seed_buf).unwrap()),
            1 => Request::RegisterKey { instance: handle, key: &key, app_data: b"hammer", credential: None },
            2 => Request::UpdateKey { registration: handle, app_data: b"hammer again" },
            3 => Request::UnregisterKey { registration: handle },
            4 => search_request(handle, &KEY_A),
            5 => Request::ContinueSearch { search: handle },
            6 => Request::EndSearch { search: handle },
            7 => Request::GetSearchPath { search: handle },
            8 if rng.below(20) == 0 => Request::CloseInstance { instance: handle },
            9 => Request::AttachCloud { name: ["Global_", "LinkLocal_x"][rng.below(2)] },
            10 => Request::DetachCloud { attachment: handle },
            11 => Request::EnumClouds,
            12 if round % 600 == 0 => group(GroupRequest::Create {
                root_secret: &secret,
                member_secret: &secret,
                lifetime_seconds: 600,
            }),
            13 => group(GroupRequest::AddRecord { group: handle, record: fields }),
            14 => group(GroupRequest::UpdateRecord { group: handle, id: &id, record: fields }),
            15 => group(GroupRequest::DeleteRecord { group: handle, id: &id }),
            16 => group(GroupRequest::GetRecord { group: handle, id: &id }),
            17 => group(GroupRequest::EnumRecords { group: handle, record_type: None, after: &[0; 16] }),
            18 => group(GroupRequest::GetStatus { group: handle }),
            19 => group(GroupRequest::CreateInvitation {
                group: handle,
                member: &key,
                role: 2,
                lifetime_seconds: 60,
            }),
            20 if rng.below(10) == 0 => group(GroupRequest::Close { group: handle }),
            21 => group(GroupRequest::WatchEvents { group: handle, enabled: rng.below(2) == 0 }),
            22 => group(GroupRequest::EnumMembers { group: handle, after: [None, Some(&key)][rng.below(2)] }),
            23 => group(GroupRequest::EnablePassword {
                group: handle,
                verifier: &key,
                role: 1 + rng.below(2) as u8,
                lifetime_seconds: 60,
            }),
            24 if round % 600 == 300 => group(GroupRequest::PasswordJoin {
                member_secret: &secret,
                group_root: &root,
                password_seed: &key,
            }),
            25 => group(GroupRequest::GetCertificate { group: handle }),
            26 => group(GroupRequest::Delete { root: &root }),
            _ => Request::QueryInstance { instance: handle },
        };
        let names_handle = !matches!(
            request,
            Request::OpenInstance(_)
                | Request::AttachCloud { .. }
                | Request::EnumClouds
                | Request::Group {
                    request: GroupRequest::Create { .. }
                        | GroupRequest::PasswordJoin { .. }
                        | GroupRequest::Delete { .. },
                    ..
                }
        );
        let mut input = encode(&request);
        let mut code = request.code();
        match if scheduled { 5 } else { rng.below(7) } {
            0 => input.truncate(rng.below(input.len())),
            1 => {
                let at = rng.below(input.len());
                input[at] = rng.next() as u8;
            }
            // A group request's UTC far ahead, at the epoch or anything (the device's peer
            // clock follows its own clock, not the caller's).
            6 if header_at(code) > 0 => {
                let utc =
                    [u64::MAX, 0, utc_now() + 100 * 365 * 86_400 * 10_000_000, rng.next()][rng.below(4)];
                input[..8].copy_from_slice(&utc.to_le_bytes());
            }
            2 => input.push(rng.next() as u8),
            3 if rng.below(4) == 0 => {
                let codes: Vec<u32> = all_codes().into_iter().collect();
                code = codes[rng.below(codes.len())] ^ (rng.next() as u32 & 0x3)
            }
            _ => {}
        }
        let capacity = match scheduled {
            true => MAX_OUTPUT_CAPACITY,
            false => {
                [0, 7, 29, 64, group::CERTIFICATE_LEN, MAX_EVENT_LEN - 1, MAX_OUTPUT_CAPACITY][rng.below(7)]
            }
        };
        let reply = c.call_raw(code, &input, capacity);
        answered += 1;
        assert!(
            is_defined(reply.status),
            "hammer {index}: {request:?} -> undefined status {:#x}",
            reply.status
        );
        let exact = code == request.code() && Request::decode(code, &input) == Ok(request);
        if exact
            && matches!(request, Request::Group { request: GroupRequest::Delete { root }, .. } if *root == known.group_root)
        {
            let in_use = status_of_hresult(group::hresult::PEER_E_GROUP_IN_USE);
            assert_eq!(reply.status, in_use, "hammer {index} deleted the victim's open group");
        }
        if exact && names_handle && theirs == handle && handle != own {
            // Refused for the handle, or earlier for an output buffer too small for the answer.
            assert!(
                matches!(reply.status, status::INVALID_HANDLE | INVALID_GROUP | status::BUFFER_TOO_SMALL),
                "hammer {index} used the victim's handle: {request:?} -> {:#x}",
                reply.status
            );
        }
        if exact && reply.status == status::SUCCESS {
            match Response::decode(code, &reply.output) {
                Ok(Response::Instance { instance, .. }) => mine.push(instance),
                Ok(Response::Registration { registration }) => mine.push(registration),
                Ok(Response::Search { search }) => mine.push(search),
                _ => {}
            }
            if let Ok(GroupResponse::Opened { group, .. }) = GroupResponse::decode(code, &reply.output) {
                mine.push(group);
                groups.push(group);
            }
        }
    }
    answered
}

#[test]
fn many_opens_hammering_the_daemon_neither_stop_it_serving_nor_touch_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let pnrp_port = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut daemon =
        support::Daemon::start(dir.path(), "d", &[], &["--pnrp-port".into(), pnrp_port.to_string()]);
    let deadline = WallClock::now() + Duration::from_secs(60);

    // The victim: an instance, two keys, a search left running.
    let mut victim = daemon.client();
    let (vi, vport) = victim.open_instance(&[]);
    let r1 = victim.register(vi, &KEY_A, b"victim one");
    victim.register(vi, &KEY_B, b"victim two");
    let reply = victim.call(&search_request(vi, &[0x42; KEY_LEN]), 8);
    let Ok(Response::Search { search: vs }) = Response::decode(ioctl::START_SEARCH, &reply.output) else {
        panic!()
    };
    let seed = EndpointRecord { addr: Ipv4Addr::LOCALHOST.to_ipv6_mapped().octets(), port: vport };

    // A well-behaved searcher on its own instance finds the victim's key.
    let mut searcher = daemon.client();
    let (si, _) = searcher.open_instance(&[seed]);
    assert!(searcher.wait_active(si, deadline), "the searcher never became active");
    while searcher.search(si, &KEY_A, 3000).as_deref() != Some(&b"victim one"[..]) {
        assert!(WallClock::now() < deadline, "the searcher never found the victim's key");
    }
    let info_before = victim.query(vi).unwrap();
    assert_eq!(info_before.registrations, 2);
    // Its attachment to the Global_ cloud with a key, and a group with a record.
    let attach = victim.call(&Request::AttachCloud { name: "Global_" }, 10);
    let Ok(Response::Instance { instance: va, .. }) = Response::decode(pnrp::ATTACH_CLOUD, &attach.output)
    else {
        panic!("ATTACH_CLOUD: {attach:?}")
    };
    let pnrp_key = [0x9A; KEY_LEN];
    let var = victim.register(va, &pnrp_key, b"victim's name");
    let create =
        GroupRequest::Create { root_secret: &[0x91; 32], member_secret: &[0x92; 32], lifetime_seconds: 3600 };
    let reply = victim.call(&Request::Group { utc: utc_now(), request: create }, 1024);
    let Ok(GroupResponse::Opened { group: vg, .. }) =
        GroupResponse::decode(group::GROUP_CREATE, &reply.output)
    else {
        panic!("GROUP_CREATE: {reply:?}")
    };
    let fields =
        RecordFields { expiration: utc_now() + 3600 * 10_000_000, ..record_fields(b"victim's record") };
    let reply = victim.call(
        &Request::Group { utc: utc_now(), request: GroupRequest::AddRecord { group: vg, record: fields } },
        16,
    );
    let record: [u8; 16] = reply.output.try_into().expect("ADD_RECORD answers an ID");
    let group_view = |victim: &mut support::Client| {
        [
            GroupRequest::GetStatus { group: vg },
            GroupRequest::EnumRecords { group: vg, record_type: None, after: &[0; 16] },
            GroupRequest::GetRecord { group: vg, id: &record },
        ]
        .map(|request| victim.call(&Request::Group { utc: utc_now(), request }, 64 * 1024))
    };
    let group_before = group_view(&mut victim);
    assert!(group_before.iter().all(|r| r.status == status::SUCCESS), "{group_before:?}");
    // The searcher finds the victim's name through an attachment of its own.
    let attach = searcher.call(&Request::AttachCloud { name: "Global_" }, 10);
    let Ok(Response::Instance { instance: sa, .. }) = Response::decode(pnrp::ATTACH_CLOUD, &attach.output)
    else {
        panic!("ATTACH_CLOUD: {attach:?}")
    };
    assert_eq!(searcher.search_with(sa, &pnrp_key, 3000, true).as_deref(), Some(&b"victim's name"[..]));

    let known = Known {
        instance: vi,
        registration: r1,
        search: vs,
        attachment: va,
        attached_registration: var,
        group: vg,
        record,
        group_root: peerdrt::core::group::membership::GroupRoot::from_secret(&[0x91; 32]).public_key(),
        seed,
    };
    let socket = daemon.socket.clone();
    let hammers: Vec<_> = (0..HAMMERS)
        .map(|i| {
            let socket = socket.clone();
            std::thread::spawn(move || hammer(&socket, i, known))
        })
        .collect();
    // While they hammer, every search of the well-behaved client succeeds.
    let hammer_deadline = WallClock::now() + Duration::from_secs(90);
    let mut searches = 0;
    loop {
        let found = searcher.search(si, &KEY_A, 5000);
        assert_eq!(
            found.as_deref(),
            Some(&b"victim one"[..]),
            "search {searches} during the hammering failed"
        );
        searches += 1;
        if hammers.iter().all(|h| h.is_finished()) {
            break;
        }
        assert!(WallClock::now() < hammer_deadline, "the hammering did not finish");
    }
    let answered: usize = hammers.into_iter().map(|h| h.join().expect("a hammer failed")).sum();
    assert_eq!(answered, HAMMERS * ROUNDS);
    assert!(daemon.running(), "the daemon died:\n{}", daemon.log_text());
    eprintln!(
        "{answered} hostile and own requests from {HAMMERS} opens; {searches} searches during them, all found"
    );

    // The victim's holdings are as they were, and still its own to change.
    let info = victim.query(vi).unwrap();
    // (Its DRT status is the cloud's, not its holding: it may go from ALONE to ACTIVE.)
    assert_eq!((info.registrations, info.port), (2, info_before.port));
    assert_eq!(
        victim.call(&Request::GetSearchPath { search: vs }, MAX_PATH_REPLY_LEN).status,
        status::SUCCESS
    );
    let update = victim.call(&Request::UpdateKey { registration: r1, app_data: b"victim one, updated" }, 0);
    assert_eq!(update.status, status::SUCCESS);
    let until = WallClock::now() + Duration::from_secs(30);
    while searcher.search(si, &KEY_A, 3000).as_deref() != Some(&b"victim one, updated"[..]) {
        assert!(WallClock::now() < until, "the update never reached the searcher");
    }
    assert_eq!(searcher.search(si, &KEY_B, 3000).as_deref(), Some(&b"victim two"[..]));
    // Its group and its PNRP name, likewise.
    assert_eq!(group_view(&mut victim), group_before, "the victim's group changed");
    assert_eq!(searcher.search_with(sa, &pnrp_key, 3000, true).as_deref(), Some(&b"victim's name"[..]));
    let update =
        victim.call(&Request::UpdateKey { registration: var, app_data: b"victim's name, updated" }, 0);
    assert_eq!(update.status, status::SUCCESS);
}

#[test]
fn a_client_that_stops_reading_stalls_only_its_own_connection_and_gets_every_answer_later() {
    use peerdrt::host::server::{MAX_IN_FLIGHT_PER_CONNECTION, WRITE_TIMEOUT};
    let dir = tempfile::tempdir().unwrap();
    let daemon = support::Daemon::start(dir.path(), "d", &[], &[]);
    // A group record of 16 KiB: its GET_RECORD answers are large enough that the unread ones
    // fill the socket buffer, so the daemon's writer blocks and its reader stops after
    // MAX_IN_FLIGHT_PER_CONNECTION requests of this connection.
    let mut slow = daemon.client();
    let create =
        GroupRequest::Create { root_secret: &[0xA1; 32], member_secret: &[0xA2; 32], lifetime_seconds: 3600 };
    let reply = slow.call(&Request::Group { utc: utc_now(), request: create }, 1024);
    let Ok(GroupResponse::Opened { group, .. }) = GroupResponse::decode(group::GROUP_CREATE, &reply.output)
    else {
        panic!("GROUP_CREATE: {reply:?}")
    };
    let data = vec![0xD7; group::MAX_DATA_LEN];
    let fields = RecordFields { expiration: utc_now() + 3600 * 10_000_000, ..record_fields(&data) };
    let add = Request::Group { utc: utc_now(), request: GroupRequest::AddRecord { group, record: fields } };
    let id: [u8; 16] = slow.call(&add, 16).output.try_into().expect("ADD_RECORD answers an ID");
    let get = encode(&Request::Group { utc: utc_now(), request: GroupRequest::GetRecord { group, id: &id } });
    let requests = 8 * MAX_IN_FLIGHT_PER_CONNECTION;
    let ids: Vec<u64> =
        (0..requests).map(|_| slow.send(group::GROUP_GET_RECORD, &get, MAX_OUTPUT_CAPACITY)).collect();
    // Meanwhile (well within WRITE_TIMEOUT, after which the daemon would drop the silent
    // client), other opens are served as usual.
    let started = WallClock::now();
    let mut other = daemon.client();
    let (instance, _) = other.open_instance(&[]);
    for _ in 0..50 {
        assert!(other.query(instance).is_ok(), "another open was not served");
    }
    assert!(started.elapsed() < WRITE_TIMEOUT / 2, "too slow to tell");
    // Then every answer arrives, whole and in turn.
    let mut first = None;
    for id in ids {
        let reply = slow.recv(id, support::REPLY_TIMEOUT).expect("an answer was lost");
        assert_eq!(reply.status, status::SUCCESS);
        assert!(reply.output.len() > group::MAX_DATA_LEN);
        assert_eq!(&reply.output, first.get_or_insert_with(|| reply.output.clone()));
    }
}

// ----- device-wide and per-node quotas through IOCTLs --------------------------------------------

#[test]
fn the_device_wide_instance_bound_holds_at_its_edge_and_a_closed_instance_frees_its_place() {
    let mut device = Device::new();
    let mut platform = NoNetwork::default();
    let input = encode(&open_request(no_seeds()));
    /// OPEN_INSTANCE on `open`: the status and the instance handle.
    fn open_one(
        device: &mut Device,
        platform: &mut NoNetwork,
        open: OpenId,
        input: &[u8],
    ) -> (u32, Option<Handle>) {
        let mut output = [0u8; 16];
        let irp = Irp { code: ioctl::OPEN_INSTANCE, input, output: &mut output, token: 0 };
        match device.ioctl(Instant(1), open, irp, platform) {
            Completion::Complete { status, information } => {
                match Response::decode(ioctl::OPEN_INSTANCE, &output[..information]) {
                    Ok(Response::Instance { instance, .. }) => (status, Some(instance)),
                    _ => (status, None),
                }
            }
            Completion::Pending => panic!("OPEN_INSTANCE pended"),
        }
    }
    let opens: Vec<OpenId> =
        (0..MAX_INSTANCES / MAX_INSTANCES_PER_OPEN).map(|_| device.open(Owner::default()).unwrap()).collect();
    let mut first = None;
    for &open in &opens {
        for _ in 0..MAX_INSTANCES_PER_OPEN {
            let (status, instance) = open_one(&mut device, &mut platform, open, &input);
            assert_eq!(status, status::SUCCESS);
            first = first.or(instance.map(|i| (open, i)));
        }
    }
    assert_eq!(device.instance_count(), MAX_INSTANCES);
    let late = device.open(Owner::default()).unwrap();
    assert_eq!(open_one(&mut device, &mut platform, late, &input).0, status::INSUFFICIENT_RESOURCES);
    assert_eq!(device.instance_count(), MAX_INSTANCES);
    // Closing one instance makes room for exactly one more.
    let (owner, instance) = first.unwrap();
    let close = encode(&Request::CloseInstance { instance });
    let irp = Irp { code: ioctl::CLOSE_INSTANCE, input: &close, output: &mut [], token: 0 };
    assert_eq!(
        device.ioctl(Instant(1), owner, irp, &mut platform),
        Completion::Complete { status: status::SUCCESS, information: 0 }
    );
    assert_eq!(open_one(&mut device, &mut platform, late, &input).0, status::SUCCESS);
    assert_eq!(open_one(&mut device, &mut platform, late, &input).0, status::INSUFFICIENT_RESOURCES);
}

/// GROUP_CREATE of a group rooted at `[n; 32]` on `open`: its status, and its handle if it opened.
fn create_group_status(b: &mut Bench, open: OpenId, n: u8) -> (u32, Option<Handle>) {
    let create =
        GroupRequest::Create { root_secret: &[n; 32], member_secret: &[0x33; 32], lifetime_seconds: 3600 };
    match b.call(open, &group_call(create), group::output_needed(group::GROUP_CREATE)) {
        Outcome::Done(status, output) => match GroupResponse::decode(group::GROUP_CREATE, &output) {
            Ok(GroupResponse::Opened { group, .. }) => (status, Some(group)),
            _ => (status, None),
        },
        Outcome::Pending => panic!("GROUP_CREATE pended"),
    }
}

/// What an open's group answers to GET_STATUS, ENUM_RECORDS and GET_RECORD.
fn group_view(b: &mut Bench, open: OpenId, group: Handle, record: &[u8; 16]) -> Vec<Outcome> {
    [
        GroupRequest::GetStatus { group },
        GroupRequest::EnumRecords { group, record_type: None, after: &[0; 16] },
        GroupRequest::GetRecord { group, id: record },
    ]
    .map(|r| b.call(open, &group_call(r), group::MAX_RECORD_LEN + 2))
    .into()
}

#[test]
fn an_open_holds_max_groups_per_open_and_one_more_changes_nothing_of_its_own_or_anyone_elses() {
    use peerdrt::core::group::membership::{GroupRoot, member_key};
    use peerdrt::engine::group::{MAX_GROUPS, MAX_GROUPS_PER_OPEN};
    let mut b = Bench::new();
    let before = b.snapshot(b.victim);
    let a = b.attacker;
    let full = status::INSUFFICIENT_RESOURCES;
    assert_eq!(to_hresult(full), hresult::E_OUTOFMEMORY, "what PeerGroupCreate / Join / Open return");
    // A JOIN with an invitation its own group's root signed, and a PASSWORD_JOIN naming that root.
    let invite = GroupRequest::CreateInvitation {
        group: a.group,
        member: &member_key(&[0x31; 32]),
        role: 1,
        lifetime_seconds: 3600,
    };
    let invitation = b.expect(a.open, &group_call(invite), group::CERTIFICATE_LEN, status::SUCCESS);
    let certificate: [u8; group::CERTIFICATE_LEN] = invitation.try_into().unwrap();
    let root = GroupRoot::from_secret(&[a.tag; 32]).public_key();
    let join = group_call(GroupRequest::Join { member_secret: &[0x31; 32], certificate: &certificate });
    let password_join = group_call(GroupRequest::PasswordJoin {
        member_secret: &[0x32; 32],
        group_root: &root,
        password_seed: &[0x34; 32],
    });
    let opened_by = |b: &mut Bench, request: &Request<'_>| {
        let output = b.expect(a.open, request, group::output_needed(request.code()), status::SUCCESS);
        match GroupResponse::decode(request.code(), &output) {
            Ok(GroupResponse::Opened { group, .. }) => group,
            other => panic!("{other:?}"),
        }
    };

    // The attacker holds one group (the other it closed); creates, a JOIN and a PASSWORD_JOIN
    // take it to its share.
    let mut mine = vec![a.group];
    for n in 0..MAX_GROUPS_PER_OPEN - 3 {
        mine.push(b.create_group(a.open, 0x40 + n as u8));
    }
    mine.push(opened_by(&mut b, &join));
    mine.push(opened_by(&mut b, &password_join));
    assert_eq!(mine.len(), MAX_GROUPS_PER_OPEN);
    let own_before = group_view(&mut b, a.open, a.group, &a.record);
    assert_eq!(create_group_status(&mut b, a.open, 0x70), (full, None), "one past the share");
    for one_more in [&join, &password_join] {
        assert_eq!(b.call(a.open, one_more, 1024), Outcome::Done(full, vec![]), "{one_more:?}");
    }
    // Its groups are as they were and still work; another open still opens a group.
    assert_eq!(group_view(&mut b, a.open, a.group, &a.record), own_before);
    for &group in &mine {
        b.expect(a.open, &group_call(GroupRequest::GetStatus { group }), 64, status::SUCCESS);
    }
    let add = GroupRequest::AddRecord { group: mine[1], record: record_fields(b"at the share") };
    b.expect(a.open, &group_call(add), 16, status::SUCCESS);
    let (observer, _) = b.observer;
    let (status, theirs) = create_group_status(&mut b, observer, 0x71);
    assert_eq!(status, status::SUCCESS, "another open is not starved");
    b.expect(observer, &group_call(GroupRequest::Close { group: theirs.unwrap() }), 0, status::SUCCESS);

    // Closing one group gives back exactly one place.
    b.expect(a.open, &group_call(GroupRequest::Close { group: mine[1] }), 0, status::SUCCESS);
    assert_eq!(create_group_status(&mut b, a.open, 0x72).0, status::SUCCESS);
    assert_eq!(create_group_status(&mut b, a.open, 0x73).0, full);

    // Other opens fill the device (the victim holds one group, the attacker its share)...
    let mut held = 1 + MAX_GROUPS_PER_OPEN;
    while held < MAX_GROUPS {
        let filler = b.device.open(Owner { pid: 400, uid: 1003 }).unwrap();
        for n in 0..MAX_GROUPS_PER_OPEN.min(MAX_GROUPS - held) {
            assert_eq!(create_group_status(&mut b, filler, n as u8).0, status::SUCCESS);
            held += 1;
        }
    }
    let late = b.device.open(Owner { pid: 500, uid: 1004 }).unwrap();
    assert_eq!(create_group_status(&mut b, late, 0x74).0, full, "the device is full");
    // ...and closing the attacker's open gives back its whole share.
    b.device.close(b.now, a.open, &mut b.platform);
    for n in 0..MAX_GROUPS_PER_OPEN {
        assert_eq!(create_group_status(&mut b, late, 0x80 + n as u8).0, status::SUCCESS);
    }
    assert_eq!(create_group_status(&mut b, late, 0x75).0, full);
    b.victim_intact(&before);
}

#[test]
fn the_per_node_registration_bound_holds_at_its_edge_through_ioctls() {
    use peerdrt::core::drt::config::MAX_REGISTRATIONS;
    let mut b = Bench::new();
    let before = b.snapshot(b.victim);
    let a = b.attacker;
    // The attacker's instance already holds one registration.
    let mut last = 0;
    for i in 1..MAX_REGISTRATIONS {
        let key: KeyBytes = std::array::from_fn(|j| if j < 2 { (i >> (8 * j)) as u8 } else { 0x3C });
        last = b.register(a.open, a.instance, &key, b"fill");
    }
    assert_eq!(b.query(a).registrations as usize, MAX_REGISTRATIONS);
    let one_more = Request::RegisterKey {
        instance: a.instance,
        key: &[0xEF; KEY_LEN],
        app_data: b"x",
        credential: None,
    };
    assert_eq!(b.call(a.open, &one_more, 8).status(), Some(status::INSUFFICIENT_RESOURCES));
    assert_eq!(b.query(a).registrations as usize, MAX_REGISTRATIONS);
    b.expect(a.open, &Request::UnregisterKey { registration: last }, 0, status::SUCCESS);
    assert_eq!(b.call(a.open, &one_more, 8).status(), Some(status::SUCCESS));
    b.victim_intact(&before);
}

#[test]
fn the_per_node_search_bound_refuses_further_searches_and_an_ended_one_frees_its_place() {
    use peerdrt::core::drt::config::MAX_SEARCHES;
    let mut b = Bench::new();
    let before = b.snapshot(b.victim);
    let a = b.attacker;
    // Internal searches (bootstrap, announcements) share the bound, so fewer than
    // MAX_SEARCHES may be left for the application; never more.
    let mut searches = Vec::new();
    let refused = loop {
        let key: KeyBytes = std::array::from_fn(|j| if j == 0 { searches.len() as u8 } else { 0x4D });
        match b.call(a.open, &search_request(a.instance, &key), 8) {
            Outcome::Done(status::SUCCESS, output) => match Response::decode(ioctl::START_SEARCH, &output) {
                Ok(Response::Search { search }) => searches.push(search),
                other => panic!("{other:?}"),
            },
            other => break other,
        }
        assert!(searches.len() <= MAX_SEARCHES, "more than MAX_SEARCHES searches at once");
    };
    assert_eq!(refused, Outcome::Done(status::INSUFFICIENT_RESOURCES, vec![]));
    assert!(searches.len() + 1 >= MAX_SEARCHES / 2, "only {} searches", searches.len());
    b.expect(a.open, &Request::EndSearch { search: searches[0] }, 0, status::SUCCESS);
    assert_eq!(b.call(a.open, &search_request(a.instance, &KEY_A), 8).status(), Some(status::SUCCESS));
    b.victim_intact(&before);
}

#[test]
fn a_search_path_reply_over_the_entry_limit_is_refused_by_the_shims_decoder() {
    let mut reply = vec![0u8; 2 + (MAX_PATH_ENTRIES + 1) * PATH_ENTRY_LEN];
    reply[..2].copy_from_slice(&(MAX_PATH_ENTRIES as u16).to_le_bytes());
    let at_limit = &reply[..2 + MAX_PATH_ENTRIES * PATH_ENTRY_LEN];
    assert!(
        matches!(Response::decode(ioctl::GET_SEARCH_PATH, at_limit), Ok(Response::Path(p)) if p.len() == MAX_PATH_ENTRIES)
    );
    reply[..2].copy_from_slice(&(MAX_PATH_ENTRIES as u16 + 1).to_le_bytes());
    assert_eq!(Response::decode(ioctl::GET_SEARCH_PATH, &reply), Err(AbiError::BadValue));
    // A status-changed event with more bootstrap endpoints than MAX_SEEDS, likewise.
    let mut event = vec![1u8];
    event.extend_from_slice(&[0; 12]);
    event.extend_from_slice(&(MAX_SEEDS as u16 + 1).to_le_bytes());
    event.extend_from_slice(&vec![0; (MAX_SEEDS + 1) * ENDPOINT_LEN]);
    assert_eq!(EventRecord::decode(&event), Err(AbiError::BadValue));
    assert_eq!(peerdrt::abi::Response::decode(ioctl::WAIT_EVENT, &event), Err(AbiError::BadValue));
}
