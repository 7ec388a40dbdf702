//! group-sim-bench: what synchronisation costs in a simulated five-member group as the database
//! grows: a member that was offline while `changed` records changed catches up (records and bytes
//! it received, against a full transfer), and a member with an empty database catches up on all.
//!
//! Run: `cargo run --release -p peerdrt-sim --bin group-sim-bench -- [--max-records 10000]
//! [--changed 20]`.

use std::process::ExitCode;
use std::time::Instant as WallInstant;

use peerdrt_sim::group::{GroupNetwork, GroupSim};

const MEMBERS: usize = 5;
const SIZES: [usize; 4] = [100, 1_000, 10_000, 50_000];

fn argument(args: &[String], name: &str, default: usize) -> Result<usize, String> {
    match args.iter().position(|a| a == name) {
        None => Ok(default),
        Some(i) => {
            args.get(i + 1).and_then(|v| v.parse().ok()).ok_or_else(|| format!("{name} needs a number"))
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (max_records, changed) =
        match (argument(&args, "--max-records", 10_000), argument(&args, "--changed", 20)) {
            (Ok(m), Ok(c)) => (m, c),
            (Err(e), _) | (_, Err(e)) => {
                eprintln!("group-sim-bench: {e}");
                return ExitCode::from(2);
            }
        };
    println!(
        "{:>8} {:>8} | {:>12} {:>12} {:>12} | {:>12} {:>12} {:>9} | {:>9} {:>9}",
        "records",
        "changed",
        "catch-up rec",
        "catch-up B",
        "full B",
        "empty rec",
        "empty B",
        "overhead",
        "wall s",
        "cpu s"
    );
    for &records in SIZES.iter().filter(|&&n| n <= max_records) {
        let wall = WallInstant::now();
        let cpu = cpu_seconds();
        let mut sim = GroupSim::new(MEMBERS, records as u64, GroupNetwork::default());
        sim.connect_all();
        let fresh = MEMBERS - 1;
        sim.go_offline(fresh);
        let mut ids = Vec::with_capacity(records);
        for n in 0..records {
            let data = (n as u64).to_be_bytes().repeat(8);
            ids.push(sim.add(n % (MEMBERS - 1), &data, 86_400).expect("add").id);
            if n % 256 == 255 {
                sim.settle();
            }
        }
        sim.settle();
        // The empty member catches up on everything.
        let before = sim.received(fresh);
        sim.go_online(fresh);
        sim.settle();
        let empty = (sim.received(fresh).records - before.records, sim.received(fresh).bytes - before.bytes);
        let record_bytes: usize = sim.member(0).database().all().map(|r| r.view().encoded_len()).sum();

        // Then it goes offline while `changed` records change, and catches up again.
        let away = MEMBERS - 2;
        sim.go_offline(away);
        let changed = changed.min(records);
        for (k, id) in ids.iter().take(changed).enumerate() {
            // Its creator updates it, or the administrator (member 0) if the creator is away.
            let creator = k % (MEMBERS - 1);
            let writer = if creator == away { 0 } else { creator };
            sim.update(writer, id, b"changed while away").expect("update");
        }
        sim.settle();
        let before = sim.received(away);
        sim.go_online(away);
        sim.settle();
        let after = sim.received(away);
        let full: usize = sim.member(0).database().all().map(|r| r.view().encoded_len()).sum();
        println!(
            "{:>8} {:>8} | {:>12} {:>12} {:>12} | {:>12} {:>12} {:>8.2}x | {:>9.2} {:>9}",
            records,
            changed,
            after.records - before.records,
            after.bytes - before.bytes,
            full,
            empty.0,
            empty.1,
            empty.1 as f64 / record_bytes as f64,
            wall.elapsed().as_secs_f64(),
            match (cpu, cpu_seconds()) {
                (Some(start), Some(end)) => format!("{:.2}", end - start),
                _ => "-".into(),
            }
        );
    }
    ExitCode::SUCCESS
}

/// CPU time this (single-threaded) process has run, from `/proc/self/schedstat` (Linux): on a
/// shared machine wall time also counts the time spent waiting for a core.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/schedstat").ok()?;
    let ns: u64 = stat.split_whitespace().next()?.parse().ok()?;
    Some(ns as f64 / 1e9)
}
