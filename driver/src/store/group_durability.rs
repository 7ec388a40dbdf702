//! A node's group databases on disk: one [`GroupLog`] per group in the node's group directory,
//! the same bookkeeping in `peerdrtd` and in `peerdrt.sys`.
//!
//! * **Durable before reported.** The host calls [`GroupDurability::persist`] after every IOCTL
//!   *before* it completes the request, and after every batch of datagrams: each record a group
//!   stored (a local AddRecord / UpdateRecord / DeleteRecord, or one received from a member) is
//!   appended and flushed to the medium first, so a record PeerGroupAddRecord reported survives
//!   a kill of the node the next instant.
//! * **Replay.** When a group is opened (GROUP_CREATE / GROUP_JOIN) its log is replayed into it
//!   as it is read ([`GroupDurability::opened`]). It reopens synchronised only if the log holds
//!   the synchronised marker, which [`GroupDurability::persist`] writes once the member is ready
//!   (the creator at once, a joiner when its first synchronisation completes).
//! * **A failed write is retried, not forgotten.** A record whose append fails is already
//!   stored in memory (and sent to the group's members): the request still fails, but the log
//!   is marked behind and every later [`GroupDurability::persist`] rewrites it from the
//!   member's database (a compaction) until that succeeds, so the log catches up with memory
//!   without a queue that could grow. A log that cannot be read again when a second handle opens
//!   its group stays the first handle's.
//! * **Compaction** runs when a log grows past [`COMPACT_FACTOR`](super::group_store::COMPACT_FACTOR)
//!   × the records the group stores + [`COMPACT_FLOOR_ENTRIES`](super::group_store::COMPACT_FLOOR_ENTRIES),
//!   and after a damaged log was set aside (what was replayed from it is written again).

use alloc::collections::BTreeMap;
use alloc::string::String;

use peerdrt_abi::Handle;
use peerdrt_abi::group::{GROUP_CREATE, GROUP_JOIN, GROUP_PASSWORD_JOIN, GroupResponse};
use peerdrt_core::time::Instant;

use super::file::LogDirectory;
use super::group_store::{GroupLog, SetAside, StoreError};
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
    /// Records replayed.
    pub entries: u64,
    /// Records the group took back.
    pub restored: u64,
    /// Records it refused (expired, or no longer verifiable).
    pub refused: u64,
    /// Bytes of torn tail cut off.
    pub truncated: u64,
    /// The log already existed.
    pub existed: bool,
    /// The log held the synchronised marker: the group reopened ready.
    pub synchronised: bool,
    /// The log was set aside (renamed `*.corrupt`) and a new one started.
    pub set_aside: Option<SetAside>,
}

/// An open log and whether it is behind the group's database in memory.
#[derive(Debug)]
struct OpenLog<F> {
    log: GroupLog<F>,
    /// A write failed (or the log was set aside): it is rewritten from memory until that works.
    behind: bool,
}

/// The open logs, by group root, and which group handle (of which open) writes to which.
#[derive(Debug)]
pub struct GroupDurability<D: LogDirectory> {
    dir: D,
    logs: BTreeMap<[u8; 32], OpenLog<D::File>>,
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
        let (mut restored, mut refused) = (0u64, 0u64);
        let mut restore = |record| match device.restore_group_record(now, open, group, &record) {
            Ok(()) => restored += 1,
            Err(_) => refused += 1,
        };
        let replay = match self.logs.get_mut(&root) {
            // Another handle has the group open: its log is read again through the same file,
            // and stays its log whatever happens.
            Some(open_log) => {
                let replay = open_log.log.replay(&mut self.dir, &mut restore)?;
                open_log.behind |= replay.set_aside.is_some();
                replay
            }
            None => {
                let (log, replay) = GroupLog::open(&mut self.dir, &name, &root, &mut restore)?;
                self.logs.insert(root, OpenLog { log, behind: replay.set_aside.is_some() });
                replay
            }
        };
        self.roots.insert(group, (open, root));
        if replay.synchronised {
            device.mark_group_ready(open, group);
        }
        // The creator's marker, or a set-aside log rewritten from what was replayed.
        self.catch_up(device, &root)?;
        Ok(Restored {
            log: name,
            entries: replay.records,
            restored,
            refused,
            truncated: replay.truncated,
            existed: !replay.created,
            synchronised: replay.synchronised,
            set_aside: replay.set_aside,
        })
    }

    /// Appends every record the device's groups stored since the last call, each made durable
    /// before the next; then writes the synchronised marker of groups that became ready, and
    /// compacts logs that are due or behind. An error when a record stored since the last call
    /// is not durable (the caller fails the request it reports); the log is then rewritten
    /// from memory by a later call.
    pub fn persist(&mut self, device: &mut Device) -> Result<(), StoreError> {
        let mut first_error = None;
        let mut touched = alloc::collections::BTreeSet::new();
        while let Some((group, record)) = device.poll_group_stored() {
            let Some((_, root)) = self.roots.get(&group) else { continue };
            let Some(open_log) = self.logs.get_mut(root) else { continue };
            touched.insert(*root);
            // A log behind is rewritten from memory below, this record included.
            if !open_log.behind
                && let Err(e) = open_log.log.append(&record)
            {
                open_log.behind = true;
                first_error.get_or_insert(e);
            }
        }
        let roots: alloc::vec::Vec<[u8; 32]> = self.logs.keys().copied().collect();
        for root in roots {
            let caught_up = self.catch_up(device, &root);
            if let Err(e) = caught_up
                && touched.contains(&root)
            {
                first_error.get_or_insert(e);
            }
        }
        if touched.iter().all(|root| self.logs.get(root).is_none_or(|l| !l.behind)) {
            // Every record is durable after all (a rewrite caught up).
            first_error = None;
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Brings the log of `root` in line with the database of a handle that has it open: a log
    /// behind or due for compaction is rewritten from it, a group that became ready gets the
    /// marker.
    fn catch_up(&mut self, device: &Device, root: &[u8; 32]) -> Result<(), StoreError> {
        let Some(open_log) = self.logs.get_mut(root) else { return Ok(()) };
        let Some(member) = self
            .roots
            .iter()
            .filter(|(_, (_, r))| r == root)
            .find_map(|(g, (o, _))| device.group_member(*o, *g))
        else {
            return Ok(());
        };
        let database = member.database();
        if open_log.behind || open_log.log.needs_compaction(database.len()) {
            open_log.log.compact(&mut self.dir, || database.all(), member.is_ready())?;
            open_log.behind = false;
        } else if member.is_ready() {
            open_log.log.mark_synchronised()?;
        }
        Ok(())
    }

    /// Logs that are behind their group's database (a write failed; see the module
    /// documentation).
    pub fn logs_behind(&self) -> usize {
        self.logs.values().filter(|l| l.behind).count()
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
