//! Shared pieces of the loopback benchmarks: CPU clocks, a counting allocator, percentiles,
//! the machine description and PNG plots.

pub mod alloc_count;
pub mod plot;

use std::time::Duration;

/// CPU time a thread of this process has run, from `/proc/self/task/<tid>/schedstat`
/// (nanoseconds, unlike the 10 ms ticks of `stat`).
fn task_cpu(tid: &str) -> Option<Duration> {
    let text = std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat")).ok()?;
    let ns: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// Summed CPU time of this process's threads whose name starts with one of `prefixes`.
pub fn threads_cpu(prefixes: &[&str]) -> Duration {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else { return Duration::ZERO };
    let mut total = Duration::ZERO;
    for entry in dir.flatten() {
        let tid = entry.file_name();
        let Some(tid) = tid.to_str() else { continue };
        let Ok(name) = std::fs::read_to_string(format!("/proc/self/task/{tid}/comm")) else { continue };
        if prefixes.iter().any(|p| name.trim_end().starts_with(p)) {
            total += task_cpu(tid).unwrap_or_default();
        }
    }
    total
}

/// CPU time (user + system) of the whole process so far.
pub fn process_cpu() -> Duration {
    // SAFETY: getrusage writes into the struct we pass and nothing else.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_SELF with a valid out pointer.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return Duration::ZERO;
    }
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, (t.tv_usec as u32) * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// Resident set size of this process, bytes.
pub fn rss_bytes() -> u64 {
    let text = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = text.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    pages * 4096
}

/// The `q`-quantile (0..=1) of sorted values (nearest rank).
pub fn quantile<T: Copy>(sorted: &[T], q: f64) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

/// nproc, CPU model, kernel and load average, for the report.
pub fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    // Other work on the machine skews every figure: say how much there was.
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    format!("{cpus} CPUs ({model}), Linux {}, load average {}", kernel.trim(), load.join(" "))
}

/// UDP datagrams the network namespace sent so far (`Udp: OutDatagrams` of /proc/net/snmp).
/// Exact for this process when it runs alone in a namespace of its own (`unshare -rn`).
pub fn udp_out_datagrams() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/net/snmp").ok()?;
    let mut lines = text.lines().filter(|l| l.starts_with("Udp:"));
    let names = lines.next()?;
    let values = lines.next()?;
    let i = names.split_whitespace().position(|n| n == "OutDatagrams")?;
    values.split_whitespace().nth(i)?.parse().ok()
}
