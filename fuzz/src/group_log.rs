//! The checks behind the `group_log` target: a group's durability log (`peerdrt::store::
//! group_store`) opened and replayed from arbitrary file contents, through the real code path
//! (header check, torn-tail cut, set-aside of damaged or oversized logs, [`MAX_LOG_BYTES`]) over
//! the store's in-memory directory (`peerdrt::store::memory_file`).
//!
//! An input is one mode byte, then the bytes of the log file `group.log`. The mode byte gives
//! the file a hole of zeros after those bytes (a sparse file: no memory), so that the size limit
//! is reached without 64 MiB inputs: [`MODE_AT_LIMIT`] makes the file exactly [`MAX_LOG_BYTES`]
//! long, [`MODE_PAST_LIMIT`] one byte longer; any other value adds no hole.
//!
//! [`check`] asserts that opening never panics and either refuses a header that is not this
//! group's (the file untouched) or replays it; that the log left behind is what was there cut at
//! the torn tail (a first-format log upgraded), or a fresh log with the old file set aside
//! untouched; that the open log replays again, and reopens, with the same records and nothing
//! more to cut or set aside; and that it then takes an append which a reopen replays.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use peerdrt::store::group_store::{
    FRAME_LEN, GroupLog, HEADER_LEN, LEGACY_MAGIC, MAGIC, MAX_LOG_BYTES, Replay, SET_ASIDE_SUFFIX, SetAside,
    StoreError,
};
use peerdrt::store::memory_file::{Contents, MemoryDirectory, MemoryFile};
use peerdrt_core::group::id::MemberKey;
use peerdrt_core::group::membership::{Credentials, GroupRoot, Role, member_key};
use peerdrt_core::group::record::{Record, RecordDraft, RecordView};
use peerdrt_core::group::time::PeerTime;

/// The log's file name.
pub const NAME: &str = "group.log";
/// The mode byte that makes the file exactly [`MAX_LOG_BYTES`] long (replayed).
pub const MODE_AT_LIMIT: u8 = 0xFE;
/// The mode byte that makes the file [`MAX_LOG_BYTES`] + 1 long (set aside unread).
pub const MODE_PAST_LIMIT: u8 = 0xFF;
/// The mode byte the seeds use for a file of just the input's bytes.
pub const MODE_WRITTEN: u8 = 0;

const NOW: PeerTime = PeerTime(133_000_000_000_000_000);

/// The group the log belongs to, and a member of it (the seeds' records are this member's).
pub fn group() -> &'static (GroupRoot, Credentials) {
    static GROUP: OnceLock<(GroupRoot, Credentials)> = OnceLock::new();
    GROUP.get_or_init(|| {
        let root = GroupRoot::from_secret(&[0xa5; 32]);
        let secret = [0x11; 32];
        let certificate = root.invite(&member_key(&secret), Role::Member, PeerTime(0), PeerTime(u64::MAX));
        let author = Credentials::new(&secret, certificate).expect("the certificate names the key");
        (root, author)
    })
}

/// The group root key the log is opened for.
pub fn group_root() -> &'static MemberKey {
    static ROOT: OnceLock<MemberKey> = OnceLock::new();
    ROOT.get_or_init(|| group().0.public_key())
}

/// Record `n` of the group's member, with `data`.
pub fn record(n: u64, data: &[u8]) -> Record {
    let (root, author) = group();
    let draft = RecordDraft {
        record_type: [0x42; 16],
        attributes: String::new(),
        data: data.to_vec(),
        expiration: NOW.plus_seconds(3600),
        flags: 0,
    };
    Record::create(author, &root.public_key(), draft, n, NOW).expect("a valid draft")
}

/// The record every check appends after the replays.
fn appended() -> &'static Record {
    static APPENDED: OnceLock<Record> = OnceLock::new();
    APPENDED.get_or_init(|| record(0xA99E, b"appended after replay"))
}

/// The file an input describes.
pub fn file_of(data: &[u8]) -> Option<Contents> {
    let (&mode, bytes) = data.split_first()?;
    let len = bytes.len() as u64;
    let hole = match mode {
        MODE_AT_LIMIT => MAX_LOG_BYTES.saturating_sub(len),
        MODE_PAST_LIMIT => (MAX_LOG_BYTES + 1).saturating_sub(len),
        _ => 0,
    };
    Some(Contents { bytes: bytes.to_vec(), hole })
}

/// What a replay handed over: the records, each in its encoding.
#[derive(Debug, Default, PartialEq, Eq)]
struct Replayed {
    records: u64,
    encoded: Vec<u8>,
}

impl Replayed {
    fn restore(&mut self, record: Record) {
        let start = self.encoded.len();
        record.encode(&mut self.encoded);
        let decoded = RecordView::decode(&self.encoded[start..]).map(|(view, rest)| (view.to_record(), rest));
        assert!(
            matches!(&decoded, Ok((again, [])) if *again == record),
            "a replayed record does not round-trip through its encoding: {decoded:?}"
        );
        self.records += 1;
    }
}

/// A new log's file: the header alone, or with the synchronised marker.
fn is_fresh(contents: &Contents, synchronised: bool) -> bool {
    let marker = if synchronised { FRAME_LEN as u64 } else { 0 };
    contents.hole == 0
        && contents.len() == HEADER_LEN + marker
        && contents.bytes[..8] == MAGIC
        && contents.bytes[8..HEADER_LEN as usize] == group_root()[..]
}

/// `contents` cut to `len` bytes (a cut inside the hole keeps the rest of the hole).
fn cut(contents: &Contents, len: u64) -> Contents {
    let written = contents.bytes.len() as u64;
    if len <= written {
        Contents { bytes: contents.bytes[..len as usize].to_vec(), hole: 0 }
    } else {
        Contents { bytes: contents.bytes.clone(), hole: len - written }
    }
}

/// Opens the log in `dir`, collecting what it replays.
fn open(dir: &mut MemoryDirectory) -> Result<(GroupLog<MemoryFile>, Replay, Replayed), StoreError> {
    let mut replayed = Replayed::default();
    let (log, replay) = GroupLog::open(dir, NAME, group_root(), |r| replayed.restore(r))?;
    Ok((log, replay, replayed))
}

/// Opens, replays, reopens and appends to the log an input describes (see the module
/// documentation); what the first open reported, `None` when the log was refused.
pub fn check(data: &[u8]) -> Option<Replay> {
    let original = file_of(data)?;
    let aside = format!("{NAME}{SET_ASIDE_SUFFIX}");
    let mut dir = MemoryDirectory::default();
    dir.put_sparse(NAME, original.bytes.clone(), original.hole);

    let (mut log, replay, first) = match open(&mut dir) {
        Ok(opened) => opened,
        Err(StoreError::NotALog | StoreError::OtherGroup) => {
            assert!(original.len() >= HEADER_LEN, "a torn header must start the log afresh");
            assert_eq!(dir.contents(NAME).as_ref(), Some(&original), "a refused log is left untouched");
            assert_eq!(dir.files.len(), 1);
            return None;
        }
        Err(e) => panic!("opening a log failed with {e:?}"),
    };
    assert!(!replay.created);
    assert_eq!(replay.records, first.records);
    let now = dir.contents(NAME).expect("the log exists");
    match replay.set_aside {
        Some(set_aside) => {
            match set_aside {
                SetAside::TooLarge { bytes } => {
                    assert!(bytes == original.len() && bytes > MAX_LOG_BYTES, "{set_aside:?}");
                    assert_eq!(first.records, 0, "an oversized log is not read");
                    assert!(!replay.synchronised);
                }
                SetAside::Corrupt { offset } => {
                    assert!(original.len() <= MAX_LOG_BYTES, "an oversized log was read");
                    assert!((HEADER_LEN..original.len()).contains(&offset), "{set_aside:?}");
                }
            }
            assert_eq!(dir.contents(&aside).as_ref(), Some(&original), "the log is set aside untouched");
            assert!(is_fresh(&now, false), "a log set aside starts again empty: {now:?}");
            // The replay still reports a marker read before the damage (the caller marks the
            // group ready and writes it again); the new file has none.
            assert!(!log.is_synchronised() && replay.truncated == 0);
            assert_eq!(log.entries(), 0);
        }
        None => {
            assert!(original.len() <= MAX_LOG_BYTES, "an oversized log was replayed");
            assert_eq!(dir.files.len(), 1, "nothing set aside");
            assert!(replay.truncated <= original.len());
            let kept = cut(&original, original.len() - replay.truncated);
            if original.len() < HEADER_LEN {
                assert_eq!(replay.truncated, original.len(), "a torn header is cut off whole");
                assert!(is_fresh(&now, false));
            } else if original.bytes[..8] == LEGACY_MAGIC {
                if first.records > 0 {
                    // A first-format log with records counts as synchronised and gets the marker
                    // (unless it holds one already: the first format never wrote one, but the
                    // store takes it).
                    assert!(replay.synchronised);
                    let grown = now.len() - kept.len();
                    assert!(grown == 0 || grown == FRAME_LEN as u64, "{grown} bytes appended");
                    assert_eq!(cut(&now, kept.len()).bytes[..], dir_bytes(&kept)[..]);
                } else {
                    // Without records it is rewritten in the current format.
                    assert!(is_fresh(&now, replay.synchronised), "{now:?}");
                }
            } else {
                assert_eq!(now, kept, "the log is what was there, cut at the torn tail");
            }
            assert_eq!(log.entries(), first.records);
            assert_eq!(log.is_synchronised(), replay.synchronised);
        }
    }
    let left = dir.contents(NAME).expect("the log exists");
    let expected = if replay.set_aside.is_some() { Replayed::default() } else { first };

    // The open log replays again as it stands: the same records, nothing to cut or set aside.
    let mut second = Replayed::default();
    let again = log.replay(&mut dir, |r| second.restore(r)).expect("a clean log replays");
    assert_eq!(second, expected);
    assert_eq!((again.truncated, again.set_aside, again.synchronised), (0, None, log.is_synchronised()));
    assert_eq!(dir.contents(NAME).as_ref(), Some(&left), "a replay of a clean log changes nothing");

    // Reopened: the same, and it takes an append that the next replay returns.
    let synchronised = log.is_synchronised();
    drop(log);
    let (mut log, reopened, third) = open(&mut dir).expect("a clean log reopens");
    assert_eq!(third, expected);
    assert_eq!((reopened.truncated, reopened.set_aside, reopened.created), (0, None, false));
    assert_eq!(reopened.synchronised, synchronised);
    assert_eq!(dir.contents(NAME).as_ref(), Some(&left), "reopening a clean log changes nothing");
    log.append(appended()).expect("a clean log takes an append");
    drop(log);
    let (_, last, fourth) = open(&mut dir).expect("the log reopens after the append");
    assert_eq!((last.truncated, last.set_aside, last.records), (0, None, expected.records + 1));
    assert!(fourth.encoded.starts_with(&expected.encoded));
    Some(replay)
}

/// The bytes of `contents`, its hole written out.
fn dir_bytes(contents: &Contents) -> Vec<u8> {
    let mut bytes = contents.bytes.clone();
    bytes.resize(contents.len() as usize, 0);
    bytes
}

/// Heap bytes a check of an input of `len` bytes may hold at once: a few copies of the file
/// and of what it replays, plus one entry of the largest record and one compaction chunk
/// (64 KiB + an entry). The 64 MiB of an oversized file must never be allocated.
pub fn allocation_bound(len: usize) -> usize {
    8 * len + 256 * 1024
}

/// A global allocator that counts the heap in use and its peak (the target installs it to
/// check [`allocation_bound`]).
pub struct PeakAllocator {
    in_use: AtomicUsize,
    peak: AtomicUsize,
}

impl PeakAllocator {
    /// A counter at zero.
    pub const fn new() -> Self {
        Self { in_use: AtomicUsize::new(0), peak: AtomicUsize::new(0) }
    }

    /// Starts a measurement: the peak is reset to what is in use now, which is returned.
    pub fn reset(&self) -> usize {
        let now = self.in_use.load(Ordering::Relaxed);
        self.peak.store(now, Ordering::Relaxed);
        now
    }

    /// The most in use since [`Self::reset`].
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    fn grew(&self, by: usize) {
        let now = self.in_use.fetch_add(by, Ordering::Relaxed) + by;
        self.peak.fetch_max(now, Ordering::Relaxed);
    }
}

impl Default for PeakAllocator {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: every call is passed to `System` unchanged; only the counters are added.
unsafe impl GlobalAlloc for PeakAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `layout` is System's.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            self.grew(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            self.grew(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        self.in_use.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract is System's.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            self.in_use.fetch_sub(layout.size(), Ordering::Relaxed);
            self.grew(new_size);
        }
        new
    }
}
