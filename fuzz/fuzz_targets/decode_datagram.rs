//! `Datagram::decode` on arbitrary bytes; decoded values must survive encode + decode unchanged,
//! and a REQUEST / AUTHORITY fragment is also decoded as a whole body.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| peerdrt_fuzz::check_datagram(data));
