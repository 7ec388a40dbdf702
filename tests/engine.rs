//! The platform-neutral device, driven the way the kernel glue and the Linux adapter drive it,
//! over an in-memory network: opens, handle ownership, events and waits, quotas, bad input.

use std::collections::{HashMap, VecDeque};
use std::net::Ipv6Addr;
use std::time::Duration;

use peerdrt::abi::status::{self, hresult};
use peerdrt::abi::*;
use peerdrt::core::time::Instant;
use peerdrt::core::wire::Endpoint;
use peerdrt::engine::*;

/// Sockets of every device, keyed by endpoint; datagrams wait in a queue.
#[derive(Default)]
struct Net {
    next_port: u16,
    sockets: HashMap<Endpoint, (usize, TransportId)>,
    by_transport: HashMap<(usize, TransportId), Endpoint>,
    queue: VecDeque<(usize, TransportId, Endpoint, Vec<u8>)>,
}

struct Platform<'n> {
    net: &'n mut Net,
    device: usize,
    next_id: &'n mut TransportId,
}

impl peerdrt::engine::Platform for Platform<'_> {
    fn bind(&mut self, port: u16, _scope: u32, _scope_id: u32) -> Result<Bound, u32> {
        let port = if port == 0 {
            self.net.next_port += 1;
            20_000 + self.net.next_port
        } else {
            port
        };
        let endpoint = Endpoint { addr: Ipv6Addr::LOCALHOST, port };
        if self.net.sockets.contains_key(&endpoint) {
            return Err(status::ADDRESS_ALREADY_EXISTS);
        }
        *self.next_id += 1;
        let id = *self.next_id;
        self.net.sockets.insert(endpoint, (self.device, id));
        self.net.by_transport.insert((self.device, id), endpoint);
        Ok(Bound { id, port, addresses: vec![Ipv6Addr::LOCALHOST] })
    }
    fn unbind(&mut self, id: TransportId) {
        // Datagrams queued before the unbind still go out from the old endpoint.
        if let Some(e) = self.net.by_transport.get(&(self.device, id)) {
            self.net.sockets.remove(e);
        }
    }
    fn random_seed(&mut self) -> [u8; 32] {
        [*self.next_id as u8 + self.device as u8; 32]
    }
}

/// DrtOpen's settings as the shim sends them: DRT 6.101, Null provider, global scope.
fn open_settings(seeds: Endpoints<'_>, max_addresses: u32, scope: u32, security_mode: u32) -> Request<'_> {
    Request::OpenInstance(OpenInstance {
        version_major: 6,
        version_minor: 0x65,
        port: 0,
        scope,
        scope_id: 0,
        max_addresses,
        security_mode,
        security: SecurityKind::Null,
        root: None,
        identity: None,
        seeds,
    })
}

struct World {
    now: Instant,
    net: Net,
    devices: Vec<Device>,
    next_ids: Vec<TransportId>,
    completions: Vec<Vec<WaitCompletion>>,
}

struct Reply {
    status: u32,
    output: Vec<u8>,
}

impl World {
    fn new(devices: usize) -> Self {
        Self {
            now: Instant(1),
            net: Net::default(),
            devices: (0..devices).map(|_| Device::new()).collect(),
            next_ids: vec![0; devices],
            completions: vec![Vec::new(); devices],
        }
    }

    fn ioctl(
        &mut self,
        d: usize,
        open: OpenId,
        request: &Request<'_>,
        capacity: usize,
    ) -> Result<Reply, Completion> {
        let mut input = vec![0u8; 8192];
        let len = request.encode(&mut input).unwrap();
        self.raw(d, open, request.code(), &input[..len], capacity, 1)
    }

    fn raw(
        &mut self,
        d: usize,
        open: OpenId,
        code: u32,
        input: &[u8],
        capacity: usize,
        token: WaitToken,
    ) -> Result<Reply, Completion> {
        let mut output = vec![0u8; capacity];
        let mut platform = Platform { net: &mut self.net, device: d, next_id: &mut self.next_ids[d] };
        let completion = self.devices[d].ioctl(
            self.now,
            open,
            Irp { code, input, output: &mut output, token },
            &mut platform,
        );
        self.pump();
        match completion {
            Completion::Complete { status, information } => {
                output.truncate(information);
                Ok(Reply { status, output })
            }
            pending => Err(pending),
        }
    }

    fn pump(&mut self) {
        for d in 0..self.devices.len() {
            while let Some(out) = self.devices[d].poll_transmit() {
                let from = self.net.by_transport[&(d, out.transport)];
                if let Some(&(to_dev, to_transport)) = self.net.sockets.get(&out.destination) {
                    self.net.queue.push_back((to_dev, to_transport, from, out.payload));
                }
            }
            while let Some(c) = self.devices[d].poll_wait_completion() {
                self.completions[d].push(c);
            }
        }
    }

    /// Runs the network and timers for `duration` of virtual time, 5 ms per step.
    fn run(&mut self, duration: Duration) {
        let end = self.now.saturating_add(duration);
        while self.now < end {
            while let Some((d, transport, from, bytes)) = self.net.queue.pop_front() {
                self.devices[d].handle_datagram(self.now, transport, from, &bytes);
                self.pump();
            }
            self.now = self.now.saturating_add(Duration::from_millis(5));
            for d in 0..self.devices.len() {
                self.devices[d].handle_timeout(self.now);
            }
            self.pump();
        }
    }

    fn open_instance(&mut self, d: usize, open: OpenId, seeds: &[u16]) -> (Handle, u16) {
        let records: Vec<EndpointRecord> =
            seeds.iter().map(|&p| EndpointRecord { addr: Ipv6Addr::LOCALHOST.octets(), port: p }).collect();
        let mut buf = [0u8; 512];
        let seeds = encode_endpoints(&records, &mut buf).unwrap();
        let request = open_settings(seeds, 4, 1, 0);
        let reply = self.ioctl(d, open, &request, 64).ok().unwrap();
        assert_eq!(reply.status, status::SUCCESS);
        match Response::decode(ioctl::OPEN_INSTANCE, &reply.output).unwrap() {
            Response::Instance { instance, port } => (instance, port),
            other => panic!("{other:?}"),
        }
    }

    fn register(
        &mut self,
        d: usize,
        open: OpenId,
        instance: Handle,
        key: &KeyBytes,
        data: &[u8],
    ) -> Result<Handle, u32> {
        let reply = self
            .ioctl(d, open, &Request::RegisterKey { instance, key, app_data: data, credential: None }, 64)
            .ok()
            .unwrap();
        match Response::decode(ioctl::REGISTER_KEY, &reply.output) {
            Ok(Response::Registration { registration }) if reply.status == status::SUCCESS => {
                Ok(registration)
            }
            _ => Err(reply.status),
        }
    }

    fn search(&mut self, d: usize, open: OpenId, instance: Handle, key: &KeyBytes) -> Handle {
        let request = Request::StartSearch(StartSearch {
            instance,
            key,
            iterative: false,
            allow_current_instance_match: false,
            any_match_in_range: false,
            max_endpoints: 1,
            range: None,
            timeout_ms: 5000,
        });
        let reply = self.ioctl(d, open, &request, 64).ok().unwrap();
        assert_eq!(reply.status, status::SUCCESS);
        let Ok(Response::Search { search }) = Response::decode(ioctl::START_SEARCH, &reply.output) else {
            panic!()
        };
        search
    }

    /// Every event of `open` so far, by waiting until nothing is left.
    fn events(&mut self, d: usize, open: OpenId) -> Vec<Vec<u8>> {
        let mut out: Vec<Vec<u8>> = Vec::new();
        for c in std::mem::take(&mut self.completions[d]) {
            if c.open == open && c.status == status::SUCCESS {
                out.push(c.output);
            }
        }
        loop {
            match self.ioctl(d, open, &Request::WaitEvent, MAX_EVENT_LEN) {
                Ok(r) if r.status == status::SUCCESS => out.push(r.output),
                Ok(r) => panic!("wait failed: {:#x}", r.status),
                Err(Completion::Pending) => {
                    let token = 1;
                    assert!(self.devices[d].cancel_wait(open, token));
                    self.pump();
                    self.completions[d].retain(|c| c.token != token || c.status != status::CANCELLED);
                    return out;
                }
                Err(other) => panic!("{other:?}"),
            }
        }
    }
}

fn found(events: &[Vec<u8>], search: Handle) -> Option<Vec<u8>> {
    events.iter().find_map(|e| match EventRecord::decode(e) {
        Ok(EventRecord::SearchResult { search: s, app_data, .. }) if s == search => Some(app_data.to_vec()),
        _ => None,
    })
}

/// Three devices, one standing instance each, seeded from device 0.
fn cloud() -> (World, Vec<OpenId>, Vec<Handle>, u16) {
    let mut w = World::new(3);
    let opens: Vec<OpenId> =
        (0..3).map(|d| w.devices[d].open(Owner { pid: 100 + d as u32, uid: 1000 }).unwrap()).collect();
    let (i0, p0) = w.open_instance(0, opens[0], &[]);
    let (i1, _) = w.open_instance(1, opens[1], &[p0]);
    let (i2, _) = w.open_instance(2, opens[2], &[p0]);
    for (d, i) in [(0, i0), (1, i1), (2, i2)] {
        w.register(d, opens[d], i, &[d as u8 + 1; 32], b"node key").unwrap();
    }
    w.run(Duration::from_secs(20));
    (w, opens, vec![i0, i1, i2], p0)
}

#[test]
fn a_key_registered_through_one_device_is_found_through_another() {
    let (mut w, opens, instances, _) = cloud();
    w.register(0, opens[0], instances[0], &[0x55; 32], b"hello").unwrap();
    w.run(Duration::from_secs(2));
    let search = w.search(2, opens[2], instances[2], &[0x55; 32]);
    w.run(Duration::from_secs(2));
    let events = w.events(2, opens[2]);
    assert_eq!(found(&events, search).as_deref(), Some(&b"hello"[..]));
    assert!(events.iter().any(|e| matches!(EventRecord::decode(e), Ok(EventRecord::SearchEnded { search: s, hresult, .. }) if s == search && hresult == hresult::DRT_E_NO_MORE)));
}

#[test]
fn a_pending_wait_completes_when_the_event_arrives() {
    let (mut w, opens, instances, _) = cloud();
    w.events(1, opens[1]);
    let search = w.search(1, opens[1], instances[1], &[1; 32]);
    let pending = w.raw(1, opens[1], ioctl::WAIT_EVENT, &[1, 0, 0, 0], MAX_EVENT_LEN, 77);
    assert!(matches!(pending, Err(Completion::Pending)));
    w.run(Duration::from_secs(2));
    let done: Vec<&WaitCompletion> = w.completions[1].iter().filter(|c| c.token == 77).collect();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].status, status::SUCCESS);
    assert!(
        matches!(EventRecord::decode(&done[0].output), Ok(EventRecord::SearchResult { search: s, .. }) if s == search)
    );
}

#[test]
fn another_open_cannot_use_or_end_a_handle_even_with_its_raw_value() {
    let (mut w, opens, instances, _) = cloud();
    let registration = w.register(0, opens[0], instances[0], &[0x66; 32], b"mine").unwrap();
    let intruder = w.devices[0].open(Owner { pid: 999, uid: 1001 }).unwrap();
    for request in [
        Request::UpdateKey { registration, app_data: b"stolen" },
        Request::UnregisterKey { registration },
        Request::CloseInstance { instance: instances[0] },
        Request::QueryInstance { instance: instances[0] },
        Request::RegisterKey { instance: instances[0], key: &[0x67; 32], app_data: b"x", credential: None },
    ] {
        let reply = w.ioctl(0, intruder, &request, 64).ok().unwrap();
        assert_eq!(reply.status, status::INVALID_HANDLE, "{request:?}");
    }
    // A handle of one kind is not accepted as another.
    let reply =
        w.ioctl(0, opens[0], &Request::UnregisterKey { registration: instances[0] }, 64).ok().unwrap();
    assert_eq!(reply.status, status::INVALID_HANDLE);
    // The owner's registration is untouched.
    w.run(Duration::from_secs(1));
    let search = w.search(1, opens[1], instances[1], &[0x66; 32]);
    w.run(Duration::from_secs(2));
    assert_eq!(found(&w.events(1, opens[1]), search).as_deref(), Some(&b"mine"[..]));
}

#[test]
fn closing_an_open_unregisters_its_keys_and_cancels_its_waits() {
    let (mut w, opens, instances, p0) = cloud();
    let app = w.devices[0].open(Owner::default()).unwrap();
    let (instance, _) = w.open_instance(0, app, &[p0]);
    w.run(Duration::from_secs(3));
    w.register(0, app, instance, &[0x77; 32], b"short-lived").unwrap();
    w.run(Duration::from_secs(2));
    let pending = w.raw(0, app, ioctl::WAIT_EVENT, &[1, 0, 0, 0], MAX_EVENT_LEN, 5);
    // Events were queued, so drain until the wait pends.
    if pending.is_ok() {
        w.events(0, app);
        assert!(matches!(
            w.raw(0, app, ioctl::WAIT_EVENT, &[1, 0, 0, 0], MAX_EVENT_LEN, 5),
            Err(Completion::Pending)
        ));
    }
    let mut platform_net = std::mem::take(&mut w.net);
    {
        let mut platform = Platform { net: &mut platform_net, device: 0, next_id: &mut w.next_ids[0] };
        w.devices[0].close(w.now, app, &mut platform);
    }
    w.net = platform_net;
    w.pump();
    assert!(w.completions[0].iter().any(|c| c.open == app && c.token == 5 && c.status == status::CANCELLED));
    w.run(Duration::from_secs(2));
    let search = w.search(2, opens[2], instances[2], &[0x77; 32]);
    w.run(Duration::from_secs(3));
    assert_eq!(found(&w.events(2, opens[2]), search), None);
    assert_eq!(w.devices[0].instance_count(), 1);
    // The closed open's handles are dead, even on a new open in the same slot.
    let reopened = w.devices[0].open(Owner::default()).unwrap();
    let reply = w.ioctl(0, reopened, &Request::QueryInstance { instance }, 64).ok().unwrap();
    assert_eq!(reply.status, status::INVALID_HANDLE);
}

#[test]
fn malformed_requests_get_a_defined_status_and_change_nothing() {
    let (mut w, opens, instances, _) = cloud();
    let open = opens[0];
    let before = w.devices[0].instance_count();
    let truncated = w.raw(0, open, ioctl::OPEN_INSTANCE, &[1, 0, 0, 0, 6], 64, 1).ok().unwrap();
    assert_eq!(truncated.status, status::INVALID_PARAMETER);
    let wrong_version =
        w.raw(0, open, ioctl::QUERY_INSTANCE, &[9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 64, 1).ok().unwrap();
    assert_eq!(wrong_version.status, status::REVISION_MISMATCH);
    let unknown = w.raw(0, open, 0x0012_E000 | (0x900 << 2), &[1, 0, 0, 0], 64, 1).ok().unwrap();
    assert_eq!(unknown.status, status::INVALID_DEVICE_REQUEST);
    // Output buffers too small for the answer are refused before anything is created.
    let mut input = [0u8; 512];
    let mut buf = [0u8; 64];
    let len = open_settings(encode_endpoints(&[], &mut buf).unwrap(), 4, 1, 0).encode(&mut input).unwrap();
    let small = w.raw(0, open, ioctl::OPEN_INSTANCE, &input[..len], 4, 1).ok().unwrap();
    assert_eq!(small.status, status::BUFFER_TOO_SMALL);
    let small_wait = w.raw(0, open, ioctl::WAIT_EVENT, &[1, 0, 0, 0], 100, 1).ok().unwrap();
    assert_eq!(small_wait.status, status::BUFFER_TOO_SMALL);
    // DrtOpen's own checks.
    for (max_addresses, scope, mode, expected) in [
        (0, 1, 0, status::from_drt_hresult(hresult::DRT_E_INVALID_MAX_ADDRESSES)),
        (21, 1, 0, status::from_drt_hresult(hresult::DRT_E_INVALID_MAX_ADDRESSES)),
        (4, 0, 0, status::from_drt_hresult(hresult::DRT_E_INVALID_SCOPE)),
        (4, 1, 3, status::from_drt_hresult(hresult::DRT_E_INVALID_SECURITY_MODE)),
    ] {
        let request = open_settings(encode_endpoints(&[], &mut buf).unwrap(), max_addresses, scope, mode);
        assert_eq!(w.ioctl(0, open, &request, 64).ok().unwrap().status, expected);
    }
    assert_eq!(w.devices[0].instance_count(), before);
    assert!(w.devices[0].stats().bad_requests >= 3);
    // And the node still works.
    w.register(0, open, instances[0], &[0x88; 32], b"still here").unwrap();
}

#[test]
fn quotas_hold_at_their_edge() {
    let mut w = World::new(1);
    let open = w.devices[0].open(Owner::default()).unwrap();
    for _ in 0..MAX_INSTANCES_PER_OPEN {
        w.open_instance(0, open, &[]);
    }
    let mut buf = [0u8; 8];
    let request = open_settings(encode_endpoints(&[], &mut buf).unwrap(), 4, 1, 0);
    assert_eq!(w.ioctl(0, open, &request, 64).ok().unwrap().status, status::INSUFFICIENT_RESOURCES);
    // Waits per open.
    let other = w.devices[0].open(Owner::default()).unwrap();
    for token in 0..MAX_WAITS_PER_OPEN as u64 {
        assert!(matches!(
            w.raw(0, other, ioctl::WAIT_EVENT, &[1, 0, 0, 0], MAX_EVENT_LEN, 100 + token),
            Err(Completion::Pending)
        ));
    }
    let refused = w.raw(0, other, ioctl::WAIT_EVENT, &[1, 0, 0, 0], MAX_EVENT_LEN, 999).ok().unwrap();
    assert_eq!(refused.status, status::INSUFFICIENT_RESOURCES);
    // Opens.
    let mut device = Device::new();
    for _ in 0..MAX_OPENS {
        assert!(device.open(Owner::default()).is_some());
    }
    assert!(device.open(Owner::default()).is_none());
}

#[test]
fn an_unread_event_queue_keeps_the_newest_events() {
    let (mut w, opens, instances, _) = cloud();
    w.events(0, opens[0]);
    for i in 0..(MAX_EVENTS_PER_OPEN + 10) {
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&(i as u64).to_be_bytes());
        // Each search against an empty-ish local set ends at once with an event or two.
        let request = Request::StartSearch(StartSearch {
            instance: instances[0],
            key: &key,
            iterative: false,
            allow_current_instance_match: true,
            any_match_in_range: false,
            max_endpoints: 1,
            range: None,
            timeout_ms: 1,
        });
        let reply = w.ioctl(0, opens[0], &request, 64).ok().unwrap();
        assert_eq!(reply.status, status::SUCCESS);
        let Ok(Response::Search { search }) = Response::decode(ioctl::START_SEARCH, &reply.output) else {
            panic!()
        };
        w.run(Duration::from_millis(10));
        w.ioctl(0, opens[0], &Request::EndSearch { search }, 64).ok().unwrap();
    }
    assert!(w.devices[0].stats().events_dropped > 0);
    assert!(w.events(0, opens[0]).len() <= MAX_EVENTS_PER_OPEN);
}
