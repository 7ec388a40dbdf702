//! The device-wide outbox: [`MAX_OUTBOX`] datagrams wait to be sent, further ones are dropped
//! and counted, from both paths that fill it (group datagrams and an instance's node).

use alloc::vec;
use core::net::Ipv6Addr;

use peerdrt_abi::status;

use super::*;

struct OneSocket;

impl Platform for OneSocket {
    fn bind(&mut self, _port: u16, _scope: u32, _scope_id: u32) -> Result<Bound, u32> {
        Ok(Bound { id: 7, port: 3540, addresses: vec![Ipv6Addr::LOCALHOST] })
    }
    fn unbind(&mut self, _id: TransportId) {}
    fn random_seed(&mut self) -> [u8; 32] {
        [9; 32]
    }
}

fn datagram(n: usize) -> Outgoing {
    Outgoing {
        transport: 1,
        destination: Endpoint { addr: Ipv6Addr::LOCALHOST, port: 3540 },
        payload: vec![n as u8, (n >> 8) as u8],
    }
}

/// OPEN_INSTANCE seeded with one peer: the node's bootstrap sends to it at once.
fn open_seeded_instance(device: &mut Device, open: OpenId) -> u32 {
    let seed = EndpointRecord { addr: Ipv6Addr::LOCALHOST.octets(), port: 3999 };
    super::test_requests::open_instance(device, open, &[seed], &mut OneSocket)
}

#[test]
fn the_outbox_holds_max_outbox_datagrams_and_drops_and_counts_the_rest() {
    let mut device = Device::new();
    for n in 0..MAX_OUTBOX {
        device.push_outgoing(datagram(n));
    }
    assert_eq!(device.stats().outbox_dropped, 0, "MAX_OUTBOX datagrams fit");
    device.push_outgoing(datagram(MAX_OUTBOX));
    assert_eq!(device.stats().outbox_dropped, 1, "one past the edge is dropped");
    // An instance's datagrams meet the same bound: its bootstrap is dropped and counted, and the
    // instance itself opens as usual.
    let open = device.open(Owner::default()).unwrap();
    assert_eq!(open_seeded_instance(&mut device, open), status::SUCCESS);
    let dropped = device.stats().outbox_dropped;
    assert!(dropped > 1, "the bootstrap datagrams were not counted");
    // What waits is the first MAX_OUTBOX, in order.
    for n in 0..MAX_OUTBOX {
        assert_eq!(device.poll_transmit().map(|o| o.payload), Some(datagram(n).payload));
    }
    assert!(device.poll_transmit().is_none());
    // Sent datagrams make room again.
    device.push_outgoing(datagram(1));
    assert_eq!(device.poll_transmit().map(|o| o.payload), Some(datagram(1).payload));
    assert_eq!(device.stats().outbox_dropped, dropped);
}
