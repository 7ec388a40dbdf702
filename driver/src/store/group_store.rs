//! A group's record database on disk: a checksummed append-only log, the same on the Linux node
//! and in `peerdrt.sys` (each over its own [`LogDirectory`]).
//!
//! ```text
//! file:  magic "PDRTGRP1"(8) group root key(32) entry*
//! entry: length(4, LE) checksum(8) record(length bytes, the core's record wire form)
//! ```
//!
//! The checksum is the first 8 bytes of SHA-256 over length ‖ record. [`GroupLog::append`]
//! returns only after the entry is flushed to the medium (`fdatasync`, `ZwFlushBuffersFile`), so
//! a record PeerGroupAddRecord reported is on disk even if the node is killed the next instant;
//! an append that fails cuts the file back to its last entry. [`GroupLog::open`] replays every
//! entry up to the first torn or corrupt one and truncates the file there (a crash mid-append
//! leaves at most one such tail). [`GroupLog::compact`] rewrites the live records to a new file
//! and renames it over the old one, so superseded versions do not accumulate. Records are
//! verified again by the member they are restored into; the checksum only guards against torn
//! writes and bit rot.

use alloc::string::String;
use alloc::vec::Vec;

use peerdrt_core::group::id::MemberKey;
use peerdrt_core::group::record::{MAX_RECORD_WIRE_LEN, Record, RecordView};
use sha2::{Digest, Sha256};

use super::file::{FileError, LogDirectory, LogFile};

/// The first 8 bytes of a group log.
pub const MAGIC: [u8; 8] = *b"PDRTGRP1";
/// Length of the file header.
pub const HEADER_LEN: u64 = 8 + 32;
/// Length of an entry's frame (length and checksum).
pub const FRAME_LEN: usize = 4 + 8;

/// Why a log could not be used.
#[derive(Debug)]
pub enum StoreError {
    /// The file system failed.
    Io(FileError),
    /// The file is not a group log.
    NotALog,
    /// The log belongs to another group.
    OtherGroup,
}

impl From<FileError> for StoreError {
    fn from(error: FileError) -> Self {
        StoreError::Io(error)
    }
}

impl core::fmt::Display for StoreError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            StoreError::Io(e) => write!(f, "group log I/O: {e}"),
            StoreError::NotALog => f.write_str("not a peerdrt group log"),
            StoreError::OtherGroup => f.write_str("the group log belongs to another group"),
        }
    }
}

impl core::error::Error for StoreError {}

/// What [`GroupLog::open`] found.
#[derive(Debug, Default)]
pub struct Replay {
    /// Every record in the log, oldest first (later versions of a record follow earlier ones).
    pub records: Vec<Record>,
    /// Bytes of torn or corrupt tail removed.
    pub truncated: u64,
    /// The log did not exist: it was created empty.
    pub created: bool,
}

/// An open group log.
#[derive(Debug)]
pub struct GroupLog<F> {
    name: String,
    file: F,
    group_root: MemberKey,
    entries: u64,
}

fn checksum(length: &[u8; 4], record: &[u8]) -> [u8; 8] {
    let mut hasher = Sha256::new();
    hasher.update(length);
    hasher.update(record);
    let mut out = [0u8; 8];
    out.copy_from_slice(&hasher.finalize()[..8]);
    out
}

fn frame_into(record: &Record, out: &mut Vec<u8>) {
    let mut body = Vec::with_capacity(record.view().encoded_len());
    record.encode(&mut body);
    let length = (body.len() as u32).to_le_bytes();
    out.reserve(FRAME_LEN + body.len());
    out.extend_from_slice(&length);
    out.extend_from_slice(&checksum(&length, &body));
    out.extend_from_slice(&body);
}

fn header(group_root: &MemberKey) -> [u8; HEADER_LEN as usize] {
    let mut out = [0u8; HEADER_LEN as usize];
    out[..8].copy_from_slice(&MAGIC);
    out[8..].copy_from_slice(group_root);
    out
}

impl<F: LogFile> GroupLog<F> {
    /// Opens (or creates) the log `name` in `dir` of the group rooted at `group_root`, replays it
    /// and cuts off a torn or corrupt tail.
    pub fn open<D: LogDirectory<File = F>>(
        dir: &mut D,
        name: &str,
        group_root: &MemberKey,
    ) -> Result<(Self, Replay), StoreError> {
        let (mut file, created) = dir.open_or_create(name)?;
        let len = file.size()?;
        let log = |file, entries| Self { name: name.into(), file, group_root: *group_root, entries };
        if len < HEADER_LEN {
            // New, or a crash before the header was complete: start the log afresh.
            if len > 0 {
                file.truncate(0)?;
            }
            file.append(&header(group_root))?;
            return Ok((log(file, 0), Replay { records: Vec::new(), truncated: len, created }));
        }
        let mut head = [0u8; HEADER_LEN as usize];
        file.read_at(0, &mut head)?;
        if head[..8] != MAGIC {
            return Err(StoreError::NotALog);
        }
        if head[8..] != group_root[..] {
            return Err(StoreError::OtherGroup);
        }
        let mut replay = Replay { created, ..Replay::default() };
        let mut good = HEADER_LEN;
        while let Some(record) = read_entry(&mut file, good, len)? {
            good += (FRAME_LEN + record.view().encoded_len()) as u64;
            replay.records.push(record);
        }
        if good < len {
            replay.truncated = len - good;
            file.truncate(good)?;
        }
        let entries = replay.records.len() as u64;
        Ok((log(file, entries), replay))
    }

    /// Appends a record and makes it durable before returning. On failure the file is cut back
    /// to its last complete entry (as far as the file system still allows).
    pub fn append(&mut self, record: &Record) -> Result<(), StoreError> {
        let before = self.file.size()?;
        let mut bytes = Vec::new();
        frame_into(record, &mut bytes);
        if let Err(e) = self.file.append(&bytes) {
            // A torn entry would hide every later one from replay.
            let _ = self.file.truncate(before);
            return Err(e.into());
        }
        self.entries += 1;
        Ok(())
    }

    /// Entries in the log (superseded versions included).
    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// The log's file name in its directory.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Rewrites the log to hold exactly `records`, atomically (see [`LogDirectory::replace`]).
    pub fn compact<'a, D: LogDirectory<File = F>>(
        &mut self,
        dir: &mut D,
        records: impl IntoIterator<Item = &'a Record>,
    ) -> Result<(), StoreError> {
        let mut bytes = Vec::from(header(&self.group_root));
        let mut entries = 0;
        for record in records {
            frame_into(record, &mut bytes);
            entries += 1;
        }
        dir.replace(&mut self.file, &self.name, &bytes)?;
        self.entries = entries;
        Ok(())
    }
}

/// Reads the entry at `offset` of a file of `len` bytes; `None` at the end of the log or at a torn
/// or corrupt entry.
fn read_entry(file: &mut impl LogFile, offset: u64, len: u64) -> Result<Option<Record>, FileError> {
    let remaining = len - offset;
    if remaining < FRAME_LEN as u64 {
        return Ok(None);
    }
    let mut frame = [0u8; FRAME_LEN];
    file.read_at(offset, &mut frame)?;
    let length: [u8; 4] = [frame[0], frame[1], frame[2], frame[3]];
    let body_len = u32::from_le_bytes(length) as usize;
    if body_len > MAX_RECORD_WIRE_LEN || (FRAME_LEN + body_len) as u64 > remaining {
        return Ok(None);
    }
    let mut body = alloc::vec![0u8; body_len];
    file.read_at(offset + FRAME_LEN as u64, &mut body)?;
    if checksum(&length, &body)[..] != frame[4..] {
        return Ok(None);
    }
    match RecordView::decode(&body) {
        Ok((view, [])) => Ok(Some(view.to_record())),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use std::cell::{Cell, RefCell};
    use std::collections::BTreeMap;
    use std::fs::{self, OpenOptions};
    use std::io;
    use std::path::{Path, PathBuf};
    use std::process::Command;
    use std::rc::Rc;

    use ed25519_dalek::SigningKey;
    use peerdrt_core::group::membership::{Credentials, GroupRoot, Role};
    use peerdrt_core::group::record::RecordDraft;
    use peerdrt_core::group::time::PeerTime;

    use super::*;
    use crate::store::std_file::{StdDirectory, StdFile};

    const NOW: PeerTime = PeerTime(133_000_000_000_000_000);

    fn group() -> (GroupRoot, Credentials) {
        let root = GroupRoot::from_secret(&[1; 32]);
        let key = SigningKey::from_bytes(&[2; 32]).verifying_key().to_bytes();
        let certificate = root.invite(&key, Role::Member, NOW, NOW.plus_seconds(86_400));
        (root, Credentials::new(&[2; 32], certificate).unwrap())
    }

    fn record(root: &GroupRoot, author: &Credentials, n: u64) -> Record {
        let draft = RecordDraft {
            record_type: [7; 16],
            attributes: String::new(),
            data: n.to_be_bytes().to_vec(),
            expiration: NOW.plus_seconds(3600),
            flags: 0,
        };
        Record::create(author, &root.public_key(), draft, n, NOW).unwrap()
    }

    fn open_log(dir: &Path, root: &MemberKey) -> Result<(GroupLog<StdFile>, Replay), StoreError> {
        GroupLog::open(&mut StdDirectory::new(dir), "group.log", root)
    }

    #[test]
    fn records_survive_close_and_open() {
        let dir = tempfile::tempdir().unwrap();
        let (root, author) = group();
        let written: Vec<Record> = (0..10).map(|n| record(&root, &author, n)).collect();
        {
            let (mut log, replay) = open_log(dir.path(), &root.public_key()).unwrap();
            assert!(replay.records.is_empty());
            for r in &written {
                log.append(r).unwrap();
            }
        }
        let (log, replay) = open_log(dir.path(), &root.public_key()).unwrap();
        assert_eq!(replay.records, written);
        assert_eq!((replay.truncated, log.entries()), (0, 10));
    }

    #[test]
    fn a_torn_or_corrupt_tail_is_cut_off_and_the_log_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("group.log");
        let (root, author) = group();
        let (first, second, third) =
            (record(&root, &author, 1), record(&root, &author, 2), record(&root, &author, 3));
        {
            let (mut log, _) = open_log(dir.path(), &root.public_key()).unwrap();
            log.append(&first).unwrap();
            log.append(&second).unwrap();
        }
        // A torn append: half of the second entry's bytes.
        let full = fs::metadata(&path).unwrap().len();
        let second_len = (FRAME_LEN + second.view().encoded_len()) as u64;
        let file = OpenOptions::new().write(true).open(&path).unwrap();
        file.set_len(full - second_len / 2).unwrap();
        drop(file);
        {
            let (mut log, replay) = open_log(dir.path(), &root.public_key()).unwrap();
            assert_eq!(replay.records, vec![first.clone()]);
            assert_eq!(replay.truncated, second_len - second_len / 2);
            log.append(&third).unwrap();
        }
        // A flipped bit in the last entry's record: its checksum no longer matches.
        let mut bytes = fs::read(&path).unwrap();
        let last = bytes.len() - 10;
        bytes[last] ^= 0x40;
        fs::write(&path, &bytes).unwrap();
        let (_, replay) = open_log(dir.path(), &root.public_key()).unwrap();
        assert_eq!(replay.records, vec![first]);
        assert!(replay.truncated > 0);
    }

    #[test]
    fn a_log_of_another_group_or_no_log_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("group.log");
        let (root, _) = group();
        drop(open_log(dir.path(), &root.public_key()).unwrap());
        assert!(matches!(open_log(dir.path(), &[9; 32]), Err(StoreError::OtherGroup)));
        fs::write(&path, [0x55; 64]).unwrap();
        assert!(matches!(open_log(dir.path(), &root.public_key()), Err(StoreError::NotALog)));
    }

    #[test]
    fn compaction_keeps_exactly_the_given_records() {
        let dir = tempfile::tempdir().unwrap();
        let (root, author) = group();
        let records: Vec<Record> = (0..6).map(|n| record(&root, &author, n)).collect();
        let (mut log, _) = open_log(dir.path(), &root.public_key()).unwrap();
        for r in &records {
            log.append(r).unwrap();
        }
        log.compact(&mut StdDirectory::new(dir.path()), &records[3..]).unwrap();
        log.append(&records[0]).unwrap();
        drop(log);
        let (log, replay) = open_log(dir.path(), &root.public_key()).unwrap();
        let expected: Vec<Record> = records[3..].iter().chain(&records[..1]).cloned().collect();
        assert_eq!(replay.records, expected);
        assert_eq!(log.entries(), 4);
    }

    /// The environment variable naming the directory the crash helper writes to.
    const CRASH_DIR: &str = "PEERDRT_GROUP_CRASH_DIR";

    /// Helper run in a child process by `a_record_survives_a_kill_right_after_append`: appends
    /// one record, then aborts the process without any cleanup.
    #[test]
    #[ignore = "run only as the child process of a_record_survives_a_kill_right_after_append"]
    fn crash_right_after_append() {
        let dir = PathBuf::from(std::env::var_os(CRASH_DIR).expect("the parent test sets the directory"));
        let (root, author) = group();
        let (mut log, _) = open_log(&dir, &root.public_key()).unwrap();
        log.append(&record(&root, &author, 41)).unwrap();
        std::process::abort();
    }

    #[test]
    fn a_record_survives_a_kill_right_after_append() {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new(std::env::current_exe().unwrap())
            .args([
                "--ignored",
                "--exact",
                "store::group_store::tests::crash_right_after_append",
                "--nocapture",
            ])
            .env(CRASH_DIR, dir.path())
            .status()
            .unwrap();
        assert!(!status.success(), "the child aborted");
        let (root, author) = group();
        let (_, replay) = open_log(dir.path(), &root.public_key()).unwrap();
        assert_eq!(replay.records, vec![record(&root, &author, 41)]);
    }

    /// An in-memory directory whose next append can be made to fail after writing some bytes
    /// (a disk that fills up, a write error mid-entry).
    #[derive(Default)]
    struct FlakyDirectory {
        files: BTreeMap<String, Rc<RefCell<Vec<u8>>>>,
        fail_after: Rc<Cell<Option<usize>>>,
    }

    struct FlakyFile {
        data: Rc<RefCell<Vec<u8>>>,
        fail_after: Rc<Cell<Option<usize>>>,
    }

    impl LogFile for FlakyFile {
        fn size(&mut self) -> io::Result<u64> {
            Ok(self.data.borrow().len() as u64)
        }
        fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
            let data = self.data.borrow();
            let start = offset as usize;
            let bytes = data.get(start..start + buf.len()).ok_or(io::ErrorKind::UnexpectedEof)?;
            buf.copy_from_slice(bytes);
            Ok(())
        }
        fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
            match self.fail_after.take() {
                Some(n) => {
                    self.data.borrow_mut().extend_from_slice(&bytes[..n.min(bytes.len())]);
                    Err(io::Error::other("injected write failure"))
                }
                None => {
                    self.data.borrow_mut().extend_from_slice(bytes);
                    Ok(())
                }
            }
        }
        fn truncate(&mut self, len: u64) -> io::Result<()> {
            self.data.borrow_mut().resize(len as usize, 0);
            Ok(())
        }
    }

    impl LogDirectory for FlakyDirectory {
        type File = FlakyFile;
        fn open_or_create(&mut self, name: &str) -> io::Result<(FlakyFile, bool)> {
            let created = !self.files.contains_key(name);
            let data = self.files.entry(name.into()).or_default().clone();
            Ok((FlakyFile { data, fail_after: self.fail_after.clone() }, created))
        }
        fn replace(&mut self, file: &mut FlakyFile, _name: &str, contents: &[u8]) -> io::Result<()> {
            *file.data.borrow_mut() = contents.to_vec();
            Ok(())
        }
        fn remove(&mut self, name: &str) -> io::Result<bool> {
            Ok(self.files.remove(name).is_some())
        }
    }

    #[test]
    fn a_failed_append_is_cut_back_so_later_records_still_replay() {
        let mut dir = FlakyDirectory::default();
        let (root, author) = group();
        let (mut log, replay) = GroupLog::open(&mut dir, "g.log", &root.public_key()).unwrap();
        assert!(replay.created);
        log.append(&record(&root, &author, 1)).unwrap();
        dir.fail_after.set(Some(FRAME_LEN + 3));
        assert!(matches!(log.append(&record(&root, &author, 2)), Err(StoreError::Io(_))));
        assert_eq!(log.entries(), 1, "the failed record is not counted");
        log.append(&record(&root, &author, 3)).unwrap();
        drop(log);
        let (_, replay) = GroupLog::open(&mut dir, "g.log", &root.public_key()).unwrap();
        assert_eq!(replay.records, vec![record(&root, &author, 1), record(&root, &author, 3)]);
        assert_eq!((replay.truncated, replay.created), (0, false));
    }

    #[test]
    fn a_torn_header_starts_the_log_afresh() {
        let mut dir = FlakyDirectory::default();
        let (root, _) = group();
        dir.files.insert("g.log".into(), Rc::new(RefCell::new(MAGIC[..5].to_vec())));
        let (log, replay) = GroupLog::open(&mut dir, "g.log", &root.public_key()).unwrap();
        assert_eq!((replay.records.len(), replay.truncated, log.entries()), (0, 5, 0));
        assert_eq!(dir.files["g.log"].borrow().len() as u64, HEADER_LEN);
    }

    #[test]
    fn an_entry_claiming_more_than_the_largest_record_ends_the_replay() {
        let mut dir = FlakyDirectory::default();
        let (root, author) = group();
        let kept = record(&root, &author, 1);
        let (mut log, _) = GroupLog::open(&mut dir, "g.log", &root.public_key()).unwrap();
        log.append(&kept).unwrap();
        drop(log);
        // A frame announcing MAX_RECORD_WIRE_LEN + 1 bytes, followed by that many bytes.
        let length = (MAX_RECORD_WIRE_LEN as u32 + 1).to_le_bytes();
        let mut tail = length.to_vec();
        tail.extend_from_slice(&[0; 8]);
        tail.resize(FRAME_LEN + MAX_RECORD_WIRE_LEN + 1, 0xAB);
        dir.files["g.log"].borrow_mut().extend_from_slice(&tail);
        let (_, replay) = GroupLog::open(&mut dir, "g.log", &root.public_key()).unwrap();
        assert_eq!(replay.records, vec![kept]);
        assert_eq!(replay.truncated, tail.len() as u64);
    }

    #[test]
    fn a_record_of_the_largest_size_round_trips() {
        use peerdrt_core::group::limits::MAX_RECORD_SIZE;
        let dir = tempfile::tempdir().unwrap();
        let (root, author) = group();
        let draft = RecordDraft {
            record_type: [7; 16],
            attributes: String::new(),
            data: vec![0x5A; MAX_RECORD_SIZE],
            expiration: NOW.plus_seconds(3600),
            flags: 0,
        };
        let largest = Record::create(&author, &root.public_key(), draft, 1, NOW).unwrap();
        assert_eq!(largest.view().encoded_len(), MAX_RECORD_WIRE_LEN);
        open_log(dir.path(), &root.public_key()).unwrap().0.append(&largest).unwrap();
        let (_, replay) = open_log(dir.path(), &root.public_key()).unwrap();
        assert_eq!(replay.records, vec![largest]);
    }
}
