//! The NMR client and the engine's [`Platform`] over WSK datagram sockets.
//!
//! * NMR: [`CLIENT`] is registered last in DriverEntry. [`client_attach_provider`] (PASSIVE)
//!   checks the NPI id and WSK version, attaches, and stores a [`Binding`] whose
//!   [`ProviderBinding`] (the engine's state machine) counts calls in flight and one hold per open
//!   socket. [`client_detach_provider`] (<= DISPATCH) only starts the detach and wakes the worker,
//!   which closes every socket; the last exit calls `NmrClientDetachProviderComplete`.
//!   [`client_cleanup_binding_context`] (<= DISPATCH) marks the binding for the worker (or
//!   DriverUnload) to free under the engine lock, so nobody frees it while it is in use.
//! * Sockets: [`WskPlatform::bind`] makes `WskSocket` (datagram, AF_INET6, dual stack),
//!   `WskBind`, `WskGetLocalAddress` and `WskControlSocket(SO_WSK_EVENT_CALLBACK)` calls
//!   synchronously at PASSIVE_LEVEL: an IRP from `IoAllocateIrp`, a completion routine that sets
//!   an event and returns `STATUS_MORE_PROCESSING_REQUIRED`, a wait, `IoFreeIrp`.
//! * Receive: [`receive_from_event`] (<= DISPATCH) retains the indication list (returns
//!   `STATUS_PENDING`) by queueing it for the worker, which copies each datagram out of its MDLs,
//!   feeds `Device::handle_datagram` and calls `WskRelease`. When the queue is full, or the socket
//!   is closing, the list is returned to WSK at once (`STATUS_SUCCESS`): the datagrams are dropped,
//!   which is UDP's contract.
//! * Send: [`WskPlatform::send`] hands the engine's payload (already non-paged: the driver's
//!   allocator is non-paged pool) to `WskSendTo` with an MDL and an IRP; the completion routine
//!   frees all three (see [`set_completion`] for what keeps the driver loaded meanwhile).
//! * Close: [`WskPlatform::unbind`] marks the socket closing and releases every indication of it
//!   still queued, then parks it; after the engine call returns and its last datagrams (a closing
//!   instance's revocations) are sent, [`WskPlatform::close_retiring`] calls `WskCloseSocket` and
//!   ends the socket's hold.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::mem::size_of;
use core::net::Ipv6Addr;
use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use peerdrt_abi::status as abi_status;
use peerdrt_core::time::Instant;
use peerdrt_core::wire::Endpoint;

use crate::engine::nmr::{DetachNotify, Hold, Phase, ProviderBinding};
use crate::engine::{Bound, Device, Outgoing, Platform, TransportId};

use super::log::log;
use super::sys::{self, compat};
use super::{driver, time};

/// The WSK version this client speaks.
const WSK_VERSION: u16 = sys::MAKE_WSK_VERSION(1, 0);
/// Retained indication lists waiting for the worker; beyond this, datagrams are dropped.
pub const RX_CAPACITY: usize = 1024;
/// Largest datagram copied out of an indication (larger ones are truncated and rejected by the
/// codec).
const MAX_DATAGRAM: usize = 65_535;
/// How long a synchronous WSK call may take before it is cancelled.
const SYNC_TIMEOUT_MS: u64 = 30_000;

/// A `Sync` wrapper for the registration statics (they hold raw pointers to other statics).
#[repr(transparent)]
pub struct Shared<T>(pub T);
// SAFETY: the wrapped values are immutable after compilation and only read by NMR/WSK.
unsafe impl<T> Sync for Shared<T> {}

static NPI_ID: Shared<sys::NPIID> = Shared(sys::NPI_WSK_INTERFACE_ID);

/// The module id of peerdrt.sys: {8c2f6b1e-5a4d-4e7b-9f30-2d6c1a7e5b94}.
static MODULE_ID: Shared<sys::NPI_MODULEID> = Shared(sys::NPI_MODULEID::from_guid(sys::GUID::from_parts(
    0x8c2f_6b1e,
    0x5a4d,
    0x4e7b,
    [0x9f, 0x30, 0x2d, 0x6c, 0x1a, 0x7e, 0x5b, 0x94],
)));

/// The client characteristics handed to `NmrRegisterClient` (resident while registered).
pub static CLIENT: Shared<sys::NPI_CLIENT_CHARACTERISTICS> = Shared(sys::NPI_CLIENT_CHARACTERISTICS {
    Version: 0,
    Length: size_of::<sys::NPI_CLIENT_CHARACTERISTICS>() as u16,
    ClientAttachProvider: Some(client_attach_provider),
    ClientDetachProvider: Some(client_detach_provider),
    ClientCleanupBindingContext: Some(client_cleanup_binding_context),
    ClientRegistrationInstance: sys::NPI_REGISTRATION_INSTANCE {
        Version: 0,
        Size: size_of::<sys::NPI_REGISTRATION_INSTANCE>() as u16,
        NpiId: &NPI_ID.0,
        ModuleId: &MODULE_ID.0,
        Number: 0,
        NpiSpecificCharacteristics: core::ptr::null(),
    },
});

/// The client dispatch of the binding: WSK 1.0, no client-level event callback.
static CLIENT_DISPATCH: Shared<sys::WSK_CLIENT_DISPATCH> =
    Shared(sys::WSK_CLIENT_DISPATCH { Version: WSK_VERSION, Reserved: 0, WskClientEvent: None });

/// The datagram sockets' client dispatch: the receive event callback.
static DATAGRAM_DISPATCH: Shared<sys::WSK_CLIENT_DATAGRAM_DISPATCH> =
    Shared(sys::WSK_CLIENT_DATAGRAM_DISPATCH { WskReceiveFromEvent: Some(receive_from_event) });

// ---- the binding ---------------------------------------------------------------------------------

/// Completes a pending detach (`NmrClientDetachProviderComplete`) and wakes the worker.
pub struct Notify {
    handle: sys::HANDLE,
}

impl DetachNotify for Notify {
    fn detach_complete(&self) {
        // SAFETY: the binding handle NMR gave ClientAttachProvider; <= DISPATCH_LEVEL.
        unsafe { sys::NmrClientDetachProviderComplete(self.handle) };
        driver().wake.set();
    }
}

/// One attachment to the WSK provider: the client context NMR passes back to the callbacks.
pub struct Binding {
    client: sys::PWSK_CLIENT,
    dispatch: *const sys::WSK_PROVIDER_DISPATCH,
    state: ProviderBinding<Notify>,
    /// ClientCleanupBindingContext ran: free it (under the engine lock).
    cleaned_up: AtomicBool,
}

// SAFETY: the raw pointers are the provider's, valid while attached; the state is atomic.
unsafe impl Send for Binding {}
// SAFETY: as above.
unsafe impl Sync for Binding {}

/// `ClientAttachProvider` (PASSIVE_LEVEL): accept a WSK provider that speaks 1.0.
unsafe extern "system" fn client_attach_provider(
    handle: sys::HANDLE,
    _client_context: sys::PVOID,
    provider: sys::PNPI_REGISTRATION_INSTANCE,
) -> sys::NTSTATUS {
    let d = driver();
    if d.stopping.load(Ordering::Acquire) || provider.is_null() {
        return sys::STATUS_NOINTERFACE;
    }
    // SAFETY: NMR passes a valid registration instance.
    let provider = unsafe { &*provider };
    // SAFETY: NpiId points to the provider's NPIID.
    if provider.NpiId.is_null() || unsafe { *provider.NpiId } != sys::NPI_WSK_INTERFACE_ID {
        return sys::STATUS_NOINTERFACE;
    }
    let characteristics = provider.NpiSpecificCharacteristics as *const sys::WSK_PROVIDER_CHARACTERISTICS;
    if characteristics.is_null() {
        return sys::STATUS_NOINTERFACE;
    }
    // SAFETY: a WSK provider's specific characteristics are WSK_PROVIDER_CHARACTERISTICS.
    let versions = unsafe { *characteristics };
    if !(versions.LowestVersion..=versions.HighestVersion).contains(&WSK_VERSION) {
        log!(
            "WSK provider versions {:#06x}..={:#06x} do not include {:#06x}: declined",
            versions.LowestVersion,
            versions.HighestVersion,
            WSK_VERSION
        );
        return sys::STATUS_NOINTERFACE;
    }
    super::with_engine(|e| e.platform.attach(handle)).unwrap_or_else(|status| status)
}

/// `ClientDetachProvider` (<= DISPATCH_LEVEL): no new provider call from now on.
unsafe extern "system" fn client_detach_provider(context: sys::PVOID) -> sys::NTSTATUS {
    // SAFETY: the Binding passed to NmrClientAttachProvider; freed only after cleanup.
    let binding = unsafe { &*(context as *const Binding) };
    let status = match binding.state.begin_detach() {
        Ok(start) => start.ntstatus() as sys::NTSTATUS,
        Err(_) => sys::STATUS_SUCCESS,
    };
    // The worker closes the sockets, whose holds keep a pending detach from completing.
    driver().wake.set();
    status
}

/// `ClientCleanupBindingContext` (<= DISPATCH_LEVEL): both sides have detached.
unsafe extern "system" fn client_cleanup_binding_context(context: sys::PVOID) {
    // SAFETY: as above; the worker or DriverUnload frees it under the engine lock.
    let binding = unsafe { &*(context as *const Binding) };
    binding.cleaned_up.store(true, Ordering::Release);
    driver().wake.set();
}

// ---- sockets -------------------------------------------------------------------------------------

/// A bound datagram socket: the SocketContext WSK passes to the receive callback.
pub struct Socket {
    id: TransportId,
    wsk: sys::PWSK_SOCKET,
    /// Set under the rx lock: the callback returns datagrams to WSK instead of queueing them.
    closing: AtomicBool,
    /// The provider indicated a NULL list: the socket is dead, sends are pointless.
    dead: AtomicBool,
    hold: Option<Hold>,
}

impl Socket {
    fn dispatch(&self) -> &sys::WSK_PROVIDER_DATAGRAM_DISPATCH {
        // SAFETY: a datagram socket's Dispatch is its WSK_PROVIDER_DATAGRAM_DISPATCH, valid until
        // WskCloseSocket completes.
        unsafe { &*((*self.wsk).Dispatch as *const sys::WSK_PROVIDER_DATAGRAM_DISPATCH) }
    }
}

/// Retained receive indications, for the worker.
pub struct RxQueue {
    items: VecDeque<(*const Socket, sys::PWSK_DATAGRAM_INDICATION)>,
}

// SAFETY: the pointers are only followed under the engine lock, while the socket lives.
unsafe impl Send for RxQueue {}

impl RxQueue {
    /// Room for [`RX_CAPACITY`] lists, reserved now so the callback never allocates.
    pub fn new() -> Self {
        Self { items: VecDeque::with_capacity(RX_CAPACITY) }
    }

    /// Lists queued.
    pub fn len(&self) -> usize {
        self.items.len()
    }
}

/// `WskReceiveFromEvent` (<= DISPATCH_LEVEL, any thread): queue, never call the engine.
unsafe extern "system" fn receive_from_event(
    context: sys::PVOID,
    _flags: sys::ULONG,
    indication: sys::PWSK_DATAGRAM_INDICATION,
) -> sys::NTSTATUS {
    let d = driver();
    let socket = context as *const Socket;
    if indication.is_null() {
        // The socket is going away under us: stop using it; unbind closes it.
        // SAFETY: the SocketContext of a socket not yet closed.
        unsafe { (*socket).dead.store(true, Ordering::Release) };
        d.wake.set();
        return sys::STATUS_SUCCESS;
    }
    {
        let mut rx = d.rx.lock();
        // SAFETY: as above; `closing` is only set under this lock.
        let closing = unsafe { (*socket).closing.load(Ordering::Acquire) };
        if closing || d.stopping.load(Ordering::Acquire) || rx.items.len() >= RX_CAPACITY {
            RX_DROPPED.fetch_add(1, Ordering::Relaxed);
            return sys::STATUS_SUCCESS;
        }
        rx.items.push_back((socket, indication));
    }
    d.wake.set();
    sys::STATUS_PENDING
}

/// Indication lists dropped because the queue was full or the socket closing.
pub static RX_DROPPED: AtomicU64 = AtomicU64::new(0);
/// Datagrams whose send failed or was dropped (no socket, no binding).
pub static TX_FAILED: AtomicU64 = AtomicU64::new(0);

// ---- synchronous WSK calls -----------------------------------------------------------------------

unsafe extern "system" fn sync_done(
    _device: *mut sys::DEVICE_OBJECT,
    _irp: *mut sys::IRP,
    context: sys::PVOID,
) -> sys::NTSTATUS {
    // SAFETY: the KEVENT of `call_sync`, which waits for it.
    unsafe { sys::KeSetEvent(context as *mut sys::KEVENT, sys::IO_NO_INCREMENT, sys::FALSE) };
    sys::STATUS_MORE_PROCESSING_REQUIRED
}

/// Sets the completion routine of an IRP the driver allocated, invoked on success, error and
/// cancel. On Windows `IoSetCompletionRoutineEx`, whose reference on the device object keeps
/// this non-PnP driver loaded until the routine has returned; under Wine (where that export is
/// an unimplemented stub) the inline `IoSetCompletionRoutine`, and DriverUnload's wait for the
/// last completion is what covers unload.
///
/// # Safety
/// `irp` is an IRP from `IoAllocateIrp` with at least one stack location.
unsafe fn set_completion(
    irp: *mut sys::IRP,
    routine: compat::Completion,
    context: sys::PVOID,
) -> sys::NTSTATUS {
    let d = driver();
    if d.wine {
        // SAFETY: as documented.
        unsafe { compat::set_completion(irp, routine, context) };
        return sys::STATUS_SUCCESS;
    }
    // SAFETY: as documented; the device object lives until DriverUnload.
    unsafe {
        sys::IoSetCompletionRoutineEx(
            d.device.load(Ordering::Acquire),
            irp,
            Some(routine),
            context,
            sys::TRUE,
            sys::TRUE,
            sys::TRUE,
        )
    }
}

/// Makes a WSK call that takes an IRP synchronous: PASSIVE_LEVEL. Returns the IRP's final
/// status and `Information`.
fn call_sync(call: impl FnOnce(*mut sys::IRP) -> sys::NTSTATUS) -> (sys::NTSTATUS, usize) {
    // SAFETY: PASSIVE_LEVEL; one stack location for the WSK subsystem.
    let irp = unsafe { sys::IoAllocateIrp(1, sys::FALSE) };
    if irp.is_null() {
        return (sys::STATUS_INSUFFICIENT_RESOURCES, 0);
    }
    let event = super::sync::Event::new();
    event.init(false);
    // SAFETY: our IRP with a free next location; the event outlives the call (we wait below).
    let status = unsafe { set_completion(irp, sync_done, event.as_ptr().cast()) };
    if status < 0 {
        // SAFETY: never handed out.
        unsafe { sys::IoFreeIrp(irp) };
        return (status, 0);
    }
    // The WSK subsystem completes the IRP in every case (also when it fails at once), which
    // runs `sync_done`.
    let _ = call(irp);
    if event.wait(Some(SYNC_TIMEOUT_MS)) == super::sync::Wait::TimedOut {
        log!("a WSK call did not complete in {} ms; cancelling it", SYNC_TIMEOUT_MS);
        // SAFETY: the IRP is still owned by the WSK subsystem; cancelling is allowed.
        unsafe { sys::IoCancelIrp(irp) };
        event.wait(None);
    }
    // SAFETY: completed; the completion routine kept it for us.
    let (status, information) =
        unsafe { ((*irp).IoStatus.__bindgen_anon_1.Status, (*irp).IoStatus.Information) };
    // SAFETY: ours again, freed once.
    unsafe { sys::IoFreeIrp(irp) };
    (status, information)
}

fn sockaddr_in6(addr: Ipv6Addr, port: u16) -> sys::SOCKADDR_IN6 {
    sys::SOCKADDR_IN6 {
        sin6_family: sys::AF_INET6,
        sin6_port: port.to_be(),
        sin6_flowinfo: 0,
        sin6_addr: sys::IN6_ADDR::from_octets(addr.octets()),
        __bindgen_anon_1: sys::SOCKADDR_IN6_0 { sin6_scope_id: 0 },
    }
}

/// The sender of a datagram (IPv4 senders become IPv4-mapped addresses).
fn endpoint_of(address: sys::PSOCKADDR) -> Option<Endpoint> {
    if address.is_null() {
        return None;
    }
    // SAFETY: WSK passes a SOCKADDR of the socket's family (or AF_INET on a dual-stack socket).
    unsafe {
        match (*address).sa_family {
            sys::AF_INET6 => {
                let a = &*(address as *const sys::SOCKADDR_IN6);
                Some(Endpoint { addr: Ipv6Addr::from(a.sin6_addr.octets()), port: u16::from_be(a.sin6_port) })
            }
            sys::AF_INET => {
                let a = &*(address as *const sys::SOCKADDR_IN);
                let v4 = core::net::Ipv4Addr::from(a.sin_addr.octets());
                Some(Endpoint { addr: v4.to_ipv6_mapped(), port: u16::from_be(a.sin_port) })
            }
            _ => None,
        }
    }
}

/// Copies the datagram a WSK_BUF describes into `out` (cleared first). False if it could not
/// be mapped.
fn copy_wsk_buf(buf: &sys::WSK_BUF, out: &mut Vec<u8>) -> bool {
    out.clear();
    let mut mdl = buf.Mdl;
    let mut offset = buf.Offset as usize;
    let mut remaining = buf.Length.min(MAX_DATAGRAM);
    while remaining > 0 && !mdl.is_null() {
        // SAFETY: WSK's MDL chain describes locked memory while the indication is retained.
        let count = unsafe { sys::MmGetMdlByteCount(mdl) } as usize;
        if offset >= count {
            offset -= count;
        } else {
            // SAFETY: as above.
            let base = unsafe { compat::system_address(mdl) };
            if base.is_null() {
                return false;
            }
            let n = (count - offset).min(remaining);
            // SAFETY: [offset, offset + n) lies within this MDL's `count` bytes.
            out.extend_from_slice(unsafe { core::slice::from_raw_parts(base.add(offset), n) });
            remaining -= n;
            offset = 0;
        }
        // SAFETY: as above.
        mdl = unsafe { (*mdl).Next };
    }
    true
}

/// A send in flight: everything its completion routine frees.
struct SendContext {
    irp: *mut sys::IRP,
    mdl: sys::PMDL,
    buf: sys::WSK_BUF,
    address: sys::SOCKADDR_IN6,
    payload: Vec<u8>,
}

unsafe extern "system" fn send_done(
    _device: *mut sys::DEVICE_OBJECT,
    irp: *mut sys::IRP,
    context: sys::PVOID,
) -> sys::NTSTATUS {
    // SAFETY: the SendContext `send` leaked for this IRP; this routine runs once per IRP.
    let send = unsafe { Box::from_raw(context as *mut SendContext) };
    // SAFETY: the completed IRP.
    if unsafe { (*irp).IoStatus.__bindgen_anon_1.Status } < 0 {
        TX_FAILED.fetch_add(1, Ordering::Relaxed);
    }
    // SAFETY: the MDL and IRP `send` allocated; WSK is done with both.
    unsafe {
        sys::IoFreeMdl(send.mdl);
        sys::IoFreeIrp(send.irp);
    }
    drop(send);
    driver().sends_in_flight.fetch_sub(1, Ordering::AcqRel);
    sys::STATUS_MORE_PROCESSING_REQUIRED
}

// ---- the platform --------------------------------------------------------------------------------

/// The engine's platform: the NMR binding and the sockets bound through it.
#[allow(clippy::vec_box)] // each Socket's address is WSK's SocketContext: it must not move
pub struct WskPlatform {
    binding: Option<Box<Binding>>,
    sockets: Vec<Box<Socket>>,
    retiring: Vec<Box<Socket>>,
    next_id: TransportId,
    addresses: Vec<Ipv6Addr>,
    scratch: Vec<u8>,
    seed_state: u64,
}

// SAFETY: only used under the engine lock.
unsafe impl Send for WskPlatform {}

impl WskPlatform {
    /// No binding yet; instances advertise `addresses`.
    pub fn new(addresses: Vec<Ipv6Addr>) -> Self {
        Self {
            binding: None,
            sockets: Vec::new(),
            retiring: Vec::new(),
            next_id: 1,
            addresses,
            scratch: Vec::with_capacity(MAX_DATAGRAM),
            seed_state: 0,
        }
    }

    /// Whether a provider is attached and calls may enter (not detaching).
    pub fn attached(&self) -> bool {
        self.binding.as_ref().is_some_and(|b| b.state.phase() == Phase::Attached)
    }

    /// How many addresses instances advertise.
    pub fn address_count(&self) -> usize {
        self.addresses.len()
    }

    /// Sockets open (live and retiring).
    pub fn socket_count(&self) -> usize {
        self.sockets.len() + self.retiring.len()
    }

    /// ClientAttachProvider's work, under the engine lock.
    fn attach(&mut self, handle: sys::HANDLE) -> sys::NTSTATUS {
        if self.binding.is_some() {
            // One provider at a time (a previous binding is still being torn down).
            return sys::STATUS_NOINTERFACE;
        }
        let mut binding = Box::new(Binding {
            client: core::ptr::null_mut(),
            dispatch: core::ptr::null(),
            state: ProviderBinding::new(Notify { handle }),
            cleaned_up: AtomicBool::new(false),
        });
        // Attached before NMR can call ClientDetachProvider; nothing can enter a call until the
        // binding is stored below (under the engine lock, which we hold).
        let _ = binding.state.attach();
        let mut provider_context: sys::PVOID = core::ptr::null_mut();
        let mut provider_dispatch: sys::PCVOID = core::ptr::null();
        // SAFETY: PASSIVE_LEVEL; the binding context and client dispatch stay resident until
        // ClientCleanupBindingContext (the Box is freed only after it).
        let status = unsafe {
            sys::NmrClientAttachProvider(
                handle,
                &*binding as *const Binding as sys::PVOID,
                &CLIENT_DISPATCH.0 as *const sys::WSK_CLIENT_DISPATCH as sys::PCVOID,
                &mut provider_context,
                &mut provider_dispatch,
            )
        };
        if status < 0 {
            log!("NmrClientAttachProvider failed: {:#010x}", status as u32);
            return status;
        }
        binding.client = provider_context;
        binding.dispatch = provider_dispatch.cast();
        log!("attached to the WSK provider");
        self.binding = Some(binding);
        status
    }

    /// Worker: close everything when the provider detaches; free the binding after cleanup.
    pub fn service_binding(&mut self) {
        let Some(binding) = &self.binding else { return };
        match binding.state.phase() {
            Phase::Detaching | Phase::Detached if self.socket_count() > 0 => {
                log!("the WSK provider is detaching: closing {} sockets", self.socket_count());
                self.close_all();
            }
            _ => {}
        }
        if self.binding.as_ref().is_some_and(|b| b.cleaned_up.load(Ordering::Acquire)) {
            self.binding = None;
            log!("WSK binding released");
        }
    }

    /// DriverUnload, after NmrWaitForClientDeregisterComplete: the binding is no longer used.
    pub fn drop_binding(&mut self) {
        self.binding = None;
    }

    /// Worker: feed every queued datagram to the device and release the lists.
    pub fn drain_rx(&mut self, device: &mut Device, now: Instant) -> usize {
        let d = driver();
        let mut lists = 0;
        loop {
            let item = d.rx.lock().items.pop_front();
            let Some((socket, list)) = item else { break };
            lists += 1;
            // SAFETY: a socket with queued indications is not closed before they are released
            // (unbind takes them out of the queue first), and we hold the engine lock.
            let socket = unsafe { &*socket };
            let mut indication = list;
            while !indication.is_null() {
                // SAFETY: a retained indication list, valid until WskRelease.
                let i = unsafe { &*indication };
                if let Some(from) = endpoint_of(i.RemoteAddress)
                    && copy_wsk_buf(&i.Buffer, &mut self.scratch)
                {
                    device.handle_datagram(now, socket.id, from, &self.scratch);
                }
                indication = i.Next;
            }
            self.release(socket, list);
        }
        lists
    }

    /// `WskRelease` of a retained list.
    fn release(&self, socket: &Socket, list: sys::PWSK_DATAGRAM_INDICATION) {
        let (Some(binding), Some(hold)) = (&self.binding, &socket.hold) else { return };
        let Some(_call) = binding.state.enter_held(hold) else { return };
        if let Some(release) = socket.dispatch().WskRelease {
            // SAFETY: a list this socket indicated and we retained.
            unsafe { release(socket.wsk, list) };
        }
    }

    /// Sends one datagram.
    pub fn send(&mut self, out: Outgoing) {
        let d = driver();
        let Some(socket) = self.sockets.iter().chain(self.retiring.iter()).find(|s| s.id == out.transport)
        else {
            TX_FAILED.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let (Some(binding), Some(hold)) = (&self.binding, &socket.hold) else {
            TX_FAILED.fetch_add(1, Ordering::Relaxed);
            return;
        };
        if socket.dead.load(Ordering::Acquire) || out.payload.is_empty() {
            TX_FAILED.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let Some(send_to) = socket.dispatch().WskSendTo else { return };
        let Some(_call) = binding.state.enter_held(hold) else {
            TX_FAILED.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let len = out.payload.len();
        let mut send = Box::new(SendContext {
            irp: core::ptr::null_mut(),
            mdl: core::ptr::null_mut(),
            buf: sys::WSK_BUF { Mdl: core::ptr::null_mut(), Offset: 0, Length: len },
            address: sockaddr_in6(out.destination.addr, out.destination.port),
            payload: out.payload,
        });
        // SAFETY: the payload is non-paged pool (the driver's allocator) and stays in the
        // context until the completion routine frees both.
        unsafe {
            send.mdl = sys::IoAllocateMdl(
                send.payload.as_mut_ptr().cast(),
                len as u32,
                sys::FALSE,
                sys::FALSE,
                core::ptr::null_mut(),
            );
            if send.mdl.is_null() {
                TX_FAILED.fetch_add(1, Ordering::Relaxed);
                return;
            }
            sys::MmBuildMdlForNonPagedPool(send.mdl);
            send.irp = sys::IoAllocateIrp(1, sys::FALSE);
            if send.irp.is_null() {
                sys::IoFreeMdl(send.mdl);
                TX_FAILED.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        send.buf.Mdl = send.mdl;
        let irp = send.irp;
        let raw = Box::into_raw(send);
        // SAFETY: our IRP; the context lives until send_done.
        let status = unsafe { set_completion(irp, send_done, raw.cast()) };
        if status < 0 {
            // SAFETY: never handed to WSK; reclaim everything.
            unsafe {
                let send = Box::from_raw(raw);
                sys::IoFreeMdl(send.mdl);
                sys::IoFreeIrp(send.irp);
            }
            TX_FAILED.fetch_add(1, Ordering::Relaxed);
            return;
        }
        d.sends_in_flight.fetch_add(1, Ordering::AcqRel);
        // SAFETY: the WSK_BUF, address and MDL stay valid until the IRP completes (the context
        // is freed by send_done); WSK completes the IRP in every case.
        unsafe {
            send_to(
                socket.wsk,
                &mut (*raw).buf,
                0,
                &mut (*raw).address as *mut sys::SOCKADDR_IN6 as sys::PSOCKADDR,
                0,
                core::ptr::null_mut(),
                irp,
            );
        }
    }

    /// Closes the sockets the engine unbound (after their last datagrams were sent).
    pub fn close_retiring(&mut self) {
        while let Some(socket) = self.retiring.pop() {
            self.close(socket);
        }
    }

    /// Closes every socket (provider detaching, DriverUnload).
    pub fn close_all(&mut self) {
        let live = core::mem::take(&mut self.sockets);
        for socket in live {
            self.begin_close(&socket);
            self.retiring.push(socket);
        }
        self.close_retiring();
    }

    /// Stops queueing for `socket` and releases what it has queued.
    fn begin_close(&self, socket: &Socket) {
        let d = driver();
        {
            let _rx = d.rx.lock();
            socket.closing.store(true, Ordering::Release);
        }
        loop {
            let list = {
                let mut rx = d.rx.lock();
                match rx.items.iter().position(|(s, _)| core::ptr::eq(*s, socket)) {
                    Some(i) => rx.items.remove(i).map(|(_, l)| l),
                    None => None,
                }
            };
            match list {
                Some(list) => self.release(socket, list),
                None => break,
            }
        }
    }

    /// `WskCloseSocket` (no indication of it is retained any more), then ends its hold.
    fn close(&mut self, mut socket: Box<Socket>) {
        self.begin_close(&socket);
        let Some(binding) = &self.binding else {
            log!("socket {} outlived its binding", socket.id);
            return;
        };
        if let Some(hold) = socket.hold.take() {
            if let Some(call) = binding.state.enter_held(&hold) {
                if let Some(close) = socket.dispatch().Basic.WskCloseSocket {
                    let wsk = socket.wsk;
                    // SAFETY: no other call into the socket is in progress (engine lock).
                    let (status, _) = call_sync(|irp| unsafe { close(wsk, irp) });
                    if status < 0 {
                        log!("WskCloseSocket of socket {} failed: {:#010x}", socket.id, status as u32);
                    }
                }
                drop(call);
            }
            binding.state.release(hold);
        }
    }

    /// Closes a socket that `bind` could not finish.
    fn abandon(&mut self, socket: Box<Socket>) {
        self.close(socket);
    }

    /// Sets an integer socket option (synchronous).
    fn set_option(&self, socket: &Socket, level: u32, option: u32, value: u32) -> sys::NTSTATUS {
        let Some(control) = socket.dispatch().Basic.WskControlSocket else {
            return sys::STATUS_NOT_SUPPORTED;
        };
        let mut value = value;
        let wsk = socket.wsk;
        // SAFETY: the socket is open; the input lives across the synchronous call.
        call_sync(|irp| unsafe {
            control(
                wsk,
                sys::WskSetOption,
                option,
                level,
                size_of::<u32>(),
                (&mut value as *mut u32).cast(),
                0,
                core::ptr::null_mut(),
                core::ptr::null_mut(),
                irp,
            )
        })
        .0
    }
}

impl Platform for WskPlatform {
    fn bind(&mut self, port: u16, _scope: u32, _scope_id: u32) -> Result<Bound, u32> {
        let binding = self.binding.as_ref().ok_or(abi_status::INVALID_DEVICE_STATE)?;
        let call = binding.state.try_enter().ok_or(abi_status::INVALID_DEVICE_STATE)?;
        // SAFETY: the provider dispatch NMR returned, valid while attached.
        let dispatch = unsafe { &*binding.dispatch };
        let client = binding.client;
        let create = dispatch.WskSocket.ok_or(abi_status::INVALID_DEVICE_STATE)?;
        let mut socket = Box::new(Socket {
            id: self.next_id,
            wsk: core::ptr::null_mut(),
            closing: AtomicBool::new(false),
            dead: AtomicBool::new(false),
            hold: None,
        });
        let context = &mut *socket as *mut Socket as sys::PVOID;
        // SAFETY: PASSIVE_LEVEL; the socket context and client dispatch stay resident until
        // WskCloseSocket completes.
        let (status, information) = call_sync(|irp| unsafe {
            create(
                client,
                sys::AF_INET6,
                sys::SOCK_DGRAM,
                sys::IPPROTO_UDP,
                sys::WSK_FLAG_DATAGRAM_SOCKET,
                context,
                &DATAGRAM_DISPATCH.0 as *const sys::WSK_CLIENT_DATAGRAM_DISPATCH as sys::PCVOID,
                core::ptr::null_mut(),
                core::ptr::null_mut(),
                core::ptr::null_mut(),
                irp,
            )
        });
        if status < 0 || information == 0 {
            log!("WskSocket failed: {:#010x}", status as u32);
            return Err(if status < 0 { status as u32 } else { abi_status::UNEXPECTED_IO_ERROR });
        }
        socket.wsk = information as sys::PWSK_SOCKET;
        socket.hold = Some(call.into_hold());
        self.next_id = self.next_id.wrapping_add(1).max(1);

        // Dual stack: IPv4 peers as IPv4-mapped addresses (peerdrtd advertises ::ffff:127.0.0.1).
        let s = self.set_option(&socket, sys::IPPROTO_IPV6, sys::IPV6_V6ONLY, 0);
        if s < 0 {
            log!("IPV6_V6ONLY=0 failed ({:#010x}): IPv6 peers only", s as u32);
        }

        let Some(bind) = socket.dispatch().WskBind else {
            self.abandon(socket);
            return Err(abi_status::UNEXPECTED_IO_ERROR);
        };
        let mut local = sockaddr_in6(Ipv6Addr::UNSPECIFIED, port);
        let wsk = socket.wsk;
        // SAFETY: the socket is open; the address lives across the synchronous call.
        let (status, _) = call_sync(|irp| unsafe {
            bind(wsk, &mut local as *mut sys::SOCKADDR_IN6 as sys::PSOCKADDR, 0, irp)
        });
        if status < 0 {
            log!("WskBind to port {} failed: {:#010x}", port, status as u32);
            self.abandon(socket);
            return Err(status as u32);
        }

        let mut bound_port = port;
        if port == 0 {
            let mut address = sockaddr_in6(Ipv6Addr::UNSPECIFIED, 0);
            let status = match socket.dispatch().WskGetLocalAddress {
                // SAFETY: as above.
                Some(get) => {
                    call_sync(|irp| unsafe {
                        get(wsk, &mut address as *mut sys::SOCKADDR_IN6 as sys::PSOCKADDR, irp)
                    })
                    .0
                }
                None => sys::STATUS_NOT_SUPPORTED,
            };
            bound_port = u16::from_be(address.sin6_port);
            if status < 0 || bound_port == 0 {
                log!("WskGetLocalAddress failed: {:#010x}", status as u32);
                self.abandon(socket);
                return Err(if status < 0 { status as u32 } else { abi_status::UNEXPECTED_IO_ERROR });
            }
        }

        let Some(control) = socket.dispatch().Basic.WskControlSocket else {
            self.abandon(socket);
            return Err(abi_status::UNEXPECTED_IO_ERROR);
        };
        let mut events =
            sys::WSK_EVENT_CALLBACK_CONTROL { NpiId: &NPI_ID.0, EventMask: sys::WSK_EVENT_RECEIVE_FROM };
        // SAFETY: as above.
        let (status, _) = call_sync(|irp| unsafe {
            control(
                wsk,
                sys::WskSetOption,
                sys::SO_WSK_EVENT_CALLBACK,
                sys::SOL_SOCKET,
                size_of::<sys::WSK_EVENT_CALLBACK_CONTROL>(),
                (&mut events as *mut sys::WSK_EVENT_CALLBACK_CONTROL).cast(),
                0,
                core::ptr::null_mut(),
                core::ptr::null_mut(),
                irp,
            )
        });
        if status < 0 {
            log!("enabling WSK_EVENT_RECEIVE_FROM failed: {:#010x}", status as u32);
            self.abandon(socket);
            return Err(status as u32);
        }
        let id = socket.id;
        self.sockets.push(socket);
        log!("socket {} bound to UDP port {}", id, bound_port);
        Ok(Bound { id, port: bound_port, addresses: self.addresses.clone() })
    }

    fn unbind(&mut self, id: TransportId) {
        let Some(i) = self.sockets.iter().position(|s| s.id == id) else { return };
        let socket = self.sockets.swap_remove(i);
        self.begin_close(&socket);
        self.retiring.push(socket);
    }

    fn utc_now(&mut self) -> Option<u64> {
        time::utc()
    }

    fn random_seed(&mut self) -> [u8; 32] {
        // Key material (group handshakes' ephemeral secrets) and seeds (the DRT node's
        // generator): the system-preferred CNG generator, XORed with a fallback stream that
        // stands alone only if CNG fails: the kernel's RtlRandomEx stream, keyed and mixed with
        // the performance counter at each call and with this call's addresses, through
        // SplitMix64.
        let mut out = self.fallback_random();
        let mut cng = [0u8; 32];
        // SAFETY: PASSIVE_LEVEL; a 32-byte buffer; no algorithm handle with the system-preferred
        // flag.
        let status = unsafe {
            sys::BCryptGenRandom(ptr::null_mut(), cng.as_mut_ptr(), 32, sys::BCRYPT_USE_SYSTEM_PREFERRED_RNG)
        };
        if status >= 0 {
            out.iter_mut().zip(cng).for_each(|(o, c)| *o ^= c);
        } else if !CNG_FAILURE_LOGGED.swap(true, Ordering::Relaxed) {
            log!("BCryptGenRandom failed ({:#010x}): random bytes from RtlRandomEx only", status as u32);
        }
        out
    }
}

/// Whether a failure of `BCryptGenRandom` was logged (once is enough).
static CNG_FAILURE_LOGGED: AtomicBool = AtomicBool::new(false);

impl WskPlatform {
    fn fallback_random(&mut self) -> [u8; 32] {
        let mut state = self.seed_state ^ time::counter() ^ (self as *const Self as u64).rotate_left(29);
        let mut rtl = (state as u32) ^ ((state >> 32) as u32);
        let mut out = [0u8; 32];
        for chunk in out.chunks_exact_mut(8) {
            // SAFETY: PASSIVE_LEVEL; `rtl` is the generator's seed word.
            let r = unsafe {
                (u64::from(sys::RtlRandomEx(&mut rtl)) << 32) | u64::from(sys::RtlRandomEx(&mut rtl))
            };
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15 ^ r ^ time::counter());
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            chunk.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
        }
        self.seed_state = state;
        out
    }
}
