//! Proof of possession when two members connect: each signs the nonce the other chose, so a
//! member certificate copied off the wire is useless without its private key.
//!
//! ```text
//! A → B  HELLO(certificate A, nonce A)
//! B → A  WELCOME(certificate B, nonce B, B's signature over nonce A)
//! A → B  PROOF(A's signature over nonce B)
//! ```
//!
//! Nonces are derived from the member's secret key and a counter (SHA-256, truncated), so they are
//! unpredictable to anyone else without the engine needing a source of randomness.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

use super::id::{GroupTag, MemberKey};

/// A connection nonce.
pub type Nonce = [u8; 16];

/// Length of a proof (an Ed25519 signature).
pub const PROOF_LEN: usize = 64;

/// Which side's proof this is (so a WELCOME proof cannot be replayed as a PROOF).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The accepting member, in WELCOME.
    Welcome,
    /// The connecting member, in PROOF.
    Connect,
}

const CONTEXT: &[u8] = b"peerdrt-group-handshake-v1";

/// The `counter`-th nonce of the member holding `key`.
pub fn nonce(key: &SigningKey, counter: u64) -> Nonce {
    let mut hasher = Sha256::new();
    hasher.update(CONTEXT);
    hasher.update(key.to_bytes());
    hasher.update(counter.to_be_bytes());
    let mut out = [0u8; 16];
    out.copy_from_slice(&hasher.finalize()[..16]);
    out
}

fn signed(tag: GroupTag, side: Side, nonce: &Nonce) -> [u8; CONTEXT.len() + 8 + 1 + 16] {
    let mut out = [0u8; CONTEXT.len() + 8 + 1 + 16];
    out[..CONTEXT.len()].copy_from_slice(CONTEXT);
    out[CONTEXT.len()..CONTEXT.len() + 8].copy_from_slice(&tag.0);
    out[CONTEXT.len() + 8] = side as u8;
    out[CONTEXT.len() + 9..].copy_from_slice(nonce);
    out
}

/// Signs the other side's `nonce`.
pub fn prove(key: &SigningKey, tag: GroupTag, side: Side, nonce: &Nonce) -> [u8; PROOF_LEN] {
    key.sign(&signed(tag, side, nonce)).to_bytes()
}

/// Whether `proof` is `member`'s signature over our `nonce`.
pub fn check(member: &MemberKey, tag: GroupTag, side: Side, nonce: &Nonce, proof: &[u8; PROOF_LEN]) -> bool {
    let Ok(key) = VerifyingKey::from_bytes(member) else { return false };
    key.verify(&signed(tag, side, nonce), &Signature::from_bytes(proof)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proof_holds_only_for_its_key_nonce_side_and_group() {
        let key = SigningKey::from_bytes(&[4; 32]);
        let member = key.verifying_key().to_bytes();
        let tag = GroupTag([1; 8]);
        let n = nonce(&key, 0);
        assert_ne!(n, nonce(&key, 1), "every counter gives a new nonce");
        let proof = prove(&key, tag, Side::Welcome, &n);
        assert!(check(&member, tag, Side::Welcome, &n, &proof));
        assert!(!check(&member, tag, Side::Connect, &n, &proof));
        assert!(!check(&member, GroupTag([2; 8]), Side::Welcome, &n, &proof));
        assert!(!check(&member, tag, Side::Welcome, &nonce(&key, 1), &proof));
        assert!(!check(&[9; 32], tag, Side::Welcome, &n, &proof));
    }
}
