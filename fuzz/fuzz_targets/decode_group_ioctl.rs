//! The GROUP_* IOCTL decoders on arbitrary bytes: group calls (the caller's UTC, then the
//! request) that decode re-encode to the same bytes; group responses never panic and re-encode.

#![no_main]

use libfuzzer_sys::fuzz_target;
use peerdrt_abi::Request;
use peerdrt_abi::group::{self, GroupResponse};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, input)) = data.split_first() else { return };
    let code = group::ALL[usize::from(selector) % group::ALL.len()];
    if let Ok(request) = Request::decode(code, input) {
        let mut buf = vec![0u8; input.len()];
        let len = request.encode(&mut buf).expect("a decoded group call re-encodes");
        assert_eq!(&buf[..len], input, "group call encoding is canonical");
        assert_eq!(request.code(), code);
    }
    if let Ok(response) = GroupResponse::decode(code, input) {
        let mut buf = vec![0u8; input.len()];
        let len = response.encode(&mut buf).expect("a decoded group response re-encodes");
        assert_eq!(&buf[..len], input, "group response encoding is canonical");
    }
});
