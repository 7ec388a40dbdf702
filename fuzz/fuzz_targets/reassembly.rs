//! A `Reassembler<u8>` driven by a script of accept / expire / forget operations (see
//! `peerdrt_fuzz::reassembly::Op` for the encoding), its invariants checked after every step.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| peerdrt_fuzz::reassembly::check(data));
