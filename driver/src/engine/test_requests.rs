//! What the device's unit tests send: an application's OPEN_INSTANCE, and one IOCTL run to its
//! completion.

use peerdrt_abi::{EndpointRecord, Request, encode_endpoints};

use super::*;

/// OPEN_INSTANCE of a Null-security DRT instance on any port, seeded with `seeds`, as an
/// application's DrtOpen makes it; encoded into `input`, returning its length.
pub(super) fn open_instance_input(seeds: &[EndpointRecord], input: &mut [u8]) -> usize {
    let mut buf = [0u8; peerdrt_abi::ENDPOINT_LEN * peerdrt_abi::MAX_SEEDS];
    let request = Request::OpenInstance(OpenInstance {
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
        seeds: encode_endpoints(seeds, &mut buf).unwrap(),
    });
    request.encode(input).unwrap()
}

/// Runs OPEN_INSTANCE (see [`open_instance_input`]) on `open` and returns its NTSTATUS.
pub(super) fn open_instance(
    device: &mut Device,
    open: OpenId,
    seeds: &[EndpointRecord],
    platform: &mut dyn Platform,
) -> u32 {
    let mut input = [0u8; 512];
    let len = open_instance_input(seeds, &mut input);
    let mut output = [0u8; 16];
    let irp =
        Irp { code: peerdrt_abi::ioctl::OPEN_INSTANCE, input: &input[..len], output: &mut output, token: 0 };
    match device.ioctl(Instant(1), open, irp, platform) {
        Completion::Complete { status, .. } => status,
        Completion::Pending => panic!("OPEN_INSTANCE pended"),
    }
}
