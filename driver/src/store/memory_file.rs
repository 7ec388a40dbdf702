//! An in-memory [`LogDirectory`] for the store's tests and its fuzz target (feature
//! `test-support`), whose next append or read can be made to fail (a disk that fills up, a write
//! error mid-entry, a medium that stops answering), and whose files can end in a hole (a sparse
//! file), so a log past [`super::group_store::MAX_LOG_BYTES`] costs no memory.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::io;
use std::ops::{Deref, DerefMut};
use std::rc::Rc;

use super::file::{LogDirectory, LogFile};

/// The failures to inject, shared by a directory and its files.
#[derive(Debug, Default)]
pub struct Faults {
    /// The next append writes this many bytes, then fails.
    pub append_fails_after: Cell<Option<usize>>,
    /// Every append fails without writing, while set.
    pub appends_fail: Cell<bool>,
    /// Every read fails, while set.
    pub reads_fail: Cell<bool>,
    /// Every replace (compaction) fails, while set.
    pub replaces_fail: Cell<bool>,
}

/// What a file holds: `bytes`, then `hole` zero bytes that take no memory. An append fills the
/// hole in first; a cut into the written bytes removes it; an extension grows it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Contents {
    /// The written bytes.
    pub bytes: Vec<u8>,
    /// Zero bytes after them, not stored.
    pub hole: u64,
}

impl Contents {
    /// The file's length.
    pub fn len(&self) -> u64 {
        self.bytes.len() as u64 + self.hole
    }

    /// Whether the file is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The written bytes (a test flips bits in them in place).
impl Deref for Contents {
    type Target = Vec<u8>;
    fn deref(&self) -> &Vec<u8> {
        &self.bytes
    }
}

impl DerefMut for Contents {
    fn deref_mut(&mut self) -> &mut Vec<u8> {
        &mut self.bytes
    }
}

/// A directory of in-memory files.
#[derive(Debug, Default)]
pub struct MemoryDirectory {
    /// The files by name.
    pub files: BTreeMap<String, Rc<RefCell<Contents>>>,
    /// The failures to inject.
    pub faults: Rc<Faults>,
}

/// An open in-memory file.
#[derive(Debug)]
pub struct MemoryFile {
    data: Rc<RefCell<Contents>>,
    faults: Rc<Faults>,
}

impl MemoryDirectory {
    /// The contents of `name`, its hole written out as zeros.
    pub fn bytes(&self, name: &str) -> Vec<u8> {
        let contents = self.files[name].borrow();
        let mut bytes = contents.bytes.clone();
        bytes.resize(contents.len() as usize, 0);
        bytes
    }

    /// The contents of `name`, its hole as a length.
    pub fn contents(&self, name: &str) -> Option<Contents> {
        self.files.get(name).map(|data| data.borrow().clone())
    }

    /// Puts `bytes` in `name`.
    pub fn put(&mut self, name: &str, bytes: Vec<u8>) {
        self.put_sparse(name, bytes, 0);
    }

    /// Puts `bytes` followed by a hole of `hole` zero bytes in `name`.
    pub fn put_sparse(&mut self, name: &str, bytes: Vec<u8>, hole: u64) {
        self.files.insert(name.into(), Rc::new(RefCell::new(Contents { bytes, hole })));
    }
}

fn injected() -> io::Error {
    io::Error::other("injected failure")
}

fn past_the_end() -> io::Error {
    io::Error::from(io::ErrorKind::UnexpectedEof)
}

impl LogFile for MemoryFile {
    fn size(&mut self) -> io::Result<u64> {
        Ok(self.data.borrow().len())
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        if self.faults.reads_fail.get() {
            return Err(injected());
        }
        let data = self.data.borrow();
        let end = offset.checked_add(buf.len() as u64).ok_or_else(past_the_end)?;
        if end > data.len() {
            return Err(past_the_end());
        }
        // The part before the hole is copied, the rest is zeros.
        let written = data.bytes.get(offset as usize..).unwrap_or_default();
        let copied = written.len().min(buf.len());
        let (from_bytes, from_hole) = buf.split_at_mut(copied);
        from_bytes.copy_from_slice(&written[..copied]);
        from_hole.fill(0);
        Ok(())
    }

    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.faults.appends_fail.get() {
            return Err(injected());
        }
        let mut data = self.data.borrow_mut();
        let len = data.len() as usize;
        data.bytes.resize(len, 0);
        data.hole = 0;
        if let Some(n) = self.faults.append_fails_after.take() {
            data.bytes.extend_from_slice(&bytes[..n.min(bytes.len())]);
            return Err(injected());
        }
        data.bytes.extend_from_slice(bytes);
        Ok(())
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        let mut data = self.data.borrow_mut();
        match len.checked_sub(data.bytes.len() as u64) {
            Some(hole) => data.hole = hole,
            None => {
                data.bytes.truncate(len as usize);
                data.hole = 0;
            }
        }
        Ok(())
    }
}

impl LogDirectory for MemoryDirectory {
    type File = MemoryFile;

    fn open_or_create(&mut self, name: &str) -> io::Result<(MemoryFile, bool)> {
        let created = !self.files.contains_key(name);
        let data = self.files.entry(name.into()).or_default().clone();
        Ok((MemoryFile { data, faults: self.faults.clone() }, created))
    }

    fn replace(
        &mut self,
        file: &mut MemoryFile,
        name: &str,
        write: &mut dyn FnMut(&mut MemoryFile) -> io::Result<()>,
    ) -> io::Result<()> {
        if self.faults.replaces_fail.get() {
            return Err(injected());
        }
        let mut new = MemoryFile { data: Rc::default(), faults: self.faults.clone() };
        write(&mut new)?;
        self.files.insert(name.into(), new.data.clone());
        *file = new;
        Ok(())
    }

    fn set_aside(&mut self, file: &mut MemoryFile, name: &str, to: &str) -> io::Result<()> {
        let old = self.files.remove(name).ok_or(io::ErrorKind::NotFound)?;
        self.files.insert(to.into(), old);
        let data = self.files.entry(name.into()).or_default().clone();
        file.data = data;
        Ok(())
    }

    fn remove(&mut self, name: &str) -> io::Result<bool> {
        Ok(self.files.remove(name).is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hole_reads_as_zeros_is_filled_by_an_append_and_removed_by_a_cut() {
        let mut dir = MemoryDirectory::default();
        dir.put_sparse("f", vec![1, 2, 3], 1 << 40);
        let (mut file, created) = dir.open_or_create("f").unwrap();
        assert!(!created);
        assert_eq!(file.size().unwrap(), 3 + (1 << 40), "a terabyte of hole, in no memory");
        let mut buf = [0xFF; 5];
        file.read_at(1, &mut buf).unwrap();
        assert_eq!(buf, [2, 3, 0, 0, 0]);
        file.read_at((1 << 40) - 2, &mut buf).unwrap();
        assert_eq!(buf, [0; 5], "the last bytes of the hole");
        assert!(file.read_at((1 << 40) - 1, &mut buf).is_err(), "one byte past the end");
        assert!(file.read_at(u64::MAX, &mut buf).is_err());

        file.truncate(6).unwrap();
        file.append(&[9]).unwrap();
        assert_eq!(dir.bytes("f"), [1, 2, 3, 0, 0, 0, 9]);
        file.truncate(2).unwrap();
        file.truncate(4).unwrap();
        assert_eq!(dir.contents("f"), Some(Contents { bytes: vec![1, 2], hole: 2 }));
    }
}
