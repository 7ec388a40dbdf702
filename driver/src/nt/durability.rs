//! Group databases in `peerdrt.sys`: the shared [`GroupDurability`] over [`NtDirectory`], in the
//! driver's state directory, driven from the IOCTL dispatch path and the worker.
//!
//! * The state directory is `Parameters\StateDirectory` (REG_SZ, or REG_EXPAND_SZ taken as is:
//!   an absolute NT path such as `\??\D:\peerdrt`) or [`DEFAULT_STATE_DIRECTORY`]; the logs are
//!   in its `groups` subdirectory, created with parents on first use.
//! * [`after_ioctl`] runs in IRP_MJ_DEVICE_CONTROL before the IRP completes, under the engine
//!   lock at PASSIVE_LEVEL: a group just created or joined is replayed from its log, every record
//!   the request stored is appended and flushed, a closed group's log is closed. A record that
//!   could not be made durable fails the request with STATUS_UNEXPECTED_IO_ERROR — the ordering
//!   of the Linux node's worker; the log is then rewritten from memory by a later call until
//!   that succeeds (see `store::group_durability`).
//! * [`persist_received`] runs in the worker's `settle` for records received from members (and
//!   writes the synchronised marker, compacts, catches a log up: all at PASSIVE_LEVEL too).

use alloc::vec::Vec;

use peerdrt_abi::group::GroupRequest;
use peerdrt_abi::{Request, status};
use peerdrt_core::time::Instant;

use super::file::{MAX_PATH_UNITS, NtDirectory};
use super::log::log;
use super::{Engine, registry, sys, utf16};
use crate::engine::{Completion, OpenId};
use crate::store::group_durability::GroupDurability;
use crate::store::group_store::SET_ASIDE_SUFFIX;

/// Where the driver keeps its state without a `Parameters\StateDirectory` value.
pub const DEFAULT_STATE_DIRECTORY: &str = "\\SystemRoot\\System32\\drivers\\peerdrt";
/// The group logs' subdirectory of the state directory.
const GROUPS: &str = "\\groups";
static STATE_DIRECTORY: [u16; 14] = utf16("StateDirectory");

/// The node's group logs.
pub type Groups = GroupDurability<NtDirectory>;

/// The group directory: `Parameters\StateDirectory` or the default, plus `\groups`.
///
/// # Safety
/// PASSIVE_LEVEL; `registry_path` is DriverEntry's (or null).
pub unsafe fn configured(registry_path: *const sys::UNICODE_STRING) -> Groups {
    // SAFETY: as documented.
    let configured = unsafe { registry::parameters_path(registry_path) }
        .and_then(|params| registry::read_value(&params, &STATE_DIRECTORY, MAX_PATH_UNITS * 2).ok())
        .filter(|v| v.kind == sys::REG_SZ || v.kind == sys::REG_EXPAND_SZ)
        .map(|v| v.text());
    let state = match configured {
        Some(path) if path.starts_with('\\') && path.len() + GROUPS.len() < MAX_PATH_UNITS => path,
        Some(path) => {
            log!("Parameters\\StateDirectory {:?} is not an absolute NT path: using the default", path);
            DEFAULT_STATE_DIRECTORY.into()
        }
        None => DEFAULT_STATE_DIRECTORY.into(),
    };
    let state = state.trim_end_matches('\\');
    log!("group logs in {}{}", state, GROUPS);
    let path: Vec<u16> = state.encode_utf16().chain(GROUPS.encode_utf16()).collect();
    GroupDurability::new(NtDirectory::new(path))
}

/// After IOCTL `code` of `open` completed with `status` and `output` (engine lock held,
/// PASSIVE_LEVEL): the group bookkeeping, then the completion the IRP gets.
pub fn after_ioctl(
    e: &mut Engine,
    now: Instant,
    open: OpenId,
    code: u32,
    input: &[u8],
    output: &[u8],
    completion: Completion,
) -> Completion {
    let Completion::Complete { status: done, information } = completion else { return completion };
    let output = &output[..information.min(output.len())];
    if done == status::SUCCESS {
        match e.groups.opened(&mut e.device, now, open, code, output) {
            Some(Ok(r)) => {
                log!(
                    "group log {}: {} entries replayed, {} restored, {} refused, {} bytes of torn tail cut off{}{}",
                    r.log,
                    r.entries,
                    r.restored,
                    r.refused,
                    r.truncated,
                    if r.existed { "" } else { " (new)" },
                    if r.synchronised { " (synchronised)" } else { "" }
                );
                if let Some(why) = r.set_aside {
                    log!(
                        "group log {} set aside as {}{} ({:?}); a new log holds what was replayed",
                        r.log,
                        r.log,
                        SET_ASIDE_SUFFIX,
                        why
                    );
                }
            }
            Some(Err(error)) => log!("group log unusable, the group runs without durability: {}", error),
            None => {}
        }
    }
    // Durable before the IRP completes: a record AddRecord reported survives a crash.
    let persisted = e.groups.persist(&mut e.device);
    if done == status::SUCCESS
        && let Ok(Request::Group { request: GroupRequest::Close { group }, .. }) =
            Request::decode(code, input)
    {
        e.groups.closed(group);
    }
    // PeerGroupDelete: the group's log goes before the IRP completes.
    let persisted = match Request::decode(code, input) {
        Ok(Request::Group { request: GroupRequest::Delete { root }, .. }) if done == status::SUCCESS => {
            persisted.and(e.groups.deleted(root).map(|_| ()))
        }
        _ => persisted,
    };
    match persisted {
        Ok(()) => Completion::Complete { status: done, information },
        Err(error) => {
            log!("group record not made durable: {}; the request fails", error);
            Completion::Complete { status: status::UNEXPECTED_IO_ERROR, information: 0 }
        }
    }
}

/// Records received from other members (the worker's rounds; engine lock held, PASSIVE_LEVEL).
pub fn persist_received(e: &mut Engine) {
    if let Err(error) = e.groups.persist(&mut e.device) {
        log!("received group record not made durable: {}", error);
    }
}
