//! `peerdrt pnrp`: register, resolve and unregister peer names; list clouds; identities.

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::Duration;

use clap::{Args, Subcommand};
use peerdrt_shim::pnrp::{Addresses, Endpoint, IdentityStore, Pnrp, RegistrationInfo};
use serde_json::json;

use crate::CmdResult;

/// `peerdrt pnrp ...`.
#[derive(Debug, Subcommand)]
pub enum PnrpCommand {
    /// Register a peer name and keep it registered until Ctrl-C, SIGTERM,
    /// `peerdrt pnrp unregister`, or (with --stdin) an `unregister` line or end of input.
    Register(RegisterArgs),
    /// Resolve a peer name: its endpoints' addresses, comments and payloads.
    Resolve(ResolveArgs),
    /// Unregister a name held by a running `peerdrt pnrp register` (which then exits).
    Unregister(UnregisterArgs),
    /// The node's PNRP clouds.
    Clouds,
    /// The default identity, or create / delete one.
    Identity(IdentityArgs),
}

/// `pnrp register`.
#[derive(Debug, Args)]
pub struct RegisterArgs {
    /// The peer name (`0.<classifier>`, or `<authority>.<classifier>` of an identity you hold).
    name: String,
    /// The cloud (default: every cloud; PEER_PNRP_ALL_LINKS: every link-local cloud).
    #[arg(long)]
    cloud: Option<String>,
    /// An address of the endpoint, ip:port or [v6]:port (repeatable, at most 10).
    #[arg(long = "address", value_name = "ADDR:PORT")]
    addresses: Vec<SocketAddr>,
    /// Without --address: this host's addresses with this port.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Comment (at most 39 characters).
    #[arg(long, default_value = "")]
    comment: String,
    /// Payload (at most 4096 bytes).
    #[arg(long, default_value = "")]
    payload: String,
    /// The publishing identity of a secured name.
    #[arg(long)]
    identity: Option<String>,
    /// Read commands from stdin: `update <comment> <payload>`, `unregister`.
    #[arg(long)]
    stdin: bool,
}

/// `pnrp resolve`.
#[derive(Debug, Args)]
pub struct ResolveArgs {
    /// The peer name.
    name: String,
    /// The cloud (default: every cloud, in parallel).
    #[arg(long)]
    cloud: Option<String>,
    /// Most endpoints.
    #[arg(long, default_value_t = 5)]
    max: u32,
    /// Resolve asynchronously (PeerPnrpStartResolve), printing endpoints as they come.
    #[arg(long = "async")]
    asynchronous: bool,
    /// Give up after this many milliseconds.
    #[arg(long, default_value_t = 30_000, value_name = "MS")]
    timeout: u64,
}

/// `pnrp unregister`.
#[derive(Debug, Args)]
pub struct UnregisterArgs {
    /// The peer name a running `peerdrt pnrp register` holds.
    name: String,
}

/// `pnrp identity`.
#[derive(Debug, Args)]
pub struct IdentityArgs {
    /// Create an identity with this classifier.
    #[arg(long, value_name = "CLASSIFIER")]
    create: Option<String>,
    /// Delete this identity.
    #[arg(long, value_name = "IDENTITY")]
    delete: Option<String>,
}

fn hr(e: peerdrt_shim::Error) -> Box<dyn std::error::Error> {
    format!("{e}").into()
}

fn holders_dir() -> PathBuf {
    #[cfg(unix)]
    // SAFETY: getuid cannot fail.
    let user = unsafe { libc::getuid() }.to_string();
    #[cfg(not(unix))]
    let user = std::env::var("USERNAME").unwrap_or_default();
    std::env::temp_dir().join(format!("peerdrt-{user}-pnrp"))
}

fn holder_file(name: &str) -> PathBuf {
    holders_dir().join(name.bytes().map(|b| format!("{b:02x}")).collect::<String>())
}

fn endpoint_json(e: &Endpoint) -> serde_json::Value {
    json!({
        "event": "endpoint",
        "name": e.name,
        "cloud": e.cloud,
        "addresses": e.addresses.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "comment": e.comment,
        "payload": String::from_utf8_lossy(&e.payload),
    })
}

enum Input {
    Line(String),
    Stop,
}

/// Runs a `peerdrt pnrp` command.
pub fn run(socket: Option<PathBuf>, json: bool, command: PnrpCommand) -> CmdResult {
    match command {
        PnrpCommand::Register(a) => register(socket, json, a),
        PnrpCommand::Resolve(a) => resolve(socket, json, a),
        PnrpCommand::Unregister(a) => unregister(json, a),
        PnrpCommand::Clouds => {
            let p = Pnrp::startup(socket, None).map_err(hr)?;
            for c in p.clouds().map_err(hr)? {
                if json {
                    let v = json!({ "cloud": c.name, "scope": c.scope, "scope_id": c.scope_id, "status": c.status, "port": c.port });
                    println!("{v}");
                } else {
                    println!(
                        "{}  scope {} id {}  status {}  port {}",
                        c.name, c.scope, c.scope_id, c.status, c.port
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        PnrpCommand::Identity(a) => {
            let store = IdentityStore::open_default().map_err(hr)?;
            let name = match (a.create, a.delete) {
                (Some(c), _) => store.create(Some(&c), None).map_err(hr)?,
                (None, Some(d)) => {
                    store.delete(&d).map_err(hr)?;
                    d
                }
                (None, None) => store.default_identity().map_err(hr)?,
            };
            if json {
                println!("{}", json!({ "identity": name }));
            } else {
                println!("{name}");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn register(socket: Option<PathBuf>, json: bool, a: RegisterArgs) -> CmdResult {
    let p = Pnrp::startup(socket, None).map_err(hr)?;
    let info = |comment: String, payload: String| RegistrationInfo {
        cloud: a.cloud.clone(),
        identity: a.identity.clone(),
        addresses: if a.addresses.is_empty() {
            Addresses::Auto(a.port)
        } else {
            Addresses::List(a.addresses.clone())
        },
        comment,
        payload: payload.into_bytes(),
    };
    let mut reg = p.register(&a.name, &info(a.comment.clone(), a.payload.clone())).map_err(hr)?;
    let holder = holder_file(&a.name);
    let _ = std::fs::create_dir_all(holders_dir());
    let _ = std::fs::write(&holder, std::process::id().to_string());
    let ids: Vec<String> =
        reg.ids().iter().map(|i| i.0.iter().map(|b| format!("{b:02x}")).collect()).collect();
    if json {
        println!(
            "{}",
            json!({ "event": "registered", "name": reg.name(), "ids": ids, "pid": std::process::id() })
        );
    } else {
        println!("registered {} ({} cloud(s)); Ctrl-C to unregister", reg.name(), ids.len());
    }
    let (tx, rx) = mpsc::channel();
    let stop = tx.clone();
    let _ = ctrlc::set_handler(move || {
        let _ = stop.send(Input::Stop);
    });
    // Without --stdin only a signal ends it: the sender stays here, so the channel stays open.
    let _waiting = if a.stdin {
        std::thread::spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                if tx.send(Input::Line(line)).is_err() {
                    return;
                }
            }
            let _ = tx.send(Input::Stop);
        });
        None
    } else {
        Some(tx)
    };
    while let Ok(input) = rx.recv() {
        let line = match input {
            Input::Stop => break,
            Input::Line(l) => l,
        };
        let mut words = line.splitn(3, ' ');
        let reply = match words.next() {
            Some("update") => {
                let comment = words.next().unwrap_or("").to_string();
                let payload = words.next().unwrap_or("").to_string();
                match reg.update(&info(comment, payload)) {
                    Ok(()) => json!({ "ok": true }),
                    Err(e) => json!({ "ok": false, "error": e.to_string() }),
                }
            }
            Some("unregister") => break,
            _ => json!({ "ok": false, "error": "commands: update <comment> <payload>, unregister" }),
        };
        println!("{reply}");
    }
    let result = reg.unregister();
    let _ = std::fs::remove_file(&holder);
    p.shutdown();
    if json {
        println!("{}", json!({ "event": "unregistered", "ok": result.is_ok() }));
    } else {
        println!("unregistered {}", a.name);
    }
    result.map_err(hr)?;
    Ok(ExitCode::SUCCESS)
}

fn resolve(socket: Option<PathBuf>, json: bool, a: ResolveArgs) -> CmdResult {
    let p = Pnrp::startup(socket, None).map_err(hr)?;
    let timeout = Duration::from_millis(a.timeout);
    let print = |e: &Endpoint| {
        if json {
            println!("{}", endpoint_json(e));
        } else {
            let addrs: Vec<String> = e.addresses.iter().map(ToString::to_string).collect();
            println!(
                "{}  [{}]  {:?}  {:?}  ({})",
                e.name,
                addrs.join(", "),
                e.comment,
                String::from_utf8_lossy(&e.payload),
                e.cloud
            );
        }
    };
    let mut count = 0;
    if a.asynchronous {
        let r = p.start_resolve(&a.name, a.cloud.as_deref(), a.max, None).map_err(hr)?;
        loop {
            if !r.wait(timeout) {
                return Err("the resolve did not finish in time".into());
            }
            match r.get_endpoint() {
                Ok(e) => {
                    count += 1;
                    print(&e);
                }
                Err(e) if e.0 == peerdrt_shim::pnrp::PEER_E_NO_MORE => break,
                Err(e) => return Err(hr(e)),
            }
        }
    } else {
        for e in p.resolve(&a.name, a.cloud.as_deref(), a.max, timeout).map_err(hr)? {
            count += 1;
            print(&e);
        }
    }
    if json {
        println!("{}", json!({ "event": "done", "count": count }));
    }
    p.shutdown();
    Ok(if count > 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn unregister(json: bool, a: UnregisterArgs) -> CmdResult {
    let holder = holder_file(&a.name);
    let pid: i32 = std::fs::read_to_string(&holder)
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .ok_or_else(|| format!("no running `peerdrt pnrp register` holds {}", a.name))?;
    #[cfg(unix)]
    {
        // SAFETY: signal 0 only checks that the process exists; SIGTERM asks it to unregister.
        if unsafe { libc::kill(pid, 0) } != 0 {
            let _ = std::fs::remove_file(&holder);
            return Err(
                format!("pid {pid} that registered {} is gone; so is its registration", a.name).into()
            );
        }
        // SAFETY: as above.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        // SAFETY: as above.
        while holder.exists() && unsafe { libc::kill(pid, 0) } == 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        if json {
            println!("{}", json!({ "event": "unregistered", "name": a.name, "pid": pid }));
        } else {
            println!("unregistered {} (pid {pid})", a.name);
        }
        Ok(ExitCode::SUCCESS)
    }
    #[cfg(not(unix))]
    {
        let _ = json;
        Err(format!("stop pid {pid} to unregister {}", a.name).into())
    }
}
