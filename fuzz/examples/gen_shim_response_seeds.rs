//! Writes the seed corpus of the `shim_responses` target, `fuzz/corpus/shim_responses/seed-*`:
//! response frames as `peerdrtd` sends them, one file per kind of answer, each checked to
//! pass the target.
//!
//! ```text
//! cd fuzz && cargo run --example gen_shim_response_seeds
//! ```

use std::fs;
use std::path::Path;

use peerdrt_abi::frame::ResponseHeader;
use peerdrt_abi::status::{self, hresult};
use peerdrt_abi::*;
use peerdrt_fuzz::shim::{check_stream, code_for};

/// A request id whose answer the target reads as an answer to `code`.
fn id_for(code: u32) -> u64 {
    (0..64).find(|&id| code_for(id) == code).expect("every code has an id") + 64
}

fn frame(code: u32, status: u32, output: &[u8]) -> Vec<u8> {
    let header = ResponseHeader { request_id: id_for(code), status, information: output.len() };
    let mut out = header.encode().to_vec();
    out.extend_from_slice(output);
    out
}

fn response(code: u32, r: &Response<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; MAX_EVENT_LEN.max(MAX_PATH_REPLY_LEN)];
    let len = r.encode(&mut buf).unwrap();
    frame(code, status::SUCCESS, &buf[..len])
}

fn event(e: &EventRecord<'_>) -> Vec<u8> {
    response(ioctl::WAIT_EVENT, &Response::Event(*e))
}

fn endpoint(i: u8) -> EndpointRecord {
    let mut addr = [0u8; 16];
    addr[10] = 0xff;
    addr[11] = 0xff;
    addr[12..].copy_from_slice(&[127, 0, 0, i]);
    EndpointRecord { addr, port: 3540 + u16::from(i) }
}

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/shim_responses");
    fs::create_dir_all(&dir).unwrap();
    for old in fs::read_dir(&dir).unwrap().flatten() {
        if old.file_name().to_string_lossy().starts_with("seed-") {
            fs::remove_file(old.path()).unwrap();
        }
    }
    let key = [0x5a; KEY_LEN];
    let other = [0xa5; KEY_LEN];
    let mut endpoints = [0u8; 3 * ENDPOINT_LEN];
    let bootstrap = encode_endpoints(&[endpoint(1), endpoint(2), endpoint(3)], &mut endpoints).unwrap();
    let mut path_buf = [0u8; 4 * PATH_ENTRY_LEN];
    let records: Vec<PathRecord> = (1..=4)
        .map(|i| PathRecord { endpoint: endpoint(i), flags: u32::from(i), nearness: 200, latency_ms: 12 })
        .collect();
    let path = PathRecords::encode_into(&records, &mut path_buf).unwrap();
    let app_data = vec![0x42; MAX_APP_DATA];
    let seeds: Vec<(&str, Vec<u8>)> = vec![
        (
            "instance",
            response(
                ioctl::OPEN_INSTANCE,
                &Response::Instance { instance: 0x0001_0000_1001_0001, port: 3540 },
            ),
        ),
        (
            "registration",
            response(ioctl::REGISTER_KEY, &Response::Registration { registration: 0x0001_0000_2002_0001 }),
        ),
        ("search", response(ioctl::START_SEARCH, &Response::Search { search: 0x0001_0000_3003_0001 })),
        ("path", response(ioctl::GET_SEARCH_PATH, &Response::Path(path))),
        (
            "query",
            response(
                ioctl::QUERY_INSTANCE,
                &Response::InstanceInfo(InstanceInfo {
                    status: drt_status::ACTIVE,
                    port: 3540,
                    cache_entries: 7,
                    registrations: 2,
                    sent: 1234,
                    received: 5678,
                }),
            ),
        ),
        ("empty", response(ioctl::UNREGISTER_KEY, &Response::Empty)),
        ("error-invalid-handle", frame(ioctl::QUERY_INSTANCE, status::INVALID_HANDLE, &[])),
        (
            "error-drt-duplicate-key",
            frame(ioctl::REGISTER_KEY, status::from_drt_hresult(hresult::DRT_E_DUPLICATE_KEY), &[]),
        ),
        (
            "event-status-alone",
            event(&EventRecord::StatusChanged { instance: 1, status: drt_status::ALONE, bootstrap }),
        ),
        (
            "event-leafset",
            event(&EventRecord::LeafSetKeyChanged {
                instance: 1,
                change: 1,
                local_key: &key,
                remote_key: &other,
            }),
        ),
        (
            "event-registration",
            event(&EventRecord::RegistrationStateChanged {
                instance: 1,
                registration: 2,
                state: 1,
                key: &key,
            }),
        ),
        (
            "event-search-result",
            event(&EventRecord::SearchResult {
                instance: 1,
                search: 3,
                match_type: 0,
                key: &key,
                endpoint: endpoint(9),
                app_data: b"hello",
            }),
        ),
        (
            "event-search-result-largest",
            event(&EventRecord::SearchResult {
                instance: 1,
                search: 3,
                match_type: 1,
                key: &key,
                endpoint: endpoint(9),
                app_data: &app_data,
            }),
        ),
        (
            "event-search-ended",
            event(&EventRecord::SearchEnded { instance: 1, search: 3, hresult: hresult::DRT_E_NO_MORE }),
        ),
    ];
    // A session: an open, a registration, a search with its result and end, in one stream.
    let session: Vec<u8> =
        ["instance", "registration", "search", "event-search-result", "event-search-ended"]
            .iter()
            .flat_map(|name| seeds.iter().find(|(n, _)| n == name).unwrap().1.clone())
            .collect();
    for (name, bytes) in seeds.iter().map(|(n, b)| (*n, b)).chain([("session", &session)]) {
        check_stream(bytes);
        fs::write(dir.join(format!("seed-{name}")), bytes).unwrap();
    }
    println!("wrote {} seeds to {}", seeds.len() + 1, dir.display());
}
