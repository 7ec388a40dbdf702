//! The IOCTL ABI decoders on arbitrary bytes: requests that decode re-encode to the same bytes;
//! responses, event records and device frames never panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use peerdrt_abi::frame::{REQUEST_HEADER_LEN, RESPONSE_HEADER_LEN, RequestHeader, ResponseHeader};
use peerdrt_abi::{EventRecord, Request, Response, ioctl};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, input)) = data.split_first() else { return };
    let code = ioctl::ALL[usize::from(selector) % ioctl::ALL.len()];
    if let Ok(request) = Request::decode(code, input) {
        let mut buf = vec![0u8; input.len()];
        let len = request.encode(&mut buf).expect("a decoded request re-encodes");
        assert_eq!(&buf[..len], input, "request encoding is canonical");
        assert_eq!(request.code(), code);
    }
    if let Ok(response) = Response::decode(code, input) {
        let mut buf = vec![0u8; input.len()];
        let len = response.encode(&mut buf).expect("a decoded response re-encodes");
        assert_eq!(&buf[..len], input, "response encoding is canonical");
    }
    let _ = EventRecord::decode(input);
    if let Some(header) = input.first_chunk::<REQUEST_HEADER_LEN>() {
        let _ = RequestHeader::decode(header);
    }
    if let Some(header) = input.first_chunk::<RESPONSE_HEADER_LEN>() {
        let _ = ResponseHeader::decode(header);
    }
});
