//! PNRP on the DRT: peer names, PNRP IDs and the signed registration records resolvers verify.
//!
//! A PNRP cloud is a DRT instance (protocol version 4.0, UDP 3540 by default) whose keys are
//! PNRP IDs ([`id`]) and whose key payloads are [`record`]s. Names follow [MS-PNRP] §1.3.1.1
//! ([`name`]). Everything here is sans-IO: callers pass the current time in.

pub mod discovery;
pub mod id;
pub mod name;
pub mod record;
pub mod seed_servers;

pub use id::{PnrpId, p2p_id, service_location};
pub use name::{Authority, NameError, PeerName};
pub use record::{Record, RecordContent, RecordError, VerifyError};

/// PNRP's protocol version, the DRT version a PNRP cloud instance speaks.
pub const PROTOCOL_VERSION: (u8, u8) = (4, 0);
/// PNRP's well-known UDP port.
pub const DEFAULT_PORT: u16 = 3540;
/// Name of the global cloud.
pub const GLOBAL_CLOUD: &str = "Global_";
/// Prefix of the link-local clouds' names (`LinkLocal_<interface>`).
pub const LINK_LOCAL_PREFIX: &str = "LinkLocal_";
