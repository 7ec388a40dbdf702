//! The Network Module Registrar, for one provider: WSK.
//!
//! Strict where real NMR is asynchronous: ClientAttachProvider is called from an attach thread
//! after NmrRegisterClient has returned; ClientDetachProvider from a detach thread, while the
//! client's calls may be in flight; NmrWaitForClientDeregisterComplete really waits for detach
//! and cleanup. Every broken rule is a `NETIO-STANDIN VIOLATION:` line.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use peerdrt_nt_sys::*;

use crate::irp::{SendPtr, pending_irps};
use crate::log::{self, hex, note, violation};
use crate::wsk;

/// Something shared by raw pointer with the client: immutable, so any thread may read it.
pub struct Shared<T>(pub T);
// SAFETY: only ever read; the pointers in it point at other statics.
unsafe impl<T> Sync for Shared<T> {}

static WSK_NPI_ID: NPIID = NPI_WSK_INTERFACE_ID;
/// The stand-in's module ID (a fixed GUID of its own).
static PROVIDER_MODULE_ID: NPI_MODULEID = NPI_MODULEID::from_guid(GUID::from_parts(
    0x5045_4552,
    0x4452,
    0x5400,
    [0x4e, 0x45, 0x54, 0x49, 0x4f, 0x53, 0x54, 0x44],
));
/// WSK 1.0 only, like the driver asks for.
static PROVIDER_CHARACTERISTICS: WSK_PROVIDER_CHARACTERISTICS = WSK_PROVIDER_CHARACTERISTICS {
    HighestVersion: MAKE_WSK_VERSION(1, 0),
    LowestVersion: MAKE_WSK_VERSION(1, 0),
};
/// What ClientAttachProvider receives as the provider's registration instance.
static PROVIDER_INSTANCE: Shared<NPI_REGISTRATION_INSTANCE> = Shared(NPI_REGISTRATION_INSTANCE {
    Version: 0,
    Size: core::mem::size_of::<NPI_REGISTRATION_INSTANCE>() as u16,
    NpiId: &WSK_NPI_ID,
    ModuleId: &PROVIDER_MODULE_ID,
    Number: 0,
    NpiSpecificCharacteristics: &PROVIDER_CHARACTERISTICS as *const WSK_PROVIDER_CHARACTERISTICS as PCVOID,
});

/// One NmrRegisterClient.
pub struct Registration {
    chars: SendPtr<NPI_CLIENT_CHARACTERISTICS>,
    client_context: usize,
    state: Mutex<RegState>,
    cv: Condvar,
}

#[derive(Default)]
struct RegState {
    register_returned: bool,
    attach_running: bool,
    deregister_called: bool,
    complete: bool,
    summary_written: bool,
    binding: Option<Arc<Binding>>,
}

/// Where a binding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Inside ClientAttachProvider.
    Attaching,
    Attached,
    /// ClientDetachProvider was called: no new WSK_PROVIDER_DISPATCH call may enter.
    Detaching,
    /// The client reported detach complete (STATUS_SUCCESS or NmrClientDetachProviderComplete).
    Detached,
    /// The client declined (or botched) the attach.
    Refused,
}

/// One client/provider binding.
pub struct Binding {
    registration: Arc<Registration>,
    /// The `PWSK_CLIENT` the client passes back (a separate pointer from the binding handle).
    client_token: Box<u64>,
    attach_thread: ThreadId,
    state: Mutex<BindState>,
    cv: Condvar,
    /// Client calls executing inside the stand-in right now.
    pub calls: AtomicU32,
    /// Completion routines running right now.
    pub completing: AtomicU32,
}

struct BindState {
    phase: Phase,
    client_binding_context: usize,
    attach_called: bool,
    detach_answer: Option<NTSTATUS>,
    complete_called: bool,
    cleaned_up: bool,
    static_events: ULONG,
    sockets_created: u32,
}

// SAFETY: the raw pointer in Registration is the client's characteristics, which must stay
// resident and unchanged while registered; the stand-in only reads it.
unsafe impl Send for Registration {}
unsafe impl Sync for Registration {}

static REGISTRATIONS: Mutex<Vec<Arc<Registration>>> = Mutex::new(Vec::new());
static BINDINGS: Mutex<Vec<Arc<Binding>>> = Mutex::new(Vec::new());

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Registration {
    fn handle(self: &Arc<Self>) -> HANDLE {
        Arc::as_ptr(self) as HANDLE
    }
    fn chars(&self) -> NPI_CLIENT_CHARACTERISTICS {
        // SAFETY: validated non-null at registration; the client keeps it resident.
        unsafe { *self.chars.get() }
    }
}

impl Binding {
    fn handle(self: &Arc<Self>) -> HANDLE {
        Arc::as_ptr(self) as HANDLE
    }
    /// The `PWSK_CLIENT` value.
    pub fn client(&self) -> PWSK_CLIENT {
        &*self.client_token as *const u64 as PWSK_CLIENT
    }
    pub fn phase(&self) -> Phase {
        lock(&self.state).phase
    }
    /// Whether the client may make WSK_PROVIDER_DISPATCH calls (after NmrClientAttachProvider,
    /// before ClientDetachProvider).
    pub fn provider_calls_allowed(&self) -> bool {
        let s = lock(&self.state);
        s.phase == Phase::Attached || (s.phase == Phase::Attaching && s.attach_called)
    }
    pub fn static_events(&self) -> ULONG {
        lock(&self.state).static_events
    }
    /// WSK_SET_STATIC_EVENT_CALLBACKS: only before the first socket.
    pub fn set_static_events(&self, mask: ULONG) -> bool {
        let mut s = lock(&self.state);
        if s.sockets_created > 0 {
            return false;
        }
        s.static_events |= mask;
        true
    }
    pub fn socket_created(&self) {
        lock(&self.state).sockets_created += 1;
    }
}

/// The registration behind an NMR client handle.
fn registration(handle: HANDLE) -> Option<Arc<Registration>> {
    lock(&REGISTRATIONS).iter().find(|r| r.handle() == handle).cloned()
}

/// The binding behind an NMR binding handle.
fn binding(handle: HANDLE) -> Option<Arc<Binding>> {
    lock(&BINDINGS).iter().find(|b| b.handle() == handle).cloned()
}

/// The binding behind a `PWSK_CLIENT`.
pub fn binding_of_client(client: PWSK_CLIENT) -> Option<Arc<Binding>> {
    lock(&BINDINGS).iter().find(|b| b.client() == client).cloned()
}

// ---- registration ------------------------------------------------------------------------------

pub unsafe fn register_client(
    chars: *const NPI_CLIENT_CHARACTERISTICS,
    context: PVOID,
    out: PHANDLE,
) -> NTSTATUS {
    crate::winsock::startup();
    log::announce();
    if chars.is_null() || out.is_null() {
        violation("NmrRegisterClient with a null characteristics or handle pointer");
        return STATUS_INVALID_PARAMETER;
    }
    // SAFETY: non-null; the client passes its resident characteristics.
    let c = unsafe { *chars };
    let mut ok = true;
    let mut bad = |what: &str| {
        violation(&format!("NmrRegisterClient: {what}"));
        ok = false;
    };
    if c.Version != 0 {
        bad(&format!("NPI_CLIENT_CHARACTERISTICS.Version is {} (must be 0)", c.Version));
    }
    if usize::from(c.Length) < core::mem::size_of::<NPI_CLIENT_CHARACTERISTICS>() {
        bad(&format!("NPI_CLIENT_CHARACTERISTICS.Length is {} (sizeof is 72)", c.Length));
    }
    if c.ClientAttachProvider.is_none() || c.ClientDetachProvider.is_none() {
        bad("ClientAttachProvider and ClientDetachProvider are required");
    }
    let instance = c.ClientRegistrationInstance;
    if instance.Version != 0 || usize::from(instance.Size) < core::mem::size_of::<NPI_REGISTRATION_INSTANCE>()
    {
        bad(&format!(
            "registration instance Version {} Size {} (must be 0 and 40)",
            instance.Version, instance.Size
        ));
    }
    if instance.NpiId.is_null() || instance.ModuleId.is_null() {
        bad("the registration instance needs an NpiId and a ModuleId");
    }
    if !ok {
        return STATUS_INVALID_PARAMETER;
    }
    let registration = Arc::new(Registration {
        chars: SendPtr(chars as *mut _),
        client_context: context as usize,
        state: Mutex::new(RegState::default()),
        cv: Condvar::new(),
    });
    lock(&REGISTRATIONS).push(registration.clone());
    // SAFETY: `out` is non-null.
    unsafe { *out = registration.handle() };
    // SAFETY: checked non-null above.
    let wsk = unsafe { *instance.NpiId } == NPI_WSK_INTERFACE_ID;
    note(&format!(
        "NmrRegisterClient: handle {:p}, NPI {}",
        registration.handle(),
        if wsk { "WSK" } else { "not WSK (no provider will attach)" }
    ));
    if wsk {
        let r = registration.clone();
        thread::Builder::new()
            .name("netio-attach".into())
            .spawn(move || attach_thread(r))
            .expect("attach thread");
    }
    // The attach thread waits for this, then for the attach delay: the client is attached
    // from another thread, after NmrRegisterClient has returned.
    lock(&registration.state).register_returned = true;
    registration.cv.notify_all();
    STATUS_SUCCESS
}

fn attach_thread(registration: Arc<Registration>) {
    {
        let mut s = lock(&registration.state);
        while !s.register_returned {
            s = registration.cv.wait(s).unwrap_or_else(|e| e.into_inner());
        }
    }
    thread::sleep(log::config().attach_delay);
    {
        let mut s = lock(&registration.state);
        if s.deregister_called {
            note("deregistered before the provider attached: no attach");
            return;
        }
        s.attach_running = true;
    }
    let binding = Arc::new(Binding {
        registration: registration.clone(),
        client_token: Box::new(0x5753_4b43_4c49_454e),
        attach_thread: thread::current().id(),
        state: Mutex::new(BindState {
            phase: Phase::Attaching,
            client_binding_context: 0,
            attach_called: false,
            detach_answer: None,
            complete_called: false,
            cleaned_up: false,
            static_events: 0,
            sockets_created: 0,
        }),
        cv: Condvar::new(),
        calls: AtomicU32::new(0),
        completing: AtomicU32::new(0),
    });
    lock(&BINDINGS).push(binding.clone());
    let attach = registration.chars().ClientAttachProvider.expect("checked at registration");
    // SAFETY: the client's callback, with a binding handle, its context and our instance.
    let answer =
        unsafe { attach(binding.handle(), registration.client_context as PVOID, &PROVIDER_INSTANCE.0) };
    let attached = {
        let mut s = lock(&binding.state);
        match (NT_SUCCESS(answer), s.attach_called) {
            (true, true) => s.phase = Phase::Attached,
            (true, false) => {
                violation("ClientAttachProvider returned success without calling NmrClientAttachProvider");
                s.phase = Phase::Refused;
            }
            (false, true) => {
                violation(&format!(
                    "ClientAttachProvider returned {} after NmrClientAttachProvider succeeded (return what it returned)",
                    hex(answer)
                ));
                s.phase = Phase::Refused;
            }
            (false, false) => {
                note(&format!("ClientAttachProvider declined the provider: {}", hex(answer)));
                s.phase = Phase::Refused;
            }
        }
        s.phase == Phase::Attached
    };
    if attached {
        log::ATTACHES.fetch_add(1, Ordering::SeqCst);
        note(&format!("attached: binding {:p}, WSK client {:p}", binding.handle(), binding.client()));
    }
    {
        let mut s = lock(&registration.state);
        s.attach_running = false;
        if attached {
            s.binding = Some(binding.clone());
        }
        registration.cv.notify_all();
    }
    if let (true, Some(after)) = (attached, log::config().detach_after) {
        // The provider goes away on its own while the client is busy.
        let b = binding.clone();
        thread::Builder::new()
            .name("netio-provider-detach".into())
            .spawn(move || {
                thread::sleep(after);
                detach(&b, "the provider is going away (PEERDRT_NETIO_DETACH_AFTER_MS)");
            })
            .expect("detach thread");
    }
}

pub unsafe fn client_attach_provider(
    handle: HANDLE,
    client_binding_context: PVOID,
    client_dispatch: PCVOID,
    provider_binding_context: *mut PVOID,
    provider_dispatch: *mut PCVOID,
) -> NTSTATUS {
    let Some(binding) = binding(handle) else {
        violation(&format!("NmrClientAttachProvider with an unknown binding handle {handle:p}"));
        return STATUS_INVALID_PARAMETER;
    };
    let mut s = lock(&binding.state);
    if s.phase != Phase::Attaching || thread::current().id() != binding.attach_thread {
        violation("NmrClientAttachProvider outside the ClientAttachProvider callback");
        return STATUS_INVALID_PARAMETER;
    }
    if s.attach_called {
        violation("NmrClientAttachProvider called twice for one binding");
        return STATUS_INVALID_PARAMETER;
    }
    if client_dispatch.is_null() || provider_binding_context.is_null() || provider_dispatch.is_null() {
        violation("NmrClientAttachProvider with a null dispatch or output pointer");
        return STATUS_INVALID_PARAMETER;
    }
    // SAFETY: a WSK client passes its WSK_CLIENT_DISPATCH.
    let version = unsafe { (*(client_dispatch as *const WSK_CLIENT_DISPATCH)).Version };
    if WSK_MAJOR_VERSION(version) != 1 {
        note(&format!("NmrClientAttachProvider: WSK version 0x{version:04X} is not supported (1.0 is)"));
        return STATUS_NOINTERFACE;
    }
    s.attach_called = true;
    s.client_binding_context = client_binding_context as usize;
    // SAFETY: both output pointers are non-null.
    unsafe {
        *provider_binding_context = binding.client();
        *provider_dispatch = &wsk::PROVIDER_DISPATCH as *const WSK_PROVIDER_DISPATCH as PCVOID;
    }
    STATUS_SUCCESS
}

// ---- detach ------------------------------------------------------------------------------------

/// Checks made at the moment the client says detach is complete.
fn check_detach_complete(binding: &Binding, how: &str) {
    let calls = binding.calls.load(Ordering::SeqCst);
    if calls > 0 {
        violation(&format!("{how} while {calls} call(s) into the provider are still in progress"));
    }
    let open = wsk::open_sockets(binding);
    if open > 0 {
        violation(&format!("{how} with {open} socket(s) still open (close every socket first)"));
    }
    let retained = wsk::retained(binding);
    if retained > 0 {
        violation(&format!("{how} with {retained} retained indication(s) not released"));
    }
}

/// The provider's side of a detach: ClientDetachProvider on this thread, then the wait for
/// NmrClientDetachProviderComplete, then ClientCleanupBindingContext.
fn detach(binding: &Arc<Binding>, why: &str) {
    let context = {
        let mut s = lock(&binding.state);
        if s.phase != Phase::Attached {
            return;
        }
        s.phase = Phase::Detaching;
        s.client_binding_context
    };
    let in_flight = binding.calls.load(Ordering::SeqCst);
    note(&format!("detaching binding {:p}: {why}; {in_flight} call(s) in flight", binding.handle()));
    let chars = binding.registration.chars();
    let detach_fn = chars.ClientDetachProvider.expect("checked at registration");
    // SAFETY: the client's callback with its binding context.
    let answer = unsafe { detach_fn(context as PVOID) };
    let timeout = log::config().detach_timeout;
    {
        let mut s = lock(&binding.state);
        s.detach_answer = Some(answer);
        match answer {
            STATUS_SUCCESS => {
                log::DETACH_NOW.fetch_add(1, Ordering::SeqCst);
                if s.complete_called {
                    violation(
                        "ClientDetachProvider returned STATUS_SUCCESS and also called NmrClientDetachProviderComplete",
                    );
                } else {
                    check_detach_complete(binding, "ClientDetachProvider returned STATUS_SUCCESS");
                    s.phase = Phase::Detached;
                }
            }
            STATUS_PENDING => {
                log::DETACH_PENDING.fetch_add(1, Ordering::SeqCst);
                let deadline = Instant::now() + timeout;
                while !s.complete_called {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        violation(&format!(
                            "ClientDetachProvider returned STATUS_PENDING but NmrClientDetachProviderComplete did not come within {} ms",
                            timeout.as_millis()
                        ));
                        s.phase = Phase::Detached;
                        break;
                    }
                    s = binding.cv.wait_timeout(s, left).unwrap_or_else(|e| e.into_inner()).0;
                }
            }
            other => {
                violation(&format!(
                    "ClientDetachProvider returned {} (only STATUS_SUCCESS or STATUS_PENDING)",
                    hex(other)
                ));
                s.phase = Phase::Detached;
            }
        }
    }
    log::DETACHES.fetch_add(1, Ordering::SeqCst);
    // Sockets the client left open (already a violation) stop here, without callbacks; then
    // completions still running in the client finish before its binding context goes away.
    wsk::abandon_sockets(binding);
    let pending = pending_irps();
    if pending > 0 {
        note(&format!("{pending} IRP(s) still pending in the provider after detach"));
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while binding.completing.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(1));
    }
    if let Some(cleanup) = chars.ClientCleanupBindingContext {
        // SAFETY: the client's callback, once, after both sides detached.
        unsafe { cleanup(context as PVOID) };
    }
    lock(&binding.state).cleaned_up = true;
    binding.cv.notify_all();
    note(&format!(
        "detached binding {:p} (ClientDetachProvider answered {})",
        binding.handle(),
        if answer == STATUS_PENDING { "STATUS_PENDING" } else { "STATUS_SUCCESS" }
    ));
}

pub unsafe fn client_detach_provider_complete(handle: HANDLE) {
    let Some(binding) = binding(handle) else {
        violation(&format!("NmrClientDetachProviderComplete with an unknown binding handle {handle:p}"));
        return;
    };
    let mut s = lock(&binding.state);
    if s.complete_called {
        violation("NmrClientDetachProviderComplete called twice");
        return;
    }
    if s.phase != Phase::Detaching {
        violation(&format!(
            "NmrClientDetachProviderComplete while the binding is {:?}, not detaching",
            s.phase
        ));
        return;
    }
    if s.detach_answer == Some(STATUS_SUCCESS) {
        violation("NmrClientDetachProviderComplete after ClientDetachProvider returned STATUS_SUCCESS");
        return;
    }
    check_detach_complete(&binding, "NmrClientDetachProviderComplete");
    s.complete_called = true;
    s.phase = Phase::Detached;
    binding.cv.notify_all();
}

// ---- deregistration ----------------------------------------------------------------------------

pub unsafe fn deregister_client(handle: HANDLE) -> NTSTATUS {
    let Some(registration) = registration(handle) else {
        violation(&format!("NmrDeregisterClient with an unknown handle {handle:p}"));
        return STATUS_INVALID_PARAMETER;
    };
    {
        let mut s = lock(&registration.state);
        if s.deregister_called {
            violation("NmrDeregisterClient called twice for one registration");
            return STATUS_INVALID_PARAMETER;
        }
        s.deregister_called = true;
    }
    note(&format!("NmrDeregisterClient: handle {handle:p}"));
    let r = registration.clone();
    thread::Builder::new()
        .name("netio-deregister".into())
        .spawn(move || deregister_thread(r))
        .expect("thread");
    STATUS_PENDING
}

fn deregister_thread(registration: Arc<Registration>) {
    let binding = {
        let mut s = lock(&registration.state);
        while s.attach_running {
            s = registration.cv.wait(s).unwrap_or_else(|e| e.into_inner());
        }
        s.binding.clone()
    };
    if let Some(binding) = binding {
        detach(&binding, "the client is deregistering");
        // A provider-initiated detach may be the one running: wait for its cleanup.
        let mut s = lock(&binding.state);
        while !s.cleaned_up {
            s = binding.cv.wait(s).unwrap_or_else(|e| e.into_inner());
        }
    }
    let mut s = lock(&registration.state);
    s.complete = true;
    write_summary(&mut s);
    registration.cv.notify_all();
}

fn write_summary(s: &mut RegState) {
    if s.summary_written {
        return;
    }
    s.summary_written = true;
    let (open, retained) =
        s.binding.as_ref().map(|b| (wsk::never_closed(b), wsk::retained(b))).unwrap_or((0, 0));
    log::summary(open, retained);
}

pub unsafe fn wait_for_client_deregister_complete(handle: HANDLE) -> NTSTATUS {
    let Some(registration) = registration(handle) else {
        violation(&format!("NmrWaitForClientDeregisterComplete with an unknown handle {handle:p}"));
        return STATUS_INVALID_PARAMETER;
    };
    let timeout = log::config().deregister_timeout;
    let deadline = Instant::now() + timeout;
    let mut s = lock(&registration.state);
    if !s.deregister_called {
        violation("NmrWaitForClientDeregisterComplete before NmrDeregisterClient");
        return STATUS_INVALID_PARAMETER;
    }
    while !s.complete {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            violation(&format!(
                "NmrWaitForClientDeregisterComplete returns before detach completed: nothing after {} ms (did the client call NmrClientDetachProviderComplete?)",
                timeout.as_millis()
            ));
            write_summary(&mut s);
            return STATUS_SUCCESS;
        }
        s = registration.cv.wait_timeout(s, left).unwrap_or_else(|e| e.into_inner()).0;
    }
    note("NmrWaitForClientDeregisterComplete: deregistration complete");
    STATUS_SUCCESS
}
