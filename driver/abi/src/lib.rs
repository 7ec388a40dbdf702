//! The peerdrt IOCTL ABI: the driver's `public.h`, shared by the driver and the user-mode shim.
//!
//! The IOCTL codes and request/response encodings arrive with the Linux node issue; today the
//! crate holds the `CTL_CODE` layout they are built from.

#![no_std]

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
        // CTL_CODE(FILE_DEVICE_NETWORK, 0x800, METHOD_BUFFERED, FILE_READ_ACCESS | FILE_WRITE_ACCESS)
        assert_eq!(
            ctl_code(FILE_DEVICE_NETWORK, 0x800, METHOD_BUFFERED, FILE_READ_ACCESS | FILE_WRITE_ACCESS),
            0x0012_e000
        );
    }
}
