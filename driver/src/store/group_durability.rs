//! A node's group databases on disk: one [`GroupLog`] per group in the node's group directory,
//! the same bookkeeping in `peerdrtd` and in `peerdrt.sys`.
//!
//! The host calls [`GroupDurability::persist`] after every IOCTL *before* it completes the
//! request, and after every batch of datagrams: each record a group stored (a local AddRecord /
//! UpdateRecord / DeleteRecord, or one received from a member) is appended and flushed to the
//! medium first, so a record PeerGroupAddRecord reported survives a kill of the node the next
//! instant. When a group is opened (GROUP_CREATE / GROUP_JOIN) its log is replayed into it
//! ([`GroupDurability::opened`]); a group whose log already existed is reopened as
//! synchronised (it held a synchronised database when it last ran).

use alloc::collections::BTreeMap;
use alloc::string::String;

use peerdrt_abi::Handle;
use peerdrt_abi::group::{GROUP_CREATE, GROUP_JOIN, GROUP_PASSWORD_JOIN, GroupResponse};
use peerdrt_core::time::Instant;

use super::file::LogDirectory;
use super::group_store::{GroupLog, StoreError};
use crate::engine::{Device, OpenId};

/// Environment variable naming the daemon's state directory (default: `<device socket>.state`).
#[cfg(not(windows))]
pub const STATE_DIR_ENV: &str = "PEERDRT_STATE_DIR";

/// The state directory of a daemon serving `socket` (its group logs are in `groups` under it).
#[cfg(not(windows))]
pub fn state_dir(socket: &std::path::Path) -> std::path::PathBuf {
    match std::env::var_os(STATE_DIR_ENV).filter(|d| !d.is_empty()) {
        Some(dir) => std::path::PathBuf::from(dir),
        None => {
            let mut dir = socket.as_os_str().to_owned();
            dir.push(".state");
            std::path::PathBuf::from(dir)
        }
    }
}

/// The log file name of the group rooted at `root`: its key in hex.
pub fn log_name(root: &[u8; 32]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut name = String::with_capacity(64 + 4);
    for b in root {
        name.push(char::from(HEX[usize::from(b >> 4)]));
        name.push(char::from(HEX[usize::from(b & 15)]));
    }
    name.push_str(".log");
    name
}

/// What [`GroupDurability::opened`] restored into a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    /// The log's file name.
    pub log: String,
    /// Entries replayed.
    pub entries: usize,
    /// Records the group took back.
    pub restored: usize,
    /// Records it refused (expired, or no longer verifiable).
    pub refused: usize,
    /// Bytes of torn or corrupt tail cut off.
    pub truncated: u64,
    /// The log already existed (the group is reopened synchronised).
    pub existed: bool,
}

/// The open logs, by group root, and which group handle (of which open) writes to which.
#[derive(Debug)]
pub struct GroupDurability<D: LogDirectory> {
    dir: D,
    logs: BTreeMap<[u8; 32], GroupLog<D::File>>,
    roots: BTreeMap<Handle, (OpenId, [u8; 32])>,
}

impl<D: LogDirectory> GroupDurability<D> {
    /// Logs in `dir` (created when the first group opens).
    pub fn new(dir: D) -> Self {
        Self { dir, logs: BTreeMap::new(), roots: BTreeMap::new() }
    }

    /// After a completed IOCTL `code` of `open` with reply `output`: a group just opened gets its
    /// log opened and replayed. `None` when the request opened no group; an error leaves the group
    /// open without durability (the caller logs it).
    pub fn opened(
        &mut self,
        device: &mut Device,
        now: Instant,
        open: OpenId,
        code: u32,
        output: &[u8],
    ) -> Option<Result<Restored, StoreError>> {
        if code != GROUP_CREATE && code != GROUP_JOIN && code != GROUP_PASSWORD_JOIN {
            return None;
        }
        let Ok(GroupResponse::Opened { group, .. }) = GroupResponse::decode(code, output) else {
            return None;
        };
        let root = device.group_root(open, group)?;
        Some(self.replay(device, now, open, group, root))
    }

    fn replay(
        &mut self,
        device: &mut Device,
        now: Instant,
        open: OpenId,
        group: Handle,
        root: [u8; 32],
    ) -> Result<Restored, StoreError> {
        let name = log_name(&root);
        // Another handle may have it open (two opens of one group): read the file again.
        drop(self.logs.remove(&root));
        let (log, replay) = GroupLog::open(&mut self.dir, &name, &root)?;
        self.roots.insert(group, (open, root));
        let (mut restored, mut refused) = (0usize, 0usize);
        for record in &replay.records {
            match device.restore_group_record(now, open, group, record) {
                Ok(()) => restored += 1,
                Err(_) => refused += 1,
            }
        }
        if !replay.created {
            device.mark_group_ready(open, group);
        }
        self.logs.insert(root, log);
        Ok(Restored {
            log: name,
            entries: replay.records.len(),
            restored,
            refused,
            truncated: replay.truncated,
            existed: !replay.created,
        })
    }

    /// Appends every record the device's groups stored since the last call, each made durable
    /// before the next. Returns the first error (the caller fails the request it reports).
    pub fn persist(&mut self, device: &mut Device) -> Result<(), StoreError> {
        let mut first_error = None;
        while let Some((group, record)) = device.poll_group_stored() {
            let Some(log) = self.roots.get(&group).and_then(|(_, root)| self.logs.get_mut(root)) else {
                continue;
            };
            if let Err(e) = log.append(&record) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Group `group` was closed (GROUP_CLOSE): its log is closed once no handle uses it.
    pub fn closed(&mut self, group: Handle) {
        self.roots.remove(&group);
        self.close_unused();
    }

    /// The open's handle was closed, and with it its groups.
    pub fn open_closed(&mut self, open: OpenId) {
        self.roots.retain(|_, (o, _)| *o != open);
        self.close_unused();
    }

    fn close_unused(&mut self) {
        let roots = &self.roots;
        self.logs.retain(|root, _| roots.values().any(|(_, r)| r == root));
    }

    /// The group rooted at `root` was deleted (GROUP_DELETE, which the device refuses while a
    /// handle has the group open): its log is removed, so the node keeps nothing of it. Whether a
    /// log existed.
    pub fn deleted(&mut self, root: &[u8; 32]) -> Result<bool, StoreError> {
        self.logs.remove(root);
        self.roots.retain(|_, (_, r)| r != root);
        // The removal itself is durable before PeerGroupDelete returns.
        Ok(self.dir.remove(&log_name(root))?)
    }

    /// Group logs open.
    pub fn open_logs(&self) -> usize {
        self.logs.len()
    }

    /// Closes every log (the node is stopping).
    pub fn close_all(&mut self) {
        self.roots.clear();
        self.logs.clear();
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv6Addr;

    use peerdrt_abi::group::{GROUP_ADD_RECORD, GROUP_CLOSE, GroupRequest, RecordFields};
    use peerdrt_abi::{Request, status};

    use super::*;
    use crate::engine::{Bound, Completion, Irp, Owner, Platform, TransportId};
    use crate::store::std_file::StdDirectory;

    /// 2024-01-01 as a FILETIME.
    const UTC: u64 = 133_485_408_000_000_000;

    struct Fake;

    impl Platform for Fake {
        fn bind(&mut self, _port: u16, _scope: u32, _scope_id: u32) -> Result<Bound, u32> {
            Ok(Bound { id: 1, port: 4000, addresses: vec![Ipv6Addr::LOCALHOST] })
        }
        fn unbind(&mut self, _id: TransportId) {}
        fn random_seed(&mut self) -> [u8; 32] {
            [7; 32]
        }
    }

    /// Runs a group request as the worker does: the IOCTL, then `opened`, `persist`, `closed`.
    fn run(
        d: &mut Device,
        g: &mut GroupDurability<StdDirectory>,
        open: OpenId,
        request: GroupRequest<'_>,
    ) -> Vec<u8> {
        let now = Instant::from_millis(1);
        let r = Request::Group { utc: UTC, request };
        let mut input = vec![0u8; 32 * 1024];
        let n = r.encode(&mut input).unwrap();
        let mut output = vec![0u8; 32 * 1024];
        let irp = Irp { code: r.code(), input: &input[..n], output: &mut output, token: 1 };
        let Completion::Complete { status: status::SUCCESS, information } =
            d.ioctl(now, open, irp, &mut Fake)
        else {
            panic!("{request:?} failed")
        };
        output.truncate(information);
        if let Some(opened) = g.opened(d, now, open, r.code(), &output) {
            opened.unwrap();
        }
        g.persist(d).unwrap();
        if r.code() == GROUP_CLOSE
            && let GroupRequest::Close { group } = request
        {
            g.closed(group);
        }
        if let GroupRequest::Delete { root } = request {
            g.deleted(root).unwrap();
        }
        output
    }

    /// Runs a request expected to fail; its completion status.
    fn refused(d: &mut Device, open: OpenId, request: GroupRequest<'_>) -> u32 {
        let r = Request::Group { utc: UTC, request };
        let mut input = vec![0u8; 1024];
        let n = r.encode(&mut input).unwrap();
        let mut output = vec![0u8; 1024];
        let irp = Irp { code: r.code(), input: &input[..n], output: &mut output, token: 1 };
        match d.ioctl(Instant::from_millis(1), open, irp, &mut Fake) {
            Completion::Complete { status, .. } => status,
            other => panic!("{other:?}"),
        }
    }

    fn create(d: &mut Device, g: &mut GroupDurability<StdDirectory>, open: OpenId) -> Handle {
        let out = run(
            d,
            g,
            open,
            GroupRequest::Create { root_secret: &[1; 32], member_secret: &[2; 32], lifetime_seconds: 60 },
        );
        match GroupResponse::decode(GROUP_CREATE, &out).unwrap() {
            GroupResponse::Opened { group, .. } => group,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn records_are_logged_replayed_on_reopen_and_logs_close_with_their_last_handle() {
        let dir = tempfile::tempdir().unwrap();
        let mut g = GroupDurability::new(StdDirectory::new(dir.path().join("groups")));
        let mut d = Device::new();
        let open = d.open(Owner::default()).unwrap();
        let group = create(&mut d, &mut g, open);
        assert_eq!(g.open_logs(), 1);
        let fields = RecordFields {
            record_type: [3; 16],
            expiration: UTC + 600 * 10_000_000,
            flags: 0,
            attributes: b"",
            data: b"kept",
        };
        let id = run(&mut d, &mut g, open, GroupRequest::AddRecord { group, record: fields });
        assert_eq!(id.len(), 16, "{GROUP_ADD_RECORD:#x} answers the ID");
        run(&mut d, &mut g, open, GroupRequest::Close { group });
        assert_eq!(g.open_logs(), 0, "the log closes with its last handle");

        // A fresh device (a restarted daemon) reopens the group from the log.
        let mut d = Device::new();
        let mut g = GroupDurability::new(StdDirectory::new(dir.path().join("groups")));
        let open = d.open(Owner::default()).unwrap();
        let group = create(&mut d, &mut g, open);
        let id: [u8; 16] = id.try_into().unwrap();
        let out = run(&mut d, &mut g, open, GroupRequest::GetRecord { group, id: &id });
        assert!(out.windows(4).any(|w| w == b"kept"), "the record was replayed");
        g.open_closed(open);
        assert_eq!(g.open_logs(), 0, "closing the open closes its groups' logs");
    }

    #[test]
    fn a_deleted_group_leaves_no_log_and_nothing_of_it_is_replayed_when_opened_again() {
        let dir = tempfile::tempdir().unwrap();
        let mut g = GroupDurability::new(StdDirectory::new(dir.path().join("groups")));
        let mut d = Device::new();
        let open = d.open(Owner::default()).unwrap();
        let group = create(&mut d, &mut g, open);
        let root = d.group_root(open, group).unwrap();
        let fields = RecordFields {
            record_type: [3; 16],
            expiration: UTC + 600 * 10_000_000,
            flags: 0,
            attributes: b"",
            data: b"gone",
        };
        let id = run(&mut d, &mut g, open, GroupRequest::AddRecord { group, record: fields });
        let path = dir.path().join("groups").join(log_name(&root));
        assert!(path.exists());

        // While a handle has the group open, it cannot be deleted.
        let in_use = refused(&mut d, open, GroupRequest::Delete { root: &root });
        assert_eq!(peerdrt_abi::status::to_hresult(in_use), peerdrt_abi::group::hresult::PEER_E_GROUP_IN_USE);
        assert!(path.exists(), "nothing removed");

        run(&mut d, &mut g, open, GroupRequest::Close { group });
        run(&mut d, &mut g, open, GroupRequest::Delete { root: &root });
        assert!(!path.exists(), "the node's log of the group is gone");
        assert!(!g.deleted(&root).unwrap(), "deleting again finds nothing");

        // Opened again from this node, the group has nothing of its old database.
        let group = create(&mut d, &mut g, open);
        let id: [u8; 16] = id.try_into().unwrap();
        let missing = refused(&mut d, open, GroupRequest::GetRecord { group, id: &id });
        assert_eq!(
            peerdrt_abi::status::to_hresult(missing),
            peerdrt_abi::group::hresult::PEER_E_RECORD_NOT_FOUND,
            "the deleted record is not replayed"
        );
    }
}
