//! The Unix-socket backend: one connection to `peerdrtd` is one open of the device.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex};
use std::thread;

use peerdrt_abi::frame::{
    MAX_INPUT_LEN, MAX_OUTPUT_CAPACITY, REQUEST_HEADER_LEN, RESPONSE_HEADER_LEN, RequestHeader,
    ResponseHeader,
};

use super::{PendingIoctl, Reply};
use crate::event::lock;

type Waiter = SyncSender<io::Result<Reply>>;

#[derive(Debug, Default)]
struct Table {
    waiting: HashMap<u64, Waiter>,
    closed: bool,
}

/// A connection: the writer half, the table of requests in flight, and the reader thread
/// (which owns its own clone of the socket and exits when the connection closes).
#[derive(Debug)]
pub(super) struct Connection {
    writer: Mutex<UnixStream>,
    table: Arc<Mutex<Table>>,
    next_id: AtomicU64,
    closed: AtomicBool,
}

impl Connection {
    pub(super) fn connect(path: &Path) -> io::Result<Arc<Self>> {
        let stream = UnixStream::connect(path)?;
        let reader = stream.try_clone()?;
        let table = Arc::new(Mutex::new(Table::default()));
        let t = table.clone();
        thread::Builder::new().name("peerdrt-device-reader".into()).spawn(move || read_loop(reader, t))?;
        Ok(Arc::new(Self {
            writer: Mutex::new(stream),
            table,
            next_id: AtomicU64::new(1),
            closed: AtomicBool::new(false),
        }))
    }

    pub(super) fn submit(&self, code: u32, input: &[u8], output_capacity: usize) -> io::Result<PendingIoctl> {
        if input.len() > MAX_INPUT_LEN || output_capacity > MAX_OUTPUT_CAPACITY {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "IOCTL buffer over the frame limits"));
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, pending) = PendingIoctl::channel();
        {
            let mut t = lock(&self.table);
            if t.closed {
                return Err(io::Error::new(
                    io::ErrorKind::NotConnected,
                    "the peerdrt device connection is closed",
                ));
            }
            t.waiting.insert(id, tx);
        }
        let header = RequestHeader { input_len: input.len(), request_id: id, code, output_capacity }.encode();
        let mut frame = Vec::with_capacity(REQUEST_HEADER_LEN + input.len());
        frame.extend_from_slice(&header);
        frame.extend_from_slice(input);
        let written = lock(&self.writer).write_all(&frame);
        if let Err(e) = written {
            lock(&self.table).waiting.remove(&id);
            return Err(e);
        }
        Ok(pending)
    }

    pub(super) fn close(&self) {
        if !self.closed.swap(true, Ordering::SeqCst) {
            // The reader sees end-of-file, fails every request in flight and exits; the daemon
            // sees the connection go and cleans up the open.
            let _ = lock(&self.writer).shutdown(Shutdown::Both);
        }
    }

    pub(super) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst) || lock(&self.table).closed
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.close();
    }
}

fn read_loop(mut stream: UnixStream, table: Arc<Mutex<Table>>) {
    let _ = read_frames(&mut stream, &table);
    let waiting = {
        let mut t = lock(&table);
        t.closed = true;
        std::mem::take(&mut t.waiting)
    };
    // Dropping the senders fails the waiters with "connection closed".
    drop(waiting);
    let _ = stream.shutdown(Shutdown::Both);
}

fn read_frames(stream: &mut UnixStream, table: &Mutex<Table>) -> io::Result<()> {
    loop {
        let mut header = [0u8; RESPONSE_HEADER_LEN];
        stream.read_exact(&mut header)?;
        let h = ResponseHeader::decode(&header)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("bad response frame: {e}")))?;
        let mut output = vec![0u8; h.information];
        stream.read_exact(&mut output)?;
        let waiter = lock(table).waiting.remove(&h.request_id);
        if let Some(w) = waiter {
            let _ = w.send(Ok(Reply { status: h.status, output }));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::net::UnixListener;
    use std::time::Duration;

    use super::*;
    use crate::device::Device;

    fn read_request(s: &mut UnixStream) -> (RequestHeader, Vec<u8>) {
        let mut h = [0u8; REQUEST_HEADER_LEN];
        s.read_exact(&mut h).unwrap();
        let h = RequestHeader::decode(&h).unwrap();
        let mut input = vec![0u8; h.input_len];
        s.read_exact(&mut input).unwrap();
        (h, input)
    }

    fn reply(s: &mut UnixStream, id: u64, status: u32, output: &[u8]) {
        let h = ResponseHeader { request_id: id, status, information: output.len() };
        s.write_all(&h.encode()).unwrap();
        s.write_all(output).unwrap();
    }

    #[test]
    fn responses_are_matched_by_id_and_a_pending_wait_blocks_nothing() {
        let dir = std::env::temp_dir().join(format!("peerdrt-shim-unit-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("device.sock");
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).unwrap();
        let server = thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            // A "wait for event" first, then an ordinary request: the second is answered first.
            let (wait, _) = read_request(&mut s);
            let (query, input) = read_request(&mut s);
            assert_eq!((wait.code, query.code, input.as_slice()), (7, 9, &b"in"[..]));
            assert_eq!(wait.output_capacity, 100);
            reply(&mut s, query.request_id, 0xC000_0008, b"");
            thread::sleep(Duration::from_millis(50));
            reply(&mut s, wait.request_id, 0, b"event");
            // Then one that never gets an answer: the connection closes under it.
            let _ = read_request(&mut s);
        });
        let dev = Device::connect(&path).unwrap();
        let wait = dev.submit(7, b"", 100).unwrap();
        assert!(wait.wait_timeout(Duration::from_millis(10)).unwrap().is_none(), "still pending");
        assert_eq!(dev.ioctl(9, b"in", 0).unwrap(), (0xC000_0008, Vec::new()));
        assert_eq!(wait.wait().unwrap(), Reply { status: 0, output: b"event".to_vec() });
        let orphan = dev.submit(1, b"", 0).unwrap();
        server.join().unwrap();
        assert_eq!(orphan.wait().unwrap_err().kind(), io::ErrorKind::ConnectionAborted);
        assert!(dev.is_closed());
        assert!(dev.submit(1, b"", 0).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
