//! The I/O manager's structures (wdm.h): MDL, IO_STATUS_BLOCK, IRP, IO_STACK_LOCATION,
//! DRIVER_OBJECT, DEVICE_OBJECT, FILE_OBJECT, the IRP major function codes, the stack-location
//! control flags, the dispatch/unload/cancel/completion routine types, and hand ports of the
//! wdm.h inline helpers that wdk-sys does not bind (IoGetCurrentIrpStackLocation,
//! IoSetCompletionRoutine, IoMarkIrpPending, ...).
//!
//! Only the fields the driver and the netio.sys stand-in read or write are spelled out; the rest
//! are sized so every documented offset holds. x64 numbers: Microsoft's wdm.h (WDK 10), checked
//! with `offsetof` against mingw-w64 `ddk/wdm.h` (which lacks DEVICE_OBJECT's 16-byte alignment).

use crate::base::*;
use crate::layout;

// ---- opaque pieces, sized ----------------------------------------------------------------------

/// `struct _KDEVICE_QUEUE_ENTRY` (wdm.h).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct KDEVICE_QUEUE_ENTRY {
    pub DeviceListEntry: LIST_ENTRY,
    pub SortKey: ULONG,
    pub Inserted: BOOLEAN,
}
layout!(KDEVICE_QUEUE_ENTRY, size 0x18; DeviceListEntry @ 0; SortKey @ 0x10; Inserted @ 0x14);

/// `struct _KDEVICE_QUEUE` (wdm.h): opaque here, 0x28 bytes on x64.
#[repr(C, align(8))]
#[derive(Clone, Copy)]
pub struct KDEVICE_QUEUE {
    pub _opaque: [u8; 0x28],
}
layout!(KDEVICE_QUEUE, size 0x28, align 8);

/// `struct _KDPC` (wdm.h): opaque here, 0x40 bytes on x64.
#[repr(C, align(8))]
#[derive(Clone, Copy)]
pub struct KDPC {
    pub _opaque: [u8; 0x40],
}
pub type PKDPC = *mut KDPC;
layout!(KDPC, size 0x40, align 8);

/// `struct _KAPC` (wdm.h): opaque here, 0x58 bytes on x64.
#[repr(C, align(8))]
#[derive(Clone, Copy)]
pub struct KAPC {
    pub _opaque: [u8; 0x58],
}
layout!(KAPC, size 0x58, align 8);

/// `struct _WAIT_CONTEXT_BLOCK` (wdm.h): opaque here, 0x48 bytes on x64.
#[repr(C, align(8))]
#[derive(Clone, Copy)]
pub struct WAIT_CONTEXT_BLOCK {
    pub _opaque: [u8; 0x48],
}
layout!(WAIT_CONTEXT_BLOCK, size 0x48, align 8);

/// `PVPB`, `PIO_TIMER`, `PDRIVER_EXTENSION`, `PFAST_IO_DISPATCH`, `PSECTION_OBJECT_POINTERS`,
/// `PIO_COMPLETION_CONTEXT`, `PDEVOBJ_EXTENSION`: pointers the driver never follows.
pub type PVPB = PVOID;
pub type PIO_TIMER = PVOID;
pub type PDRIVER_EXTENSION = PVOID;
pub type PFAST_IO_DISPATCH = PVOID;
pub type PSECTION_OBJECT_POINTERS = PVOID;
pub type PIO_COMPLETION_CONTEXT = PVOID;
pub type PDEVOBJ_EXTENSION = PVOID;

// ---- MDL ---------------------------------------------------------------------------------------

/// `struct _MDL` (wdm.h), the fixed header; the PFN array follows it in memory.
///
/// The buffer an MDL describes starts at `StartVa + ByteOffset` (`MmGetMdlVirtualAddress`);
/// when `MdlFlags` has [`MDL_MAPPED_TO_SYSTEM_VA`] or [`MDL_SOURCE_IS_NONPAGED_POOL`],
/// `MappedSystemVa` is its system address (what `MmGetSystemAddressForMdlSafe` returns).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct MDL {
    pub Next: *mut MDL,
    pub Size: CSHORT,
    pub MdlFlags: CSHORT,
    pub Process: PEPROCESS,
    pub MappedSystemVa: PVOID,
    pub StartVa: PVOID,
    pub ByteCount: ULONG,
    pub ByteOffset: ULONG,
}
pub type PMDL = *mut MDL;
layout!(MDL, size 0x30; Next @ 0; Size @ 8; MdlFlags @ 0xa; Process @ 0x10; MappedSystemVa @ 0x18;
    StartVa @ 0x20; ByteCount @ 0x28; ByteOffset @ 0x2c);

pub const MDL_MAPPED_TO_SYSTEM_VA: CSHORT = 0x0001;
pub const MDL_PAGES_LOCKED: CSHORT = 0x0002;
pub const MDL_SOURCE_IS_NONPAGED_POOL: CSHORT = 0x0004;
pub const MDL_ALLOCATED_FIXED_SIZE: CSHORT = 0x0008;
pub const MDL_PARTIAL: CSHORT = 0x0010;
pub const MDL_PARTIAL_HAS_BEEN_MAPPED: CSHORT = 0x0020;
pub const MDL_IO_PAGE_READ: CSHORT = 0x0040;
pub const MDL_WRITE_OPERATION: CSHORT = 0x0080;

/// `PAGE_SIZE` on x64.
pub const PAGE_SIZE: usize = 0x1000;

/// `MmGetMdlVirtualAddress(Mdl)`: `StartVa + ByteOffset`.
///
/// # Safety
/// `mdl` must point to a valid MDL.
#[inline]
pub unsafe fn MmGetMdlVirtualAddress(mdl: *const MDL) -> PVOID {
    // SAFETY: the caller passes a valid MDL.
    let mdl = unsafe { &*mdl };
    mdl.StartVa.cast::<u8>().wrapping_add(mdl.ByteOffset as usize).cast()
}

/// `MmGetMdlByteCount(Mdl)`.
///
/// # Safety
/// `mdl` must point to a valid MDL.
#[inline]
pub unsafe fn MmGetMdlByteCount(mdl: *const MDL) -> ULONG {
    // SAFETY: the caller passes a valid MDL.
    unsafe { (*mdl).ByteCount }
}

/// `MmInitializeMdl(Mdl, BaseVa, Length)` for an MDL header without a PFN array (`Size` is
/// the header size): `StartVa` page-aligned, `ByteOffset` the rest, no flags.
///
/// # Safety
/// `mdl` must point to writable memory for an MDL.
#[inline]
pub unsafe fn MmInitializeMdl(mdl: *mut MDL, base_va: PVOID, length: usize) {
    let va = base_va as usize;
    let start = va & !(PAGE_SIZE - 1);
    // SAFETY: the caller passes writable MDL memory.
    unsafe {
        mdl.write(MDL {
            Next: core::ptr::null_mut(),
            Size: core::mem::size_of::<MDL>() as CSHORT,
            MdlFlags: 0,
            Process: core::ptr::null_mut(),
            MappedSystemVa: core::ptr::null_mut(),
            StartVa: start as PVOID,
            ByteCount: length as ULONG,
            ByteOffset: (va - start) as ULONG,
        });
    }
}

// ---- IO_STATUS_BLOCK ---------------------------------------------------------------------------

/// The anonymous `{ Status; Pointer; }` union of `IO_STATUS_BLOCK`.
#[repr(C)]
#[derive(Clone, Copy)]
pub union IO_STATUS_BLOCK_0 {
    pub Status: NTSTATUS,
    pub Pointer: PVOID,
}

/// `struct _IO_STATUS_BLOCK` (wdm.h).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct IO_STATUS_BLOCK {
    pub __bindgen_anon_1: IO_STATUS_BLOCK_0,
    pub Information: ULONG_PTR,
}
pub type PIO_STATUS_BLOCK = *mut IO_STATUS_BLOCK;
layout!(IO_STATUS_BLOCK, size 0x10; __bindgen_anon_1.Status @ 0; Information @ 8);

// ---- routine types -----------------------------------------------------------------------------

/// `DRIVER_DISPATCH` (wdm.h): an `IRP_MJ_*` handler.
pub type DRIVER_DISPATCH =
    Option<unsafe extern "system" fn(DeviceObject: *mut DEVICE_OBJECT, Irp: *mut IRP) -> NTSTATUS>;
pub type PDRIVER_DISPATCH = DRIVER_DISPATCH;
/// `DRIVER_UNLOAD` (wdm.h).
pub type DRIVER_UNLOAD = Option<unsafe extern "system" fn(DriverObject: *mut DRIVER_OBJECT)>;
pub type PDRIVER_UNLOAD = DRIVER_UNLOAD;
/// `DRIVER_INITIALIZE` (wdm.h): the `DriverEntry` signature.
pub type DRIVER_INITIALIZE = Option<
    unsafe extern "system" fn(DriverObject: *mut DRIVER_OBJECT, RegistryPath: PUNICODE_STRING) -> NTSTATUS,
>;
pub type PDRIVER_INITIALIZE = DRIVER_INITIALIZE;
/// `DRIVER_STARTIO` (wdm.h).
pub type DRIVER_STARTIO = Option<unsafe extern "system" fn(DeviceObject: *mut DEVICE_OBJECT, Irp: *mut IRP)>;
pub type PDRIVER_STARTIO = DRIVER_STARTIO;
/// `DRIVER_CANCEL` (wdm.h): runs with the cancel spin lock held; must release it.
pub type DRIVER_CANCEL = Option<unsafe extern "system" fn(DeviceObject: *mut DEVICE_OBJECT, Irp: *mut IRP)>;
pub type PDRIVER_CANCEL = DRIVER_CANCEL;
/// `IO_COMPLETION_ROUTINE` (wdm.h). For IRPs the driver allocated it returns
/// `STATUS_MORE_PROCESSING_REQUIRED`.
pub type IO_COMPLETION_ROUTINE = Option<
    unsafe extern "system" fn(DeviceObject: *mut DEVICE_OBJECT, Irp: *mut IRP, Context: PVOID) -> NTSTATUS,
>;
pub type PIO_COMPLETION_ROUTINE = IO_COMPLETION_ROUTINE;
/// `IO_APC_ROUTINE` (wdm.h).
pub type PIO_APC_ROUTINE =
    Option<unsafe extern "system" fn(ApcContext: PVOID, IoStatusBlock: PIO_STATUS_BLOCK, Reserved: ULONG)>;

// ---- IRP ---------------------------------------------------------------------------------------

/// `IRP.AssociatedIrp` (named union).
#[repr(C)]
#[derive(Clone, Copy)]
pub union IRP_ASSOCIATED {
    pub MasterIrp: *mut IRP,
    pub IrpCount: LONG,
    pub SystemBuffer: PVOID,
}

/// `IRP.Overlay.AsynchronousParameters`' first union.
#[repr(C)]
#[derive(Clone, Copy)]
pub union IRP_ASYNC_0 {
    pub UserApcRoutine: PIO_APC_ROUTINE,
    pub IssuingProcess: PVOID,
}

/// `IRP.Overlay.AsynchronousParameters`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct IRP_ASYNC {
    pub __bindgen_anon_1: IRP_ASYNC_0,
    pub UserApcContext: PVOID,
}

/// `IRP.Overlay` (named union).
#[repr(C)]
#[derive(Clone, Copy)]
pub union IRP_OVERLAY {
    pub AsynchronousParameters: IRP_ASYNC,
    pub AllocationSize: LARGE_INTEGER,
}

/// `IRP.Tail.Overlay`'s first anonymous union: the device queue entry or four driver words.
#[repr(C)]
#[derive(Clone, Copy)]
pub union IRP_TAIL_OVERLAY_0 {
    pub DeviceQueueEntry: KDEVICE_QUEUE_ENTRY,
    pub DriverContext: [PVOID; 4],
}

/// `IRP.Tail.Overlay`'s `{ CurrentStackLocation; PacketType; }` union.
#[repr(C)]
#[derive(Clone, Copy)]
pub union IRP_TAIL_OVERLAY_1_0 {
    pub CurrentStackLocation: *mut IO_STACK_LOCATION,
    pub PacketType: ULONG,
}

/// `IRP.Tail.Overlay`'s second anonymous struct: the list entry a driver may use while it owns
/// the IRP, and the current stack location.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct IRP_TAIL_OVERLAY_1 {
    pub ListEntry: LIST_ENTRY,
    pub __bindgen_anon_1: IRP_TAIL_OVERLAY_1_0,
}

/// `IRP.Tail.Overlay`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct IRP_TAIL_OVERLAY {
    pub __bindgen_anon_1: IRP_TAIL_OVERLAY_0,
    pub Thread: PETHREAD,
    pub AuxiliaryBuffer: PCHAR,
    pub __bindgen_anon_2: IRP_TAIL_OVERLAY_1,
    pub OriginalFileObject: *mut FILE_OBJECT,
}

/// `IRP.Tail` (named union).
#[repr(C)]
#[derive(Clone, Copy)]
pub union IRP_TAIL {
    pub Overlay: IRP_TAIL_OVERLAY,
    pub Apc: KAPC,
    pub CompletionKey: PVOID,
}

/// `struct _IRP` (wdm.h), `DECLSPEC_ALIGN(MEMORY_ALLOCATION_ALIGNMENT)`, 0xd0 bytes on x64;
/// `StackCount` IO_STACK_LOCATIONs follow it. Field paths are bindgen's:
/// `Irp.AssociatedIrp.SystemBuffer`, `Irp.IoStatus.__bindgen_anon_1.Status`,
/// `Irp.Tail.Overlay.__bindgen_anon_2.__bindgen_anon_1.CurrentStackLocation`,
/// `Irp.Tail.Overlay.__bindgen_anon_2.ListEntry`.
#[repr(C, align(16))]
#[derive(Clone, Copy)]
pub struct IRP {
    pub Type: CSHORT,
    pub Size: USHORT,
    pub MdlAddress: PMDL,
    pub Flags: ULONG,
    pub AssociatedIrp: IRP_ASSOCIATED,
    pub ThreadListEntry: LIST_ENTRY,
    pub IoStatus: IO_STATUS_BLOCK,
    pub RequestorMode: KPROCESSOR_MODE,
    pub PendingReturned: BOOLEAN,
    pub StackCount: CHAR,
    pub CurrentLocation: CHAR,
    pub Cancel: BOOLEAN,
    pub CancelIrql: KIRQL,
    pub ApcEnvironment: CCHAR,
    pub AllocationFlags: UCHAR,
    pub UserIosb: PIO_STATUS_BLOCK,
    pub UserEvent: PKEVENT,
    pub Overlay: IRP_OVERLAY,
    pub CancelRoutine: PDRIVER_CANCEL,
    pub UserBuffer: PVOID,
    pub Tail: IRP_TAIL,
}
pub type PIRP = *mut IRP;
layout!(IRP, size 0xd0, align 16;
    Type @ 0; Size @ 2; MdlAddress @ 0x8; Flags @ 0x10; AssociatedIrp.SystemBuffer @ 0x18;
    ThreadListEntry @ 0x20; IoStatus @ 0x30; IoStatus.Information @ 0x38; RequestorMode @ 0x40;
    PendingReturned @ 0x41; StackCount @ 0x42; CurrentLocation @ 0x43; Cancel @ 0x44;
    CancelIrql @ 0x45; ApcEnvironment @ 0x46; AllocationFlags @ 0x47; UserIosb @ 0x48;
    UserEvent @ 0x50; Overlay @ 0x58; CancelRoutine @ 0x68; UserBuffer @ 0x70; Tail @ 0x78;
    Tail.Overlay.__bindgen_anon_1.DriverContext @ 0x78; Tail.Overlay.Thread @ 0x98;
    Tail.Overlay.AuxiliaryBuffer @ 0xa0; Tail.Overlay.__bindgen_anon_2.ListEntry @ 0xa8;
    Tail.Overlay.__bindgen_anon_2.__bindgen_anon_1.CurrentStackLocation @ 0xb8;
    Tail.Overlay.OriginalFileObject @ 0xc0);

// ---- IO_STACK_LOCATION -------------------------------------------------------------------------

/// `Parameters.Create` (`POINTER_ALIGNMENT` members are 8-aligned on x64).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct IO_STACK_LOCATION_CREATE {
    pub SecurityContext: PVOID,
    pub Options: ULONG,
    pub _pad0: ULONG,
    pub FileAttributes: USHORT,
    pub ShareAccess: USHORT,
    pub _pad1: ULONG,
    pub EaLength: ULONG,
}

/// `Parameters.Read` and `Parameters.Write` (x64: `Flags` follows `Key`).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct IO_STACK_LOCATION_READ_WRITE {
    pub Length: ULONG,
    pub _pad0: ULONG,
    pub Key: ULONG,
    pub Flags: ULONG,
    pub ByteOffset: LARGE_INTEGER,
}

/// `Parameters.DeviceIoControl` (`POINTER_ALIGNMENT` members are 8-aligned on x64).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct IO_STACK_LOCATION_DEVICE_IO_CONTROL {
    pub OutputBufferLength: ULONG,
    pub _pad0: ULONG,
    pub InputBufferLength: ULONG,
    pub _pad1: ULONG,
    pub IoControlCode: ULONG,
    pub _pad2: ULONG,
    pub Type3InputBuffer: PVOID,
}

/// `Parameters.Others`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct IO_STACK_LOCATION_OTHERS {
    pub Argument1: PVOID,
    pub Argument2: PVOID,
    pub Argument3: PVOID,
    pub Argument4: PVOID,
}

/// `IO_STACK_LOCATION.Parameters`: the members the driver uses (the real union has many more,
/// none larger than 0x20 bytes on x64).
#[repr(C)]
#[derive(Clone, Copy)]
pub union IO_STACK_LOCATION_PARAMETERS {
    pub Create: IO_STACK_LOCATION_CREATE,
    pub Read: IO_STACK_LOCATION_READ_WRITE,
    pub Write: IO_STACK_LOCATION_READ_WRITE,
    pub DeviceIoControl: IO_STACK_LOCATION_DEVICE_IO_CONTROL,
    pub Others: IO_STACK_LOCATION_OTHERS,
}
layout!(IO_STACK_LOCATION_PARAMETERS, size 0x20, align 8);

/// `struct _IO_STACK_LOCATION` (wdm.h), 0x48 bytes on x64.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct IO_STACK_LOCATION {
    pub MajorFunction: UCHAR,
    pub MinorFunction: UCHAR,
    pub Flags: UCHAR,
    pub Control: UCHAR,
    pub Parameters: IO_STACK_LOCATION_PARAMETERS,
    pub DeviceObject: *mut DEVICE_OBJECT,
    pub FileObject: *mut FILE_OBJECT,
    pub CompletionRoutine: PIO_COMPLETION_ROUTINE,
    pub Context: PVOID,
}
pub type PIO_STACK_LOCATION = *mut IO_STACK_LOCATION;
layout!(IO_STACK_LOCATION, size 0x48, align 8;
    MajorFunction @ 0; MinorFunction @ 1; Flags @ 2; Control @ 3; Parameters @ 8;
    Parameters.DeviceIoControl.OutputBufferLength @ 0x8;
    Parameters.DeviceIoControl.InputBufferLength @ 0x10;
    Parameters.DeviceIoControl.IoControlCode @ 0x18;
    Parameters.DeviceIoControl.Type3InputBuffer @ 0x20;
    Parameters.Create.Options @ 0x10; Parameters.Create.FileAttributes @ 0x18;
    Parameters.Create.EaLength @ 0x20; Parameters.Read.Key @ 0x10; Parameters.Read.ByteOffset @ 0x18;
    DeviceObject @ 0x28; FileObject @ 0x30; CompletionRoutine @ 0x38; Context @ 0x40);

// ---- IRP major functions and stack-location control flags (wdm.h) ------------------------------

pub const IRP_MJ_CREATE: UCHAR = 0x00;
pub const IRP_MJ_CREATE_NAMED_PIPE: UCHAR = 0x01;
pub const IRP_MJ_CLOSE: UCHAR = 0x02;
pub const IRP_MJ_READ: UCHAR = 0x03;
pub const IRP_MJ_WRITE: UCHAR = 0x04;
pub const IRP_MJ_QUERY_INFORMATION: UCHAR = 0x05;
pub const IRP_MJ_SET_INFORMATION: UCHAR = 0x06;
pub const IRP_MJ_QUERY_EA: UCHAR = 0x07;
pub const IRP_MJ_SET_EA: UCHAR = 0x08;
pub const IRP_MJ_FLUSH_BUFFERS: UCHAR = 0x09;
pub const IRP_MJ_QUERY_VOLUME_INFORMATION: UCHAR = 0x0a;
pub const IRP_MJ_SET_VOLUME_INFORMATION: UCHAR = 0x0b;
pub const IRP_MJ_DIRECTORY_CONTROL: UCHAR = 0x0c;
pub const IRP_MJ_FILE_SYSTEM_CONTROL: UCHAR = 0x0d;
pub const IRP_MJ_DEVICE_CONTROL: UCHAR = 0x0e;
pub const IRP_MJ_INTERNAL_DEVICE_CONTROL: UCHAR = 0x0f;
pub const IRP_MJ_SHUTDOWN: UCHAR = 0x10;
pub const IRP_MJ_LOCK_CONTROL: UCHAR = 0x11;
pub const IRP_MJ_CLEANUP: UCHAR = 0x12;
pub const IRP_MJ_CREATE_MAILSLOT: UCHAR = 0x13;
pub const IRP_MJ_QUERY_SECURITY: UCHAR = 0x14;
pub const IRP_MJ_SET_SECURITY: UCHAR = 0x15;
pub const IRP_MJ_POWER: UCHAR = 0x16;
pub const IRP_MJ_SYSTEM_CONTROL: UCHAR = 0x17;
pub const IRP_MJ_DEVICE_CHANGE: UCHAR = 0x18;
pub const IRP_MJ_QUERY_QUOTA: UCHAR = 0x19;
pub const IRP_MJ_SET_QUOTA: UCHAR = 0x1a;
pub const IRP_MJ_PNP: UCHAR = 0x1b;
pub const IRP_MJ_MAXIMUM_FUNCTION: UCHAR = 0x1b;
/// Entries of `DRIVER_OBJECT.MajorFunction`.
pub const IRP_MJ_COUNT: usize = IRP_MJ_MAXIMUM_FUNCTION as usize + 1;

/// `IO_STACK_LOCATION.Control`: IoMarkIrpPending.
pub const SL_PENDING_RETURNED: UCHAR = 0x01;
pub const SL_ERROR_RETURNED: UCHAR = 0x02;
/// `IO_STACK_LOCATION.Control`: call the completion routine on cancel / success / error.
pub const SL_INVOKE_ON_CANCEL: UCHAR = 0x20;
pub const SL_INVOKE_ON_SUCCESS: UCHAR = 0x40;
pub const SL_INVOKE_ON_ERROR: UCHAR = 0x80;
pub const SL_INVOKE_ON_ALL: UCHAR = SL_INVOKE_ON_CANCEL | SL_INVOKE_ON_SUCCESS | SL_INVOKE_ON_ERROR;

// ---- DRIVER_OBJECT -----------------------------------------------------------------------------

/// `struct _DRIVER_OBJECT` (wdm.h), 0x150 bytes on x64.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct DRIVER_OBJECT {
    pub Type: CSHORT,
    pub Size: CSHORT,
    pub DeviceObject: *mut DEVICE_OBJECT,
    pub Flags: ULONG,
    pub DriverStart: PVOID,
    pub DriverSize: ULONG,
    pub DriverSection: PVOID,
    pub DriverExtension: PDRIVER_EXTENSION,
    pub DriverName: UNICODE_STRING,
    pub HardwareDatabase: PUNICODE_STRING,
    pub FastIoDispatch: PFAST_IO_DISPATCH,
    pub DriverInit: PDRIVER_INITIALIZE,
    pub DriverStartIo: PDRIVER_STARTIO,
    pub DriverUnload: PDRIVER_UNLOAD,
    pub MajorFunction: [PDRIVER_DISPATCH; IRP_MJ_COUNT],
}
pub type PDRIVER_OBJECT = *mut DRIVER_OBJECT;
layout!(DRIVER_OBJECT, size 0x150;
    DeviceObject @ 0x8; Flags @ 0x10; DriverStart @ 0x18; DriverSize @ 0x20; DriverSection @ 0x28;
    DriverExtension @ 0x30; DriverName @ 0x38; HardwareDatabase @ 0x48; FastIoDispatch @ 0x50;
    DriverInit @ 0x58; DriverStartIo @ 0x60; DriverUnload @ 0x68; MajorFunction @ 0x70);

// ---- DEVICE_OBJECT -----------------------------------------------------------------------------

/// `DEVICE_OBJECT.Queue` (named union).
#[repr(C)]
#[derive(Clone, Copy)]
pub union DEVICE_OBJECT_QUEUE {
    pub ListEntry: LIST_ENTRY,
    pub Wcb: WAIT_CONTEXT_BLOCK,
}

/// `struct _DEVICE_OBJECT` (wdm.h), `DECLSPEC_ALIGN(MEMORY_ALLOCATION_ALIGNMENT)`, 0x150 bytes on
/// x64. Allocated by `IoCreateDevice`; the driver reads `DeviceExtension` and sets `Flags`.
#[repr(C, align(16))]
#[derive(Clone, Copy)]
pub struct DEVICE_OBJECT {
    pub Type: CSHORT,
    pub Size: USHORT,
    pub ReferenceCount: LONG,
    pub DriverObject: *mut DRIVER_OBJECT,
    pub NextDevice: *mut DEVICE_OBJECT,
    pub AttachedDevice: *mut DEVICE_OBJECT,
    pub CurrentIrp: *mut IRP,
    pub Timer: PIO_TIMER,
    pub Flags: ULONG,
    pub Characteristics: ULONG,
    pub Vpb: PVPB,
    pub DeviceExtension: PVOID,
    pub DeviceType: DEVICE_TYPE,
    pub StackSize: CCHAR,
    pub Queue: DEVICE_OBJECT_QUEUE,
    pub AlignmentRequirement: ULONG,
    pub DeviceQueue: KDEVICE_QUEUE,
    pub Dpc: KDPC,
    pub ActiveThreadCount: ULONG,
    pub SecurityDescriptor: PSECURITY_DESCRIPTOR,
    pub DeviceLock: KEVENT,
    pub SectorSize: USHORT,
    pub Spare1: USHORT,
    pub DeviceObjectExtension: PDEVOBJ_EXTENSION,
    pub Reserved: PVOID,
}
pub type PDEVICE_OBJECT = *mut DEVICE_OBJECT;
layout!(DEVICE_OBJECT, size 0x150, align 16;
    ReferenceCount @ 0x4; DriverObject @ 0x8; NextDevice @ 0x10; AttachedDevice @ 0x18;
    CurrentIrp @ 0x20; Timer @ 0x28; Flags @ 0x30; Characteristics @ 0x34; Vpb @ 0x38;
    DeviceExtension @ 0x40; DeviceType @ 0x48; StackSize @ 0x4c; Queue @ 0x50;
    AlignmentRequirement @ 0x98; DeviceQueue @ 0xa0; Dpc @ 0xc8; ActiveThreadCount @ 0x108;
    SecurityDescriptor @ 0x110; DeviceLock @ 0x118; SectorSize @ 0x130; Spare1 @ 0x132;
    DeviceObjectExtension @ 0x138; Reserved @ 0x140);

/// `DEVICE_TYPE` (wdm.h / devioctl.h).
pub type DEVICE_TYPE = ULONG;
pub const FILE_DEVICE_NETWORK: DEVICE_TYPE = 0x0000_0012;
pub const FILE_DEVICE_UNKNOWN: DEVICE_TYPE = 0x0000_0022;
/// `DEVICE_OBJECT.Characteristics`.
pub const FILE_DEVICE_SECURE_OPEN: ULONG = 0x0000_0100;
/// `DEVICE_OBJECT.Flags`.
pub const DO_BUFFERED_IO: ULONG = 0x0000_0004;
pub const DO_EXCLUSIVE: ULONG = 0x0000_0008;
pub const DO_DIRECT_IO: ULONG = 0x0000_0010;
pub const DO_DEVICE_INITIALIZING: ULONG = 0x0000_0080;

// ---- FILE_OBJECT -------------------------------------------------------------------------------

/// `struct _FILE_OBJECT` (wdm.h), 0xd8 bytes on x64. The driver keys its per-open state on the
/// file object and keeps it in `FsContext`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct FILE_OBJECT {
    pub Type: CSHORT,
    pub Size: CSHORT,
    pub DeviceObject: *mut DEVICE_OBJECT,
    pub Vpb: PVPB,
    pub FsContext: PVOID,
    pub FsContext2: PVOID,
    pub SectionObjectPointer: PSECTION_OBJECT_POINTERS,
    pub PrivateCacheMap: PVOID,
    pub FinalStatus: NTSTATUS,
    pub RelatedFileObject: *mut FILE_OBJECT,
    pub LockOperation: BOOLEAN,
    pub DeletePending: BOOLEAN,
    pub ReadAccess: BOOLEAN,
    pub WriteAccess: BOOLEAN,
    pub DeleteAccess: BOOLEAN,
    pub SharedRead: BOOLEAN,
    pub SharedWrite: BOOLEAN,
    pub SharedDelete: BOOLEAN,
    pub Flags: ULONG,
    pub FileName: UNICODE_STRING,
    pub CurrentByteOffset: LARGE_INTEGER,
    pub Waiters: ULONG,
    pub Busy: ULONG,
    pub LastLock: PVOID,
    pub Lock: KEVENT,
    pub Event: KEVENT,
    pub CompletionContext: PIO_COMPLETION_CONTEXT,
    pub IrpListLock: KSPIN_LOCK,
    pub IrpList: LIST_ENTRY,
    pub FileObjectExtension: PVOID,
}
pub type PFILE_OBJECT = *mut FILE_OBJECT;
layout!(FILE_OBJECT, size 0xd8;
    DeviceObject @ 0x8; Vpb @ 0x10; FsContext @ 0x18; FsContext2 @ 0x20;
    SectionObjectPointer @ 0x28; PrivateCacheMap @ 0x30; FinalStatus @ 0x38;
    RelatedFileObject @ 0x40; LockOperation @ 0x48; SharedDelete @ 0x4f; Flags @ 0x50;
    FileName @ 0x58; CurrentByteOffset @ 0x68; Waiters @ 0x70; Busy @ 0x74; LastLock @ 0x78;
    Lock @ 0x80; Event @ 0x98; CompletionContext @ 0xb0; IrpListLock @ 0xb8; IrpList @ 0xc0;
    FileObjectExtension @ 0xd0);

// ---- IOCTL codes (devioctl.h) ------------------------------------------------------------------

pub const METHOD_BUFFERED: ULONG = 0;
pub const METHOD_IN_DIRECT: ULONG = 1;
pub const METHOD_OUT_DIRECT: ULONG = 2;
pub const METHOD_NEITHER: ULONG = 3;
pub const FILE_ANY_ACCESS: ULONG = 0;
pub const FILE_READ_ACCESS: ULONG = 1;
pub const FILE_WRITE_ACCESS: ULONG = 2;

/// `CTL_CODE(DeviceType, Function, Method, Access)`.
#[inline]
pub const fn CTL_CODE(device_type: DEVICE_TYPE, function: ULONG, method: ULONG, access: ULONG) -> ULONG {
    (device_type << 16) | (access << 14) | (function << 2) | method
}

// ---- wdm.h inline helpers ----------------------------------------------------------------------

/// `IoGetCurrentIrpStackLocation(Irp)`.
///
/// # Safety
/// `irp` must point to a valid IRP.
#[inline]
pub unsafe fn IoGetCurrentIrpStackLocation(irp: *mut IRP) -> *mut IO_STACK_LOCATION {
    // SAFETY: the caller passes a valid IRP; the union member is a pointer either way.
    unsafe { (*irp).Tail.Overlay.__bindgen_anon_2.__bindgen_anon_1.CurrentStackLocation }
}

/// `IoGetNextIrpStackLocation(Irp)`: the location below the current one, which the next
/// driver (or the WSK subsystem) will own.
///
/// # Safety
/// `irp` must point to a valid IRP with `CurrentLocation > 1`.
#[inline]
pub unsafe fn IoGetNextIrpStackLocation(irp: *mut IRP) -> *mut IO_STACK_LOCATION {
    // SAFETY: as above; the location is inside the IRP's allocation when CurrentLocation > 1.
    unsafe { IoGetCurrentIrpStackLocation(irp).wrapping_sub(1) }
}

/// `IoSetNextIrpStackLocation(Irp)`: what `IoCallDriver` does before calling the next driver,
/// and what the WSK subsystem does with an IRP a WSK function receives.
///
/// # Safety
/// `irp` must point to a valid IRP with `CurrentLocation > 1`.
#[inline]
pub unsafe fn IoSetNextIrpStackLocation(irp: *mut IRP) {
    // SAFETY: the caller passes a valid IRP with a free location below the current one.
    unsafe {
        (*irp).CurrentLocation -= 1;
        let overlay = &mut (*irp).Tail.Overlay.__bindgen_anon_2.__bindgen_anon_1;
        overlay.CurrentStackLocation = overlay.CurrentStackLocation.wrapping_sub(1);
    }
}

/// `IoSkipCurrentIrpStackLocation(Irp)`.
///
/// # Safety
/// `irp` must point to a valid IRP.
#[inline]
pub unsafe fn IoSkipCurrentIrpStackLocation(irp: *mut IRP) {
    // SAFETY: the caller passes a valid IRP.
    unsafe {
        (*irp).CurrentLocation += 1;
        let overlay = &mut (*irp).Tail.Overlay.__bindgen_anon_2.__bindgen_anon_1;
        overlay.CurrentStackLocation = overlay.CurrentStackLocation.wrapping_add(1);
    }
}

/// `IoSetCompletionRoutine(Irp, Routine, Context, Success, Error, Cancel)`: fills the *next*
/// stack location, the one the callee (here: the WSK subsystem) completes.
///
/// # Safety
/// `irp` must point to a valid IRP with `CurrentLocation > 1`.
#[inline]
pub unsafe fn IoSetCompletionRoutine(
    irp: *mut IRP,
    routine: PIO_COMPLETION_ROUTINE,
    context: PVOID,
    invoke_on_success: bool,
    invoke_on_error: bool,
    invoke_on_cancel: bool,
) {
    // SAFETY: the caller passes a valid IRP with a next location.
    let next = unsafe { &mut *IoGetNextIrpStackLocation(irp) };
    next.CompletionRoutine = routine;
    next.Context = context;
    next.Control = 0;
    if invoke_on_success {
        next.Control |= SL_INVOKE_ON_SUCCESS;
    }
    if invoke_on_error {
        next.Control |= SL_INVOKE_ON_ERROR;
    }
    if invoke_on_cancel {
        next.Control |= SL_INVOKE_ON_CANCEL;
    }
}

/// `IoMarkIrpPending(Irp)`: sets `SL_PENDING_RETURNED` in the current stack location.
///
/// # Safety
/// `irp` must point to a valid IRP whose current location is inside it.
#[inline]
pub unsafe fn IoMarkIrpPending(irp: *mut IRP) {
    // SAFETY: the caller passes a valid IRP.
    unsafe { (*IoGetCurrentIrpStackLocation(irp)).Control |= SL_PENDING_RETURNED };
}

/// The IO_STACK_LOCATION array that follows an IRP header (index 0 is the lowest location).
///
/// # Safety
/// `irp` must point to an IRP allocated with its stack locations.
#[inline]
pub unsafe fn irp_stack_locations(irp: *mut IRP) -> *mut IO_STACK_LOCATION {
    irp.wrapping_add(1).cast::<IO_STACK_LOCATION>()
}

/// `IoSizeOfIrp(StackSize)`.
#[inline]
pub const fn IoSizeOfIrp(stack_size: CCHAR) -> USHORT {
    (core::mem::size_of::<IRP>() + stack_size as usize * core::mem::size_of::<IO_STACK_LOCATION>()) as USHORT
}

/// `IoInitializeIrp`'s bookkeeping on caller-provided zeroed memory: `Size`, `StackCount`,
/// `CurrentLocation = StackCount + 1` and the current location one past the array, as
/// `IoAllocateIrp` leaves them. For tests and the Wine stand-in; drivers call `IoAllocateIrp`.
///
/// # Safety
/// `irp` must point to zeroed, writable memory of `IoSizeOfIrp(stack_count)` bytes.
pub unsafe fn initialize_irp_header(irp: *mut IRP, stack_count: CCHAR) {
    // SAFETY: the caller passes writable memory large enough for the header and locations.
    unsafe {
        (*irp).Type = 6; // IO_TYPE_IRP
        (*irp).Size = IoSizeOfIrp(stack_count);
        (*irp).StackCount = stack_count;
        (*irp).CurrentLocation = stack_count + 1;
        (*irp).Tail.Overlay.__bindgen_anon_2.__bindgen_anon_1.CurrentStackLocation =
            irp_stack_locations(irp).wrapping_add(stack_count as usize);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::*;

    #[repr(C, align(16))]
    struct IrpWith<const N: usize> {
        irp: IRP,
        stack: [IO_STACK_LOCATION; N],
    }

    fn zeroed<T>() -> T {
        // SAFETY: every type here is plain data for which all-zero bytes are valid.
        unsafe { core::mem::zeroed() }
    }

    unsafe extern "system" fn routine(_d: *mut DEVICE_OBJECT, _i: *mut IRP, _c: PVOID) -> NTSTATUS {
        STATUS_MORE_PROCESSING_REQUIRED
    }

    #[test]
    fn completion_routine_goes_into_the_next_location() {
        let mut b: IrpWith<1> = zeroed();
        let irp = &mut b.irp as *mut IRP;
        // SAFETY: `b` is zeroed and large enough for one stack location.
        unsafe {
            initialize_irp_header(irp, 1);
            assert_eq!((*irp).CurrentLocation, 2);
            IoSetCompletionRoutine(irp, Some(routine), 0x1234 as PVOID, true, true, true);
            let loc = &b.stack[0];
            assert_eq!(loc.Control, SL_INVOKE_ON_ALL);
            assert_eq!(loc.Context as usize, 0x1234);
            assert!(loc.CompletionRoutine.is_some());
            // What the WSK subsystem does on entry: the location becomes current.
            IoSetNextIrpStackLocation(irp);
            assert_eq!((*irp).CurrentLocation, 1);
            assert_eq!(IoGetCurrentIrpStackLocation(irp), &mut b.stack[0] as *mut _);
            IoMarkIrpPending(irp);
            assert_eq!(b.stack[0].Control & SL_PENDING_RETURNED, SL_PENDING_RETURNED);
        }
    }

    #[test]
    fn mdl_addresses() {
        let mut mdl: MDL = zeroed();
        let buf = [0u8; 64];
        let va = buf.as_ptr().wrapping_add(10) as PVOID;
        // SAFETY: `mdl` is a writable MDL.
        unsafe {
            MmInitializeMdl(&mut mdl, va, 20);
            assert_eq!(MmGetMdlVirtualAddress(&mdl), va);
            assert_eq!(MmGetMdlByteCount(&mdl), 20);
        }
        assert_eq!(mdl.StartVa as usize % PAGE_SIZE, 0);
    }

    #[test]
    fn ctl_code() {
        assert_eq!(CTL_CODE(FILE_DEVICE_UNKNOWN, 0x800, METHOD_BUFFERED, FILE_ANY_ACCESS), 0x0022_2000);
        assert_eq!(IoSizeOfIrp(1), 0xd0 + 0x48);
    }
}
