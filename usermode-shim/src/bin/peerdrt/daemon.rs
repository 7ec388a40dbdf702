//! `peerdrt daemon` (hidden): the Linux node in this process — the driver crate's `host`
//! module, the same code `peerdrtd` runs — so `cargo run -p peerdrt-shim --bin peerdrt -- demo`
//! needs no other binary built.

use std::path::PathBuf;

use clap::Args;

use crate::CmdResult;

/// `daemon`.
#[derive(Debug, Args)]
pub struct DaemonArgs {
    /// The device socket to serve.
    #[arg(long, value_name = "PATH")]
    pub socket: PathBuf,
    /// A standing DRT instance on this UDP port.
    #[arg(long, value_name = "PORT")]
    pub instance_port: Option<u16>,
    /// A bootstrap seed of the standing instance (repeatable).
    #[arg(long = "seed", value_name = "ADDR:PORT")]
    pub seeds: Vec<String>,
    /// A peerdrtd configuration file (TOML; the flags win over it).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Run the PNRP Global_ cloud on this UDP port.
    #[arg(long, value_name = "PORT")]
    pub pnrp_port: Option<u16>,
    /// A seed server of the Global_ cloud (repeatable).
    #[arg(long = "pnrp-seed", value_name = "ADDR:PORT")]
    pub pnrp_seeds: Vec<String>,
    /// Exit when the parent process exits (PR_SET_PDEATHSIG), so a killed demo leaves no node.
    #[arg(long)]
    pub die_with_parent: bool,
}

#[cfg(not(windows))]
pub fn run(a: DaemonArgs) -> CmdResult {
    use peerdrt::host::config::{self, FileConfig, Overrides};

    #[cfg(target_os = "linux")]
    if a.die_with_parent {
        // SAFETY: prctl(PR_SET_PDEATHSIG) only sets a flag of this process.
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) };
        // The parent may have gone before the flag was set.
        // SAFETY: getppid cannot fail.
        if unsafe { libc::getppid() } == 1 {
            return Ok(std::process::ExitCode::FAILURE);
        }
    }
    let overrides = Overrides {
        socket: Some(a.socket.clone()),
        instance_port: a.instance_port,
        seeds: a.seeds,
        pnrp_port: a.pnrp_port,
        pnrp_seeds: a.pnrp_seeds,
        ..Overrides::default()
    };
    let file = match &a.config {
        Some(path) => FileConfig::load(path)?,
        None => FileConfig::default(),
    };
    let config = config::resolve(file, overrides)?;
    peerdrt::host::run(config)?;
    Ok(std::process::ExitCode::SUCCESS)
}

#[cfg(windows)]
pub fn run(_: DaemonArgs) -> CmdResult {
    Err("on Windows the node is the peerdrt.sys driver".into())
}
