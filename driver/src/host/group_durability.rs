//! The daemon's group databases on disk: one [`GroupLog`] per group under the state directory.
//!
//! The worker calls [`GroupDurability::persist`] after every IOCTL *before* it sends the reply,
//! and after every batch of datagrams: each record a group stored (a local AddRecord /
//! UpdateRecord / DeleteRecord, or one received from a member) is appended and `fdatasync`ed
//! first, so a record PeerGroupAddRecord reported survives a kill of the daemon the next instant.
//! When a group is opened (GROUP_CREATE / GROUP_JOIN) its log is replayed into it
//! ([`GroupDurability::opened`]); a group whose log already existed is reopened as
//! synchronised (it held a synchronised database when it last ran).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use peerdrt_abi::Handle;
use peerdrt_abi::group::{GROUP_CREATE, GROUP_JOIN, GroupResponse};
use peerdrt_core::time::Instant;

use super::group_store::{GroupLog, StoreError};
use crate::engine::{Device, OpenId};

/// Environment variable naming the daemon's state directory (default: `<device socket>.state`).
pub const STATE_DIR_ENV: &str = "PEERDRT_STATE_DIR";

/// The state directory of a daemon serving `socket`.
pub fn state_dir(socket: &Path) -> PathBuf {
    match std::env::var_os(STATE_DIR_ENV).filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => {
            let mut dir = socket.as_os_str().to_owned();
            dir.push(".state");
            PathBuf::from(dir)
        }
    }
}

/// The log path of the group rooted at `root` under `dir`.
pub fn log_path(dir: &Path, root: &[u8; 32]) -> PathBuf {
    let name: String = root.iter().map(|b| format!("{b:02x}")).collect();
    dir.join("groups").join(format!("{name}.log"))
}

/// The open logs, by group root, and which group handle writes to which.
#[derive(Debug)]
pub struct GroupDurability {
    dir: PathBuf,
    logs: HashMap<[u8; 32], GroupLog>,
    roots: HashMap<Handle, [u8; 32]>,
}

impl GroupDurability {
    /// Logs under `dir` (created when the first group opens).
    pub fn new(dir: PathBuf) -> Self {
        Self { dir, logs: HashMap::new(), roots: HashMap::new() }
    }

    /// After a completed IOCTL `code` of `open` with reply `output`: a group just opened gets its
    /// log opened and replayed. An error leaves the group open without durability (logged).
    pub fn opened(&mut self, device: &mut Device, now: Instant, open: OpenId, code: u32, output: &[u8]) {
        if code != GROUP_CREATE && code != GROUP_JOIN {
            return;
        }
        let Ok(GroupResponse::Opened { group, .. }) = GroupResponse::decode(code, output) else { return };
        let Some(root) = device.group_root(open, group) else { return };
        if let Err(e) = self.replay(device, now, open, group, root) {
            tracing::error!(error = %e, "group log unusable; the group runs without durability");
        }
    }

    fn replay(
        &mut self,
        device: &mut Device,
        now: Instant,
        open: OpenId,
        group: Handle,
        root: [u8; 32],
    ) -> Result<(), StoreError> {
        self.roots.insert(group, root);
        let path = log_path(&self.dir, &root);
        let existed = path.exists();
        let (log, replay) = match self.logs.remove(&root) {
            // Another handle has it open (two opens of one group): read the file again.
            Some(log) => {
                drop(log);
                GroupLog::open(&path, &root)?
            }
            None => {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                GroupLog::open(&path, &root)?
            }
        };
        let (mut restored, mut refused) = (0usize, 0usize);
        for record in &replay.records {
            match device.restore_group_record(now, open, group, record) {
                Ok(()) => restored += 1,
                Err(_) => refused += 1,
            }
        }
        if existed {
            device.mark_group_ready(open, group);
        }
        tracing::info!(
            log = %path.display(),
            entries = replay.records.len(),
            restored,
            refused,
            truncated = replay.truncated,
            "group log replayed"
        );
        self.logs.insert(root, log);
        Ok(())
    }

    /// Appends every record the device's groups stored since the last call, each made durable
    /// before the next. Returns the first error (the caller fails the request it reports).
    pub fn persist(&mut self, device: &mut Device) -> Result<(), StoreError> {
        let mut first_error = None;
        while let Some((group, record)) = device.poll_group_stored() {
            let Some(log) = self.roots.get(&group).and_then(|root| self.logs.get_mut(root)) else {
                continue;
            };
            if let Err(e) = log.append(&record) {
                tracing::error!(error = %e, "group record not made durable");
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}
