//! The one place the NT glue gets its kernel types and functions from.
//!
//! * Without `wdk` (the Linux cross build, the Wine lane): the hand-written `#[repr(C)]` types of
//!   `peerdrt-nt-sys`, a few opaque types the glue only allocates (below), and the functions
//!   imported with `raw-dylib` from `ntoskrnl.exe` and `NETIO.SYS` — no import library needed.
//!   `+verbatim` keeps the module names as written (without it the import names
//!   `ntoskrnl.exe.dll`, and the loader refuses the driver).
//! * With `wdk` (Windows with the WDK): wdk-sys's bindgen output for the NT kernel, and
//!   `peerdrt-nt-sys` for what wdk-sys 0.5 lacks (NMR, WSK, socket addresses, the inline wdm.h
//!   helpers), with NETIO imported from the WDK's `netio.lib`. This variant cannot be compiled on
//!   Linux (wdk-build needs a Windows host) and was not; the layouts of the two type sets are the
//!   same (peerdrt-nt-sys asserts the WDK's offsets), which is what the pointer casts in
//!   [`compat`] rely on.
//!
//! Names are bindgen's, so the glue is one source for both. The small [`compat`] section is
//! where the two differ: bindgen types callbacks `extern "C"`, peerdrt-nt-sys `extern "system"`
//! (the same ABI on x86_64), so the glue stores its callbacks through these helpers.
//!
//! `KeQueryPerformanceCounter` is not imported: on x64 Windows it is an ntoskrnl.exe export, under
//! Wine only hal.dll has it. The glue resolves it once with `MmGetSystemRoutineAddress`, which
//! searches both (see `super::time`).

#![allow(
    non_camel_case_types,
    non_snake_case,
    non_upper_case_globals,
    dead_code,
    clippy::upper_case_acronyms
)]

use core::ffi::c_void;

// ---- types -------------------------------------------------------------------------------------

#[cfg(not(feature = "wdk"))]
pub use peerdrt_nt_sys::*;

#[cfg(feature = "wdk")]
pub use peerdrt_nt_sys::{net::*, nmr::*, status::*, wsk::*};
#[cfg(feature = "wdk")]
pub use wdk_sys::{ntddk::*, *};

/// Opaque kernel objects and security types the glue allocates or passes but never reads.
/// They are not in peerdrt-nt-sys (its scope is what the stand-in shares); sizes are x64 WDK's.
#[cfg(not(feature = "wdk"))]
mod local {
    use super::*;

    /// `ERESOURCE` (wdm.h): 0x68 bytes on x64, 8-aligned, non-paged.
    #[repr(C, align(8))]
    pub struct ERESOURCE {
        pub _opaque: [u8; 0x68],
    }
    pub type PERESOURCE = *mut ERESOURCE;
    const _: () = assert!(core::mem::size_of::<ERESOURCE>() == 0x68);

    /// `POOL_TYPE` (wdm.h).
    pub type POOL_TYPE = i32;
    /// `SECURITY_INFORMATION` (winnt.h).
    pub type SECURITY_INFORMATION = ULONG;
    pub const DACL_SECURITY_INFORMATION: SECURITY_INFORMATION = 0x0000_0004;
    /// `PACL`, `PSID`: the glue builds both in byte buffers.
    pub type PACL = PVOID;
    pub type PSID = PVOID;
    /// `PACCESS_STATE`, `POBJECT_TYPE`: passed as null.
    pub type PACCESS_STATE = PVOID;
    pub type POBJECT_TYPE = PVOID;
    /// `MEMORY_CACHING_TYPE` (wdm.h) and `MmCached`.
    pub type MEMORY_CACHING_TYPE = i32;
    pub const MmCached: MEMORY_CACHING_TYPE = 1;
    /// `MM_PAGE_PRIORITY` flags of `MmGetSystemAddressForMdlSafe`.
    pub const NormalPagePriority: ULONG = 16;
    pub const MdlMappingNoExecute: ULONG = 0x4000_0000;
    /// `EXPAND_STACK_CALLOUT` (ntddk.h).
    pub type PEXPAND_STACK_CALLOUT = Option<unsafe extern "system" fn(Parameter: PVOID)>;
    /// `OBJ_KERNEL_HANDLE` (ntdef.h).
    pub const OBJ_KERNEL_HANDLE: ULONG = 0x0000_0200;
    /// Access rights (winnt.h).
    pub const WRITE_DAC: ACCESS_MASK = 0x0004_0000;
    pub const SYNCHRONIZE: ACCESS_MASK = 0x0010_0000;
    pub const THREAD_ALL_ACCESS: ACCESS_MASK = 0x001F_FFFF;
    /// `SECURITY_DESCRIPTOR_REVISION`, `ACL_REVISION` (winnt.h).
    pub const SECURITY_DESCRIPTOR_REVISION: ULONG = 1;
    pub const ACL_REVISION: ULONG = 2;
    /// STATUS_OBJECT_NAME_NOT_FOUND (ntstatus.h).
    pub const STATUS_OBJECT_NAME_NOT_FOUND: NTSTATUS = 0xC000_0034u32 as NTSTATUS;
    /// `SECURITY_DESCRIPTOR_MIN_LENGTH` on x64 (the absolute form).
    pub const SECURITY_DESCRIPTOR_MIN_LENGTH: usize = 40;
}
#[cfg(not(feature = "wdk"))]
pub use local::*;

// ---- imports: ntoskrnl.exe ---------------------------------------------------------------------

#[cfg(not(feature = "wdk"))]
#[link(name = "ntoskrnl.exe", kind = "raw-dylib", modifiers = "+verbatim")]
unsafe extern "system" {
    // Pool.
    pub fn ExAllocatePoolWithTag(PoolType: POOL_TYPE, NumberOfBytes: SIZE_T, Tag: ULONG) -> PVOID;
    pub fn ExFreePoolWithTag(P: PVOID, Tag: ULONG);

    // Bug check.
    pub fn KeBugCheckEx(
        BugCheckCode: ULONG,
        BugCheckParameter1: ULONG_PTR,
        BugCheckParameter2: ULONG_PTR,
        BugCheckParameter3: ULONG_PTR,
        BugCheckParameter4: ULONG_PTR,
    ) -> !;

    // Devices, links, IRPs.
    pub fn IoCreateDevice(
        DriverObject: PDRIVER_OBJECT,
        DeviceExtensionSize: ULONG,
        DeviceName: PUNICODE_STRING,
        DeviceType: DEVICE_TYPE,
        DeviceCharacteristics: ULONG,
        Exclusive: BOOLEAN,
        DeviceObject: *mut PDEVICE_OBJECT,
    ) -> NTSTATUS;
    pub fn IoDeleteDevice(DeviceObject: PDEVICE_OBJECT);
    pub fn IoCreateSymbolicLink(SymbolicLinkName: PUNICODE_STRING, DeviceName: PUNICODE_STRING) -> NTSTATUS;
    pub fn IoDeleteSymbolicLink(SymbolicLinkName: PUNICODE_STRING) -> NTSTATUS;
    pub fn IofCompleteRequest(Irp: PIRP, PriorityBoost: CCHAR);
    pub fn IoReleaseCancelSpinLock(Irql: KIRQL);
    pub fn IoAllocateIrp(StackSize: CCHAR, ChargeQuota: BOOLEAN) -> PIRP;
    pub fn IoFreeIrp(Irp: PIRP);
    pub fn IoCancelIrp(Irp: PIRP) -> BOOLEAN;
    pub fn IoSetCompletionRoutineEx(
        DeviceObject: PDEVICE_OBJECT,
        Irp: PIRP,
        CompletionRoutine: PIO_COMPLETION_ROUTINE,
        Context: PVOID,
        InvokeOnSuccess: BOOLEAN,
        InvokeOnError: BOOLEAN,
        InvokeOnCancel: BOOLEAN,
    ) -> NTSTATUS;
    pub fn IoAllocateMdl(
        VirtualAddress: PVOID,
        Length: ULONG,
        SecondaryBuffer: BOOLEAN,
        ChargeQuota: BOOLEAN,
        Irp: PIRP,
    ) -> PMDL;
    pub fn IoFreeMdl(Mdl: PMDL);
    pub fn MmBuildMdlForNonPagedPool(MemoryDescriptorList: PMDL);
    pub fn MmMapLockedPagesSpecifyCache(
        MemoryDescriptorList: PMDL,
        AccessMode: KPROCESSOR_MODE,
        CacheType: MEMORY_CACHING_TYPE,
        RequestedAddress: PVOID,
        BugCheckOnFailure: ULONG,
        Priority: ULONG,
    ) -> PVOID;
    pub fn MmGetSystemRoutineAddress(SystemRoutineName: PUNICODE_STRING) -> PVOID;

    // Dispatcher objects and locks.
    pub fn KeInitializeEvent(Event: PRKEVENT, Type: EVENT_TYPE, State: BOOLEAN);
    pub fn KeSetEvent(Event: PRKEVENT, Increment: KPRIORITY, Wait: BOOLEAN) -> LONG;
    pub fn KeClearEvent(Event: PRKEVENT);
    pub fn KeWaitForSingleObject(
        Object: PVOID,
        WaitReason: KWAIT_REASON,
        WaitMode: KPROCESSOR_MODE,
        Alertable: BOOLEAN,
        Timeout: PLARGE_INTEGER,
    ) -> NTSTATUS;
    pub fn KeAcquireSpinLockRaiseToDpc(SpinLock: PKSPIN_LOCK) -> KIRQL;
    pub fn KeReleaseSpinLock(SpinLock: PKSPIN_LOCK, NewIrql: KIRQL);
    pub fn ExInitializeResourceLite(Resource: PERESOURCE) -> NTSTATUS;
    pub fn ExDeleteResourceLite(Resource: PERESOURCE) -> NTSTATUS;
    pub fn ExAcquireResourceExclusiveLite(Resource: PERESOURCE, Wait: BOOLEAN) -> BOOLEAN;
    pub fn ExReleaseResourceLite(Resource: PERESOURCE);
    pub fn KeEnterCriticalRegion();
    pub fn KeLeaveCriticalRegion();
    pub fn KeDelayExecutionThread(
        WaitMode: KPROCESSOR_MODE,
        Alertable: BOOLEAN,
        Interval: PLARGE_INTEGER,
    ) -> NTSTATUS;

    // Threads.
    pub fn PsCreateSystemThread(
        ThreadHandle: PHANDLE,
        DesiredAccess: ULONG,
        ObjectAttributes: POBJECT_ATTRIBUTES,
        ProcessHandle: HANDLE,
        ClientId: PCLIENT_ID,
        StartRoutine: PKSTART_ROUTINE,
        StartContext: PVOID,
    ) -> NTSTATUS;
    pub fn PsTerminateSystemThread(ExitStatus: NTSTATUS) -> NTSTATUS;
    pub fn PsGetCurrentProcessId() -> HANDLE;
    pub fn ZwWaitForSingleObject(Handle: HANDLE, Alertable: BOOLEAN, Timeout: PLARGE_INTEGER) -> NTSTATUS;
    pub fn ZwClose(Handle: HANDLE) -> NTSTATUS;
    pub fn KeExpandKernelStackAndCallout(
        Callout: PEXPAND_STACK_CALLOUT,
        Parameter: PVOID,
        Size: SIZE_T,
    ) -> NTSTATUS;

    // Security of the device object.
    pub fn RtlCreateSecurityDescriptor(SecurityDescriptor: PSECURITY_DESCRIPTOR, Revision: ULONG)
    -> NTSTATUS;
    pub fn RtlCreateAcl(Acl: PACL, AclLength: ULONG, AclRevision: ULONG) -> NTSTATUS;
    pub fn RtlAddAccessAllowedAce(
        Acl: PACL,
        AceRevision: ULONG,
        AccessMask: ACCESS_MASK,
        Sid: PSID,
    ) -> NTSTATUS;
    pub fn RtlSetDaclSecurityDescriptor(
        SecurityDescriptor: PSECURITY_DESCRIPTOR,
        DaclPresent: BOOLEAN,
        Dacl: PACL,
        DaclDefaulted: BOOLEAN,
    ) -> NTSTATUS;
    pub fn ObOpenObjectByPointer(
        Object: PVOID,
        HandleAttributes: ULONG,
        PassedAccessState: PACCESS_STATE,
        DesiredAccess: ACCESS_MASK,
        ObjectType: POBJECT_TYPE,
        AccessMode: KPROCESSOR_MODE,
        Handle: PHANDLE,
    ) -> NTSTATUS;
    pub fn ZwSetSecurityObject(
        Handle: HANDLE,
        SecurityInformation: SECURITY_INFORMATION,
        SecurityDescriptor: PSECURITY_DESCRIPTOR,
    ) -> NTSTATUS;

    // Seed material.
    pub fn RtlRandomEx(Seed: PULONG) -> ULONG;
}

// The C-calling-convention exports: DbgPrint and the routines LLVM emits calls to (`memcpy`,
// `memset`, `memmove`, `memcmp`, and `__chkstk` for frames over a page come from the kernel, as
// they do for C drivers; the msvc target's compiler_builtins leaves them to a C runtime).
#[cfg(not(feature = "wdk"))]
#[link(name = "ntoskrnl.exe", kind = "raw-dylib", modifiers = "+verbatim")]
unsafe extern "C" {
    pub fn DbgPrint(Format: *const core::ffi::c_char, ...) -> ULONG;
    fn memcpy(dest: *mut c_void, src: *const c_void, n: usize) -> *mut c_void;
    fn memmove(dest: *mut c_void, src: *const c_void, n: usize) -> *mut c_void;
    fn memset(dest: *mut c_void, c: i32, n: usize) -> *mut c_void;
    fn memcmp(a: *const c_void, b: *const c_void, n: usize) -> i32;
    fn __chkstk();
}

// ---- imports: NETIO.SYS (the Network Module Registrar) -----------------------------------------

#[cfg(not(feature = "wdk"))]
#[link(name = "NETIO.SYS", kind = "raw-dylib", modifiers = "+verbatim")]
unsafe extern "system" {
    pub fn NmrRegisterClient(
        ClientCharacteristics: PNPI_CLIENT_CHARACTERISTICS,
        ClientContext: PVOID,
        NmrClientHandle: PHANDLE,
    ) -> NTSTATUS;
    pub fn NmrDeregisterClient(NmrClientHandle: HANDLE) -> NTSTATUS;
    pub fn NmrWaitForClientDeregisterComplete(NmrClientHandle: HANDLE) -> NTSTATUS;
    pub fn NmrClientAttachProvider(
        NmrBindingHandle: HANDLE,
        ClientBindingContext: PVOID,
        ClientDispatch: PCVOID,
        ProviderBindingContext: *mut PVOID,
        ProviderDispatch: *mut PCVOID,
    ) -> NTSTATUS;
    pub fn NmrClientDetachProviderComplete(NmrBindingHandle: HANDLE);
}

#[cfg(feature = "wdk")]
#[link(name = "netio")]
unsafe extern "system" {
    pub fn NmrRegisterClient(
        ClientCharacteristics: PNPI_CLIENT_CHARACTERISTICS,
        ClientContext: PVOID,
        NmrClientHandle: PHANDLE,
    ) -> NTSTATUS;
    pub fn NmrDeregisterClient(NmrClientHandle: HANDLE) -> NTSTATUS;
    pub fn NmrWaitForClientDeregisterComplete(NmrClientHandle: HANDLE) -> NTSTATUS;
    pub fn NmrClientAttachProvider(
        NmrBindingHandle: HANDLE,
        ClientBindingContext: PVOID,
        ClientDispatch: PCVOID,
        ProviderBindingContext: *mut PVOID,
        ProviderDispatch: *mut PCVOID,
    ) -> NTSTATUS;
    pub fn NmrClientDetachProviderComplete(NmrBindingHandle: HANDLE);
}

// ---- compat: where wdk-sys and peerdrt-nt-sys differ ---------------------------------------------

/// The glue's callback types: `extern "system"`, which is the Win64 ABI, as is bindgen's
/// `extern "C"` on x86_64. Without `wdk` the transmutes below are identities.
#[cfg_attr(not(feature = "wdk"), allow(clippy::useless_transmute))]
pub mod compat {
    use super::*;

    /// The glue's completion routine as the `PIO_COMPLETION_ROUTINE` of the sys types.
    pub fn completion_routine(routine: Completion) -> PIO_COMPLETION_ROUTINE {
        // SAFETY: the same function-pointer ABI on x86_64.
        unsafe { core::mem::transmute::<Option<Completion>, PIO_COMPLETION_ROUTINE>(Some(routine)) }
    }

    /// An `IRP_MJ_*` dispatch routine.
    pub type Dispatch = unsafe extern "system" fn(*mut DEVICE_OBJECT, *mut IRP) -> NTSTATUS;
    /// `DriverUnload`.
    pub type Unload = unsafe extern "system" fn(*mut DRIVER_OBJECT);
    /// An IRP cancel routine.
    pub type Cancel = unsafe extern "system" fn(*mut DEVICE_OBJECT, *mut IRP);
    /// An IoCompletion routine.
    pub type Completion = unsafe extern "system" fn(*mut DEVICE_OBJECT, *mut IRP, PVOID) -> NTSTATUS;
    /// A system thread's start routine, and a stack-expansion callout.
    pub type Start = unsafe extern "system" fn(PVOID);

    /// `DriverObject->MajorFunction[major] = routine`.
    ///
    /// # Safety
    /// `driver` is the driver object DriverEntry received.
    pub unsafe fn set_dispatch(driver: *mut DRIVER_OBJECT, major: u8, routine: Dispatch) {
        // SAFETY: the caller's driver object; the two function types share one ABI on x86_64.
        unsafe { (*driver).MajorFunction[usize::from(major)] = core::mem::transmute(Some(routine)) };
    }

    /// `DriverObject->DriverUnload = routine`.
    ///
    /// # Safety
    /// As [`set_dispatch`].
    pub unsafe fn set_unload(driver: *mut DRIVER_OBJECT, routine: Unload) {
        // SAFETY: as above.
        unsafe { (*driver).DriverUnload = core::mem::transmute(Some(routine)) };
    }

    /// `IoSetCancelRoutine(Irp, Routine)`: atomically swaps `Irp->CancelRoutine` and returns the
    /// previous one (None: the I/O manager took it to cancel the IRP, or there was none).
    ///
    /// # Safety
    /// `irp` is an IRP this driver owns.
    pub unsafe fn IoSetCancelRoutine(irp: *mut IRP, routine: Option<Cancel>) -> Option<Cancel> {
        use core::sync::atomic::{AtomicPtr, Ordering};
        // SAFETY: `CancelRoutine` is a pointer-sized, pointer-aligned field; the I/O manager
        // swaps it with an interlocked exchange too (wdm.h: InterlockedExchangePointer).
        let slot = unsafe { &*(core::ptr::addr_of_mut!((*irp).CancelRoutine) as *const AtomicPtr<c_void>) };
        let new = routine.map_or(core::ptr::null_mut(), |r| r as *mut c_void);
        let old = slot.swap(new, Ordering::SeqCst);
        // SAFETY: the slot only ever holds null or a cancel routine.
        (!old.is_null()).then(|| unsafe { core::mem::transmute::<*mut c_void, Cancel>(old) })
    }

    /// `IoSetCompletionRoutine(Irp, Routine, Context, TRUE, TRUE, TRUE)`.
    ///
    /// # Safety
    /// `irp` has a next stack location (allocated with `IoAllocateIrp(1, ..)` or more).
    pub unsafe fn set_completion(irp: *mut IRP, routine: Completion, context: PVOID) {
        // SAFETY: the caller's IRP; same ABI.
        unsafe {
            peerdrt_nt_sys::IoSetCompletionRoutine(
                irp.cast(),
                core::mem::transmute::<Option<Completion>, peerdrt_nt_sys::PIO_COMPLETION_ROUTINE>(Some(
                    routine,
                )),
                context,
                true,
                true,
                true,
            )
        }
    }

    /// `IoGetCurrentIrpStackLocation(Irp)`.
    ///
    /// # Safety
    /// `irp` is a valid IRP.
    pub unsafe fn current_stack(irp: *mut IRP) -> *mut IO_STACK_LOCATION {
        // SAFETY: the caller's IRP.
        unsafe { peerdrt_nt_sys::IoGetCurrentIrpStackLocation(irp.cast()).cast() }
    }

    /// `IoMarkIrpPending(Irp)`.
    ///
    /// # Safety
    /// `irp` is a valid IRP this driver owns.
    pub unsafe fn mark_pending(irp: *mut IRP) {
        // SAFETY: the caller's IRP.
        unsafe { peerdrt_nt_sys::IoMarkIrpPending(irp.cast()) }
    }

    /// `PsCreateSystemThread(&handle, THREAD_ALL_ACCESS, NULL, NULL, NULL, start, context)`.
    ///
    /// # Safety
    /// PASSIVE_LEVEL, in the system process (DriverEntry); `context` outlives the thread.
    pub unsafe fn create_system_thread(start: Start, context: PVOID, handle: &mut HANDLE) -> NTSTATUS {
        // SAFETY: as documented; same ABI.
        unsafe {
            PsCreateSystemThread(
                handle,
                THREAD_ALL_ACCESS,
                core::ptr::null_mut(),
                core::ptr::null_mut(),
                core::ptr::null_mut(),
                core::mem::transmute::<Option<Start>, PKSTART_ROUTINE>(Some(start)),
                context,
            )
        }
    }

    /// `KeExpandKernelStackAndCallout(callout, parameter, size)`.
    ///
    /// # Safety
    /// IRQL <= APC_LEVEL.
    pub unsafe fn expand_stack_and_callout(callout: Start, parameter: PVOID, size: usize) -> NTSTATUS {
        // SAFETY: as documented; same ABI.
        unsafe {
            KeExpandKernelStackAndCallout(
                core::mem::transmute::<Option<Start>, PEXPAND_STACK_CALLOUT>(Some(callout)),
                parameter,
                size as SIZE_T,
            )
        }
    }

    /// `IoCompleteRequest(Irp, IO_NO_INCREMENT)` (a macro for `IofCompleteRequest`).
    ///
    /// # Safety
    /// `irp` is an IRP this driver owns and has not completed.
    pub unsafe fn complete(irp: *mut IRP) {
        // SAFETY: the caller's IRP.
        unsafe { IofCompleteRequest(irp, IO_NO_INCREMENT as CCHAR) }
    }

    /// `MmGetSystemAddressForMdlSafe(Mdl, NormalPagePriority | MdlMappingNoExecute)`.
    ///
    /// # Safety
    /// `mdl` describes locked or non-paged memory.
    pub unsafe fn system_address(mdl: *mut MDL) -> *mut u8 {
        // SAFETY: the caller's MDL.
        unsafe {
            if (*mdl).MdlFlags & (MDL_MAPPED_TO_SYSTEM_VA | MDL_SOURCE_IS_NONPAGED_POOL) as CSHORT != 0 {
                (*mdl).MappedSystemVa.cast()
            } else {
                MmMapLockedPagesSpecifyCache(
                    mdl,
                    KernelMode,
                    MmCached,
                    core::ptr::null_mut(),
                    0,
                    NormalPagePriority | MdlMappingNoExecute,
                )
                .cast()
            }
        }
    }
}
