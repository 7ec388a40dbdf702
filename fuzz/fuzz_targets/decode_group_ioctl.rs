//! The GROUP_* IOCTL decoders on arbitrary bytes: group calls (the caller's UTC, then the
//! request) that decode re-encode to the same bytes; group responses and the group events
//! WAIT_EVENT delivers never panic and re-encode.

#![no_main]

use libfuzzer_sys::fuzz_target;
use peerdrt_abi::Request;
use peerdrt_abi::group::{self, GroupEventRecord, GroupResponse};

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
        assert_eq!(response.members().count() * group::MEMBER_ENTRY_LEN, match response {
            GroupResponse::Members(entries) => entries.len(),
            _ => 0,
        }, "every entry of a decoded member page reads back");
    }
    if let Ok(event) = GroupEventRecord::decode(input) {
        let mut buf = [0u8; group::MAX_GROUP_EVENT_LEN];
        let len = event.encode(&mut buf).expect("a decoded group event re-encodes");
        assert_eq!(&buf[..len], input, "group event encoding is canonical");
        assert!(GroupEventRecord::is_group_event(input));
    }
});
