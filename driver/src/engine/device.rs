//! The device: opens, instances, handle tables, event queues and IOCTL dispatch.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;
use core::net::Ipv6Addr;
use core::time::Duration;

use peerdrt_abi::status::{self, hresult};
use peerdrt_abi::{
    AbiError, EndpointRecord, EventRecord, Handle, InstanceInfo, MAX_EVENT_LEN, MAX_PATH_ENTRIES,
    OpenInstance, PathRecord, PathRecords, Request, Response, SecurityKind, StartSearch, drt_status,
    encode_endpoints, ioctl, pnrp,
};
use peerdrt_core::drt::search::SearchSettings;
use peerdrt_core::drt::security::{
    BoxedProvider, Certificate, DerivedKeyProvider, Identity, KeyCredential, NullProvider, SecurityMode,
};
use peerdrt_core::drt::{
    DrtError, Event, FloodLimits, LeafSetChange, MatchType, Node, NodeConfig, RegistrationId, SearchEnd,
    SearchId, SearchInfo, Status, Timing,
};
use peerdrt_core::time::Instant;
use peerdrt_core::wire::{Endpoint, MAX_ROUTE_ADDRESSES, ProtocolVersion};

use super::handles::{self, HandleKind, MAX_OBJECTS_PER_OPEN, OpenId};

#[path = "group_device.rs"]
mod group_device;
pub use group_device::GROUP_EVENT_QUEUE_DEPTH;

/// Most opens at once.
pub const MAX_OPENS: usize = 256;
/// Most DRT instances on the device.
pub const MAX_INSTANCES: usize = 64;
/// Most DRT instances one open may create.
pub const MAX_INSTANCES_PER_OPEN: usize = 8;
/// Events queued per open before the oldest is dropped.
pub const MAX_EVENTS_PER_OPEN: usize = 1024;
/// Wait-for-event requests one open may have pending.
pub const MAX_WAITS_PER_OPEN: usize = 8;
/// Datagrams queued for sending, device-wide (further ones are dropped and counted).
pub const MAX_OUTBOX: usize = 16_384;
/// Most clouds (standing instances published by name) on the device.
pub const MAX_CLOUDS: usize = pnrp::MAX_CLOUDS;
const _: () = assert!(MAX_CLOUDS <= MAX_INSTANCES_PER_OPEN, "one open holds every standing instance");
/// Attachments one open may hold: one per cloud.
pub const MAX_ATTACHMENTS_PER_OPEN: usize = MAX_CLOUDS;
/// Longest search timeout accepted (a longer one is clamped).
pub const MAX_SEARCH_TIMEOUT: Duration = Duration::from_secs(3600);

/// Identifies a bound datagram socket of the platform.
pub type TransportId = u32;

/// A socket the platform bound for an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bound {
    /// The socket.
    pub id: TransportId,
    /// The port it bound.
    pub port: u16,
    /// Addresses it is reachable at (advertised in route entries).
    pub addresses: Vec<Ipv6Addr>,
}

/// What the engine needs from the platform, called at PASSIVE_LEVEL from within `ioctl`.
pub trait Platform {
    /// Binds a datagram socket on `port` (0: any) for DRT_SCOPE `scope`; an NTSTATUS on failure.
    fn bind(&mut self, port: u16, scope: u32, scope_id: u32) -> Result<Bound, u32>;
    /// Closes a socket; every datagram it still holds is released. Datagrams the engine queued
    /// for it before the call (a closing instance's revocations) are still yielded by
    /// [`Device::poll_transmit`]: the adapter sends them before it closes the socket, or drops
    /// them.
    fn unbind(&mut self, id: TransportId);
    /// 32 bytes from the platform's random source (BCryptGenRandom / getrandom).
    fn random_seed(&mut self) -> [u8; 32];
    /// The platform's UTC as a FILETIME (100 ns since 1601), if it has a clock. Group requests
    /// carry their caller's UTC too, but the peer clock every open's groups run on must not move
    /// because one caller claims another time: with a platform clock the caller's is ignored.
    /// `None` (the default): the caller's UTC is used.
    fn utc_now(&mut self) -> Option<u64> {
        None
    }
}

/// The adapter's name for a pending wait-for-event request (an IRP, a frame on a connection).
pub type WaitToken = u64;

/// Who opened the device (recorded with the open; SO_PEERCRED on Linux).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Owner {
    /// Process id.
    pub pid: u32,
    /// User id.
    pub uid: u32,
}

/// How an IOCTL completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    /// Done: NTSTATUS and bytes written to the output buffer (IoStatus.Information).
    Complete {
        /// NTSTATUS.
        status: u32,
        /// Bytes of output.
        information: usize,
    },
    /// A wait-for-event request is queued; it completes through [`Device::poll_wait_completion`].
    Pending,
}

impl Completion {
    fn fail(status: u32) -> Self {
        Self::Complete { status, information: 0 }
    }
}

/// One device-control request, as the I/O manager hands it over (METHOD_BUFFERED).
#[derive(Debug)]
pub struct Irp<'a> {
    /// The control code.
    pub code: u32,
    /// The input buffer.
    pub input: &'a [u8],
    /// The output buffer (its length is the caller's OutputBufferLength).
    pub output: &'a mut [u8],
    /// The adapter's token, used if the request pends.
    pub token: WaitToken,
}

/// A pending wait that completed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitCompletion {
    /// The open it belongs to.
    pub open: OpenId,
    /// The adapter's token.
    pub token: WaitToken,
    /// NTSTATUS.
    pub status: u32,
    /// Output bytes (an encoded event record on success).
    pub output: Vec<u8>,
}

/// A datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// From which socket.
    pub transport: TransportId,
    /// To where.
    pub destination: Endpoint,
    /// The datagram.
    pub payload: Vec<u8>,
}

/// Device-wide counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeviceStats {
    /// IOCTLs refused for their input.
    pub bad_requests: u64,
    /// Datagrams for no instance.
    pub unrouted_datagrams: u64,
    /// Datagrams dropped for a full outbox.
    pub outbox_dropped: u64,
    /// Events dropped for a full per-open queue.
    pub events_dropped: u64,
}

#[derive(Debug, Clone, Copy)]
enum Object {
    Instance(usize),
    /// An open's attachment to a cloud (another open's standing instance); an instance handle
    /// for registering and searching, but it neither owns nor closes the instance.
    Attachment(usize),
    Registration(usize, RegistrationId),
    Search(usize, SearchId),
}

impl Object {
    fn kind(&self) -> HandleKind {
        match self {
            Self::Instance(_) | Self::Attachment(_) => HandleKind::Instance,
            Self::Registration(..) => HandleKind::Registration,
            Self::Search(..) => HandleKind::Search,
        }
    }
}

#[derive(Debug)]
struct Slot<T> {
    generation: u16,
    value: Option<T>,
}

#[derive(Debug)]
struct Open {
    owner: Owner,
    objects: Vec<Slot<Object>>,
    events: VecDeque<Vec<u8>>,
    waits: VecDeque<WaitToken>,
    instances: usize,
    /// IRP_MJ_CLEANUP ran (the last handle closed): the open holds nothing and takes no new
    /// requests, though an IRP already in dispatch may still arrive before IRP_MJ_CLOSE.
    cleaned_up: bool,
}

#[derive(Debug)]
struct Instance {
    open: OpenId,
    handle: Handle,
    node: Node,
    transport: TransportId,
    port: u16,
    registrations: Vec<(RegistrationId, Handle)>,
    searches: Vec<(SearchId, Handle)>,
    /// Registrations made through attachments: owned by the attached open.
    attached_registrations: Vec<Attached<RegistrationId>>,
    /// Searches started through attachments.
    attached_searches: Vec<Attached<SearchId>>,
}

/// A registration or search of an attached open on a cloud's instance.
#[derive(Debug, Clone, Copy)]
struct Attached<T> {
    id: T,
    /// Its handle in the attached open.
    handle: Handle,
    /// The attached open.
    open: OpenId,
    /// The attachment handle it came through (the "instance" its events name).
    via: Handle,
    /// The key (registrations; searches: unused).
    key: peerdrt_abi::KeyBytes,
}

/// A standing instance published under a cloud name.
#[derive(Debug)]
struct Cloud {
    name: String,
    index: usize,
    scope: u32,
    scope_id: u32,
}

/// Where an instance's event goes.
struct Route {
    open: OpenId,
    instance: Handle,
    object: Option<Handle>,
}

/// The device.
#[derive(Debug, Default)]
pub struct Device {
    opens: Vec<Slot<Open>>,
    instances: Vec<Option<Instance>>,
    outbox: VecDeque<Outgoing>,
    completions: VecDeque<WaitCompletion>,
    stats: DeviceStats,
    clouds: Vec<Cloud>,
    groups: group_device::Groups,
    /// Flood limits of the DRT instances opened from now on.
    flood_limits: FloodLimits,
    /// How the DRT instances opened from now on search (disjoint paths).
    search_settings: SearchSettings,
}

fn drt(hr: u32) -> u32 {
    status::from_drt_hresult(hr)
}

fn status_of(error: DrtError) -> u32 {
    match error {
        DrtError::InvalidArgument => status::INVALID_PARAMETER,
        DrtError::InvalidKeySize => drt(hresult::DRT_E_INVALID_KEY_SIZE),
        DrtError::InvalidKey => drt(hresult::DRT_E_INVALID_KEY),
        DrtError::DuplicateKey => drt(hresult::DRT_E_DUPLICATE_KEY),
        DrtError::InvalidMaxEndpoints => drt(hresult::DRT_E_INVALID_MAX_ENDPOINTS),
        DrtError::InvalidSearchRange => drt(hresult::DRT_E_INVALID_SEARCH_RANGE),
        DrtError::Faulted => drt(hresult::DRT_E_FAULTED),
        DrtError::InvalidHandle => status::INVALID_HANDLE,
        DrtError::Unexpected => status::INVALID_DEVICE_STATE,
        DrtError::LimitReached => status::INSUFFICIENT_RESOURCES,
        DrtError::CapabilityMismatch => drt(hresult::DRT_E_CAPABILITY_MISMATCH),
    }
}

fn endpoint_record(e: &Endpoint) -> EndpointRecord {
    EndpointRecord { addr: e.addr.octets(), port: e.port }
}

fn identity(secret: &[u8; 32], certificate: &[u8; 96]) -> Result<Identity, u32> {
    let certificate = Certificate::from_bytes(certificate).ok_or(status::INVALID_PARAMETER)?;
    Ok(Identity { signing_key: ed25519_dalek::SigningKey::from_bytes(secret), certificate })
}

/// The reply buffer of the requests with variable-length replies.
const SCRATCH_LEN: usize = if peerdrt_abi::MAX_PATH_REPLY_LEN > pnrp::MAX_CLOUDS_REPLY_LEN {
    peerdrt_abi::MAX_PATH_REPLY_LEN
} else {
    pnrp::MAX_CLOUDS_REPLY_LEN
};

/// Output space the mutating requests need, checked before any state changes.
fn output_needed(code: u32) -> usize {
    match code {
        ioctl::OPEN_INSTANCE => 10,
        ioctl::REGISTER_KEY | ioctl::START_SEARCH => 8,
        pnrp::ATTACH_CLOUD => 10,
        ioctl::WAIT_EVENT => MAX_EVENT_LEN,
        _ => 0,
    }
}

impl Device {
    /// An empty device.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the flood limits of the DRT instances opened from now on (the daemon's
    /// `--flood-limits`; the default on a network).
    pub fn set_flood_limits(&mut self, limits: FloodLimits) {
        self.flood_limits = limits;
    }

    /// Sets how the DRT instances opened from now on run their applications' searches: the
    /// disjoint lookup paths of peerdrtd's `--disjoint-paths` or peerdrt.sys's
    /// `Parameters\DisjointPaths` (Win32's DRT_SETTINGS has no field for it). Every instance
    /// of the device gets it, standing PNRP clouds included.
    pub fn set_search_settings(&mut self, settings: SearchSettings) {
        self.search_settings = settings;
    }

    /// How the DRT instances opened from now on search.
    pub fn search_settings(&self) -> SearchSettings {
        self.search_settings
    }

    /// Counters.
    pub fn stats(&self) -> DeviceStats {
        self.stats
    }

    /// Opens currently live.
    pub fn open_count(&self) -> usize {
        self.opens.iter().filter(|s| s.value.is_some()).count()
    }

    /// DRT instances currently live.
    pub fn instance_count(&self) -> usize {
        self.instances.iter().filter(|i| i.is_some()).count()
    }

    /// The owner recorded for an open.
    pub fn owner(&self, open: OpenId) -> Option<Owner> {
        self.open_ref(open).map(|o| o.owner)
    }

    // ----- opens ------------------------------------------------------------------------------

    /// IRP_MJ_CREATE / a new connection. `None` when [`MAX_OPENS`] are open.
    pub fn open(&mut self, owner: Owner) -> Option<OpenId> {
        let fresh = || Open {
            owner,
            objects: Vec::new(),
            events: VecDeque::new(),
            waits: VecDeque::new(),
            instances: 0,
            cleaned_up: false,
        };
        if let Some(slot) = self.opens.iter().position(|s| s.value.is_none()) {
            let s = &mut self.opens[slot];
            s.value = Some(fresh());
            return Some(OpenId { slot: slot as u16, generation: s.generation });
        }
        if self.opens.len() >= MAX_OPENS {
            return None;
        }
        self.opens.push(Slot { generation: 0, value: Some(fresh()) });
        Some(OpenId { slot: (self.opens.len() - 1) as u16, generation: 0 })
    }

    fn open_ref(&self, id: OpenId) -> Option<&Open> {
        self.opens
            .get(usize::from(id.slot))
            .filter(|s| s.generation == id.generation)
            .and_then(|s| s.value.as_ref())
    }

    fn open_mut(&mut self, id: OpenId) -> Option<&mut Open> {
        self.opens
            .get_mut(usize::from(id.slot))
            .filter(|s| s.generation == id.generation)
            .and_then(|s| s.value.as_mut())
    }

    /// IRP_MJ_CLEANUP / the connection closed: end the open's searches, unregister its keys,
    /// close its instances and cancel its pending waits. Its handles stop resolving.
    pub fn cleanup(&mut self, now: Instant, open: OpenId, platform: &mut dyn Platform) {
        let Some(o) = self.open_mut(open) else { return };
        o.cleaned_up = true;
        let waits: Vec<WaitToken> = o.waits.drain(..).collect();
        o.events.clear();
        let instances: Vec<usize> = o
            .objects
            .iter()
            .filter_map(|s| match s.value {
                Some(Object::Instance(i)) => Some(i),
                _ => None,
            })
            .collect();
        let attachments: Vec<usize> = o
            .objects
            .iter()
            .filter_map(|s| match s.value {
                Some(Object::Attachment(i)) => Some(i),
                _ => None,
            })
            .collect();
        o.objects.clear();
        o.instances = 0;
        for token in waits {
            self.completions.push_back(WaitCompletion {
                open,
                token,
                status: status::CANCELLED,
                output: Vec::new(),
            });
        }
        for index in attachments {
            self.detach(now, open, index);
        }
        for index in instances {
            self.destroy_instance(now, index, platform);
        }
        self.close_groups(now, open);
    }

    /// IRP_MJ_CLOSE: the open's slot is freed (after [`Device::cleanup`]).
    pub fn close(&mut self, now: Instant, open: OpenId, platform: &mut dyn Platform) {
        self.cleanup(now, open, platform);
        if let Some(slot) =
            self.opens.get_mut(usize::from(open.slot)).filter(|s| s.generation == open.generation)
        {
            slot.value = None;
            slot.generation = slot.generation.wrapping_add(1);
        }
    }

    fn destroy_instance(&mut self, now: Instant, index: usize, platform: &mut dyn Platform) {
        let Some(mut instance) = self.instances.get_mut(index).and_then(Option::take) else { return };
        // A cloud's instance going away ends its attachments and what they held: none of their
        // handles may reach whatever instance takes the slot next.
        self.clouds.retain(|c| c.index != index);
        let stale: Vec<(OpenId, Handle)> = instance
            .attached_registrations
            .iter()
            .map(|a| (a.open, a.handle))
            .chain(instance.attached_searches.iter().map(|a| (a.open, a.handle)))
            .collect();
        for (open, handle) in stale {
            self.remove_object(open, handle);
        }
        for o in self.opens.iter_mut().filter_map(|s| s.value.as_mut()) {
            for slot in &mut o.objects {
                if matches!(slot.value, Some(Object::Attachment(i)) if i == index) {
                    slot.value = None;
                    slot.generation = slot.generation.wrapping_add(1).max(1);
                }
            }
        }
        instance.node.close(now);
        // The revocations the close produced still go out.
        while let Some(t) = instance.node.poll_transmit() {
            self.push_outgoing(Outgoing {
                transport: instance.transport,
                destination: t.destination,
                payload: t.payload,
            });
        }
        platform.unbind(instance.transport);
    }

    /// Ends what `open` registered and searched through its attachment to instance `index`:
    /// its keys are unregistered (revoked), its searches end.
    fn detach(&mut self, now: Instant, open: OpenId, index: usize) {
        let Some(Some(instance)) = self.instances.get_mut(index) else { return };
        let (mine, others): (Vec<_>, Vec<_>) =
            instance.attached_registrations.drain(..).partition(|a| a.open == open);
        instance.attached_registrations = others;
        let (searches, others): (Vec<_>, Vec<_>) =
            instance.attached_searches.drain(..).partition(|a| a.open == open);
        instance.attached_searches = others;
        for a in &mine {
            let _ = instance.node.unregister(now, a.id);
        }
        for a in &searches {
            let _ = instance.node.end_search(a.id);
        }
        for h in mine.iter().map(|a| a.handle).chain(searches.iter().map(|a| a.handle)) {
            self.remove_object(open, h);
        }
        self.drain(index);
    }

    /// Publishes a standing instance of `open` as a PNRP cloud named `name`, which other opens
    /// attach to with ATTACH_CLOUD. At most [`MAX_CLOUDS`]; names are unique.
    pub fn publish_cloud(
        &mut self,
        open: OpenId,
        instance: Handle,
        name: &str,
        scope: u32,
        scope_id: u32,
    ) -> Result<(), u32> {
        let Object::Instance(index) = self.resolve(open, instance, HandleKind::Instance)? else {
            return Err(status::INVALID_HANDLE);
        };
        pnrp::check_cloud_name(name).map_err(|e| e.status())?;
        if self.clouds.iter().any(|c| c.name == name || c.index == index) {
            return Err(status::ADDRESS_ALREADY_EXISTS);
        }
        if self.clouds.len() >= MAX_CLOUDS {
            return Err(status::INSUFFICIENT_RESOURCES);
        }
        self.clouds.push(Cloud { name: String::from(name), index, scope, scope_id });
        Ok(())
    }

    /// The published clouds' names.
    pub fn cloud_names(&self) -> impl Iterator<Item = &str> {
        self.clouds.iter().map(|c| c.name.as_str())
    }

    /// An instance handle of `open`: its own instance, or its attachment to a cloud (then the
    /// attachment handle is returned too).
    fn instance_of(&self, open: OpenId, handle: Handle) -> Result<(usize, Option<Handle>), u32> {
        match self.resolve(open, handle, HandleKind::Instance)? {
            Object::Instance(index) => Ok((index, None)),
            Object::Attachment(index) => Ok((index, Some(handle))),
            _ => Err(status::INVALID_HANDLE),
        }
    }

    fn attach_cloud(&mut self, open: OpenId, name: &str) -> Result<Response<'static>, u32> {
        let index = self
            .clouds
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.index)
            .ok_or(status::OBJECT_NAME_NOT_FOUND)?;
        let o = self.open_ref(open).ok_or(status::INVALID_HANDLE)?;
        let attached: Vec<usize> = o
            .objects
            .iter()
            .filter_map(|s| match s.value {
                Some(Object::Attachment(i)) => Some(i),
                _ => None,
            })
            .collect();
        if attached.contains(&index) {
            return Err(status::ADDRESS_ALREADY_EXISTS);
        }
        if attached.len() >= MAX_ATTACHMENTS_PER_OPEN {
            return Err(status::INSUFFICIENT_RESOURCES);
        }
        let port = self.instance_mut(index)?.port;
        let handle = self.insert_object(open, Object::Attachment(index))?;
        Ok(Response::Instance { instance: handle, port })
    }

    fn enum_clouds<'s>(&self, scratch: &'s mut [u8]) -> Result<Response<'s>, u32> {
        let records: Vec<pnrp::CloudRecord<'_>> = self
            .clouds
            .iter()
            .filter_map(|c| {
                let i = self.instances.get(c.index)?.as_ref()?;
                Some(pnrp::CloudRecord {
                    name: &c.name,
                    scope: c.scope,
                    scope_id: c.scope_id,
                    status: match i.node.status() {
                        Status::Active => drt_status::ACTIVE,
                        Status::Alone => drt_status::ALONE,
                        Status::NoNetwork => drt_status::NO_NETWORK,
                        Status::Faulted => drt_status::FAULTED,
                    },
                    port: i.port,
                })
            })
            .collect();
        pnrp::CloudRecords::encode_into(&records, scratch).map(Response::Clouds).map_err(|e| e.status())
    }

    // ----- handles ----------------------------------------------------------------------------

    fn insert_object(&mut self, open: OpenId, object: Object) -> Result<Handle, u32> {
        let o = self.open_mut(open).ok_or(status::INVALID_HANDLE)?;
        let slot = match o.objects.iter().position(|s| s.value.is_none()) {
            Some(i) => i,
            None if o.objects.len() < MAX_OBJECTS_PER_OPEN => {
                o.objects.push(Slot { generation: 1, value: None });
                o.objects.len() - 1
            }
            None => return Err(status::INSUFFICIENT_RESOURCES),
        };
        let s = &mut o.objects[slot];
        s.value = Some(object);
        Ok(handles::make(open, object.kind(), slot as u16, s.generation))
    }

    fn resolve(&self, open: OpenId, handle: Handle, kind: HandleKind) -> Result<Object, u32> {
        let (slot, generation) = handles::split(handle, open, kind).ok_or(status::INVALID_HANDLE)?;
        let o = self.open_ref(open).ok_or(status::INVALID_HANDLE)?;
        o.objects
            .get(usize::from(slot))
            .filter(|s| s.generation == generation)
            .and_then(|s| s.value)
            .ok_or(status::INVALID_HANDLE)
    }

    fn remove_object(&mut self, open: OpenId, handle: Handle) {
        let Some((slot, generation)) = [HandleKind::Instance, HandleKind::Registration, HandleKind::Search]
            .iter()
            .find_map(|k| handles::split(handle, open, *k))
        else {
            return;
        };
        if let Some(s) = self.open_mut(open).and_then(|o| o.objects.get_mut(usize::from(slot)))
            && s.generation == generation
        {
            s.value = None;
            s.generation = s.generation.wrapping_add(1).max(1);
        }
    }

    fn instance_mut(&mut self, index: usize) -> Result<&mut Instance, u32> {
        self.instances.get_mut(index).and_then(Option::as_mut).ok_or(status::INVALID_HANDLE)
    }

    // ----- IOCTLs -----------------------------------------------------------------------------

    /// IRP_MJ_DEVICE_CONTROL with METHOD_BUFFERED semantics. A wait-for-event may pend under
    /// `irp.token`.
    pub fn ioctl(
        &mut self,
        now: Instant,
        open: OpenId,
        irp: Irp<'_>,
        platform: &mut dyn Platform,
    ) -> Completion {
        let Irp { code, input, output, token } = irp;
        if self.open_ref(open).is_none_or(|o| o.cleaned_up) {
            return Completion::fail(status::INVALID_HANDLE);
        }
        let request = match Request::decode(code, input) {
            Ok(r) => r,
            Err(e) => {
                self.stats.bad_requests += 1;
                return Completion::fail(e.status());
            }
        };
        if let Request::Group { utc, request } = request {
            return self.group_ioctl(now, open, utc, &request, output, platform);
        }
        if output.len() < output_needed(code) {
            return Completion::fail(status::BUFFER_TOO_SMALL);
        }
        if let Request::WaitEvent = request {
            return self.wait_event(open, output, token);
        }
        let mut scratch = [0u8; SCRATCH_LEN];
        let result = self.dispatch(now, open, request, platform, &mut scratch);
        self.drain_all();
        match result {
            Ok(response) => match response.encode(output) {
                Ok(information) => Completion::Complete { status: status::SUCCESS, information },
                Err(AbiError::BufferTooSmall { .. }) => Completion::fail(status::BUFFER_TOO_SMALL),
                Err(e) => Completion::fail(e.status()),
            },
            Err(status) => Completion::fail(status),
        }
    }

    fn dispatch<'s>(
        &mut self,
        now: Instant,
        open: OpenId,
        request: Request<'_>,
        platform: &mut dyn Platform,
        scratch: &'s mut [u8],
    ) -> Result<Response<'s>, u32> {
        match request {
            Request::OpenInstance(settings) => self.open_instance(now, open, &settings, platform),
            Request::CloseInstance { instance } => {
                let Object::Instance(index) = self.resolve(open, instance, HandleKind::Instance)? else {
                    return Err(status::INVALID_HANDLE);
                };
                let (registrations, searches) = {
                    let i = self.instance_mut(index)?;
                    (core::mem::take(&mut i.registrations), core::mem::take(&mut i.searches))
                };
                for h in registrations.iter().map(|(_, h)| *h).chain(searches.iter().map(|(_, h)| *h)) {
                    self.remove_object(open, h);
                }
                self.remove_object(open, instance);
                if let Some(o) = self.open_mut(open) {
                    o.instances = o.instances.saturating_sub(1);
                }
                self.destroy_instance(now, index, platform);
                Ok(Response::Empty)
            }
            Request::RegisterKey { instance, key, app_data, credential } => {
                let (index, via) = self.instance_of(open, instance)?;
                let credential = match credential {
                    Some(c) => KeyCredential::Identity(Box::new(identity(c.secret, c.certificate)?)),
                    None => KeyCredential::None,
                };
                let id = self
                    .instance_mut(index)?
                    .node
                    .register(now, *key, app_data, credential)
                    .map_err(status_of)?;
                match self.insert_object(open, Object::Registration(index, id)) {
                    Ok(handle) => {
                        let i = self.instance_mut(index)?;
                        match via {
                            None => i.registrations.push((id, handle)),
                            Some(via) => {
                                i.attached_registrations.push(Attached { id, handle, open, via, key: *key })
                            }
                        }
                        Ok(Response::Registration { registration: handle })
                    }
                    Err(e) => {
                        let _ = self.instance_mut(index)?.node.unregister(now, id);
                        Err(e)
                    }
                }
            }
            Request::UpdateKey { registration, app_data } => {
                let Object::Registration(index, id) =
                    self.resolve(open, registration, HandleKind::Registration)?
                else {
                    return Err(status::INVALID_HANDLE);
                };
                self.instance_mut(index)?.node.update(now, id, app_data).map_err(status_of)?;
                Ok(Response::Empty)
            }
            Request::UnregisterKey { registration } => {
                let Object::Registration(index, id) =
                    self.resolve(open, registration, HandleKind::Registration)?
                else {
                    return Err(status::INVALID_HANDLE);
                };
                let i = self.instance_mut(index)?;
                i.node.unregister(now, id).map_err(status_of)?;
                i.registrations.retain(|(r, _)| *r != id);
                i.attached_registrations.retain(|a| a.id != id);
                self.remove_object(open, registration);
                Ok(Response::Empty)
            }
            Request::StartSearch(s) => self.start_search(now, open, &s),
            Request::ContinueSearch { search } => {
                let Object::Search(index, id) = self.resolve(open, search, HandleKind::Search)? else {
                    return Err(status::INVALID_HANDLE);
                };
                self.instance_mut(index)?.node.continue_search(now, id).map_err(status_of)?;
                Ok(Response::Empty)
            }
            Request::EndSearch { search } => {
                let Object::Search(index, id) = self.resolve(open, search, HandleKind::Search)? else {
                    return Err(status::INVALID_HANDLE);
                };
                let i = self.instance_mut(index)?;
                let _ = i.node.end_search(id);
                i.searches.retain(|(s, _)| *s != id);
                i.attached_searches.retain(|a| a.id != id);
                self.remove_object(open, search);
                Ok(Response::Empty)
            }
            Request::GetSearchPath { search } => {
                let Object::Search(index, id) = self.resolve(open, search, HandleKind::Search)? else {
                    return Err(status::INVALID_HANDLE);
                };
                let i = self.instance_mut(index)?;
                let records: Vec<PathRecord> = i
                    .node
                    .search_path(id)
                    .unwrap_or_default()
                    .iter()
                    .take(MAX_PATH_ENTRIES)
                    .map(|p| PathRecord {
                        endpoint: endpoint_record(&p.endpoint),
                        flags: p.flags,
                        nearness: p.nearness,
                        latency_ms: u32::try_from(p.latency.as_millis()).unwrap_or(u32::MAX),
                    })
                    .collect();
                PathRecords::encode_into(&records, scratch).map(Response::Path).map_err(|e| e.status())
            }
            Request::QueryInstance { instance } => {
                let (index, _) = self.instance_of(open, instance)?;
                let i = self.instance_mut(index)?;
                let stats = i.node.stats();
                Ok(Response::InstanceInfo(InstanceInfo {
                    status: i.node.status() as u32,
                    port: i.port,
                    cache_entries: i.node.cache().len() as u32,
                    registrations: i.registrations.len() as u32,
                    sent: stats.sent,
                    received: stats.received,
                }))
            }
            Request::WaitEvent => Err(status::INVALID_DEVICE_REQUEST),
            Request::AttachCloud { name } => self.attach_cloud(open, name),
            Request::DetachCloud { attachment } => {
                let Object::Attachment(index) = self.resolve(open, attachment, HandleKind::Instance)? else {
                    return Err(status::INVALID_HANDLE);
                };
                self.detach(now, open, index);
                self.remove_object(open, attachment);
                Ok(Response::Empty)
            }
            Request::EnumClouds => self.enum_clouds(scratch),
            // Run by `group_ioctl` before dispatch.
            Request::Group { .. } => Err(status::INVALID_DEVICE_REQUEST),
        }
    }

    fn open_instance(
        &mut self,
        now: Instant,
        open: OpenId,
        s: &OpenInstance<'_>,
        platform: &mut dyn Platform,
    ) -> Result<Response<'static>, u32> {
        if !(1..=MAX_ROUTE_ADDRESSES as u32).contains(&s.max_addresses) {
            return Err(drt(hresult::DRT_E_INVALID_MAX_ADDRESSES));
        }
        if !(1..=3).contains(&s.scope) {
            return Err(drt(hresult::DRT_E_INVALID_SCOPE));
        }
        let mode = match (s.security_mode, s.security) {
            (0, _) => SecurityMode::Resolve,
            (1, _) => SecurityMode::Membership,
            // The Null provider has nothing to encrypt (the SDK sample pairs it with
            // CONFIDENTIALPAYLOAD); the derived-key provider's encryption is not implemented.
            (2, SecurityKind::Null) => SecurityMode::Resolve,
            (2, SecurityKind::DerivedKey) => return Err(drt(hresult::DRT_E_CAPABILITY_MISMATCH)),
            _ => return Err(drt(hresult::DRT_E_INVALID_SECURITY_MODE)),
        };
        let security: BoxedProvider = match s.security {
            SecurityKind::Null => Box::new(NullProvider),
            SecurityKind::DerivedKey => {
                let root = s.root.ok_or(drt(hresult::DRT_E_INVALID_SECURITY_PROVIDER))?;
                let root = ed25519_dalek::VerifyingKey::from_bytes(root)
                    .map_err(|_| drt(hresult::DRT_E_INVALID_SECURITY_PROVIDER))?;
                let local = s.identity.map(|i| identity(i.secret, i.certificate)).transpose()?;
                Box::new(DerivedKeyProvider::new(root, local, mode).map_err(status_of)?)
            }
        };
        {
            let o = self.open_ref(open).ok_or(status::INVALID_HANDLE)?;
            if o.instances >= MAX_INSTANCES_PER_OPEN
                || o.objects.iter().all(|s| s.value.is_some()) && o.objects.len() >= MAX_OBJECTS_PER_OPEN
            {
                return Err(status::INSUFFICIENT_RESOURCES);
            }
        }
        let index = match self.instances.iter().position(Option::is_none) {
            Some(i) => i,
            None if self.instances.len() < MAX_INSTANCES => {
                self.instances.push(None);
                self.instances.len() - 1
            }
            None => return Err(status::INSUFFICIENT_RESOURCES),
        };
        let bound = platform.bind(s.port, s.scope, s.scope_id)?;
        let mut addresses = bound.addresses.clone();
        addresses.truncate(s.max_addresses as usize);
        if addresses.is_empty() {
            platform.unbind(bound.id);
            return Err(drt(hresult::DRT_E_NO_ADDRESSES_AVAILABLE));
        }
        let config = NodeConfig {
            version: ProtocolVersion::new(s.version_major, s.version_minor),
            port: bound.port,
            addresses,
            seeds: s.seeds.iter().map(|e| Endpoint { addr: Ipv6Addr::from(e.addr), port: e.port }).collect(),
            security,
            rng_seed: platform.random_seed(),
            timing: Timing::default(),
            flood: self.flood_limits,
        };
        let mut node = match Node::new(config) {
            Ok(node) => node,
            Err(e) => {
                platform.unbind(bound.id);
                return Err(if e == DrtError::InvalidArgument {
                    drt(hresult::DRT_E_INVALID_PORT)
                } else {
                    status_of(e)
                });
            }
        };
        node.set_search_settings(self.search_settings);
        let handle = match self.insert_object(open, Object::Instance(index)) {
            Ok(h) => h,
            Err(e) => {
                platform.unbind(bound.id);
                return Err(e);
            }
        };
        if let Some(o) = self.open_mut(open) {
            o.instances += 1;
        }
        let mut instance = Instance {
            open,
            handle,
            node,
            transport: bound.id,
            port: bound.port,
            registrations: Vec::new(),
            searches: Vec::new(),
            attached_registrations: Vec::new(),
            attached_searches: Vec::new(),
        };
        instance.node.start(now);
        self.instances[index] = Some(instance);
        Ok(Response::Instance { instance: handle, port: bound.port })
    }

    fn start_search(
        &mut self,
        now: Instant,
        open: OpenId,
        s: &StartSearch<'_>,
    ) -> Result<Response<'static>, u32> {
        let (index, via) = self.instance_of(open, s.instance)?;
        let mut info = SearchInfo {
            iterative: s.iterative,
            allow_current_instance_match: s.allow_current_instance_match,
            any_match_in_range: s.any_match_in_range,
            max_endpoints: s.max_endpoints,
            range: s.range.map(|(min, max)| (*min, *max)),
        };
        if via.is_some() && info.allow_current_instance_match && !info.any_match_in_range && !info.iterative {
            // The open's own keys are filtered out of its results (see `drain`): ask for as
            // many more as it has keys the search could return, so they take no one's place.
            let own = self
                .instance_mut(index)?
                .attached_registrations
                .iter()
                .filter(|a| a.open == open && info.accepts(s.key, &a.key));
            let extra = own.count() as u32;
            if info.range.is_some() && info.max_endpoints >= 1 {
                info.max_endpoints =
                    info.max_endpoints.saturating_add(extra).min(peerdrt_core::drt::MAX_SEARCH_RESULTS);
            }
        }
        let timeout = Duration::from_millis(u64::from(s.timeout_ms)).min(MAX_SEARCH_TIMEOUT);
        let id =
            self.instance_mut(index)?.node.start_search(now, *s.key, info, timeout).map_err(status_of)?;
        match self.insert_object(open, Object::Search(index, id)) {
            Ok(handle) => {
                let i = self.instance_mut(index)?;
                match via {
                    None => i.searches.push((id, handle)),
                    Some(via) => i.attached_searches.push(Attached { id, handle, open, via, key: *s.key }),
                }
                Ok(Response::Search { search: handle })
            }
            Err(e) => {
                let _ = self.instance_mut(index)?.node.end_search(id);
                Err(e)
            }
        }
    }

    fn wait_event(&mut self, open: OpenId, output: &mut [u8], token: WaitToken) -> Completion {
        let Some(o) = self.open_mut(open) else { return Completion::fail(status::INVALID_HANDLE) };
        if let Some(event) = o.events.pop_front() {
            // The capacity was checked against the largest event, so this always fits.
            let len = event.len().min(output.len());
            output[..len].copy_from_slice(&event[..len]);
            return Completion::Complete { status: status::SUCCESS, information: len };
        }
        if o.waits.len() >= MAX_WAITS_PER_OPEN {
            return Completion::fail(status::INSUFFICIENT_RESOURCES);
        }
        o.waits.push_back(token);
        Completion::Pending
    }

    /// Cancels a pending wait (IRP cancellation). Returns whether it was pending; if so its
    /// completion (STATUS_CANCELLED) is queued.
    pub fn cancel_wait(&mut self, open: OpenId, token: WaitToken) -> bool {
        let Some(o) = self.open_mut(open) else { return false };
        let Some(i) = o.waits.iter().position(|t| *t == token) else { return false };
        o.waits.remove(i);
        self.completions.push_back(WaitCompletion {
            open,
            token,
            status: status::CANCELLED,
            output: Vec::new(),
        });
        true
    }

    // ----- datagrams and time -----------------------------------------------------------------

    /// A datagram arrived on `transport` (dequeued by the worker from the receive queue).
    pub fn handle_datagram(&mut self, now: Instant, transport: TransportId, from: Endpoint, bytes: &[u8]) {
        if self.group_datagram(now, transport, from, bytes) {
            return;
        }
        let Some(index) =
            self.instances.iter().position(|i| i.as_ref().is_some_and(|i| i.transport == transport))
        else {
            self.stats.unrouted_datagrams += 1;
            return;
        };
        if let Some(Some(instance)) = self.instances.get_mut(index) {
            instance.node.handle_datagram(now, from, bytes);
        }
        self.drain(index);
    }

    /// Timers: call at or after [`Device::next_deadline`].
    pub fn handle_timeout(&mut self, now: Instant) {
        for index in 0..self.instances.len() {
            let due =
                self.instances[index].as_ref().and_then(|i| i.node.next_deadline()).is_some_and(|d| d <= now);
            if due {
                if let Some(Some(instance)) = self.instances.get_mut(index) {
                    instance.node.handle_timeout(now);
                }
                self.drain(index);
            }
        }
        self.group_timeout(now);
    }

    /// The earliest timer of any instance or group.
    pub fn next_deadline(&self) -> Option<Instant> {
        let instances = self.instances.iter().flatten().filter_map(|i| i.node.next_deadline()).min();
        match (instances, self.group_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Outgoing> {
        self.outbox.pop_front()
    }

    /// Gives back the payload of a sent datagram to the instance on `transport`, whose node
    /// encodes later datagrams into it (no allocation per answer in steady state).
    pub fn recycle(&mut self, transport: TransportId, payload: Vec<u8>) {
        if let Some(instance) = self.instances.iter_mut().flatten().find(|i| i.transport == transport) {
            instance.node.recycle(payload);
        }
    }

    /// The next completed wait.
    pub fn poll_wait_completion(&mut self) -> Option<WaitCompletion> {
        self.completions.pop_front()
    }

    fn push_outgoing(&mut self, outgoing: Outgoing) {
        if self.outbox.len() >= MAX_OUTBOX {
            self.stats.outbox_dropped += 1;
        } else {
            self.outbox.push_back(outgoing);
        }
    }

    fn drain_all(&mut self) {
        for index in 0..self.instances.len() {
            self.drain(index);
        }
    }

    /// Moves an instance's datagrams to the outbox and its events to its open's queue. The
    /// datagram path allocates nothing here: datagrams move straight into the outbox (which keeps
    /// its capacity), and the event vectors stay empty, unallocated, when there are no events.
    fn drain(&mut self, index: usize) {
        let Some(Some(instance)) = self.instances.get_mut(index) else { return };
        let transport = instance.transport;
        while let Some(t) = instance.node.poll_transmit() {
            if self.outbox.len() >= MAX_OUTBOX {
                self.stats.outbox_dropped += 1;
            } else {
                self.outbox.push_back(Outgoing { transport, destination: t.destination, payload: t.payload });
            }
        }
        let mut events = Vec::new();
        while let Some(e) = instance.node.poll_event() {
            events.push(e);
        }
        let mut encoded = Vec::with_capacity(events.len());
        for event in events {
            let Some(route) = route(instance, &event) else { continue };
            if let Some(bytes) = encode_event(&route, &event) {
                encoded.push((route.open, bytes));
            }
        }
        for (open, bytes) in encoded {
            self.deliver(open, bytes);
        }
    }

    /// The adapter could not complete `completion`'s wait with its event: the request was
    /// cancelled (its cancel routine ran) after the engine had chosen it. The event goes back to
    /// the front of its open's queue, for the next wait, instead of being lost.
    pub fn wait_completion_undelivered(&mut self, completion: WaitCompletion) {
        let WaitCompletion { open, status, output, .. } = completion;
        if status != status::SUCCESS || output.is_empty() {
            return;
        }
        let Some(o) = self.open_mut(open).filter(|o| !o.cleaned_up) else { return };
        if let Some(token) = o.waits.pop_front() {
            self.completions.push_back(WaitCompletion { open, token, status, output });
            return;
        }
        if o.events.len() >= MAX_EVENTS_PER_OPEN {
            // The queue filled meanwhile: this event is the oldest, and the oldest make way.
            self.stats.events_dropped += 1;
            return;
        }
        o.events.push_front(output);
    }

    fn deliver(&mut self, open: OpenId, event: Vec<u8>) {
        let Some(o) = self.open_mut(open).filter(|o| !o.cleaned_up) else { return };
        if let Some(token) = o.waits.pop_front() {
            self.completions.push_back(WaitCompletion {
                open,
                token,
                status: status::SUCCESS,
                output: event,
            });
            return;
        }
        let full = o.events.len() >= MAX_EVENTS_PER_OPEN;
        if full {
            o.events.pop_front();
        }
        o.events.push_back(event);
        if full {
            self.stats.events_dropped += 1;
        }
    }
}

/// Who an instance's event is for: status and leaf-set events go to the instance's owner; a
/// registration's or search's events to the open that made it (possibly through an
/// attachment). A result of an attached search that is a key its own open registered is
/// dropped: a process never resolves its own PNRP registrations.
fn route(instance: &Instance, event: &Event) -> Option<Route> {
    let owner = Route { open: instance.open, instance: instance.handle, object: None };
    fn attached<T>(a: &Attached<T>) -> Route {
        Route { open: a.open, instance: a.via, object: Some(a.handle) }
    }
    match event {
        Event::StatusChanged { .. } | Event::LeafSetKeyChanged { .. } => Some(owner),
        Event::RegistrationStateChanged { registration, .. } => {
            if let Some((_, h)) = instance.registrations.iter().find(|(r, _)| r == registration) {
                return Some(Route { object: Some(*h), ..owner });
            }
            instance.attached_registrations.iter().find(|a| a.id == *registration).map(attached)
        }
        Event::SearchResult { search, .. } | Event::SearchEnded { search, .. } => {
            if let Some((_, h)) = instance.searches.iter().find(|(s, _)| s == search) {
                return Some(Route { object: Some(*h), ..owner });
            }
            let a = instance.attached_searches.iter().find(|a| a.id == *search)?;
            if let Event::SearchResult { result, .. } = event
                && instance.attached_registrations.iter().any(|r| r.open == a.open && r.key == result.key)
            {
                return None;
            }
            Some(attached(a))
        }
    }
}

fn encode_event(route: &Route, event: &Event) -> Option<Vec<u8>> {
    let handle = route.instance;
    let mut seed_buf = [0u8; peerdrt_abi::MAX_SEEDS * peerdrt_abi::ENDPOINT_LEN];
    let record = match event {
        Event::StatusChanged { status, bootstrap } => {
            let records: Vec<EndpointRecord> =
                bootstrap.iter().take(peerdrt_abi::MAX_SEEDS).map(endpoint_record).collect();
            EventRecord::StatusChanged {
                instance: handle,
                status: match status {
                    Status::Active => drt_status::ACTIVE,
                    Status::Alone => drt_status::ALONE,
                    Status::NoNetwork => drt_status::NO_NETWORK,
                    Status::Faulted => drt_status::FAULTED,
                },
                bootstrap: encode_endpoints(&records, &mut seed_buf).ok()?,
            }
        }
        Event::LeafSetKeyChanged { local_key, remote_key, change } => EventRecord::LeafSetKeyChanged {
            instance: handle,
            change: match change {
                LeafSetChange::Added => 0,
                LeafSetChange::Deleted => 1,
            },
            local_key,
            remote_key,
        },
        Event::RegistrationStateChanged { registration, key, state } => {
            let _ = registration;
            EventRecord::RegistrationStateChanged {
                instance: handle,
                registration: route.object?,
                state: *state as u32,
                key,
            }
        }
        Event::SearchResult { search, result } => EventRecord::SearchResult {
            instance: handle,
            search: {
                let _ = search;
                route.object?
            },
            match_type: match result.match_type {
                MatchType::Exact => 0,
                MatchType::Near => 1,
                MatchType::Intermediate => 2,
            },
            key: &result.key,
            endpoint: endpoint_record(&result.endpoint),
            app_data: &result.app_data,
        },
        Event::SearchEnded { search, end } => EventRecord::SearchEnded {
            instance: handle,
            search: {
                let _ = search;
                route.object?
            },
            hresult: match end {
                SearchEnd::Complete => hresult::DRT_E_NO_MORE,
                SearchEnd::TimedOut => hresult::DRT_E_TIMEOUT,
                SearchEnd::Faulted => hresult::DRT_E_FAULTED,
            },
        },
    };
    // Sized to the record (most are tens of bytes; only a result with a large payload nears
    // MAX_EVENT_LEN): the encoder reports the length it needs.
    let needed = match record.encode(&mut []) {
        Err(AbiError::BufferTooSmall { needed }) if needed <= MAX_EVENT_LEN => needed,
        _ => return None,
    };
    let mut buf = alloc::vec![0u8; needed];
    let len = record.encode(&mut buf).ok()?;
    buf.truncate(len);
    Some(buf)
}

#[cfg(test)]
#[path = "open_lifecycle_tests.rs"]
mod open_lifecycle_tests;
#[cfg(test)]
#[path = "outbox_tests.rs"]
mod outbox_tests;
#[cfg(test)]
#[path = "test_requests.rs"]
mod test_requests;

#[cfg(test)]
#[path = "search_settings_tests.rs"]
mod search_settings_tests;
