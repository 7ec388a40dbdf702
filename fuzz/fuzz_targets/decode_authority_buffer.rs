//! `AuthorityBuffer::decode` on arbitrary bytes; decoded buffers must survive encode + decode
//! unchanged and come back whole through AUTHORITY fragments and the reassembler. The same bytes
//! are tried as a reassembled REQUEST body.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    peerdrt_fuzz::check_authority_buffer(data);
    peerdrt_fuzz::check_request_body(data);
});
