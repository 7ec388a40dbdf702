//! The client proper (Windows only).

use std::ffi::c_void;
use std::net::{Ipv6Addr, SocketAddr};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use peerdrt_abi::group::{
    GROUP_CREATE, GROUP_ENUM_RECORDS, GROUP_GET_RECORD, GROUP_GET_STATUS, GroupRequest, GroupResponse,
    MAX_DATA_LEN, MAX_ENUM_PAGE, MAX_RECORD_LEN, RecordFields,
};
use peerdrt_abi::status::{self, hresult};
use peerdrt_abi::{
    EndpointRecord, EventRecord, Handle, KEY_LEN, MAX_EVENT_LEN, OpenInstance, Request, Response,
    SecurityKind, StartSearch, WIN32_DEVICE_PATH, encode_endpoints, ioctl,
};

type HANDLE = *mut c_void;
type BOOL = i32;

const GENERIC_READ: u32 = 0x8000_0000;
const GENERIC_WRITE: u32 = 0x4000_0000;
const OPEN_EXISTING: u32 = 3;
const FILE_FLAG_OVERLAPPED: u32 = 0x4000_0000;
const INVALID_HANDLE_VALUE: HANDLE = -1isize as HANDLE;
const ERROR_IO_PENDING: u32 = 997;
const WAIT_OBJECT_0: u32 = 0;
const WAIT_TIMEOUT: u32 = 258;

#[repr(C)]
struct OVERLAPPED {
    internal: usize,
    internal_high: usize,
    offset: u32,
    offset_high: u32,
    event: HANDLE,
}

#[link(name = "kernel32")]
unsafe extern "system" {
    fn CreateFileW(
        name: *const u16,
        access: u32,
        share: u32,
        security: *mut c_void,
        disposition: u32,
        flags: u32,
        template: HANDLE,
    ) -> HANDLE;
    fn DeviceIoControl(
        device: HANDLE,
        code: u32,
        input: *const c_void,
        input_len: u32,
        output: *mut c_void,
        output_len: u32,
        returned: *mut u32,
        overlapped: *mut OVERLAPPED,
    ) -> BOOL;
    fn GetOverlappedResult(
        file: HANDLE,
        overlapped: *mut OVERLAPPED,
        transferred: *mut u32,
        wait: BOOL,
    ) -> BOOL;
    fn CreateEventW(security: *mut c_void, manual: BOOL, initial: BOOL, name: *const u16) -> HANDLE;
    fn WaitForSingleObject(handle: HANDLE, millis: u32) -> u32;
    fn CancelIoEx(file: HANDLE, overlapped: *mut OVERLAPPED) -> BOOL;
    fn CloseHandle(handle: HANDLE) -> BOOL;
    fn GetLastError() -> u32;
}

/// A failure: printed as `FAIL: ...`.
type Fail = String;

/// The sentinel put in `OVERLAPPED.Internal` to see whether the I/O manager wrote a status.
const UNWRITTEN: usize = 0xDEAD_0000;

/// One open of the device.
struct Device(HANDLE);

/// A request in flight.
struct Pending {
    overlapped: Box<OVERLAPPED>,
    output: Vec<u8>,
    /// The Win32 error of a request that failed without pending.
    failed: Option<u32>,
}

/// A completed request: NTSTATUS (from OVERLAPPED.Internal, or the Win32 error if the I/O manager
/// wrote none) and the output.
#[derive(Debug)]
struct Reply {
    status: u32,
    win32: u32,
    output: Vec<u8>,
}

impl Device {
    fn open() -> Result<Self, Fail> {
        let path: Vec<u16> = WIN32_DEVICE_PATH.encode_utf16().chain([0]).collect();
        // SAFETY: a NUL-terminated path; no security attributes or template.
        let h = unsafe {
            CreateFileW(
                path.as_ptr(),
                GENERIC_READ | GENERIC_WRITE,
                0,
                std::ptr::null_mut(),
                OPEN_EXISTING,
                FILE_FLAG_OVERLAPPED,
                std::ptr::null_mut(),
            )
        };
        if h == INVALID_HANDLE_VALUE {
            // SAFETY: plain call.
            return Err(format!("CreateFileW({WIN32_DEVICE_PATH}) failed: Win32 error {}", unsafe {
                GetLastError()
            }));
        }
        Ok(Self(h))
    }

    /// Starts a request; it may complete at once.
    fn start(&self, code: u32, input: &[u8], capacity: usize) -> Result<Pending, Fail> {
        // SAFETY: plain call; a manual-reset event.
        let event = unsafe { CreateEventW(std::ptr::null_mut(), 1, 0, std::ptr::null()) };
        if event.is_null() {
            return Err("CreateEventW failed".into());
        }
        let mut p = Pending {
            overlapped: Box::new(OVERLAPPED {
                internal: UNWRITTEN,
                internal_high: 0,
                offset: 0,
                offset_high: 0,
                event,
            }),
            output: vec![0; capacity],
            failed: None,
        };
        let mut returned = 0u32;
        // SAFETY: the buffers and the OVERLAPPED live in `p` until the request completes.
        let ok = unsafe {
            DeviceIoControl(
                self.0,
                code,
                input.as_ptr().cast(),
                input.len() as u32,
                p.output.as_mut_ptr().cast(),
                capacity as u32,
                &mut returned,
                &mut *p.overlapped,
            )
        };
        // SAFETY: plain call.
        let error = if ok != 0 { 0 } else { unsafe { GetLastError() } };
        if ok == 0 && error != ERROR_IO_PENDING {
            // Failed before pending: no completion will signal the event. The NTSTATUS is in
            // OVERLAPPED.Internal only if the I/O manager wrote it.
            p.failed = Some(error);
        }
        Ok(p)
    }

    /// Waits up to `timeout` for `p`; on timeout cancels it and reports the cancellation.
    fn finish(&self, mut p: Pending, timeout: Duration) -> Result<Reply, Fail> {
        if let Some(win32) = p.failed {
            let written = p.overlapped.internal;
            // SAFETY: our event.
            unsafe { CloseHandle(p.overlapped.event) };
            let status = if written != UNWRITTEN && written as u32 != status::PENDING {
                written as u32
            } else {
                0xFFFF_0000 | win32
            };
            return Ok(Reply { status, win32, output: Vec::new() });
        }
        // SAFETY: the event is ours.
        let w = unsafe {
            WaitForSingleObject(p.overlapped.event, timeout.as_millis().min(u32::MAX as u128) as u32)
        };
        if w == WAIT_TIMEOUT {
            // SAFETY: cancels this one request.
            unsafe { CancelIoEx(self.0, &mut *p.overlapped) };
        } else if w != WAIT_OBJECT_0 {
            return Err(format!("WaitForSingleObject returned {w}"));
        }
        let mut transferred = 0u32;
        // SAFETY: waits for the (possibly cancelled) request to complete.
        let ok = unsafe { GetOverlappedResult(self.0, &mut *p.overlapped, &mut transferred, 1) };
        // SAFETY: plain calls.
        let win32 = if ok != 0 { 0 } else { unsafe { GetLastError() } };
        unsafe { CloseHandle(p.overlapped.event) };
        let status = if p.overlapped.internal == UNWRITTEN {
            0xFFFF_0000 | win32
        } else {
            p.overlapped.internal as u32
        };
        let n = (p.overlapped.internal_high).min(p.output.len());
        p.output.truncate(n);
        Ok(Reply { status, win32, output: p.output })
    }

    fn call(&self, request: &Request<'_>, capacity: usize) -> Result<Reply, Fail> {
        // Room for the largest request (a record of MAX_RECORD_SIZE bytes).
        let mut input = vec![0u8; 64 * 1024];
        let n = request.encode(&mut input).map_err(|e| format!("encode {request:?}: {e:?}"))?;
        let p = self.start(request.code(), &input[..n], capacity)?;
        self.finish(p, Duration::from_secs(10))
    }

    fn expect(&self, request: &Request<'_>, capacity: usize) -> Result<Vec<u8>, Fail> {
        let reply = self.call(request, capacity)?;
        if reply.status != status::SUCCESS {
            return Err(format!(
                "{:?} failed: status {:#010x} (Win32 {})",
                request_name(request),
                reply.status,
                reply.win32
            ));
        }
        Ok(reply.output)
    }

    fn open_instance(&self, port: u16, seeds: &[EndpointRecord]) -> Result<(Handle, u16), Fail> {
        let mut seed_buf = [0u8; 16 * 18];
        let seeds = encode_endpoints(seeds, &mut seed_buf).map_err(|e| format!("seeds: {e:?}"))?;
        let request = Request::OpenInstance(OpenInstance {
            version_major: 6,
            version_minor: 101,
            port,
            scope: 1,
            scope_id: 0,
            max_addresses: 4,
            security_mode: 0,
            security: SecurityKind::Null,
            root: None,
            identity: None,
            seeds,
        });
        let out = self.expect(&request, 64)?;
        match Response::decode(ioctl::OPEN_INSTANCE, &out) {
            Ok(Response::Instance { instance, port }) => Ok((instance, port)),
            other => Err(format!("OPEN_INSTANCE reply {other:?}")),
        }
    }

    fn register(&self, instance: Handle, key: &[u8; KEY_LEN], app_data: &[u8]) -> Result<Handle, Fail> {
        let out = self.expect(&Request::RegisterKey { instance, key, app_data, credential: None }, 64)?;
        match Response::decode(ioctl::REGISTER_KEY, &out) {
            Ok(Response::Registration { registration }) => Ok(registration),
            other => Err(format!("REGISTER_KEY reply {other:?}")),
        }
    }

    fn search(
        &self,
        instance: Handle,
        key: &[u8; KEY_LEN],
        allow_self: bool,
        timeout_ms: u32,
    ) -> Result<Handle, Fail> {
        let request = Request::StartSearch(StartSearch {
            instance,
            key,
            iterative: false,
            allow_current_instance_match: allow_self,
            any_match_in_range: false,
            max_endpoints: 1,
            range: None,
            timeout_ms,
        });
        let out = self.expect(&request, 64)?;
        match Response::decode(ioctl::START_SEARCH, &out) {
            Ok(Response::Search { search }) => Ok(search),
            other => Err(format!("START_SEARCH reply {other:?}")),
        }
    }

    fn end_search(&self, search: Handle) -> Result<(), Fail> {
        self.expect(&Request::EndSearch { search }, 0).map(drop)
    }

    /// The next event, or None if none came within `timeout`.
    fn next_event(&self, timeout: Duration) -> Result<Option<Vec<u8>>, Fail> {
        let p = self.start(ioctl::WAIT_EVENT, &[1, 0, 0, 0], MAX_EVENT_LEN)?;
        let reply = self.finish(p, timeout)?;
        match reply.status {
            status::SUCCESS => Ok(Some(reply.output)),
            status::CANCELLED => Ok(None),
            s => Err(format!("WAIT_EVENT failed: status {s:#010x} (Win32 {})", reply.win32)),
        }
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        // SAFETY: our handle.
        unsafe { CloseHandle(self.0) };
    }
}

fn request_name(r: &Request<'_>) -> &'static str {
    match r {
        Request::OpenInstance(_) => "OPEN_INSTANCE",
        Request::CloseInstance { .. } => "CLOSE_INSTANCE",
        Request::RegisterKey { .. } => "REGISTER_KEY",
        Request::UpdateKey { .. } => "UPDATE_KEY",
        Request::UnregisterKey { .. } => "UNREGISTER_KEY",
        Request::StartSearch(_) => "START_SEARCH",
        Request::ContinueSearch { .. } => "CONTINUE_SEARCH",
        Request::EndSearch { .. } => "END_SEARCH",
        Request::GetSearchPath { .. } => "GET_SEARCH_PATH",
        Request::WaitEvent => "WAIT_EVENT",
        Request::QueryInstance { .. } => "QUERY_INSTANCE",
        Request::AttachCloud { .. } => "ATTACH_CLOUD",
        Request::DetachCloud { .. } => "DETACH_CLOUD",
        Request::EnumClouds => "ENUM_CLOUDS",
        Request::Group { request: peerdrt_abi::group::GroupRequest::WatchEvents { .. }, .. } => {
            "GROUP_WATCH_EVENTS"
        }
        Request::Group { request: peerdrt_abi::group::GroupRequest::EnumMembers { .. }, .. } => {
            "GROUP_ENUM_MEMBERS"
        }
        Request::Group { .. } => "GROUP",
    }
}

fn hex(key: &[u8]) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_key(s: &str) -> Result<[u8; KEY_LEN], Fail> {
    if s.len() != 2 * KEY_LEN || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("a key is {} hex digits: {s}", 2 * KEY_LEN));
    }
    let mut key = [0u8; KEY_LEN];
    for (i, k) in key.iter_mut().enumerate() {
        *k = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|e| e.to_string())?;
    }
    Ok(key)
}

fn endpoint(addr: SocketAddr) -> EndpointRecord {
    let v6 = match addr {
        SocketAddr::V4(a) => a.ip().to_ipv6_mapped(),
        SocketAddr::V6(a) => *a.ip(),
    };
    EndpointRecord { addr: v6.octets(), port: addr.port() }
}

fn show(e: &EndpointRecord) -> String {
    let a = Ipv6Addr::from(e.addr);
    match a.to_ipv4_mapped() {
        Some(v4) => format!("{v4}:{}", e.port),
        None => format!("[{a}]:{}", e.port),
    }
}

fn ok(what: impl std::fmt::Display) {
    println!("ok: {what}");
}

/// Waits for a search result with `key` on `search`; Ok(None) if the search ended or timed out.
fn await_result(
    dev: &Device,
    search: Handle,
    key: &[u8; KEY_LEN],
    deadline: Instant,
) -> Result<Option<(u32, EndpointRecord, Vec<u8>)>, Fail> {
    while Instant::now() < deadline {
        let Some(bytes) = dev.next_event(deadline.saturating_duration_since(Instant::now()))? else { break };
        match EventRecord::decode(&bytes).map_err(|e| format!("event: {e:?}"))? {
            EventRecord::SearchResult { search: s, match_type, key: k, endpoint, app_data, .. }
                if s == search && k == key =>
            {
                return Ok(Some((match_type, endpoint, app_data.to_vec())));
            }
            EventRecord::SearchEnded { search: s, hresult: hr, .. } if s == search => {
                if hr != hresult::DRT_E_NO_MORE && hr != hresult::DRT_E_TIMEOUT {
                    return Err(format!("search ended with {hr:#010x}"));
                }
                return Ok(None);
            }
            _ => {}
        }
    }
    Ok(None)
}

fn smoke() -> Result<(), Fail> {
    let dev = Device::open()?;
    ok(format!("opened {WIN32_DEVICE_PATH}"));

    // An unknown control code: STATUS_INVALID_DEVICE_REQUEST, bit-exact in OVERLAPPED.Internal
    // (the driver pends its failures so the I/O manager writes it), Win32 ERROR_INVALID_FUNCTION.
    let p =
        dev.start(peerdrt_abi::ctl_code(peerdrt_abi::FILE_DEVICE_NETWORK, 0xFFF, 0, 0), &[1, 0, 0, 0], 16)?;
    let r = dev.finish(p, Duration::from_secs(10))?;
    if r.status != status::INVALID_DEVICE_REQUEST || r.win32 != 1 {
        return Err(format!("unknown IOCTL: status {:#010x}, Win32 {}", r.status, r.win32));
    }
    ok(format!("unknown IOCTL refused (status {:#010x}, Win32 {})", r.status, r.win32));

    // A malformed request: refused with the ABI's status, nothing created.
    let p = dev.start(ioctl::OPEN_INSTANCE, &[9, 9], 64)?;
    let r = dev.finish(p, Duration::from_secs(10))?;
    if r.status >> 30 != 3 || r.status >> 16 == 0xFFFF {
        return Err(format!("malformed OPEN_INSTANCE: status {:#010x}, Win32 {}", r.status, r.win32));
    }
    ok(format!("malformed OPEN_INSTANCE refused (status {:#010x}, Win32 {})", r.status, r.win32));

    // A DRT error travels as its customer NTSTATUS, bit-exact (DRT_E_INVALID_SCOPE).
    let mut seed_buf = [0u8; 18];
    let bad = Request::OpenInstance(OpenInstance {
        version_major: 6,
        version_minor: 101,
        port: 0,
        scope: 9,
        scope_id: 0,
        max_addresses: 4,
        security_mode: 0,
        security: SecurityKind::Null,
        root: None,
        identity: None,
        seeds: encode_endpoints(&[], &mut seed_buf).map_err(|e| format!("{e:?}"))?,
    });
    let r = dev.call(&bad, 64)?;
    let want = status::from_drt_hresult(hresult::DRT_E_INVALID_SCOPE);
    if r.status != want {
        return Err(format!("scope 9: status {:#010x} (Win32 {}), want {want:#010x}", r.status, r.win32));
    }
    ok(format!("DRT_E_INVALID_SCOPE arrives as {:#010x} (Win32 {})", r.status, r.win32));

    let (instance, port) = dev.open_instance(0, &[])?;
    ok(format!("OPEN_INSTANCE: handle {instance:#018x}, UDP port {port}"));

    let out = dev.expect(&Request::QueryInstance { instance }, 64)?;
    ok(format!("QUERY_INSTANCE: {:?}", Response::decode(ioctl::QUERY_INSTANCE, &out)));

    let mut key = [0u8; KEY_LEN];
    for (i, k) in key.iter_mut().enumerate() {
        *k = (i as u8).wrapping_mul(37).wrapping_add(0x5a);
    }
    let registration = dev.register(instance, &key, b"wine smoke")?;
    ok(format!("REGISTER_KEY {}: handle {registration:#018x}", hex(&key)));

    let search = dev.search(instance, &key, true, 5000)?;
    ok(format!("START_SEARCH: handle {search:#018x}"));
    match await_result(&dev, search, &key, Instant::now() + Duration::from_secs(15))? {
        Some((match_type, endpoint, app_data)) => ok(format!(
            "WAIT_EVENT: search result, match type {match_type}, endpoint {}, app data {:?}",
            show(&endpoint),
            String::from_utf8_lossy(&app_data)
        )),
        None => return Err("the local search found nothing".into()),
    }
    dev.end_search(search)?;

    // A wait that pends, then is cancelled: CancelIoEx reaches the driver's cancel routine.
    let p = dev.start(ioctl::WAIT_EVENT, &[1, 0, 0, 0], MAX_EVENT_LEN)?;
    std::thread::sleep(Duration::from_millis(200));
    // Drain any events that were queued first; the last one pends.
    let mut r = dev.finish(p, Duration::from_millis(500))?;
    let mut drained = 0;
    while r.status == status::SUCCESS && drained < 64 {
        drained += 1;
        let p = dev.start(ioctl::WAIT_EVENT, &[1, 0, 0, 0], MAX_EVENT_LEN)?;
        r = dev.finish(p, Duration::from_millis(500))?;
    }
    if r.status != status::CANCELLED {
        return Err(format!("a cancelled WAIT_EVENT completed with {:#010x} (Win32 {})", r.status, r.win32));
    }
    ok(format!(
        "pending WAIT_EVENT cancelled by CancelIoEx (status {:#010x}, {drained} queued events first)",
        r.status
    ));

    // Two waits pending when the handle closes: IRP_MJ_CLEANUP completes them as cancelled.
    let second = Device::open()?;
    second.open_instance(0, &[])?;
    // The new instance's first events (its status) come first; then the waits pend.
    while second.next_event(Duration::from_millis(300))?.is_some() {}
    let w1 = second.start(ioctl::WAIT_EVENT, &[1, 0, 0, 0], MAX_EVENT_LEN)?;
    let w2 = second.start(ioctl::WAIT_EVENT, &[1, 0, 0, 0], MAX_EVENT_LEN)?;
    std::thread::sleep(Duration::from_millis(200));
    drop(second);
    let mut statuses = Vec::new();
    for w in [w1, w2] {
        // SAFETY: the request's own event; the OVERLAPPED lives in `w`.
        let r = unsafe { WaitForSingleObject(w.overlapped.event, 10_000) };
        if r != WAIT_OBJECT_0 {
            return Err("a wait pending at close did not complete within 10 s".into());
        }
        statuses.push(w.overlapped.internal as u32);
        // SAFETY: our event.
        unsafe { CloseHandle(w.overlapped.event) };
    }
    let shown: Vec<String> = statuses.iter().map(|s| format!("{s:#010x}")).collect();
    if statuses.iter().any(|s| *s != status::CANCELLED) {
        return Err(format!("waits pending at close completed with {}", shown.join(", ")));
    }
    ok(format!("closing the handle completed its two pending waits as cancelled ({})", shown.join(", ")));

    // Handles belong to their open: another open cannot use this one's instance.
    let third = Device::open()?;
    let r = third.call(&Request::QueryInstance { instance }, 64)?;
    if r.status != status::INVALID_HANDLE {
        return Err(format!("another open's use of the handle: status {:#010x}", r.status));
    }
    ok(format!("another open's use of the handle refused (status {:#010x}, Win32 {})", r.status, r.win32));
    drop(third);

    dev.expect(&Request::UnregisterKey { registration }, 0)?;
    dev.expect(&Request::CloseInstance { instance }, 0)?;
    ok("UNREGISTER_KEY, CLOSE_INSTANCE");
    Ok(())
}

struct CloudArgs {
    port: u16,
    seeds: Vec<EndpointRecord>,
    key: [u8; KEY_LEN],
    find: Vec<[u8; KEY_LEN]>,
    hold: Duration,
    hold_until: Option<std::path::PathBuf>,
    timeout: Duration,
}

fn parse_cloud(args: &[String]) -> Result<CloudArgs, Fail> {
    let mut c = CloudArgs {
        port: 0,
        seeds: Vec::new(),
        key: [0; KEY_LEN],
        find: Vec::new(),
        hold: Duration::from_secs(0),
        hold_until: None,
        timeout: Duration::from_secs(60),
    };
    let mut have_key = false;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--port" => c.port = value.parse().map_err(|e| format!("--port: {e}"))?,
            "--seed" => c.seeds.push(endpoint(value.parse().map_err(|e| format!("--seed: {e}"))?)),
            "--key" => {
                c.key = parse_key(value)?;
                have_key = true;
            }
            "--find" => {
                for k in value.split(',').filter(|s| !s.is_empty()) {
                    c.find.push(parse_key(k)?);
                }
            }
            "--hold" => c.hold = Duration::from_secs(value.parse().map_err(|e| format!("--hold: {e}"))?),
            "--hold-until" => c.hold_until = Some(value.into()),
            "--timeout" => {
                c.timeout = Duration::from_secs(value.parse().map_err(|e| format!("--timeout: {e}"))?)
            }
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if !have_key {
        return Err("--key is required".into());
    }
    Ok(c)
}

fn cloud(args: &[String]) -> Result<(), Fail> {
    let c = parse_cloud(args)?;
    let dev = Device::open()?;
    let (instance, port) = dev.open_instance(c.port, &c.seeds)?;
    ok(format!(
        "cloud: instance on UDP port {port}, seeds {:?}",
        c.seeds.iter().map(show).collect::<Vec<_>>()
    ));
    let registration = dev.register(instance, &c.key, b"peerdrt.sys under Wine")?;
    ok(format!("cloud: registered {}", hex(&c.key)));

    find_keys(&dev, instance, &c, "cloud")?;
    let out = dev.expect(&Request::QueryInstance { instance }, 64)?;
    ok(format!("cloud: {:?}", Response::decode(ioctl::QUERY_INSTANCE, &out)));
    hold(&dev, &c, "cloud")?;
    dev.expect(&Request::UnregisterKey { registration }, 0)?;
    dev.expect(&Request::CloseInstance { instance }, 0)?;
    ok("cloud: unregistered and closed");
    Ok(())
}

/// Finds every `c.find` key through `instance` (retrying until `c.timeout`).
fn find_keys(dev: &Device, instance: Handle, c: &CloudArgs, step: &str) -> Result<(), Fail> {
    let deadline = Instant::now() + c.timeout;
    for target in &c.find {
        let mut found = None;
        while found.is_none() && Instant::now() < deadline {
            let search = dev.search(instance, target, false, 3000)?;
            found =
                await_result(dev, search, target, (Instant::now() + Duration::from_secs(5)).min(deadline))?;
            let _ = dev.end_search(search);
            if found.is_none() {
                std::thread::sleep(Duration::from_millis(500));
            }
        }
        match found {
            Some((match_type, endpoint, app_data)) => ok(format!(
                "{step}: found {} at {} (match type {match_type}, app data {:?})",
                hex(target),
                show(&endpoint),
                String::from_utf8_lossy(&app_data)
            )),
            None => return Err(format!("{step}: {} not found within {:?}", hex(target), c.timeout)),
        }
    }
    Ok(())
}

/// Keeps the open (and its registrations) until `c.hold` passes or `c.hold_until` exists.
fn hold(dev: &Device, c: &CloudArgs, step: &str) -> Result<(), Fail> {
    if c.hold.is_zero() {
        return Ok(());
    }
    match &c.hold_until {
        Some(path) => ok(format!(
            "{step}: holding the registration until {} exists (at most {:?})",
            path.display(),
            c.hold
        )),
        None => ok(format!("{step}: holding the registration for {:?}", c.hold)),
    }
    // Keep draining events so the open's queue stays short.
    let until = Instant::now() + c.hold;
    while Instant::now() < until && !c.hold_until.as_ref().is_some_and(|p| p.exists()) {
        let _ =
            dev.next_event(until.saturating_duration_since(Instant::now()).min(Duration::from_millis(250)))?;
    }
    Ok(())
}

/// The driver's own PNRP cloud: ENUM_CLOUDS lists `Global_`, ATTACH_CLOUD reaches it, a key
/// registered through the attachment is held there, and keys Linux nodes registered in their
/// `Global_` clouds are found through it (one cloud across both systems).
fn pnrp(args: &[String]) -> Result<(), Fail> {
    let c = parse_cloud(args)?;
    let dev = Device::open()?;
    let out = dev.expect(&Request::EnumClouds, peerdrt_abi::pnrp::MAX_CLOUDS_REPLY_LEN)?;
    let Ok(Response::Clouds(list)) = Response::decode(peerdrt_abi::pnrp::ENUM_CLOUDS, &out) else {
        return Err("ENUM_CLOUDS: bad reply".into());
    };
    let names: Vec<String> = list.iter().map(|r| r.name.to_string()).collect();
    if !names.iter().any(|n| n == "Global_") {
        return Err(format!("pnrp: ENUM_CLOUDS lists {names:?}, no Global_"));
    }
    ok(format!("pnrp: ENUM_CLOUDS lists {names:?}"));
    let out = dev.expect(&Request::AttachCloud { name: "Global_" }, 64)?;
    let Ok(Response::Instance { instance, port }) = Response::decode(peerdrt_abi::pnrp::ATTACH_CLOUD, &out)
    else {
        return Err("ATTACH_CLOUD: bad reply".into());
    };
    ok(format!("pnrp: attached to Global_ (UDP port {port})"));
    let registration = dev.register(instance, &c.key, b"peerdrt.sys pnrp under Wine")?;
    ok(format!("pnrp: registered {}", hex(&c.key)));
    find_keys(&dev, instance, &c, "pnrp")?;
    hold(&dev, &c, "pnrp")?;
    dev.expect(&Request::UnregisterKey { registration }, 0)?;
    dev.expect(&Request::DetachCloud { attachment: instance }, 0)?;
    ok("pnrp: unregistered and detached");
    Ok(())
}

/// The provider detaches while this open is busy (the lane sets PEERDRT_NETIO_DETACH_AFTER_MS):
/// the open's instance keeps working without a transport, new instances are refused with
/// STATUS_INVALID_DEVICE_STATE, and everything still closes cleanly.
fn provider_detach() -> Result<(), Fail> {
    let dev = Device::open()?;
    let (instance, port) = dev.open_instance(0, &[])?;
    let key = [0x5Du8; KEY_LEN];
    let registration = dev.register(instance, &key, b"busy while the provider detaches")?;
    let search = dev.search(instance, &key, true, 60_000)?;
    let wait = dev.start(ioctl::WAIT_EVENT, &[1, 0, 0, 0], MAX_EVENT_LEN)?;
    ok(format!(
        "detach: busy (instance on UDP {port}, a key, a search, a pending wait); waiting for the provider to go"
    ));
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut probes = 0;
    loop {
        if Instant::now() > deadline {
            return Err("detach: the provider never went away".into());
        }
        std::thread::sleep(Duration::from_millis(250));
        let mut seed_buf = [0u8; 18];
        let probe = Request::OpenInstance(OpenInstance {
            version_major: 6,
            version_minor: 101,
            port: 0,
            scope: 1,
            scope_id: 0,
            max_addresses: 4,
            security_mode: 0,
            security: SecurityKind::Null,
            root: None,
            identity: None,
            seeds: encode_endpoints(&[], &mut seed_buf).map_err(|e| format!("{e:?}"))?,
        });
        let r = dev.call(&probe, 64)?;
        probes += 1;
        match r.status {
            status::SUCCESS => {
                if let Ok(Response::Instance { instance: extra, .. }) =
                    Response::decode(ioctl::OPEN_INSTANCE, &r.output)
                {
                    dev.expect(&Request::CloseInstance { instance: extra }, 0)?;
                }
            }
            status::INVALID_DEVICE_STATE => break,
            s => return Err(format!("detach: OPEN_INSTANCE returned {s:#010x}")),
        }
    }
    ok(format!("detach: after {probes} probes, OPEN_INSTANCE is refused with STATUS_INVALID_DEVICE_STATE"));
    let out = dev.expect(&Request::QueryInstance { instance }, 64)?;
    ok(format!(
        "detach: the busy instance still answers: {:?}",
        Response::decode(ioctl::QUERY_INSTANCE, &out)
    ));
    dev.end_search(search)?;
    dev.expect(&Request::UnregisterKey { registration }, 0)?;
    dev.expect(&Request::CloseInstance { instance }, 0)?;
    drop(dev);
    // The wait pending at close ends as cancelled (or with an event that came first).
    // SAFETY: the request's own event; the OVERLAPPED lives in `wait`.
    let r = unsafe { WaitForSingleObject(wait.overlapped.event, 10_000) };
    if r != WAIT_OBJECT_0 {
        return Err("detach: the pending wait did not complete at close".into());
    }
    ok(format!("detach: closed cleanly (pending wait ended {:#010x})", wait.overlapped.internal as u32));
    Ok(())
}

// ---- group-store: the driver's group logs across restarts ---------------------------------

/// The group's root and creator secrets: fixed, so that every run of the client opens the same
/// group (and the driver the same log).
const STORE_ROOT_SECRET: [u8; 32] = [0x31; 32];
const STORE_MEMBER_SECRET: [u8; 32] = [0x32; 32];
/// The record type of the step's records.
const STORE_RECORD_TYPE: [u8; 16] = [0x51; 16];
/// The byte the largest record's data is made of.
const STORE_MAX_BYTE: u8 = 0x5A;

/// The current time as a FILETIME (what the shim passes as `utc`).
fn filetime_now() -> u64 {
    let unix = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    (unix.as_secs() + 11_644_473_600) * 10_000_000 + u64::from(unix.subsec_nanos()) / 100
}

fn small_payload(n: u32) -> Vec<u8> {
    format!("durable record {n}").into_bytes()
}

fn group(dev: &Device, request: GroupRequest<'_>, capacity: usize) -> Result<Vec<u8>, Fail> {
    dev.expect(&Request::Group { utc: filetime_now(), request }, capacity)
}

/// GROUP_CREATE of the step's group (a fresh group the first time, the same group reopened —
/// replayed from the driver's log — every later time).
fn open_store_group(dev: &Device) -> Result<u64, Fail> {
    let out = group(
        dev,
        GroupRequest::Create {
            root_secret: &STORE_ROOT_SECRET,
            member_secret: &STORE_MEMBER_SECRET,
            lifetime_seconds: 86_400,
        },
        256,
    )?;
    match GroupResponse::decode(GROUP_CREATE, &out) {
        Ok(GroupResponse::Opened { group, .. }) => Ok(group),
        other => Err(format!("GROUP_CREATE reply {other:?}")),
    }
}

fn add_store_record(dev: &Device, group_handle: u64, data: &[u8]) -> Result<(), Fail> {
    let expiration = filetime_now() + 3600 * 10_000_000;
    let record = RecordFields { record_type: STORE_RECORD_TYPE, expiration, flags: 0, attributes: b"", data };
    group(dev, GroupRequest::AddRecord { group: group_handle, record }, 64).map(drop)
}

fn store_record_count(dev: &Device, group_handle: u64) -> Result<u32, Fail> {
    let out = group(dev, GroupRequest::GetStatus { group: group_handle }, 64)?;
    match GroupResponse::decode(GROUP_GET_STATUS, &out) {
        Ok(GroupResponse::Status(s)) => Ok(s.records),
        other => Err(format!("GROUP_GET_STATUS reply {other:?}")),
    }
}

/// Every record of the group, in the core's wire form.
fn store_records(dev: &Device, group_handle: u64) -> Result<Vec<Vec<u8>>, Fail> {
    let mut ids = Vec::new();
    let mut after = [0u8; 16];
    loop {
        let out = group(
            dev,
            GroupRequest::EnumRecords {
                group: group_handle,
                record_type: Some(&STORE_RECORD_TYPE),
                after: &after,
            },
            2 + 16 * MAX_ENUM_PAGE,
        )?;
        let page = match GroupResponse::decode(GROUP_ENUM_RECORDS, &out) {
            Ok(GroupResponse::RecordIds(page)) => page.to_vec(),
            other => return Err(format!("GROUP_ENUM_RECORDS reply {other:?}")),
        };
        for id in page.chunks_exact(16) {
            ids.push(<[u8; 16]>::try_from(id).map_err(|e| e.to_string())?);
        }
        match page.chunks_exact(16).last() {
            Some(last) if page.len() / 16 == MAX_ENUM_PAGE => after.copy_from_slice(last),
            _ => break,
        }
    }
    let mut records = Vec::new();
    for id in &ids {
        let out = group(dev, GroupRequest::GetRecord { group: group_handle, id }, MAX_RECORD_LEN + 64)?;
        match GroupResponse::decode(GROUP_GET_RECORD, &out) {
            Ok(GroupResponse::Record(record)) => records.push(record.to_vec()),
            other => return Err(format!("GROUP_GET_RECORD reply {other:?}")),
        }
    }
    Ok(records)
}

/// Which of the step's payloads a record carries: `Some(n)` for "durable record n", `None` for
/// the largest record; an error for anything else.
fn classify(record: &[u8], smalls: u32) -> Result<Option<u32>, Fail> {
    let contains = |needle: &[u8]| record.windows(needle.len()).any(|w| w == needle);
    // Longest first: "durable record 12" also contains "durable record 1".
    for n in (1..=smalls).rev() {
        if contains(&small_payload(n)) {
            return Ok(Some(n));
        }
    }
    if record.iter().filter(|&&b| b == STORE_MAX_BYTE).count() >= MAX_DATA_LEN {
        return Ok(None);
    }
    Err(format!("a record of {} bytes carries none of the step's payloads", record.len()))
}

/// Checks that the group holds exactly "durable record 1..=smalls" and the largest record.
fn check_store_records(dev: &Device, group_handle: u64, smalls: u32, step: &str) -> Result<(), Fail> {
    let count = store_record_count(dev, group_handle)?;
    let records = store_records(dev, group_handle)?;
    let mut seen = Vec::new();
    let mut largest = 0;
    for record in &records {
        match classify(record, smalls)? {
            Some(n) => seen.push(n),
            None => largest += 1,
        }
    }
    seen.sort_unstable();
    let expected: Vec<u32> = (1..=smalls).collect();
    if count as usize != records.len() || seen != expected || largest != 1 {
        return Err(format!(
            "{step}: the group holds {count} records (listed {}: small {seen:?}, largest {largest}); \
             expected small {expected:?} and one of {MAX_DATA_LEN} bytes",
            records.len()
        ));
    }
    ok(format!(
        "{step}: {} records (durable record 1..={smalls} and one of MAX_RECORD_SIZE = {MAX_DATA_LEN} bytes)",
        records.len()
    ));
    Ok(())
}

/// Another open's requests carrying a UTC centuries ahead (and the epoch) must not move the
/// driver's peer clock: it follows the system time (KeQuerySystemTimePrecise, or
/// KeQuerySystemTime where only that is exported, as in Wine 8), so this group's records, which
/// expire in an hour, are all still there after the driver's timers have run.
fn far_future_caller_leaves_group(dev: &Device, g: u64) -> Result<(), Fail> {
    let other = Device::open()?;
    let centuries_ahead = filetime_now() + 300 * 365 * 86_400 * 10_000_000;
    for utc in [u64::MAX, centuries_ahead, 0] {
        // Its own group, closed and deleted again (its log must not sit beside the step's log).
        let request = GroupRequest::Create {
            root_secret: &[0x41; 32],
            member_secret: &[0x42; 32],
            lifetime_seconds: 86_400,
        };
        let r = other.call(&Request::Group { utc, request }, 256)?;
        if let Ok(GroupResponse::Opened { group: h, certificate, .. }) =
            GroupResponse::decode(GROUP_CREATE, &r.output)
        {
            // A membership certificate begins with the group root's public key.
            let root: [u8; 32] =
                certificate[..32].try_into().map_err(|_| "a short certificate".to_string())?;
            let _ = other.call(&Request::Group { utc, request: GroupRequest::Close { group: h } }, 0);
            group(&other, GroupRequest::Delete { root: &root }, 0)?;
        }
    }
    drop(other);
    // The driver's worker runs group timers at least once a second.
    std::thread::sleep(Duration::from_secs(3));
    check_store_records(dev, g, 1, "group-store: after another open claimed a far-future UTC")
}

/// `group-store write`: a new group with a record and one of MAX_RECORD_SIZE, closed and
/// reopened (PeerGroupClose / PeerGroupOpen: the records come back from the driver's log).
/// `group-store check --records N [--add K]`: after a restart of the driver, the group holds
/// "durable record 1..=N-1" and the largest record; then adds "durable record K".
fn group_store(args: &[String]) -> Result<(), Fail> {
    let dev = Device::open()?;
    match args.first().map(String::as_str) {
        Some("write") => {
            let g = open_store_group(&dev)?;
            if store_record_count(&dev, g)? != 0 {
                return Err("group-store write: the group is not new (a log from an earlier run?)".into());
            }
            add_store_record(&dev, g, &small_payload(1))?;
            add_store_record(&dev, g, &vec![STORE_MAX_BYTE; MAX_DATA_LEN])?;
            ok(format!("group-store: created, added a record and one of {MAX_DATA_LEN} bytes"));
            far_future_caller_leaves_group(&dev, g)?;
            group(&dev, GroupRequest::Close { group: g }, 0)?;
            let g = open_store_group(&dev)?;
            check_store_records(&dev, g, 1, "group-store: closed and reopened")?;
            group(&dev, GroupRequest::Close { group: g }, 0)?;
            Ok(())
        }
        Some("check") => {
            let mut records = None;
            let mut add = None;
            let mut i = 1;
            while i < args.len() {
                let value = args.get(i + 1).ok_or_else(|| format!("{} needs a value", args[i]))?;
                let n: u32 = value.parse().map_err(|_| format!("{}: not a number: {value}", args[i]))?;
                match args[i].as_str() {
                    "--records" => records = Some(n),
                    "--add" => add = Some(n),
                    other => return Err(format!("group-store check: unknown argument {other}")),
                }
                i += 2;
            }
            let records = records.ok_or("group-store check needs --records N")?;
            let smalls = records.checked_sub(1).ok_or("--records counts the largest record too")?;
            let g = open_store_group(&dev)?;
            check_store_records(&dev, g, smalls, "group-store: after the restart")?;
            if let Some(k) = add {
                add_store_record(&dev, g, &small_payload(k))?;
                ok(format!("group-store: added durable record {k}"));
            }
            group(&dev, GroupRequest::Close { group: g }, 0)?;
            Ok(())
        }
        _ => Err("usage: group-store write | group-store check --records N [--add K]".into()),
    }
}

pub fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("smoke") => smoke(),
        Some("cloud") => cloud(&args[1..]),
        Some("pnrp") => pnrp(&args[1..]),
        Some("provider-detach") => provider_detach(),
        Some("group-store") => group_store(&args[1..]),
        Some("hold") => {
            let secs: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(60);
            std::thread::sleep(Duration::from_secs(secs));
            Ok(())
        }
        _ => Err("usage: peerdrt-wine-client smoke | cloud --key HEX [--port P] [--seed A:P] [--find HEX,..] [--hold S [--hold-until FILE]] [--timeout S] | pnrp --key HEX [--find HEX,..] [--hold S [--hold-until FILE]] [--timeout S] | provider-detach | group-store write | group-store check --records N [--add K] | hold SECS".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            println!("FAIL: {e}");
            ExitCode::FAILURE
        }
    }
}
