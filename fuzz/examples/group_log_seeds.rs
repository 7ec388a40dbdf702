//! Writes the seed corpus of the `group_log` target, `fuzz/corpus/group_log/seed-*`,
//! deterministically: logs written through the store's own `GroupLog`, then damaged the ways
//! the store handles, each checked to pass the target.
//!
//! ```text
//! cd fuzz && cargo run --example group_log_seeds
//! ```

use std::fs;
use std::path::Path;

use peerdrt::store::group_store::{
    FRAME_LEN, GroupLog, HEADER_LEN, LEGACY_MAGIC, MAX_LOG_BYTES, Replay, SetAside,
};
use peerdrt::store::memory_file::MemoryDirectory;
use peerdrt_fuzz::group_log::{
    MODE_AT_LIMIT, MODE_PAST_LIMIT, MODE_WRITTEN, NAME, check, group_root, record,
};

/// A log written by `GroupLog`: the marker first when `synchronised`, then `records` records.
fn written(synchronised: bool, records: u64) -> Vec<u8> {
    let mut dir = MemoryDirectory::default();
    let (mut log, _) = GroupLog::open(&mut dir, NAME, group_root(), |_| {}).unwrap();
    if synchronised {
        log.mark_synchronised().unwrap();
    }
    for n in 1..=records {
        log.append(&record(n, &n.to_be_bytes())).unwrap();
    }
    dir.bytes(NAME)
}

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/group_log");
    fs::create_dir_all(&dir).unwrap();
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap().to_string_lossy().starts_with("seed-") {
            fs::remove_file(path).unwrap();
        }
    }

    let valid = written(true, 3);
    let header = HEADER_LEN as usize;
    let first_record = header + FRAME_LEN;
    let entry_len = (valid.len() - first_record) / 3;

    let mut torn = valid.clone();
    torn.truncate(valid.len() - entry_len / 2);

    let mut corrupt = valid.clone();
    corrupt[first_record + FRAME_LEN + 40] ^= 0x01;

    let mut legacy = written(false, 2);
    legacy[..8].copy_from_slice(&LEGACY_MAGIC);
    let mut legacy_empty = written(false, 0);
    legacy_empty[..8].copy_from_slice(&LEGACY_MAGIC);

    let mut other_group = valid.clone();
    other_group[8] ^= 0xFF;

    let replay = |records, truncated, synchronised, set_aside| {
        Some(Replay { records, truncated, created: false, synchronised, set_aside })
    };
    let corrupt_at = Some(SetAside::Corrupt { offset: first_record as u64 });
    // Each seed, and what opening it must report (`None`: refused).
    let seeds: Vec<(&str, u8, Vec<u8>, Option<Replay>)> = vec![
        ("synchronised-3-records", MODE_WRITTEN, valid.clone(), replay(3, 0, true, None)),
        ("unsynchronised-2-records", MODE_WRITTEN, written(false, 2), replay(2, 0, false, None)),
        ("torn-tail", MODE_WRITTEN, torn, replay(2, (entry_len - entry_len / 2) as u64, true, None)),
        ("corrupt-first-record", MODE_WRITTEN, corrupt, replay(0, 0, true, corrupt_at)),
        ("legacy-pdrtgrp1-2-records", MODE_WRITTEN, legacy, replay(2, 0, true, None)),
        ("legacy-pdrtgrp1-empty", MODE_WRITTEN, legacy_empty, replay(0, 0, false, None)),
        ("torn-header", MODE_WRITTEN, valid[..5].to_vec(), replay(0, 5, false, None)),
        ("other-group", MODE_WRITTEN, other_group, None),
        (
            "at-max-log-bytes",
            MODE_AT_LIMIT,
            valid.clone(),
            // Replayed (not too large); the zeros after the records are damage, not a torn tail.
            replay(3, 0, true, Some(SetAside::Corrupt { offset: valid.len() as u64 })),
        ),
        (
            "past-max-log-bytes",
            MODE_PAST_LIMIT,
            valid[..header].to_vec(),
            replay(0, 0, false, Some(SetAside::TooLarge { bytes: MAX_LOG_BYTES + 1 })),
        ),
    ];
    for (name, mode, bytes, expected) in seeds {
        let mut seed = vec![mode];
        seed.extend_from_slice(&bytes);
        assert_eq!(check(&seed), expected, "seed-{name}");
        fs::write(dir.join(format!("seed-{name}")), &seed).unwrap();
        println!("seed-{name}: {} bytes", seed.len());
    }
}
