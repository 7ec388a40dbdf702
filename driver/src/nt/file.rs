//! The group store's files in `peerdrt.sys`: [`LogDirectory`] over `ZwCreateFile`, `ZwReadFile`,
//! `ZwWriteFile`, `ZwFlushBuffersFile`, `ZwQueryInformationFile`, `ZwSetInformationFile` and
//! `ZwClose` on kernel handles.
//!
//! PASSIVE_LEVEL only (the Zw file routines require it): every call comes from the IOCTL
//! dispatch path or the worker thread, both PASSIVE_LEVEL under the engine lock (an ERESOURCE in
//! a critical region, which leaves the special kernel APCs of synchronous I/O enabled). Files are
//! opened for synchronous I/O with write-through, and every change is followed by
//! `ZwFlushBuffersFile` before the call returns.
//!
//! The directory and the files the driver creates carry their own DACL: SYSTEM and Administrators
//! full access, nobody else (a group's records are the group's business, not every local
//! user's).

use alloc::vec::Vec;

use super::sys;
use crate::store::file::{FileError, LogDirectory, LogFile};

/// Longest path the store accepts, in UTF-16 units (a counted string holds 32767).
pub const MAX_PATH_UNITS: usize = 1024;
/// Deepest chain of missing directories created for the store.
const MAX_MISSING_DIRECTORIES: usize = 16;
/// Largest single read or write request.
const MAX_TRANSFER: usize = 1 << 20;

/// A directory of group logs: an absolute NT path (`\SystemRoot\...`, `\??\C:\...`).
pub struct NtDirectory {
    path: Vec<u16>,
}

/// An open log file: a kernel handle and the file's length.
pub struct NtFile {
    handle: sys::HANDLE,
    size: u64,
}

// SAFETY: a kernel handle (OBJ_KERNEL_HANDLE) is valid in every thread; the file is only used
// under the engine lock.
unsafe impl Send for NtFile {}

impl Drop for NtFile {
    fn drop(&mut self) {
        close(&mut self.handle);
    }
}

fn close(handle: &mut sys::HANDLE) {
    if !handle.is_null() {
        // SAFETY: our kernel handle, closed once (nulled below).
        unsafe { sys::ZwClose(*handle) };
        *handle = core::ptr::null_mut();
    }
}

fn check(status: sys::NTSTATUS) -> Result<(), FileError> {
    if status < 0 { Err(FileError(status)) } else { Ok(()) }
}

fn io_status() -> sys::IO_STATUS_BLOCK {
    // SAFETY: a plain-data structure; all zero is a valid value.
    unsafe { core::mem::zeroed() }
}

/// The DACL the store's directory and files get: SYSTEM and Administrators, all access.
struct StoreSecurity {
    descriptor: [u64; sys::SECURITY_DESCRIPTOR_MIN_LENGTH / 8],
    acl: [u32; Self::ACL_LEN.div_ceil(4)],
}

impl StoreSecurity {
    /// ACL header (8) + per ACE: ACE header (4) + mask (4) + SID.
    const ACL_LEN: usize = 8 + (8 + 12) + (8 + 16);

    /// Builds the descriptor in `self` (it points into itself: build it where it is used).
    fn build(&mut self) -> Result<sys::PVOID, FileError> {
        // SIDs: revision 1, sub-authority count, NT authority {0,0,0,0,0,5}, sub-authorities (LE).
        static SYSTEM: [u8; 12] = [1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0];
        static ADMINISTRATORS: [u8; 16] = [1, 2, 0, 0, 0, 0, 0, 5, 32, 0, 0, 0, 0x20, 0x02, 0, 0];
        // SAFETY: PASSIVE_LEVEL; buffers of the sizes the calls need, aligned for their types;
        // the SIDs are read only.
        unsafe {
            let sd: sys::PVOID = self.descriptor.as_mut_ptr().cast();
            let dacl: sys::PVOID = self.acl.as_mut_ptr().cast();
            check(sys::RtlCreateSecurityDescriptor(sd.cast(), sys::SECURITY_DESCRIPTOR_REVISION))?;
            check(sys::RtlCreateAcl(dacl, (self.acl.len() * 4) as u32, sys::ACL_REVISION))?;
            for sid in [SYSTEM.as_ptr(), ADMINISTRATORS.as_ptr()] {
                check(sys::RtlAddAccessAllowedAce(
                    dacl,
                    sys::ACL_REVISION,
                    sys::FILE_ALL_ACCESS,
                    sid.cast_mut().cast(),
                ))?;
            }
            check(sys::RtlSetDaclSecurityDescriptor(sd.cast(), sys::TRUE, dacl, sys::FALSE))?;
            Ok(sd)
        }
    }
}

/// `ZwCreateFile(path, ...)` with a kernel handle and the store's DACL for what it creates;
/// the handle and whether the file was created.
fn create(
    path: &[u16],
    access: sys::ACCESS_MASK,
    disposition: sys::ULONG,
    options: sys::ULONG,
) -> Result<(sys::HANDLE, bool), FileError> {
    if path.len() > MAX_PATH_UNITS {
        return Err(FileError(sys::STATUS_OBJECT_NAME_INVALID));
    }
    let mut units: Vec<u16> = path.to_vec();
    let bytes = (units.len() * 2) as u16;
    let mut name = sys::UNICODE_STRING { Length: bytes, MaximumLength: bytes, Buffer: units.as_mut_ptr() };
    let mut security = StoreSecurity { descriptor: [0; 5], acl: [0; StoreSecurity::ACL_LEN.div_ceil(4)] };
    let descriptor = security.build()?;
    let mut attributes = sys::OBJECT_ATTRIBUTES {
        Length: core::mem::size_of::<sys::OBJECT_ATTRIBUTES>() as u32,
        RootDirectory: core::ptr::null_mut(),
        ObjectName: &mut name,
        Attributes: sys::OBJ_CASE_INSENSITIVE | sys::OBJ_KERNEL_HANDLE,
        SecurityDescriptor: descriptor,
        SecurityQualityOfService: core::ptr::null_mut(),
    };
    let mut handle: sys::HANDLE = core::ptr::null_mut();
    let mut io = io_status();
    // SAFETY: PASSIVE_LEVEL; the attributes, name and descriptor outlive the call.
    let status = unsafe {
        sys::ZwCreateFile(
            &mut handle,
            access | sys::SYNCHRONIZE,
            &mut attributes,
            &mut io,
            core::ptr::null_mut(),
            sys::FILE_ATTRIBUTE_NORMAL,
            sys::FILE_SHARE_READ,
            disposition,
            options | sys::FILE_SYNCHRONOUS_IO_NONALERT,
            core::ptr::null_mut(),
            0,
        )
    };
    check(status)?;
    Ok((handle, io.Information == sys::FILE_CREATED))
}

/// Opens the directory at `path`, creating it and any missing parents.
fn ensure_directory(path: &[u16], depth: usize) -> Result<(), FileError> {
    let open = || {
        create(
            path,
            sys::FILE_LIST_DIRECTORY | sys::FILE_TRAVERSE,
            sys::FILE_OPEN_IF,
            sys::FILE_DIRECTORY_FILE,
        )
    };
    let mut result = open();
    if let Err(FileError(sys::STATUS_OBJECT_PATH_NOT_FOUND)) = result
        && depth < MAX_MISSING_DIRECTORIES
        && let Some(parent) = path.iter().rposition(|&u| u == u16::from(b'\\')).filter(|&i| i > 0)
    {
        ensure_directory(&path[..parent], depth + 1)?;
        result = open();
    }
    let (mut handle, _) = result?;
    close(&mut handle);
    Ok(())
}

fn flush(handle: sys::HANDLE) -> Result<(), FileError> {
    let mut io = io_status();
    // SAFETY: PASSIVE_LEVEL; our handle.
    check(unsafe { sys::ZwFlushBuffersFile(handle, &mut io) })
}

/// Writes `bytes` at `offset`; the bytes written so far on failure are reported through `done`.
fn write_at(handle: sys::HANDLE, offset: u64, bytes: &[u8], done: &mut usize) -> Result<(), FileError> {
    while *done < bytes.len() {
        let chunk = &bytes[*done..bytes.len().min(*done + MAX_TRANSFER)];
        let mut io = io_status();
        let mut at = sys::LARGE_INTEGER { QuadPart: (offset + *done as u64) as i64 };
        // SAFETY: PASSIVE_LEVEL; synchronous I/O on our handle from a buffer that outlives it.
        let status = unsafe {
            sys::ZwWriteFile(
                handle,
                core::ptr::null_mut(),
                core::ptr::null_mut(),
                core::ptr::null_mut(),
                &mut io,
                chunk.as_ptr().cast_mut().cast(),
                chunk.len() as u32,
                &mut at,
                core::ptr::null_mut(),
            )
        };
        check(status)?;
        if io.Information == 0 {
            return Err(FileError(sys::STATUS_UNSUCCESSFUL));
        }
        *done += io.Information.min(chunk.len());
    }
    Ok(())
}

/// Renames the file open as `handle` (with DELETE access) to the absolute path `target`,
/// replacing a file of that name.
fn rename(handle: sys::HANDLE, target: &[u16]) -> Result<(), FileError> {
    // FILE_RENAME_INFORMATION with the target's full path, 8-aligned.
    let name_bytes = target.len() * 2;
    let mut rename = alloc::vec![0u64; (sys::FILE_RENAME_INFORMATION_HEADER + name_bytes).div_ceil(8) + 1];
    // SAFETY: the buffer holds the header and the name; the header fields are written through
    // the structure's own layout.
    unsafe {
        let info = rename.as_mut_ptr().cast::<sys::FILE_RENAME_INFORMATION>();
        (*info).ReplaceIfExists = 1;
        (*info).RootDirectory = core::ptr::null_mut();
        (*info).FileNameLength = name_bytes as u32;
        core::ptr::copy_nonoverlapping(
            target.as_ptr(),
            core::ptr::addr_of_mut!((*info).FileName).cast::<u16>(),
            target.len(),
        );
    }
    let mut io = io_status();
    // SAFETY: PASSIVE_LEVEL; our handle and a buffer of the size passed.
    check(unsafe {
        sys::ZwSetInformationFile(
            handle,
            &mut io,
            rename.as_mut_ptr().cast(),
            (sys::FILE_RENAME_INFORMATION_HEADER + name_bytes) as u32,
            sys::FileRenameInformation,
        )
    })
}

impl NtDirectory {
    /// The directory at the absolute NT path `path` (created when the first log is).
    pub fn new(path: Vec<u16>) -> Self {
        Self { path }
    }

    /// `path\name`.
    fn join(&self, name: &str) -> Vec<u16> {
        let mut out = Vec::with_capacity(self.path.len() + 1 + name.len());
        out.extend_from_slice(&self.path);
        out.push(u16::from(b'\\'));
        out.extend(name.encode_utf16());
        out
    }

    fn open_file(&self, name: &str) -> Result<(NtFile, bool), FileError> {
        let (handle, created) = create(
            &self.join(name),
            sys::GENERIC_READ | sys::GENERIC_WRITE,
            sys::FILE_OPEN_IF,
            sys::FILE_NON_DIRECTORY_FILE | sys::FILE_WRITE_THROUGH,
        )?;
        let mut file = NtFile { handle, size: 0 };
        // SAFETY: a plain-data structure; all zero is a valid value.
        let mut info: sys::FILE_STANDARD_INFORMATION = unsafe { core::mem::zeroed() };
        let mut io = io_status();
        // SAFETY: PASSIVE_LEVEL; our handle and a buffer of the size passed.
        check(unsafe {
            sys::ZwQueryInformationFile(
                file.handle,
                &mut io,
                (&mut info as *mut sys::FILE_STANDARD_INFORMATION).cast(),
                core::mem::size_of::<sys::FILE_STANDARD_INFORMATION>() as u32,
                sys::FileStandardInformation,
            )
        })?;
        // SAFETY: the union's integer view.
        file.size = unsafe { info.EndOfFile.QuadPart }.max(0) as u64;
        Ok((file, created))
    }
}

impl LogFile for NtFile {
    fn size(&mut self) -> Result<u64, FileError> {
        Ok(self.size)
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), FileError> {
        let mut done = 0;
        while done < buf.len() {
            let end = buf.len().min(done + MAX_TRANSFER);
            let chunk = &mut buf[done..end];
            let mut io = io_status();
            let mut at = sys::LARGE_INTEGER { QuadPart: (offset + done as u64) as i64 };
            // SAFETY: PASSIVE_LEVEL; synchronous I/O on our handle into a buffer that outlives it.
            let status = unsafe {
                sys::ZwReadFile(
                    self.handle,
                    core::ptr::null_mut(),
                    core::ptr::null_mut(),
                    core::ptr::null_mut(),
                    &mut io,
                    chunk.as_mut_ptr().cast(),
                    chunk.len() as u32,
                    &mut at,
                    core::ptr::null_mut(),
                )
            };
            check(status)?;
            if io.Information == 0 {
                return Err(FileError(sys::STATUS_END_OF_FILE));
            }
            done += io.Information.min(chunk.len());
        }
        Ok(())
    }

    fn append(&mut self, bytes: &[u8]) -> Result<(), FileError> {
        let mut done = 0;
        let written = write_at(self.handle, self.size, bytes, &mut done);
        self.size += done as u64;
        written?;
        flush(self.handle)
    }

    fn truncate(&mut self, len: u64) -> Result<(), FileError> {
        let mut info =
            sys::FILE_END_OF_FILE_INFORMATION { EndOfFile: sys::LARGE_INTEGER { QuadPart: len as i64 } };
        let mut io = io_status();
        // SAFETY: PASSIVE_LEVEL; our handle and a buffer of the size passed.
        check(unsafe {
            sys::ZwSetInformationFile(
                self.handle,
                &mut io,
                (&mut info as *mut sys::FILE_END_OF_FILE_INFORMATION).cast(),
                core::mem::size_of::<sys::FILE_END_OF_FILE_INFORMATION>() as u32,
                sys::FileEndOfFileInformation,
            )
        })?;
        self.size = len;
        flush(self.handle)
    }
}

impl LogDirectory for NtDirectory {
    type File = NtFile;

    fn open_or_create(&mut self, name: &str) -> Result<(NtFile, bool), FileError> {
        ensure_directory(&self.path, 0)?;
        self.open_file(name)
    }

    fn remove(&mut self, name: &str) -> Result<bool, FileError> {
        // Opened for deletion and closed: the file goes with the last handle (no other is open:
        // the caller closed the group's log first).
        let opened = create(
            &self.join(name),
            sys::DELETE,
            sys::FILE_OPEN,
            sys::FILE_NON_DIRECTORY_FILE | sys::FILE_DELETE_ON_CLOSE,
        );
        match opened {
            Ok((mut handle, _)) => {
                close(&mut handle);
                Ok(true)
            }
            Err(FileError(sys::STATUS_OBJECT_NAME_NOT_FOUND | sys::STATUS_OBJECT_PATH_NOT_FOUND)) => {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    fn set_aside(&mut self, file: &mut NtFile, name: &str, to: &str) -> Result<(), FileError> {
        // The log must not be open while it is renamed.
        close(&mut file.handle);
        let (mut aside, _) = create(
            &self.join(name),
            sys::GENERIC_READ | sys::GENERIC_WRITE | sys::DELETE,
            sys::FILE_OPEN,
            sys::FILE_NON_DIRECTORY_FILE | sys::FILE_WRITE_THROUGH,
        )?;
        let renamed = rename(aside, &self.join(to)).and_then(|()| flush(aside));
        close(&mut aside);
        renamed?;
        // `name` no longer exists: this creates it empty.
        let (fresh, _) = self.open_file(name)?;
        *file = fresh;
        Ok(())
    }

    fn replace(
        &mut self,
        file: &mut NtFile,
        name: &str,
        write: &mut dyn FnMut(&mut NtFile) -> Result<(), FileError>,
    ) -> Result<(), FileError> {
        let target = self.join(name);
        let mut temporary_name = alloc::string::String::from(name);
        temporary_name.push_str(".compact");
        let (handle, _) = create(
            &self.join(&temporary_name),
            sys::GENERIC_READ | sys::GENERIC_WRITE | sys::DELETE,
            sys::FILE_OVERWRITE_IF,
            sys::FILE_NON_DIRECTORY_FILE | sys::FILE_WRITE_THROUGH,
        )?;
        // Closed when dropped, on every path.
        let mut temporary = NtFile { handle, size: 0 };
        write(&mut temporary)?;
        // The target must not be open while it is renamed over.
        close(&mut file.handle);
        let renamed = rename(temporary.handle, &target).and_then(|()| flush(temporary.handle));
        drop(temporary);
        // Either way `name` exists again: the new contents, or the old ones.
        let (reopened, _) = self.open_file(name)?;
        *file = reopened;
        renamed
    }
}
