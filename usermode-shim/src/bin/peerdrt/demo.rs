//! `peerdrt demo`: a local cloud, end to end.
//!
//! 1. N nodes on loopback, each a child process running the node (this program's hidden
//!    `daemon` command, i.e. the driver crate's `host` module, or `--node-binary peerdrtd`),
//!    each with a standing DRT instance on its own UDP port seeded from earlier nodes;
//! 2. waits until the cloud has formed: an observer instance's nearest-key search sees every
//!    node's key;
//! 3. a child process (`demo-register`) opens DRT instances through the shim on some nodes
//!    and registers K keys, keeping them registered;
//! 4. another child process (`demo-search`) opens instances on other nodes and searches every
//!    key (exact), and a few with nearest and range searches, reporting JSON lines;
//! 5. prints found/total, hops (nodes on the search path) and latency percentiles, and tears
//!    everything down: clients exit (their keys are unregistered), nodes stop, the temporary
//!    directory with the sockets is removed.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use peerdrt_shim::Key;
use peerdrt_shim::drt::{Drt, MatchType, SearchInfo, Settings};
use serde_json::{Value, json};

use crate::CmdResult;

/// `demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Nodes in the cloud (at least 3).
    #[arg(long, default_value_t = 25)]
    nodes: usize,
    /// Keys to register and find.
    #[arg(long, default_value_t = 25)]
    keys: usize,
    /// Seconds allowed for the cloud to form.
    #[arg(long, default_value_t = 60)]
    form_timeout: u64,
    /// Run the nodes with this binary (`peerdrtd`) instead of this program's `daemon` command.
    #[arg(long, value_name = "PATH")]
    node_binary: Option<PathBuf>,
    /// Keep the temporary directory (node logs) afterwards.
    #[arg(long)]
    keep: bool,
}

/// `demo-register`.
#[derive(Debug, Args)]
pub struct RegisterArgs {
    /// A node to attach an instance to: SOCKET,PORT (the node's standing instance's UDP port,
    /// the instance's seed). Repeatable; keys are spread over the instances.
    #[arg(long = "attach", value_name = "SOCKET,PORT", required = true)]
    attach: Vec<String>,
    /// A further seed of every instance.
    #[arg(long = "seed", value_name = "ADDR:PORT")]
    seeds: Vec<String>,
    /// A key to register: HEX=DATA (repeatable).
    #[arg(long = "entry", value_name = "HEX=DATA")]
    entries: Vec<String>,
    /// Exit with the parent (PR_SET_PDEATHSIG).
    #[arg(long)]
    die_with_parent: bool,
}

/// `demo-search`.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// A node to attach an instance to: SOCKET,PORT. Repeatable; searches rotate over them.
    #[arg(long = "attach", value_name = "SOCKET,PORT", required = true)]
    attach: Vec<String>,
    /// A further seed of every instance.
    #[arg(long = "seed", value_name = "ADDR:PORT")]
    seeds: Vec<String>,
    /// A key to find and the data it must carry: HEX=DATA (repeatable).
    #[arg(long = "entry", value_name = "HEX=DATA")]
    entries: Vec<String>,
    /// Also run this many nearest-key searches (3 nearest, the key must be among them).
    #[arg(long, default_value_t = 5)]
    near: usize,
    /// Also run this many range searches (a narrow range around the key).
    #[arg(long, default_value_t = 5)]
    range: usize,
    /// Timeout of each search, milliseconds.
    #[arg(long, default_value_t = 5000)]
    timeout_ms: u64,
    /// Attempts of a search that finds nothing (a second apart).
    #[arg(long, default_value_t = 3)]
    attempts: usize,
    /// Exit with the parent (PR_SET_PDEATHSIG).
    #[arg(long)]
    die_with_parent: bool,
}

fn die_with_parent(enabled: bool) {
    #[cfg(target_os = "linux")]
    if enabled {
        // SAFETY: prctl(PR_SET_PDEATHSIG) only sets a flag of this process.
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) };
    }
    #[cfg(not(target_os = "linux"))]
    let _ = enabled;
}

fn parse_attach(text: &str) -> Result<(PathBuf, u16), String> {
    let (path, port) =
        text.rsplit_once(',').ok_or_else(|| format!("--attach {text:?}: expected SOCKET,PORT"))?;
    Ok((PathBuf::from(path), port.parse().map_err(|_| format!("--attach {text:?}: bad port"))?))
}

fn parse_entry(text: &str) -> Result<(Key, String), String> {
    let (k, d) = text.split_once('=').ok_or_else(|| format!("--entry {text:?}: expected HEX=DATA"))?;
    Ok((Key::parse_hex(k).map_err(|e| format!("--entry {text:?}: {e}"))?, d.to_string()))
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Opens one instance per `--attach`, in parallel, and waits for them to become active.
fn open_instances(attach: &[String], seeds: &[String]) -> Result<Vec<Drt>, Box<dyn std::error::Error>> {
    let extra = crate::drt_cmd::resolve_seeds(seeds)?;
    let mut out = Vec::new();
    for a in attach {
        let (socket, port) = parse_attach(a)?;
        let mut seeds = vec![loopback(port)];
        seeds.extend(extra.iter().copied().filter(|s| s.port() != port));
        let drt = Drt::open(&Settings { device: Some(socket.clone()), seeds, ..Settings::default() })
            .map_err(|e| format!("DrtOpen on {}: {e}", socket.display()))?;
        out.push(drt);
    }
    for d in &out {
        d.wait_active(Duration::from_secs(20));
    }
    Ok(out)
}

fn emit(v: Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{v}");
    let _ = out.flush();
}

/// The registering child: registers, reports `ready`, then obeys stdin (`update HEX DATA`,
/// `unregister HEX`, `quit`) until it ends; everything is unregistered on the way out.
pub fn register_child(a: RegisterArgs) -> CmdResult {
    die_with_parent(a.die_with_parent);
    let entries = a.entries.iter().map(|e| parse_entry(e)).collect::<Result<Vec<_>, _>>()?;
    let drts = open_instances(&a.attach, &a.seeds)?;
    let mut registrations = Vec::new();
    for (i, (key, data)) in entries.iter().enumerate() {
        let d = &drts[i % drts.len()];
        let r = d.register(key, data.as_bytes()).map_err(|e| format!("DrtRegisterKey {key}: {e}"))?;
        registrations.push((i % drts.len(), r));
    }
    // A search that stays open (for an absent key), so its handle can be shown to others.
    let held = drts[0]
        .search(&Key::from_u64(0xDEAD_BEEF), &SearchInfo::exact(), Duration::from_secs(600))
        .map_err(|e| format!("DrtStartSearch: {e}"))?;
    emit(json!({
        "type": "ready",
        "pid": std::process::id(),
        "instances": drts.iter().map(|d| json!({
            "port": d.port(), "status": d.status().map(|s| s.raw()), "handle": d.raw_handle(),
        })).collect::<Vec<_>>(),
        "registrations": registrations.iter().map(|(i, r)| json!({
            "key": r.key().to_hex(), "instance": i, "handle": r.raw_handle(),
        })).collect::<Vec<_>>(),
        "held_search": held.raw_handle(),
    }));
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let mut words = line.split_whitespace();
        match (words.next(), words.next(), words.next()) {
            (Some("update"), Some(k), Some(data)) => {
                let key = Key::parse_hex(k)?;
                let r = registrations
                    .iter()
                    .find(|(_, r)| r.key() == key)
                    .map(|(_, r)| r.update(data.as_bytes()));
                emit(json!({ "type": "updated", "key": key.to_hex(), "ok": matches!(r, Some(Ok(()))) }));
            }
            (Some("unregister"), Some(k), _) => {
                let key = Key::parse_hex(k)?;
                let r = registrations
                    .iter()
                    .position(|(_, r)| r.key() == key)
                    .map(|i| registrations.remove(i).1.unregister());
                emit(json!({ "type": "unregistered", "key": key.to_hex(), "ok": matches!(r, Some(Ok(()))) }));
            }
            (Some("quit"), _, _) => break,
            _ => emit(json!({ "type": "error", "line": line })),
        }
    }
    drop(held);
    for (_, r) in registrations {
        let _ = r.unregister();
    }
    for d in drts {
        d.close();
    }
    emit(json!({ "type": "bye" }));
    Ok(ExitCode::SUCCESS)
}

/// One search: its outcome as a JSON line.
fn one_search(drt: &Drt, kind: &str, key: &Key, data: &str, info: &SearchInfo, timeout: Duration) -> Value {
    let started = Instant::now();
    let search = match drt.search(key, info, timeout) {
        Ok(s) => s,
        Err(e) => {
            return json!({ "type": "search", "kind": kind, "key": key.to_hex(), "found": false, "error": e.to_string() });
        }
    };
    let mut found = false;
    let mut data_ok = false;
    let mut latency_ms = None;
    let mut outcome = "complete".to_string();
    let mut results = 0;
    for r in search.results() {
        match r {
            Ok(r) => {
                results += 1;
                if r.key == *key && r.match_type != MatchType::Intermediate {
                    found = true;
                    data_ok = r.app_data == data.as_bytes();
                    latency_ms.get_or_insert(started.elapsed().as_secs_f64() * 1000.0);
                }
            }
            Err(e) => outcome = e.to_string(),
        }
    }
    let hops = search.path().map(|p| p.len()).unwrap_or(0);
    json!({
        "type": "search", "kind": kind, "key": key.to_hex(), "found": found && data_ok, "data_ok": data_ok,
        "results": results, "hops": hops, "latency_ms": latency_ms,
        "elapsed_ms": started.elapsed().as_secs_f64() * 1000.0, "outcome": outcome,
    })
}

/// A key `delta` away (saturating at the ends of the key space).
fn offset(key: &Key, delta: &[u8; 32], up: bool) -> Key {
    let mut out = [0u8; 32];
    let mut carry = 0i16;
    for i in (0..32).rev() {
        let v = if up {
            key.0[i] as i16 + delta[i] as i16 + carry
        } else {
            key.0[i] as i16 - delta[i] as i16 + carry
        };
        out[i] = v.rem_euclid(256) as u8;
        carry = if up {
            v / 256
        } else if v < 0 {
            -1
        } else {
            0
        };
    }
    match (up, carry) {
        (true, c) if c > 0 => Key::MAX,
        (false, c) if c < 0 => Key::MIN,
        _ => Key(out),
    }
}

/// The searching child: exact searches for every entry, then nearest and range searches.
pub fn search_child(a: SearchArgs) -> CmdResult {
    die_with_parent(a.die_with_parent);
    let entries = a.entries.iter().map(|e| parse_entry(e)).collect::<Result<Vec<_>, _>>()?;
    let drts = open_instances(&a.attach, &a.seeds)?;
    emit(json!({ "type": "attached", "pid": std::process::id(),
                 "instances": drts.iter().map(|d| json!({ "port": d.port(), "status": d.status().map(|s| s.raw()) })).collect::<Vec<_>>() }));
    let timeout = Duration::from_millis(a.timeout_ms);
    let mut n = 0;
    // A key registered a moment ago may not have reached every node that a search can end at
    // (its announcement and the leaf-set maintenance take time): a search that misses is tried
    // again, up to `a.attempts` times, a second apart; the attempts are reported.
    let search = |kind: &str, key: &Key, data: &str, info: &SearchInfo, n: usize| {
        let mut attempt = 1;
        loop {
            let mut v = one_search(&drts[(n + attempt - 1) % drts.len()], kind, key, data, info, timeout);
            if v["found"] == true || attempt >= a.attempts {
                v["attempts"] = json!(attempt);
                emit(v);
                return;
            }
            attempt += 1;
            std::thread::sleep(Duration::from_secs(1));
        }
    };
    for (key, data) in &entries {
        search("exact", key, data, &SearchInfo::exact(), n);
        n += 1;
    }
    for (key, data) in entries.iter().take(a.near) {
        search("nearest", key, data, &SearchInfo::nearest(3), n);
        n += 1;
    }
    // ±2^192: with random 256-bit keys another key falls in such a range with probability ~2^-63.
    let mut delta = [0u8; 32];
    delta[7] = 1;
    for (key, data) in entries.iter().take(a.range) {
        let info = SearchInfo::range(offset(key, &delta, false), offset(key, &delta, true), 1);
        search("range", key, data, &info, n);
        n += 1;
    }
    for d in drts {
        d.close();
    }
    emit(json!({ "type": "done" }));
    Ok(ExitCode::SUCCESS)
}

// ----- the parent ----------------------------------------------------------------------------

struct Node {
    port: u16,
    socket: PathBuf,
    child: Child,
}

/// Everything the demo started; dropping it stops and removes all of it.
struct Cloud {
    dir: PathBuf,
    nodes: Vec<Node>,
    clients: Vec<Child>,
    keep: bool,
}

fn terminate(child: &mut Child, grace: Duration) -> bool {
    if let Ok(Some(_)) = child.try_wait() {
        return true;
    }
    #[cfg(unix)]
    // SAFETY: SIGTERM to our own child, which shuts down cleanly on it.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    false
}

impl Cloud {
    /// Stops clients, then nodes; removes the directory. Returns (clean stops, total).
    fn shutdown(&mut self) -> (usize, usize) {
        let mut clean = 0;
        let mut total = 0;
        for c in self.clients.iter_mut().chain(self.nodes.iter_mut().map(|n| &mut n.child)) {
            total += 1;
            if terminate(c, Duration::from_secs(5)) {
                clean += 1;
            }
        }
        self.clients.clear();
        self.nodes.clear();
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
        (clean, total)
    }
}

impl Drop for Cloud {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Distinct free UDP ports (held together while chosen, so they differ).
fn free_ports(n: usize) -> std::io::Result<Vec<u16>> {
    let sockets = (0..n)
        .map(|_| UdpSocket::bind("[::]:0").or_else(|_| UdpSocket::bind("127.0.0.1:0")))
        .collect::<Result<Vec<_>, _>>()?;
    sockets.iter().map(|s| s.local_addr().map(|a| a.port())).collect()
}

fn node_command(exe: &Path, binary: Option<&Path>, socket: &Path, port: u16, seeds: &[u16]) -> Command {
    let mut c = match binary {
        Some(b) => Command::new(b),
        None => {
            let mut c = Command::new(exe);
            c.args(["daemon", "--die-with-parent"]);
            c
        }
    };
    c.arg("--socket").arg(socket).arg("--instance-port").arg(port.to_string());
    for s in seeds {
        c.arg("--seed").arg(loopback(*s).to_string());
    }
    c
}

fn wait_for_socket(node: &mut Node, wait: Duration) -> Result<(), String> {
    let deadline = Instant::now() + wait;
    loop {
        #[cfg(unix)]
        if std::os::unix::net::UnixStream::connect(&node.socket).is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = node.child.try_wait() {
            return Err(format!("the node on UDP {} exited ({status})", node.port));
        }
        if Instant::now() >= deadline {
            return Err(format!("the node on UDP {} did not open {}", node.port, node.socket.display()));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Removes what a demo killed outright (SIGKILL leaves no chance to clean up) left behind:
/// `peerdrt-demo-<pid>-*` directories whose process is gone. Its nodes died with it.
fn remove_stale_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else { return };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix("peerdrt-demo-").and_then(|r| r.split('-').next()) else {
            continue;
        };
        let Ok(pid) = pid.parse::<i32>() else { continue };
        #[cfg(unix)]
        // SAFETY: signal 0 only checks whether the process exists.
        let gone = unsafe { libc::kill(pid, 0) } != 0
            && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
        #[cfg(not(unix))]
        let gone = pid < 0;
        if gone {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

fn random_key() -> Key {
    let mut k = [0u8; 32];
    getrandom::getrandom(&mut k).expect("random source");
    Key(k)
}

fn read_json_line(lines: &mut impl Iterator<Item = std::io::Result<String>>) -> Option<Value> {
    for line in lines.by_ref() {
        let line = line.ok()?;
        if let Ok(v) = serde_json::from_str::<Value>(&line) {
            return Some(v);
        }
    }
    None
}

fn spawn_client(
    exe: &Path,
    args: &[String],
    stdin: bool,
) -> std::io::Result<(Child, Option<ChildStdin>, ChildStdout)> {
    let mut child = Command::new(exe)
        .args(args)
        .stdin(if stdin { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let input = child.stdin.take();
    let output = child.stdout.take().expect("piped stdout");
    Ok((child, input, output))
}

pub fn demo(json_out: bool, a: DemoArgs) -> CmdResult {
    if a.nodes < 3 {
        return Err("the demo needs at least 3 nodes".into());
    }
    if a.keys == 0 {
        return Err("the demo needs at least 1 key".into());
    }
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        let _ = ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst));
    }
    let exe = std::env::current_exe()?;
    remove_stale_dirs();
    let mut salt = [0u8; 4];
    getrandom::getrandom(&mut salt).map_err(|e| e.to_string())?;
    let dir = std::env::temp_dir().join(format!(
        "peerdrt-demo-{}-{:08x}",
        std::process::id(),
        u32::from_ne_bytes(salt)
    ));
    std::fs::create_dir_all(&dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
    }
    let mut cloud = Cloud { dir: dir.clone(), nodes: Vec::new(), clients: Vec::new(), keep: a.keep };
    let started = Instant::now();
    let interrupted = || -> Result<(), Box<dyn std::error::Error>> {
        if stop.load(Ordering::SeqCst) { Err("interrupted".into()) } else { Ok(()) }
    };

    // 1. Nodes.
    let bar = ProgressBar::new(a.nodes as u64).with_style(style("{prefix:>10} [{bar:30}] {pos}/{len} {msg}"));
    bar.set_prefix("nodes");
    let mut ports = free_ports(a.nodes)?;
    #[allow(clippy::needless_range_loop)] // `ports[i]` is replaced on a retry
    for i in 0..a.nodes {
        interrupted()?;
        let mut attempt = 0;
        loop {
            let socket = dir.join(format!("node-{i:02}.sock"));
            let mut seeds = vec![];
            if i > 0 {
                seeds.push(cloud.nodes[0].port);
                seeds.push(cloud.nodes[i - 1].port);
                let j = (u32::from_ne_bytes(salt) as usize + i * 7) % i;
                seeds.push(cloud.nodes[j].port);
                seeds.sort_unstable();
                seeds.dedup();
            }
            let log = std::fs::File::create(dir.join(format!("node-{i:02}.log")))?;
            let child = node_command(&exe, a.node_binary.as_deref(), &socket, ports[i], &seeds)
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log)
                .spawn()?;
            let mut node = Node { port: ports[i], socket, child };
            match wait_for_socket(&mut node, Duration::from_secs(10)) {
                Ok(()) => {
                    cloud.nodes.push(node);
                    break;
                }
                Err(e) if attempt < 3 => {
                    // Most likely the port was taken meanwhile: another one.
                    terminate(&mut node.child, Duration::from_secs(1));
                    attempt += 1;
                    ports[i] = free_ports(1)?[0];
                    bar.set_message(format!("retrying: {e}"));
                }
                Err(e) => return Err(e.into()),
            }
        }
        bar.set_message(format!("UDP {}", ports[i]));
        bar.inc(1);
    }
    bar.finish_with_message(format!("{} nodes up in {:.1} s", a.nodes, started.elapsed().as_secs_f64()));

    // 2. The cloud forms: an observer on node 0 runs nearest-key searches from random targets
    // until, together, they have found every node's key.
    let bar = ProgressBar::new(a.nodes as u64).with_style(style("{prefix:>10} [{bar:30}] {pos}/{len} {msg}"));
    bar.set_prefix("cloud");
    bar.set_message("node keys found by nearest-key searches");
    let form_started = Instant::now();
    let observer_seeds: Vec<SocketAddr> =
        cloud.nodes.iter().take(peerdrt_shim::abi::MAX_SEEDS).map(|n| loopback(n.port)).collect();
    let observer = Drt::open(&Settings {
        device: Some(cloud.nodes[0].socket.clone()),
        seeds: observer_seeds,
        ..Settings::default()
    })
    .map_err(|e| format!("DrtOpen (observer): {e}"))?;
    observer.wait_active(Duration::from_secs(10));
    let want = a.nodes.min(peerdrt_core::drt::MAX_SEARCH_RESULTS as usize);
    let mut seen = std::collections::BTreeSet::new();
    let mut formed = false;
    let mut rounds = 0;
    while form_started.elapsed() < Duration::from_secs(a.form_timeout) {
        interrupted()?;
        rounds += 1;
        if let Ok(s) =
            observer.search(&random_key(), &SearchInfo::nearest(want as u32), Duration::from_secs(5))
        {
            let keys: Vec<Key> = s.results().filter_map(Result::ok).map(|r| r.key).collect();
            seen.extend(keys);
            bar.set_position(seen.len() as u64);
            if seen.len() >= want {
                formed = true;
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let seen = seen.len();
    let form_secs = form_started.elapsed().as_secs_f64();
    observer.close();
    if formed {
        bar.finish_with_message(format!("formed in {form_secs:.1} s ({rounds} nearest-key searches)"));
    } else {
        bar.abandon_with_message(format!(
            "not fully formed after {form_secs:.0} s ({seen}/{want} keys seen); going on"
        ));
    }

    // 3. Keys registered by one process, on some nodes.
    let entries: Vec<(Key, String)> = (0..a.keys).map(|i| (random_key(), format!("value-{i}"))).collect();
    let entry_args: Vec<String> =
        entries.iter().flat_map(|(k, d)| ["--entry".to_string(), format!("{}={d}", k.to_hex())]).collect();
    let attach = |pick: usize| -> Vec<String> {
        cloud
            .nodes
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 3 == pick)
            .take(6)
            .flat_map(|(_, n)| ["--attach".to_string(), format!("{},{}", n.socket.display(), n.port)])
            .collect()
    };
    let common_seed =
        ["--seed".to_string(), loopback(cloud.nodes[0].port).to_string(), "--die-with-parent".into()];
    let spinner = ProgressBar::new_spinner().with_style(style("{prefix:>10} {spinner} {msg}"));
    spinner.set_prefix("register");
    spinner.enable_steady_tick(Duration::from_millis(100));
    spinner.set_message(format!("{} keys through the shim in a child process", a.keys));
    let mut args = vec!["demo-register".to_string()];
    args.extend(attach(1));
    args.extend(common_seed.iter().cloned());
    args.extend(entry_args.iter().cloned());
    let (child, register_stdin, register_stdout) = spawn_client(&exe, &args, true)?;
    let register_pid = child.id();
    cloud.clients.push(child);
    let mut register_lines = BufReader::new(register_stdout).lines();
    let ready = read_json_line(&mut register_lines)
        .filter(|v| v["type"] == "ready")
        .ok_or("the registering process failed")?;
    let register_instances = ready["instances"].as_array().map_or(0, Vec::len);
    spinner.finish_with_message(format!(
        "{} keys registered by pid {register_pid} through {register_instances} instances",
        a.keys
    ));
    interrupted()?;

    // 4. Searches from another process, on other nodes.
    let near = a.keys.min(5);
    let range = a.keys.min(5);
    let total = a.keys + near + range;
    let bar = ProgressBar::new(total as u64).with_style(style("{prefix:>10} [{bar:30}] {pos}/{len} {msg}"));
    bar.set_prefix("search");
    let mut args = vec![
        "demo-search".to_string(),
        "--near".into(),
        near.to_string(),
        "--range".into(),
        range.to_string(),
    ];
    args.extend(attach(2));
    args.extend(common_seed.iter().cloned());
    args.extend(entry_args.iter().cloned());
    let (child, _, search_stdout) = spawn_client(&exe, &args, false)?;
    let search_pid = child.id();
    cloud.clients.push(child);
    let mut lines = BufReader::new(search_stdout).lines();
    let mut outcomes = Vec::new();
    let mut search_instances = 0;
    while let Some(v) = read_json_line(&mut lines) {
        match v["type"].as_str() {
            Some("attached") => search_instances = v["instances"].as_array().map_or(0, Vec::len),
            Some("search") => {
                outcomes.push(v);
                bar.inc(1);
                bar.set_message(format!("{} found", outcomes.iter().filter(|o| o["found"] == true).count()));
            }
            Some("done") => break,
            _ => {}
        }
        if stop.load(Ordering::SeqCst) {
            break;
        }
    }
    bar.finish();
    interrupted()?;

    // 5. Summary and teardown.
    let found = outcomes.iter().filter(|o| o["found"] == true).count();
    let retried = outcomes.iter().filter(|o| o["attempts"].as_u64().is_some_and(|a| a > 1)).count();
    let by_kind = |k: &str| {
        let of: Vec<&Value> = outcomes.iter().filter(|o| o["kind"] == k).collect();
        (of.iter().filter(|o| o["found"] == true).count(), of.len())
    };
    let hops: Vec<f64> = outcomes.iter().filter_map(|o| o["hops"].as_f64()).collect();
    let mut latencies: Vec<f64> = outcomes.iter().filter_map(|o| o["latency_ms"].as_f64()).collect();
    latencies.sort_by(f64::total_cmp);
    let hops_mean = if hops.is_empty() { 0.0 } else { hops.iter().sum::<f64>() / hops.len() as f64 };
    let hops_max = hops.iter().copied().fold(0.0, f64::max);
    drop(register_stdin); // the registering process unregisters its keys and exits
    let (clean, stopped) = cloud.shutdown();
    let removed = !dir.exists();
    let ok = found == total && outcomes.len() == total;
    let (ef, et) = by_kind("exact");
    let (nf, nt) = by_kind("nearest");
    let (rf, rt) = by_kind("range");
    if json_out {
        println!(
            "{}",
            json!({
                "nodes": a.nodes, "keys": a.keys, "formed": formed, "form_seconds": form_secs,
                "found": found, "total": total, "retried": retried,
                "exact": [ef, et], "nearest": [nf, nt], "range": [rf, rt],
                "hops_mean": hops_mean, "hops_max": hops_max,
                "latency_ms": { "p50": percentile(&latencies, 0.5), "p90": percentile(&latencies, 0.9), "p99": percentile(&latencies, 0.99) },
                "register_pid": register_pid, "search_pid": search_pid,
                "stopped_cleanly": clean, "processes": stopped, "temp_removed": removed,
                "dir": dir.display().to_string(),
                "seconds": started.elapsed().as_secs_f64(), "ok": ok,
                "failures": outcomes.iter().filter(|o| o["found"] != true).collect::<Vec<_>>(),
            })
        );
    } else {
        println!();
        println!(
            "peerdrt demo: {} nodes on 127.0.0.1, {} keys registered by pid {register_pid} ({register_instances} instances), searched by pid {search_pid} ({search_instances} instances)",
            a.nodes, a.keys
        );
        let retries = if retried > 0 { format!("; {retried} found only on a retry") } else { String::new() };
        println!(
            "  found     {found}/{total}  (exact {ef}/{et}, nearest {nf}/{nt}, range {rf}/{rt}{retries})"
        );
        println!(
            "  hops      mean {hops_mean:.1}, max {hops_max:.0}  (nodes on the search path, DrtGetSearchPath)"
        );
        println!(
            "  latency   p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms  (DrtStartSearch to the matching result)",
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.9),
            percentile(&latencies, 0.99)
        );
        println!(
            "  teardown  {clean}/{stopped} processes stopped cleanly, {} {}",
            dir.display(),
            if a.keep {
                "kept"
            } else if removed {
                "removed"
            } else {
                "NOT removed"
            }
        );
        println!(
            "  {} in {:.1} s",
            if ok { "OK" } else { "FAILED: not every key was found" },
            started.elapsed().as_secs_f64()
        );
    }
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
