//! The start of the Peer Grouping API (`PeerGroup*` of p2p.dll): the C types with their Win32
//! x64 layouts, the HRESULTs, version negotiation, peer time, and the PEER_RECORD rules applied
//! before a record reaches the device (`GROUP_*` control codes of peerdrt-abi).
//!
//! [`client`] speaks the GROUP_* control codes to the device; the C exports are not built yet.
//! See `docs/grouping.md`.

pub mod client;
pub mod events;
pub mod hresult;
pub mod invitation;
pub mod membership_store;
pub mod record;
pub mod search;
pub mod time;
pub mod types;
pub mod version;
