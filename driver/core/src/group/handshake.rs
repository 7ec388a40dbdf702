//! The connect handshake: each member proves it holds its certificate's key, both agree a fresh
//! key per direction for sealing the connection ([`super::session`]), and both learn the other's
//! peer time.
//!
//! ```text
//! A → B  HELLO(certificate A, nonce A, ephemeral X25519 key A, peer time A)
//! B → A  WELCOME(certificate B, nonce B, ephemeral key B, peer time B, B's signature over T)
//! A → B  PROOF(A's signature over T)
//! T = SHA-256(context, group tag, A's key, nonce A, ephemeral A, time A,
//!                                 B's key, nonce B, ephemeral B, time B)
//! ```
//!
//! Both signatures cover the whole transcript, so a man in the middle who substitutes an
//! ephemeral key (or a clock, or a nonce) breaks the signature the other side checks; and each
//! signature covers the signer's fresh nonce from the other side, so a recorded handshake cannot
//! be replayed. The session keys are HKDF-SHA256 over the X25519 shared secret, salted with the
//! transcript, one per direction.
//!
//! Randomness comes from outside, as the rest of the engine wants it: nonces and ephemeral
//! secrets are SHA-256 over the member's secret key, the entropy the host handed in
//! ([`Member::add_entropy`](super::member::Member::add_entropy)) and a counter, so they are
//! unpredictable to anyone without the secret key, never repeat within a run, and are fresh
//! across runs when the host supplies entropy.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use hkdf::Hkdf;
use sha2::{Digest, Sha256};
use x25519_dalek::{PublicKey, StaticSecret};

use super::id::{GroupTag, MemberKey};
use super::session::{KEY_LEN, SessionKeys};
use super::time::PeerTime;

/// A connection nonce.
pub type Nonce = [u8; 16];

/// An ephemeral X25519 public key.
pub type Ephemeral = [u8; 32];

/// Length of a proof (an Ed25519 signature).
pub const PROOF_LEN: usize = 64;

/// Length of the member's entropy pool.
pub const ENTROPY_LEN: usize = 32;

/// Which side's proof this is (so a WELCOME proof cannot be replayed as a PROOF).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The accepting member, in WELCOME.
    Welcome,
    /// The connecting member, in PROOF.
    Connect,
}

const CONTEXT: &[u8] = b"peerdrt-group-handshake-v2";
const NONCE_CONTEXT: &[u8] = b"peerdrt-group-nonce-v2";
const EPHEMERAL_CONTEXT: &[u8] = b"peerdrt-group-ephemeral-v2";
const KEYS_CONTEXT: &[u8] = b"peerdrt-group-session-v1";

fn derive(context: &[u8], key: &SigningKey, entropy: &[u8; ENTROPY_LEN], counter: u64) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(context);
    hasher.update(key.to_bytes());
    hasher.update(entropy);
    hasher.update(counter.to_be_bytes());
    hasher.finalize().into()
}

/// The `counter`-th nonce of the member holding `key`.
pub fn nonce(key: &SigningKey, entropy: &[u8; ENTROPY_LEN], counter: u64) -> Nonce {
    let mut out = [0u8; 16];
    out.copy_from_slice(&derive(NONCE_CONTEXT, key, entropy, counter)[..16]);
    out
}

/// The `counter`-th ephemeral X25519 secret of the member holding `key`.
pub fn ephemeral_secret(key: &SigningKey, entropy: &[u8; ENTROPY_LEN], counter: u64) -> StaticSecret {
    StaticSecret::from(derive(EPHEMERAL_CONTEXT, key, entropy, counter))
}

/// The public half of an ephemeral secret.
pub fn ephemeral_public(secret: &StaticSecret) -> Ephemeral {
    PublicKey::from(secret).to_bytes()
}

/// What one side of a handshake contributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Contribution {
    /// Its member key (from its certificate).
    pub member: MemberKey,
    /// Its nonce.
    pub nonce: Nonce,
    /// Its ephemeral public key.
    pub ephemeral: Ephemeral,
    /// Its peer time when it sent the message.
    pub clock: PeerTime,
}

/// A handshake's transcript: the connecting side's contribution, then the accepting side's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transcript {
    /// The group.
    pub tag: GroupTag,
    /// The connecting member (HELLO).
    pub connecting: Contribution,
    /// The accepting member (WELCOME).
    pub accepting: Contribution,
}

/// A transcript's hash: what both proofs sign and what salts the session keys.
pub type TranscriptHash = [u8; 32];

impl Transcript {
    /// The transcript's hash.
    pub fn hash(&self) -> TranscriptHash {
        let mut hasher = Sha256::new();
        hasher.update(CONTEXT);
        hasher.update(self.tag.0);
        for side in [&self.connecting, &self.accepting] {
            hasher.update(side.member);
            hasher.update(side.nonce);
            hasher.update(side.ephemeral);
            hasher.update(side.clock.0.to_be_bytes());
        }
        hasher.finalize().into()
    }
}

fn signed(side: Side, transcript: &TranscriptHash) -> [u8; CONTEXT.len() + 1 + 32] {
    let mut out = [0u8; CONTEXT.len() + 1 + 32];
    out[..CONTEXT.len()].copy_from_slice(CONTEXT);
    out[CONTEXT.len()] = side as u8;
    out[CONTEXT.len() + 1..].copy_from_slice(transcript);
    out
}

/// Signs the transcript as `side`.
pub fn prove(key: &SigningKey, side: Side, transcript: &TranscriptHash) -> [u8; PROOF_LEN] {
    key.sign(&signed(side, transcript)).to_bytes()
}

/// Whether `proof` is `member`'s signature over the transcript as `side`.
pub fn check(member: &MemberKey, side: Side, transcript: &TranscriptHash, proof: &[u8; PROOF_LEN]) -> bool {
    let Ok(key) = VerifyingKey::from_bytes(member) else { return false };
    key.verify(&signed(side, transcript), &Signature::from_bytes(proof)).is_ok()
}

/// The session keys of one side: X25519 of our ephemeral secret and their ephemeral key, through
/// HKDF-SHA256 salted with the transcript. `None` if their key is a low-order point (the shared
/// secret would not depend on our secret).
pub fn session_keys(
    ours: &StaticSecret,
    theirs: &Ephemeral,
    transcript: &TranscriptHash,
    side: Side,
) -> Option<SessionKeys> {
    let shared = ours.diffie_hellman(&PublicKey::from(*theirs));
    if !shared.was_contributory() {
        return None;
    }
    let hkdf = Hkdf::<Sha256>::new(Some(transcript), shared.as_bytes());
    let mut okm = [0u8; 2 * KEY_LEN];
    hkdf.expand(KEYS_CONTEXT, &mut okm).ok()?;
    let mut connecting_to_accepting = [0u8; KEY_LEN];
    let mut accepting_to_connecting = [0u8; KEY_LEN];
    connecting_to_accepting.copy_from_slice(&okm[..KEY_LEN]);
    accepting_to_connecting.copy_from_slice(&okm[KEY_LEN..]);
    Some(match side {
        Side::Connect => SessionKeys { send: connecting_to_accepting, receive: accepting_to_connecting },
        Side::Welcome => SessionKeys { send: accepting_to_connecting, receive: connecting_to_accepting },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENTROPY: [u8; ENTROPY_LEN] = [0x5a; ENTROPY_LEN];

    fn contribution(key: &SigningKey, counter: u64) -> (StaticSecret, Contribution) {
        let secret = ephemeral_secret(key, &ENTROPY, counter);
        let member = key.verifying_key().to_bytes();
        let nonce = nonce(key, &ENTROPY, counter);
        (
            secret.clone(),
            Contribution { member, nonce, ephemeral: ephemeral_public(&secret), clock: PeerTime(7) },
        )
    }

    #[test]
    fn a_proof_holds_only_for_its_key_side_and_transcript() {
        let key = SigningKey::from_bytes(&[4; 32]);
        let other = SigningKey::from_bytes(&[5; 32]);
        let (_, a) = contribution(&key, 0);
        let (_, b) = contribution(&other, 0);
        let transcript = Transcript { tag: GroupTag([1; 8]), connecting: a, accepting: b };
        let hash = transcript.hash();
        assert_ne!(nonce(&key, &ENTROPY, 0), nonce(&key, &ENTROPY, 1), "every counter gives a new nonce");
        assert_ne!(nonce(&key, &ENTROPY, 0), nonce(&key, &[0; ENTROPY_LEN], 0), "entropy changes the nonce");
        let proof = prove(&key, Side::Welcome, &hash);
        assert!(check(&a.member, Side::Welcome, &hash, &proof));
        assert!(!check(&a.member, Side::Connect, &hash, &proof));
        assert!(!check(&b.member, Side::Welcome, &hash, &proof));
        assert!(!check(&[9; 32], Side::Welcome, &hash, &proof));
        for altered in [
            Transcript { tag: GroupTag([2; 8]), ..transcript },
            Transcript { connecting: Contribution { ephemeral: [3; 32], ..a }, ..transcript },
            Transcript { accepting: Contribution { ephemeral: [3; 32], ..b }, ..transcript },
            Transcript { accepting: Contribution { clock: PeerTime(8), ..b }, ..transcript },
            Transcript { connecting: Contribution { nonce: [0; 16], ..a }, ..transcript },
        ] {
            assert!(!check(&a.member, Side::Welcome, &altered.hash(), &proof), "{altered:?}");
        }
    }

    #[test]
    fn both_sides_derive_mirrored_keys_and_a_substituted_ephemeral_gives_other_keys() {
        let (alice, bob) = (SigningKey::from_bytes(&[4; 32]), SigningKey::from_bytes(&[5; 32]));
        let (a_secret, a) = contribution(&alice, 1);
        let (b_secret, b) = contribution(&bob, 2);
        let hash = Transcript { tag: GroupTag([1; 8]), connecting: a, accepting: b }.hash();
        let at_a = session_keys(&a_secret, &b.ephemeral, &hash, Side::Connect).unwrap();
        let at_b = session_keys(&b_secret, &a.ephemeral, &hash, Side::Welcome).unwrap();
        assert_eq!((at_a.send, at_a.receive), (at_b.receive, at_b.send));
        assert_ne!(at_a.send, at_a.receive, "one key per direction");

        let mallory = ephemeral_secret(&SigningKey::from_bytes(&[6; 32]), &ENTROPY, 0);
        let swapped = session_keys(&mallory, &a.ephemeral, &hash, Side::Welcome).unwrap();
        assert_ne!(swapped.receive, at_a.send, "a substituted key does not reach the session");
        assert_eq!(session_keys(&a_secret, &[0; 32], &hash, Side::Connect), None, "low-order point refused");
    }
}
