//! The panic handler of the driver build without `wdk` (with it, wdk-panic is the handler).
//!
//! Nothing reachable from an IOCTL or the network may panic (DESIGN.md, rule 2); if something
//! does anyway, the driver cannot unwind (the `driver` profile is `panic = "abort"`) and cannot
//! continue with broken invariants in the kernel, so it stops the machine with its own bug check:
//!
//! `KeBugCheckEx(PEERDRT_BUGCHECK = 0x50445254 ("PDRT"), file, file length, line, column)`
//!
//! after printing the panic message with DbgPrint. Under Wine, KeBugCheckEx ends winedevice.exe,
//! which the lane reports as a failure.

use core::fmt::Write;
use core::panic::PanicInfo;

use super::log::StackBuf;
use super::sys;

/// The project's bug check code: the ASCII of "PDRT".
pub const PEERDRT_BUGCHECK: u32 = u32::from_be_bytes(*b"PDRT");

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    let mut text = StackBuf::<256>::new();
    let _ = write!(text, "peerdrt: PANIC: {}", info.message());
    if let Some(l) = info.location() {
        let _ = write!(text, " at {}:{}:{}", l.file(), l.line(), l.column());
    }
    super::log::print_raw(&mut text);
    let (file, line, column) =
        info.location().map_or(("", 0, 0), |l| (l.file(), l.line() as usize, l.column() as usize));
    // SAFETY: KeBugCheckEx never returns; the arguments are only recorded in the dump.
    unsafe { sys::KeBugCheckEx(PEERDRT_BUGCHECK, file.as_ptr() as usize, file.len(), line, column) }
}

/// The personality routine the MSVC target's unwind tables name.
///
/// The precompiled `core`/`alloc` of x86_64-pc-windows-msvc carry cleanup landing pads whose
/// `.xdata` names `__CxxFrameHandler3`, a CRT routine a driver does not link. With
/// `panic = "abort"` nothing ever unwinds through them, so the only way the kernel's exception
/// dispatcher can reach this routine is an SEH exception (an access violation) passing through a
/// Rust frame: it must not be handled here, so the answer is `ExceptionContinueSearch`.
#[unsafe(no_mangle)]
pub extern "system" fn __CxxFrameHandler3(
    _record: *mut core::ffi::c_void,
    _frame: *mut core::ffi::c_void,
    _context: *mut core::ffi::c_void,
    _dispatcher: *mut core::ffi::c_void,
) -> i32 {
    /// EXCEPTION_DISPOSITION ExceptionContinueSearch.
    const EXCEPTION_CONTINUE_SEARCH: i32 = 1;
    EXCEPTION_CONTINUE_SEARCH
}
