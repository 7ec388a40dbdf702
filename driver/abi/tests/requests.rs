//! The IOCTL encodings: what the shim encodes the driver decodes, and nothing malformed gets in.

use peerdrt_abi::status::*;
use peerdrt_abi::*;
use proptest::prelude::*;

const KEY: KeyBytes = [0x42; 32];
const MIN: KeyBytes = [0x10; 32];
const MAX: KeyBytes = [0x90; 32];
const SECRET: [u8; SECRET_LEN] = [7; SECRET_LEN];
const CERT: [u8; CERTIFICATE_LEN] = [9; CERTIFICATE_LEN];

fn samples(seed_buf: &mut [u8]) -> Vec<Request<'_>> {
    let seeds = encode_endpoints(
        &[EndpointRecord { addr: [0; 16], port: 3540 }, EndpointRecord { addr: [1; 16], port: 4000 }],
        seed_buf,
    )
    .unwrap();
    let identity = IdentityRecord { secret: &SECRET, certificate: &CERT };
    vec![
        Request::OpenInstance(OpenInstance {
            version_major: 6,
            version_minor: 0x65,
            port: 0,
            scope: 1,
            scope_id: 0,
            max_addresses: 4,
            security_mode: 0,
            security: SecurityKind::DerivedKey,
            root: Some(&[3; 32]),
            identity: Some(identity),
            seeds,
        }),
        Request::CloseInstance { instance: 0x1234_5678_9abc_def0 },
        Request::RegisterKey { instance: 1, key: &KEY, app_data: b"hello", credential: None },
        Request::RegisterKey {
            instance: 1,
            key: &KEY,
            app_data: &[5; MAX_APP_DATA],
            credential: Some(identity),
        },
        Request::UpdateKey { registration: 2, app_data: b"new" },
        Request::UnregisterKey { registration: 2 },
        Request::StartSearch(StartSearch {
            instance: 1,
            key: &KEY,
            iterative: false,
            allow_current_instance_match: true,
            any_match_in_range: false,
            max_endpoints: 5,
            range: Some((&MIN, &MAX)),
            timeout_ms: 5000,
        }),
        Request::ContinueSearch { search: 3 },
        Request::EndSearch { search: 3 },
        Request::GetSearchPath { search: 3 },
        Request::WaitEvent,
        Request::QueryInstance { instance: 1 },
    ]
}

#[test]
fn every_request_round_trips() {
    let mut seed_buf = [0u8; 64];
    for request in samples(&mut seed_buf) {
        let mut buf = [0u8; 8192];
        let len = request.encode(&mut buf).unwrap();
        assert_eq!(Request::decode(request.code(), &buf[..len]), Ok(request));
    }
}

#[test]
fn truncated_extended_and_foreign_inputs_are_refused() {
    let mut seed_buf = [0u8; 64];
    for request in samples(&mut seed_buf) {
        let mut buf = [0u8; 8192];
        let len = request.encode(&mut buf).unwrap();
        for cut in 0..len {
            let err = Request::decode(request.code(), &buf[..cut]).unwrap_err();
            assert_eq!(err.status(), INVALID_PARAMETER, "{request:?} cut at {cut}");
        }
        let mut longer = buf[..len].to_vec();
        longer.push(0);
        assert_eq!(Request::decode(request.code(), &longer), Err(AbiError::TrailingBytes));
        let mut other_version = buf[..len].to_vec();
        other_version[0] = 2;
        let err = Request::decode(request.code(), &other_version).unwrap_err();
        assert_eq!((err, err.status()), (AbiError::VersionMismatch, REVISION_MISMATCH));
    }
    assert_eq!(Request::decode(0x0012_E000 + (0x8FF << 2), &[1, 0, 0, 0]), Err(AbiError::UnknownCode));
}

#[test]
fn app_data_over_5120_bytes_and_more_than_16_seeds_are_refused() {
    let big = vec![0u8; MAX_APP_DATA + 1];
    let mut buf = [0u8; 8192];
    let too_big = Request::UpdateKey { registration: 1, app_data: &big };
    assert_eq!(too_big.encode(&mut buf), Err(AbiError::BadValue));
    // Hand-build the same request to check the decoder's own bound.
    let mut raw = vec![1, 0, 0, 0];
    raw.extend(1u64.to_le_bytes());
    raw.extend(((MAX_APP_DATA + 1) as u16).to_le_bytes());
    raw.extend(&big);
    assert_eq!(Request::decode(ioctl::UPDATE_KEY, &raw), Err(AbiError::BadValue));

    let seeds: Vec<EndpointRecord> =
        (0..=MAX_SEEDS).map(|i| EndpointRecord { addr: [i as u8; 16], port: 3540 }).collect();
    let mut seed_buf = [0u8; 18 * 17];
    let seeds = encode_endpoints(&seeds, &mut seed_buf).unwrap();
    let open = Request::OpenInstance(OpenInstance {
        version_major: 1,
        version_minor: 0,
        port: 0,
        scope: 1,
        scope_id: 0,
        max_addresses: 1,
        security_mode: 0,
        security: SecurityKind::Null,
        root: None,
        identity: None,
        seeds,
    });
    assert_eq!(open.encode(&mut buf), Err(AbiError::BadValue));
}

#[test]
fn a_short_output_buffer_reports_the_size_needed() {
    let app = [1u8; 100];
    let event = EventRecord::SearchResult {
        instance: 1,
        search: 2,
        match_type: 0,
        key: &KEY,
        endpoint: EndpointRecord { addr: [0; 16], port: 1 },
        app_data: &app,
    };
    let mut small = [0u8; 10];
    let needed = 1 + 8 + 8 + 4 + 32 + 18 + 2 + 100;
    assert_eq!(event.encode(&mut small), Err(AbiError::BufferTooSmall { needed }));
    assert!(needed <= MAX_EVENT_LEN);
}

fn event_strategy() -> impl Strategy<Value = (u8, u64, u64, u32, KeyBytes, Vec<u8>)> {
    (
        1u8..=5,
        any::<u64>(),
        any::<u64>(),
        any::<u32>(),
        any::<KeyBytes>(),
        proptest::collection::vec(any::<u8>(), 0..600),
    )
}

proptest! {
    #[test]
    fn events_round_trip((kind, a, b, c, key, data) in event_strategy()) {
        let endpoint = EndpointRecord { addr: key[..16].try_into().unwrap(), port: c as u16 };
        let mut seed_buf = [0u8; 36];
        let bootstrap = encode_endpoints(&[endpoint, endpoint], &mut seed_buf).unwrap();
        let event = match kind {
            1 => EventRecord::StatusChanged { instance: a, status: c, bootstrap },
            2 => EventRecord::LeafSetKeyChanged { instance: a, change: c, local_key: &key, remote_key: &key },
            3 => EventRecord::RegistrationStateChanged { instance: a, registration: b, state: c, key: &key },
            4 => EventRecord::SearchResult { instance: a, search: b, match_type: c, key: &key, endpoint, app_data: &data },
            _ => EventRecord::SearchEnded { instance: a, search: b, hresult: c },
        };
        let mut buf = vec![0u8; MAX_EVENT_LEN];
        let len = event.encode(&mut buf).unwrap();
        prop_assert_eq!(EventRecord::decode(&buf[..len]), Ok(event));
        prop_assert_eq!(Response::decode(ioctl::WAIT_EVENT, &buf[..len]), Ok(Response::Event(event)));
    }

    #[test]
    fn arbitrary_input_never_panics(code_index in 0usize..11, bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let code = ioctl::ALL[code_index];
        if let Ok(request) = Request::decode(code, &bytes) {
            let mut buf = [0u8; 8192];
            let len = request.encode(&mut buf).unwrap();
            prop_assert_eq!(&buf[..len], &bytes[..]);
        }
        let _ = Response::decode(code, &bytes);
        let _ = EventRecord::decode(&bytes);
    }
}
