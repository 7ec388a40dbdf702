//! `peerdrt group`: create a group, invite, join, connect, add records, list and watch them.
//!
//! Members are identities of the PNRP identity store (`peerdrt pnrp identity`); what a member
//! needs to reopen a group (its certificate, and on the creator the root key) is kept in
//! `<groups dir>/<name>.json` (0600), the groups dir being `$PEERDRT_GROUP_DIR`, else `groups`
//! beside the identity store. The records themselves live in the node's log (peerdrtd), so a
//! group reopened by any command has what it held before.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use peerdrt_shim::abi::group::RecordFields;
use peerdrt_shim::device::Device;
use peerdrt_shim::group::client::{GroupHandle, utc_now};
use peerdrt_shim::pnrp::IdentityStore;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::CmdResult;

/// The environment variable naming where group membership files are kept.
pub const GROUP_DIR_ENV: &str = "PEERDRT_GROUP_DIR";
/// The record type `peerdrt group add` writes (a GUID's bytes).
const CLI_RECORD_TYPE: [u8; 16] = *b"peerdrt-cli-rec\x01";

/// How long `peerdrt group add --peer ...` waits for a member that is not ready to synchronise.
const SYNC_WAIT_MS: u64 = 10_000;

/// `peerdrt group ...`.
#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// Create a group with an identity as its administrator.
    Create(CreateArgs),
    /// The public key of an identity (what `invite --member` takes).
    Key(IdentityArg),
    /// Issue an invitation (creator only): prints it as hex.
    Invite(InviteArgs),
    /// Join a group with an invitation.
    Join(JoinArgs),
    /// Open the group, connect to members and stay connected (Ctrl-C or --for to stop).
    Connect(ConnectArgs),
    /// Add a record (durable on this node when the command reports its ID).
    Add(AddArgs),
    /// List the group's records.
    List(NameArg),
    /// Open the group, connect, and print records as they change.
    Watch(ConnectArgs),
}

/// An identity of the store.
#[derive(Debug, Args)]
pub struct IdentityArg {
    /// The identity (default: the store's default identity).
    #[arg(long)]
    identity: Option<String>,
}

/// `group create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Local name of the group.
    name: String,
    #[command(flatten)]
    identity: IdentityArg,
    /// Lifetime of the creator's membership, seconds.
    #[arg(long, default_value_t = 30 * 24 * 3600)]
    lifetime: u32,
}

/// `group invite`.
#[derive(Debug, Args)]
pub struct InviteArgs {
    /// Local name of the group.
    name: String,
    /// The invitee's public key (64 hex digits, from `peerdrt group key`).
    #[arg(long)]
    member: String,
    /// Make the invitee an administrator.
    #[arg(long)]
    admin: bool,
    /// Lifetime of the invitation, seconds.
    #[arg(long, default_value_t = 30 * 24 * 3600)]
    lifetime: u32,
}

/// `group join`.
#[derive(Debug, Args)]
pub struct JoinArgs {
    /// Local name of the group.
    name: String,
    /// The invitation (hex).
    invitation: String,
    #[command(flatten)]
    identity: IdentityArg,
}

/// A group by name.
#[derive(Debug, Args)]
pub struct NameArg {
    /// Local name of the group.
    name: String,
}

/// `group connect` / `group watch`.
#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// Local name of the group.
    name: String,
    /// A member's group socket, addr:port (repeatable).
    #[arg(long = "peer", value_name = "ADDR:PORT")]
    peers: Vec<SocketAddr>,
    /// Stop after this many seconds (default: run until killed).
    #[arg(long = "for", value_name = "SECONDS")]
    duration: Option<u64>,
}

/// `group add`.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// Local name of the group.
    name: String,
    /// The record's data (UTF-8).
    data: String,
    /// Expiration, seconds from now.
    #[arg(long, default_value_t = 24 * 3600)]
    expires: u64,
    /// Members to hand the record to before exiting, addr:port (repeatable).
    #[arg(long = "peer", value_name = "ADDR:PORT")]
    peers: Vec<SocketAddr>,
    /// How long to stay connected to them, milliseconds.
    #[arg(long, default_value_t = 2000)]
    linger: u64,
}

/// What a member keeps to reopen a group.
#[derive(Debug, Serialize, Deserialize)]
struct Membership {
    identity: String,
    certificate: String,
    /// The group root's secret: only on the creator.
    root: Option<String>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex<const N: usize>(s: &str) -> Result<[u8; N], Box<dyn std::error::Error>> {
    let s = s.trim();
    if s.len() != 2 * N || !s.is_ascii() {
        return Err(format!("expected {} hex digits", 2 * N).into());
    }
    let mut out = [0u8; N];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16)?;
    }
    Ok(out)
}

fn group_dir() -> PathBuf {
    match std::env::var_os(GROUP_DIR_ENV).filter(|d| !d.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => {
            IdentityStore::default_dir().parent().map(|p| p.join("groups")).unwrap_or_else(|| "groups".into())
        }
    }
}

fn save(name: &str, m: &Membership) -> Result<(), Box<dyn std::error::Error>> {
    use std::io::Write;
    let dir = group_dir();
    std::fs::create_dir_all(&dir)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    // Owner only: the creator's file holds the group root's secret. (On Windows the directory
    // is in the user's profile, whose ACL applies.)
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(dir.join(format!("{name}.json")))?;
    f.write_all(serde_json::to_string_pretty(m)?.as_bytes())?;
    f.sync_all()?;
    Ok(())
}

fn load(name: &str) -> Result<Membership, Box<dyn std::error::Error>> {
    let path = group_dir().join(format!("{name}.json"));
    let text =
        std::fs::read_to_string(&path).map_err(|e| format!("group {name} ({}): {e}", path.display()))?;
    Ok(serde_json::from_str(&text)?)
}

fn secret_of(identity: Option<&str>) -> Result<(String, [u8; 32]), Box<dyn std::error::Error>> {
    let store = IdentityStore::open_default().map_err(|e| e.to_string())?;
    let name = match identity {
        Some(i) => i.to_owned(),
        None => store.default_identity().map_err(|e| e.to_string())?,
    };
    let identity = store.get(&name).map_err(|e| e.to_string())?;
    Ok((name, identity.key.to_bytes()))
}

fn device(socket: Option<PathBuf>) -> Result<Device, Box<dyn std::error::Error>> {
    Ok(match socket {
        Some(path) => Device::connect(&path)?,
        None => Device::open_default()?,
    })
}

/// Reopens a group from its membership file (the creator with its root, so it can invite).
fn reopen(device: &Device, name: &str) -> Result<GroupHandle, Box<dyn std::error::Error>> {
    let m = load(name)?;
    let (_, secret) = secret_of(Some(&m.identity))?;
    Ok(match &m.root {
        Some(root) => GroupHandle::create(device, &unhex(root)?, &secret, 30 * 24 * 3600)?,
        None => GroupHandle::join(device, &secret, &unhex(&m.certificate)?)?,
    })
}

fn v6(addr: &SocketAddr) -> Ipv6Addr {
    match addr.ip() {
        IpAddr::V4(a) => a.to_ipv6_mapped(),
        IpAddr::V6(a) => a,
    }
}

/// Runs `peerdrt group ...`.
pub fn run(socket: Option<PathBuf>, json: bool, command: GroupCommand) -> CmdResult {
    let say = |value: serde_json::Value, text: String| {
        if json {
            println!("{value}");
        } else {
            println!("{text}");
        }
    };
    match command {
        GroupCommand::Create(a) => {
            let (identity, secret) = secret_of(a.identity.identity.as_deref())?;
            let mut root = [0u8; 32];
            getrandom::getrandom(&mut root).map_err(|e| format!("random: {e}"))?;
            let d = device(socket)?;
            let g = GroupHandle::create(&d, &root, &secret, a.lifetime)?;
            save(
                &a.name,
                &Membership { identity, certificate: hex(&g.certificate), root: Some(hex(&root)) },
            )?;
            let group_root = hex(&g.certificate[..32]);
            say(
                json!({ "group": a.name, "root": group_root, "port": g.port }),
                format!("{} root {group_root}", a.name),
            );
        }
        GroupCommand::Key(a) => {
            let (identity, secret) = secret_of(a.identity.as_deref())?;
            let key = hex(&peerdrt_core::group::membership::member_key(&secret));
            say(json!({ "identity": identity, "key": key }), key.clone());
        }
        GroupCommand::Invite(a) => {
            let d = device(socket)?;
            let g = reopen(&d, &a.name)?;
            let invitation = g.invite(&unhex(&a.member)?, if a.admin { 2 } else { 1 }, a.lifetime)?;
            say(json!({ "invitation": hex(&invitation) }), hex(&invitation));
        }
        GroupCommand::Join(a) => {
            let (identity, secret) = secret_of(a.identity.identity.as_deref())?;
            let certificate: [u8; peerdrt_shim::abi::group::CERTIFICATE_LEN] = unhex(&a.invitation)?;
            let d = device(socket)?;
            let g = GroupHandle::join(&d, &secret, &certificate)?;
            save(&a.name, &Membership { identity, certificate: hex(&certificate), root: None })?;
            say(
                json!({ "group": a.name, "port": g.port }),
                format!("joined {} (group socket port {})", a.name, g.port),
            );
        }
        GroupCommand::Add(a) => {
            let d = device(socket)?;
            let g = reopen(&d, &a.name)?;
            for p in &a.peers {
                g.connect(v6(p), p.port())?;
            }
            // A member that never synchronised (joined, never connected) reopens not ready: it
            // synchronises with the peers first.
            if !a.peers.is_empty() {
                let end = Instant::now() + Duration::from_millis(SYNC_WAIT_MS);
                while !g.status()?.ready && Instant::now() < end {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            let fields = RecordFields {
                record_type: CLI_RECORD_TYPE,
                expiration: utc_now() + a.expires.saturating_mul(10_000_000),
                flags: 0,
                attributes: b"",
                data: a.data.as_bytes(),
            };
            let id = g.add(fields)?;
            say(json!({ "id": hex(&id) }), hex(&id));
            if !a.peers.is_empty() {
                std::thread::sleep(Duration::from_millis(a.linger));
            }
        }
        GroupCommand::List(a) => {
            let d = device(socket)?;
            let g = reopen(&d, &a.name)?;
            for r in g.records(None)? {
                let data = String::from_utf8_lossy(&r.data).into_owned();
                say(
                    json!({ "id": hex(&r.id.0), "version": r.version, "data": data }),
                    format!("{}  v{}  {data}", hex(&r.id.0), r.version),
                );
            }
        }
        GroupCommand::Connect(a) => connect(socket, &a, false, &say)?,
        GroupCommand::Watch(a) => connect(socket, &a, true, &say)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// `connect` (report the status as it changes) and `watch` (also the records).
fn connect(
    socket: Option<PathBuf>,
    a: &ConnectArgs,
    watch: bool,
    say: &dyn Fn(serde_json::Value, String),
) -> Result<(), Box<dyn std::error::Error>> {
    let d = device(socket)?;
    let g = reopen(&d, &a.name)?;
    for p in &a.peers {
        g.connect(v6(p), p.port())?;
    }
    say(json!({ "type": "ready", "port": g.port }), format!("group {} open, port {}", a.name, g.port));
    let end = a.duration.map(|s| Instant::now() + Duration::from_secs(s));
    let mut last_status = None;
    let mut seen: BTreeMap<[u8; 16], u32> = BTreeMap::new();
    while end.is_none_or(|e| Instant::now() < e) {
        let status = g.status()?;
        if last_status != Some(status) {
            say(
                json!({ "type": "status", "ready": status.ready, "connections": status.connections, "records": status.records }),
                format!(
                    "status: ready {} connections {} records {}",
                    status.ready, status.connections, status.records
                ),
            );
            last_status = Some(status);
        }
        if watch && status.ready {
            let mut now: BTreeMap<[u8; 16], u32> = BTreeMap::new();
            for r in g.records(None)? {
                let data = String::from_utf8_lossy(&r.data).into_owned();
                let change = match seen.get(&r.id.0) {
                    None => Some("added"),
                    Some(v) if *v != r.version => Some("updated"),
                    _ => None,
                };
                if let Some(change) = change {
                    say(
                        json!({ "type": change, "id": hex(&r.id.0), "version": r.version, "data": data }),
                        format!("{change} {}  v{}  {data}", hex(&r.id.0), r.version),
                    );
                }
                now.insert(r.id.0, r.version);
            }
            for id in seen.keys().filter(|id| !now.contains_key(*id)) {
                say(json!({ "type": "deleted", "id": hex(id) }), format!("deleted {}", hex(id)));
            }
            seen = now;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    g.close()?;
    Ok(())
}
