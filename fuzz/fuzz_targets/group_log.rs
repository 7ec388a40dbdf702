//! A group's durability log opened and replayed from arbitrary file contents, through the real
//! code path over the store's in-memory directory: never a panic, a defined outcome, a log left
//! that replays and reopens cleanly, and the heap within `allocation_bound` (see
//! `peerdrt_fuzz::group_log`).

#![no_main]

use libfuzzer_sys::fuzz_target;
use peerdrt_fuzz::group_log::{PeakAllocator, allocation_bound, check};

#[global_allocator]
static HEAP: PeakAllocator = PeakAllocator::new();

fuzz_target!(|data: &[u8]| {
    let before = HEAP.reset();
    check(data);
    let used = HEAP.peak() - before;
    assert!(used <= allocation_bound(data.len()), "{used} heap bytes for a {}-byte input", data.len());
});
