//! The WSK provider: WSK_PROVIDER_DISPATCH and WSK_PROVIDER_DATAGRAM_DISPATCH over Winsock
//! datagram sockets, with receive threads calling the client's WskReceiveFromEvent.
//!
//! Rules checked here (each a `NETIO-STANDIN VIOLATION:` line):
//! * no WSK_PROVIDER_DISPATCH call after ClientDetachProvider, no socket call after detach
//!   completed, no call on an unknown or closed socket;
//! * IRPs set up as WSK wants (see `irp.rs`), never passed twice while pending;
//! * WskCloseSocket only with no other call on the socket in progress and every retained
//!   indication released; WskRelease only of indications actually retained;
//! * WskSendTo only after WskBind completed; reserved flags zero; addresses of the socket's
//!   family; static event callbacks only before the first socket; receive callbacks answer
//!   STATUS_SUCCESS, STATUS_PENDING or STATUS_DATA_NOT_ACCEPTED.
//!
//! Unfriendly on purpose: every IRP completes on the completion thread (sometimes before the
//! call returned to the client); data to send is read from the client's MDLs only then; a
//! callback may carry several datagrams chained by `Next`; WSK_FLAG_AT_DISPATCH_LEVEL is set on
//! about half the indications; buffers are poisoned once the client gives them back.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use peerdrt_nt_sys::*;

use crate::irp::{self, SendPtr, Ticket};
use crate::log::{self, hex, note, trace, violation};
use crate::nmr::{self, Binding, Phase};
use crate::winsock::{self, Addr, SOCKET};

/// Largest UDP payload.
const MAX_DATAGRAM: usize = 65_507;
/// Datagrams chained into one indication at most.
const MAX_CHAIN: usize = 4;

pub static PROVIDER_DISPATCH: WSK_PROVIDER_DISPATCH = WSK_PROVIDER_DISPATCH {
    Version: MAKE_WSK_VERSION(1, 0),
    Reserved: 0,
    WskSocket: Some(wsk_socket),
    WskSocketConnect: Some(wsk_socket_connect),
    WskControlClient: Some(wsk_control_client),
    WskGetAddressInfo: Some(wsk_get_address_info),
    WskFreeAddressInfo: Some(wsk_free_address_info),
    WskGetNameInfo: Some(wsk_get_name_info),
};

pub static DATAGRAM_DISPATCH: WSK_PROVIDER_DATAGRAM_DISPATCH = WSK_PROVIDER_DATAGRAM_DISPATCH {
    Basic: WSK_PROVIDER_BASIC_DISPATCH {
        WskControlSocket: Some(wsk_control_socket),
        WskCloseSocket: Some(wsk_close_socket),
    },
    WskBind: Some(wsk_bind),
    WskSendTo: Some(wsk_send_to),
    WskReceiveFrom: Some(wsk_receive_from),
    WskRelease: Some(wsk_release),
    WskGetLocalAddress: Some(wsk_get_local_address),
    WskSendMessages: Some(wsk_send_messages),
};

/// A datagram socket. `#[repr(C)]` with the WSK_SOCKET first: the `PWSK_SOCKET` is its address.
#[repr(C)]
pub struct Socket {
    wsk: WSK_SOCKET,
    binding: Arc<Binding>,
    family: ADDRESS_FAMILY,
    context: usize,
    receive_from_event: PFN_WSK_RECEIVE_FROM_EVENT,
    os: SOCKET,
    /// Client calls on this socket executing inside the stand-in right now.
    calls: AtomicU32,
    /// Receive callbacks running (or about to) right now.
    in_callback: AtomicU32,
    state: Mutex<SocketState>,
}

#[derive(Default)]
struct SocketState {
    bind_started: bool,
    bound: bool,
    events_enabled: bool,
    static_events: bool,
    closing: bool,
    closed: bool,
    /// Closed by the stand-in at detach because the client never closed it.
    abandoned: bool,
    receiver: Option<JoinHandle<()>>,
    /// Indications the client retained (STATUS_PENDING), by the address it holds; during a
    /// callback also the ones it is being shown (`indicating` of them).
    retained: BTreeMap<usize, Box<Indication>>,
    indicating: usize,
}

// SAFETY: the raw pointers inside (client callback, indication blocks) are used under the
// socket's lock or by the one receive thread; the WSK contract allows any thread.
unsafe impl Send for Socket {}
unsafe impl Sync for Socket {}

/// A datagram as indicated: the WSK_DATAGRAM_INDICATION first, then what it points to.
#[repr(C)]
struct Indication {
    ind: WSK_DATAGRAM_INDICATION,
    mdl: MDL,
    remote: SOCKADDR_STORAGE,
    data: Vec<u8>,
}

static SOCKETS: Mutex<Vec<Arc<Socket>>> = Mutex::new(Vec::new());

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Socket {
    fn ptr(self: &Arc<Self>) -> PWSK_SOCKET {
        Arc::as_ptr(self) as PWSK_SOCKET
    }
}

fn sockets_of(binding: &Binding) -> Vec<Arc<Socket>> {
    lock(&SOCKETS).iter().filter(|s| std::ptr::eq(&*s.binding, binding)).cloned().collect()
}

/// Sockets of `binding` not closed yet.
pub fn open_sockets(binding: &Binding) -> usize {
    sockets_of(binding).iter().filter(|s| !lock(&s.state).closed).count()
}

/// Sockets of `binding` the client never closed.
pub fn never_closed(binding: &Binding) -> usize {
    sockets_of(binding)
        .iter()
        .filter(|s| {
            let st = lock(&s.state);
            !st.closed || st.abandoned
        })
        .count()
}

/// Retained indications of `binding` not released.
pub fn retained(binding: &Binding) -> usize {
    sockets_of(binding)
        .iter()
        .map(|s| {
            let st = lock(&s.state);
            st.retained.len() - st.indicating
        })
        .sum()
}

/// At detach: stop and close what the client left open, without calling it any more.
pub fn abandon_sockets(binding: &Binding) {
    for socket in sockets_of(binding) {
        let receiver = {
            let mut st = lock(&socket.state);
            if st.closed || st.closing {
                continue;
            }
            st.closing = true;
            st.abandoned = true;
            st.receiver.take()
        };
        join_receiver(receiver, "detach");
        // SAFETY: our own OS socket.
        unsafe { winsock::closesocket(socket.os) };
        lock(&socket.state).closed = true;
        note(&format!("closed socket {:p} the client left open", socket.ptr()));
    }
}

// ---- entering calls ----------------------------------------------------------------------------

/// Counts a client call for its duration (socket and binding counters).
struct Scope {
    binding: Arc<Binding>,
    socket: Option<Arc<Socket>>,
}

impl Drop for Scope {
    fn drop(&mut self) {
        if let Some(s) = &self.socket {
            s.calls.fetch_sub(1, Ordering::SeqCst);
        }
        self.binding.calls.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A refused call: the status to fail it with and the binding (if known) its IRP belongs to.
type Refused = (NTSTATUS, Option<Arc<Binding>>);

/// A WSK_PROVIDER_DISPATCH call: only between NmrClientAttachProvider and ClientDetachProvider.
fn enter_client(client: PWSK_CLIENT, what: &str) -> Result<Scope, Refused> {
    let Some(binding) = nmr::binding_of_client(client) else {
        violation(&format!("{what} with an unknown PWSK_CLIENT {client:p}"));
        return Err((STATUS_INVALID_PARAMETER, None));
    };
    binding.calls.fetch_add(1, Ordering::SeqCst);
    let scope = Scope { binding: binding.clone(), socket: None };
    if !binding.provider_calls_allowed() {
        let phase = binding.phase();
        violation(&format!("{what} (a WSK_PROVIDER_DISPATCH call) while the binding is {phase:?}"));
        drop(scope);
        return Err((STATUS_DEVICE_NOT_READY, Some(binding)));
    }
    Ok(scope)
}

/// A socket-level call: the socket must be ours and open, and detach not complete.
fn enter_socket(socket: PWSK_SOCKET, what: &str) -> Result<(Arc<Socket>, Scope), Refused> {
    let Some(s) = lock(&SOCKETS).iter().find(|s| s.ptr() == socket).cloned() else {
        violation(&format!("{what} on an unknown socket {socket:p}"));
        return Err((STATUS_INVALID_PARAMETER, None));
    };
    s.binding.calls.fetch_add(1, Ordering::SeqCst);
    s.calls.fetch_add(1, Ordering::SeqCst);
    let scope = Scope { binding: s.binding.clone(), socket: Some(s.clone()) };
    if s.binding.phase() == Phase::Detached {
        violation(&format!("{what} on socket {socket:p} after detach completed"));
        return Err((STATUS_DEVICE_NOT_READY, Some(s.binding.clone())));
    }
    let (closing, closed) = {
        let st = lock(&s.state);
        (st.closing, st.closed)
    };
    if closing || closed {
        violation(&format!("{what} on socket {socket:p} after WskCloseSocket"));
        return Err((STATUS_INVALID_HANDLE, Some(s.binding.clone())));
    }
    Ok((s, scope))
}

/// Fails a call that carries an IRP: completes the IRP with `status` and returns
/// STATUS_PENDING (WSK always completes the IRP it was given), or returns `status` when the
/// IRP itself is unusable or there is none.
fn fail(irp: *mut IRP, status: NTSTATUS, what: &'static str, binding: Option<&Arc<Binding>>) -> NTSTATUS {
    if irp.is_null() {
        return status;
    }
    // SAFETY: the client passes a valid IRP or null.
    match unsafe { irp::accept(irp, what, binding) } {
        Ok(ticket) => {
            irp::complete_later(ticket, status, 0);
            STATUS_PENDING
        }
        Err(s) => s,
    }
}

/// Takes the IRP and completes it later with `status`.
fn succeed_later(irp: *mut IRP, status: NTSTATUS, what: &'static str, binding: &Arc<Binding>) -> NTSTATUS {
    // SAFETY: the client passes a valid IRP or null.
    match unsafe { irp::accept(irp, what, Some(binding)) } {
        Ok(ticket) => {
            irp::complete_later(ticket, status, 0);
            STATUS_PENDING
        }
        Err(s) => s,
    }
}

/// Takes the IRP, runs `job` on the completion thread and completes with its answer.
fn run_later(
    irp: *mut IRP,
    what: &'static str,
    binding: &Arc<Binding>,
    job: impl FnOnce(&Ticket) -> (NTSTATUS, usize) + Send + 'static,
) -> NTSTATUS {
    // SAFETY: the client passes a valid IRP or null.
    match unsafe { irp::accept(irp, what, Some(binding)) } {
        Ok(ticket) => {
            irp::submit(move || {
                let (status, information) = job(&ticket);
                irp::complete_now(ticket, status, information);
            });
            STATUS_PENDING
        }
        Err(s) => s,
    }
}

// ---- WSK_PROVIDER_DISPATCH ---------------------------------------------------------------------

#[allow(clippy::too_many_arguments)]
unsafe extern "system" fn wsk_socket(
    client: PWSK_CLIENT,
    family: ADDRESS_FAMILY,
    kind: USHORT,
    protocol: ULONG,
    flags: ULONG,
    context: PVOID,
    dispatch: PCVOID,
    _process: PEPROCESS,
    _thread: PETHREAD,
    _sd: PSECURITY_DESCRIPTOR,
    irp: *mut IRP,
) -> NTSTATUS {
    const WHAT: &str = "WskSocket";
    let scope = match enter_client(client, WHAT) {
        Ok(s) => s,
        Err((status, b)) => return fail(irp, status, WHAT, b.as_ref()),
    };
    let binding = scope.binding.clone();
    if flags != WSK_FLAG_DATAGRAM_SOCKET {
        note(&format!("WskSocket: only datagram sockets are provided (flags 0x{flags:X})"));
        return fail(irp, STATUS_NOT_SUPPORTED, WHAT, Some(&binding));
    }
    if kind != SOCK_DGRAM || protocol != IPPROTO_UDP || !(family == AF_INET || family == AF_INET6) {
        violation(&format!(
            "WskSocket: a datagram socket is AF_INET/AF_INET6, SOCK_DGRAM, IPPROTO_UDP (got {family}, {kind}, {protocol})"
        ));
        return fail(irp, STATUS_INVALID_PARAMETER, WHAT, Some(&binding));
    }
    // SAFETY: a datagram socket's dispatch is a WSK_CLIENT_DATAGRAM_DISPATCH (or null).
    let receive_from_event = if dispatch.is_null() {
        None
    } else {
        unsafe { (*(dispatch as *const WSK_CLIENT_DATAGRAM_DISPATCH)).WskReceiveFromEvent }
    };
    let context = context as usize;
    let b = binding.clone();
    run_later(irp, WHAT, &binding, move |_| {
        // SAFETY: plain Winsock calls.
        let os = unsafe { winsock::socket(i32::from(family), i32::from(SOCK_DGRAM), IPPROTO_UDP as i32) };
        if os == winsock::INVALID_SOCKET {
            let (status, wsa) = winsock::last_status();
            note(&format!("WskSocket: socket() failed with WSA error {wsa}"));
            return (status, 0);
        }
        if family == AF_INET6 {
            // Windows' default, whatever the host's: an IPv6 socket is IPv6-only until the
            // client sets IPV6_V6ONLY to 0.
            let on: u32 = 1;
            // SAFETY: a 4-byte option value.
            unsafe {
                winsock::setsockopt(
                    os,
                    IPPROTO_IPV6 as i32,
                    IPV6_V6ONLY as i32,
                    (&on as *const u32).cast(),
                    4,
                )
            };
        }
        let static_events = b.static_events() & WSK_EVENT_RECEIVE_FROM != 0 && receive_from_event.is_some();
        let socket = Arc::new(Socket {
            wsk: WSK_SOCKET {
                Dispatch: &DATAGRAM_DISPATCH as *const WSK_PROVIDER_DATAGRAM_DISPATCH as PCVOID,
            },
            binding: b.clone(),
            family,
            context,
            receive_from_event,
            os,
            calls: AtomicU32::new(0),
            in_callback: AtomicU32::new(0),
            state: Mutex::new(SocketState {
                events_enabled: static_events,
                static_events,
                ..SocketState::default()
            }),
        });
        b.socket_created();
        lock(&SOCKETS).push(socket.clone());
        note(&format!("WskSocket: socket {:p} (AF {family})", socket.ptr()));
        (STATUS_SUCCESS, socket.ptr() as usize)
    })
}

#[allow(clippy::too_many_arguments)]
unsafe extern "system" fn wsk_socket_connect(
    client: PWSK_CLIENT,
    _kind: USHORT,
    _protocol: ULONG,
    _local: PSOCKADDR,
    _remote: PSOCKADDR,
    _flags: ULONG,
    _context: PVOID,
    _dispatch: PCVOID,
    _process: PEPROCESS,
    _thread: PETHREAD,
    _sd: PSECURITY_DESCRIPTOR,
    irp: *mut IRP,
) -> NTSTATUS {
    not_supported_client(client, irp, "WskSocketConnect")
}

fn not_supported_client(client: PWSK_CLIENT, irp: *mut IRP, what: &'static str) -> NTSTATUS {
    match enter_client(client, what) {
        Ok(scope) => {
            note(&format!("{what} is not provided"));
            fail(irp, STATUS_NOT_SUPPORTED, what, Some(&scope.binding))
        }
        Err((status, b)) => fail(irp, status, what, b.as_ref()),
    }
}

#[allow(clippy::too_many_arguments)]
unsafe extern "system" fn wsk_control_client(
    client: PWSK_CLIENT,
    code: ULONG,
    input_size: SIZE_T,
    input: PVOID,
    _output_size: SIZE_T,
    _output: PVOID,
    _returned: PSIZE_T,
    irp: *mut IRP,
) -> NTSTATUS {
    const WHAT: &str = "WskControlClient";
    let scope = match enter_client(client, WHAT) {
        Ok(s) => s,
        Err((status, b)) => return fail(irp, status, WHAT, b.as_ref()),
    };
    let binding = scope.binding.clone();
    if code != WSK_SET_STATIC_EVENT_CALLBACKS {
        note(&format!("WskControlClient: control code {code} is not provided"));
        return fail(irp, STATUS_NOT_SUPPORTED, WHAT, Some(&binding));
    }
    // SAFETY: the client passes its control structure.
    let status = match unsafe { event_control(input_size, input, WHAT) } {
        Err(status) => status,
        Ok(mask) if mask & WSK_EVENT_DISABLE != 0 => {
            violation("WSK_SET_STATIC_EVENT_CALLBACKS cannot disable callbacks");
            STATUS_INVALID_PARAMETER
        }
        Ok(mask) if mask & !WSK_EVENT_RECEIVE_FROM != 0 => {
            note(&format!(
                "WSK_SET_STATIC_EVENT_CALLBACKS: only WSK_EVENT_RECEIVE_FROM is provided (mask 0x{mask:X})"
            ));
            STATUS_NOT_SUPPORTED
        }
        Ok(mask) => {
            if binding.set_static_events(mask) {
                note("WSK_SET_STATIC_EVENT_CALLBACKS: receive-from callbacks on every new socket");
                STATUS_SUCCESS
            } else {
                violation(
                    "WSK_SET_STATIC_EVENT_CALLBACKS after the client created a socket (it must come first)",
                );
                STATUS_INVALID_DEVICE_STATE
            }
        }
    };
    if irp.is_null() { status } else { succeed_later(irp, status, WHAT, &binding) }
}

/// Reads a WSK_EVENT_CALLBACK_CONTROL and checks its NPI ID.
///
/// # Safety
/// `input` must be null or point to `input_size` readable bytes.
unsafe fn event_control(input_size: SIZE_T, input: PVOID, what: &str) -> Result<ULONG, NTSTATUS> {
    if input.is_null() || input_size < core::mem::size_of::<WSK_EVENT_CALLBACK_CONTROL>() {
        violation(&format!("{what}: needs a WSK_EVENT_CALLBACK_CONTROL (InputSize {input_size})"));
        return Err(STATUS_INVALID_PARAMETER);
    }
    // SAFETY: checked size; the client's structure.
    let control = unsafe { *(input as *const WSK_EVENT_CALLBACK_CONTROL) };
    // SAFETY: a non-null NpiId points at a GUID.
    if control.NpiId.is_null() || unsafe { *control.NpiId } != NPI_WSK_INTERFACE_ID {
        violation(&format!("{what}: WSK_EVENT_CALLBACK_CONTROL.NpiId must point to NPI_WSK_INTERFACE_ID"));
        return Err(STATUS_INVALID_PARAMETER);
    }
    Ok(control.EventMask)
}

#[allow(clippy::too_many_arguments)]
unsafe extern "system" fn wsk_get_address_info(
    client: PWSK_CLIENT,
    _node: PUNICODE_STRING,
    _service: PUNICODE_STRING,
    _namespace: ULONG,
    _provider: *mut GUID,
    _hints: PVOID,
    _result: *mut PVOID,
    _process: PEPROCESS,
    _thread: PETHREAD,
    irp: *mut IRP,
) -> NTSTATUS {
    not_supported_client(client, irp, "WskGetAddressInfo")
}

unsafe extern "system" fn wsk_free_address_info(client: PWSK_CLIENT, _info: PVOID) {
    if enter_client(client, "WskFreeAddressInfo").is_ok() {
        violation("WskFreeAddressInfo of an ADDRINFOEXW this provider never returned");
    }
}

#[allow(clippy::too_many_arguments)]
unsafe extern "system" fn wsk_get_name_info(
    client: PWSK_CLIENT,
    _addr: PSOCKADDR,
    _len: ULONG,
    _node: PUNICODE_STRING,
    _service: PUNICODE_STRING,
    _flags: ULONG,
    _process: PEPROCESS,
    _thread: PETHREAD,
    irp: *mut IRP,
) -> NTSTATUS {
    not_supported_client(client, irp, "WskGetNameInfo")
}

// ---- WSK_PROVIDER_DATAGRAM_DISPATCH ------------------------------------------------------------

#[allow(clippy::too_many_arguments)]
unsafe extern "system" fn wsk_control_socket(
    socket: PWSK_SOCKET,
    request: WSK_CONTROL_SOCKET_TYPE,
    code: ULONG,
    level: ULONG,
    input_size: SIZE_T,
    input: PVOID,
    _output_size: SIZE_T,
    _output: PVOID,
    _returned: PSIZE_T,
    irp: *mut IRP,
) -> NTSTATUS {
    const WHAT: &str = "WskControlSocket";
    let (s, scope) = match enter_socket(socket, WHAT) {
        Ok(v) => v,
        Err((status, b)) => return fail(irp, status, WHAT, b.as_ref()),
    };
    let binding = scope.binding.clone();
    let status = match (request, level, code) {
        (WskSetOption, SOL_SOCKET, SO_WSK_EVENT_CALLBACK) => {
            // SAFETY: the client passes its control structure.
            match unsafe { event_control(input_size, input, WHAT) } {
                Err(status) => status,
                Ok(mask) => {
                    let status = set_event_callback(&s, mask, irp.is_null());
                    if status == STATUS_SUCCESS && mask & WSK_EVENT_DISABLE != 0 {
                        // The disable completes once no callback is running any more.
                        let socket = s.clone();
                        return run_later(irp, WHAT, &binding, move |_| {
                            let deadline = Instant::now() + Duration::from_secs(10);
                            while socket.in_callback.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
                                thread::sleep(Duration::from_millis(1));
                            }
                            (STATUS_SUCCESS, 0)
                        });
                    }
                    status
                }
            }
        }
        (WskSetOption, IPPROTO_IPV6, IPV6_V6ONLY) if s.family == AF_INET6 => {
            if lock(&s.state).bind_started {
                violation("IPV6_V6ONLY after WskBind (set it before binding)");
                STATUS_INVALID_DEVICE_STATE
            } else {
                // SAFETY: the client's ULONG option value.
                unsafe { set_int_option(&s, input_size, input, IPPROTO_IPV6, IPV6_V6ONLY) }
            }
        }
        (
            WskSetOption,
            SOL_SOCKET,
            SO_REUSEADDR | SO_EXCLUSIVEADDRUSE | SO_RCVBUF | SO_SNDBUF | SO_BROADCAST,
        ) => {
            // SAFETY: the client's ULONG option value.
            unsafe { set_int_option(&s, input_size, input, SOL_SOCKET, code) }
        }
        _ => {
            note(&format!(
                "WskControlSocket: request {request} level {level} code 0x{code:X} is not provided"
            ));
            STATUS_NOT_SUPPORTED
        }
    };
    if irp.is_null() { status } else { succeed_later(irp, status, WHAT, &binding) }
}

fn set_event_callback(s: &Arc<Socket>, mask: ULONG, no_irp: bool) -> NTSTATUS {
    let events = mask & !WSK_EVENT_DISABLE;
    if events != WSK_EVENT_RECEIVE_FROM {
        violation(&format!(
            "SO_WSK_EVENT_CALLBACK on a datagram socket takes WSK_EVENT_RECEIVE_FROM only (mask 0x{mask:X})"
        ));
        return STATUS_INVALID_PARAMETER;
    }
    if mask & WSK_EVENT_DISABLE != 0 {
        if no_irp {
            violation("SO_WSK_EVENT_CALLBACK: disabling an event callback needs an IRP");
            return STATUS_INVALID_PARAMETER;
        }
        let mut st = lock(&s.state);
        if st.static_events {
            drop(st);
            violation("SO_WSK_EVENT_CALLBACK: static event callbacks cannot be disabled");
            return STATUS_INVALID_DEVICE_REQUEST;
        }
        st.events_enabled = false;
        return STATUS_SUCCESS;
    }
    if s.receive_from_event.is_none() {
        violation("SO_WSK_EVENT_CALLBACK: the socket was created without a WskReceiveFromEvent callback");
        return STATUS_INVALID_PARAMETER;
    }
    lock(&s.state).events_enabled = true;
    start_receiver(s);
    STATUS_SUCCESS
}

/// # Safety
/// `input` must be null or point to `input_size` readable bytes.
unsafe fn set_int_option(
    s: &Socket,
    input_size: SIZE_T,
    input: PVOID,
    level: ULONG,
    code: ULONG,
) -> NTSTATUS {
    if input.is_null() || input_size < 4 {
        violation(&format!("WskControlSocket: option 0x{code:X} needs a ULONG value"));
        return STATUS_INVALID_PARAMETER;
    }
    // SAFETY: 4 readable bytes.
    let value = unsafe { (input as *const u32).read_unaligned() };
    // SAFETY: a 4-byte option value.
    let r = unsafe { winsock::setsockopt(s.os, level as i32, code as i32, (&value as *const u32).cast(), 4) };
    if r == 0 { STATUS_SUCCESS } else { winsock::last_status().0 }
}

unsafe extern "system" fn wsk_close_socket(socket: PWSK_SOCKET, irp: *mut IRP) -> NTSTATUS {
    const WHAT: &str = "WskCloseSocket";
    let (s, scope) = match enter_socket(socket, WHAT) {
        Ok(v) => v,
        Err((status, b)) => return fail(irp, status, WHAT, b.as_ref()),
    };
    let others = s.calls.load(Ordering::SeqCst).saturating_sub(1);
    if others > 0 {
        violation(&format!(
            "WskCloseSocket on socket {socket:p} while {others} other call(s) on it are in progress"
        ));
    }
    {
        let mut st = lock(&s.state);
        let retained = st.retained.len() - st.indicating;
        if retained > 0 {
            drop(st);
            violation(&format!(
                "WskCloseSocket on socket {socket:p} with {retained} retained indication(s) not released (WskRelease them first)"
            ));
            st = lock(&s.state);
        }
        st.closing = true;
    }
    let binding = scope.binding.clone();
    let closing = s.clone();
    run_later(irp, WHAT, &binding, move |_| {
        // Closing waits for a receive callback in progress, then stops the thread.
        let receiver = lock(&closing.state).receiver.take();
        join_receiver(receiver, "WskCloseSocket");
        // SAFETY: our own OS socket.
        unsafe { winsock::closesocket(closing.os) };
        lock(&closing.state).closed = true;
        note(&format!("WskCloseSocket: socket {:p} closed", closing.ptr()));
        (STATUS_SUCCESS, 0)
    })
}

unsafe extern "system" fn wsk_bind(
    socket: PWSK_SOCKET,
    local: PSOCKADDR,
    flags: ULONG,
    irp: *mut IRP,
) -> NTSTATUS {
    const WHAT: &str = "WskBind";
    let (s, scope) = match enter_socket(socket, WHAT) {
        Ok(v) => v,
        Err((status, b)) => return fail(irp, status, WHAT, b.as_ref()),
    };
    let binding = scope.binding.clone();
    if flags != 0 {
        violation(&format!("WskBind: Flags is reserved and must be 0 (got 0x{flags:X})"));
    }
    // SAFETY: the client passes a socket address or null.
    let Some(addr) = (unsafe { Addr::read(local) }) else {
        violation("WskBind: LocalAddress must be an AF_INET or AF_INET6 address");
        return fail(irp, STATUS_INVALID_PARAMETER, WHAT, Some(&binding));
    };
    // SAFETY: the storage holds a socket address.
    if unsafe { (*addr.as_ptr()).sa_family } != s.family {
        violation(&format!(
            "WskBind: address {} does not match the socket's family {}",
            addr.describe(),
            s.family
        ));
        return fail(irp, STATUS_INVALID_PARAMETER, WHAT, Some(&binding));
    }
    {
        let mut st = lock(&s.state);
        if st.bind_started {
            drop(st);
            violation("WskBind on a socket already bound");
            return fail(irp, STATUS_INVALID_PARAMETER, WHAT, Some(&binding));
        }
        st.bind_started = true;
    }
    let socket = s.clone();
    run_later(irp, WHAT, &binding, move |_| {
        // SAFETY: a complete address of the socket's family.
        if unsafe { winsock::bind(socket.os, addr.as_ptr(), addr.len) } != 0 {
            let (status, wsa) = winsock::last_status();
            note(&format!("WskBind {}: WSA error {wsa} -> {}", addr.describe(), hex(status)));
            lock(&socket.state).bind_started = false;
            return (status, 0);
        }
        lock(&socket.state).bound = true;
        note(&format!("WskBind: socket {:p} bound to {}", socket.ptr(), local_address(&socket)));
        start_receiver(&socket);
        (STATUS_SUCCESS, 0)
    })
}

fn local_address(s: &Socket) -> String {
    // SAFETY: all-zero is a valid SOCKADDR_STORAGE.
    let mut storage: SOCKADDR_STORAGE = unsafe { core::mem::zeroed() };
    let mut len = core::mem::size_of::<SOCKADDR_STORAGE>() as i32;
    // SAFETY: a large enough buffer.
    if unsafe { winsock::getsockname(s.os, (&mut storage as *mut SOCKADDR_STORAGE).cast(), &mut len) } != 0 {
        return "?".into();
    }
    Addr { storage, len }.describe()
}

#[allow(clippy::too_many_arguments)]
unsafe extern "system" fn wsk_send_to(
    socket: PWSK_SOCKET,
    buffer: PWSK_BUF,
    flags: ULONG,
    remote: PSOCKADDR,
    control_length: ULONG,
    _control: PCMSGHDR,
    irp: *mut IRP,
) -> NTSTATUS {
    const WHAT: &str = "WskSendTo";
    let (s, scope) = match enter_socket(socket, WHAT) {
        Ok(v) => v,
        Err((status, b)) => return fail(irp, status, WHAT, b.as_ref()),
    };
    let binding = scope.binding.clone();
    if flags != 0 {
        violation(&format!("WskSendTo: Flags is reserved and must be 0 (got 0x{flags:X})"));
    }
    if control_length != 0 {
        note("WskSendTo: control information is not provided");
        return fail(irp, STATUS_NOT_SUPPORTED, WHAT, Some(&binding));
    }
    if !lock(&s.state).bound {
        violation(&format!("WskSendTo on socket {socket:p} before its WskBind completed"));
        return fail(irp, STATUS_INVALID_DEVICE_STATE, WHAT, Some(&binding));
    }
    if buffer.is_null() {
        violation("WskSendTo without a WSK_BUF");
        return fail(irp, STATUS_INVALID_PARAMETER, WHAT, Some(&binding));
    }
    // SAFETY: the client passes a socket address or null.
    let Some(to) = (unsafe { Addr::read(remote) }) else {
        violation("WskSendTo: RemoteAddress must be an AF_INET or AF_INET6 address");
        return fail(irp, STATUS_INVALID_PARAMETER, WHAT, Some(&binding));
    };
    // The descriptor is copied now; the bytes it describes are read on the completion thread,
    // after the call returned: they must stay valid until the IRP completes.
    // SAFETY: non-null WSK_BUF from the client.
    let wsk_buf = SendPtr(unsafe { *buffer }.Mdl);
    let (offset, length) = unsafe { ((*buffer).Offset, (*buffer).Length) };
    let socket = s.clone();
    run_later(irp, WHAT, &binding, move |_| {
        // SAFETY: the client keeps the MDL chain and its pages valid until completion.
        let data = match unsafe { gather(wsk_buf.get(), offset, length) } {
            Ok(data) => data,
            Err(why) => {
                violation(&format!("WskSendTo: bad WSK_BUF: {why}"));
                return (STATUS_INVALID_PARAMETER, 0);
            }
        };
        if data.len() > MAX_DATAGRAM {
            return (STATUS_INVALID_BUFFER_SIZE, 0);
        }
        // SAFETY: our socket, a buffer of data.len() bytes, a complete address.
        let n =
            unsafe { winsock::sendto(socket.os, data.as_ptr(), data.len() as i32, 0, to.as_ptr(), to.len) };
        if n < 0 {
            let (status, wsa) = winsock::last_status();
            note(&format!("WskSendTo {}: WSA error {wsa} -> {}", to.describe(), hex(status)));
            return (status, 0);
        }
        log::DATAGRAMS_SENT.fetch_add(1, Ordering::Relaxed);
        trace(|| format!("WskSendTo: {} bytes to {}", n, to.describe()));
        (STATUS_SUCCESS, n as usize)
    })
}

/// The `length` bytes a WSK_BUF describes, `offset` into the first MDL of the chain.
///
/// # Safety
/// The MDL chain and the memory it describes must be valid.
unsafe fn gather(mut mdl: PMDL, offset: ULONG, length: usize) -> Result<Vec<u8>, String> {
    let mut data = Vec::with_capacity(length.min(MAX_DATAGRAM + 1));
    let mut skip = offset as usize;
    if !mdl.is_null() {
        // SAFETY: a valid MDL.
        let first = unsafe { (*mdl).ByteCount } as usize;
        if skip > first {
            return Err(format!("Offset {skip} is past the first MDL ({first} bytes)"));
        }
    }
    let mut links = 0;
    while data.len() < length {
        if mdl.is_null() {
            return Err(format!("the MDL chain ends after {} of {length} bytes", data.len()));
        }
        links += 1;
        if links > 1024 {
            return Err("the MDL chain does not end".into());
        }
        // SAFETY: a valid MDL in the chain.
        let m = unsafe { &*mdl };
        let base = if m.MdlFlags & (MDL_MAPPED_TO_SYSTEM_VA | MDL_SOURCE_IS_NONPAGED_POOL) != 0
            && !m.MappedSystemVa.is_null()
        {
            m.MappedSystemVa.cast::<u8>()
        } else {
            // SAFETY: as above.
            unsafe { MmGetMdlVirtualAddress(m) }.cast::<u8>()
        };
        let available = (m.ByteCount as usize).saturating_sub(skip);
        let take = available.min(length - data.len());
        // SAFETY: the MDL describes ByteCount readable bytes at `base`.
        data.extend_from_slice(unsafe { std::slice::from_raw_parts(base.add(skip), take) });
        skip = 0;
        mdl = m.Next;
    }
    Ok(data)
}

#[allow(clippy::too_many_arguments)]
unsafe extern "system" fn wsk_receive_from(
    socket: PWSK_SOCKET,
    _buffer: PWSK_BUF,
    _flags: ULONG,
    _remote: PSOCKADDR,
    _control_length: PULONG,
    _control: PCMSGHDR,
    _control_flags: PULONG,
    irp: *mut IRP,
) -> NTSTATUS {
    const WHAT: &str = "WskReceiveFrom";
    match enter_socket(socket, WHAT) {
        Ok((_, scope)) => {
            note("WskReceiveFrom is not provided: use WskReceiveFromEvent");
            fail(irp, STATUS_NOT_SUPPORTED, WHAT, Some(&scope.binding))
        }
        Err((status, b)) => fail(irp, status, WHAT, b.as_ref()),
    }
}

unsafe extern "system" fn wsk_release(socket: PWSK_SOCKET, list: PWSK_DATAGRAM_INDICATION) -> NTSTATUS {
    const WHAT: &str = "WskRelease";
    let (s, _scope) = match enter_socket(socket, WHAT) {
        Ok(v) => v,
        Err((status, _)) => return status,
    };
    if list.is_null() {
        violation("WskRelease with a null indication list");
        return STATUS_INVALID_PARAMETER;
    }
    let mut st = lock(&s.state);
    let mut next = list;
    let mut released = 0u64;
    while !next.is_null() {
        let Some(mut block) = st.retained.remove(&(next as usize)) else {
            drop(st);
            violation(&format!(
                "WskRelease of {next:p}, which is not an indication the client retained on socket {socket:p} (released twice, or from another socket?)"
            ));
            log::INDICATIONS_RELEASED.fetch_add(released, Ordering::Relaxed);
            return STATUS_INVALID_PARAMETER;
        };
        // SAFETY: our block; `Next` is read before it is poisoned.
        next = block.ind.Next;
        poison(&mut block);
        released += 1;
    }
    log::INDICATIONS_RELEASED.fetch_add(released, Ordering::Relaxed);
    STATUS_SUCCESS
}

unsafe extern "system" fn wsk_get_local_address(
    socket: PWSK_SOCKET,
    out: PSOCKADDR,
    irp: *mut IRP,
) -> NTSTATUS {
    const WHAT: &str = "WskGetLocalAddress";
    let (s, scope) = match enter_socket(socket, WHAT) {
        Ok(v) => v,
        Err((status, b)) => return fail(irp, status, WHAT, b.as_ref()),
    };
    let binding = scope.binding.clone();
    if out.is_null() {
        violation("WskGetLocalAddress without an output address");
        return fail(irp, STATUS_INVALID_PARAMETER, WHAT, Some(&binding));
    }
    let out = SendPtr(out);
    let socket = s.clone();
    run_later(irp, WHAT, &binding, move |_| {
        // SAFETY: all-zero is a valid SOCKADDR_STORAGE.
        let mut storage: SOCKADDR_STORAGE = unsafe { core::mem::zeroed() };
        let mut len = core::mem::size_of::<SOCKADDR_STORAGE>() as i32;
        // SAFETY: a large enough buffer.
        if unsafe {
            winsock::getsockname(socket.os, (&mut storage as *mut SOCKADDR_STORAGE).cast(), &mut len)
        } != 0
        {
            return (winsock::last_status().0, 0);
        }
        let size = winsock::sockaddr_len(socket.family).unwrap_or(len).min(len) as usize;
        // SAFETY: the client's output buffer holds an address of the socket's family.
        unsafe {
            std::ptr::copy_nonoverlapping(
                (&storage as *const SOCKADDR_STORAGE).cast::<u8>(),
                out.get().cast(),
                size,
            )
        };
        (STATUS_SUCCESS, 0)
    })
}

#[allow(clippy::too_many_arguments)]
unsafe extern "system" fn wsk_send_messages(
    socket: PWSK_SOCKET,
    _list: PWSK_BUF_LIST,
    _flags: ULONG,
    _remote: PSOCKADDR,
    _control_length: ULONG,
    _control: PCMSGHDR,
    irp: *mut IRP,
) -> NTSTATUS {
    const WHAT: &str = "WskSendMessages";
    match enter_socket(socket, WHAT) {
        Ok((_, scope)) => {
            note("WskSendMessages is not provided");
            fail(irp, STATUS_NOT_SUPPORTED, WHAT, Some(&scope.binding))
        }
        Err((status, b)) => fail(irp, status, WHAT, b.as_ref()),
    }
}

// ---- receive -----------------------------------------------------------------------------------

/// Starts the receive thread once the socket is bound and its callback enabled.
fn start_receiver(s: &Arc<Socket>) {
    let mut st = lock(&s.state);
    if !st.bound || !st.events_enabled || st.closing || st.receiver.is_some() {
        return;
    }
    let socket = s.clone();
    st.receiver = Some(
        thread::Builder::new()
            .name("netio-receive".into())
            .spawn(move || receive_loop(socket))
            .expect("receive thread"),
    );
}

fn join_receiver(receiver: Option<JoinHandle<()>>, why: &str) {
    let Some(receiver) = receiver else { return };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !receiver.is_finished() {
        if Instant::now() > deadline {
            violation(&format!(
                "{why}: a WskReceiveFromEvent callback has not returned for 10 s (callbacks must not wait)"
            ));
            return;
        }
        thread::sleep(Duration::from_millis(1));
    }
    let _ = receiver.join();
}

fn receive_loop(s: Arc<Socket>) {
    let mut buffer = vec![0u8; 65_536];
    loop {
        let enabled = {
            let st = lock(&s.state);
            if st.closing {
                return;
            }
            st.events_enabled
        };
        if !enabled {
            thread::sleep(Duration::from_millis(10));
            continue;
        }
        if !winsock::readable(s.os, 20) {
            continue;
        }
        let mut batch: Vec<Box<Indication>> = Vec::new();
        while batch.len() < MAX_CHAIN {
            // SAFETY: all-zero is a valid SOCKADDR_STORAGE.
            let mut from: SOCKADDR_STORAGE = unsafe { core::mem::zeroed() };
            let mut from_len = core::mem::size_of::<SOCKADDR_STORAGE>() as i32;
            // SAFETY: our socket and buffers.
            let n = unsafe {
                winsock::recvfrom(
                    s.os,
                    buffer.as_mut_ptr(),
                    buffer.len() as i32,
                    0,
                    (&mut from as *mut SOCKADDR_STORAGE).cast(),
                    &mut from_len,
                )
            };
            if n < 0 {
                // SAFETY: no preconditions.
                let wsa = unsafe { winsock::WSAGetLastError() };
                // ICMP port-unreachable echoes on Windows UDP sockets: WSK never indicates them.
                if wsa != winsock::WSAECONNRESET
                    && wsa != winsock::WSAENETRESET
                    && wsa != winsock::WSAEWOULDBLOCK
                {
                    trace(|| format!("receive: WSA error {wsa}"));
                }
                break;
            }
            batch.push(Indication::new(&buffer[..n as usize], from));
            if !winsock::readable(s.os, 0) {
                break;
            }
        }
        if !batch.is_empty() {
            indicate(&s, batch);
        }
    }
}

impl Indication {
    fn new(bytes: &[u8], from: SOCKADDR_STORAGE) -> Box<Indication> {
        // SAFETY: all-zero is valid for these plain C structures; the pointers are set below.
        let mut block: Box<Indication> = Box::new(Indication {
            ind: unsafe { core::mem::zeroed() },
            mdl: unsafe { core::mem::zeroed() },
            remote: from,
            data: bytes.to_vec(),
        });
        let va = block.data.as_mut_ptr();
        // SAFETY: the MDL header is ours; it describes `data`, which lives as long as the block.
        unsafe { MmInitializeMdl(&mut block.mdl, va.cast(), bytes.len()) };
        block.mdl.MdlFlags |= MDL_SOURCE_IS_NONPAGED_POOL;
        block.mdl.MappedSystemVa = va.cast();
        block.ind.Buffer = WSK_BUF { Mdl: &mut block.mdl, Offset: 0, Length: bytes.len() };
        block.ind.RemoteAddress = (&mut block.remote as *mut SOCKADDR_STORAGE).cast();
        block
    }
}

/// What the client may no longer touch gets scribbled over before it is freed.
fn poison(block: &mut Indication) {
    block.data.iter_mut().for_each(|b| *b = 0xDD);
    block.mdl.MappedSystemVa = 0xDEAD_0000_DEAD_0000usize as PVOID;
    block.ind.Buffer.Length = 0;
    block.ind.Next = 0xDEAD_DEAD_DEAD_DEADusize as PWSK_DATAGRAM_INDICATION;
}

// Boxed: the client holds the indications' addresses, which must not move with the Vec or into
// the retained map.
#[allow(clippy::vec_box)]
fn indicate(s: &Arc<Socket>, mut batch: Vec<Box<Indication>>) {
    let Some(callback) = s.receive_from_event else { return };
    for i in 1..batch.len() {
        let next: *mut WSK_DATAGRAM_INDICATION = &mut batch[i].ind;
        batch[i - 1].ind.Next = next;
    }
    let first: *mut WSK_DATAGRAM_INDICATION = &mut batch[0].ind;
    let count = batch.len();
    let keys: Vec<usize> = batch.iter().map(|b| &b.ind as *const WSK_DATAGRAM_INDICATION as usize).collect();
    // Counted before the enabled check, so a disable that waits for the count to reach zero
    // knows no callback will follow it.
    s.in_callback.fetch_add(1, Ordering::SeqCst);
    {
        let mut st = lock(&s.state);
        if !st.events_enabled || st.closing {
            drop(st);
            s.in_callback.fetch_sub(1, Ordering::SeqCst);
            return;
        }
        // Retained until the answer says otherwise: the client may hand the list to another
        // thread that releases it before this callback has even returned.
        for block in batch {
            let key = &block.ind as *const WSK_DATAGRAM_INDICATION as usize;
            st.retained.insert(key, block);
        }
        st.indicating += count;
    }
    // Half the indications claim DISPATCH_LEVEL, as real WSK may at any time.
    let flags = if irp::random() & 1 == 0 { WSK_FLAG_AT_DISPATCH_LEVEL } else { 0 };
    // SAFETY: the client's callback with its socket context and our chained blocks.
    let answer = unsafe { callback(s.context as PVOID, flags, first) };
    s.in_callback.fetch_sub(1, Ordering::SeqCst);
    log::DATAGRAMS_INDICATED.fetch_add(count as u64, Ordering::Relaxed);
    log::RECEIVE_CALLBACKS.fetch_add(1, Ordering::Relaxed);
    let mut st = lock(&s.state);
    st.indicating -= count;
    if answer == STATUS_PENDING {
        log::INDICATIONS_RETAINED.fetch_add(count as u64, Ordering::Relaxed);
        return;
    }
    // Not retained: take the blocks back and scribble over them.
    let mut released_early = 0;
    for key in keys {
        match st.retained.remove(&key) {
            Some(mut block) => poison(&mut block),
            None => released_early += 1,
        }
    }
    let paused = answer == STATUS_DATA_NOT_ACCEPTED && !st.static_events;
    if paused {
        st.events_enabled = false;
    }
    drop(st);
    if released_early > 0 {
        violation(&format!(
            "WskRelease of {released_early} indication(s) whose WskReceiveFromEvent then returned {} (only STATUS_PENDING retains)",
            hex(answer)
        ));
    }
    match answer {
        STATUS_SUCCESS => {}
        STATUS_DATA_NOT_ACCEPTED if paused => {
            note("WskReceiveFromEvent returned STATUS_DATA_NOT_ACCEPTED: callbacks paused until re-enabled")
        }
        STATUS_DATA_NOT_ACCEPTED => {}
        other => violation(&format!(
            "WskReceiveFromEvent returned {} (STATUS_SUCCESS, STATUS_PENDING or STATUS_DATA_NOT_ACCEPTED only)",
            hex(other)
        )),
    }
}
