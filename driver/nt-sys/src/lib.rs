//! Hand-written NT, NMR and WSK types for `peerdrt.sys` and the Wine lane's netio.sys stand-in.
//!
//! wdk-sys has no NMR/WSK bindings and does not build on Linux, so the driver's `nt` glue reads
//! its kernel types from here when it is built without the `wdk` feature (DESIGN.md, "Windows
//! builds, three ways"). Names mirror what bindgen emits for the WDK headers — type names,
//! field names, and bindgen's `__bindgen_anon_N` members for anonymous unions and structs — so
//! one glue source compiles against either `wdk_sys` or this crate.
//!
//! Every struct carries compile-time size and field-offset assertions for x86_64, with the
//! numbers taken from the WDK headers named beside each type (cross-checked with `offsetof`
//! against mingw-w64's `ddk/wdm.h` where that header has the type). Only what the driver and
//! the stand-in use is declared; opaque kernel objects are pointers or sized byte blobs.
//!
//! Modules, one concept each:
//! * [`base`]: ntdef.h scalars, strings, lists, GUID/LUID, dispatcher objects (KEVENT), IRQLs;
//! * [`status`]: the NTSTATUS values used;
//! * [`irp`]: the I/O manager — MDL, IO_STATUS_BLOCK, IRP, IO_STACK_LOCATION, DRIVER_OBJECT,
//!   DEVICE_OBJECT, FILE_OBJECT, IRP_MJ_* and SL_*, and ports of the wdm.h inline helpers;
//! * [`nmr`]: the Network Module Registrar (netioddk.h, netiodef.h);
//! * [`wsk`]: Winsock Kernel (wsk.h);
//! * [`net`]: socket addresses and socket constants (ws2def.h, ws2ipdef.h).
//!
//! Everything is re-exported at the crate root, as `wdk_sys` does.

#![no_std]
#![allow(non_camel_case_types, non_snake_case, non_upper_case_globals)]
#![forbid(unsafe_op_in_unsafe_fn)]

pub mod base;
pub mod irp;
pub mod net;
pub mod nmr;
pub mod status;
pub mod wsk;

pub use base::*;
pub use irp::*;
pub use net::*;
pub use nmr::*;
pub use status::*;
pub use wsk::*;

/// `const _: () = assert!(size_of::<T>() == N)` plus one `offset_of!` assertion per field.
///
/// The numbers are x86_64 values from the WDK headers; the assertions only exist on x86_64.
macro_rules! layout {
    ($ty:ty, size $size:expr $(, align $align:expr)? $(; $($field:ident).+ @ $off:expr)* $(;)?) => {
        #[cfg(target_arch = "x86_64")]
        const _: () = {
            assert!(::core::mem::size_of::<$ty>() == $size);
            $(assert!(::core::mem::align_of::<$ty>() == $align);)?
            $(assert!(::core::mem::offset_of!($ty, $($field).+) == $off);)*
        };
    };
}
pub(crate) use layout;
