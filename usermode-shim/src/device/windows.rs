//! The Windows backend: `\\.\PeerDrt` opened for overlapped I/O, `DeviceIoControl`.
//!
//! Overlapped because a synchronous file object serialises its I/O: a pending `WAIT_EVENT`
//! would block every other request of the open. The completion's NTSTATUS and
//! `IoStatus.Information` are read from `OVERLAPPED.Internal` / `InternalHigh`. When the driver
//! fails a request synchronously (an error status without `STATUS_PENDING`) the I/O manager
//! does not write the status block; the Win32 error then maps back to the closest NTSTATUS,
//! which loses the DRT-specific customer codes. This path is compile-checked, not yet run.

use std::ffi::c_void;
use std::io;
use std::os::windows::ffi::OsStrExt;
use std::path::Path;
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use peerdrt_abi::status;
use windows_sys::Win32::Foundation::{
    CloseHandle, ERROR_INSUFFICIENT_BUFFER, ERROR_INVALID_HANDLE, ERROR_INVALID_PARAMETER, ERROR_IO_PENDING,
    GENERIC_READ, GENERIC_WRITE, GetLastError, HANDLE, INVALID_HANDLE_VALUE,
};
use windows_sys::Win32::Storage::FileSystem::{
    CreateFileW, FILE_FLAG_OVERLAPPED, FILE_SHARE_READ, FILE_SHARE_WRITE, OPEN_EXISTING,
};
use windows_sys::Win32::System::IO::{CancelIoEx, DeviceIoControl, GetOverlappedResult, OVERLAPPED};
use windows_sys::Win32::System::Threading::CreateEventW;

use super::{PendingIoctl, Reply};

#[derive(Debug)]
struct OwnedHandle(HANDLE);
// SAFETY: a kernel handle may be used from any thread.
unsafe impl Send for OwnedHandle {}
// SAFETY: as above; the calls made on it are thread-safe.
unsafe impl Sync for OwnedHandle {}

impl Drop for OwnedHandle {
    fn drop(&mut self) {
        // SAFETY: we own the handle.
        unsafe { CloseHandle(self.0) };
    }
}

/// How long [`Connection::close`] waits for the requests it cancelled to complete. A cancelled
/// request completes at once on a driver that honours cancellation; the bound only keeps a
/// driver that does not from hanging DrtClose.
pub(super) const CLOSE_DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// The number of submitted requests whose threads have not yet finished.
#[derive(Debug, Default)]
struct InFlight {
    count: Mutex<usize>,
    drained: Condvar,
}

impl InFlight {
    fn enter(&self) {
        *self.count.lock().unwrap_or_else(PoisonError::into_inner) += 1;
    }

    fn leave(&self) {
        let mut count = self.count.lock().unwrap_or_else(PoisonError::into_inner);
        *count = count.saturating_sub(1);
        if *count == 0 {
            self.drained.notify_all();
        }
    }

    /// Waits until no request is in flight, or `timeout` passes.
    fn wait_drained(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut count = self.count.lock().unwrap_or_else(PoisonError::into_inner);
        while *count > 0 {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else { return };
            count = self.drained.wait_timeout(count, left).unwrap_or_else(PoisonError::into_inner).0;
        }
    }
}

/// An open of `\\.\PeerDrt`.
#[derive(Debug)]
pub(super) struct Connection {
    handle: Arc<OwnedHandle>,
    closed: AtomicBool,
    in_flight: Arc<InFlight>,
}

impl Connection {
    pub(super) fn open(path: &Path) -> io::Result<Arc<Self>> {
        let wide: Vec<u16> = path.as_os_str().encode_wide().chain(Some(0)).collect();
        // SAFETY: a valid NUL-terminated path; the other arguments are plain values.
        let h = unsafe {
            CreateFileW(
                wide.as_ptr(),
                GENERIC_READ | GENERIC_WRITE,
                FILE_SHARE_READ | FILE_SHARE_WRITE,
                ptr::null(),
                OPEN_EXISTING,
                FILE_FLAG_OVERLAPPED,
                ptr::null_mut(),
            )
        };
        if h == INVALID_HANDLE_VALUE {
            return Err(io::Error::last_os_error());
        }
        Ok(Arc::new(Self {
            handle: Arc::new(OwnedHandle(h)),
            closed: AtomicBool::new(false),
            in_flight: Arc::default(),
        }))
    }

    pub(super) fn submit(&self, code: u32, input: &[u8], output_capacity: usize) -> io::Result<PendingIoctl> {
        if self.is_closed() {
            return Err(io::Error::new(io::ErrorKind::NotConnected, "the peerdrt device is closed"));
        }
        let (tx, pending) = PendingIoctl::channel();
        let handle = self.handle.clone();
        let input = input.to_vec();
        let in_flight = self.in_flight.clone();
        in_flight.enter();
        let spawned = thread::Builder::new().name("peerdrt-ioctl".into()).spawn({
            let in_flight = in_flight.clone();
            move || {
                let _ = tx.send(ioctl(&handle, code, &input, output_capacity));
                in_flight.leave();
            }
        });
        if let Err(e) = spawned {
            in_flight.leave();
            return Err(e);
        }
        Ok(pending)
    }

    pub(super) fn ioctl_blocking(
        &self,
        code: u32,
        input: &[u8],
        output_capacity: usize,
    ) -> io::Result<Reply> {
        if self.is_closed() {
            return Err(io::Error::new(io::ErrorKind::NotConnected, "the peerdrt device is closed"));
        }
        ioctl(&self.handle, code, input, output_capacity)
    }

    pub(super) fn close(&self) {
        if !self.closed.swap(true, Ordering::SeqCst) {
            // SAFETY: cancels this process's requests on our handle; the handle stays valid
            // until the last in-flight request drops its reference.
            unsafe { CancelIoEx(self.handle.0, ptr::null()) };
            // The cancelled requests' threads are still finishing: let them, so that a process
            // that exits right after DrtClose does not tear them down mid-completion (Wine has
            // crashed at exit that way).
            self.in_flight.wait_drained(CLOSE_DRAIN_TIMEOUT);
        }
    }

    pub(super) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }
}

const STATUS_UNWRITTEN: usize = 0xFFFF_FFFF;

fn ioctl(handle: &OwnedHandle, code: u32, input: &[u8], output_capacity: usize) -> io::Result<Reply> {
    // SAFETY: a manual-reset, unnamed event.
    let event = unsafe { CreateEventW(ptr::null(), 1, 0, ptr::null()) };
    if event.is_null() {
        return Err(io::Error::last_os_error());
    }
    let event = OwnedHandle(event);
    let mut output = vec![0u8; output_capacity];
    // SAFETY: OVERLAPPED is plain data; all-zero is its initial state.
    let mut ov: OVERLAPPED = unsafe { std::mem::zeroed() };
    ov.hEvent = event.0;
    ov.Internal = STATUS_UNWRITTEN;
    let mut returned = 0u32;
    // SAFETY: the buffers and the OVERLAPPED outlive the request: we wait for its completion
    // below before any of them is dropped.
    let ok = unsafe {
        DeviceIoControl(
            handle.0,
            code,
            input.as_ptr() as *const c_void,
            input.len() as u32,
            output.as_mut_ptr() as *mut c_void,
            output_capacity as u32,
            &mut returned,
            &mut ov,
        )
    };
    // SAFETY: plain call.
    let error = if ok == 0 { unsafe { GetLastError() } } else { 0 };
    if ok == 0 && error != ERROR_IO_PENDING {
        if ov.Internal == STATUS_UNWRITTEN {
            let status = match error {
                ERROR_INVALID_HANDLE => status::INVALID_HANDLE,
                ERROR_INVALID_PARAMETER => status::INVALID_PARAMETER,
                ERROR_INSUFFICIENT_BUFFER => status::BUFFER_TOO_SMALL,
                _ => status::UNEXPECTED_IO_ERROR,
            };
            return Ok(Reply { status, output: Vec::new() });
        }
    } else {
        // SAFETY: waits for the request started above.
        unsafe { GetOverlappedResult(handle.0, &ov, &mut returned, 1) };
    }
    let status = ov.Internal as u32;
    output.truncate((ov.InternalHigh).min(output_capacity));
    Ok(Reply { status, output })
}
