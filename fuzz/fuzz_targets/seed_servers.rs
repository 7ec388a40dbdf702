//! `parse_seed_servers` (the PNRP SeedServer policy value the driver reads from the registry) on
//! arbitrary text: never panics; a list within the length limit always parses, keeps at most
//! MAX_SEED_SERVERS seeds without duplicates or port 0, and accounts for every non-empty entry.

#![no_main]

use libfuzzer_sys::fuzz_target;
use peerdrt_core::pnrp::seed_servers::{MAX_SEED_LIST_LEN, MAX_SEED_SERVERS, parse_seed_servers};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = core::str::from_utf8(data) else { return };
    match parse_seed_servers(text) {
        Ok(list) => {
            assert!(text.len() <= MAX_SEED_LIST_LEN);
            assert!(list.seeds.len() <= MAX_SEED_SERVERS);
            assert!(list.seeds.iter().all(|s| s.port != 0));
            for (i, s) in list.seeds.iter().enumerate() {
                assert!(!list.seeds[..i].contains(s));
            }
            let entries = text.split(';').filter(|e| !e.trim().is_empty()).count();
            assert_eq!(list.seeds.len() + list.skipped.len(), entries);
        }
        Err(_) => assert!(text.len() > MAX_SEED_LIST_LEN),
    }
});
