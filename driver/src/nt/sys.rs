//! The one place the NT glue gets its kernel types and functions from.
//!
//! Types: the hand-written `#[repr(C)]` types of `peerdrt-nt-sys` (bindgen's names, the WDK's
//! x64 layouts asserted at compile time), plus a few opaque types the glue only allocates
//! (below), in both builds. NMR and WSK exist only there (wdk-sys 0.5 has no network headers),
//! and the WSK dispatch tables take that crate's `IRP`, `MDL` and `SOCKADDR`; with the kernel
//! types from the same crate the glue is one source with one set of types, with or without `wdk`.
//!
//! Functions: declared here, in both builds, with bindgen's signatures.
//! * Without `wdk` (the Linux cross build, the Wine lane) they are imported with `raw-dylib`
//!   straight from `ntoskrnl.exe` and `NETIO.SYS`, no import library needed. `+verbatim` keeps
//!   the module names as written (without it the import is named `ntoskrnl.exe.dll` and the
//!   loader refuses the driver).
//! * With `wdk` (Windows with the WDK) they resolve against the WDK's import libraries
//!   (`ntoskrnl.lib`, `netio.lib`) on the search path wdk-build sets up; wdk-sys is re-exported
//!   as [`wdk`] for anything else of the WDK, wdk-alloc is the allocator and wdk-panic the panic
//!   handler (see `super`). This build cannot be compiled on Linux (wdk-build needs a Windows
//!   host with the WDK) and was not; it differs from the checked one only in the link
//!   attributes the `kernel_imports!` macro below chooses, and in the allocator and panic crate.
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

pub use peerdrt_nt_sys::*;

/// The WDK's own bindings (the `wdk` build).
#[cfg(feature = "wdk")]
pub use wdk_sys as wdk;

/// Opaque kernel objects and security types the glue allocates or passes but never reads.
/// They are not in peerdrt-nt-sys (its scope is what the stand-in shares); sizes are x64 WDK's.
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
    /// `OBJ_KERNEL_HANDLE`, `OBJ_CASE_INSENSITIVE` (ntdef.h).
    pub const OBJ_KERNEL_HANDLE: ULONG = 0x0000_0200;
    pub const OBJ_CASE_INSENSITIVE: ULONG = 0x0000_0040;

    /// `OBJECT_ATTRIBUTES` (ntdef.h), 0x30 bytes on x64: what `InitializeObjectAttributes` fills.
    #[repr(C)]
    pub struct OBJECT_ATTRIBUTES {
        pub Length: ULONG,
        pub RootDirectory: HANDLE,
        pub ObjectName: PUNICODE_STRING,
        pub Attributes: ULONG,
        pub SecurityDescriptor: PVOID,
        pub SecurityQualityOfService: PVOID,
    }
    const _: () = assert!(core::mem::size_of::<OBJECT_ATTRIBUTES>() == 0x30);
    const _: () = assert!(core::mem::offset_of!(OBJECT_ATTRIBUTES, Attributes) == 0x18);

    /// `KEY_READ` (winnt.h), `KeyValuePartialInformation` (wdm.h), registry value types.
    pub const KEY_READ: ACCESS_MASK = 0x0002_0019;
    pub const KeyValuePartialInformation: i32 = 2;
    pub const REG_SZ: ULONG = 1;
    pub const REG_MULTI_SZ: ULONG = 7;
    pub const REG_EXPAND_SZ: ULONG = 2;
    pub const REG_DWORD: ULONG = 4;
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

    // ---- files (ntifs.h / wdm.h): what the group store's Zw* calls take -------------------------

    /// Access rights (winnt.h).
    pub const GENERIC_READ: ACCESS_MASK = 0x8000_0000;
    pub const GENERIC_WRITE: ACCESS_MASK = 0x4000_0000;
    pub const DELETE: ACCESS_MASK = 0x0001_0000;
    pub const FILE_LIST_DIRECTORY: ACCESS_MASK = 0x0001;
    pub const FILE_TRAVERSE: ACCESS_MASK = 0x0020;
    /// `FILE_ALL_ACCESS` (winnt.h).
    pub const FILE_ALL_ACCESS: ACCESS_MASK = 0x001F_01FF;
    /// `FILE_ATTRIBUTE_NORMAL`, `FILE_SHARE_READ` (winnt.h).
    pub const FILE_ATTRIBUTE_NORMAL: ULONG = 0x0000_0080;
    pub const FILE_SHARE_READ: ULONG = 0x0000_0001;
    /// CreateDisposition values of `ZwCreateFile` (wdm.h).
    pub const FILE_OPEN: ULONG = 0x0000_0001;
    pub const FILE_OPEN_IF: ULONG = 0x0000_0003;
    pub const FILE_OVERWRITE_IF: ULONG = 0x0000_0005;
    /// CreateOptions flags of `ZwCreateFile` (wdm.h).
    pub const FILE_DIRECTORY_FILE: ULONG = 0x0000_0001;
    pub const FILE_WRITE_THROUGH: ULONG = 0x0000_0002;
    pub const FILE_SYNCHRONOUS_IO_NONALERT: ULONG = 0x0000_0020;
    pub const FILE_NON_DIRECTORY_FILE: ULONG = 0x0000_0040;
    pub const FILE_DELETE_ON_CLOSE: ULONG = 0x0000_1000;
    /// `IoStatusBlock.Information` after `ZwCreateFile` (wdm.h).
    pub const FILE_CREATED: usize = 0x0000_0002;
    /// `FILE_INFORMATION_CLASS` values (wdm.h).
    pub const FileRenameInformation: i32 = 10;
    pub const FileStandardInformation: i32 = 5;
    pub const FileEndOfFileInformation: i32 = 20;
    /// NTSTATUS values the store tells apart (ntstatus.h).
    pub const STATUS_OBJECT_PATH_NOT_FOUND: NTSTATUS = 0xC000_003Au32 as NTSTATUS;
    pub const STATUS_END_OF_FILE: NTSTATUS = 0xC000_0011u32 as NTSTATUS;
    pub const STATUS_OBJECT_NAME_INVALID: NTSTATUS = 0xC000_0033u32 as NTSTATUS;

    /// `FILE_STANDARD_INFORMATION` (wdm.h): 24 bytes on x64.
    #[repr(C)]
    pub struct FILE_STANDARD_INFORMATION {
        pub AllocationSize: LARGE_INTEGER,
        pub EndOfFile: LARGE_INTEGER,
        pub NumberOfLinks: ULONG,
        pub DeletePending: BOOLEAN,
        pub Directory: BOOLEAN,
    }
    const _: () = assert!(core::mem::size_of::<FILE_STANDARD_INFORMATION>() == 24);
    const _: () = assert!(core::mem::offset_of!(FILE_STANDARD_INFORMATION, EndOfFile) == 8);
    const _: () = assert!(core::mem::offset_of!(FILE_STANDARD_INFORMATION, NumberOfLinks) == 16);

    /// `FILE_END_OF_FILE_INFORMATION` (ntifs.h): 8 bytes.
    #[repr(C)]
    pub struct FILE_END_OF_FILE_INFORMATION {
        pub EndOfFile: LARGE_INTEGER,
    }
    const _: () = assert!(core::mem::size_of::<FILE_END_OF_FILE_INFORMATION>() == 8);

    /// `FILE_RENAME_INFORMATION` (ntifs.h) up to its variable-length `FileName`: the
    /// `ReplaceIfExists` / `Flags` union (a ULONG since Windows 10 RS1, a BOOLEAN before: the
    /// first byte either way), `RootDirectory` at 8, `FileNameLength` at 16, `FileName` at 20.
    #[repr(C)]
    pub struct FILE_RENAME_INFORMATION {
        pub ReplaceIfExists: ULONG,
        pub RootDirectory: HANDLE,
        pub FileNameLength: ULONG,
        pub FileName: [u16; 1],
    }
    const _: () = assert!(core::mem::size_of::<FILE_RENAME_INFORMATION>() == 24);
    const _: () = assert!(core::mem::offset_of!(FILE_RENAME_INFORMATION, RootDirectory) == 8);
    const _: () = assert!(core::mem::offset_of!(FILE_RENAME_INFORMATION, FileNameLength) == 16);
    const _: () = assert!(core::mem::offset_of!(FILE_RENAME_INFORMATION, FileName) == 20);
    /// Bytes of [`FILE_RENAME_INFORMATION`] before `FileName`.
    pub const FILE_RENAME_INFORMATION_HEADER: usize = 20;
}
pub use local::*;

/// Declares imports from a kernel image: `raw-dylib` from the image itself without `wdk`, the
/// WDK's import library with it.
macro_rules! kernel_imports {
    ($image:literal, $library:literal, $abi:literal { $($item:tt)* }) => {
        #[cfg(not(feature = "wdk"))]
        #[link(name = $image, kind = "raw-dylib", modifiers = "+verbatim")]
        unsafe extern $abi { $($item)* }
        #[cfg(feature = "wdk")]
        #[link(name = $library)]
        unsafe extern $abi { $($item)* }
    };
}

// ---- imports: ntoskrnl.exe ---------------------------------------------------------------------

kernel_imports!("ntoskrnl.exe", "ntoskrnl", "system" {
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
    pub fn ZwOpenKey(KeyHandle: PHANDLE, DesiredAccess: ACCESS_MASK, ObjectAttributes: *mut OBJECT_ATTRIBUTES)
    -> NTSTATUS;
    pub fn ZwQueryValueKey(
        KeyHandle: HANDLE,
        ValueName: PUNICODE_STRING,
        KeyValueInformationClass: i32,
        KeyValueInformation: PVOID,
        Length: ULONG,
        ResultLength: PULONG,
    ) -> NTSTATUS;
    // Files (the group store, PASSIVE_LEVEL).
    pub fn ZwCreateFile(
        FileHandle: PHANDLE,
        DesiredAccess: ACCESS_MASK,
        ObjectAttributes: *mut OBJECT_ATTRIBUTES,
        IoStatusBlock: PIO_STATUS_BLOCK,
        AllocationSize: PLARGE_INTEGER,
        FileAttributes: ULONG,
        ShareAccess: ULONG,
        CreateDisposition: ULONG,
        CreateOptions: ULONG,
        EaBuffer: PVOID,
        EaLength: ULONG,
    ) -> NTSTATUS;
    pub fn ZwReadFile(
        FileHandle: HANDLE,
        Event: HANDLE,
        ApcRoutine: PVOID,
        ApcContext: PVOID,
        IoStatusBlock: PIO_STATUS_BLOCK,
        Buffer: PVOID,
        Length: ULONG,
        ByteOffset: PLARGE_INTEGER,
        Key: PULONG,
    ) -> NTSTATUS;
    pub fn ZwWriteFile(
        FileHandle: HANDLE,
        Event: HANDLE,
        ApcRoutine: PVOID,
        ApcContext: PVOID,
        IoStatusBlock: PIO_STATUS_BLOCK,
        Buffer: PVOID,
        Length: ULONG,
        ByteOffset: PLARGE_INTEGER,
        Key: PULONG,
    ) -> NTSTATUS;
    pub fn ZwFlushBuffersFile(FileHandle: HANDLE, IoStatusBlock: PIO_STATUS_BLOCK) -> NTSTATUS;
    pub fn ZwQueryInformationFile(
        FileHandle: HANDLE,
        IoStatusBlock: PIO_STATUS_BLOCK,
        FileInformation: PVOID,
        Length: ULONG,
        FileInformationClass: i32,
    ) -> NTSTATUS;
    pub fn ZwSetInformationFile(
        FileHandle: HANDLE,
        IoStatusBlock: PIO_STATUS_BLOCK,
        FileInformation: PVOID,
        Length: ULONG,
        FileInformationClass: i32,
    ) -> NTSTATUS;
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
});

// The C-calling-convention exports: DbgPrint and the routines LLVM emits calls to (`memcpy`,
// `memset`, `memmove`, `memcmp`, and `__chkstk` for frames over a page come from the kernel, as
// they do for C drivers; the msvc target's compiler_builtins leaves them to a C runtime).
kernel_imports!("ntoskrnl.exe", "ntoskrnl", "C" {
    pub fn DbgPrint(Format: *const core::ffi::c_char, ...) -> ULONG;
    fn memcpy(dest: *mut c_void, src: *const c_void, n: usize) -> *mut c_void;
    fn memmove(dest: *mut c_void, src: *const c_void, n: usize) -> *mut c_void;
    fn memset(dest: *mut c_void, c: i32, n: usize) -> *mut c_void;
    fn memcmp(a: *const c_void, b: *const c_void, n: usize) -> i32;
    fn __chkstk();
});

// ---- imports: ksecdd.sys (kernel-mode CNG) -------------------------------------------------------

/// `BCryptGenRandom` flag: the system-preferred RNG, no algorithm handle (IRQL <= DISPATCH_LEVEL).
pub const BCRYPT_USE_SYSTEM_PREFERRED_RNG: ULONG = 0x0000_0002;

kernel_imports!("ksecdd.sys", "ksecdd", "system" {
    pub fn BCryptGenRandom(hAlgorithm: PVOID, pbBuffer: *mut u8, cbBuffer: ULONG, dwFlags: ULONG) -> NTSTATUS;
});

// ---- imports: NETIO.SYS (the Network Module Registrar) -----------------------------------------

kernel_imports!("NETIO.SYS", "netio", "system" {
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
});

// ---- compat: the wdm.h helpers and callback plumbing the glue uses -------------------------------

/// The glue's callback types, and the few wdm.h inline helpers it needs, in one place.
pub mod compat {
    use super::*;

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
        // SAFETY: the caller's driver object.
        unsafe { (*driver).MajorFunction[usize::from(major)] = Some(routine) };
    }

    /// `DriverObject->DriverUnload = routine`.
    ///
    /// # Safety
    /// As [`set_dispatch`].
    pub unsafe fn set_unload(driver: *mut DRIVER_OBJECT, routine: Unload) {
        // SAFETY: as above.
        unsafe { (*driver).DriverUnload = Some(routine) };
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
        // SAFETY: the caller's IRP.
        unsafe { IoSetCompletionRoutine(irp, Some(routine), context, true, true, true) }
    }

    /// `IoGetCurrentIrpStackLocation(Irp)`.
    ///
    /// # Safety
    /// `irp` is a valid IRP.
    pub unsafe fn current_stack(irp: *mut IRP) -> *mut IO_STACK_LOCATION {
        // SAFETY: the caller's IRP.
        unsafe { IoGetCurrentIrpStackLocation(irp) }
    }

    /// `IoMarkIrpPending(Irp)`.
    ///
    /// # Safety
    /// `irp` is a valid IRP this driver owns.
    pub unsafe fn mark_pending(irp: *mut IRP) {
        // SAFETY: the caller's IRP.
        unsafe { IoMarkIrpPending(irp) }
    }

    /// `PsCreateSystemThread(&handle, THREAD_ALL_ACCESS, NULL, NULL, NULL, start, context)`.
    ///
    /// # Safety
    /// PASSIVE_LEVEL, in the system process (DriverEntry); `context` outlives the thread.
    pub unsafe fn create_system_thread(start: Start, context: PVOID, handle: &mut HANDLE) -> NTSTATUS {
        // SAFETY: as documented.
        unsafe {
            PsCreateSystemThread(
                handle,
                THREAD_ALL_ACCESS,
                core::ptr::null_mut(),
                core::ptr::null_mut(),
                core::ptr::null_mut(),
                Some(start),
                context,
            )
        }
    }

    /// `KeExpandKernelStackAndCallout(callout, parameter, size)`.
    ///
    /// # Safety
    /// IRQL <= APC_LEVEL.
    pub unsafe fn expand_stack_and_callout(callout: Start, parameter: PVOID, size: usize) -> NTSTATUS {
        // SAFETY: as documented.
        unsafe { KeExpandKernelStackAndCallout(Some(callout), parameter, size as SIZE_T) }
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
            if (*mdl).MdlFlags & (MDL_MAPPED_TO_SYSTEM_VA | MDL_SOURCE_IS_NONPAGED_POOL) != 0 {
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
