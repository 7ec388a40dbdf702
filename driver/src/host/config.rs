//! The daemon's configuration: command-line flags over an optional TOML file.
//!
//! ```toml
//! # /etc/peerdrt/peerdrtd.toml
//! socket = "/run/peerdrt/peerdrt.sock"   # the device; default: see default_socket_path()
//! socket_mode = "0660"                    # octal string or integer (0o660)
//! log = "info"                            # tracing filter (--log and RUST_LOG win over it)
//! addresses = ["192.0.2.10", "2001:db8::10"]  # advertised in route entries; default ::ffff:127.0.0.1
//! flood_limits = "on"      # "off" (--flood-limits off): no per-source flood limit, for
//!                           # benchmarks only; the shared unverified limit stays on
//! disjoint_paths = 3        # lookup paths of every exact search (--disjoint-paths), 1 to
//!                           # MAX_DISJOINT_PATHS (4); default 1; see docs/hostile-peers.md
//!
//! [[instance]]              # a standing DRT instance the daemon opens itself and keeps
//! port = 3540
//! version = "6.101"         # DRT_SETTINGS protocol major.minor; default DEFAULT_PROTOCOL_VERSION
//! seeds = ["192.0.2.1:3540", "[2001:db8::1]:3540", "seed.example.net:3540"]
//! security = "null"         # the only kind a standing instance supports
//! key = "random"            # its node key: "random" (default), 64 hex digits, or "none"
//! app_data = "peerdrtd"     # the node key's application data (default "peerdrtd")
//! ```
//!
//! PNRP clouds are standing instances too, published by name for `PeerPnrp*` to attach to:
//!
//! ```toml
//! [pnrp]                    # the Global_ cloud: PNRP 4.0 over the DRT
//! port = 3540               # default PNRP_PORT (3540)
//! seeds = ["[2001:db8::1]:3540"]   # replaces Microsoft's retired seed servers (the
//!                           # SeedServer policy value on Windows)
//! [[pnrp.link_local]]       # one LinkLocal_<interface> cloud per listed interface
//! interface = "eth0"
//! port = 3541               # its own port: one socket per cloud
//! seeds = ["[fe80::1%2]:3541"]
//! ```
//!
//! Flags win over the file; `--instance-port` adds one more standing instance to the file's,
//! `--pnrp-port`/`--pnrp-seed` set the Global_ cloud.
//!
//! A DRT instance takes part in routing only through the keys registered on it: one with none
//! is a client that can search but holds no place in the key space, so other nodes never learn
//! of it (peerdrt-core's bootstrap offers registered and cached keys only). A standing instance
//! therefore registers a node key of its own by default, so that daemons with standing
//! instances form a cloud by themselves and new instances bootstrap from them at once;
//! `key = "none"` makes it a bare bootstrap relay that only passes on keys it has cached.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

use peerdrt_abi::MAX_SEEDS;
use peerdrt_core::drt::FloodLimits;
use peerdrt_core::drt::search::SearchSettings;
use peerdrt_core::wire::MAX_ROUTE_ADDRESSES;
use serde::Deserialize;

/// The protocol version of standing instances unless configured: 6.101, what the Windows SDK's
/// DRT sample (`DrtSdkSample`) puts in `DRT_SETTINGS`, so a peerdrtd cloud and that sample meet.
pub const DEFAULT_PROTOCOL_VERSION: (u8, u8) = (6, 101);

/// The address instances advertise unless `--address` / `addresses` say otherwise: IPv4
/// loopback as an IPv4-mapped IPv6 address. The sockets are dual-stack, so IPv4 peers arrive as
/// `::ffff:a.b.c.d`; advertising `::ffff:127.0.0.1` makes a cloud of daemons on one machine work
/// out of the box, over IPv4 and IPv6 sockets alike. A node meant to be reached from other
/// machines must advertise the addresses they can reach it at.
pub const DEFAULT_ADDRESS: Ipv6Addr = Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0x7f00, 0x0001);

/// Mode of the device socket unless configured: owner and group may use the device.
pub const DEFAULT_SOCKET_MODE: u32 = 0o660;

/// The environment variable naming the device socket (daemon and shim alike).
pub const SOCKET_ENV: &str = "PEERDRT_SOCKET";

/// The socket file name under `$XDG_RUNTIME_DIR`.
pub const SOCKET_FILE_NAME: &str = "peerdrt.sock";

/// A configuration error (bad file, bad value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

fn err<T>(message: impl Into<String>) -> Result<T, ConfigError> {
    Err(ConfigError(message.into()))
}

/// The security provider of a standing instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// DrtCreateNullSecurityProvider.
    Null,
}

/// The key a standing instance registers for itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKey {
    /// A fresh random key at every start.
    Random,
    /// This key.
    Fixed([u8; 32]),
    /// None: the instance searches and relays bootstrap, but holds no place in the key space.
    None,
}

/// The node key's application data unless configured.
pub const DEFAULT_NODE_APP_DATA: &str = "peerdrtd";

/// A standing DRT instance: opened by the daemon at start, kept until it stops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceConfig {
    /// UDP port (1024..=65535).
    pub port: u16,
    /// Protocol major and minor version.
    pub version: (u8, u8),
    /// Bootstrap seeds (resolved; at most [`MAX_SEEDS`]).
    pub seeds: Vec<SocketAddr>,
    /// Security provider.
    pub security: Security,
    /// The key it registers.
    pub key: NodeKey,
    /// That key's application data (1..=5120 bytes).
    pub app_data: Vec<u8>,
    /// The PNRP cloud it is published as, if any.
    pub cloud: Option<CloudConfig>,
}

/// A standing instance's PNRP cloud.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudConfig {
    /// `Global_` or `LinkLocal_<interface>`.
    pub name: String,
    /// PNRP_SCOPE (1 global, 3 link-local); also the DRT_SCOPE of its transport.
    pub scope: u32,
    /// Interface index of a link-local cloud.
    pub scope_id: u32,
}

/// The Global_ cloud's node key's application data.
pub const PNRP_NODE_APP_DATA: &str = "peerdrtd pnrp";

/// The daemon's resolved configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Path of the device socket.
    pub socket: PathBuf,
    /// Its file mode.
    pub socket_mode: u32,
    /// Addresses every instance advertises (1..=20).
    pub addresses: Vec<Ipv6Addr>,
    /// Standing instances.
    pub instances: Vec<InstanceConfig>,
    /// Flood limits of every DRT instance (`flood_limits = "on" | "off"`, `--flood-limits`).
    pub flood_limits: FloodLimits,
    /// How every DRT instance searches (`disjoint_paths`, `--disjoint-paths`).
    pub search: SearchSettings,
}

impl Config {
    /// A configuration with the defaults and the given socket path.
    pub fn with_socket(socket: PathBuf) -> Self {
        Self {
            socket,
            socket_mode: DEFAULT_SOCKET_MODE,
            addresses: vec![DEFAULT_ADDRESS],
            instances: Vec::new(),
            flood_limits: FloodLimits::default(),
            search: SearchSettings::default(),
        }
    }
}

/// The default device path, the one the shim looks for: `$PEERDRT_SOCKET` (when set), else
/// `$XDG_RUNTIME_DIR/peerdrt.sock` (when that is an absolute path), else `/tmp/peerdrt-<uid>.sock`.
pub fn default_socket_path() -> PathBuf {
    if let Some(path) = std::env::var_os(SOCKET_ENV).filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    match std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from).filter(|p| p.is_absolute()) {
        Some(dir) => dir.join(SOCKET_FILE_NAME),
        None => PathBuf::from(format!("/tmp/peerdrt-{}.sock", nix::unistd::Uid::current())),
    }
}

/// A file mode as written in the file: an integer (`0o660`) or an octal string (`"0660"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Mode {
    Int(u32),
    Octal(String),
}

/// The TOML file, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    socket: Option<PathBuf>,
    socket_mode: Option<Mode>,
    /// The tracing filter.
    pub log: Option<String>,
    addresses: Option<Vec<String>>,
    #[serde(default, rename = "instance")]
    instances: Vec<FileInstance>,
    pnrp: Option<FilePnrp>,
    flood_limits: Option<String>,
    disjoint_paths: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FilePnrp {
    port: Option<u16>,
    #[serde(default)]
    seeds: Vec<String>,
    #[serde(default)]
    link_local: Vec<FileLinkLocal>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLinkLocal {
    interface: String,
    port: u16,
    #[serde(default)]
    seeds: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileInstance {
    port: u16,
    version: Option<String>,
    #[serde(default)]
    seeds: Vec<String>,
    security: Option<Security>,
    key: Option<String>,
    app_data: Option<String>,
}

impl FileConfig {
    /// Parses a TOML document.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError(format!("config file: {e}")))
    }

    /// Reads and parses a TOML file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("config file {}: {e}", path.display())))?;
        Self::parse(&text)
    }
}

/// What the command line says (every field optional: the file or the default fills it).
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--socket`.
    pub socket: Option<PathBuf>,
    /// `--socket-mode` (octal text).
    pub socket_mode: Option<String>,
    /// `--address` (repeatable).
    pub addresses: Vec<String>,
    /// `--instance-port`.
    pub instance_port: Option<u16>,
    /// `--instance-version`.
    pub instance_version: Option<String>,
    /// `--seed` (repeatable).
    pub seeds: Vec<String>,
    /// `--instance-key`.
    pub instance_key: Option<String>,
    /// `--pnrp-port`: run the Global_ cloud on this port.
    pub pnrp_port: Option<u16>,
    /// `--pnrp-seed` (repeatable): the Global_ cloud's seed servers.
    pub pnrp_seeds: Vec<String>,
    /// `--flood-limits`: `on` (the default) or `off` (benchmarks only).
    pub flood_limits: Option<String>,
    /// `--disjoint-paths`: lookup paths of every exact search (1..=MAX_DISJOINT_PATHS).
    pub disjoint_paths: Option<u64>,
}

/// Merges flags over the file over the defaults, resolving names and checking every value.
pub fn resolve(file: FileConfig, flags: Overrides) -> Result<Config, ConfigError> {
    let socket = flags.socket.or(file.socket).unwrap_or_else(default_socket_path);
    let socket_mode = match (flags.socket_mode, file.socket_mode) {
        (Some(text), _) | (None, Some(Mode::Octal(text))) => parse_mode(&text)?,
        (None, Some(Mode::Int(mode))) => mode,
        (None, None) => DEFAULT_SOCKET_MODE,
    };
    if socket_mode > 0o777 {
        return err(format!("socket mode {socket_mode:o} is not a permission mode"));
    }
    let address_text =
        if flags.addresses.is_empty() { file.addresses.unwrap_or_default() } else { flags.addresses };
    let mut addresses = address_text.iter().map(|a| parse_address(a)).collect::<Result<Vec<_>, _>>()?;
    if addresses.is_empty() {
        addresses.push(DEFAULT_ADDRESS);
    }
    if addresses.len() > MAX_ROUTE_ADDRESSES {
        return err(format!("at most {MAX_ROUTE_ADDRESSES} addresses can be advertised"));
    }
    let mut instances = Vec::new();
    for i in file.instances {
        let mut c =
            instance(i.port, i.version.as_deref(), &i.seeds, i.key.as_deref(), i.app_data.as_deref())?;
        c.security = i.security.unwrap_or(Security::Null);
        instances.push(c);
    }
    match flags.instance_port {
        Some(port) => instances.push(instance(
            port,
            flags.instance_version.as_deref(),
            &flags.seeds,
            flags.instance_key.as_deref(),
            None,
        )?),
        None if !flags.seeds.is_empty()
            || flags.instance_version.is_some()
            || flags.instance_key.is_some() =>
        {
            return err("--seed, --instance-version and --instance-key need --instance-port");
        }
        None => {}
    }
    instances.extend(pnrp_clouds(file.pnrp, flags.pnrp_port, &flags.pnrp_seeds)?);
    for (i, a) in instances.iter().enumerate() {
        if instances[..i].iter().any(|b| b.port == a.port) {
            return err(format!("two standing instances on port {}", a.port));
        }
    }
    let flood_limits = match flags.flood_limits.or(file.flood_limits) {
        Some(text) => parse_flood_limits(&text)?,
        None => FloodLimits::default(),
    };
    let search = match flags.disjoint_paths.or(file.disjoint_paths) {
        Some(paths) => {
            crate::engine::search_settings::disjoint_paths(paths).map_err(|e| ConfigError(e.to_string()))?
        }
        None => SearchSettings::default(),
    };
    Ok(Config { socket, socket_mode, addresses, instances, flood_limits, search })
}

/// `on`: the node's default flood limits. `off`: no per-source limit, for benchmarks that load
/// a daemon from one source; the limit shared by unverified sources and the anti-amplification
/// rule stay (see `peerdrt_core::drt::FloodLimits`).
fn parse_flood_limits(text: &str) -> Result<FloodLimits, ConfigError> {
    match text {
        "on" => Ok(FloodLimits::default()),
        "off" => Ok(FloodLimits::benchmark()),
        other => err(format!("flood limits {other:?}: expected \"on\" or \"off\"")),
    }
}

fn instance(
    port: u16,
    version: Option<&str>,
    seeds: &[String],
    key: Option<&str>,
    app_data: Option<&str>,
) -> Result<InstanceConfig, ConfigError> {
    if port < 1024 {
        return err(format!("instance port {port}: DRT ports are 1024 and up"));
    }
    let version = version.map(parse_version).transpose()?.unwrap_or(DEFAULT_PROTOCOL_VERSION);
    let mut resolved = Vec::new();
    for seed in seeds {
        resolved.extend(parse_seed(seed)?);
    }
    resolved.dedup();
    if resolved.len() > MAX_SEEDS {
        return err(format!("instance port {port}: {} seeds (at most {MAX_SEEDS})", resolved.len()));
    }
    let key = key.map(parse_node_key).transpose()?.unwrap_or(NodeKey::Random);
    let app_data = app_data.unwrap_or(DEFAULT_NODE_APP_DATA).as_bytes().to_vec();
    if app_data.is_empty() || app_data.len() > peerdrt_abi::MAX_APP_DATA {
        return err(format!(
            "instance port {port}: app_data must be 1 to {} bytes",
            peerdrt_abi::MAX_APP_DATA
        ));
    }
    Ok(InstanceConfig {
        port,
        version,
        seeds: resolved,
        security: Security::Null,
        key,
        app_data,
        cloud: None,
    })
}

/// The PNRP clouds: Global_ when `[pnrp]` or `--pnrp-port` asks for it, and one
/// `LinkLocal_<interface>` per `[[pnrp.link_local]]`.
fn pnrp_clouds(
    file: Option<FilePnrp>,
    port_flag: Option<u16>,
    seed_flags: &[String],
) -> Result<Vec<InstanceConfig>, ConfigError> {
    if file.is_none() && port_flag.is_none() {
        if !seed_flags.is_empty() {
            return err("--pnrp-seed needs --pnrp-port or a [pnrp] section");
        }
        return Ok(Vec::new());
    }
    let file = file.unwrap_or_default();
    let port = port_flag.or(file.port).unwrap_or(peerdrt_core::pnrp::DEFAULT_PORT);
    let seeds = if seed_flags.is_empty() { &file.seeds[..] } else { seed_flags };
    let pnrp = Some(PNRP_NODE_APP_DATA);
    let version =
        format!("{}.{}", peerdrt_core::pnrp::PROTOCOL_VERSION.0, peerdrt_core::pnrp::PROTOCOL_VERSION.1);
    let mut global = instance(port, Some(&version), seeds, None, pnrp)?;
    global.cloud = Some(CloudConfig { name: peerdrt_core::pnrp::GLOBAL_CLOUD.into(), scope: 1, scope_id: 0 });
    let mut out = vec![global];
    for l in file.link_local {
        let name = format!("{}{}", peerdrt_core::pnrp::LINK_LOCAL_PREFIX, l.interface);
        if name.len() > peerdrt_abi::pnrp::MAX_CLOUD_NAME_LEN
            || l.interface.contains('/')
            || l.interface.is_empty()
        {
            return err(format!("link-local cloud interface {:?} is not an interface name", l.interface));
        }
        let scope_id = interface_index(&l.interface)?;
        let mut c = instance(l.port, Some(&version), &l.seeds, None, pnrp)?;
        c.cloud = Some(CloudConfig { name, scope: 3, scope_id });
        out.push(c);
    }
    if out.len() > peerdrt_abi::pnrp::MAX_CLOUDS {
        return err(format!("at most {} PNRP clouds", peerdrt_abi::pnrp::MAX_CLOUDS));
    }
    Ok(out)
}

/// The index of a network interface (its link-local scope id).
fn interface_index(name: &str) -> Result<u32, ConfigError> {
    let path = Path::new("/sys/class/net").join(name).join("ifindex");
    std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .map_or_else(|| err(format!("no network interface {name:?}")), Ok)
}

/// Parses a node key: `random`, `none`, or 64 hex digits.
pub fn parse_node_key(text: &str) -> Result<NodeKey, ConfigError> {
    match text.trim() {
        "random" => Ok(NodeKey::Random),
        "none" => Ok(NodeKey::None),
        hex if hex.len() == 64 && hex.is_ascii() => {
            let mut key = [0u8; 32];
            for (i, b) in key.iter_mut().enumerate() {
                *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
                    .or_else(|_| err(format!("node key {text:?} is not hex")))?;
            }
            Ok(NodeKey::Fixed(key))
        }
        _ => err(format!("node key {text:?}: expected \"random\", \"none\" or 64 hex digits")),
    }
}

/// Parses an octal mode such as `0660` or `660`.
pub fn parse_mode(text: &str) -> Result<u32, ConfigError> {
    let digits = text.trim().trim_start_matches("0o");
    u32::from_str_radix(digits, 8).or_else(|_| err(format!("socket mode {text:?} is not octal")))
}

/// Parses `major.minor` (each 0..=255), e.g. `6.101`.
pub fn parse_version(text: &str) -> Result<(u8, u8), ConfigError> {
    let parsed =
        text.split_once('.').and_then(|(a, b)| Some((a.trim().parse().ok()?, b.trim().parse().ok()?)));
    parsed.map_or_else(|| err(format!("protocol version {text:?} is not major.minor (e.g. 6.101)")), Ok)
}

/// Parses an advertised address: IPv6, or IPv4 (advertised IPv4-mapped).
pub fn parse_address(text: &str) -> Result<Ipv6Addr, ConfigError> {
    match text.trim().trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
        Ok(IpAddr::V6(a)) if !a.is_unspecified() && !a.is_multicast() => Ok(a),
        Ok(IpAddr::V4(a)) if !a.is_unspecified() && !a.is_multicast() && !a.is_broadcast() => {
            Ok(a.to_ipv6_mapped())
        }
        _ => err(format!("address {text:?} is not a unicast IPv4 or IPv6 address")),
    }
}

/// Resolves a seed: `host:port`, `a.b.c.d:port` or `[v6]:port`; names may give several.
pub fn parse_seed(text: &str) -> Result<Vec<SocketAddr>, ConfigError> {
    let addrs: Vec<SocketAddr> = text
        .trim()
        .to_socket_addrs()
        .map_err(|e| ConfigError(format!("seed {text:?}: {e} (expected host:port or [v6]:port)")))?
        .collect();
    if addrs.is_empty() {
        return err(format!("seed {text:?} resolves to no address"));
    }
    if let Some(bad) = addrs.iter().find(|a| a.port() < 1024) {
        return err(format!("seed {text:?}: port {} (DRT ports are 1024 and up)", bad.port()));
    }
    Ok(addrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flood_limits_are_on_unless_the_flag_or_the_file_turns_per_source_limits_off() {
        let default = resolve(FileConfig::default(), Overrides::default()).unwrap();
        assert_eq!(default.flood_limits, FloodLimits::default());
        let file = FileConfig::parse("flood_limits = \"off\"").unwrap();
        let off = resolve(file, Overrides::default()).unwrap().flood_limits;
        assert_eq!(off.per_source, None);
        assert_eq!(off.unverified, FloodLimits::default().unverified, "the shared bucket stays");
        // The flag wins over the file.
        let file = FileConfig::parse("flood_limits = \"off\"").unwrap();
        let flags = Overrides { flood_limits: Some("on".into()), ..Overrides::default() };
        assert_eq!(resolve(file, flags).unwrap().flood_limits, FloodLimits::default());
        let flags = Overrides { flood_limits: Some("none".into()), ..Overrides::default() };
        assert!(resolve(FileConfig::default(), flags).is_err());
    }

    #[test]
    fn the_pnrp_section_makes_a_global_cloud_and_link_local_clouds() {
        let file = FileConfig::parse(
            r#"
            [pnrp]
            seeds = ["127.0.0.1:3600"]
            [[pnrp.link_local]]
            interface = "lo"
            port = 3541
            "#,
        )
        .unwrap();
        let c = resolve(file, Overrides::default()).unwrap();
        assert_eq!(c.instances.len(), 2);
        let g = &c.instances[0];
        assert_eq!((g.port, g.version), (3540, (4, 0)));
        assert_eq!(g.seeds, vec!["127.0.0.1:3600".parse().unwrap()]);
        assert_eq!(g.cloud, Some(CloudConfig { name: "Global_".into(), scope: 1, scope_id: 0 }));
        let l = c.instances[1].cloud.as_ref().unwrap();
        assert_eq!((l.name.as_str(), l.scope), ("LinkLocal_lo", 3));
        assert!(l.scope_id >= 1, "lo's interface index");
        // Flags: the port and the seeds.
        let flags = Overrides {
            pnrp_port: Some(45000),
            pnrp_seeds: vec!["127.0.0.1:45001".into()],
            ..Overrides::default()
        };
        let c = resolve(FileConfig::default(), flags).unwrap();
        assert_eq!((c.instances[0].port, c.instances[0].seeds.len()), (45000, 1));
        assert!(resolve(FileConfig::default(), Overrides::default()).unwrap().instances.is_empty());
    }

    #[test]
    fn a_file_with_every_field_resolves() {
        let file = FileConfig::parse(
            r#"
            socket = "/run/peerdrt/peerdrt.sock"
            socket_mode = "0600"
            log = "debug"
            addresses = ["192.0.2.10", "2001:db8::10"]

            [[instance]]
            port = 3540
            seeds = ["127.0.0.1:3541", "[::1]:3542"]

            [[instance]]
            port = 3600
            version = "6.0"
            security = "null"
            key = "none"
            app_data = "seed"
            "#,
        )
        .unwrap();
        assert_eq!(file.log.as_deref(), Some("debug"));
        let c = resolve(file, Overrides::default()).unwrap();
        assert_eq!(c.socket, PathBuf::from("/run/peerdrt/peerdrt.sock"));
        assert_eq!(c.socket_mode, 0o600);
        assert_eq!(
            c.addresses,
            vec!["::ffff:192.0.2.10".parse::<Ipv6Addr>().unwrap(), "2001:db8::10".parse().unwrap()]
        );
        assert_eq!(c.instances.len(), 2);
        assert_eq!(c.instances[0].version, DEFAULT_PROTOCOL_VERSION);
        assert_eq!(
            c.instances[0].seeds,
            vec!["127.0.0.1:3541".parse().unwrap(), "[::1]:3542".parse().unwrap()]
        );
        assert_eq!(c.instances[0].key, NodeKey::Random);
        assert_eq!(c.instances[0].app_data, DEFAULT_NODE_APP_DATA.as_bytes());
        assert_eq!(c.instances[1].version, (6, 0));
        assert_eq!((c.instances[1].key, &c.instances[1].app_data[..]), (NodeKey::None, &b"seed"[..]));
    }

    #[test]
    fn flags_win_and_defaults_fill_in() {
        let file = FileConfig::parse("socket_mode = 0o640\naddresses = [\"10.0.0.1\"]").unwrap();
        let flags = Overrides {
            socket: Some("/tmp/x.sock".into()),
            addresses: vec!["::1".into()],
            instance_port: Some(40000),
            seeds: vec!["127.0.0.1:40001".into()],
            ..Overrides::default()
        };
        let c = resolve(file, flags).unwrap();
        assert_eq!(c.socket_mode, 0o640);
        assert_eq!(c.addresses, vec![Ipv6Addr::LOCALHOST]);
        assert_eq!(c.instances[0].port, 40000);
        let c = resolve(FileConfig::default(), Overrides::default()).unwrap();
        assert_eq!(c.addresses, vec![DEFAULT_ADDRESS]);
        assert_eq!(DEFAULT_ADDRESS.to_string(), "::ffff:127.0.0.1");
        assert!(c.instances.is_empty());
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(FileConfig::parse("unknown = 1").is_err());
        assert!(FileConfig::parse("[[instance]]\nport = 70000").is_err());
        assert!(
            resolve(FileConfig::parse("[[instance]]\nport = 80").unwrap(), Overrides::default()).is_err()
        );
        assert!(parse_version("6").is_err());
        assert!(parse_version("6.300").is_err());
        assert_eq!(parse_version("6.101"), Ok((6, 101)));
        assert!(parse_address("0.0.0.0").is_err());
        assert!(parse_address("ff02::1").is_err());
        assert!(parse_seed("127.0.0.1").is_err());
        assert!(parse_seed("127.0.0.1:80").is_err());
        assert!(parse_mode("0999").is_err());
        assert_eq!(parse_node_key(&"0f".repeat(32)), Ok(NodeKey::Fixed([0x0f; 32])));
        assert!(parse_node_key(&"0g".repeat(32)).is_err());
        assert!(parse_node_key("abc").is_err());
        let flags = Overrides { seeds: vec!["127.0.0.1:4000".into()], ..Overrides::default() };
        assert!(resolve(FileConfig::default(), flags).is_err());
        let twice = "[[instance]]\nport = 4000\n[[instance]]\nport = 4000";
        let flags = Overrides { pnrp_seeds: vec!["127.0.0.1:4000".into()], ..Overrides::default() };
        assert!(resolve(FileConfig::default(), flags).is_err(), "a PNRP seed without a cloud");
        let no_such = "[pnrp]\n[[pnrp.link_local]]\ninterface = \"no-such-if0\"\nport = 3541";
        assert!(resolve(FileConfig::parse(no_such).unwrap(), Overrides::default()).is_err());
        assert!(resolve(FileConfig::parse(twice).unwrap(), Overrides::default()).is_err());
    }
}
