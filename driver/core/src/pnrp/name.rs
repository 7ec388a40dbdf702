//! Peer names: `<authority>.<classifier>` ([MS-PNRP] §1.3.1.1).
//!
//! The authority is `0` for an unsecured name (anyone may register it) or the 40 lowercase hex
//! digits of SHA-1 over the publisher's public key for a secured one (only the key's holder may
//! register it). The classifier is case-sensitive text of at most [`MAX_CLASSIFIER_UNITS`]
//! UTF-16 code units (Windows counts WCHARs; 150 including the terminating NUL).

use alloc::string::String;
use core::fmt;

use sha1::{Digest, Sha1};

/// Longest classifier, in UTF-16 code units (without the NUL).
pub const MAX_CLASSIFIER_UNITS: usize = 149;
/// Length of a secured authority: 40 lowercase hex digits.
pub const AUTHORITY_HEX_LEN: usize = 40;
/// Longest peer name, in UTF-16 code units: authority, dot, classifier.
pub const MAX_PEER_NAME_UNITS: usize = AUTHORITY_HEX_LEN + 1 + MAX_CLASSIFIER_UNITS;
/// Longest peer name in UTF-8 bytes (a UTF-16 code unit is at most 3 UTF-8 bytes).
pub const MAX_PEER_NAME_BYTES: usize = AUTHORITY_HEX_LEN + 1 + 3 * MAX_CLASSIFIER_UNITS;

/// The DER prefix of an Ed25519 `SubjectPublicKeyInfo` (RFC 8410 §4): SEQUENCE { SEQUENCE {
/// OID 1.3.101.112 }, BIT STRING (32 bytes) }. The authority hashes this prefix followed by the
/// 32-byte key — the SubjectPublicKeyInfo Windows hashes, for an Ed25519 key.
pub const ED25519_SPKI_PREFIX: [u8; 12] =
    [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];

/// Why a peer name is not valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameError {
    /// No `.` between authority and classifier, or an empty/malformed authority.
    InvalidPeerName,
    /// The classifier is empty or holds a character names cannot hold (controls, whitespace).
    InvalidClassifier,
    /// The classifier is longer than [`MAX_CLASSIFIER_UNITS`].
    ClassifierTooLong,
}

/// Who may publish a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Authority {
    /// `0`: anyone.
    Unsecured,
    /// SHA-1 of the publisher's public key.
    Secured([u8; 20]),
}

impl Authority {
    /// The authority of names secured by `public_key`: SHA-1 over its SubjectPublicKeyInfo.
    pub fn of_key(public_key: &[u8; 32]) -> Self {
        let mut h = Sha1::new();
        h.update(ED25519_SPKI_PREFIX);
        h.update(public_key);
        Self::Secured(h.finalize().into())
    }

    /// The 20 bytes [MS-PNRP] hashes into the P2P ID (zeros when unsecured).
    pub fn hash_bytes(&self) -> [u8; 20] {
        match self {
            Self::Unsecured => [0; 20],
            Self::Secured(h) => *h,
        }
    }
}

/// A valid peer name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PeerName {
    /// Its authority.
    pub authority: Authority,
    /// Its classifier (case-sensitive).
    pub classifier: String,
}

/// Checks a classifier.
pub fn check_classifier(classifier: &str) -> Result<(), NameError> {
    if classifier.is_empty() || classifier.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(NameError::InvalidClassifier);
    }
    if classifier.encode_utf16().count() > MAX_CLASSIFIER_UNITS {
        return Err(NameError::ClassifierTooLong);
    }
    Ok(())
}

impl PeerName {
    /// A name from its parts, checking the classifier.
    pub fn new(authority: Authority, classifier: &str) -> Result<Self, NameError> {
        check_classifier(classifier)?;
        Ok(Self { authority, classifier: String::from(classifier) })
    }

    /// Parses `<authority>.<classifier>`.
    pub fn parse(text: &str) -> Result<Self, NameError> {
        let (authority, classifier) = text.split_once('.').ok_or(NameError::InvalidPeerName)?;
        let authority = if authority == "0" {
            Authority::Unsecured
        } else {
            Authority::Secured(parse_authority(authority).ok_or(NameError::InvalidPeerName)?)
        };
        Self::new(authority, classifier)
    }

    /// Whether only a key's holder may publish it.
    pub fn is_secured(&self) -> bool {
        matches!(self.authority, Authority::Secured(_))
    }
}

fn parse_authority(text: &str) -> Option<[u8; 20]> {
    let b = text.as_bytes();
    if b.len() != AUTHORITY_HEX_LEN {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; 20];
    for (i, o) in out.iter_mut().enumerate() {
        *o = (digit(b[2 * i])? << 4) | digit(b[2 * i + 1])?;
    }
    Some(out)
}

impl fmt::Display for PeerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.authority {
            Authority::Unsecured => f.write_str("0")?,
            Authority::Secured(h) => {
                for b in h {
                    write!(f, "{b:02x}")?;
                }
            }
        }
        write!(f, ".{}", self.classifier)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn unsecured_and_secured_names_parse_and_print_back() {
        let n = PeerName::parse("0.demo").unwrap();
        assert_eq!((n.authority, n.classifier.as_str()), (Authority::Unsecured, "demo"));
        assert_eq!(n.to_string(), "0.demo");
        let key = [7u8; 32];
        let a = Authority::of_key(&key);
        let text = PeerName { authority: a, classifier: "Chat.Room".into() }.to_string();
        assert_eq!(text.len(), 40 + 1 + 9);
        let back = PeerName::parse(&text).unwrap();
        assert_eq!((back.authority, back.classifier.as_str()), (a, "Chat.Room"));
        assert!(back.is_secured());
    }

    #[test]
    fn the_authority_is_sha1_over_the_ed25519_subject_public_key_info() {
        let key = [0x11u8; 32];
        let mut spki = ED25519_SPKI_PREFIX.to_vec();
        spki.extend_from_slice(&key);
        assert_eq!(spki.len(), 44);
        let want: [u8; 20] = Sha1::digest(&spki).into();
        assert_eq!(Authority::of_key(&key), Authority::Secured(want));
    }

    #[test]
    fn malformed_authorities_are_invalid_peer_names() {
        let a39 = ["a".repeat(39), ".x".into()].concat();
        let a41 = ["a".repeat(41), ".x".into()].concat();
        let upper = ["A".repeat(40), ".x".into()].concat();
        let nonhex = ["g".repeat(40), ".x".into()].concat();
        for bad in ["nodot", ".demo", "1.demo", "00.demo", &a39, &a41, &upper, &nonhex] {
            assert_eq!(PeerName::parse(bad), Err(NameError::InvalidPeerName), "{bad}");
        }
    }

    #[test]
    fn the_classifier_is_limited_at_149_utf16_units() {
        let at: String = "c".repeat(MAX_CLASSIFIER_UNITS);
        assert!(PeerName::parse(&["0.", at.as_str()].concat()).is_ok());
        let past: String = "c".repeat(MAX_CLASSIFIER_UNITS + 1);
        assert_eq!(PeerName::parse(&["0.", past.as_str()].concat()), Err(NameError::ClassifierTooLong));
        // A character outside the BMP is two UTF-16 units.
        let wide: String = core::iter::repeat_n('😀', 75).collect();
        assert_eq!(check_classifier(&wide), Err(NameError::ClassifierTooLong));
        let fits: String = core::iter::repeat_n('😀', 74).collect();
        assert!(check_classifier(&fits).is_ok());
        assert!(MAX_PEER_NAME_BYTES >= ["0.", fits.as_str()].concat().len());
    }

    #[test]
    fn empty_or_blank_classifiers_are_invalid() {
        for bad in ["0.", "0.a b", "0.tab\t", "0.nl\n"] {
            assert_eq!(PeerName::parse(bad), Err(NameError::InvalidClassifier), "{bad:?}");
        }
        // Case matters and dots inside the classifier are kept.
        let n = PeerName::parse("0.A.b.C").unwrap();
        assert_eq!(n.classifier, "A.b.C");
        assert_ne!(PeerName::parse("0.demo").unwrap(), PeerName::parse("0.Demo").unwrap());
    }
}
