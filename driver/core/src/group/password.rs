//! Password authentication: PeerGroupPasswordJoin's side of [MS-PPSEC]'s Group Connect
//! subprotocol, re-designed for peerdrt's datagrams.
//!
//! * The creator turns the group password into a **verifier** once, at PeerGroupCreate:
//!   PBKDF2-HMAC-SHA256(password, 16 random bytes of salt, [`PASSWORD_ITERATIONS`]) gives a
//!   32-byte seed, the seed an Ed25519 key pair, and the pair's *public* key is the verifier.
//!   [`SecurityProperties`] (root, role granted, salt, iterations, verifier), signed by the group
//!   root, is the group's Security Properties record; the password invitation carries it. The
//!   password and the seed are never stored or sent.
//! * A joiner derives the same seed from the password it was given, so it holds the verifier's
//!   private key iff its password is right. It connects with PASSWORD_HELLO(its member key,
//!   nonce); the granting member (the root's holder) answers PASSWORD_CHALLENGE(nonce,
//!   challenge); the joiner answers PASSWORD_PROOF: the password key's and its member key's
//!   signatures over (group, member key, both nonces). Nothing sent can be replayed: the
//!   challenge is fresh per window and bound to the member key, and the member key's signature
//!   ties the proof to the key the certificate will name.
//! * The granting member checks both signatures and answers PASSWORD_GRANT: a membership
//!   certificate for the joiner's key with the group's password role, signed by the root. From
//!   then on the joiner is an ordinary member: every member verifies its records with the root's
//!   public key alone, exactly as for an invited member.
//!
//! Challenges are derived from the root's secret, the member key, the joiner's nonce and the
//! number of the current [`PASSWORD_CHALLENGE_WINDOW`], so the granting member keeps no state
//! per joiner; wrong proofs are counted per window and bounded by
//! [`MAX_PASSWORD_FAILURES_PER_WINDOW`].

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

use super::handshake::Nonce;
use super::id::{GroupTag, MemberKey};
use super::limits::{
    MAX_PASSWORD_CHARS, MAX_PASSWORD_FAILURES_PER_WINDOW, MAX_PASSWORD_ITERATIONS, MIN_PASSWORD_CHARS,
    MIN_PASSWORD_ITERATIONS, PASSWORD_CHALLENGE_WINDOW, PASSWORD_SALT_LEN,
};
use super::membership::{GroupRoot, MembershipCertificate, Role};
use super::time::PeerTime;

/// Domain separation of the security properties' root signature.
const PROPERTIES_CONTEXT: &[u8] = b"peerdrt-group-security-properties-v1";
/// Domain separation of the challenge derivation.
const CHALLENGE_CONTEXT: &[u8] = b"peerdrt-group-password-challenge-v1";
/// Domain separation of the proof transcript.
const PROOF_CONTEXT: &[u8] = b"peerdrt-group-password-proof-v1";

/// A verifier's salt.
pub type Salt = [u8; PASSWORD_SALT_LEN];

/// Length of encoded [`SecurityProperties`].
pub const SECURITY_PROPERTIES_LEN: usize = 32 + 1 + PASSWORD_SALT_LEN + 4 + 32 + 64;

/// Length of an encoded [`PasswordProof`].
pub const PASSWORD_PROOF_LEN: usize = 32 + 16 + 16 + 64 + 64;

/// Why a password, a verifier or a proof was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordError {
    /// Empty, or longer than [`MAX_PASSWORD_CHARS`] (PEER_E_PASSWORD_DOES_NOT_MEET_POLICY).
    Policy,
    /// Iterations outside [`MIN_PASSWORD_ITERATIONS`]..=[`MAX_PASSWORD_ITERATIONS`].
    Iterations,
    /// Not well-formed.
    Malformed,
    /// Security properties of another group.
    OtherGroup,
    /// Security properties not signed by the group root (altered or forged).
    NotSignedByRoot,
    /// The proof answers no challenge of the current or previous window.
    StaleChallenge,
    /// The proof was not made with the password's key: a wrong password.
    WrongPassword,
    /// The member key's signature is missing or wrong.
    BadMemberSignature,
    /// Too many wrong proofs this window; refused unchecked.
    TooManyFailures,
}

/// Checks a password against the group's policy: [`MIN_PASSWORD_CHARS`] to
/// [`MAX_PASSWORD_CHARS`] characters.
pub fn check_policy(password: &str) -> Result<(), PasswordError> {
    let chars = password.chars().count();
    if (MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&chars) {
        Ok(())
    } else {
        Err(PasswordError::Policy)
    }
}

/// The password key's seed: PBKDF2-HMAC-SHA256 of the password (UTF-8) with `salt` and
/// `iterations`. Slow on purpose; a host runs it in user mode, never on the datagram path.
pub fn derive_seed(password: &str, salt: &Salt, iterations: u32) -> Result<[u8; 32], PasswordError> {
    check_policy(password)?;
    if !(MIN_PASSWORD_ITERATIONS..=MAX_PASSWORD_ITERATIONS).contains(&iterations) {
        return Err(PasswordError::Iterations);
    }
    let mut seed = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), salt, iterations, &mut seed);
    Ok(seed)
}

/// The verifier (public key) of a password key seed.
pub fn verifier_of(seed: &[u8; 32]) -> MemberKey {
    SigningKey::from_bytes(seed).verifying_key().to_bytes()
}

/// The group's Security Properties record: how password joiners are verified and what role they
/// get, signed by the group root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecurityProperties {
    /// The group root's public key.
    pub group_root: MemberKey,
    /// The role a password joiner's certificate carries (PEER_GROUP_PROPERTIES.groupPasswordRole).
    pub role: Role,
    /// The verifier's salt.
    pub salt: Salt,
    /// PBKDF2 iterations.
    pub iterations: u32,
    /// The public key of the password's key.
    pub verifier: MemberKey,
    /// The root's signature.
    pub signature: [u8; 64],
}

impl SecurityProperties {
    /// Security properties for the password whose key seed is `seed`, signed by `root`.
    pub fn issue(root: &GroupRoot, role: Role, salt: Salt, iterations: u32, seed: &[u8; 32]) -> Self {
        let mut properties = Self {
            group_root: root.public_key(),
            role,
            salt,
            iterations,
            verifier: verifier_of(seed),
            signature: [0; 64],
        };
        properties.signature = root.sign(&properties.signed_bytes());
        properties
    }

    fn body(&self) -> [u8; SECURITY_PROPERTIES_LEN - 64] {
        let mut out = [0u8; SECURITY_PROPERTIES_LEN - 64];
        out[..32].copy_from_slice(&self.group_root);
        out[32] = self.role.to_byte();
        out[33..49].copy_from_slice(&self.salt);
        out[49..53].copy_from_slice(&self.iterations.to_be_bytes());
        out[53..85].copy_from_slice(&self.verifier);
        out
    }

    fn signed_bytes(&self) -> [u8; PROPERTIES_CONTEXT.len() + SECURITY_PROPERTIES_LEN - 64] {
        let mut out = [0u8; PROPERTIES_CONTEXT.len() + SECURITY_PROPERTIES_LEN - 64];
        out[..PROPERTIES_CONTEXT.len()].copy_from_slice(PROPERTIES_CONTEXT);
        out[PROPERTIES_CONTEXT.len()..].copy_from_slice(&self.body());
        out
    }

    /// The wire form.
    pub fn to_bytes(&self) -> [u8; SECURITY_PROPERTIES_LEN] {
        let mut out = [0u8; SECURITY_PROPERTIES_LEN];
        out[..SECURITY_PROPERTIES_LEN - 64].copy_from_slice(&self.body());
        out[SECURITY_PROPERTIES_LEN - 64..].copy_from_slice(&self.signature);
        out
    }

    /// Parses the wire form (the signature is checked by [`Self::check`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PasswordError> {
        let bytes: &[u8; SECURITY_PROPERTIES_LEN] = bytes.try_into().map_err(|_| PasswordError::Malformed)?;
        let mut group_root = [0u8; 32];
        let mut salt = [0u8; PASSWORD_SALT_LEN];
        let mut iterations = [0u8; 4];
        let mut verifier = [0u8; 32];
        let mut signature = [0u8; 64];
        group_root.copy_from_slice(&bytes[..32]);
        let role = Role::from_byte(bytes[32]).ok_or(PasswordError::Malformed)?;
        salt.copy_from_slice(&bytes[33..49]);
        iterations.copy_from_slice(&bytes[49..53]);
        verifier.copy_from_slice(&bytes[53..85]);
        signature.copy_from_slice(&bytes[85..]);
        let iterations = u32::from_be_bytes(iterations);
        if !(MIN_PASSWORD_ITERATIONS..=MAX_PASSWORD_ITERATIONS).contains(&iterations) {
            return Err(PasswordError::Iterations);
        }
        Ok(Self { group_root, role, salt, iterations, verifier, signature })
    }

    /// Checks that the group rooted at `root` issued these properties.
    pub fn check(&self, root: &MemberKey) -> Result<(), PasswordError> {
        if self.group_root != *root {
            return Err(PasswordError::OtherGroup);
        }
        let key = VerifyingKey::from_bytes(root).map_err(|_| PasswordError::Malformed)?;
        key.verify(&self.signed_bytes(), &Signature::from_bytes(&self.signature))
            .map_err(|_| PasswordError::NotSignedByRoot)
    }
}

/// The bytes both of a joiner's signatures cover.
fn transcript(
    tag: GroupTag,
    member: &MemberKey,
    nonce: &Nonce,
    challenge: &Nonce,
) -> [u8; PROOF_CONTEXT.len() + 8 + 32 + 16 + 16] {
    let mut out = [0u8; PROOF_CONTEXT.len() + 8 + 32 + 16 + 16];
    let mut at = 0;
    for part in [PROOF_CONTEXT, &tag.0[..], &member[..], &nonce[..], &challenge[..]] {
        out[at..at + part.len()].copy_from_slice(part);
        at += part.len();
    }
    out
}

/// A joiner's answer to a challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordProof {
    /// The joiner's member key (what the certificate will name).
    pub member: MemberKey,
    /// The joiner's nonce (from its PASSWORD_HELLO).
    pub nonce: Nonce,
    /// The challenge answered.
    pub challenge: Nonce,
    /// The password key's signature over the transcript.
    pub password_signature: [u8; 64],
    /// The member key's signature over the transcript.
    pub member_signature: [u8; 64],
}

impl PasswordProof {
    /// Answers `challenge` with the password key `password` and the member key `member`.
    pub fn answer(
        password: &SigningKey,
        member: &SigningKey,
        tag: GroupTag,
        nonce: Nonce,
        challenge: Nonce,
    ) -> Self {
        let member_key = member.verifying_key().to_bytes();
        let signed = transcript(tag, &member_key, &nonce, &challenge);
        Self {
            member: member_key,
            nonce,
            challenge,
            password_signature: password.sign(&signed).to_bytes(),
            member_signature: member.sign(&signed).to_bytes(),
        }
    }

    /// The wire form.
    pub fn to_bytes(&self) -> [u8; PASSWORD_PROOF_LEN] {
        let mut out = [0u8; PASSWORD_PROOF_LEN];
        out[..32].copy_from_slice(&self.member);
        out[32..48].copy_from_slice(&self.nonce);
        out[48..64].copy_from_slice(&self.challenge);
        out[64..128].copy_from_slice(&self.password_signature);
        out[128..].copy_from_slice(&self.member_signature);
        out
    }

    /// Parses the wire form.
    pub fn from_bytes(bytes: &[u8; PASSWORD_PROOF_LEN]) -> Self {
        let mut proof = Self {
            member: [0; 32],
            nonce: [0; 16],
            challenge: [0; 16],
            password_signature: [0; 64],
            member_signature: [0; 64],
        };
        proof.member.copy_from_slice(&bytes[..32]);
        proof.nonce.copy_from_slice(&bytes[32..48]);
        proof.challenge.copy_from_slice(&bytes[48..64]);
        proof.password_signature.copy_from_slice(&bytes[64..128]);
        proof.member_signature.copy_from_slice(&bytes[128..]);
        proof
    }
}

/// The granting side: held by the member that holds the group root, when the group allows
/// password authentication.
#[derive(Debug, Clone)]
pub struct PasswordGrantor {
    root: GroupRoot,
    verifier: MemberKey,
    role: Role,
    lifetime_seconds: u32,
    /// (window number, wrong proofs in it).
    failures: (u64, u32),
}

impl PasswordGrantor {
    /// Grants `role` for `lifetime_seconds` to whoever proves the password whose verifier is
    /// `verifier`.
    pub fn new(root: GroupRoot, verifier: MemberKey, role: Role, lifetime_seconds: u32) -> Self {
        Self { root, verifier, role, lifetime_seconds, failures: (0, 0) }
    }

    /// The challenge of `window` for `member`'s `nonce`.
    fn challenge_in(&self, member: &MemberKey, nonce: &Nonce, window: u64) -> Nonce {
        let mut hasher = Sha256::new();
        hasher.update(CHALLENGE_CONTEXT);
        hasher.update(self.root.secret());
        hasher.update(member);
        hasher.update(nonce);
        hasher.update(window.to_be_bytes());
        let mut out = [0u8; 16];
        out.copy_from_slice(&hasher.finalize()[..16]);
        out
    }

    /// The challenge for `member`'s `nonce` at `now`.
    pub fn challenge(&self, member: &MemberKey, nonce: &Nonce, now: PeerTime) -> Nonce {
        self.challenge_in(member, nonce, now.0 / PASSWORD_CHALLENGE_WINDOW)
    }

    /// Checks `proof` at `now` and, if it holds, issues the joiner's certificate.
    pub fn grant(
        &mut self,
        tag: GroupTag,
        proof: &PasswordProof,
        now: PeerTime,
    ) -> Result<MembershipCertificate, PasswordError> {
        let window = now.0 / PASSWORD_CHALLENGE_WINDOW;
        if self.failures.0 != window {
            self.failures = (window, 0);
        }
        if self.failures.1 >= MAX_PASSWORD_FAILURES_PER_WINDOW {
            return Err(PasswordError::TooManyFailures);
        }
        let current = self.challenge_in(&proof.member, &proof.nonce, window);
        let previous = self.challenge_in(&proof.member, &proof.nonce, window.wrapping_sub(1));
        if proof.challenge != current && proof.challenge != previous {
            return Err(PasswordError::StaleChallenge);
        }
        let signed = transcript(tag, &proof.member, &proof.nonce, &proof.challenge);
        let member =
            VerifyingKey::from_bytes(&proof.member).map_err(|_| PasswordError::BadMemberSignature)?;
        member
            .verify(&signed, &Signature::from_bytes(&proof.member_signature))
            .map_err(|_| PasswordError::BadMemberSignature)?;
        let verifier = VerifyingKey::from_bytes(&self.verifier).map_err(|_| PasswordError::Malformed)?;
        if verifier.verify(&signed, &Signature::from_bytes(&proof.password_signature)).is_err() {
            self.failures.1 += 1;
            return Err(PasswordError::WrongPassword);
        }
        let until = now.plus_seconds(u64::from(self.lifetime_seconds));
        Ok(self.root.invite(&proof.member, self.role, now, until))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: PeerTime = PeerTime(133_000_000_000_000_000);
    const TAG: GroupTag = GroupTag([5; 8]);
    const SALT: Salt = [3; PASSWORD_SALT_LEN];

    fn setup(password: &str) -> (GroupRoot, SecurityProperties, PasswordGrantor) {
        let root = GroupRoot::from_secret(&[1; 32]);
        let seed = derive_seed(password, &SALT, MIN_PASSWORD_ITERATIONS).unwrap();
        let properties = SecurityProperties::issue(&root, Role::Member, SALT, MIN_PASSWORD_ITERATIONS, &seed);
        let grantor = PasswordGrantor::new(root.clone(), properties.verifier, Role::Member, 3600);
        (root, properties, grantor)
    }

    fn prove(password: &str, properties: &SecurityProperties, challenge: Nonce) -> PasswordProof {
        let seed = derive_seed(password, &properties.salt, properties.iterations).unwrap();
        let member = SigningKey::from_bytes(&[9; 32]);
        PasswordProof::answer(&SigningKey::from_bytes(&seed), &member, TAG, [4; 16], challenge)
    }

    #[test]
    fn the_password_policy_is_one_to_max_characters() {
        assert_eq!(check_policy(""), Err(PasswordError::Policy));
        assert_eq!(check_policy("x"), Ok(()));
        let at_limit: alloc::string::String = core::iter::repeat_n('é', MAX_PASSWORD_CHARS).collect();
        assert_eq!(check_policy(&at_limit), Ok(()));
        let past: alloc::string::String = core::iter::repeat_n('é', MAX_PASSWORD_CHARS + 1).collect();
        assert_eq!(check_policy(&past), Err(PasswordError::Policy));
        assert_eq!(derive_seed("", &SALT, MIN_PASSWORD_ITERATIONS), Err(PasswordError::Policy));
    }

    #[test]
    fn iterations_are_bounded_at_both_ends() {
        assert_eq!(derive_seed("pw", &SALT, MIN_PASSWORD_ITERATIONS - 1), Err(PasswordError::Iterations));
        assert!(derive_seed("pw", &SALT, MIN_PASSWORD_ITERATIONS).is_ok());
        assert_eq!(derive_seed("pw", &SALT, MAX_PASSWORD_ITERATIONS + 1), Err(PasswordError::Iterations));
        let (_, properties, _) = setup("pw");
        let mut bytes = properties.to_bytes();
        bytes[49..53].copy_from_slice(&MAX_PASSWORD_ITERATIONS.to_be_bytes());
        assert!(SecurityProperties::from_bytes(&bytes).is_ok());
        bytes[49..53].copy_from_slice(&(MAX_PASSWORD_ITERATIONS + 1).to_be_bytes());
        assert_eq!(SecurityProperties::from_bytes(&bytes), Err(PasswordError::Iterations));
    }

    #[test]
    fn the_verifier_is_salted_and_never_the_password() {
        let a = derive_seed("pw", &SALT, MIN_PASSWORD_ITERATIONS).unwrap();
        let b = derive_seed("pw", &[4; PASSWORD_SALT_LEN], MIN_PASSWORD_ITERATIONS).unwrap();
        assert_ne!(a, b, "another salt, another key");
        let (_, properties, _) = setup("pw");
        let bytes = properties.to_bytes();
        assert!(!bytes.windows(2).any(|w| w == b"pw"), "the password is not in the record");
        assert_eq!(SecurityProperties::from_bytes(&bytes), Ok(properties));
    }

    #[test]
    fn altered_or_foreign_security_properties_are_refused() {
        let (root, properties, _) = setup("pw");
        assert_eq!(properties.check(&root.public_key()), Ok(()));
        let mut promoted = properties;
        promoted.role = Role::Administrator;
        assert_eq!(promoted.check(&root.public_key()), Err(PasswordError::NotSignedByRoot));
        let mut swapped = properties;
        swapped.verifier = verifier_of(&[8; 32]);
        assert_eq!(swapped.check(&root.public_key()), Err(PasswordError::NotSignedByRoot));
        assert_eq!(properties.check(&[2; 32]), Err(PasswordError::OtherGroup));
        assert_eq!(
            SecurityProperties::from_bytes(&[0; SECURITY_PROPERTIES_LEN - 1]),
            Err(PasswordError::Malformed)
        );
    }

    #[test]
    fn the_right_password_earns_a_root_signed_certificate_with_the_password_role() {
        let (root, properties, mut grantor) = setup("correct horse");
        let member = SigningKey::from_bytes(&[9; 32]).verifying_key().to_bytes();
        let challenge = grantor.challenge(&member, &[4; 16], NOW);
        let proof = prove("correct horse", &properties, challenge);
        let certificate = grantor.grant(TAG, &proof, NOW).unwrap();
        assert_eq!(certificate.member, member);
        assert_eq!(certificate.role, Role::Member);
        let root_key = VerifyingKey::from_bytes(&root.public_key()).unwrap();
        assert_eq!(certificate.check(&root_key, NOW), Ok(()));
        assert_eq!(PasswordProof::from_bytes(&proof.to_bytes()), proof);
    }

    #[test]
    fn a_wrong_password_is_refused_and_failures_are_bounded_per_window() {
        let (_, properties, mut grantor) = setup("right");
        let member = SigningKey::from_bytes(&[9; 32]).verifying_key().to_bytes();
        let challenge = grantor.challenge(&member, &[4; 16], NOW);
        let wrong = prove("wrong", &properties, challenge);
        for _ in 0..MAX_PASSWORD_FAILURES_PER_WINDOW {
            assert_eq!(grantor.grant(TAG, &wrong, NOW), Err(PasswordError::WrongPassword));
        }
        let right = prove("right", &properties, challenge);
        assert_eq!(
            grantor.grant(TAG, &right, NOW),
            Err(PasswordError::TooManyFailures),
            "one past the limit"
        );
        let later = NOW.plus_ticks(PASSWORD_CHALLENGE_WINDOW);
        assert!(grantor.grant(TAG, &right, later).is_ok(), "the next window checks again");
    }

    #[test]
    fn a_proof_is_bound_to_its_challenge_window_member_and_group() {
        let (_, properties, mut grantor) = setup("pw");
        let member = SigningKey::from_bytes(&[9; 32]).verifying_key().to_bytes();
        let challenge = grantor.challenge(&member, &[4; 16], NOW);
        let proof = prove("pw", &properties, challenge);
        let next = NOW.plus_ticks(PASSWORD_CHALLENGE_WINDOW);
        assert!(grantor.grant(TAG, &proof, next).is_ok(), "the previous window's challenge still holds");
        let stale = NOW.plus_ticks(2 * PASSWORD_CHALLENGE_WINDOW);
        assert_eq!(grantor.grant(TAG, &proof, stale), Err(PasswordError::StaleChallenge));
        assert_eq!(grantor.grant(GroupTag([6; 8]), &proof, NOW), Err(PasswordError::BadMemberSignature));
        let mut other_member = proof;
        other_member.member = SigningKey::from_bytes(&[10; 32]).verifying_key().to_bytes();
        assert_eq!(grantor.grant(TAG, &other_member, NOW), Err(PasswordError::StaleChallenge));
        let made_up = prove("pw", &properties, [0; 16]);
        assert_eq!(grantor.grant(TAG, &made_up, NOW), Err(PasswordError::StaleChallenge));
    }
}
