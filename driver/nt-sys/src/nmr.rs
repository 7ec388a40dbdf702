//! The Network Module Registrar: NPI identifiers, module IDs, registration instances, client
//! and provider characteristics and their callback types (netioddk.h, netiodef.h).
//!
//! The registrar's functions (`NmrRegisterClient`, `NmrClientAttachProvider`, ...) are NETIO.SYS
//! imports the driver declares itself; their shapes are in the docs of [`NPI_CLIENT_CHARACTERISTICS`].

use crate::base::*;
use crate::layout;

/// `typedef GUID NPIID` (netiodef.h).
pub type NPIID = GUID;
pub type PNPIID = *const NPIID;

/// `enum _NPI_MODULEID_TYPE` (netiodef.h).
pub type NPI_MODULEID_TYPE = i32;
pub const MIT_GUID: NPI_MODULEID_TYPE = 1;
pub const MIT_IF_LUID: NPI_MODULEID_TYPE = 2;

/// The `{ Guid; IfLuid; }` union of `NPI_MODULEID`.
#[repr(C)]
#[derive(Clone, Copy)]
pub union NPI_MODULEID_0 {
    pub Guid: GUID,
    pub IfLuid: LUID,
}

/// `struct _NPI_MODULEID` (netiodef.h), 24 bytes on x64 with the union at offset 8.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct NPI_MODULEID {
    /// `sizeof(NPI_MODULEID)`.
    pub Length: USHORT,
    pub Type: NPI_MODULEID_TYPE,
    pub __bindgen_anon_1: NPI_MODULEID_0,
}
pub type PNPI_MODULEID = *const NPI_MODULEID;
layout!(NPI_MODULEID, size 24, align 4; Length @ 0; Type @ 4; __bindgen_anon_1 @ 8);

impl NPI_MODULEID {
    /// A `MIT_GUID` module ID.
    pub const fn from_guid(guid: GUID) -> Self {
        NPI_MODULEID {
            Length: core::mem::size_of::<NPI_MODULEID>() as USHORT,
            Type: MIT_GUID,
            __bindgen_anon_1: NPI_MODULEID_0 { Guid: guid },
        }
    }
}

/// `struct _NPI_REGISTRATION_INSTANCE` (netioddk.h), 40 bytes on x64. The NPIID, module ID and
/// characteristics it points to must stay resident while the module is registered.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct NPI_REGISTRATION_INSTANCE {
    /// 0.
    pub Version: USHORT,
    /// `sizeof(NPI_REGISTRATION_INSTANCE)`.
    pub Size: USHORT,
    pub NpiId: PNPIID,
    pub ModuleId: PNPI_MODULEID,
    pub Number: ULONG,
    /// For WSK providers: a `WSK_PROVIDER_CHARACTERISTICS`.
    pub NpiSpecificCharacteristics: PCVOID,
}
pub type PNPI_REGISTRATION_INSTANCE = *const NPI_REGISTRATION_INSTANCE;
layout!(NPI_REGISTRATION_INSTANCE, size 40;
    Version @ 0; Size @ 2; NpiId @ 8; ModuleId @ 0x10; Number @ 0x18; NpiSpecificCharacteristics @ 0x20);

/// `struct _NPI` (netioddk.h): a handle and a dispatch table.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct NPI {
    pub Handle: HANDLE,
    pub Dispatch: PCVOID,
}
layout!(NPI, size 16; Handle @ 0; Dispatch @ 8);

/// `NPI_CLIENT_ATTACH_PROVIDER_FN` (netioddk.h): PASSIVE_LEVEL, once per matching provider.
/// Accept by calling `NmrClientAttachProvider` and returning what it returns; decline with
/// `STATUS_NOINTERFACE`.
pub type NPI_CLIENT_ATTACH_PROVIDER_FN = Option<
    unsafe extern "system" fn(
        NmrBindingHandle: HANDLE,
        ClientContext: PVOID,
        ProviderRegistrationInstance: PNPI_REGISTRATION_INSTANCE,
    ) -> NTSTATUS,
>;
pub type PNPI_CLIENT_ATTACH_PROVIDER_FN = NPI_CLIENT_ATTACH_PROVIDER_FN;

/// `NPI_CLIENT_DETACH_PROVIDER_FN` (netioddk.h): IRQL <= DISPATCH_LEVEL, once. Returns
/// `STATUS_SUCCESS` when no provider call is in flight, else `STATUS_PENDING` and later calls
/// `NmrClientDetachProviderComplete`.
pub type NPI_CLIENT_DETACH_PROVIDER_FN =
    Option<unsafe extern "system" fn(ClientBindingContext: PVOID) -> NTSTATUS>;
pub type PNPI_CLIENT_DETACH_PROVIDER_FN = NPI_CLIENT_DETACH_PROVIDER_FN;

/// `NPI_CLIENT_CLEANUP_BINDING_CONTEXT_FN` (netioddk.h): after both sides detached.
pub type NPI_CLIENT_CLEANUP_BINDING_CONTEXT_FN =
    Option<unsafe extern "system" fn(ClientBindingContext: PVOID)>;
pub type PNPI_CLIENT_CLEANUP_BINDING_CONTEXT_FN = NPI_CLIENT_CLEANUP_BINDING_CONTEXT_FN;

/// `struct _NPI_CLIENT_CHARACTERISTICS` (netioddk.h), 72 bytes on x64.
///
/// The registrar calls that use it (NETIO.SYS exports, `extern "system"`):
/// * `NTSTATUS NmrRegisterClient(const NPI_CLIENT_CHARACTERISTICS*, PVOID ClientContext, PHANDLE)`
/// * `NTSTATUS NmrDeregisterClient(HANDLE NmrClientHandle)` — normally `STATUS_PENDING`
/// * `NTSTATUS NmrWaitForClientDeregisterComplete(HANDLE NmrClientHandle)`
/// * `NTSTATUS NmrClientAttachProvider(HANDLE NmrBindingHandle, PVOID ClientBindingContext,
///   const VOID* ClientDispatch, PVOID* ProviderBindingContext, const VOID** ProviderDispatch)`
/// * `VOID NmrClientDetachProviderComplete(HANDLE NmrBindingHandle)`
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct NPI_CLIENT_CHARACTERISTICS {
    /// 0.
    pub Version: USHORT,
    /// `sizeof(NPI_CLIENT_CHARACTERISTICS)`.
    pub Length: USHORT,
    pub ClientAttachProvider: PNPI_CLIENT_ATTACH_PROVIDER_FN,
    pub ClientDetachProvider: PNPI_CLIENT_DETACH_PROVIDER_FN,
    pub ClientCleanupBindingContext: PNPI_CLIENT_CLEANUP_BINDING_CONTEXT_FN,
    pub ClientRegistrationInstance: NPI_REGISTRATION_INSTANCE,
}
pub type PNPI_CLIENT_CHARACTERISTICS = *const NPI_CLIENT_CHARACTERISTICS;
layout!(NPI_CLIENT_CHARACTERISTICS, size 72;
    Version @ 0; Length @ 2; ClientAttachProvider @ 8; ClientDetachProvider @ 0x10;
    ClientCleanupBindingContext @ 0x18; ClientRegistrationInstance @ 0x20;
    ClientRegistrationInstance.NpiSpecificCharacteristics @ 0x40);

/// `NPI_PROVIDER_ATTACH_CLIENT_FN` (netioddk.h).
pub type NPI_PROVIDER_ATTACH_CLIENT_FN = Option<
    unsafe extern "system" fn(
        NmrBindingHandle: HANDLE,
        ProviderContext: PVOID,
        ClientRegistrationInstance: PNPI_REGISTRATION_INSTANCE,
        ClientBindingContext: PVOID,
        ClientDispatch: PCVOID,
        ProviderBindingContext: *mut PVOID,
        ProviderDispatch: *mut PCVOID,
    ) -> NTSTATUS,
>;
pub type PNPI_PROVIDER_ATTACH_CLIENT_FN = NPI_PROVIDER_ATTACH_CLIENT_FN;
/// `NPI_PROVIDER_DETACH_CLIENT_FN` (netioddk.h).
pub type NPI_PROVIDER_DETACH_CLIENT_FN =
    Option<unsafe extern "system" fn(ProviderBindingContext: PVOID) -> NTSTATUS>;
pub type PNPI_PROVIDER_DETACH_CLIENT_FN = NPI_PROVIDER_DETACH_CLIENT_FN;
/// `NPI_PROVIDER_CLEANUP_BINDING_CONTEXT_FN` (netioddk.h).
pub type NPI_PROVIDER_CLEANUP_BINDING_CONTEXT_FN =
    Option<unsafe extern "system" fn(ProviderBindingContext: PVOID)>;
pub type PNPI_PROVIDER_CLEANUP_BINDING_CONTEXT_FN = NPI_PROVIDER_CLEANUP_BINDING_CONTEXT_FN;

/// `struct _NPI_PROVIDER_CHARACTERISTICS` (netioddk.h), 72 bytes on x64.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct NPI_PROVIDER_CHARACTERISTICS {
    pub Version: USHORT,
    pub Length: USHORT,
    pub ProviderAttachClient: PNPI_PROVIDER_ATTACH_CLIENT_FN,
    pub ProviderDetachClient: PNPI_PROVIDER_DETACH_CLIENT_FN,
    pub ProviderCleanupBindingContext: PNPI_PROVIDER_CLEANUP_BINDING_CONTEXT_FN,
    pub ProviderRegistrationInstance: NPI_REGISTRATION_INSTANCE,
}
layout!(NPI_PROVIDER_CHARACTERISTICS, size 72;
    ProviderAttachClient @ 8; ProviderDetachClient @ 0x10; ProviderCleanupBindingContext @ 0x18;
    ProviderRegistrationInstance @ 0x20);
