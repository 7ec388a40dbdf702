//! The driver's PNRP `Global_` cloud: a device-owned standing instance (see
//! [`crate::engine::standing`]) that applications attach to with ATTACH_CLOUD.
//!
//! Configuration, read once in DriverEntry (PASSIVE_LEVEL):
//! * `PnrpPort` (REG_DWORD) under the service's `Parameters` key: the UDP port, default
//!   [`peerdrt_core::pnrp::DEFAULT_PORT`]; 0 runs no cloud;
//! * `SeedServer` (REG_SZ, `;`-separated) under
//!   `HKLM\Software\Policies\Microsoft\Peernet\Pnrp\IPv6-Global`, Windows' own policy location:
//!   literal addresses with optional ports ([`peerdrt_core::pnrp::seed_servers`]); host names
//!   are logged and skipped (the kernel has no DNS).
//!
//! The worker opens the cloud once WSK is attached and closes it when the provider detaches (a
//! later attach opens it again). Link-local clouds are not run by the driver.

use alloc::vec::Vec;

use peerdrt_abi::SecurityKind;
use peerdrt_core::pnrp::seed_servers::{MAX_SEED_LIST_LEN, SkipReason, parse_seed_servers};
use peerdrt_core::pnrp::{DEFAULT_PORT, GLOBAL_CLOUD, PROTOCOL_VERSION};
use peerdrt_core::time::Instant;
use peerdrt_core::wire::Endpoint;

use crate::engine::standing::{CloudSpec, NodeKey, StandingSpec, open_standing};
use crate::engine::{OpenId, Owner};

use super::log::log;
use super::registry;
use super::{Engine, sys, utf16};

/// The policy key of the global cloud's seed servers.
static SEED_POLICY_KEY: [u16; 70] =
    utf16("\\Registry\\Machine\\Software\\Policies\\Microsoft\\Peernet\\Pnrp\\IPv6-Global");
static SEED_SERVER: [u16; 10] = utf16("SeedServer");
static PNRP_PORT: [u16; 8] = utf16("PnrpPort");
/// The node key's application data.
const NODE_APP_DATA: &[u8] = b"peerdrt.sys pnrp";
/// The owner of the driver's own open: the System process.
const SYSTEM_OWNER: Owner = Owner { pid: 4, uid: 0 };
/// DRT_GLOBAL_SCOPE.
const GLOBAL_SCOPE: u32 = 1;

/// What DriverEntry read.
pub struct PnrpConfig {
    /// UDP port of `Global_`; 0: no cloud.
    pub port: u16,
    /// Its seeds.
    pub seeds: Vec<Endpoint>,
}

/// Where the cloud is.
pub enum CloudState {
    /// Configured off (`PnrpPort` = 0).
    Disabled,
    /// Opens at the next attach.
    Waiting,
    /// Open in the driver's own open.
    Open(OpenId),
    /// Opening failed (logged); tried again after the provider detaches and a new one attaches.
    Failed,
}

/// Reads the configuration. PASSIVE_LEVEL (DriverEntry).
///
/// # Safety
/// `registry_path` is DriverEntry's (or null).
pub unsafe fn read_config(registry_path: *const sys::UNICODE_STRING) -> PnrpConfig {
    // SAFETY: caller.
    let port = match unsafe { registry::parameters_path(registry_path) }
        .map(|params| registry::read_value(&params, &PNRP_PORT, 4))
    {
        Some(Ok(v)) => match v.dword().map(u16::try_from) {
            Some(Ok(port)) => port,
            _ => {
                log!("Parameters\\PnrpPort is not a REG_DWORD port: using {}", DEFAULT_PORT);
                DEFAULT_PORT
            }
        },
        _ => DEFAULT_PORT,
    };
    let mut seeds = Vec::new();
    // UTF-16: two bytes a character, plus the terminator.
    match registry::read_value(&SEED_POLICY_KEY, &SEED_SERVER, (MAX_SEED_LIST_LEN + 1) * 2) {
        Ok(v) if v.kind == sys::REG_SZ || v.kind == sys::REG_EXPAND_SZ => {
            let text = v.text();
            match parse_seed_servers(&text) {
                Ok(list) => {
                    for s in &list.skipped {
                        let why = match s.reason {
                            SkipReason::HostName => "a host name (the driver cannot resolve names)",
                            SkipReason::Malformed => "not an address",
                            SkipReason::Duplicate => "a duplicate",
                            SkipReason::TooMany => "one too many",
                        };
                        log!("PNRP SeedServer: skipping {:?}: {}", s.entry, why);
                    }
                    seeds = list.seeds;
                }
                Err(e) => log!("PNRP SeedServer: {}", e),
            }
        }
        Ok(_) => log!("PNRP SeedServer is not REG_SZ: ignored"),
        Err(sys::STATUS_BUFFER_OVERFLOW) => {
            log!("PNRP SeedServer is longer than {} characters: ignored", MAX_SEED_LIST_LEN)
        }
        Err(_) => {}
    }
    PnrpConfig { port, seeds }
}

/// The initial state for `config`.
pub fn initial_state(config: &PnrpConfig) -> CloudState {
    if config.port == 0 { CloudState::Disabled } else { CloudState::Waiting }
}

/// Worker round (engine lock held, PASSIVE_LEVEL): opens the cloud once WSK is attached, closes
/// it when the provider goes away.
pub fn service(e: &mut Engine, now: Instant) {
    let attached = e.platform.attached();
    match e.cloud {
        CloudState::Waiting if attached => open(e, now),
        CloudState::Open(open) if !attached => {
            e.device.close(now, open, &mut e.platform);
            e.opens.retain(|o| *o != open);
            e.cloud = CloudState::Waiting;
            log!("PNRP cloud {} closed: the WSK provider went away", GLOBAL_CLOUD);
        }
        CloudState::Failed if !attached => e.cloud = CloudState::Waiting,
        _ => {}
    }
}

fn open(e: &mut Engine, now: Instant) {
    let Some(open) = e.device.open(SYSTEM_OWNER) else {
        log!("PNRP cloud {}: the device has no free open", GLOBAL_CLOUD);
        e.cloud = CloudState::Failed;
        return;
    };
    let spec = StandingSpec {
        version: PROTOCOL_VERSION,
        port: e.pnrp.port,
        seeds: &e.pnrp.seeds,
        security: SecurityKind::Null,
        key: NodeKey::Random,
        app_data: NODE_APP_DATA,
        cloud: Some(CloudSpec { name: GLOBAL_CLOUD, scope: GLOBAL_SCOPE, scope_id: 0 }),
        max_addresses: e.platform.address_count() as u32,
    };
    match open_standing(&mut e.device, &mut e.platform, now, open, &spec) {
        Ok(s) => {
            e.opens.push(open);
            e.cloud = CloudState::Open(open);
            log!(
                "PNRP cloud {} open on UDP port {} with {} seed(s), node key {:02x}{:02x}{:02x}{:02x}...",
                GLOBAL_CLOUD,
                s.port,
                e.pnrp.seeds.len(),
                s.key.map_or(0, |k| k[0]),
                s.key.map_or(0, |k| k[1]),
                s.key.map_or(0, |k| k[2]),
                s.key.map_or(0, |k| k[3])
            );
        }
        Err(err) => {
            e.device.close(now, open, &mut e.platform);
            e.cloud = CloudState::Failed;
            log!("PNRP cloud {} on UDP port {}: {}", GLOBAL_CLOUD, e.pnrp.port, err);
        }
    }
}
