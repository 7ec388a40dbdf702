//! PNRP IDs ([MS-PNRP] §1.3.1.2): a 128-bit P2P ID derived from the name, followed by a 128-bit
//! service location that tells apart the instances publishing the same name. A PNRP ID is the
//! DRT key a registration lives under; resolving a name is a range search over every service
//! location of its P2P ID.

use sha1::{Digest, Sha1};

use super::name::PeerName;

/// `Goo`, the constant [MS-PNRP] appends when hashing a P2P ID: 0x504E5250, "PNRP".
pub const GOO: [u8; 4] = *b"PNRP";

/// A 256-bit PNRP ID, most significant byte first (the DRT key order of the ABI).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PnrpId(pub [u8; 32]);

/// SHA-1 over the classifier as UTF-16LE without the terminating NUL (Windows hashes WCHARs).
fn classifier_hash(classifier: &str) -> [u8; 20] {
    let mut h = Sha1::new();
    for unit in classifier.encode_utf16() {
        h.update(unit.to_le_bytes());
    }
    h.finalize().into()
}

/// The P2P ID of a name: the first 128 bits of
/// SHA-1(SHA-1(classifier) ‖ authority hash ‖ SHA-1(classifier) ‖ Goo).
pub fn p2p_id(name: &PeerName) -> [u8; 16] {
    let c = classifier_hash(&name.classifier);
    let mut h = Sha1::new();
    h.update(c);
    h.update(name.authority.hash_bytes());
    h.update(c);
    h.update(GOO);
    let digest: [u8; 20] = h.finalize().into();
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    out
}

/// A service location: the 64-bit `hint` (the upper 64 bits of the service's IPv6 address, or
/// an application's hint), then the first 64 bits of SHA-1(public key ‖ addresses ‖ salt).
/// [MS-PNRP] hashes one random byte; a 64-bit salt keeps two publishers of one name with the
/// same key and addresses (two processes on one host) apart.
pub fn service_location(
    hint: [u8; 8],
    public_key: &[u8; 32],
    addresses: &[([u8; 16], u16)],
    salt: [u8; 8],
) -> [u8; 16] {
    let mut h = Sha1::new();
    h.update(public_key);
    for (addr, port) in addresses {
        h.update(addr);
        h.update(port.to_be_bytes());
    }
    h.update(salt);
    let digest: [u8; 20] = h.finalize().into();
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&hint);
    out[8..].copy_from_slice(&digest[..8]);
    out
}

impl PnrpId {
    /// P2P ID ‖ service location.
    pub fn new(p2p: [u8; 16], location: [u8; 16]) -> Self {
        let mut k = [0u8; 32];
        k[..16].copy_from_slice(&p2p);
        k[16..].copy_from_slice(&location);
        Self(k)
    }

    /// Its P2P ID.
    pub fn p2p(&self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out.copy_from_slice(&self.0[..16]);
        out
    }

    /// The keys a resolve of `p2p` searches: every service location, `[p2p‖0…0, p2p‖F…F]`.
    pub fn range(p2p: [u8; 16]) -> (PnrpId, PnrpId) {
        (Self::new(p2p, [0; 16]), Self::new(p2p, [0xFF; 16]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pnrp::name::Authority;

    fn name(t: &str) -> PeerName {
        PeerName::parse(t).unwrap()
    }

    #[test]
    fn the_p2p_id_follows_the_ms_pnrp_construction() {
        // Recomputed here step by step: classifier "demo" as UTF-16LE, 20 zero bytes for "0".
        let utf16le: [u8; 8] = [b'd', 0, b'e', 0, b'm', 0, b'o', 0];
        let c: [u8; 20] = Sha1::digest(utf16le).into();
        let mut input = alloc::vec::Vec::new();
        input.extend_from_slice(&c);
        input.extend_from_slice(&[0u8; 20]);
        input.extend_from_slice(&c);
        input.extend_from_slice(&[0x50, 0x4E, 0x52, 0x50]);
        let want: [u8; 20] = Sha1::digest(&input).into();
        assert_eq!(p2p_id(&name("0.demo")), want[..16]);
    }

    #[test]
    fn the_p2p_id_depends_on_classifier_case_and_authority() {
        let a = p2p_id(&name("0.demo"));
        assert_ne!(a, p2p_id(&name("0.Demo")));
        let secured = PeerName { authority: Authority::of_key(&[1; 32]), classifier: "demo".into() };
        assert_ne!(a, p2p_id(&secured));
        assert_eq!(a, p2p_id(&name("0.demo")));
    }

    #[test]
    fn every_service_location_of_a_name_lies_in_its_resolve_range() {
        let p2p = p2p_id(&name("0.demo"));
        let (lo, hi) = PnrpId::range(p2p);
        for salt in 0..16u8 {
            let loc =
                service_location([0xFE, 0x80, 0, 0, 0, 0, 0, 0], &[2; 32], &[([1; 16], 3540)], [salt; 8]);
            let id = PnrpId::new(p2p, loc);
            assert!(lo <= id && id <= hi);
            assert_eq!(id.p2p(), p2p);
            assert_eq!(loc[..8], [0xFE, 0x80, 0, 0, 0, 0, 0, 0]);
        }
        let a = service_location([0; 8], &[2; 32], &[], [1; 8]);
        assert_ne!(a, service_location([0; 8], &[2; 32], &[], [2; 8]), "the salt tells publishers apart");
    }
}
