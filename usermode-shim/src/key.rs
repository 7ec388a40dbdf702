//! DRT keys and the one place their byte order changes.
//!
//! A key is a 256-bit unsigned integer. Two byte orders meet in the shim:
//! * `DRT_DATA` keys of the Win32 API are **least-significant byte first**: the SDK sample
//!   (DrtSdkSample.cpp) prints `pb[cb-1]` first as the most significant byte;
//! * the IOCTL ABI and the wire carry keys **most-significant byte first**, so that byte-wise
//!   comparison is numeric comparison.
//!
//! [`Key`] holds the ABI order. [`Key::from_drt_data`] and [`Key::to_drt_data`] are the only
//! conversions between the two; every `DRT_DATA` key crossing the C API goes through them.

use std::fmt;
use std::str::FromStr;

use peerdrt_abi::{KEY_LEN, KeyBytes};

/// A 256-bit DRT key in ABI order (most-significant byte first).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Key(pub KeyBytes);

/// Reverses a key between `DRT_DATA` order and ABI order (the map is its own inverse).
#[inline]
fn reverse(bytes: &KeyBytes) -> KeyBytes {
    let mut out = *bytes;
    out.reverse();
    out
}

impl Key {
    /// The smallest key, 0x00…00.
    pub const MIN: Key = Key([0; KEY_LEN]);
    /// The largest key, 0xFF…FF.
    pub const MAX: Key = Key([0xFF; KEY_LEN]);

    /// A key from the bytes of a `DRT_DATA` (least-significant byte first). `None` unless
    /// there are exactly 32 bytes.
    pub fn from_drt_data(bytes: &[u8]) -> Option<Key> {
        let bytes: &KeyBytes = bytes.try_into().ok()?;
        Some(Key(reverse(bytes)))
    }

    /// The bytes to put in a `DRT_DATA` (least-significant byte first).
    pub fn to_drt_data(&self) -> KeyBytes {
        reverse(&self.0)
    }

    /// The ABI / wire form (most-significant byte first).
    pub fn as_wire(&self) -> &KeyBytes {
        &self.0
    }

    /// A key whose low 64 bits are `value`.
    pub fn from_u64(value: u64) -> Key {
        let mut k = [0u8; KEY_LEN];
        k[KEY_LEN - 8..].copy_from_slice(&value.to_be_bytes());
        Key(k)
    }

    /// Parses hexadecimal digits as a number (most significant digit first). Fewer than 64
    /// digits are zero-extended on the left; an optional `0x` prefix and `_` separators are
    /// accepted.
    pub fn parse_hex(text: &str) -> Result<Key, KeyParseError> {
        let t = text.trim();
        let t = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")).unwrap_or(t);
        let digits: Vec<u8> = t.bytes().filter(|b| *b != b'_').collect();
        if digits.is_empty() || digits.len() > 2 * KEY_LEN {
            return Err(KeyParseError);
        }
        let mut k = [0u8; KEY_LEN];
        for (i, d) in digits.iter().rev().enumerate() {
            let v = (*d as char).to_digit(16).ok_or(KeyParseError)? as u8;
            k[KEY_LEN - 1 - i / 2] |= if i % 2 == 0 { v } else { v << 4 };
        }
        Ok(Key(k))
    }

    /// All 64 hexadecimal digits, most significant first.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({})", self.to_hex())
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// A key string that is not 1..=64 hexadecimal digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyParseError;

impl fmt::Display for KeyParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key is 1 to 64 hexadecimal digits")
    }
}

impl std::error::Error for KeyParseError {}

impl FromStr for Key {
    type Err = KeyParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Key::parse_hex(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drt_data_is_least_significant_byte_first() {
        // The key 1: DRT_DATA holds 01 00 .. 00 (the sample prints pb[31] first, i.e. "00..01").
        let mut drt = [0u8; 32];
        drt[0] = 0x01;
        let k = Key::from_drt_data(&drt).unwrap();
        assert_eq!(k, Key::from_u64(1));
        assert_eq!(k.as_wire()[31], 0x01);
        assert_eq!(k.as_wire()[0], 0x00);
        assert_eq!(k.to_drt_data(), drt);
        // The most significant byte of DRT_DATA is pb[31].
        let mut top = [0u8; 32];
        top[31] = 0x80;
        assert_eq!(Key::from_drt_data(&top).unwrap().0[0], 0x80);
        assert!(Key::from_drt_data(&top).unwrap() > Key::from_u64(u64::MAX));
    }

    #[test]
    fn conversion_round_trips_and_rejects_other_sizes() {
        let mut bytes = [0u8; 32];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = i as u8 * 7 + 3;
        }
        let k = Key::from_drt_data(&bytes).unwrap();
        assert_eq!(k.to_drt_data(), bytes);
        assert_eq!(Key(k.to_drt_data()).to_drt_data(), k.0);
        assert!(Key::from_drt_data(&bytes[..31]).is_none());
        assert!(Key::from_drt_data(&[0u8; 33]).is_none());
    }

    #[test]
    fn hex_is_a_number() {
        assert_eq!(Key::parse_hex("1").unwrap(), Key::from_u64(1));
        assert_eq!(Key::parse_hex("0x0102").unwrap(), Key::from_u64(0x0102));
        assert_eq!(Key::parse_hex("ff_ff").unwrap(), Key::from_u64(0xffff));
        let full = "80".to_string() + &"00".repeat(31);
        let k = Key::parse_hex(&full).unwrap();
        assert_eq!(k.0[0], 0x80);
        assert_eq!(k.to_hex(), full);
        assert_eq!(k.to_string().parse::<Key>().unwrap(), k);
        assert!(Key::parse_hex("").is_err());
        assert!(Key::parse_hex("xyz").is_err());
        assert!(Key::parse_hex(&"1".repeat(65)).is_err());
        assert_eq!(Key::parse_hex(&"f".repeat(64)).unwrap(), Key::MAX);
    }
}
