//! The shim's parsing of device responses: arbitrary bytes as the stream of response frames
//! its Linux backend reads from `peerdrtd`, each output parsed as the shim parses it (see
//! `peerdrt_fuzz::shim`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| peerdrt_fuzz::shim::check_stream(data));
