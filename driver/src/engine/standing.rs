//! Standing instances: DRT instances the device opens for itself, not for an application —
//! the PNRP clouds (`Global_`, `LinkLocal_<interface>`) every node runs, and peerdrtd's
//! configured instances.
//!
//! Both adapters do the same three steps through the device's own IOCTL path, on an open the
//! adapter holds for the device's lifetime: open the instance (version, port, seeds), publish it
//! as a PNRP cloud that other opens attach to with ATTACH_CLOUD, and register the node's own key,
//! which gives it its place in the key space. peerdrtd does it at start; `peerdrt.sys` once WSK
//! is attached. Both call [`open_standing`] at PASSIVE_LEVEL under their device lock.

use alloc::vec;
use alloc::vec::Vec;

use peerdrt_abi::{
    ENDPOINT_LEN, EndpointRecord, Handle, MAX_SEEDS, OpenInstance, Request, Response, SecurityKind,
    encode_endpoints, ioctl, status,
};
use peerdrt_core::time::Instant;
use peerdrt_core::wire::Endpoint;

use super::{Completion, Device, Irp, OpenId, Platform};

const _: () = assert!(peerdrt_core::pnrp::seed_servers::MAX_SEED_SERVERS == MAX_SEEDS);

/// DRT_GLOBAL_SCOPE.
const GLOBAL_SCOPE: u32 = 1;
/// DRT_SECURE_RESOLVE.
const SECURE_RESOLVE: u32 = 0;
/// Room for an encoded request besides its seeds and application data.
const REQUEST_OVERHEAD: usize = 256;
/// Room for a reply (instance handle and port, registration handle).
const REPLY_LEN: usize = 64;

/// The key a standing instance registers for itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKey {
    /// A fresh key from the platform's random source.
    Random,
    /// This key.
    Fixed([u8; 32]),
    /// None: the instance searches and relays bootstrap, but holds no place in the key space.
    None,
}

/// The PNRP cloud a standing instance is published as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CloudSpec<'a> {
    /// `Global_` or `LinkLocal_<interface>`.
    pub name: &'a str,
    /// PNRP_SCOPE (1 global, 3 link-local), also the DRT_SCOPE of its transport.
    pub scope: u32,
    /// Interface index of a link-local cloud (0 otherwise).
    pub scope_id: u32,
}

/// What a standing instance is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StandingSpec<'a> {
    /// Protocol major and minor version (PNRP: [`peerdrt_core::pnrp::PROTOCOL_VERSION`]).
    pub version: (u8, u8),
    /// UDP port.
    pub port: u16,
    /// Bootstrap seeds (at most MAX_SEEDS).
    pub seeds: &'a [Endpoint],
    /// Security provider.
    pub security: SecurityKind,
    /// The key it registers.
    pub key: NodeKey,
    /// That key's application data.
    pub app_data: &'a [u8],
    /// Published as this cloud, if any.
    pub cloud: Option<CloudSpec<'a>>,
    /// Addresses its route entries may carry.
    pub max_addresses: u32,
}

/// An open standing instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    /// Its handle in the adapter's open.
    pub instance: Handle,
    /// The UDP port it is bound to.
    pub port: u16,
    /// The key it registered, if any.
    pub key: Option<[u8; 32]>,
}

/// Why a standing instance could not be opened. The statuses are NTSTATUS values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StandingError {
    /// More seeds than an instance takes, or an undecodable request.
    BadSpec,
    /// OPEN_INSTANCE failed.
    Open(u32),
    /// Publishing the cloud failed (the instance stays open in the adapter's open).
    Cloud(u32),
    /// Registering the node key failed (the instance stays open in the adapter's open).
    Key(u32),
    /// The device answered with something other than a completion or a decodable reply.
    BadReply,
}

impl core::fmt::Display for StandingError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let (what, s) = match *self {
            Self::BadSpec => return write!(f, "bad seeds or request"),
            Self::BadReply => return write!(f, "bad reply"),
            Self::Open(s) => ("open", s),
            Self::Cloud(s) => ("cloud", s),
            Self::Key(s) => ("key", s),
        };
        let name = match s {
            status::ADDRESS_ALREADY_EXISTS => "port in use",
            status::ACCESS_DENIED => "access denied",
            status::INSUFFICIENT_RESOURCES => "out of resources",
            status::INVALID_PARAMETER => "invalid parameter",
            status::INVALID_DEVICE_STATE => "no transport",
            _ => "failed",
        };
        write!(f, "{what}: {name} (NTSTATUS {s:#010x}, HRESULT {:#010x})", status::to_hresult(s))
    }
}

/// Runs one request through the device's IOCTL path for `open`; its reply bytes on success.
fn call(
    device: &mut Device,
    platform: &mut dyn Platform,
    now: Instant,
    open: OpenId,
    request: &Request<'_>,
    input_len: usize,
) -> Result<Vec<u8>, Result<u32, StandingError>> {
    let mut input = vec![0u8; input_len];
    let len = request.encode(&mut input).map_err(|_| Err(StandingError::BadSpec))?;
    let mut output = vec![0u8; REPLY_LEN];
    match device.ioctl(
        now,
        open,
        Irp { code: request.code(), input: &input[..len], output: &mut output, token: 0 },
        platform,
    ) {
        Completion::Complete { status: status::SUCCESS, information } => {
            output.truncate(information.min(REPLY_LEN));
            Ok(output)
        }
        Completion::Complete { status, .. } => Err(Ok(status)),
        Completion::Pending => Err(Err(StandingError::BadReply)),
    }
}

/// Opens a standing instance in `open` (the adapter's own), publishes its cloud and registers
/// its key. PASSIVE_LEVEL, under the adapter's device lock. On an error after the instance was
/// opened, the instance stays in `open`: the adapter closes `open` (or keeps what worked).
pub fn open_standing(
    device: &mut Device,
    platform: &mut dyn Platform,
    now: Instant,
    open: OpenId,
    spec: &StandingSpec<'_>,
) -> Result<Standing, StandingError> {
    if spec.seeds.len() > MAX_SEEDS {
        return Err(StandingError::BadSpec);
    }
    let records: Vec<EndpointRecord> =
        spec.seeds.iter().map(|e| EndpointRecord { addr: e.addr.octets(), port: e.port }).collect();
    let mut seed_buf = [0u8; MAX_SEEDS * ENDPOINT_LEN];
    let seeds = encode_endpoints(&records, &mut seed_buf).map_err(|_| StandingError::BadSpec)?;
    let (scope, scope_id) = spec.cloud.map_or((GLOBAL_SCOPE, 0), |c| (c.scope, c.scope_id));
    let request = Request::OpenInstance(OpenInstance {
        version_major: spec.version.0,
        version_minor: spec.version.1,
        port: spec.port,
        scope,
        scope_id,
        max_addresses: spec.max_addresses,
        security_mode: SECURE_RESOLVE,
        security: spec.security,
        root: None,
        identity: None,
        seeds,
    });
    let reply = call(device, platform, now, open, &request, REQUEST_OVERHEAD + seeds.len() * ENDPOINT_LEN)
        .map_err(|e| e.map_or_else(|e| e, StandingError::Open))?;
    let Ok(Response::Instance { instance, port }) = Response::decode(ioctl::OPEN_INSTANCE, &reply) else {
        return Err(StandingError::BadReply);
    };
    if let Some(cloud) = spec.cloud {
        device
            .publish_cloud(open, instance, cloud.name, cloud.scope, cloud.scope_id)
            .map_err(StandingError::Cloud)?;
    }
    let key = match spec.key {
        NodeKey::None => None,
        NodeKey::Fixed(key) => Some(key),
        NodeKey::Random => Some(platform.random_seed()),
    };
    if let Some(key) = &key {
        let request = Request::RegisterKey { instance, key, app_data: spec.app_data, credential: None };
        call(device, platform, now, open, &request, REQUEST_OVERHEAD + spec.app_data.len())
            .map_err(|e| e.map_or_else(|e| e, StandingError::Key))?;
    }
    Ok(Standing { instance, port, key })
}

#[cfg(test)]
mod tests {
    use core::net::Ipv6Addr;

    use peerdrt_abi::pnrp;

    use super::*;
    use crate::engine::{Bound, Owner, TransportId};

    /// Binds any port except `busy`; its random source is a counter.
    struct Fake {
        busy: u16,
        binds: u32,
    }

    impl Platform for Fake {
        fn bind(&mut self, port: u16, _scope: u32, _scope_id: u32) -> Result<Bound, u32> {
            if port == self.busy {
                return Err(status::ADDRESS_ALREADY_EXISTS);
            }
            self.binds += 1;
            Ok(Bound { id: self.binds, port, addresses: vec![Ipv6Addr::LOCALHOST] })
        }
        fn unbind(&mut self, _id: TransportId) {}
        fn random_seed(&mut self) -> [u8; 32] {
            [0x5a; 32]
        }
    }

    fn global(port: u16, seeds: &[Endpoint]) -> StandingSpec<'_> {
        StandingSpec {
            version: peerdrt_core::pnrp::PROTOCOL_VERSION,
            port,
            seeds,
            security: SecurityKind::Null,
            key: NodeKey::Random,
            app_data: b"node",
            cloud: Some(CloudSpec { name: peerdrt_core::pnrp::GLOBAL_CLOUD, scope: 1, scope_id: 0 }),
            max_addresses: 1,
        }
    }

    fn setup() -> (Device, Fake, OpenId) {
        let mut device = Device::new();
        let open = device.open(Owner { pid: 4, uid: 0 }).unwrap();
        (device, Fake { busy: 9, binds: 0 }, open)
    }

    #[test]
    fn a_standing_pnrp_instance_is_published_and_holds_a_random_key() {
        let (mut device, mut fake, open) = setup();
        let s = open_standing(&mut device, &mut fake, Instant(1), open, &global(3540, &[])).unwrap();
        assert_eq!((s.port, s.key), (3540, Some([0x5a; 32])));
        assert_eq!(device.cloud_names().collect::<Vec<_>>(), ["Global_"]);
        // Another open reaches it by name.
        let app = device.open(Owner { pid: 100, uid: 1000 }).unwrap();
        let mut input = [0u8; 128];
        let request = Request::AttachCloud { name: "Global_" };
        let n = request.encode(&mut input).unwrap();
        let mut output = [0u8; 64];
        let irp = Irp { code: pnrp::ATTACH_CLOUD, input: &input[..n], output: &mut output, token: 1 };
        assert!(matches!(
            device.ioctl(Instant(2), app, irp, &mut fake),
            Completion::Complete { status: status::SUCCESS, .. }
        ));
    }

    #[test]
    fn a_second_cloud_of_the_same_name_is_refused() {
        let (mut device, mut fake, open) = setup();
        open_standing(&mut device, &mut fake, Instant(1), open, &global(3540, &[])).unwrap();
        assert_eq!(
            open_standing(&mut device, &mut fake, Instant(1), open, &global(3541, &[])),
            Err(StandingError::Cloud(status::ADDRESS_ALREADY_EXISTS))
        );
    }

    #[test]
    fn a_busy_port_fails_the_open() {
        let (mut device, mut fake, open) = setup();
        assert_eq!(
            open_standing(&mut device, &mut fake, Instant(1), open, &global(9, &[])),
            Err(StandingError::Open(status::ADDRESS_ALREADY_EXISTS))
        );
        assert_eq!(device.cloud_names().count(), 0);
    }

    #[test]
    fn seeds_are_taken_up_to_max_seeds() {
        let seeds: Vec<Endpoint> =
            (1..=MAX_SEEDS as u16 + 1).map(|port| Endpoint { addr: Ipv6Addr::LOCALHOST, port }).collect();
        let (mut device, mut fake, open) = setup();
        let mut spec = global(3540, &seeds[..MAX_SEEDS]);
        spec.key = NodeKey::Fixed([7; 32]);
        assert_eq!(
            open_standing(&mut device, &mut fake, Instant(1), open, &spec).unwrap().key,
            Some([7; 32])
        );
        let (mut device, mut fake, open) = setup();
        assert_eq!(
            open_standing(&mut device, &mut fake, Instant(1), open, &global(3540, &seeds)),
            Err(StandingError::BadSpec)
        );
    }
}
