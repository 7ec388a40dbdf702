//! Membership: the group root key and the certificates it signs.
//!
//! The group's creator holds the root key ([MS-PPSEC]'s Group Root Certificate); it signs a
//! [`MembershipCertificate`] (the GMC) for every member, naming the member's key, its role and a
//! validity period in peer time. An invitation is such a certificate handed to the invitee. Every
//! record carries its author's certificate, so any member can check any record with nothing but
//! the root's public key.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};

use super::id::{GroupTag, Guid, MemberKey};
use super::time::PeerTime;

/// Domain separation for certificate signatures.
const CERTIFICATE_CONTEXT: &[u8] = b"peerdrt-group-gmc-v1";

/// PEER_GROUP_ROLE_ADMIN {04387127-aa56-450a-8ce5-4f565c6790f4}.
pub const ROLE_ADMIN_GUID: Guid =
    [0x04, 0x38, 0x71, 0x27, 0xaa, 0x56, 0x45, 0x0a, 0x8c, 0xe5, 0x4f, 0x56, 0x5c, 0x67, 0x90, 0xf4];
/// PEER_GROUP_ROLE_MEMBER {f12dc4c7-0857-4ca0-93fc-b1bb19a3d8c2}.
pub const ROLE_MEMBER_GUID: Guid =
    [0xf1, 0x2d, 0xc4, 0xc7, 0x08, 0x57, 0x4c, 0xa0, 0x93, 0xfc, 0xb1, 0xbb, 0x19, 0xa3, 0xd8, 0xc2];

/// What a member may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Publishes records and changes or deletes its own.
    Member,
    /// Also changes or deletes any member's records.
    Administrator,
}

impl Role {
    /// The role's wire byte.
    pub const fn to_byte(self) -> u8 {
        match self {
            Role::Member => 1,
            Role::Administrator => 2,
        }
    }

    /// The role of a wire byte.
    pub const fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            1 => Some(Role::Member),
            2 => Some(Role::Administrator),
            _ => None,
        }
    }

    /// The PEER_ROLE_ID GUID of the role.
    pub const fn guid(self) -> Guid {
        match self {
            Role::Member => ROLE_MEMBER_GUID,
            Role::Administrator => ROLE_ADMIN_GUID,
        }
    }
}

/// Length of an encoded [`MembershipCertificate`].
pub const CERTIFICATE_LEN: usize = 32 + 32 + 1 + 8 + 8 + 64;

/// Why a certificate does not make its holder a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MembershipError {
    /// Issued for another group.
    OtherGroup,
    /// Not signed by the group root (a non-member or a forgery).
    NotSignedByRoot,
    /// Outside its validity period.
    OutsideValidity,
    /// Not a well-formed certificate.
    Malformed,
}

/// A Group Membership Certificate: the root's signature over (root, member, role, validity).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MembershipCertificate {
    /// The group root's public key.
    pub group_root: MemberKey,
    /// The member's public key.
    pub member: MemberKey,
    /// The member's role.
    pub role: Role,
    /// First instant the certificate is valid.
    pub valid_from: PeerTime,
    /// First instant it is no longer valid.
    pub valid_until: PeerTime,
    /// The root's signature.
    pub signature: [u8; 64],
}

impl MembershipCertificate {
    fn signed_bytes(&self) -> [u8; CERTIFICATE_CONTEXT.len() + CERTIFICATE_LEN - 64] {
        let mut out = [0u8; CERTIFICATE_CONTEXT.len() + CERTIFICATE_LEN - 64];
        let body = self.body();
        out[..CERTIFICATE_CONTEXT.len()].copy_from_slice(CERTIFICATE_CONTEXT);
        out[CERTIFICATE_CONTEXT.len()..].copy_from_slice(&body);
        out
    }

    fn body(&self) -> [u8; CERTIFICATE_LEN - 64] {
        let mut out = [0u8; CERTIFICATE_LEN - 64];
        out[..32].copy_from_slice(&self.group_root);
        out[32..64].copy_from_slice(&self.member);
        out[64] = self.role.to_byte();
        out[65..73].copy_from_slice(&self.valid_from.0.to_be_bytes());
        out[73..81].copy_from_slice(&self.valid_until.0.to_be_bytes());
        out
    }

    /// The wire form.
    pub fn to_bytes(&self) -> [u8; CERTIFICATE_LEN] {
        let mut out = [0u8; CERTIFICATE_LEN];
        out[..CERTIFICATE_LEN - 64].copy_from_slice(&self.body());
        out[CERTIFICATE_LEN - 64..].copy_from_slice(&self.signature);
        out
    }

    /// Parses the wire form (the signature is not checked here: see [`Self::check`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, MembershipError> {
        let bytes: &[u8; CERTIFICATE_LEN] = bytes.try_into().map_err(|_| MembershipError::Malformed)?;
        let mut group_root = [0u8; 32];
        let mut member = [0u8; 32];
        let mut signature = [0u8; 64];
        group_root.copy_from_slice(&bytes[..32]);
        member.copy_from_slice(&bytes[32..64]);
        let role = Role::from_byte(bytes[64]).ok_or(MembershipError::Malformed)?;
        let time = |at: usize| {
            let mut raw = [0u8; 8];
            raw.copy_from_slice(&bytes[at..at + 8]);
            PeerTime(u64::from_be_bytes(raw))
        };
        signature.copy_from_slice(&bytes[81..]);
        Ok(Self { group_root, member, role, valid_from: time(65), valid_until: time(73), signature })
    }

    /// Checks that the certificate makes its holder a member of the group rooted at `root`
    /// at `at`.
    pub fn check(&self, root: &VerifyingKey, at: PeerTime) -> Result<(), MembershipError> {
        if self.group_root != root.to_bytes() {
            return Err(MembershipError::OtherGroup);
        }
        root.verify(&self.signed_bytes(), &Signature::from_bytes(&self.signature))
            .map_err(|_| MembershipError::NotSignedByRoot)?;
        if at < self.valid_from || at >= self.valid_until {
            return Err(MembershipError::OutsideValidity);
        }
        Ok(())
    }
}

/// The public key of a member whose secret key is `secret`.
pub fn member_key(secret: &[u8; 32]) -> MemberKey {
    SigningKey::from_bytes(secret).verifying_key().to_bytes()
}

/// The group root: the creator's key that signs invitations.
#[derive(Clone)]
pub struct GroupRoot {
    key: SigningKey,
}

impl core::fmt::Debug for GroupRoot {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("GroupRoot").field("public", &self.public_key()).finish_non_exhaustive()
    }
}

impl GroupRoot {
    /// The root of a new group, from 32 bytes of secret key material.
    pub fn from_secret(secret: &[u8; 32]) -> Self {
        Self { key: SigningKey::from_bytes(secret) }
    }

    /// The root's public key (the group's identity).
    pub fn public_key(&self) -> MemberKey {
        self.key.verifying_key().to_bytes()
    }

    /// The group's tag on the wire.
    pub fn tag(&self) -> GroupTag {
        GroupTag::of_root(&self.public_key())
    }

    /// The root's signature over `message` (security properties; certificates use
    /// [`Self::invite`]).
    pub(crate) fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message).to_bytes()
    }

    /// The root's secret key bytes (keys the stateless password challenges).
    pub(crate) fn secret(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// Issues a membership certificate (an invitation) for `member`.
    pub fn invite(
        &self,
        member: &MemberKey,
        role: Role,
        valid_from: PeerTime,
        valid_until: PeerTime,
    ) -> MembershipCertificate {
        let mut certificate = MembershipCertificate {
            group_root: self.public_key(),
            member: *member,
            role,
            valid_from,
            valid_until,
            signature: [0; 64],
        };
        certificate.signature = self.key.sign(&certificate.signed_bytes()).to_bytes();
        certificate
    }
}

/// What a member acts with: its signing key and the certificate for it.
#[derive(Clone)]
pub struct Credentials {
    /// The member's private key.
    pub signing_key: SigningKey,
    /// Its certificate from the group root.
    pub certificate: MembershipCertificate,
}

impl core::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Credentials").field("certificate", &self.certificate).finish_non_exhaustive()
    }
}

impl Credentials {
    /// A member's credentials from its secret key and certificate; `None` if the certificate is
    /// for another key.
    pub fn new(secret: &[u8; 32], certificate: MembershipCertificate) -> Option<Self> {
        let signing_key = SigningKey::from_bytes(secret);
        (signing_key.verifying_key().to_bytes() == certificate.member)
            .then_some(Self { signing_key, certificate })
    }

    /// The member's public key.
    pub fn member(&self) -> MemberKey {
        self.certificate.member
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: PeerTime = PeerTime(1_000_000_000);

    fn root() -> GroupRoot {
        GroupRoot::from_secret(&[7; 32])
    }

    #[test]
    fn an_invitation_makes_its_holder_a_member_while_valid() {
        let root = root();
        let member = SigningKey::from_bytes(&[9; 32]).verifying_key().to_bytes();
        let cert = root.invite(&member, Role::Member, NOW, NOW.plus_seconds(60));
        let verifying = VerifyingKey::from_bytes(&root.public_key()).unwrap();
        assert_eq!(cert.check(&verifying, NOW), Ok(()));
        assert_eq!(cert.check(&verifying, NOW.plus_seconds(60)), Err(MembershipError::OutsideValidity));
        assert_eq!(cert.check(&verifying, PeerTime(NOW.0 - 1)), Err(MembershipError::OutsideValidity));
        assert_eq!(MembershipCertificate::from_bytes(&cert.to_bytes()), Ok(cert));
    }

    #[test]
    fn forged_and_foreign_certificates_are_refused() {
        let root = root();
        let verifying = VerifyingKey::from_bytes(&root.public_key()).unwrap();
        let member = [3; 32];
        let mut promoted = root.invite(&member, Role::Member, NOW, NOW.plus_seconds(60));
        promoted.role = Role::Administrator;
        assert_eq!(promoted.check(&verifying, NOW), Err(MembershipError::NotSignedByRoot));

        let stranger = GroupRoot::from_secret(&[8; 32]);
        let foreign = stranger.invite(&member, Role::Member, NOW, NOW.plus_seconds(60));
        assert_eq!(foreign.check(&verifying, NOW), Err(MembershipError::OtherGroup));

        let mut self_signed = foreign;
        self_signed.group_root = root.public_key();
        assert_eq!(self_signed.check(&verifying, NOW), Err(MembershipError::NotSignedByRoot));
    }

    #[test]
    fn credentials_must_match_the_certificate() {
        let root = root();
        let key = SigningKey::from_bytes(&[9; 32]).verifying_key().to_bytes();
        let cert = root.invite(&key, Role::Member, NOW, NOW.plus_seconds(60));
        assert!(Credentials::new(&[9; 32], cert).is_some());
        assert!(Credentials::new(&[10; 32], cert).is_none());
        assert_eq!(
            MembershipCertificate::from_bytes(&[0; CERTIFICATE_LEN - 1]),
            Err(MembershipError::Malformed)
        );
    }
}
