//! The file operations a group log needs, so that one log implementation ([`super::group_store`])
//! runs on each platform's file system: `std::fs` on the Linux node ([`super::std_file`]), the
//! `Zw*` file routines at PASSIVE_LEVEL in `peerdrt.sys` (`crate::nt::file`).
//!
//! Files are named relative to one directory (the node's group directory). Every operation that
//! changes a file returns only once the change is on the medium: a record whose append returned is
//! there after a crash or a kill the next instant.

/// A failed file operation: the platform's error (`std::io::Error` on Linux).
#[cfg(not(windows))]
pub type FileError = std::io::Error;

/// A failed file operation: the NTSTATUS of the failing `Zw*` call.
#[cfg(windows)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileError(pub i32);

#[cfg(windows)]
impl core::fmt::Display for FileError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "NTSTATUS {:#010x}", self.0 as u32)
    }
}

/// An open file of a [`LogDirectory`], read and written at explicit offsets.
pub trait LogFile {
    /// The file's length in bytes.
    fn size(&mut self) -> Result<u64, FileError>;
    /// Fills `buf` from the bytes at `offset` (an error if the file ends first).
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), FileError>;
    /// Writes `bytes` at the end of the file and flushes them to the medium.
    fn append(&mut self, bytes: &[u8]) -> Result<(), FileError>;
    /// Cuts the file (or extends it with zeros) to `len` bytes, flushed to the medium.
    fn truncate(&mut self, len: u64) -> Result<(), FileError>;
}

/// A directory holding log files.
pub trait LogDirectory {
    /// Its files.
    type File: LogFile;
    /// Opens `name` for reading and writing, creating it (and the directory) if missing; `true`
    /// when it was created.
    fn open_or_create(&mut self, name: &str) -> Result<(Self::File, bool), FileError>;
    /// Replaces the contents of `name`, open as `file`, atomically with what `write` appends to
    /// a new temporary file (so the new contents need not be in memory at once): the temporary
    /// is written and flushed, then renamed over `name` and the rename flushed; `file` is then
    /// the new file. After a crash `name` holds either the old or the new contents; on an error
    /// `file` is the old one.
    fn replace(
        &mut self,
        file: &mut Self::File,
        name: &str,
        write: &mut dyn FnMut(&mut Self::File) -> Result<(), FileError>,
    ) -> Result<(), FileError>;
    /// Sets `name`, open as `file`, aside as `to` (renamed, replacing an older `to`, so one
    /// set-aside copy per log at most); `file` is then a new empty `name`. The rename is on the
    /// medium when this returns.
    fn set_aside(&mut self, file: &mut Self::File, name: &str, to: &str) -> Result<(), FileError>;
    /// Deletes `name` (not open), the deletion on the medium when this returns; `false` when
    /// there was no such file.
    fn remove(&mut self, name: &str) -> Result<bool, FileError>;
}
