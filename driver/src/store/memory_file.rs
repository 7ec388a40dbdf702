//! An in-memory [`LogDirectory`] for the store's tests, whose next append or read can be made to
//! fail (a disk that fills up, a write error mid-entry, a medium that stops answering).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::io;
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

/// A directory of in-memory files.
#[derive(Debug, Default)]
pub struct MemoryDirectory {
    /// The files by name.
    pub files: BTreeMap<String, Rc<RefCell<Vec<u8>>>>,
    /// The failures to inject.
    pub faults: Rc<Faults>,
}

/// An open in-memory file.
#[derive(Debug)]
pub struct MemoryFile {
    data: Rc<RefCell<Vec<u8>>>,
    faults: Rc<Faults>,
}

impl MemoryDirectory {
    /// The contents of `name`.
    pub fn bytes(&self, name: &str) -> Vec<u8> {
        self.files[name].borrow().clone()
    }

    /// Puts `bytes` in `name`.
    pub fn put(&mut self, name: &str, bytes: Vec<u8>) {
        self.files.insert(name.into(), Rc::new(RefCell::new(bytes)));
    }
}

fn injected() -> io::Error {
    io::Error::other("injected failure")
}

impl LogFile for MemoryFile {
    fn size(&mut self) -> io::Result<u64> {
        Ok(self.data.borrow().len() as u64)
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        if self.faults.reads_fail.get() {
            return Err(injected());
        }
        let data = self.data.borrow();
        let start = usize::try_from(offset).map_err(|_| io::Error::from(io::ErrorKind::UnexpectedEof))?;
        let bytes = data.get(start..start + buf.len()).ok_or(io::ErrorKind::UnexpectedEof)?;
        buf.copy_from_slice(bytes);
        Ok(())
    }

    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.faults.appends_fail.get() {
            return Err(injected());
        }
        if let Some(n) = self.faults.append_fails_after.take() {
            self.data.borrow_mut().extend_from_slice(&bytes[..n.min(bytes.len())]);
            return Err(injected());
        }
        self.data.borrow_mut().extend_from_slice(bytes);
        Ok(())
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        self.data.borrow_mut().resize(len as usize, 0);
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
