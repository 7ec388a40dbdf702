//! The checks behind the `shim_responses` target: what the shim's Linux backend reads from
//! `peerdrtd`'s device socket, parsed the way the shim parses it.
//!
//! The reader thread (`usermode-shim/src/device/unix.rs`) reads response frames — a
//! [`ResponseHeader`] then `information` bytes of output — until a header is refused or the
//! stream ends. The client then decodes each output with [`Response::decode`] for the control
//! code of the request it answers, and the event pump turns a `WAIT_EVENT` output into a
//! shim event or search update with [`peerdrt_shim::parse_event`].

use peerdrt_abi::frame::{MAX_OUTPUT_CAPACITY, RESPONSE_HEADER_LEN, ResponseHeader};
use peerdrt_abi::status::to_hresult;
use peerdrt_abi::{EventRecord, MAX_APP_DATA, MAX_PATH_ENTRIES, MAX_SEEDS, Response, ioctl};
use peerdrt_shim::drt::Event;
use peerdrt_shim::{Delivery, parse_event};

/// The control code a response with `request_id` answers (the shim knows it from its own
/// request table; here the id picks it).
pub fn code_for(request_id: u64) -> u32 {
    ioctl::ALL[(request_id % ioctl::ALL.len() as u64) as usize]
}

/// Reads `stream` as the shim's reader thread does and parses every output it yields.
pub fn check_stream(mut stream: &[u8]) {
    while let Some(header) = stream.first_chunk::<RESPONSE_HEADER_LEN>() {
        // A refused header ends the connection: the shim fails every request in flight.
        let Ok(h) = ResponseHeader::decode(header) else { return };
        assert!(h.information <= MAX_OUTPUT_CAPACITY, "a header over the output limit was accepted");
        // The stream ending inside an output is the connection closing.
        let Some(output) = stream.get(RESPONSE_HEADER_LEN..RESPONSE_HEADER_LEN + h.information) else {
            return;
        };
        stream = &stream[RESPONSE_HEADER_LEN + h.information..];
        let _ = to_hresult(h.status);
        check_output(code_for(h.request_id), output);
    }
}

/// Parses one output as the answer to `code`, checking that whatever is accepted is exactly
/// what the device could have encoded and stays within the ABI's limits.
pub fn check_output(code: u32, output: &[u8]) {
    if code == ioctl::WAIT_EVENT {
        let delivery = parse_event(output);
        let Ok(record) = EventRecord::decode(output) else {
            assert_eq!(delivery, None, "the shim accepted an event record the ABI refuses");
            return;
        };
        let mut again = vec![0u8; output.len()];
        assert_eq!(record.encode(&mut again), Ok(output.len()), "event record encoding is not canonical");
        assert_eq!(again, output);
        match (record, delivery) {
            (
                EventRecord::SearchResult { search, app_data, endpoint, .. },
                Some(Delivery::SearchResult(h, r)),
            ) => {
                assert_eq!(h, search);
                assert!(r.app_data.len() <= MAX_APP_DATA);
                assert_eq!(r.app_data, app_data);
                assert_eq!(r.endpoint.port(), endpoint.port);
            }
            (EventRecord::SearchEnded { search, hresult, .. }, Some(Delivery::SearchEnded(h, hr))) => {
                assert_eq!((h, hr), (search, hresult));
            }
            (
                EventRecord::StatusChanged { bootstrap, .. },
                Some(Delivery::Event(Event::StatusChanged { bootstrap: b, .. })),
            ) => {
                assert!(b.len() <= MAX_SEEDS);
                assert_eq!(b.len(), bootstrap.len());
            }
            (
                EventRecord::LeafSetKeyChanged { .. },
                Some(Delivery::Event(Event::LeafSetKeyChanged { .. })),
            )
            | (
                EventRecord::RegistrationStateChanged { .. },
                Some(Delivery::Event(Event::RegistrationStateChanged { .. })),
            ) => {}
            (record, delivery) => panic!("{record:?} became {delivery:?}"),
        }
        return;
    }
    let Ok(response) = Response::decode(code, output) else { return };
    let mut again = vec![0u8; output.len()];
    assert_eq!(response.encode(&mut again), Ok(output.len()), "response encoding is not canonical");
    assert_eq!(again, output);
    if let Response::Path(path) = response {
        assert!(path.len() <= MAX_PATH_ENTRIES);
        assert_eq!(path.iter().count(), path.len(), "a path record did not parse");
    }
}
