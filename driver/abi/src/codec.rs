//! Little-endian, length-checked reading and writing of request and response bodies.

use core::fmt;

/// Why an IOCTL buffer was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AbiError {
    /// The input ends early.
    Truncated,
    /// Bytes follow the last field.
    TrailingBytes,
    /// The header names another ABI version.
    VersionMismatch,
    /// A field's value is out of range (a count, a flag, a length over its limit).
    BadValue,
    /// The output buffer is too small; `needed` bytes are required.
    BufferTooSmall {
        /// Bytes required.
        needed: usize,
    },
    /// Not a control code of this device.
    UnknownCode,
}

impl AbiError {
    /// The NTSTATUS the device completes a refused request with.
    pub const fn status(self) -> u32 {
        use crate::status::*;
        match self {
            Self::Truncated | Self::TrailingBytes | Self::BadValue => INVALID_PARAMETER,
            Self::VersionMismatch => REVISION_MISMATCH,
            Self::BufferTooSmall { .. } => BUFFER_TOO_SMALL,
            Self::UnknownCode => INVALID_DEVICE_REQUEST,
        }
    }
}

impl fmt::Display for AbiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated => f.write_str("buffer truncated"),
            Self::TrailingBytes => f.write_str("bytes after the last field"),
            Self::VersionMismatch => f.write_str("ABI version mismatch"),
            Self::BadValue => f.write_str("field value out of range"),
            Self::BufferTooSmall { needed } => write!(f, "output buffer too small ({needed} bytes needed)"),
            Self::UnknownCode => f.write_str("unknown control code"),
        }
    }
}

impl core::error::Error for AbiError {}

/// Reads little-endian values, never past the end.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `input`.
    pub fn new(input: &'a [u8]) -> Self {
        Self { rest: input }
    }

    /// Bytes left to read.
    pub fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// The next `n` bytes.
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], AbiError> {
        let (head, rest) = self.rest.split_at_checked(n).ok_or(AbiError::Truncated)?;
        self.rest = rest;
        Ok(head)
    }

    /// The next `N` bytes as an array.
    pub fn array<const N: usize>(&mut self) -> Result<&'a [u8; N], AbiError> {
        let (head, rest) = self.rest.split_first_chunk::<N>().ok_or(AbiError::Truncated)?;
        self.rest = rest;
        Ok(head)
    }

    /// A u8.
    pub fn u8(&mut self) -> Result<u8, AbiError> {
        Ok(self.array::<1>()?[0])
    }

    /// A little-endian u16.
    pub fn u16(&mut self) -> Result<u16, AbiError> {
        Ok(u16::from_le_bytes(*self.array()?))
    }

    /// A little-endian u32.
    pub fn u32(&mut self) -> Result<u32, AbiError> {
        Ok(u32::from_le_bytes(*self.array()?))
    }

    /// A little-endian u64.
    pub fn u64(&mut self) -> Result<u64, AbiError> {
        Ok(u64::from_le_bytes(*self.array()?))
    }

    /// A u16 length then that many bytes, at most `max`.
    pub fn blob(&mut self, max: usize) -> Result<&'a [u8], AbiError> {
        let len = usize::from(self.u16()?);
        if len > max {
            return Err(AbiError::BadValue);
        }
        self.bytes(len)
    }

    /// A boolean byte (0 or 1).
    pub fn flag(&mut self) -> Result<bool, AbiError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(AbiError::BadValue),
        }
    }

    /// Succeeds if nothing is left.
    pub fn finish(self) -> Result<(), AbiError> {
        if self.rest.is_empty() { Ok(()) } else { Err(AbiError::TrailingBytes) }
    }
}

/// Writes little-endian values into a caller buffer, counting past its end.
#[derive(Debug)]
pub struct Writer<'b> {
    buf: &'b mut [u8],
    pos: usize,
}

impl<'b> Writer<'b> {
    /// A writer at the start of `buf`.
    pub fn new(buf: &'b mut [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Appends bytes.
    pub fn bytes(&mut self, bytes: &[u8]) {
        let end = self.pos.saturating_add(bytes.len());
        if let Some(dst) = self.buf.get_mut(self.pos..end) {
            dst.copy_from_slice(bytes);
        }
        self.pos = end;
    }

    /// Appends a u8.
    pub fn u8(&mut self, v: u8) {
        self.bytes(&[v]);
    }

    /// Appends a little-endian u16.
    pub fn u16(&mut self, v: u16) {
        self.bytes(&v.to_le_bytes());
    }

    /// Appends a little-endian u32.
    pub fn u32(&mut self, v: u32) {
        self.bytes(&v.to_le_bytes());
    }

    /// Appends a little-endian u64.
    pub fn u64(&mut self, v: u64) {
        self.bytes(&v.to_le_bytes());
    }

    /// Appends a u16 length and the bytes (the caller keeps them under 64 KiB).
    pub fn blob(&mut self, bytes: &[u8]) {
        self.u16(bytes.len().min(usize::from(u16::MAX)) as u16);
        self.bytes(&bytes[..bytes.len().min(usize::from(u16::MAX))]);
    }

    /// Appends a boolean byte.
    pub fn flag(&mut self, v: bool) {
        self.u8(u8::from(v));
    }

    /// The length written, or how much was needed.
    pub fn finish(self) -> Result<usize, AbiError> {
        if self.pos > self.buf.len() {
            Err(AbiError::BufferTooSmall { needed: self.pos })
        } else {
            Ok(self.pos)
        }
    }
}
