//! The device's search settings (disjoint lookup paths) reach every DRT instance it opens from
//! then on: an application's instance and a standing PNRP cloud alike.

use alloc::vec;
use alloc::vec::Vec;
use core::net::Ipv6Addr;

use peerdrt_abi::status;
use peerdrt_core::drt::search::{DEFAULT_DISJOINT_PATHS, MAX_DISJOINT_PATHS};

use super::super::standing::{CloudSpec, NodeKey, StandingSpec, open_standing};
use super::*;

struct Sockets {
    binds: u32,
}

impl Platform for Sockets {
    fn bind(&mut self, port: u16, _scope: u32, _scope_id: u32) -> Result<Bound, u32> {
        self.binds += 1;
        let port = if port == 0 { 40_000 + self.binds as u16 } else { port };
        Ok(Bound { id: self.binds, port, addresses: vec![Ipv6Addr::LOCALHOST] })
    }
    fn unbind(&mut self, _id: TransportId) {}
    fn random_seed(&mut self) -> [u8; 32] {
        [self.binds as u8; 32]
    }
}

/// Opens a Null-security DRT instance on any port, as an application's DrtOpen does.
fn open_instance(device: &mut Device, sockets: &mut Sockets, open: OpenId) -> u32 {
    super::test_requests::open_instance(device, open, &[], sockets)
}

/// The disjoint paths of every open instance, in slot order.
fn paths_of_instances(device: &Device) -> Vec<u8> {
    device.instances.iter().flatten().map(|i| i.node.search_settings().disjoint_paths()).collect()
}

fn setup() -> (Device, Sockets, OpenId) {
    let mut device = Device::new();
    let open = device.open(Owner { pid: 4, uid: 0 }).unwrap();
    (device, Sockets { binds: 0 }, open)
}

#[test]
fn an_instance_searches_with_the_default_paths_unless_the_device_is_set_otherwise() {
    let (mut device, mut sockets, open) = setup();
    assert_eq!(device.search_settings().disjoint_paths(), DEFAULT_DISJOINT_PATHS);
    assert_eq!(open_instance(&mut device, &mut sockets, open), status::SUCCESS);
    assert_eq!(paths_of_instances(&device), [DEFAULT_DISJOINT_PATHS]);
}

#[test]
fn every_instance_opened_after_the_setting_searches_with_its_paths() {
    let (mut device, mut sockets, open) = setup();
    device.set_search_settings(SearchSettings::new(3).unwrap());
    assert_eq!(open_instance(&mut device, &mut sockets, open), status::SUCCESS);
    assert_eq!(open_instance(&mut device, &mut sockets, open), status::SUCCESS);
    assert_eq!(paths_of_instances(&device), [3, 3]);
}

#[test]
fn a_standing_pnrp_cloud_searches_with_the_device_setting_too() {
    let (mut device, mut sockets, open) = setup();
    device.set_search_settings(SearchSettings::new(MAX_DISJOINT_PATHS).unwrap());
    let spec = StandingSpec {
        version: peerdrt_core::pnrp::PROTOCOL_VERSION,
        port: 3540,
        seeds: &[],
        security: SecurityKind::Null,
        key: NodeKey::Random,
        app_data: b"node",
        cloud: Some(CloudSpec { name: peerdrt_core::pnrp::GLOBAL_CLOUD, scope: 1, scope_id: 0 }),
        max_addresses: 1,
    };
    open_standing(&mut device, &mut sockets, Instant(1), open, &spec).unwrap();
    assert_eq!(paths_of_instances(&device), [MAX_DISJOINT_PATHS]);
}

#[test]
fn an_instance_keeps_the_paths_it_was_opened_with() {
    let (mut device, mut sockets, open) = setup();
    device.set_search_settings(SearchSettings::new(2).unwrap());
    assert_eq!(open_instance(&mut device, &mut sockets, open), status::SUCCESS);
    device.set_search_settings(SearchSettings::new(4).unwrap());
    assert_eq!(open_instance(&mut device, &mut sockets, open), status::SUCCESS);
    assert_eq!(paths_of_instances(&device), [2, 4]);
}
