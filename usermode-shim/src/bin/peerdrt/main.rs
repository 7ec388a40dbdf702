//! `peerdrt`: the command line of the DRT shim.
//!
//! ```sh
//! peerdrt demo                                   # a local cloud, keys registered and found
//! peerdrt drt register --key 1234 --data hello --seed 127.0.0.1:3540
//! peerdrt drt search --key 1234 --seed 127.0.0.1:3540
//! peerdrt drt search --key 1234 --near 3 --json
//! peerdrt drt unregister --key 1234
//! peerdrt status
//! peerdrt pnrp register 0.demo --address 192.0.2.1:8080 --comment hi --payload data
//! peerdrt pnrp resolve 0.demo --json
//! peerdrt pnrp unregister 0.demo
//! peerdrt pnrp clouds
//! ```
//!
//! Every command goes through the shim's DRT API to the device (`--socket`, else
//! `$PEERDRT_SOCKET`, else `$XDG_RUNTIME_DIR/peerdrt.sock`, else `/tmp/peerdrt-<uid>.sock`).

mod daemon;
mod demo;
mod drt_cmd;
mod group_cmd;
mod pnrp_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// The peerdrt DRT shim: register and search keys in a Distributed Routing Table.
#[derive(Debug, Parser)]
#[command(name = "peerdrt", version)]
pub struct Cli {
    /// The device (peerdrtd's socket) [default: $PEERDRT_SOCKET, else
    /// $XDG_RUNTIME_DIR/peerdrt.sock, else /tmp/peerdrt-<uid>.sock].
    #[arg(long, global = true, value_name = "PATH")]
    socket: Option<PathBuf>,

    /// Print JSON (one object per line) instead of text.
    #[arg(long, global = true)]
    json: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// DRT keys: register, search, unregister.
    #[command(subcommand)]
    Drt(DrtCommand),
    /// PNRP: register, resolve and unregister peer names; the node's clouds.
    #[command(subcommand)]
    Pnrp(pnrp_cmd::PnrpCommand),
    /// Peer groups: create, invite, join, connect, add, list, watch.
    #[command(subcommand)]
    Group(group_cmd::GroupCommand),
    /// Whether the device answers; with --seed, a probe instance's view of the cloud.
    Status(drt_cmd::StatusArgs),
    /// Start a local cloud of daemons, register keys in one process, find them from another.
    Demo(demo::DemoArgs),
    /// Run a node in this process (what `peerdrtd` runs).
    #[command(hide = true)]
    Daemon(daemon::DaemonArgs),
    /// The demo's registering child.
    #[command(hide = true)]
    DemoRegister(demo::RegisterArgs),
    /// The demo's searching child.
    #[command(hide = true)]
    DemoSearch(demo::SearchArgs),
}

#[derive(Debug, Subcommand)]
enum DrtCommand {
    /// Register a key and keep it registered until Ctrl-C (or --for SECONDS).
    Register(drt_cmd::RegisterArgs),
    /// Search for a key: exact, the N nearest, a range, or hop by hop.
    Search(drt_cmd::SearchArgs),
    /// Unregister a key held by a running `peerdrt drt register` (which then exits).
    Unregister(drt_cmd::UnregisterArgs),
}

/// Options of every command that opens a DRT instance.
#[derive(Debug, Clone, Args)]
pub struct InstanceArgs {
    /// UDP port of this instance's transport (0: the node picks one).
    #[arg(long, default_value_t = 0)]
    port: u16,

    /// A bootstrap seed, host:port or [v6]:port (repeatable), e.g. a node's standing instance.
    /// Without one the instance stays DRT_ALONE until another node contacts it.
    #[arg(long = "seed", value_name = "ADDR:PORT")]
    seeds: Vec<String>,

    /// How long to wait for the instance to find the cloud (DRT_ACTIVE), milliseconds.
    #[arg(long, default_value_t = 10_000, value_name = "MS")]
    wait_active: u64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    let socket = cli.socket.clone();
    let result = match cli.command {
        Command::Drt(DrtCommand::Register(a)) => drt_cmd::register(socket, json, a),
        Command::Drt(DrtCommand::Search(a)) => drt_cmd::search(socket, json, a),
        Command::Drt(DrtCommand::Unregister(a)) => drt_cmd::unregister(json, a),
        Command::Pnrp(c) => pnrp_cmd::run(socket, json, c),
        Command::Group(c) => group_cmd::run(socket, json, c),
        Command::Status(a) => drt_cmd::status(socket, json, a),
        Command::Demo(a) => demo::demo(json, a),
        Command::Daemon(a) => daemon::run(a),
        Command::DemoRegister(a) => demo::register_child(a),
        Command::DemoSearch(a) => demo::search_child(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            if json {
                println!("{}", serde_json::json!({ "error": e.to_string() }));
            } else {
                eprintln!("peerdrt: {e}");
            }
            ExitCode::FAILURE
        }
    }
}

/// Errors of the commands: a message.
pub type CmdResult = Result<ExitCode, Box<dyn std::error::Error>>;
