//! `peerdrt drt register|search|unregister` and `peerdrt status`.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use clap::Args;
use peerdrt_shim::drt::{Drt, Event, MatchType, SearchInfo, SearchResult, Settings, Status};
use peerdrt_shim::hresult::{DRT_E_SEARCH_IN_PROGRESS, DRT_E_TIMEOUT, E_HANDLE};
use peerdrt_shim::{Key, device};
use serde_json::json;

use crate::{CmdResult, InstanceArgs};

fn parse_key(s: &str) -> Result<Key, String> {
    Key::parse_hex(s).map_err(|e| e.to_string())
}

/// `drt register`.
#[derive(Debug, Args)]
pub struct RegisterArgs {
    /// The key: up to 64 hexadecimal digits, most significant first.
    #[arg(long, value_parser = parse_key)]
    key: Key,
    /// The application data (1 to 5120 bytes of text).
    #[arg(long)]
    data: String,
    #[command(flatten)]
    instance: InstanceArgs,
    /// Unregister and exit after this many seconds [default: at Ctrl-C].
    #[arg(long = "for", value_name = "SECONDS")]
    for_secs: Option<f64>,
}

/// `drt search`.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// The target key: up to 64 hexadecimal digits, most significant first.
    #[arg(long, value_parser = parse_key)]
    key: Key,
    /// The N keys nearest the target.
    #[arg(long, value_name = "N", conflicts_with_all = ["range", "iterative"])]
    near: Option<u32>,
    /// Keys in [MIN, MAX] (which must contain the target), nearest the target first.
    #[arg(long, num_args = 2, value_names = ["MIN", "MAX"], value_parser = parse_key, conflicts_with = "iterative")]
    range: Option<Vec<Key>>,
    /// Up to this many results of a --range search.
    #[arg(long, default_value_t = 1, requires = "range")]
    max: u32,
    /// Hop by hop: every node the search visits is reported, then the search continues.
    #[arg(long)]
    iterative: bool,
    /// Let keys registered by this instance match (fAllowCurrentInstanceMatch).
    #[arg(long)]
    allow_local: bool,
    /// The search's timeout, milliseconds.
    #[arg(long, default_value_t = 5000, value_name = "MS")]
    timeout: u32,
    #[command(flatten)]
    instance: InstanceArgs,
}

/// `drt unregister`.
#[derive(Debug, Args)]
pub struct UnregisterArgs {
    /// The key a running `peerdrt drt register` holds.
    #[arg(long, value_parser = parse_key)]
    key: Key,
}

/// `status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Open a probe instance with this seed and report its view (repeatable).
    #[arg(long = "seed", value_name = "ADDR:PORT")]
    seeds: Vec<String>,
    /// How long the probe waits to become DRT_ACTIVE, milliseconds.
    #[arg(long, default_value_t = 5000, value_name = "MS")]
    wait_active: u64,
}

pub fn resolve_seeds(seeds: &[String]) -> Result<Vec<SocketAddr>, Box<dyn std::error::Error>> {
    let mut out = Vec::new();
    for s in seeds {
        let found: Vec<SocketAddr> = s.to_socket_addrs().map_err(|e| format!("seed {s:?}: {e}"))?.collect();
        out.extend(found);
    }
    Ok(out)
}

fn settings(socket: Option<PathBuf>, a: &InstanceArgs) -> Result<Settings, Box<dyn std::error::Error>> {
    Ok(Settings { device: socket, port: a.port, seeds: resolve_seeds(&a.seeds)?, ..Settings::default() })
}

fn status_name(s: Option<Status>) -> String {
    match s {
        None => "OPENING".into(),
        Some(Status::Active) => "DRT_ACTIVE".into(),
        Some(Status::Alone) => "DRT_ALONE".into(),
        Some(Status::NoNetwork) => "DRT_NO_NETWORK".into(),
        Some(Status::Faulted) => "DRT_FAULTED".into(),
        Some(Status::Other(v)) => format!("DRT_STATUS({v})"),
    }
}

/// Waits for DRT_ACTIVE as long as `--wait-active` allows; without seeds there is nothing to
/// wait for beyond the first status report.
fn wait_active(drt: &Drt, a: &InstanceArgs) -> Option<Status> {
    let wait = if a.seeds.is_empty() { a.wait_active.min(1000) } else { a.wait_active };
    drt.wait_active(Duration::from_millis(wait))
}

fn open(socket: Option<PathBuf>, a: &InstanceArgs) -> Result<Drt, Box<dyn std::error::Error>> {
    let s = settings(socket.clone(), a)?;
    Drt::open(&s).map_err(|e| {
        let path = socket.unwrap_or_else(device::default_path);
        format!("DrtOpen on {}: {e}", path.display()).into()
    })
}

fn data_text(d: &[u8]) -> String {
    String::from_utf8_lossy(d).into_owned()
}

/// Where `register` notes which process holds which key (for `unregister`).
fn registrations_dir() -> PathBuf {
    #[cfg(unix)]
    // SAFETY: getuid cannot fail.
    let user = unsafe { libc::getuid() }.to_string();
    #[cfg(not(unix))]
    let user = std::env::var("USERNAME").unwrap_or_default();
    std::env::temp_dir().join(format!("peerdrt-{user}-registrations"))
}

fn stop_channel() -> mpsc::Receiver<()> {
    let (tx, rx) = mpsc::channel();
    let _ = ctrlc::set_handler(move || {
        let _ = tx.send(());
    });
    rx
}

fn print_event(json: bool, e: &Event) {
    match e {
        Event::StatusChanged { status, bootstrap } => {
            if json {
                println!(
                    "{}",
                    json!({ "event": "status", "status": status_name(Some(*status)), "bootstrap": bootstrap })
                );
            } else {
                println!("status: {}", status_name(Some(*status)));
            }
        }
        Event::LeafSetKeyChanged { change, local_key, remote_key } => {
            if json {
                println!(
                    "{}",
                    json!({ "event": "leafset", "change": format!("{change:?}"), "local_key": local_key.to_hex(), "remote_key": remote_key.to_hex() })
                );
            } else {
                println!("leaf set of {local_key}: {change:?} {remote_key}");
            }
        }
        Event::RegistrationStateChanged { state, key, .. } => {
            if json {
                println!("{}", json!({ "event": "registration_state", "state": state, "key": key.to_hex() }));
            } else {
                println!("registration of {key}: state {state}");
            }
        }
    }
}

pub fn register(socket: Option<PathBuf>, json: bool, a: RegisterArgs) -> CmdResult {
    let stop = stop_channel();
    let drt = open(socket, &a.instance)?;
    let status = wait_active(&drt, &a.instance);
    let registration = drt.register(&a.key, a.data.as_bytes()).map_err(|e| format!("DrtRegisterKey: {e}"))?;
    let dir = registrations_dir();
    let pidfile = dir.join(a.key.to_hex());
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(&pidfile, format!("{}\n", std::process::id()));
    if json {
        println!(
            "{}",
            json!({ "event": "registered", "key": a.key.to_hex(), "data": a.data, "port": drt.port(),
                    "status": status_name(status), "pid": std::process::id() })
        );
    } else {
        println!(
            "registered {} = {:?} (instance on UDP {}, {}); Ctrl-C unregisters",
            a.key,
            a.data,
            drt.port(),
            status_name(status)
        );
    }
    let deadline = a.for_secs.map(|s| Instant::now() + Duration::from_secs_f64(s.max(0.0)));
    loop {
        if stop.try_recv().is_ok() || deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        if let Some(e) = drt.next_event(Duration::from_millis(200)) {
            print_event(json, &e);
        }
    }
    let result = registration.unregister();
    let _ = std::fs::remove_file(&pidfile);
    drt.close();
    match result {
        Ok(()) if json => println!("{}", json!({ "event": "unregistered", "key": a.key.to_hex() })),
        Ok(()) => println!("unregistered {}", a.key),
        Err(e) => return Err(format!("DrtUnregisterKey: {e}").into()),
    }
    Ok(ExitCode::SUCCESS)
}

fn result_json(r: &SearchResult) -> serde_json::Value {
    json!({
        "match": format!("{:?}", r.match_type).to_lowercase(),
        "key": r.key.to_hex(),
        "data": data_text(&r.app_data),
        "publisher": r.endpoint.to_string(),
    })
}

pub fn search(socket: Option<PathBuf>, json: bool, a: SearchArgs) -> CmdResult {
    let info = if let Some(n) = a.near {
        SearchInfo::nearest(n)
    } else if let Some(r) = &a.range {
        SearchInfo::range(r[0], r[1], a.max)
    } else if a.iterative {
        SearchInfo::iterative(a.key)
    } else {
        SearchInfo::exact()
    };
    let info = SearchInfo { allow_current_instance_match: a.allow_local, ..info };
    let drt = open(socket, &a.instance)?;
    let status = wait_active(&drt, &a.instance);
    if status != Some(Status::Active) && !json {
        eprintln!("peerdrt: the instance is {} (searching anyway)", status_name(status));
    }
    let started = Instant::now();
    let search = drt
        .search(&a.key, &info, Duration::from_millis(u64::from(a.timeout)))
        .map_err(|e| format!("DrtStartSearch: {e}"))?;
    let mut results = Vec::new();
    let mut hops = Vec::new();
    let mut first_ms = None;
    let wait = Duration::from_millis(u64::from(a.timeout) + 5000);
    let end = loop {
        match search.next_result(wait) {
            Ok(Some(r)) if r.match_type == MatchType::Intermediate => {
                if !json {
                    println!("hop {}: {} at {}", hops.len() + 1, r.key, r.endpoint);
                }
                hops.push(r);
                if let Err(e) = search.continue_search() {
                    break Some(e);
                }
            }
            Ok(Some(r)) => {
                first_ms.get_or_insert(started.elapsed().as_secs_f64() * 1000.0);
                if !json {
                    println!(
                        "{:<5} {} = {:?} (published by {})",
                        format!("{:?}", r.match_type).to_lowercase(),
                        r.key,
                        data_text(&r.app_data),
                        r.endpoint
                    );
                }
                results.push(r);
            }
            Ok(None) => break None,
            Err(e) => break Some(e),
        }
    };
    let path = search.path().unwrap_or_default();
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    let outcome = match end {
        None => "complete".to_string(),
        Some(e) if e.hresult() == DRT_E_TIMEOUT => "timeout".into(),
        Some(e) if e.hresult() == DRT_E_SEARCH_IN_PROGRESS => "no answer".into(),
        Some(e) => e.to_string(),
    };
    if json {
        println!(
            "{}",
            json!({
                "key": a.key.to_hex(),
                "outcome": outcome,
                "results": results.iter().map(result_json).collect::<Vec<_>>(),
                "hops": hops.iter().map(result_json).collect::<Vec<_>>(),
                "path": path,
                "first_result_ms": first_ms,
                "elapsed_ms": elapsed_ms,
            })
        );
    } else {
        if results.is_empty() {
            println!("no match for {} ({outcome})", a.key);
        }
        println!(
            "{} result(s), {} node(s) on the search path, {elapsed_ms:.1} ms ({outcome})",
            results.len(),
            path.len()
        );
    }
    let _ = search.end();
    drt.close();
    Ok(if results.is_empty() { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

#[cfg(unix)]
fn process_alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid, 0) == 0 }
}

pub fn unregister(json: bool, a: UnregisterArgs) -> CmdResult {
    let pidfile = registrations_dir().join(a.key.to_hex());
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .ok_or_else(|| format!("no running `peerdrt drt register` holds {} (a registration lives only as long as the process that made it)", a.key))?;
    #[cfg(unix)]
    {
        if !process_alive(pid) {
            let _ = std::fs::remove_file(&pidfile);
            return Err(format!(
                "the process that registered {} (pid {pid}) is gone; so is its registration",
                a.key
            )
            .into());
        }
        // SAFETY: sends SIGTERM to the registering process, which unregisters and exits.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while process_alive(pid) && pidfile.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        if pidfile.exists() && process_alive(pid) {
            return Err(format!("pid {pid} did not unregister {} within 10 s", a.key).into());
        }
        if json {
            println!("{}", json!({ "event": "unregistered", "key": a.key.to_hex(), "pid": pid }));
        } else {
            println!("unregistered {} (pid {pid} exited)", a.key);
        }
        Ok(ExitCode::SUCCESS)
    }
    #[cfg(not(unix))]
    {
        let _ = json;
        Err(format!("stop pid {pid} to unregister {}", a.key).into())
    }
}

pub fn status(socket: Option<PathBuf>, json: bool, a: StatusArgs) -> CmdResult {
    let path = socket.clone().unwrap_or_else(device::default_path);
    let started = Instant::now();
    let reachable = match device::Device::connect(&path) {
        Ok(d) => {
            // An IOCTL on a handle that cannot exist: the device answers E_HANDLE.
            let r = d.request(&peerdrt_shim::abi::Request::QueryInstance { instance: 0 }, 64);
            matches!(r, Ok((s, _)) if peerdrt_shim::abi::status::to_hresult(s) == E_HANDLE)
        }
        Err(_) => false,
    };
    let rtt_ms = started.elapsed().as_secs_f64() * 1000.0;
    let mut held = Vec::new();
    if let Ok(entries) = std::fs::read_dir(registrations_dir()) {
        for e in entries.flatten() {
            let pid = std::fs::read_to_string(e.path()).ok().and_then(|t| t.trim().parse::<i32>().ok());
            #[cfg(unix)]
            let alive = pid.is_some_and(process_alive);
            #[cfg(not(unix))]
            let alive = pid.is_some();
            if alive {
                held.push((e.file_name().to_string_lossy().into_owned(), pid.unwrap_or_default()));
            }
        }
    }
    let mut probe = None;
    if reachable && !a.seeds.is_empty() {
        let args = InstanceArgs { port: 0, seeds: a.seeds.clone(), wait_active: a.wait_active };
        let drt = open(socket, &args)?;
        let status = drt.wait_active(Duration::from_millis(a.wait_active));
        let info = drt.info().map_err(|e| format!("query: {e}"))?;
        probe = Some((status, info));
        drt.close();
    }
    if json {
        println!(
            "{}",
            json!({
                "device": path.display().to_string(),
                "reachable": reachable,
                "round_trip_ms": rtt_ms,
                "registrations": held.iter().map(|(k, p)| json!({ "key": k, "pid": p })).collect::<Vec<_>>(),
                "probe": probe.as_ref().map(|(s, i)| json!({
                    "status": status_name(*s), "port": i.port, "cache_entries": i.cache_entries,
                    "datagrams_sent": i.sent, "datagrams_received": i.received,
                })),
            })
        );
    } else {
        if reachable {
            println!("device {}: answering ({rtt_ms:.1} ms)", path.display());
        } else {
            println!("device {}: not reachable (is peerdrtd running?)", path.display());
        }
        for (k, p) in &held {
            println!("registered by pid {p}: {k}");
        }
        if let Some((s, i)) = &probe {
            println!(
                "probe instance on UDP {}: {}, {} route cache entries, {} datagrams sent, {} received",
                i.port,
                status_name(*s),
                i.cache_entries,
                i.sent,
                i.received
            );
        }
    }
    Ok(if reachable { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
