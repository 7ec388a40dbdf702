//! [`LogDirectory`] over `std::fs` (the Linux node): `fdatasync` after appends, `fsync` of the
//! file and of the directory after creation, truncation and rename.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::file::{LogDirectory, LogFile};

/// A directory of log files, created when the first file is.
#[derive(Debug, Clone)]
pub struct StdDirectory {
    dir: PathBuf,
}

impl StdDirectory {
    /// The directory `dir` (not created yet).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    fn sync(&self) -> io::Result<()> {
        File::open(&self.dir)?.sync_all()
    }
}

/// An open log file and its length.
#[derive(Debug)]
pub struct StdFile {
    file: File,
    len: u64,
}

impl LogFile for StdFile {
    fn size(&mut self) -> io::Result<u64> {
        Ok(self.len)
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.file.read_exact_at(buf, offset)
    }

    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all_at(bytes, self.len)?;
        self.len += bytes.len() as u64;
        self.file.sync_data()
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        self.file.set_len(len)?;
        self.len = len;
        self.file.sync_all()
    }
}

impl LogDirectory for StdDirectory {
    type File = StdFile;

    fn open_or_create(&mut self, name: &str) -> io::Result<(StdFile, bool)> {
        fs::create_dir_all(&self.dir)?;
        let path = self.dir.join(name);
        let created = !path.exists();
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path)?;
        let len = file.metadata()?.len();
        if created {
            self.sync()?;
        }
        Ok((StdFile { file, len }, created))
    }

    fn replace(
        &mut self,
        file: &mut StdFile,
        name: &str,
        write: &mut dyn FnMut(&mut StdFile) -> io::Result<()>,
    ) -> io::Result<()> {
        let path = self.dir.join(name);
        let temporary = self.dir.join(format!("{name}.compact"));
        let mut new = StdFile { file: File::create(&temporary)?, len: 0 };
        write(&mut new)?;
        new.file.sync_all()?;
        fs::rename(&temporary, &path)?;
        self.sync()?;
        // The open file is the renamed one.
        *file = new;
        Ok(())
    }

    fn set_aside(&mut self, file: &mut StdFile, name: &str, to: &str) -> io::Result<()> {
        let path = self.dir.join(name);
        fs::rename(&path, self.dir.join(to))?;
        self.sync()?;
        let fresh = OpenOptions::new().read(true).write(true).create_new(true).open(&path)?;
        self.sync()?;
        *file = StdFile { file: fresh, len: 0 };
        Ok(())
    }

    fn remove(&mut self, name: &str) -> io::Result<bool> {
        match fs::remove_file(self.dir.join(name)) {
            Ok(()) => {
                self.sync()?;
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }
}
