//! Groups through the device: GROUP_* IOCTLs, the shared group socket, the peer clock anchored
//! to the caller's UTC, and records replicated between two devices.

use alloc::vec;
use alloc::vec::Vec;
use core::net::Ipv6Addr;

use peerdrt_abi::group::{self, GroupRequest, GroupResponse, RecordFields, hresult};
use peerdrt_abi::{Request, status};
use peerdrt_core::group::membership::member_key;
use peerdrt_core::time::Instant;
use peerdrt_core::wire::Endpoint;

use super::*;

/// 2024-01-01 as a FILETIME.
const UTC: u64 = 133_485_408_000_000_000;

struct Fake {
    port: u16,
    bound: Vec<TransportId>,
    next: u32,
}

impl Platform for Fake {
    fn bind(&mut self, _port: u16, _scope: u32, _scope_id: u32) -> Result<Bound, u32> {
        self.next += 1;
        self.bound.push(self.next);
        Ok(Bound { id: self.next, port: self.port, addresses: vec![Ipv6Addr::LOCALHOST] })
    }
    fn unbind(&mut self, id: TransportId) {
        self.bound.retain(|b| *b != id);
    }
    fn random_seed(&mut self) -> [u8; 32] {
        self.next += 1;
        let mut seed = [self.next as u8; 32];
        seed[..4].copy_from_slice(&self.next.to_le_bytes());
        seed
    }
}

struct Node {
    device: Device,
    fake: Fake,
    open: OpenId,
}

impl Node {
    fn new(port: u16) -> Self {
        let mut device = Device::new();
        let open = device.open(Owner::default()).unwrap();
        Self { device, fake: Fake { port, bound: Vec::new(), next: port as u32 * 100 }, open }
    }

    fn endpoint(&self) -> Endpoint {
        Endpoint { addr: Ipv6Addr::LOCALHOST, port: self.fake.port }
    }

    fn call(&mut self, now: Instant, request: GroupRequest<'_>) -> Result<Vec<u8>, u32> {
        let utc = UTC + now.as_millis() * 10_000;
        let r = Request::Group { utc, request };
        let mut input = vec![0u8; 64 * 1024];
        let n = r.encode(&mut input).unwrap();
        let mut output = vec![0u8; 32 * 1024];
        let irp = Irp { code: r.code(), input: &input[..n], output: &mut output, token: 1 };
        match self.device.ioctl(now, self.open, irp, &mut self.fake) {
            Completion::Complete { status: status::SUCCESS, information } => {
                output.truncate(information);
                Ok(output)
            }
            Completion::Complete { status, .. } => Err(status),
            Completion::Pending => panic!("group requests never pend"),
        }
    }
}

/// Moves datagrams between the nodes (and runs due timers) until nothing moves.
fn settle(nodes: &mut [&mut Node], now: Instant) {
    for _ in 0..1000 {
        let mut moved = false;
        for i in 0..nodes.len() {
            nodes[i].device.handle_timeout(now);
            while let Some(out) = nodes[i].device.poll_transmit() {
                assert!(nodes[i].fake.bound.contains(&out.transport), "sent on the group socket");
                let from = nodes[i].endpoint();
                if let Some(to) = nodes.iter_mut().find(|n| n.endpoint() == out.destination) {
                    let transport = to.fake.bound[0];
                    to.device.handle_datagram(now, transport, from, &out.payload);
                }
                moved = true;
            }
        }
        if !moved {
            return;
        }
    }
    panic!("the nodes did not settle");
}

fn fields(data: &[u8]) -> RecordFields<'_> {
    RecordFields { record_type: [4; 16], expiration: UTC + 600 * 10_000_000, flags: 0, attributes: b"", data }
}

impl Node {
    /// GROUP_CREATE of the tests' group (root `[1; 32]`, creator `[2; 32]`, for an hour): its
    /// response bytes.
    fn create(&mut self, now: Instant) -> Vec<u8> {
        let request =
            GroupRequest::Create { root_secret: &[1; 32], member_secret: &[2; 32], lifetime_seconds: 3600 };
        self.call(now, request).unwrap()
    }
}

fn opened(bytes: &[u8]) -> (u64, [u8; group::CERTIFICATE_LEN], u16) {
    match GroupResponse::decode(group::GROUP_CREATE, bytes).unwrap() {
        GroupResponse::Opened { group, certificate, port } => (group, *certificate, port),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn a_record_added_on_one_device_reaches_a_member_on_another_over_the_group_socket() {
    let now = Instant::from_millis(1000);
    let (mut a, mut b) = (Node::new(4001), Node::new(4002));
    let created = a.create(now);
    let (group_a, _, port) = opened(&created);
    assert_eq!(port, 4001, "CREATE reports the group socket's port");
    assert_eq!(a.fake.bound.len(), 1, "the first group binds the group socket");
    let invitee = member_key(&[3; 32]);
    let invitation = a
        .call(
            now,
            GroupRequest::CreateInvitation {
                group: group_a,
                member: &invitee,
                role: 1,
                lifetime_seconds: 3600,
            },
        )
        .unwrap();
    let certificate: [u8; group::CERTIFICATE_LEN] = invitation.try_into().unwrap();
    let joined =
        b.call(now, GroupRequest::Join { member_secret: &[3; 32], certificate: &certificate }).unwrap();
    let (group_b, _, _) = opened(&joined);

    let id = a.call(now, GroupRequest::AddRecord { group: group_a, record: fields(b"hello") }).unwrap();
    let (stored_in, stored) = a.device.poll_group_stored().expect("the host is told to persist the record");
    assert_eq!((stored_in, &stored.id.0[..]), (group_a, &id[..]));

    let address = Ipv6Addr::LOCALHOST.octets();
    b.call(now, GroupRequest::Connect { group: group_b, address: &address, port: 4001 }).unwrap();
    settle(&mut [&mut a, &mut b], now);
    let id: [u8; 16] = id.try_into().unwrap();
    let record = b.call(now, GroupRequest::GetRecord { group: group_b, id: &id }).unwrap();
    let Ok(GroupResponse::Record(bytes)) = GroupResponse::decode(group::GROUP_GET_RECORD, &record) else {
        panic!()
    };
    let (view, _) = peerdrt_core::group::record::RecordView::decode(bytes).unwrap();
    assert_eq!(view.data, b"hello");
    assert!(b.device.poll_group_stored().is_some(), "the received record is persisted on the joiner too");

    // Closing the open closes its groups; the group socket stays, so a reopened group keeps
    // its port.
    a.device.close(now, a.open, &mut a.fake);
    let open = a.device.open(Owner::default()).unwrap();
    a.open = open;
    let again = a.create(now);
    assert_eq!(opened(&again).2, 4001);
    assert_eq!(a.fake.bound.len(), 1, "still the one group socket");
}

#[test]
fn group_failures_complete_with_the_p2p_hresult() {
    let now = Instant::from_millis(5);
    let mut a = Node::new(4003);
    let missing = a.call(now, GroupRequest::GetStatus { group: 77 });
    assert_eq!(missing.map_err(status::to_hresult), Err(hresult::PEER_E_INVALID_GROUP));
    assert!(a.fake.bound.is_empty(), "a failed request binds nothing");
}

#[test]
fn timers_run_on_peer_time_anchored_to_the_callers_utc() {
    let start = Instant::from_millis(10);
    let (mut a, mut b) = (Node::new(4004), Node::new(4005));
    let created = a.create(start);
    let (group_a, _, _) = opened(&created);
    let invitee = member_key(&[3; 32]);
    let invitation = a
        .call(
            start,
            GroupRequest::CreateInvitation {
                group: group_a,
                member: &invitee,
                role: 1,
                lifetime_seconds: 3600,
            },
        )
        .unwrap();
    let certificate: [u8; group::CERTIFICATE_LEN] = invitation.try_into().unwrap();
    let joined =
        b.call(start, GroupRequest::Join { member_secret: &[3; 32], certificate: &certificate }).unwrap();
    let (group_b, _, _) = opened(&joined);
    // B says HELLO to a node that never answers: the retransmission timer is due 250 ms of
    // peer time later, which the device maps back onto its own clock.
    b.call(start, GroupRequest::Connect { group: group_b, address: &[0xAA; 16], port: 9 }).unwrap();
    while b.device.poll_transmit().is_some() {}
    let deadline = b.device.next_deadline().expect("a retransmission is pending");
    assert!(deadline > start && deadline.as_millis() <= start.as_millis() + 250);
    b.device.handle_timeout(deadline);
    assert!(b.device.poll_transmit().is_some(), "the HELLO is sent again when its timer is due");
}

impl Node {
    /// One WAIT_EVENT: the event's bytes, or `None` if the wait pends (token `token`).
    fn wait_event(&mut self, now: Instant, token: u64) -> Option<Vec<u8>> {
        let input = Request::WaitEvent;
        let mut buf = [0u8; 16];
        let n = input.encode(&mut buf).unwrap();
        let mut output = vec![0u8; peerdrt_abi::MAX_EVENT_LEN];
        let irp = Irp { code: input.code(), input: &buf[..n], output: &mut output, token };
        match self.device.ioctl(now, self.open, irp, &mut self.fake) {
            Completion::Complete { status: status::SUCCESS, information } => {
                output.truncate(information);
                Some(output)
            }
            Completion::Pending => None,
            other => panic!("WAIT_EVENT failed: {other:?}"),
        }
    }

    /// Adds `n` records, each with a fresh ID (the fake's random seed moves on every call).
    fn add_records(&mut self, now: Instant, group: u64, n: usize) -> Vec<[u8; 16]> {
        (0..n)
            .map(|_| {
                let id = self.call(now, GroupRequest::AddRecord { group, record: fields(b"e") }).unwrap();
                while self.device.poll_group_stored().is_some() {}
                id.try_into().unwrap()
            })
            .collect()
    }
}

fn record_changed(bytes: &[u8]) -> [u8; 16] {
    match group::GroupEventRecord::decode(bytes) {
        Ok(group::GroupEventRecord::RecordChanged { change: 1, id, .. }) => *id,
        other => panic!("expected RECORD_CHANGED/ADDED, got {other:?}"),
    }
}

#[test]
fn group_events_reach_wait_event_in_order_and_complete_a_pending_wait() {
    let now = Instant::from_millis(1);
    let mut a = Node::new(4010);
    let created = a.create(now);
    let (group_a, _, _) = opened(&created);
    assert_eq!(a.wait_event(now, 1), None, "nothing to report: the wait pends");
    a.call(now, GroupRequest::WatchEvents { group: group_a, enabled: true }).unwrap();
    let ids = a.add_records(now, group_a, 2);
    let completed = a.device.poll_wait_completion().expect("the first event completes the pending wait");
    assert_eq!((completed.token, record_changed(&completed.output)), (1, ids[0]));
    assert_eq!(record_changed(&a.wait_event(now, 2).unwrap()), ids[1], "the second, not merged");
    assert_eq!(a.wait_event(now, 3), None);
}

#[test]
fn a_full_queue_keeps_the_oldest_events_and_counts_the_dropped_ones_in_its_last_place() {
    let now = Instant::from_millis(1);
    let mut a = Node::new(4011);
    let created = a.create(now);
    let (group_a, _, _) = opened(&created);
    a.call(now, GroupRequest::WatchEvents { group: group_a, enabled: true }).unwrap();

    // Up to the depth: DEPTH - 1 events fill the queue without loss.
    let kept = a.add_records(now, group_a, GROUP_EVENT_QUEUE_DEPTH - 1);
    assert_eq!(a.device.group_events_dropped(), 0, "at the depth nothing is dropped");
    // Past it: two more are dropped and counted in the last place.
    a.add_records(now, group_a, 2);
    assert_eq!(a.device.group_events_dropped(), 2);

    for (token, id) in kept.iter().enumerate() {
        assert_eq!(record_changed(&a.wait_event(now, token as u64).unwrap()), *id, "event {token} in order");
    }
    let last = a.wait_event(now, 5000).unwrap();
    assert_eq!(
        group::GroupEventRecord::decode(&last),
        Ok(group::GroupEventRecord::EventsDropped { group: 0, count: 2 })
    );
    assert_eq!(a.wait_event(now, 5001), None, "drained");
    let after = a.add_records(now, group_a, 1);
    let completed = a.device.poll_wait_completion().unwrap();
    assert_eq!(record_changed(&completed.output), after[0], "with room again, events flow");
}
