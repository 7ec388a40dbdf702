//! The device: a Unix stream socket where each connection is one open of the [`Device`]
//! (`IRP_MJ_CREATE` … `IRP_MJ_CLEANUP` / `IRP_MJ_CLOSE`), owned by the peer's SO_PEERCRED.
//!
//! Each connection has a reader thread (frames in → commands for the worker) and a writer
//! thread (response frames out). Frames are [`peerdrt_abi::frame`]'s: one IOCTL per request
//! frame with METHOD_BUFFERED semantics — the worker runs the request against an output buffer
//! of the frame's `output_capacity` bytes and answers with the status, the byte count
//! (IoStatus.Information) and that many output bytes. A WAIT_EVENT may pend; its answer is
//! written when the event arrives, so answers may come back in any order (matched by id).
//!
//! Bad frames never affect other connections:
//! * a header whose output capacity is over [`MAX_OUTPUT_CAPACITY`] (input length in range): the
//!   input is skipped, STATUS_INVALID_PARAMETER is answered, the connection goes on;
//! * a header whose length field is below the header's own size or whose input is over
//!   [`MAX_INPUT_LEN`] (framing is lost — this is also what random bytes look like):
//!   STATUS_INVALID_PARAMETER is answered with the request id read from the header, then the
//!   connection is closed;
//! * a stream that ends inside a frame: the connection is closed;
//! * a well-framed request whose input does not decode: the engine's status
//!   (INVALID_PARAMETER, REVISION_MISMATCH, INVALID_DEVICE_REQUEST, BUFFER_TOO_SMALL).
//!
//! [`Device`]: crate::engine::Device

use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use peerdrt_abi::frame::{
    MAX_INPUT_LEN, MAX_OUTPUT_CAPACITY, REQUEST_HEADER_LEN, RequestHeader, ResponseHeader,
};
use peerdrt_abi::status;

use super::queue::WorkQueue;
use super::worker::{Command, ConnId, Outbound};
use crate::engine::Owner;

/// Most device connections at once; further ones are closed as soon as they are accepted.
pub const MAX_CONNECTIONS: usize = 128;
/// Requests of one connection submitted and not yet answered (pending waits included); its
/// reader stops reading until an answer is written. This bounds the answers queued for a client
/// that does not read them.
pub const MAX_IN_FLIGHT_PER_CONNECTION: usize = 32;
/// How long writing an answer to a client may block before the connection is dropped.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// Encodes a response frame.
pub(crate) fn response_frame(request_id: u64, status: u32, output: &[u8]) -> Vec<u8> {
    let output = &output[..output.len().min(MAX_OUTPUT_CAPACITY)];
    let header = ResponseHeader { request_id, status, information: output.len() }.encode();
    let mut frame = Vec::with_capacity(header.len() + output.len());
    frame.extend_from_slice(&header);
    frame.extend_from_slice(output);
    frame
}

/// Checks that the device socket can be created at `path`: nothing there, or a stale socket
/// file (nobody listening). A live socket, or a file that is not a socket, is an error.
pub(crate) fn check_socket_path(path: &Path) -> io::Result<()> {
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(io::Error::new(io::ErrorKind::AlreadyExists, "exists and is not a socket"));
        }
        if UnixStream::connect(path).is_ok() {
            return Err(io::Error::new(io::ErrorKind::AddrInUse, "another daemon is serving this socket"));
        }
    }
    Ok(())
}

/// Binds the device socket at `path` with `mode`, replacing a stale socket file.
pub(crate) fn bind_listener(path: &Path, mode: u32) -> io::Result<UnixListener> {
    check_socket_path(path)?;
    if std::fs::symlink_metadata(path).is_ok() {
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)) {
        let _ = std::fs::remove_file(path);
        return Err(e);
    }
    Ok(listener)
}

/// Who is at the other end (SO_PEERCRED).
fn peer_owner(stream: &UnixStream) -> io::Result<Owner> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let cred = nix::sys::socket::getsockopt(stream, nix::sys::socket::sockopt::PeerCredentials)?;
        Ok(Owner { pid: cred.pid() as u32, uid: cred.uid() })
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        let _ = stream;
        Ok(Owner::default())
    }
}

/// Answers a connection may still have outstanding.
#[derive(Debug)]
struct Credits {
    state: Mutex<(usize, bool)>,
    changed: Condvar,
}

impl Credits {
    fn new(n: usize) -> Self {
        Self { state: Mutex::new((n, false)), changed: Condvar::new() }
    }

    /// Takes one, waiting for it; false once the connection is closing.
    fn acquire(&self) -> bool {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if s.1 {
                return false;
            }
            if s.0 > 0 {
                s.0 -= 1;
                return true;
            }
            s = self.changed.wait(s).unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn release(&self) {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).0 += 1;
        self.changed.notify_all();
    }

    fn close(&self) {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).1 = true;
        self.changed.notify_all();
    }
}

/// Accepts connections until `stopping`; each gets its reader and writer threads.
pub(crate) fn accept_loop(listener: UnixListener, queue: Arc<WorkQueue>, stopping: Arc<AtomicBool>) {
    let active = Arc::new(AtomicUsize::new(0));
    let next_id = AtomicU64::new(1);
    for stream in listener.incoming() {
        if stopping.load(Ordering::Acquire) {
            break;
        }
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                // EMFILE and the like: back off instead of spinning.
                tracing::warn!(error = %e, "accept");
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        if active.load(Ordering::Acquire) >= MAX_CONNECTIONS {
            tracing::warn!(max = MAX_CONNECTIONS, "too many device connections; refusing one");
            continue;
        }
        let conn = next_id.fetch_add(1, Ordering::Relaxed);
        active.fetch_add(1, Ordering::AcqRel);
        let spawned = std::thread::Builder::new().name(format!("peerdrt-conn-{conn}")).spawn({
            let (queue, active) = (queue.clone(), active.clone());
            move || {
                serve(conn, stream, &queue);
                active.fetch_sub(1, Ordering::AcqRel);
            }
        });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start a connection thread");
            active.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// Reads until `buf` is full or the stream ends; the bytes read.
fn read_full(stream: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match stream.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

fn serve(conn: ConnId, stream: UnixStream, queue: &WorkQueue) {
    let owner = match peer_owner(&stream) {
        Ok(owner) => owner,
        Err(e) => {
            tracing::warn!(conn, error = %e, "no peer credentials; closing");
            return;
        }
    };
    let writer_stream = match stream.try_clone() {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(conn, error = %e, "cannot clone the connection");
            return;
        }
    };
    let (outbound, answers) = mpsc::channel();
    let (reply, opened) = mpsc::sync_channel(1);
    queue.push_command(Command::Connect { conn, owner, outbound: outbound.clone(), reply });
    if !opened.recv().unwrap_or(false) {
        tracing::warn!(conn, "the device has no free open; closing the connection");
        return;
    }
    let credits = Arc::new(Credits::new(MAX_IN_FLIGHT_PER_CONNECTION));
    let writer = std::thread::Builder::new().name(format!("peerdrt-conn-{conn}-w")).spawn({
        let credits = credits.clone();
        move || write_loop(writer_stream, answers, &credits)
    });
    match writer {
        Ok(writer) => {
            read_loop(conn, stream, queue, &outbound, &credits);
            queue.push_command(Command::Disconnect { conn });
            drop(outbound);
            let _ = writer.join();
        }
        Err(e) => {
            tracing::warn!(conn, error = %e, "cannot start a writer thread");
            queue.push_command(Command::Disconnect { conn });
        }
    }
    tracing::debug!(conn, "connection closed");
}

fn write_loop(mut stream: UnixStream, answers: Receiver<Outbound>, credits: &Credits) {
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    for outbound in answers {
        let Outbound::Frame(frame) = outbound else { break };
        if stream.write_all(&frame).is_err() {
            break;
        }
        credits.release();
    }
    // Unblocks the reader: no more answers can be written.
    credits.close();
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

fn read_loop(
    conn: ConnId,
    mut stream: UnixStream,
    queue: &WorkQueue,
    outbound: &mpsc::Sender<Outbound>,
    credits: &Credits,
) {
    let answer_error = |request_id: u64| {
        credits.acquire()
            && outbound
                .send(Outbound::Frame(response_frame(request_id, status::INVALID_PARAMETER, &[])))
                .is_ok()
    };
    loop {
        let mut header = [0u8; REQUEST_HEADER_LEN];
        match read_full(&mut stream, &mut header) {
            Ok(0) => return,
            Ok(REQUEST_HEADER_LEN) => {}
            Ok(n) => {
                tracing::debug!(conn, bytes = n, "stream ended inside a frame header");
                return;
            }
            Err(e) => {
                tracing::debug!(conn, error = %e, "read");
                return;
            }
        }
        let request_id = u64::from_le_bytes(header[4..12].try_into().unwrap_or_default());
        let header = match RequestHeader::decode(&header) {
            Ok(h) => h,
            Err(_) => {
                let len = u32::from_le_bytes(header[..4].try_into().unwrap_or_default()) as usize;
                match len.checked_sub(REQUEST_HEADER_LEN - 4) {
                    // Framing holds; only the output capacity is over the limit.
                    Some(input_len) if input_len <= MAX_INPUT_LEN => {
                        tracing::debug!(conn, request_id, "output capacity over the limit");
                        let skipped = io::copy(&mut (&mut stream).take(input_len as u64), &mut io::sink());
                        if !matches!(skipped, Ok(n) if n == input_len as u64) || !answer_error(request_id) {
                            return;
                        }
                        continue;
                    }
                    _ => {
                        tracing::debug!(conn, len, "bad frame length; closing the connection");
                        answer_error(request_id);
                        return;
                    }
                }
            }
        };
        let mut input = vec![0u8; header.input_len];
        match read_full(&mut stream, &mut input) {
            Ok(n) if n == input.len() => {}
            _ => {
                tracing::debug!(conn, request_id = header.request_id, "stream ended inside a frame");
                return;
            }
        }
        if !credits.acquire() {
            return;
        }
        queue.push_command(Command::Ioctl {
            conn,
            request_id: header.request_id,
            code: header.code,
            input,
            capacity: header.output_capacity,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use peerdrt_abi::frame::RESPONSE_HEADER_LEN;

    #[test]
    fn a_response_frame_carries_status_count_and_output() {
        let frame = response_frame(9, status::BUFFER_TOO_SMALL, &[1, 2, 3]);
        let header = ResponseHeader::decode(frame[..RESPONSE_HEADER_LEN].try_into().unwrap()).unwrap();
        assert_eq!(
            header,
            ResponseHeader { request_id: 9, status: status::BUFFER_TOO_SMALL, information: 3 }
        );
        assert_eq!(&frame[RESPONSE_HEADER_LEN..], &[1, 2, 3]);
    }

    #[test]
    fn a_stale_socket_file_is_replaced_and_a_live_one_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.sock");
        let first = bind_listener(&path, 0o600).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(bind_listener(&path, 0o600).unwrap_err().kind(), io::ErrorKind::AddrInUse);
        drop(first);
        let _second = bind_listener(&path, 0o660).unwrap();
        let plain = dir.path().join("file");
        std::fs::write(&plain, b"x").unwrap();
        assert!(bind_listener(&plain, 0o600).is_err());
    }
}
