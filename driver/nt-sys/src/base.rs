//! ntdef.h / wdm.h basics: scalar typedefs, counted strings, doubly linked lists, GUID and
//! LUID, LARGE_INTEGER, dispatcher objects (KEVENT), spin locks, IRQLs and opaque objects.

use core::ffi::c_void;

use crate::layout;

// ---- scalars (ntdef.h, basetsd.h) -------------------------------------------------------------

/// `LONG NTSTATUS`.
pub type NTSTATUS = i32;
pub type PVOID = *mut c_void;
pub type PCVOID = *const c_void;
pub type HANDLE = *mut c_void;
pub type PHANDLE = *mut HANDLE;
pub type CHAR = i8;
pub type CCHAR = i8;
pub type UCHAR = u8;
pub type PUCHAR = *mut u8;
pub type PCHAR = *mut i8;
/// `SHORT` used as a structure tag (`Type`, `Size` of kernel objects).
pub type CSHORT = i16;
pub type SHORT = i16;
pub type USHORT = u16;
pub type PUSHORT = *mut u16;
pub type LONG = i32;
pub type PLONG = *mut i32;
pub type ULONG = u32;
pub type PULONG = *mut u32;
pub type LONG64 = i64;
pub type ULONG64 = u64;
pub type LONGLONG = i64;
pub type ULONGLONG = u64;
pub type ULONG_PTR = usize;
pub type LONG_PTR = isize;
pub type SIZE_T = usize;
pub type PSIZE_T = *mut usize;
pub type BOOLEAN = u8;
pub type WCHAR = u16;
pub type PWCH = *mut u16;
pub type PWSTR = *mut u16;
pub type PCWSTR = *const u16;
pub type ACCESS_MASK = u32;

pub const TRUE: BOOLEAN = 1;
pub const FALSE: BOOLEAN = 0;

/// `NT_SUCCESS(Status)`: success and informational codes (severity 0 or 1).
#[inline]
pub const fn NT_SUCCESS(status: NTSTATUS) -> bool {
    status >= 0
}

// ---- LARGE_INTEGER (ntdef.h) -------------------------------------------------------------------

/// The `u` / anonymous struct of `LARGE_INTEGER`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LARGE_INTEGER_PARTS {
    pub LowPart: ULONG,
    pub HighPart: LONG,
}

/// `union _LARGE_INTEGER` (ntdef.h).
#[repr(C)]
#[derive(Clone, Copy)]
pub union LARGE_INTEGER {
    pub __bindgen_anon_1: LARGE_INTEGER_PARTS,
    pub u: LARGE_INTEGER_PARTS,
    pub QuadPart: LONGLONG,
}
pub type PLARGE_INTEGER = *mut LARGE_INTEGER;
layout!(LARGE_INTEGER, size 8, align 8; QuadPart @ 0; u.HighPart @ 4);

// ---- UNICODE_STRING, LIST_ENTRY (ntdef.h) ------------------------------------------------------

/// `struct _UNICODE_STRING` (ntdef.h): lengths in bytes, not characters.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct UNICODE_STRING {
    pub Length: USHORT,
    pub MaximumLength: USHORT,
    pub Buffer: PWCH,
}
pub type PUNICODE_STRING = *mut UNICODE_STRING;
pub type PCUNICODE_STRING = *const UNICODE_STRING;
layout!(UNICODE_STRING, size 0x10; Length @ 0; MaximumLength @ 2; Buffer @ 8);

/// `struct _LIST_ENTRY` (ntdef.h).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct LIST_ENTRY {
    pub Flink: *mut LIST_ENTRY,
    pub Blink: *mut LIST_ENTRY,
}
pub type PLIST_ENTRY = *mut LIST_ENTRY;
layout!(LIST_ENTRY, size 0x10; Flink @ 0; Blink @ 8);

/// `struct _SINGLE_LIST_ENTRY` (ntdef.h).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct SINGLE_LIST_ENTRY {
    pub Next: *mut SINGLE_LIST_ENTRY,
}
layout!(SINGLE_LIST_ENTRY, size 8; Next @ 0);

// ---- GUID (guiddef.h), LUID (ntdef.h) ----------------------------------------------------------

/// `struct _GUID` (guiddef.h).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct GUID {
    pub Data1: ULONG,
    pub Data2: USHORT,
    pub Data3: USHORT,
    pub Data4: [UCHAR; 8],
}
pub type LPGUID = *mut GUID;
pub type LPCGUID = *const GUID;
layout!(GUID, size 16, align 4; Data1 @ 0; Data2 @ 4; Data3 @ 6; Data4 @ 8);

impl GUID {
    /// The GUID `{d1-d2-d3-d4[0..2]-d4[2..8]}`.
    pub const fn from_parts(d1: u32, d2: u16, d3: u16, d4: [u8; 8]) -> Self {
        GUID { Data1: d1, Data2: d2, Data3: d3, Data4: d4 }
    }
}

/// `struct _LUID` (ntdef.h).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct LUID {
    pub LowPart: ULONG,
    pub HighPart: LONG,
}
layout!(LUID, size 8, align 4; LowPart @ 0; HighPart @ 4);

// ---- dispatcher objects (wdm.h) ----------------------------------------------------------------

/// The first four bytes of `DISPATCHER_HEADER` when read as object type fields.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct DISPATCHER_HEADER_TYPE {
    pub Type: UCHAR,
    pub Signalling: UCHAR,
    pub Size: UCHAR,
    pub Reserved1: UCHAR,
}

/// The anonymous union at the head of `DISPATCHER_HEADER` (wdm.h). Drivers never touch it:
/// `KeInitializeEvent` and friends own it.
#[repr(C)]
#[derive(Clone, Copy)]
pub union DISPATCHER_HEADER_0 {
    pub Lock: LONG,
    pub LockNV: LONG,
    pub __bindgen_anon_1: DISPATCHER_HEADER_TYPE,
}

/// `struct _DISPATCHER_HEADER` (wdm.h), 0x18 bytes on x64.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct DISPATCHER_HEADER {
    pub __bindgen_anon_1: DISPATCHER_HEADER_0,
    pub SignalState: LONG,
    pub WaitListHead: LIST_ENTRY,
}
layout!(DISPATCHER_HEADER, size 0x18, align 8; SignalState @ 4; WaitListHead @ 8);

/// `struct _KEVENT` (wdm.h). Initialise with `KeInitializeEvent`; never move it once waited on.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct KEVENT {
    pub Header: DISPATCHER_HEADER,
}
pub type PKEVENT = *mut KEVENT;
pub type PRKEVENT = *mut KEVENT;
layout!(KEVENT, size 0x18, align 8; Header @ 0);

/// `enum _EVENT_TYPE` (ntdef.h).
pub type EVENT_TYPE = i32;
pub const NotificationEvent: EVENT_TYPE = 0;
pub const SynchronizationEvent: EVENT_TYPE = 1;

/// `enum _KWAIT_REASON` (wdm.h): only the value drivers pass.
pub type KWAIT_REASON = i32;
pub const Executive: KWAIT_REASON = 0;

/// `KPROCESSOR_MODE` (wdm.h) and its two values.
pub type KPROCESSOR_MODE = CCHAR;
pub const KernelMode: KPROCESSOR_MODE = 0;
pub const UserMode: KPROCESSOR_MODE = 1;

/// `KPRIORITY`, the `Increment` argument of `KeSetEvent`.
pub type KPRIORITY = LONG;
/// `IO_NO_INCREMENT` (wdm.h).
pub const IO_NO_INCREMENT: KPRIORITY = 0;

// ---- spin locks and IRQL (wdm.h) ---------------------------------------------------------------

/// `KSPIN_LOCK` is a `ULONG_PTR`.
pub type KSPIN_LOCK = ULONG_PTR;
pub type PKSPIN_LOCK = *mut KSPIN_LOCK;
layout!(KSPIN_LOCK, size 8);

/// `KIRQL` is a `UCHAR`.
pub type KIRQL = UCHAR;
pub type PKIRQL = *mut KIRQL;
pub const PASSIVE_LEVEL: KIRQL = 0;
pub const LOW_LEVEL: KIRQL = 0;
pub const APC_LEVEL: KIRQL = 1;
pub const DISPATCH_LEVEL: KIRQL = 2;

// ---- opaque kernel objects ---------------------------------------------------------------------
//
// Pointers the driver only passes through. wdk-sys types them as pointers to opaque structs; a
// `PVOID` keeps the same ABI and the glue only ever passes them or compares with null.

/// `PEPROCESS` (a `struct _KPROCESS *`).
pub type PEPROCESS = PVOID;
/// `PETHREAD` (a `struct _KTHREAD *`).
pub type PETHREAD = PVOID;
/// `PKTHREAD`.
pub type PKTHREAD = PVOID;
/// `PSECURITY_DESCRIPTOR`.
pub type PSECURITY_DESCRIPTOR = PVOID;
/// `POBJECT_ATTRIBUTES` (the driver passes null or builds none).
pub type POBJECT_ATTRIBUTES = PVOID;
/// `PCLIENT_ID`.
pub type PCLIENT_ID = PVOID;

/// `KSTART_ROUTINE` (wdm.h): the entry of a `PsCreateSystemThread` thread.
pub type KSTART_ROUTINE = Option<unsafe extern "system" fn(StartContext: PVOID)>;
pub type PKSTART_ROUTINE = KSTART_ROUTINE;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nt_success_follows_the_severity_bits() {
        assert!(NT_SUCCESS(0));
        assert!(NT_SUCCESS(0x103)); // STATUS_PENDING
        assert!(NT_SUCCESS(0x4000_0000u32 as i32));
        assert!(!NT_SUCCESS(0x8000_0005u32 as i32));
        assert!(!NT_SUCCESS(0xC000_0001u32 as i32));
    }
}
