//! The peerdrt IOCTL ABI: the driver's `public.h`, shared by the driver and the user-mode shim.
//!
//! * [`ioctl`]: the control codes (`CTL_CODE(FILE_DEVICE_NETWORK, 0x800.., METHOD_BUFFERED, ..)`).
//! * [`status`]: the NTSTATUS values the device completes requests with, and their HRESULTs.
//! * [`Request`] / [`Response`] / [`EventRecord`]: versioned, explicitly little-endian
//!   encodings with length checks. Decoding never panics and never allocates.
//!
//! Every request starts with a 4-byte header: ABI version (u16) and reserved (u16, zero).

#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod codec;
pub mod frame;
pub mod group;
pub mod ioctl;
pub mod message;
pub mod pnrp;
pub mod status;

pub use codec::AbiError;
pub use message::*;

/// Version of the request/response encodings.
pub const ABI_VERSION: u16 = 1;

/// NT name of the device.
pub const DEVICE_NAME: &str = "\\Device\\PeerDrt";
/// NT name of the device's symbolic link.
pub const DOS_DEVICE_NAME: &str = "\\DosDevices\\PeerDrt";
/// Win32 path applications open.
pub const WIN32_DEVICE_PATH: &str = "\\\\.\\PeerDrt";
/// Service (and driver file) name.
pub const SERVICE_NAME: &str = "peerdrt";
/// File name of the driver binary.
pub const DRIVER_FILE: &str = "peerdrt.sys";

/// `FILE_DEVICE_NETWORK` from `devioctl.h`.
pub const FILE_DEVICE_NETWORK: u32 = 0x0000_0012;
/// `METHOD_BUFFERED`: the I/O manager copies input and output through a system buffer.
pub const METHOD_BUFFERED: u32 = 0;
/// `FILE_ANY_ACCESS`.
pub const FILE_ANY_ACCESS: u32 = 0;
/// `FILE_READ_ACCESS`.
pub const FILE_READ_ACCESS: u32 = 1;
/// `FILE_WRITE_ACCESS`.
pub const FILE_WRITE_ACCESS: u32 = 2;

/// The `CTL_CODE` macro of `devioctl.h`.
pub const fn ctl_code(device_type: u32, function: u32, method: u32, access: u32) -> u32 {
    (device_type << 16) | (access << 14) | (function << 2) | method
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctl_code_matches_the_devioctl_layout() {
        assert_eq!(
            ctl_code(FILE_DEVICE_NETWORK, 0x800, METHOD_BUFFERED, FILE_READ_ACCESS | FILE_WRITE_ACCESS),
            0x0012_e000
        );
    }
}
