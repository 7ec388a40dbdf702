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
        // Only a log that took records, is behind, or still lacks its synchronised marker can
        // need anything: quiet logs cost nothing on the datagram path.
        let due: alloc::vec::Vec<[u8; 32]> = self
            .logs
            .iter()
            .filter(|(root, l)| l.behind || !l.log.is_synchronised() || touched.contains(*root))
            .map(|(root, _)| *root)
            .collect();
        for root in due {
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

    /// Runs a group request as the worker does: the IOCTL, then `opened`, `persist`, `closed`,
    /// `deleted`; the reply and whether every record was made durable.
    fn try_run<D: LogDirectory>(
        d: &mut Device,
        g: &mut GroupDurability<D>,
        open: OpenId,
        request: GroupRequest<'_>,
    ) -> (Vec<u8>, Result<(), StoreError>) {
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
        let persisted = g.persist(d);
        if r.code() == GROUP_CLOSE
            && let GroupRequest::Close { group } = request
        {
            g.closed(group);
        }
        if let GroupRequest::Delete { root } = request {
            g.deleted(root).unwrap();
        }
        (output, persisted)
    }

    /// [`try_run`] of a request whose records are all made durable.
    fn run<D: LogDirectory>(
        d: &mut Device,
        g: &mut GroupDurability<D>,
        open: OpenId,
        request: GroupRequest<'_>,
    ) -> Vec<u8> {
        let (output, persisted) = try_run(d, g, open, request);
        persisted.unwrap();
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

    fn create<D: LogDirectory>(d: &mut Device, g: &mut GroupDurability<D>, open: OpenId) -> Handle {
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

    use crate::store::group_store::{COMPACT_FLOOR_ENTRIES, FRAME_LEN, HEADER_LEN};
    use crate::store::memory_file::MemoryDirectory;
    use peerdrt_abi::group::{GROUP_GET_STATUS, GROUP_JOIN};
    use peerdrt_core::group::membership::member_key;

    const JOINER: [u8; 32] = [3; 32];

    fn fields(data: &[u8]) -> RecordFields<'_> {
        RecordFields {
            record_type: [3; 16],
            expiration: UTC + 600 * 10_000_000,
            flags: 0,
            attributes: b"",
            data,
        }
    }

    fn ready(
        d: &mut Device,
        g: &mut GroupDurability<impl LogDirectory>,
        open: OpenId,
        group: Handle,
    ) -> bool {
        let out = run(d, g, open, GroupRequest::GetStatus { group });
        match GroupResponse::decode(GROUP_GET_STATUS, &out).unwrap() {
            GroupResponse::Status(status) => status.ready,
            other => panic!("{other:?}"),
        }
    }

    /// A node: a device, its durability over its own directory and one open.
    struct Node<D: LogDirectory> {
        d: Device,
        g: GroupDurability<D>,
        open: OpenId,
    }

    impl<D: LogDirectory> Node<D> {
        fn new(dir: D) -> Self {
            let mut d = Device::new();
            let open = d.open(Owner::default()).unwrap();
            Self { d, g: GroupDurability::new(dir), open }
        }
        fn run(&mut self, request: GroupRequest<'_>) -> Vec<u8> {
            run(&mut self.d, &mut self.g, self.open, request)
        }
        fn create(&mut self) -> Handle {
            create(&mut self.d, &mut self.g, self.open)
        }
        fn join(&mut self, invitation: &[u8; peerdrt_abi::group::CERTIFICATE_LEN]) -> (Handle, Restored) {
            let now = Instant::from_millis(1);
            let r = Request::Group {
                utc: UTC,
                request: GroupRequest::Join { member_secret: &JOINER, certificate: invitation },
            };
            let mut input = vec![0u8; 1024];
            let n = r.encode(&mut input).unwrap();
            let mut output = vec![0u8; 1024];
            let irp = Irp { code: GROUP_JOIN, input: &input[..n], output: &mut output, token: 1 };
            let Completion::Complete { status: status::SUCCESS, information } =
                self.d.ioctl(now, self.open, irp, &mut Fake)
            else {
                panic!("join failed")
            };
            let restored = self.g.opened(&mut self.d, now, self.open, GROUP_JOIN, &output[..information]);
            self.g.persist(&mut self.d).unwrap();
            match GroupResponse::decode(GROUP_JOIN, &output[..information]).unwrap() {
                GroupResponse::Opened { group, .. } => (group, restored.unwrap().unwrap()),
                other => panic!("{other:?}"),
            }
        }
        fn ready(&mut self, group: Handle) -> bool {
            ready(&mut self.d, &mut self.g, self.open, group)
        }
    }

    fn invitation(
        creator: &mut Node<impl LogDirectory>,
        group: Handle,
    ) -> [u8; peerdrt_abi::group::CERTIFICATE_LEN] {
        let out = creator.run(GroupRequest::CreateInvitation {
            group,
            member: &member_key(&JOINER),
            role: 1,
            lifetime_seconds: 3600,
        });
        match GroupResponse::decode(peerdrt_abi::group::GROUP_CREATE_INVITATION, &out).unwrap() {
            GroupResponse::Invitation(certificate) => *certificate,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_creator_reopens_ready_and_a_joiner_that_never_synchronised_does_not() {
        let mut creator = Node::new(MemoryDirectory::default());
        let group = creator.create();
        let certificate = invitation(&mut creator, group);
        creator.run(GroupRequest::Close { group });
        let mut creator =
            Node::new(MemoryDirectory { files: creator.g.dir.files.clone(), ..Default::default() });
        let group = creator.create();
        assert!(creator.ready(group), "the creator's log says it was synchronised");

        // The joiner never reaches a member: its database never synchronised.
        let mut joiner = Node::new(MemoryDirectory::default());
        let (group, restored) = joiner.join(&certificate);
        assert!(!restored.existed && !restored.synchronised && !joiner.ready(group));
        joiner.run(GroupRequest::Close { group });
        let (group, restored) = joiner.join(&certificate);
        assert!(restored.existed, "its log exists");
        assert!(!restored.synchronised && !joiner.ready(group), "but it is not taken for a synchronised one");
    }

    /// Carries datagrams between the joiner `a` at [::2] and the creator `b` at [::1] (both on
    /// the group socket's port) until both are quiet.
    fn settle(a: &mut Node<impl LogDirectory>, b: &mut Node<impl LogDirectory>) {
        let at = |n: u8| peerdrt_core::wire::Endpoint {
            addr: Ipv6Addr::from([0, 0, 0, 0, 0, 0, 0, u16::from(n)]),
            port: 4000,
        };
        let now = Instant::from_millis(1);
        for _ in 0..64 {
            let mut quiet = true;
            while let Some(out) = a.d.poll_transmit() {
                quiet = false;
                b.d.handle_datagram(now, out.transport, at(2), &out.payload);
            }
            while let Some(out) = b.d.poll_transmit() {
                quiet = false;
                a.d.handle_datagram(now, out.transport, at(1), &out.payload);
            }
            a.g.persist(&mut a.d).unwrap();
            b.g.persist(&mut b.d).unwrap();
            if quiet {
                return;
            }
        }
        panic!("the nodes never went quiet");
    }

    #[test]
    fn a_joiner_reopens_ready_once_it_has_synchronised() {
        let mut creator = Node::new(MemoryDirectory::default());
        let created = creator.create();
        let certificate = invitation(&mut creator, created);
        creator.run(GroupRequest::AddRecord { group: created, record: fields(b"shared") });
        let mut joiner = Node::new(MemoryDirectory::default());
        let (group, _) = joiner.join(&certificate);
        let address = Ipv6Addr::LOCALHOST.octets();
        joiner.run(GroupRequest::Connect { group, address: &address, port: 4000 });
        settle(&mut joiner, &mut creator);
        assert!(joiner.ready(group), "synchronised with the creator");
        joiner.run(GroupRequest::Close { group });
        let (group, restored) = joiner.join(&certificate);
        assert!(restored.synchronised && joiner.ready(group));
        assert_eq!(restored.restored, 1, "with the creator's record");
    }

    #[test]
    fn a_record_that_could_not_be_written_is_written_by_a_later_persist() {
        let mut node = Node::new(MemoryDirectory::default());
        let group = node.create();
        let faults = node.g.dir.faults.clone();
        faults.appends_fail.set(true);
        faults.replaces_fail.set(true);
        let (id, persisted) = try_run(
            &mut node.d,
            &mut node.g,
            node.open,
            GroupRequest::AddRecord { group, record: fields(b"late") },
        );
        assert!(matches!(persisted, Err(StoreError::Io(_))), "the request reports the failure");
        assert_eq!(node.g.logs_behind(), 1);
        // A request that stores nothing is not failed by the retry that fails again.
        node.ready(group);
        assert_eq!(node.g.logs_behind(), 1);

        // The medium recovers: the next persist (any request, any datagram) rewrites the log.
        faults.appends_fail.set(false);
        faults.replaces_fail.set(false);
        node.ready(group);
        assert_eq!(node.g.logs_behind(), 0, "the log caught up with memory");
        let id: [u8; 16] = id.try_into().unwrap();
        let mut reopened =
            Node::new(MemoryDirectory { files: node.g.dir.files.clone(), ..Default::default() });
        let group = reopened.create();
        let out = reopened.run(GroupRequest::GetRecord { group, id: &id });
        assert!(out.windows(4).any(|w| w == b"late"), "the record is in the log");
    }

    #[test]
    fn a_record_stored_while_the_log_is_behind_fails_its_request_until_the_log_catches_up() {
        let mut node = Node::new(MemoryDirectory::default());
        let group = node.create();
        let faults = node.g.dir.faults.clone();
        faults.appends_fail.set(true);
        faults.replaces_fail.set(true);
        let (id, first) = try_run(
            &mut node.d,
            &mut node.g,
            node.open,
            GroupRequest::AddRecord { group, record: fields(b"one") },
        );
        assert!(first.is_err());
        let id: [u8; 16] = id.try_into().unwrap();
        // Appends work again, but a log behind is not appended to (the earlier record would be
        // missing from it): only a rewrite brings it in line, and that still fails.
        faults.appends_fail.set(false);
        let update = GroupRequest::UpdateRecord { group, id: &id, record: fields(b"two") };
        assert!(try_run(&mut node.d, &mut node.g, node.open, update).1.is_err());
        assert_eq!(node.g.logs_behind(), 1);
        faults.replaces_fail.set(false);
        let update = GroupRequest::UpdateRecord { group, id: &id, record: fields(b"three") };
        assert!(try_run(&mut node.d, &mut node.g, node.open, update).1.is_ok());
        assert_eq!(node.g.logs_behind(), 0);
    }

    #[test]
    fn a_second_open_whose_replay_fails_leaves_the_first_handles_log_in_place() {
        let mut node = Node::new(MemoryDirectory::default());
        let first = node.create();
        let second_open = node.d.open(Owner::default()).unwrap();
        node.g.dir.faults.reads_fail.set(true);
        let now = Instant::from_millis(1);
        let r = Request::Group {
            utc: UTC,
            request: GroupRequest::Create {
                root_secret: &[1; 32],
                member_secret: &[2; 32],
                lifetime_seconds: 60,
            },
        };
        let mut input = vec![0u8; 1024];
        let n = r.encode(&mut input).unwrap();
        let mut output = vec![0u8; 1024];
        let irp = Irp { code: GROUP_CREATE, input: &input[..n], output: &mut output, token: 1 };
        let Completion::Complete { status: status::SUCCESS, information } =
            node.d.ioctl(now, second_open, irp, &mut Fake)
        else {
            panic!("second create failed")
        };
        let opened = node.g.opened(&mut node.d, now, second_open, GROUP_CREATE, &output[..information]);
        assert!(matches!(opened, Some(Err(StoreError::Io(_)))), "the second handle runs without durability");
        node.g.dir.faults.reads_fail.set(false);

        assert_eq!(node.g.open_logs(), 1);
        let id = node.run(GroupRequest::AddRecord { group: first, record: fields(b"still durable") });
        let id: [u8; 16] = id.try_into().unwrap();
        let mut reopened =
            Node::new(MemoryDirectory { files: node.g.dir.files.clone(), ..Default::default() });
        let group = reopened.create();
        let out = reopened.run(GroupRequest::GetRecord { group, id: &id });
        assert!(out.windows(13).any(|w| w == b"still durable"), "the first handle's record was logged");
    }

    #[test]
    fn a_log_is_compacted_once_it_holds_more_than_twice_the_records_plus_the_floor() {
        let mut node = Node::new(MemoryDirectory::default());
        let group = node.create();
        let id = node.run(GroupRequest::AddRecord { group, record: fields(b"v") });
        let id: [u8; 16] = id.try_into().unwrap();
        let root = node.d.group_root(node.open, group).unwrap();
        let name = log_name(&root);
        let entries = |node: &Node<MemoryDirectory>| node.g.logs[&root].log.entries();
        // One record stored: the log may hold 2 × 1 + the floor entries, no more.
        let mut updates = 0u64;
        while entries(&node) < 2 + COMPACT_FLOOR_ENTRIES {
            updates += 1;
            node.run(GroupRequest::UpdateRecord { group, id: &id, record: fields(&updates.to_le_bytes()) });
        }
        assert_eq!(entries(&node), 2 + COMPACT_FLOOR_ENTRIES, "at the edge: not compacted");
        node.run(GroupRequest::UpdateRecord { group, id: &id, record: fields(b"last") });
        assert_eq!(entries(&node), 1, "one past it: only the live version is left");
        let bytes = node.g.dir.bytes(&name);
        assert!(bytes.len() < HEADER_LEN as usize + 2 * FRAME_LEN + 2048, "{} bytes", bytes.len());
        let mut reopened =
            Node::new(MemoryDirectory { files: node.g.dir.files.clone(), ..Default::default() });
        let group = reopened.create();
        let out = reopened.run(GroupRequest::GetRecord { group, id: &id });
        assert!(out.windows(4).any(|w| w == b"last"));
    }

    #[test]
    fn a_log_damaged_in_the_middle_is_set_aside_and_what_was_replayed_is_written_again() {
        let mut node = Node::new(MemoryDirectory::default());
        let group = node.create();
        let name = log_name(&node.d.group_root(node.open, group).unwrap());
        let id = node.run(GroupRequest::AddRecord { group, record: fields(b"before") });
        let id: [u8; 16] = id.try_into().unwrap();
        let second_entry = node.g.dir.bytes(&name).len();
        node.run(GroupRequest::UpdateRecord { group, id: &id, record: fields(b"damaged") });
        node.run(GroupRequest::UpdateRecord { group, id: &id, record: fields(b"after!") });
        node.run(GroupRequest::Close { group });
        node.g.dir.files[&name].borrow_mut()[second_entry + FRAME_LEN + 40] ^= 1;
        let damaged = node.g.dir.bytes(&name);

        let mut reopened =
            Node::new(MemoryDirectory { files: node.g.dir.files.clone(), ..Default::default() });
        reopened.create();
        assert_eq!(reopened.g.open_logs(), 1, "the group is durable again");
        assert_eq!(
            reopened.g.dir.bytes(&format!("{name}.corrupt")),
            damaged,
            "the damaged file is kept aside"
        );
        assert_eq!(reopened.g.logs_behind(), 0, "the new log was written from what was replayed");

        let mut again =
            Node::new(MemoryDirectory { files: reopened.g.dir.files.clone(), ..Default::default() });
        let group = again.create();
        assert!(again.ready(group));
        let out = again.run(GroupRequest::GetRecord { group, id: &id });
        assert!(
            out.windows(6).any(|w| w == b"before"),
            "the version before the damage survives in the new log"
        );
    }
}
