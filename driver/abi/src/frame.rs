//! Frames of the Linux device: `peerdrtd`'s Unix socket carries one IOCTL per frame with
//! METHOD_BUFFERED semantics, so the shim's two backends (this socket, and DeviceIoControl on
//! `\\.\PeerDrt`) exchange the same request and response bytes.
//!
//! Request:  len(u32) ‖ request id(u64) ‖ control code(u32) ‖ output capacity(u32) ‖ input
//! Response: len(u32) ‖ request id(u64) ‖ NTSTATUS(u32) ‖ information(u32) ‖ output
//!
//! `len` counts the bytes after itself; all integers are little-endian. Responses to a
//! connection's requests may come back in any order (a wait-for-event pends), matched by id.

use crate::codec::{AbiError, Reader};

/// Bytes of a request frame before its input.
pub const REQUEST_HEADER_LEN: usize = 4 + 8 + 4 + 4;
/// Bytes of a response frame before its output.
pub const RESPONSE_HEADER_LEN: usize = 4 + 8 + 4 + 4;
/// Largest request input accepted: room for a GROUP_ADD_RECORD / GROUP_UPDATE_RECORD of a record
/// at the group limit ([`crate::group::MAX_RECORD_PAYLOAD`] of data and attributes) and its fields.
pub const MAX_INPUT_LEN: usize = 17 * 1024;
/// Largest output capacity accepted.
pub const MAX_OUTPUT_CAPACITY: usize = 64 * 1024;

/// A request frame's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestHeader {
    /// Bytes of input that follow.
    pub input_len: usize,
    /// The caller's id, echoed in the response.
    pub request_id: u64,
    /// IOCTL code.
    pub code: u32,
    /// OutputBufferLength.
    pub output_capacity: usize,
}

impl RequestHeader {
    /// Parses the first [`REQUEST_HEADER_LEN`] bytes; refuses frames over the limits.
    pub fn decode(bytes: &[u8; REQUEST_HEADER_LEN]) -> Result<Self, AbiError> {
        let mut r = Reader::new(bytes);
        let len = r.u32()? as usize;
        let request_id = r.u64()?;
        let code = r.u32()?;
        let output_capacity = r.u32()? as usize;
        let input_len = len.checked_sub(REQUEST_HEADER_LEN - 4).ok_or(AbiError::Truncated)?;
        if input_len > MAX_INPUT_LEN || output_capacity > MAX_OUTPUT_CAPACITY {
            return Err(AbiError::BadValue);
        }
        Ok(Self { input_len, request_id, code, output_capacity })
    }

    /// Encodes the header (the input follows it).
    pub fn encode(&self) -> [u8; REQUEST_HEADER_LEN] {
        let mut out = [0u8; REQUEST_HEADER_LEN];
        out[..4].copy_from_slice(&((self.input_len + REQUEST_HEADER_LEN - 4) as u32).to_le_bytes());
        out[4..12].copy_from_slice(&self.request_id.to_le_bytes());
        out[12..16].copy_from_slice(&self.code.to_le_bytes());
        out[16..20].copy_from_slice(&(self.output_capacity as u32).to_le_bytes());
        out
    }
}

/// A response frame's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseHeader {
    /// The request's id.
    pub request_id: u64,
    /// NTSTATUS.
    pub status: u32,
    /// Bytes of output that follow (IoStatus.Information).
    pub information: usize,
}

impl ResponseHeader {
    /// Parses the first [`RESPONSE_HEADER_LEN`] bytes.
    pub fn decode(bytes: &[u8; RESPONSE_HEADER_LEN]) -> Result<Self, AbiError> {
        let mut r = Reader::new(bytes);
        let len = r.u32()? as usize;
        let request_id = r.u64()?;
        let status = r.u32()?;
        let information = r.u32()? as usize;
        if len != RESPONSE_HEADER_LEN - 4 + information || information > MAX_OUTPUT_CAPACITY {
            return Err(AbiError::BadValue);
        }
        Ok(Self { request_id, status, information })
    }

    /// Encodes the header (the output follows it).
    pub fn encode(&self) -> [u8; RESPONSE_HEADER_LEN] {
        let mut out = [0u8; RESPONSE_HEADER_LEN];
        out[..4].copy_from_slice(&((self.information + RESPONSE_HEADER_LEN - 4) as u32).to_le_bytes());
        out[4..12].copy_from_slice(&self.request_id.to_le_bytes());
        out[12..16].copy_from_slice(&self.status.to_le_bytes());
        out[16..20].copy_from_slice(&(self.information as u32).to_le_bytes());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip_and_limits_hold() {
        let h = RequestHeader {
            input_len: 100,
            request_id: 7,
            code: crate::ioctl::WAIT_EVENT,
            output_capacity: 6000,
        };
        assert_eq!(RequestHeader::decode(&h.encode()), Ok(h));
        let big = RequestHeader { input_len: MAX_INPUT_LEN + 1, ..h };
        assert_eq!(RequestHeader::decode(&big.encode()), Err(AbiError::BadValue));
        let r = ResponseHeader { request_id: 7, status: 0, information: 42 };
        assert_eq!(ResponseHeader::decode(&r.encode()), Ok(r));
        let mut short = [0u8; REQUEST_HEADER_LEN];
        short[0] = 3;
        assert_eq!(RequestHeader::decode(&short), Err(AbiError::Truncated));
    }
}
