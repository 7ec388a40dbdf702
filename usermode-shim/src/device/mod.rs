//! The device client: one open of the peerdrt device, and IOCTLs on it.
//!
//! * Linux (and other Unix): a connection to `peerdrtd`'s Unix socket. Requests and responses
//!   are [`peerdrt_abi::frame`]s; a background reader thread matches responses to requests by
//!   id, so a pending `WAIT_EVENT` never blocks the other requests of the connection.
//! * Windows: `CreateFileW(\\.\PeerDrt)` opened for overlapped I/O and `DeviceIoControl`; the
//!   NTSTATUS comes back in `OVERLAPPED.Internal`, so DRT statuses reach the caller bit-exact.
//!
//! Both carry the same [`peerdrt_abi::Request`] / [`peerdrt_abi::Response`] bytes. One
//! [`Device`] is one open: the handles it receives resolve only on it, and closing it (or
//! the process ending) ends its searches, unregisters its keys and closes its instances.

use std::io;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use peerdrt_abi::{AbiError, Request};

#[cfg(unix)]
mod unix;
#[cfg(windows)]
mod windows;

/// The environment variable naming the device (the socket path on Linux).
pub const SOCKET_ENV: &str = "PEERDRT_SOCKET";

/// A completed IOCTL: NTSTATUS and output bytes (`IoStatus.Information` of them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// NTSTATUS.
    pub status: u32,
    /// Output.
    pub output: Vec<u8>,
}

/// An IOCTL in flight (a `WAIT_EVENT` pends until an event arrives).
#[derive(Debug)]
pub struct PendingIoctl {
    rx: mpsc::Receiver<io::Result<Reply>>,
}

fn aborted() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionAborted, "the peerdrt device connection closed")
}

impl PendingIoctl {
    pub(crate) fn channel() -> (mpsc::SyncSender<io::Result<Reply>>, Self) {
        let (tx, rx) = mpsc::sync_channel(1);
        (tx, Self { rx })
    }

    /// Blocks until it completes. Fails when the device connection closes first.
    pub fn wait(self) -> io::Result<Reply> {
        self.rx.recv().unwrap_or_else(|_| Err(aborted()))
    }

    /// Waits up to `timeout`; `Ok(None)` if it is still pending.
    pub fn wait_timeout(&self, timeout: Duration) -> io::Result<Option<Reply>> {
        match self.rx.recv_timeout(timeout) {
            Ok(r) => r.map(Some),
            Err(mpsc::RecvTimeoutError::Timeout) => Ok(None),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(aborted()),
        }
    }
}

/// One open of the device.
#[derive(Debug, Clone)]
pub struct Device {
    #[cfg(unix)]
    inner: std::sync::Arc<unix::Connection>,
    #[cfg(windows)]
    inner: std::sync::Arc<windows::Connection>,
}

/// Where the device is by default: `$PEERDRT_SOCKET`, else `$XDG_RUNTIME_DIR/peerdrt.sock`
/// (when that is an absolute path), else `/tmp/peerdrt-<uid>.sock` (on Windows: `\\.\PeerDrt`).
pub fn default_path() -> PathBuf {
    if let Some(p) = std::env::var_os(SOCKET_ENV).filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    platform_default_path()
}

#[cfg(unix)]
fn platform_default_path() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from).filter(|p| p.is_absolute()) {
        return dir.join("peerdrt.sock");
    }
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    PathBuf::from(format!("/tmp/peerdrt-{uid}.sock"))
}

#[cfg(windows)]
fn platform_default_path() -> PathBuf {
    PathBuf::from(peerdrt_abi::WIN32_DEVICE_PATH)
}

impl Device {
    /// Opens the device at [`default_path`].
    pub fn open_default() -> io::Result<Device> {
        Self::connect(&default_path())
    }

    /// Opens the device at `path` (a Unix socket path; on Windows a device path).
    pub fn connect(path: &std::path::Path) -> io::Result<Device> {
        #[cfg(unix)]
        {
            Ok(Device { inner: unix::Connection::connect(path)? })
        }
        #[cfg(windows)]
        {
            Ok(Device { inner: windows::Connection::open(path)? })
        }
    }

    /// Sends an IOCTL and returns at once; the reply comes through the [`PendingIoctl`].
    pub fn submit(&self, code: u32, input: &[u8], output_capacity: usize) -> io::Result<PendingIoctl> {
        self.inner.submit(code, input, output_capacity)
    }

    /// DeviceIoControl: sends an IOCTL and waits for its completion.
    pub fn ioctl(&self, code: u32, input: &[u8], output_capacity: usize) -> io::Result<(u32, Vec<u8>)> {
        #[cfg(windows)]
        {
            let r = self.inner.ioctl_blocking(code, input, output_capacity)?;
            Ok((r.status, r.output))
        }
        #[cfg(unix)]
        {
            let r = self.submit(code, input, output_capacity)?.wait()?;
            Ok((r.status, r.output))
        }
    }

    /// Encodes `request` and sends it as [`Device::ioctl`] does.
    pub fn request(&self, request: &Request<'_>, output_capacity: usize) -> io::Result<(u32, Vec<u8>)> {
        let input = encode(request).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        self.ioctl(request.code(), &input, output_capacity)
    }

    /// Encodes `request` and submits it as [`Device::submit`] does.
    pub fn submit_request(&self, request: &Request<'_>, output_capacity: usize) -> io::Result<PendingIoctl> {
        let input = encode(request).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        self.submit(request.code(), &input, output_capacity)
    }

    /// Closes the open: pending requests fail, the device ends what the open held. Other
    /// clones of this `Device` see a closed connection. (Dropping the last clone closes too.)
    pub fn close(&self) {
        self.inner.close();
    }

    /// Whether the connection is closed.
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }
}

/// Encodes a request's input buffer.
pub fn encode(request: &Request<'_>) -> Result<Vec<u8>, AbiError> {
    let mut buf = vec![0u8; peerdrt_abi::frame::MAX_INPUT_LEN];
    let len = request.encode(&mut buf)?;
    buf.truncate(len);
    Ok(buf)
}
