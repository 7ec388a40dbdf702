//! The record search XML of PeerGroupSearchRecords on arbitrary text: parsing never panics, and
//! a parsed search evaluates against the attributes read from the same text without panicking.

#![no_main]

use libfuzzer_sys::fuzz_target;
use peerdrt_shim::group::search::{Search, attributes_of, date_key};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let attributes = attributes_of(text);
    if let Ok(search) = Search::parse(text) {
        let _ = search.matches(&attributes);
    }
    let _ = date_key(text);
});
