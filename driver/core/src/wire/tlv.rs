//! The TLV layer: a bounds-checked field reader over a borrowed datagram and a field writer
//! over a caller buffer.
//!
//! Every field is `FieldID(2) Length(2) body`, big-endian, with `Length` counting the 4-byte
//! field header and the body but not the zero padding that brings the next field to a 4-byte
//! boundary (the layout the Wireshark PNRP dissector walks).

use super::error::{DecodeError, EncodeError};

/// Size of a field header: FieldID(2) + Length(2).
pub const FIELD_HEADER_LEN: usize = 4;

/// Bytes of padding that follow a field of `length` bytes.
pub const fn padding_after(length: usize) -> usize {
    (4 - length % 4) % 4
}

/// One field as it stands in the datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawField<'a> {
    /// The FieldID.
    pub id: u16,
    /// The body (after the 4-byte field header, before padding).
    pub body: &'a [u8],
}

impl<'a> RawField<'a> {
    /// The Length value the field carried.
    pub fn length(&self) -> u16 {
        // Bodies are sliced from a u16 length, so this never truncates.
        (self.body.len() + FIELD_HEADER_LEN) as u16
    }

    /// `BadFieldLength` for this field.
    pub fn bad_length(&self) -> DecodeError {
        DecodeError::BadFieldLength { field: self.id, length: self.length() }
    }

    /// The body as an array of exactly `N` bytes, or `BadFieldLength`.
    pub fn fixed<const N: usize>(&self) -> Result<&'a [u8; N], DecodeError> {
        self.body.try_into().map_err(|_| self.bad_length())
    }
}

/// Reads fields one after another, never past the end of the input.
#[derive(Debug, Clone)]
pub struct FieldReader<'a> {
    rest: &'a [u8],
}

impl<'a> FieldReader<'a> {
    /// A reader over `input`, which must start at a field boundary.
    pub fn new(input: &'a [u8]) -> Self {
        Self { rest: input }
    }

    /// The id of the next field, if any bytes remain.
    pub fn peek_id(&self) -> Option<u16> {
        match self.rest {
            [a, b, ..] => Some(u16::from_be_bytes([*a, *b])),
            _ => None,
        }
    }

    /// Whether nothing but padding remains.
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The next field, `Ok(None)` at the end of the input.
    pub fn next_field(&mut self) -> Result<Option<RawField<'a>>, DecodeError> {
        if self.rest.is_empty() {
            return Ok(None);
        }
        let (head, after) = self.rest.split_at_checked(FIELD_HEADER_LEN).ok_or(DecodeError::Truncated)?;
        let id = u16::from_be_bytes([head[0], head[1]]);
        let length = u16::from_be_bytes([head[2], head[3]]);
        let body_len = usize::from(length)
            .checked_sub(FIELD_HEADER_LEN)
            .ok_or(DecodeError::BadFieldLength { field: id, length })?;
        let (body, after) = after.split_at_checked(body_len).ok_or(DecodeError::Truncated)?;
        // A message may end without the padding of its last field.
        let pad = padding_after(usize::from(length)).min(after.len());
        self.rest = after.get(pad..).unwrap_or_default();
        Ok(Some(RawField { id, body }))
    }

    /// The next field, which must be `id`.
    pub fn expect(&mut self, id: u16) -> Result<RawField<'a>, DecodeError> {
        match self.peek_id() {
            Some(found) if found == id => self.next_field()?.ok_or(DecodeError::Truncated),
            Some(found) => Err(DecodeError::UnexpectedField { found }),
            None => Err(DecodeError::MissingField { expected: id }),
        }
    }

    /// The next field if it is `id`, else nothing consumed.
    pub fn optional(&mut self, id: u16) -> Result<Option<RawField<'a>>, DecodeError> {
        if self.peek_id() == Some(id) { self.next_field() } else { Ok(None) }
    }

    /// Everything left, consumed: the raw fragment that follows SPLIT_CONTROLS.
    pub fn rest(&mut self) -> &'a [u8] {
        core::mem::take(&mut self.rest)
    }

    /// Succeeds only if every field was consumed.
    pub fn finish(self) -> Result<(), DecodeError> {
        match self.peek_id() {
            None if self.rest.is_empty() => Ok(()),
            Some(found) => Err(DecodeError::UnexpectedField { found }),
            None => Err(DecodeError::TrailingBytes),
        }
    }
}

/// Writes big-endian values into a caller buffer.
///
/// Writing past the end does not fail at once: the writer keeps counting so that the final
/// error can report how many bytes the encoding needs.
#[derive(Debug)]
pub struct Writer<'b> {
    buf: &'b mut [u8],
    pos: usize,
    invalid: Option<u16>,
    /// Where the padding of the last field ends, and how long it is.
    last_padding: (usize, usize),
}

impl<'b> Writer<'b> {
    /// A writer at the start of `buf`.
    pub fn new(buf: &'b mut [u8]) -> Self {
        Self { buf, pos: 0, invalid: None, last_padding: (0, 0) }
    }

    /// Bytes written (or that would have been written) so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Appends `bytes`.
    pub fn bytes(&mut self, bytes: &[u8]) {
        let end = self.pos.saturating_add(bytes.len());
        if let Some(dst) = self.buf.get_mut(self.pos..end) {
            dst.copy_from_slice(bytes);
        }
        self.pos = end;
    }

    /// Appends one byte.
    pub fn u8(&mut self, value: u8) {
        self.bytes(&[value]);
    }

    /// Appends a big-endian u16.
    pub fn u16(&mut self, value: u16) {
        self.bytes(&value.to_be_bytes());
    }

    /// Appends a big-endian u32.
    pub fn u32(&mut self, value: u32) {
        self.bytes(&value.to_be_bytes());
    }

    /// Appends `count` zero bytes.
    pub fn zeros(&mut self, count: usize) {
        for _ in 0..count {
            self.u8(0);
        }
    }

    /// Records that a value of field `field` cannot be encoded; `finish` reports it.
    pub fn reject(&mut self, field: u16) {
        self.invalid.get_or_insert(field);
    }

    /// Writes one field: its header, the body `body` writes, and the padding after it.
    pub fn field(&mut self, id: u16, body: impl FnOnce(&mut Self)) {
        let start = self.pos;
        self.u16(id);
        self.u16(0);
        body(self);
        let length = self.pos - start;
        match u16::try_from(length) {
            Ok(length) => self.patch_u16(start + 2, length),
            Err(_) => self.reject(id),
        }
        let pad = padding_after(length);
        self.zeros(pad);
        self.last_padding = (self.pos, pad);
    }

    /// Ends a message: the last field is not followed by padding (an ACK with its FLAGS field
    /// is 26 bytes, a LOOKUP ends with its endpoint array).
    pub fn end_message(&mut self) {
        let (end, pad) = self.last_padding;
        if end == self.pos {
            self.pos -= pad;
        }
    }

    fn patch_u16(&mut self, at: usize, value: u16) {
        if let Some(dst) = self.buf.get_mut(at..at + 2) {
            dst.copy_from_slice(&value.to_be_bytes());
        }
    }

    /// The encoded length, or why nothing usable was written.
    pub fn finish(self) -> Result<usize, EncodeError> {
        if let Some(field) = self.invalid {
            return Err(EncodeError::InvalidValue { field });
        }
        if self.pos > self.buf.len() {
            return Err(EncodeError::BufferTooSmall { needed: self.pos });
        }
        Ok(self.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_field_is_padded_to_four_bytes_and_its_length_excludes_the_padding() {
        let mut buf = [0xAA; 16];
        let mut w = Writer::new(&mut buf);
        w.field(0x0040, |w| w.u16(0x0200));
        w.field(0x0093, |w| w.u32(7));
        assert_eq!(w.finish(), Ok(16));
        assert_eq!(&buf[..8], &[0x00, 0x40, 0x00, 0x06, 0x02, 0x00, 0, 0]);
        let mut r = FieldReader::new(&buf);
        assert_eq!(r.expect(0x0040).unwrap().body, &[0x02, 0x00]);
        assert_eq!(r.expect(0x0093).unwrap().body, &[0, 0, 0, 7]);
        assert_eq!(r.finish(), Ok(()));
    }

    #[test]
    fn a_short_buffer_reports_the_length_needed() {
        let mut buf = [0; 5];
        let mut w = Writer::new(&mut buf);
        w.field(0x0093, |w| w.bytes(&[1; 16]));
        assert_eq!(w.finish(), Err(EncodeError::BufferTooSmall { needed: 20 }));
    }

    #[test]
    fn lengths_below_the_field_header_and_past_the_input_are_rejected() {
        let mut r = FieldReader::new(&[0x00, 0x93, 0x00, 0x03]);
        assert_eq!(r.next_field(), Err(DecodeError::BadFieldLength { field: 0x93, length: 3 }));
        let mut r = FieldReader::new(&[0x00, 0x93, 0x00, 0x14, 1, 2]);
        assert_eq!(r.next_field(), Err(DecodeError::Truncated));
        let mut r = FieldReader::new(&[0x00]);
        assert_eq!(r.next_field(), Err(DecodeError::Truncated));
    }

    #[test]
    fn a_missing_final_padding_is_tolerated() {
        let mut r = FieldReader::new(&[0x00, 0x40, 0x00, 0x06, 0x02, 0x00]);
        assert!(r.next_field().unwrap().is_some());
        assert_eq!(r.finish(), Ok(()));
    }
}
