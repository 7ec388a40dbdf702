//! netio.sys for the Wine lane: the NMR registrar and a WSK datagram provider over Winsock,
//! loaded as a native override into winedevice.exe beside peerdrt.sys (stock Wine stubs every
//! `Nmr*` export and has no WSK datagram sockets; reference/wine-lane.md).
//!
//! Exports: NmrRegisterClient, NmrDeregisterClient, NmrWaitForClientDeregisterComplete,
//! NmrClientAttachProvider, NmrClientDetachProviderComplete. The provider dispatch tables are
//! in [`wsk`]; IRP completion in [`irp`]; the registrar in [`nmr`].
//!
//! It is strict and unfriendly on purpose, because a polite stand-in hides the bugs real WSK
//! finds: the client is attached from another thread after NmrRegisterClient returned; IRPs
//! complete and receive callbacks run on other threads; detach is requested while calls may be
//! in flight; and every broken rule is reported on a line starting `NETIO-STANDIN VIOLATION:`
//! (stderr and the log file, `PEERDRT_NETIO_LOG`, default `C:\netio-standin.log`) and counted.
//! Deregistration ends with `NETIO-STANDIN SUMMARY: attaches=.. detaches=.. sockets_open=..
//! retained=.. violations=..`, which the lane asserts on. Environment knobs: see [`log::Config`].

#![allow(non_snake_case, non_upper_case_globals)]

mod irp;
mod log;
mod nmr;
mod winsock;
mod wsk;

use peerdrt_nt_sys::*;

/// `NTSTATUS NmrRegisterClient(PNPI_CLIENT_CHARACTERISTICS, PVOID, PHANDLE)`.
///
/// # Safety
/// Called by a client driver with its resident characteristics.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn NmrRegisterClient(
    ClientCharacteristics: *const NPI_CLIENT_CHARACTERISTICS,
    ClientContext: PVOID,
    NmrClientHandle: PHANDLE,
) -> NTSTATUS {
    // SAFETY: forwarded.
    unsafe { nmr::register_client(ClientCharacteristics, ClientContext, NmrClientHandle) }
}

/// `NTSTATUS NmrDeregisterClient(HANDLE)`: STATUS_PENDING; detach runs on another thread.
///
/// # Safety
/// Called by a client driver.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn NmrDeregisterClient(NmrClientHandle: HANDLE) -> NTSTATUS {
    // SAFETY: forwarded.
    unsafe { nmr::deregister_client(NmrClientHandle) }
}

/// `NTSTATUS NmrWaitForClientDeregisterComplete(HANDLE)`.
///
/// # Safety
/// Called by a client driver.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn NmrWaitForClientDeregisterComplete(NmrClientHandle: HANDLE) -> NTSTATUS {
    // SAFETY: forwarded.
    unsafe { nmr::wait_for_client_deregister_complete(NmrClientHandle) }
}

/// `NTSTATUS NmrClientAttachProvider(HANDLE, PVOID, const VOID*, PVOID*, const VOID**)`.
///
/// # Safety
/// Called by a client driver from its ClientAttachProvider callback.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn NmrClientAttachProvider(
    NmrBindingHandle: HANDLE,
    ClientBindingContext: PVOID,
    ClientDispatch: PCVOID,
    ProviderBindingContext: *mut PVOID,
    ProviderDispatch: *mut PCVOID,
) -> NTSTATUS {
    // SAFETY: forwarded.
    unsafe {
        nmr::client_attach_provider(
            NmrBindingHandle,
            ClientBindingContext,
            ClientDispatch,
            ProviderBindingContext,
            ProviderDispatch,
        )
    }
}

/// `VOID NmrClientDetachProviderComplete(HANDLE)`.
///
/// # Safety
/// Called by a client driver after it returned STATUS_PENDING from ClientDetachProvider.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn NmrClientDetachProviderComplete(NmrBindingHandle: HANDLE) {
    // SAFETY: forwarded.
    unsafe { nmr::client_detach_provider_complete(NmrBindingHandle) }
}

/// Rust's std imports `bcryptprimitives.dll!ProcessPrng` for its random source, which Wine 8
/// lacks (reference/wine-lane.md). Defining the symbol here keeps the linker from pulling std's
/// import of it, so netio.sys loads without a bcryptprimitives stand-in; the bytes come from
/// advapi32's RtlGenRandom (SystemFunction036). It also ends up exported, which is harmless.
///
/// # Safety
/// `data` must point to `length` writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn ProcessPrng(data: *mut u8, length: usize) -> i32 {
    #[link(name = "advapi32")]
    unsafe extern "system" {
        fn SystemFunction036(buffer: *mut u8, length: u32) -> u8;
    }
    let mut done = 0;
    while done < length {
        let chunk = (length - done).min(1 << 28);
        // SAFETY: `chunk` writable bytes at `data + done`.
        if unsafe { SystemFunction036(data.add(done), chunk as u32) } == 0 {
            return 0;
        }
        done += chunk;
    }
    1
}
