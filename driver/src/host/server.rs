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

/// How the device serves each connection. The daemon runs the defaults, which are the limits
/// above; a test sets smaller ones to reach an edge without waiting 30 seconds for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ServerSettings {
    /// Requests of one connection in flight at once ([`MAX_IN_FLIGHT_PER_CONNECTION`]).
    pub max_in_flight: usize,
    /// How long writing an answer may block before the connection is dropped ([`WRITE_TIMEOUT`]).
    pub write_timeout: Duration,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self { max_in_flight: MAX_IN_FLIGHT_PER_CONNECTION, write_timeout: WRITE_TIMEOUT }
    }
}

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

#[derive(Debug)]
struct CreditState {
    /// Requests that may still be submitted before an answer is written.
    available: usize,
    /// The connection is closing: nothing more is submitted.
    closing: bool,
    /// Readers waiting for a credit (at most the connection's one).
    waiting: usize,
}

/// Answers a connection may still have outstanding.
#[derive(Debug)]
struct Credits {
    state: Mutex<CreditState>,
    changed: Condvar,
}

impl Credits {
    fn new(n: usize) -> Self {
        Self {
            state: Mutex::new(CreditState { available: n, closing: false, waiting: 0 }),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CreditState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes one, waiting for it; false once the connection is closing.
    fn acquire(&self) -> bool {
        let mut s = self.lock();
        loop {
            if s.closing {
                return false;
            }
            if s.available > 0 {
                s.available -= 1;
                return true;
            }
            s.waiting += 1;
            s = self.changed.wait(s).unwrap_or_else(PoisonError::into_inner);
            s.waiting -= 1;
        }
    }

    fn release(&self) {
        self.lock().available += 1;
        self.changed.notify_all();
    }

    fn close(&self) {
        self.lock().closing = true;
        self.changed.notify_all();
    }

    /// Whether the connection's reader waits for a credit.
    #[cfg(test)]
    fn holds_back_a_reader(&self) -> bool {
        self.lock().waiting > 0
    }
}

/// Accepts connections until `stopping`; each gets its reader and writer threads.
pub(crate) fn accept_loop(
    listener: UnixListener,
    queue: Arc<WorkQueue>,
    stopping: Arc<AtomicBool>,
    settings: ServerSettings,
) {
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
                let credits = Arc::new(Credits::new(settings.max_in_flight));
                serve(conn, stream, &queue, credits, settings.write_timeout);
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

/// Serves one connection: `credits` bound its requests in flight, and an answer whose write
/// blocks for `write_timeout` drops it.
fn serve(
    conn: ConnId,
    stream: UnixStream,
    queue: &WorkQueue,
    credits: Arc<Credits>,
    write_timeout: Duration,
) {
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
    let writer = std::thread::Builder::new().name(format!("peerdrt-conn-{conn}-w")).spawn({
        let credits = credits.clone();
        move || write_loop(writer_stream, answers, &credits, write_timeout)
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

fn write_loop(
    mut stream: UnixStream,
    answers: Receiver<Outbound>,
    credits: &Credits,
    write_timeout: Duration,
) {
    let _ = stream.set_write_timeout(Some(write_timeout));
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
    use crate::host::queue::Batch;
    use peerdrt_abi::frame::RESPONSE_HEADER_LEN;
    use std::time::Instant as StdInstant;

    /// Serves `stream` as connection `conn` on a thread, as the accept loop does.
    fn spawn_serve(
        conn: ConnId,
        stream: UnixStream,
        queue: &Arc<WorkQueue>,
        credits: &Arc<Credits>,
        write_timeout: Duration,
    ) -> std::thread::JoinHandle<()> {
        let (queue, credits) = (queue.clone(), credits.clone());
        std::thread::spawn(move || serve(conn, stream, &queue, credits, write_timeout))
    }

    /// The commands queued for the worker: waiting for some, or (with a deadline) until then.
    fn take(queue: &WorkQueue, deadline: Option<StdInstant>) -> Vec<Command> {
        let mut batch = Batch::default();
        queue.take(deadline, &mut batch);
        batch.commands.drain(..).collect()
    }

    /// Plays the worker for a new connection: grants its open; its answers' channel.
    fn grant_open(queue: &WorkQueue) -> mpsc::Sender<Outbound> {
        match take(queue, None).pop() {
            Some(Command::Connect { outbound, reply, .. }) => {
                reply.send(true).unwrap();
                outbound
            }
            other => panic!("expected a Connect, got {other:?}"),
        }
    }

    /// The request ids of queued IOCTLs of `conn` (anything else queued fails the test).
    fn ioctl_ids(commands: Vec<Command>, of: ConnId) -> Vec<u64> {
        commands
            .into_iter()
            .map(|c| match c {
                Command::Ioctl { conn, request_id, .. } if conn == of => request_id,
                other => panic!("expected an IOCTL of connection {of}, got {other:?}"),
            })
            .collect()
    }

    fn request(request_id: u64) -> [u8; REQUEST_HEADER_LEN] {
        RequestHeader { input_len: 0, request_id, code: 0x22_0004, output_capacity: MAX_OUTPUT_CAPACITY }
            .encode()
    }

    /// Reads one response frame; its header.
    fn read_answer(client: &mut UnixStream) -> ResponseHeader {
        let mut header = [0u8; RESPONSE_HEADER_LEN];
        client.read_exact(&mut header).unwrap();
        let header = ResponseHeader::decode(&header).unwrap();
        let mut output = vec![0u8; header.information];
        client.read_exact(&mut output).unwrap();
        header
    }

    #[test]
    fn the_daemon_serves_each_connection_with_the_named_limits() {
        assert_eq!(
            ServerSettings::default(),
            ServerSettings { max_in_flight: MAX_IN_FLIGHT_PER_CONNECTION, write_timeout: WRITE_TIMEOUT }
        );
        assert_eq!((MAX_IN_FLIGHT_PER_CONNECTION, WRITE_TIMEOUT), (32, Duration::from_secs(30)));
    }

    #[test]
    fn a_connection_has_max_in_flight_requests_submitted_and_the_next_is_held_until_one_is_answered() {
        let queue = Arc::new(WorkQueue::default());
        let (mut client, end) = UnixStream::pair().unwrap();
        let credits = Arc::new(Credits::new(MAX_IN_FLIGHT_PER_CONNECTION));
        let server = spawn_serve(7, end, &queue, &credits, WRITE_TIMEOUT);
        let outbound = grant_open(&queue);
        let edge = MAX_IN_FLIGHT_PER_CONNECTION as u64;
        // None answered: the first MAX_IN_FLIGHT_PER_CONNECTION go to the worker, the next one
        // is read and held back (not refused: nothing is answered for it).
        for id in 0..=edge {
            client.write_all(&request(id)).unwrap();
        }
        let mut submitted = Vec::new();
        while !credits.holds_back_a_reader() {
            submitted.extend(ioctl_ids(take(&queue, Some(StdInstant::now())), 7));
            assert!(submitted.len() as u64 <= edge, "request {edge} was submitted with none answered");
            std::thread::yield_now();
        }
        submitted.extend(ioctl_ids(take(&queue, Some(StdInstant::now())), 7));
        assert_eq!(submitted, (0..edge).collect::<Vec<_>>());
        // One answer written makes room for exactly the held-back request.
        outbound.send(Outbound::Frame(response_frame(3, status::SUCCESS, &[1, 2]))).unwrap();
        assert_eq!(read_answer(&mut client).request_id, 3);
        assert_eq!(ioctl_ids(take(&queue, None), 7), [edge]);
        // The connection goes on: its answers all arrive, and it closes cleanly.
        for id in (0..=edge).filter(|&id| id != 3) {
            outbound.send(Outbound::Frame(response_frame(id, status::SUCCESS, &[]))).unwrap();
            assert_eq!(read_answer(&mut client).request_id, id);
        }
        drop(client);
        assert!(matches!(take(&queue, None)[..], [Command::Disconnect { conn: 7 }]));
        drop(outbound);
        server.join().unwrap();
    }

    #[test]
    fn a_client_that_stops_reading_is_dropped_after_the_write_timeout_and_others_are_still_served() {
        let write_timeout = Duration::from_millis(200);
        let queue = Arc::new(WorkQueue::default());
        let in_flight = MAX_IN_FLIGHT_PER_CONNECTION;
        let (mut silent, end) = UnixStream::pair().unwrap();
        let silent_server = spawn_serve(1, end, &queue, &Arc::new(Credits::new(in_flight)), write_timeout);
        let silent_out = grant_open(&queue);
        let (mut other, end) = UnixStream::pair().unwrap();
        let other_server = spawn_serve(2, end, &queue, &Arc::new(Credits::new(in_flight)), write_timeout);
        let other_out = grant_open(&queue);

        // The silent client sends its requests and reads nothing: their answers (64 KiB each,
        // far more than a socket buffer holds) block its writer.
        for id in 0..in_flight as u64 {
            silent.write_all(&request(id)).unwrap();
        }
        let mut ids = Vec::new();
        while ids.len() < in_flight {
            ids.extend(ioctl_ids(take(&queue, None), 1));
        }
        let answered = StdInstant::now();
        for id in ids {
            let big = response_frame(id, status::SUCCESS, &[0x5A; MAX_OUTPUT_CAPACITY]);
            silent_out.send(Outbound::Frame(big)).unwrap();
        }
        // Meanwhile and after, the other client is served.
        other.write_all(&request(100)).unwrap();
        let (mut other_answered, mut dropped) = (false, None);
        let dropped_after = loop {
            for command in take(&queue, None) {
                match command {
                    Command::Ioctl { conn: 2, request_id: 100, .. } => {
                        other_out.send(Outbound::Frame(response_frame(100, status::SUCCESS, &[]))).unwrap();
                        assert_eq!(read_answer(&mut other).request_id, 100);
                        other_answered = true;
                    }
                    Command::Disconnect { conn: 1 } => dropped = Some(answered.elapsed()),
                    other => panic!("unexpected {other:?}"),
                }
            }
            if let Some(after) = dropped {
                break after;
            }
        };
        silent_server.join().unwrap();
        assert!(dropped_after >= write_timeout, "dropped after {dropped_after:?}");
        // The silent client finds its connection closed, with only part of its answers.
        let mut received = Vec::new();
        silent.read_to_end(&mut received).unwrap();
        assert!(received.len() < in_flight * (RESPONSE_HEADER_LEN + MAX_OUTPUT_CAPACITY));
        // The other client is served on.
        if !other_answered {
            let commands = take(&queue, None);
            assert_eq!(ioctl_ids(commands, 2), [100]);
            other_out.send(Outbound::Frame(response_frame(100, status::SUCCESS, &[]))).unwrap();
            assert_eq!(read_answer(&mut other).request_id, 100);
        }
        other.write_all(&request(101)).unwrap();
        assert_eq!(ioctl_ids(take(&queue, None), 2), [101]);
        other_out.send(Outbound::Frame(response_frame(101, status::SUCCESS, &[]))).unwrap();
        assert_eq!(read_answer(&mut other).request_id, 101);
        drop((other, other_out, silent_out));
        other_server.join().unwrap();
    }

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
