//! Turns drt-sim-bench's JSON (`--json`, one or more files, e.g. the 100..10,000 run and a
//! separate 100,000 run) into the BENCHMARKS.md table and the "datagrams and round trips vs N"
//! plot.
//!
//! `sim-plot OUT.png SIM.json [SIM.json…]`

use std::path::PathBuf;

use peerdrt_bench::plot::{Series, line_plot};
use serde_json::Value;

fn main() {
    let mut args = std::env::args().skip(1);
    let out = PathBuf::from(args.next().expect("USAGE: sim-plot OUT.png SIM.json [SIM.json…]"));
    let mut rows: Vec<Value> = Vec::new();
    for path in args {
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let json: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
        rows.extend(json["rows"].as_array().cloned().unwrap_or_default());
    }
    rows.sort_by_key(|r| r["n"].as_u64());
    rows.dedup_by_key(|r| r["n"].as_u64());
    println!(
        "| N | RT median | RT p99 | RT goal (p99 ≤ ⌈log16 N⌉+1) | datagrams mean | datagrams p99 | latency p50 / p99 (virtual ms) | mem/node mean / max (B) | findable after last join | found |"
    );
    println!("|---:|---:|---:|---|---:|---:|---|---|---:|---:|");
    let f = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    for r in &rows {
        let rt = &r["round_trips"];
        println!(
            "| {} | {} | {} | ≤ {} {} | {:.1} | {} | {} / {} | {:.0} / {} | {:.1} s | {}/{} |",
            r["n"],
            rt["median"],
            rt["p99"],
            rt["goal_p99_max"],
            if rt["pass"].as_bool() == Some(true) { "PASS" } else { "MISS" },
            f(&r["datagrams"]["mean"]),
            r["datagrams"]["p99"],
            r["latency_ms"]["p50"],
            r["latency_ms"]["p99"],
            f(&r["bytes_per_node"]["mean"]),
            r["bytes_per_node"]["max"],
            f(&r["findable_after_last_join_ms"]) / 1000.0,
            r["found"],
            r["searches"],
        );
    }
    let points = |get: &dyn Fn(&Value) -> f64| -> Vec<(f64, f64)> {
        rows.iter().map(|r| (f(&r["n"]), get(r))).collect()
    };
    let series = [
        Series { name: "datagrams per lookup, mean", points: points(&|r| f(&r["datagrams"]["mean"])) },
        Series { name: "datagrams per lookup, p99", points: points(&|r| f(&r["datagrams"]["p99"])) },
        Series { name: "round trips, median", points: points(&|r| f(&r["round_trips"]["median"])) },
        Series { name: "round trips, p99", points: points(&|r| f(&r["round_trips"]["p99"])) },
    ];
    match line_plot(
        &out,
        "Simulated DRT clouds: cost of one exact lookup vs N",
        "N (nodes, log scale)",
        "per lookup",
        &series,
        true,
        false,
    ) {
        Ok(()) => eprintln!("plot: {}", out.display()),
        Err(e) => eprintln!("plot failed: {e}"),
    }
}
