//! Winsock Kernel (wsk.h): the interface ID, client and provider dispatch tables for datagram
//! sockets, buffers, indications, event-callback control, flags and every function-pointer type
//! a datagram client meets. `WSKAPI` is `NTAPI`: `extern "system"`.
//!
//! Calls that take an IRP complete it through the completion routine the caller set with
//! `IoSetCompletionRoutine` (the WSK subsystem takes the next stack location); they return
//! `STATUS_PENDING` or the final status.

use crate::base::*;
use crate::irp::{IRP, PMDL};
use crate::layout;
use crate::net::*;
use crate::nmr::{NPIID, PNPIID};

/// `NPI_WSK_INTERFACE_ID` = `{2227E803-8D8B-11D4-ABAD-009027719E09}`, defined here rather than
/// linked from uuid.lib (which the WDK's km library path does not carry).
pub const NPI_WSK_INTERFACE_ID: NPIID =
    GUID::from_parts(0x2227_E803, 0x8D8B, 0x11D4, [0xAB, 0xAD, 0x00, 0x90, 0x27, 0x71, 0x9E, 0x09]);

/// `MAKE_WSK_VERSION(Mj, Mn)`.
#[inline]
pub const fn MAKE_WSK_VERSION(major: u8, minor: u8) -> USHORT {
    ((major as USHORT) << 8) | minor as USHORT
}
/// `WSK_MAJOR_VERSION(V)`.
#[inline]
pub const fn WSK_MAJOR_VERSION(version: USHORT) -> u8 {
    (version >> 8) as u8
}
/// `WSK_MINOR_VERSION(V)`.
#[inline]
pub const fn WSK_MINOR_VERSION(version: USHORT) -> u8 {
    version as u8
}

/// `PWSK_CLIENT` is a `PVOID`: the provider binding context NMR hands back on attach.
pub type PWSK_CLIENT = PVOID;

// ---- flags and codes ---------------------------------------------------------------------------

/// Receive callbacks: the callback really runs at DISPATCH_LEVEL.
pub const WSK_FLAG_AT_DISPATCH_LEVEL: ULONG = 0x0000_0008;
pub const WSK_FLAG_RELEASE_ASAP: ULONG = 0x0000_0002;
pub const WSK_FLAG_ENTIRE_MESSAGE: ULONG = 0x0000_0004;

/// `WskSocket` flags: the socket category.
pub const WSK_FLAG_BASIC_SOCKET: ULONG = 0x0000_0000;
pub const WSK_FLAG_LISTEN_SOCKET: ULONG = 0x0000_0001;
pub const WSK_FLAG_CONNECTION_SOCKET: ULONG = 0x0000_0002;
pub const WSK_FLAG_DATAGRAM_SOCKET: ULONG = 0x0000_0004;
pub const WSK_FLAG_STREAM_SOCKET: ULONG = 0x0000_0008;

/// `WskControlClient` control codes.
pub const WSK_TRANSPORT_LIST_QUERY: ULONG = 2;
pub const WSK_TRANSPORT_LIST_CHANGE: ULONG = 3;
pub const WSK_CACHE_SD: ULONG = 4;
pub const WSK_RELEASE_SD: ULONG = 5;
pub const WSK_TDI_DEVICENAME_MAPPING: ULONG = 6;
/// Enable event callbacks for every socket the client creates afterwards.
pub const WSK_SET_STATIC_EVENT_CALLBACKS: ULONG = 7;
pub const WSK_TDI_BEHAVIOR: ULONG = 8;

/// WSK socket options (`WSK_SO_BASE + n`), level `SOL_SOCKET`.
pub const SO_WSK_SECURITY: ULONG = WSK_SO_BASE + 1;
pub const SO_WSK_EVENT_CALLBACK: ULONG = WSK_SO_BASE + 2;

/// Event masks for `SO_WSK_EVENT_CALLBACK` and `WSK_SET_STATIC_EVENT_CALLBACKS`.
pub const WSK_EVENT_RECEIVE_FROM: ULONG = 0x0000_0100;
pub const WSK_EVENT_ACCEPT: ULONG = 0x0000_0200;
pub const WSK_EVENT_SEND_BACKLOG: ULONG = 0x0000_0010;
pub const WSK_EVENT_RECEIVE: ULONG = 0x0000_0040;
pub const WSK_EVENT_DISCONNECT: ULONG = 0x0000_0080;
/// OR'ed into the mask to disable (needs an IRP).
pub const WSK_EVENT_DISABLE: ULONG = 0x8000_0000;

/// `WskCaptureProviderNPI` wait values.
pub const WSK_NO_WAIT: ULONG = 0;
pub const WSK_INFINITE_WAIT: ULONG = 0xffff_ffff;

/// `enum WSK_CONTROL_SOCKET_TYPE`.
pub type WSK_CONTROL_SOCKET_TYPE = i32;
pub const WskSetOption: WSK_CONTROL_SOCKET_TYPE = 0;
pub const WskGetOption: WSK_CONTROL_SOCKET_TYPE = 1;
pub const WskIoctl: WSK_CONTROL_SOCKET_TYPE = 2;

// ---- data structures ---------------------------------------------------------------------------

/// `struct _WSK_PROVIDER_CHARACTERISTICS`: the provider's version range, pointed to by its
/// registration instance's `NpiSpecificCharacteristics`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WSK_PROVIDER_CHARACTERISTICS {
    pub HighestVersion: USHORT,
    pub LowestVersion: USHORT,
}
pub type PWSK_PROVIDER_CHARACTERISTICS = *mut WSK_PROVIDER_CHARACTERISTICS;
layout!(WSK_PROVIDER_CHARACTERISTICS, size 4; HighestVersion @ 0; LowestVersion @ 2);

/// `struct _WSK_SOCKET`: `Dispatch` is a `WSK_PROVIDER_DATAGRAM_DISPATCH` for datagram sockets.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct WSK_SOCKET {
    pub Dispatch: PCVOID,
}
pub type PWSK_SOCKET = *mut WSK_SOCKET;
layout!(WSK_SOCKET, size 8; Dispatch @ 0);

/// `struct _WSK_BUF`: `Length` bytes starting `Offset` bytes into the first MDL of a locked
/// chain. 24 bytes on x64: `Offset` is a ULONG followed by padding.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct WSK_BUF {
    pub Mdl: PMDL,
    pub Offset: ULONG,
    pub Length: SIZE_T,
}
pub type PWSK_BUF = *mut WSK_BUF;
layout!(WSK_BUF, size 24; Mdl @ 0; Offset @ 8; Length @ 16);

/// `struct _WSK_BUF_LIST` (Windows 8+, `WskSendMessages`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct WSK_BUF_LIST {
    pub Next: *mut WSK_BUF_LIST,
    pub Buffer: WSK_BUF,
}
pub type PWSK_BUF_LIST = *mut WSK_BUF_LIST;
layout!(WSK_BUF_LIST, size 32; Next @ 0; Buffer @ 8);

/// `struct _WSK_DATAGRAM_INDICATION`: one datagram of a receive-from indication list.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct WSK_DATAGRAM_INDICATION {
    pub Next: *mut WSK_DATAGRAM_INDICATION,
    pub Buffer: WSK_BUF,
    pub ControlInfo: PCMSGHDR,
    pub ControlInfoLength: ULONG,
    pub RemoteAddress: PSOCKADDR,
}
pub type PWSK_DATAGRAM_INDICATION = *mut WSK_DATAGRAM_INDICATION;
layout!(WSK_DATAGRAM_INDICATION, size 56;
    Next @ 0; Buffer @ 8; Buffer.Length @ 0x18; ControlInfo @ 0x20; ControlInfoLength @ 0x28;
    RemoteAddress @ 0x30);

/// `struct _WSK_EVENT_CALLBACK_CONTROL`: input of `SO_WSK_EVENT_CALLBACK` and
/// `WSK_SET_STATIC_EVENT_CALLBACKS`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct WSK_EVENT_CALLBACK_CONTROL {
    pub NpiId: PNPIID,
    pub EventMask: ULONG,
}
pub type PWSK_EVENT_CALLBACK_CONTROL = *mut WSK_EVENT_CALLBACK_CONTROL;
layout!(WSK_EVENT_CALLBACK_CONTROL, size 16; NpiId @ 0; EventMask @ 8);

// ---- client-side callbacks ---------------------------------------------------------------------

/// `PFN_WSK_CLIENT_EVENT`.
pub type PFN_WSK_CLIENT_EVENT = Option<
    unsafe extern "system" fn(
        ClientContext: PVOID,
        EventType: ULONG,
        Information: PVOID,
        InformationLength: SIZE_T,
    ) -> NTSTATUS,
>;

/// `PFN_WSK_RECEIVE_FROM_EVENT`: IRQL <= DISPATCH_LEVEL. A null indication means the socket is
/// dead. Returns `STATUS_SUCCESS` (consumed), `STATUS_PENDING` (retained until `WskRelease`) or
/// `STATUS_DATA_NOT_ACCEPTED`. Must not wait.
pub type PFN_WSK_RECEIVE_FROM_EVENT = Option<
    unsafe extern "system" fn(
        SocketContext: PVOID,
        Flags: ULONG,
        DataIndication: PWSK_DATAGRAM_INDICATION,
    ) -> NTSTATUS,
>;

/// `struct _WSK_CLIENT_DISPATCH`: the client-level table given to `NmrClientAttachProvider`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct WSK_CLIENT_DISPATCH {
    /// `MAKE_WSK_VERSION(1, 0)`.
    pub Version: USHORT,
    pub Reserved: USHORT,
    pub WskClientEvent: PFN_WSK_CLIENT_EVENT,
}
pub type PWSK_CLIENT_DISPATCH = *mut WSK_CLIENT_DISPATCH;
layout!(WSK_CLIENT_DISPATCH, size 16; Version @ 0; Reserved @ 2; WskClientEvent @ 8);

/// `struct _WSK_CLIENT_DATAGRAM_DISPATCH`: the per-socket callback table of `WskSocket`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct WSK_CLIENT_DATAGRAM_DISPATCH {
    pub WskReceiveFromEvent: PFN_WSK_RECEIVE_FROM_EVENT,
}
pub type PWSK_CLIENT_DATAGRAM_DISPATCH = *mut WSK_CLIENT_DATAGRAM_DISPATCH;
layout!(WSK_CLIENT_DATAGRAM_DISPATCH, size 8; WskReceiveFromEvent @ 0);

// ---- provider-level calls ----------------------------------------------------------------------

/// `PFN_WSK_SOCKET`: on success `Irp->IoStatus.Information` is the `PWSK_SOCKET`.
pub type PFN_WSK_SOCKET = Option<
    unsafe extern "system" fn(
        Client: PWSK_CLIENT,
        AddressFamily: ADDRESS_FAMILY,
        SocketType: USHORT,
        Protocol: ULONG,
        Flags: ULONG,
        SocketContext: PVOID,
        Dispatch: PCVOID,
        OwningProcess: PEPROCESS,
        OwningThread: PETHREAD,
        SecurityDescriptor: PSECURITY_DESCRIPTOR,
        Irp: *mut IRP,
    ) -> NTSTATUS,
>;

/// `PFN_WSK_SOCKET_CONNECT` (`Dispatch` is a `WSK_CLIENT_CONNECTION_DISPATCH`).
pub type PFN_WSK_SOCKET_CONNECT = Option<
    unsafe extern "system" fn(
        Client: PWSK_CLIENT,
        SocketType: USHORT,
        Protocol: ULONG,
        LocalAddress: PSOCKADDR,
        RemoteAddress: PSOCKADDR,
        Flags: ULONG,
        SocketContext: PVOID,
        Dispatch: PCVOID,
        OwningProcess: PEPROCESS,
        OwningThread: PETHREAD,
        SecurityDescriptor: PSECURITY_DESCRIPTOR,
        Irp: *mut IRP,
    ) -> NTSTATUS,
>;

/// `PFN_WSK_CONTROL_CLIENT`.
pub type PFN_WSK_CONTROL_CLIENT = Option<
    unsafe extern "system" fn(
        Client: PWSK_CLIENT,
        ControlCode: ULONG,
        InputSize: SIZE_T,
        InputBuffer: PVOID,
        OutputSize: SIZE_T,
        OutputBuffer: PVOID,
        OutputSizeReturned: PSIZE_T,
        Irp: *mut IRP,
    ) -> NTSTATUS,
>;

/// `PFN_WSK_GET_ADDRESS_INFO` (`Hints`/`Result` are `ADDRINFOEXW`, opaque here).
pub type PFN_WSK_GET_ADDRESS_INFO = Option<
    unsafe extern "system" fn(
        Client: PWSK_CLIENT,
        NodeName: PUNICODE_STRING,
        ServiceName: PUNICODE_STRING,
        NameSpace: ULONG,
        Provider: *mut GUID,
        Hints: PVOID,
        Result: *mut PVOID,
        OwningProcess: PEPROCESS,
        OwningThread: PETHREAD,
        Irp: *mut IRP,
    ) -> NTSTATUS,
>;

/// `PFN_WSK_FREE_ADDRESS_INFO`.
pub type PFN_WSK_FREE_ADDRESS_INFO = Option<unsafe extern "system" fn(Client: PWSK_CLIENT, AddrInfo: PVOID)>;

/// `PFN_WSK_GET_NAME_INFO`.
pub type PFN_WSK_GET_NAME_INFO = Option<
    unsafe extern "system" fn(
        Client: PWSK_CLIENT,
        SockAddr: PSOCKADDR,
        SockAddrLength: ULONG,
        NodeName: PUNICODE_STRING,
        ServiceName: PUNICODE_STRING,
        Flags: ULONG,
        OwningProcess: PEPROCESS,
        OwningThread: PETHREAD,
        Irp: *mut IRP,
    ) -> NTSTATUS,
>;

/// `struct _WSK_PROVIDER_DISPATCH`: the provider-level table NMR returns on attach. After
/// `ClientDetachProvider` no new call may enter it.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct WSK_PROVIDER_DISPATCH {
    pub Version: USHORT,
    pub Reserved: USHORT,
    pub WskSocket: PFN_WSK_SOCKET,
    pub WskSocketConnect: PFN_WSK_SOCKET_CONNECT,
    pub WskControlClient: PFN_WSK_CONTROL_CLIENT,
    pub WskGetAddressInfo: PFN_WSK_GET_ADDRESS_INFO,
    pub WskFreeAddressInfo: PFN_WSK_FREE_ADDRESS_INFO,
    pub WskGetNameInfo: PFN_WSK_GET_NAME_INFO,
}
pub type PWSK_PROVIDER_DISPATCH = *mut WSK_PROVIDER_DISPATCH;
layout!(WSK_PROVIDER_DISPATCH, size 56;
    Version @ 0; Reserved @ 2; WskSocket @ 8; WskSocketConnect @ 0x10; WskControlClient @ 0x18;
    WskGetAddressInfo @ 0x20; WskFreeAddressInfo @ 0x28; WskGetNameInfo @ 0x30);

// ---- socket-level calls ------------------------------------------------------------------------

/// `PFN_WSK_CONTROL_SOCKET`. Enabling an event callback may be done without an IRP;
/// disabling needs one.
pub type PFN_WSK_CONTROL_SOCKET = Option<
    unsafe extern "system" fn(
        Socket: PWSK_SOCKET,
        RequestType: WSK_CONTROL_SOCKET_TYPE,
        ControlCode: ULONG,
        Level: ULONG,
        InputSize: SIZE_T,
        InputBuffer: PVOID,
        OutputSize: SIZE_T,
        OutputBuffer: PVOID,
        OutputSizeReturned: PSIZE_T,
        Irp: *mut IRP,
    ) -> NTSTATUS,
>;

/// `PFN_WSK_CLOSE_SOCKET`: no other call on the socket may be in progress, and every retained
/// indication must have been released first. The IRP is required.
pub type PFN_WSK_CLOSE_SOCKET =
    Option<unsafe extern "system" fn(Socket: PWSK_SOCKET, Irp: *mut IRP) -> NTSTATUS>;

/// `PFN_WSK_BIND` (`Flags` reserved, 0).
pub type PFN_WSK_BIND = Option<
    unsafe extern "system" fn(
        Socket: PWSK_SOCKET,
        LocalAddress: PSOCKADDR,
        Flags: ULONG,
        Irp: *mut IRP,
    ) -> NTSTATUS,
>;

/// `PFN_WSK_SEND_TO` (`Flags` reserved, 0). On `STATUS_PENDING` the buffer, address and control
/// data stay valid until the IRP completes.
pub type PFN_WSK_SEND_TO = Option<
    unsafe extern "system" fn(
        Socket: PWSK_SOCKET,
        Buffer: PWSK_BUF,
        Flags: ULONG,
        RemoteAddress: PSOCKADDR,
        ControlInfoLength: ULONG,
        ControlInfo: PCMSGHDR,
        Irp: *mut IRP,
    ) -> NTSTATUS,
>;

/// `PFN_WSK_SEND_MESSAGES` (Windows 8+).
pub type PFN_WSK_SEND_MESSAGES = Option<
    unsafe extern "system" fn(
        Socket: PWSK_SOCKET,
        BufferList: PWSK_BUF_LIST,
        Flags: ULONG,
        RemoteAddress: PSOCKADDR,
        ControlInfoLength: ULONG,
        ControlInfo: PCMSGHDR,
        Irp: *mut IRP,
    ) -> NTSTATUS,
>;

/// `PFN_WSK_RECEIVE_FROM`.
pub type PFN_WSK_RECEIVE_FROM = Option<
    unsafe extern "system" fn(
        Socket: PWSK_SOCKET,
        Buffer: PWSK_BUF,
        Flags: ULONG,
        RemoteAddress: PSOCKADDR,
        ControlLength: PULONG,
        ControlInfo: PCMSGHDR,
        ControlFlags: PULONG,
        Irp: *mut IRP,
    ) -> NTSTATUS,
>;

/// `PFN_WSK_RELEASE_DATAGRAM_INDICATION_LIST`: returns indications retained with
/// `STATUS_PENDING`.
pub type PFN_WSK_RELEASE_DATAGRAM_INDICATION_LIST = Option<
    unsafe extern "system" fn(Socket: PWSK_SOCKET, DatagramIndication: PWSK_DATAGRAM_INDICATION) -> NTSTATUS,
>;

/// `PFN_WSK_GET_LOCAL_ADDRESS`.
pub type PFN_WSK_GET_LOCAL_ADDRESS = Option<
    unsafe extern "system" fn(Socket: PWSK_SOCKET, LocalAddress: PSOCKADDR, Irp: *mut IRP) -> NTSTATUS,
>;

/// `struct _WSK_PROVIDER_BASIC_DISPATCH`: the calls every socket supports.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct WSK_PROVIDER_BASIC_DISPATCH {
    pub WskControlSocket: PFN_WSK_CONTROL_SOCKET,
    pub WskCloseSocket: PFN_WSK_CLOSE_SOCKET,
}
pub type PWSK_PROVIDER_BASIC_DISPATCH = *mut WSK_PROVIDER_BASIC_DISPATCH;
layout!(WSK_PROVIDER_BASIC_DISPATCH, size 16; WskControlSocket @ 0; WskCloseSocket @ 8);

/// `struct _WSK_PROVIDER_DATAGRAM_DISPATCH` (`Basic` is anonymous in C, named in C++ and in the
/// docs).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct WSK_PROVIDER_DATAGRAM_DISPATCH {
    pub Basic: WSK_PROVIDER_BASIC_DISPATCH,
    pub WskBind: PFN_WSK_BIND,
    pub WskSendTo: PFN_WSK_SEND_TO,
    pub WskReceiveFrom: PFN_WSK_RECEIVE_FROM,
    pub WskRelease: PFN_WSK_RELEASE_DATAGRAM_INDICATION_LIST,
    pub WskGetLocalAddress: PFN_WSK_GET_LOCAL_ADDRESS,
    pub WskSendMessages: PFN_WSK_SEND_MESSAGES,
}
pub type PWSK_PROVIDER_DATAGRAM_DISPATCH = *mut WSK_PROVIDER_DATAGRAM_DISPATCH;
layout!(WSK_PROVIDER_DATAGRAM_DISPATCH, size 64;
    Basic.WskControlSocket @ 0; Basic.WskCloseSocket @ 8; WskBind @ 0x10; WskSendTo @ 0x18;
    WskReceiveFrom @ 0x20; WskRelease @ 0x28; WskGetLocalAddress @ 0x30; WskSendMessages @ 0x38);

// ---- WskRegister flavour (the alternative to NMR) ----------------------------------------------

/// `struct _WSK_CLIENT_NPI` (`WskRegister`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct WSK_CLIENT_NPI {
    pub ClientContext: PVOID,
    pub Dispatch: *const WSK_CLIENT_DISPATCH,
}
layout!(WSK_CLIENT_NPI, size 16; ClientContext @ 0; Dispatch @ 8);

/// `struct _WSK_PROVIDER_NPI` (`WskCaptureProviderNPI`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct WSK_PROVIDER_NPI {
    pub Client: PWSK_CLIENT,
    pub Dispatch: *const WSK_PROVIDER_DISPATCH,
}
layout!(WSK_PROVIDER_NPI, size 16; Client @ 0; Dispatch @ 8);

/// `struct _WSK_REGISTRATION`: opaque registration block of `WskRegister`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct WSK_REGISTRATION {
    pub ReservedRegistrationState: ULONGLONG,
    pub ReservedRegistrationContext: PVOID,
    pub ReservedRegistrationLock: KSPIN_LOCK,
}
layout!(WSK_REGISTRATION, size 24);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wsk_constants() {
        assert_eq!(MAKE_WSK_VERSION(1, 0), 0x0100);
        assert_eq!(WSK_MAJOR_VERSION(0x0100), 1);
        assert_eq!(WSK_MINOR_VERSION(0x0100), 0);
        assert_eq!(SO_WSK_EVENT_CALLBACK, 0x4002);
        assert_eq!(AF_INET6, 23);
        assert_eq!(SOCK_DGRAM, 2);
        assert_eq!(IPPROTO_UDP, 17);
    }

    #[test]
    fn wsk_interface_id_bytes() {
        // {2227E803-8D8B-11D4-ABAD-009027719E09} in memory (little-endian Data1..Data3).
        // SAFETY: GUID is 16 bytes of plain data.
        let bytes: [u8; 16] = unsafe { core::mem::transmute(NPI_WSK_INTERFACE_ID) };
        assert_eq!(
            bytes,
            [0x03, 0xE8, 0x27, 0x22, 0x8B, 0x8D, 0xD4, 0x11, 0xAB, 0xAD, 0x00, 0x90, 0x27, 0x71, 0x9E, 0x09]
        );
    }
}
