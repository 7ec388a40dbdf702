//! `peerdrtd`: the peerdrt node on Linux — the driver's engine behind UDP sockets, with a
//! Unix-socket device for applications (the shim) in place of `\\.\PeerDrt`.
//!
//! ```sh
//! # a seed node with a standing instance on UDP 3540
//! peerdrtd --socket /tmp/a.sock --instance-port 3540
//! # a second node joining it
//! peerdrtd --socket /tmp/b.sock --instance-port 3541 --seed 127.0.0.1:3540
//! ```

#[cfg(not(windows))]
mod unix {
    use std::path::PathBuf;
    use std::process::ExitCode;

    use clap::Parser;
    use peerdrt::host::config::{self, FileConfig, Overrides};
    use tracing_subscriber::EnvFilter;

    /// The peerdrt node: DRT instances on UDP, served to applications over a Unix socket.
    #[derive(Debug, Parser)]
    #[command(
        name = "peerdrtd",
        version,
        about = "The peerdrt node: DRT instances on UDP, served to applications over a Unix socket"
    )]
    struct Cli {
        /// TOML configuration file (flags override it).
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,

        /// The device socket [default: $PEERDRT_SOCKET, else $XDG_RUNTIME_DIR/peerdrt.sock, else
        /// /tmp/peerdrt-<uid>.sock — where the shim looks].
        #[arg(long, value_name = "PATH")]
        socket: Option<PathBuf>,

        /// File mode of the device socket, octal [default: 0660].
        #[arg(long, value_name = "MODE")]
        socket_mode: Option<String>,

        /// An address instances advertise to peers (repeatable; IPv4 is advertised IPv4-mapped).
        /// Default ::ffff:127.0.0.1, which makes a cloud on one machine work; a node other
        /// machines should reach must advertise an address they can reach.
        #[arg(long = "address", value_name = "ADDR")]
        addresses: Vec<String>,

        /// Open a standing DRT instance on this UDP port (kept while the daemon runs).
        #[arg(long, value_name = "PORT")]
        instance_port: Option<u16>,

        /// Protocol version of the --instance-port instance, major.minor [default: 6.101].
        #[arg(long, value_name = "MAJOR.MINOR")]
        instance_version: Option<String>,

        /// The node key the --instance-port instance registers: random, none, or 64 hex digits
        /// [default: random]. Without a key an instance only searches and relays bootstrap.
        #[arg(long, value_name = "KEY")]
        instance_key: Option<String>,

        /// A bootstrap seed of the --instance-port instance: host:port or [v6]:port (repeatable).
        #[arg(long = "seed", value_name = "ADDR:PORT")]
        seeds: Vec<String>,

        /// Run the PNRP Global_ cloud on this UDP port (default with a [pnrp] section: 3540).
        #[arg(long, value_name = "PORT")]
        pnrp_port: Option<u16>,

        /// A seed server of the Global_ cloud: host:port or [v6]:port (repeatable).
        #[arg(long = "pnrp-seed", value_name = "ADDR:PORT")]
        pnrp_seeds: Vec<String>,

        /// Flood limits of every DRT instance: on, or off for benchmarks only (no per-source
        /// limit; the limit shared by unverified sources and anti-amplification stay)
        /// [default: the config file's `flood_limits`, else on].
        #[arg(long, value_name = "on|off")]
        flood_limits: Option<String>,

        /// Disjoint lookup paths of every exact search of every DRT instance, PNRP clouds
        /// included: 1 to 4. More paths cost more datagrams a search and find more keys that a
        /// Sybil cluster joining after their owner hides (docs/hostile-peers.md) [default: the config file's `disjoint_paths`, else 1].
        #[arg(long, value_name = "N")]
        disjoint_paths: Option<u64>,

        /// Log filter, tracing EnvFilter syntax (e.g. "info", "peerdrt=debug") [default: $RUST_LOG,
        /// else the config file's `log`, else info].
        #[arg(long, value_name = "FILTER")]
        log: Option<String>,
    }

    pub fn main() -> ExitCode {
        let cli = Cli::parse();
        let file = match &cli.config {
            Some(path) => match FileConfig::load(path) {
                Ok(f) => f,
                Err(e) => {
                    eprintln!("peerdrtd: {e}");
                    return ExitCode::from(2);
                }
            },
            None => FileConfig::default(),
        };
        // --log, then RUST_LOG, then the file's `log`, then "info".
        let filter = cli
            .log
            .clone()
            .or_else(|| std::env::var("RUST_LOG").ok().filter(|s| !s.is_empty()))
            .or_else(|| file.log.clone())
            .unwrap_or_else(|| "info".into());
        let filter = match EnvFilter::try_new(&filter) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("peerdrtd: log filter {filter:?}: {e}");
                return ExitCode::from(2);
            }
        };
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
        let overrides = Overrides {
            socket: cli.socket,
            socket_mode: cli.socket_mode,
            addresses: cli.addresses,
            instance_port: cli.instance_port,
            instance_version: cli.instance_version,
            seeds: cli.seeds,
            instance_key: cli.instance_key,
            pnrp_port: cli.pnrp_port,
            pnrp_seeds: cli.pnrp_seeds,
            flood_limits: cli.flood_limits,
            disjoint_paths: cli.disjoint_paths,
        };
        let config = match config::resolve(file, overrides) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("peerdrtd: {e}");
                return ExitCode::from(2);
            }
        };
        tracing::info!(
            version = env!("CARGO_PKG_VERSION"),
            addresses = ?config.addresses,
            instances = config.instances.len(),
            disjoint_paths = config.search.disjoint_paths(),
            "peerdrtd starting"
        );
        match peerdrt::host::run(config) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!("{e}");
                eprintln!("peerdrtd: {e}");
                ExitCode::FAILURE
            }
        }
    }
}

#[cfg(not(windows))]
fn main() -> std::process::ExitCode {
    unix::main()
}

#[cfg(windows)]
fn main() {
    eprintln!("peerdrtd is the Linux node; on Windows the driver is peerdrt.sys");
    std::process::exit(1);
}
