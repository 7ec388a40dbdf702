//! Security providers: how a registration proves its key and how records (CPAs) are sealed
//! and checked.
//!
//! * [`NullProvider`]: no authentication. CPAs still carry the key, the requester's nonce and a
//!   hash of the payload, so an answer is bound to the question it answers.
//! * [`DerivedKeyProvider`]: key = SHA-256 of an Ed25519 public key. A registration carries a
//!   certificate (the public key signed by the provider's root) and the signing key; CPAs are
//!   signed and bound to the requester's nonce. In MEMBERSHIP mode searchers also sign what they
//!   send, with a certificate from the same root.
//!
//! CONFIDENTIALPAYLOAD (encrypted fields and key tokens) is not implemented yet.

use alloc::boxed::Box;
use alloc::vec::Vec;

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

use super::types::DrtError;
use crate::wire::{Key, MembershipProof, Nonce};

/// DRT_SECURITY_MODE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityMode {
    /// DRT_SECURE_RESOLVE: publishers authenticate their keys.
    Resolve,
    /// DRT_SECURE_MEMBERSHIP: searchers authenticate too.
    Membership,
}

/// Length of an encoded [`Certificate`].
pub const CERTIFICATE_LEN: usize = 96;
/// Domain separation for certificate signatures.
const CERT_CONTEXT: &[u8] = b"peerdrt-cert-v1";
/// Domain separation for message signatures in MEMBERSHIP mode.
const PROOF_CONTEXT: &[u8] = b"peerdrt-proof-v1";

/// An Ed25519 public key vouched for by a root key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Certificate {
    /// The holder's public key.
    pub public_key: [u8; 32],
    /// The root's signature over the public key.
    pub root_signature: [u8; 64],
}

impl Certificate {
    /// Issues a certificate for `public_key` signed by `root`.
    pub fn issue(root: &SigningKey, public_key: &VerifyingKey) -> Self {
        let signature = root.sign(&Self::signed_bytes(public_key.as_bytes()));
        Self { public_key: public_key.to_bytes(), root_signature: signature.to_bytes() }
    }

    fn signed_bytes(public_key: &[u8; 32]) -> [u8; 47] {
        let mut bytes = [0u8; 47];
        bytes[..15].copy_from_slice(CERT_CONTEXT);
        bytes[15..].copy_from_slice(public_key);
        bytes
    }

    /// The 96-byte wire form: public key ‖ root signature.
    pub fn to_bytes(&self) -> [u8; CERTIFICATE_LEN] {
        let mut out = [0u8; CERTIFICATE_LEN];
        out[..32].copy_from_slice(&self.public_key);
        out[32..].copy_from_slice(&self.root_signature);
        out
    }

    /// Parses the wire form.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let bytes: &[u8; CERTIFICATE_LEN] = bytes.try_into().ok()?;
        let mut public_key = [0; 32];
        let mut root_signature = [0; 64];
        public_key.copy_from_slice(&bytes[..32]);
        root_signature.copy_from_slice(&bytes[32..]);
        Some(Self { public_key, root_signature })
    }

    /// Whether `root` signed this certificate.
    pub fn is_signed_by(&self, root: &VerifyingKey) -> bool {
        root.verify(&Self::signed_bytes(&self.public_key), &Signature::from_bytes(&self.root_signature))
            .is_ok()
    }

    /// The DRT key derived from the certificate: SHA-256 of the public key.
    pub fn derived_key(&self) -> Key {
        derive_key(&self.public_key)
    }
}

/// `DrtCreateDerivedKey`: SHA-256 of an Ed25519 public key.
pub fn derive_key(public_key: &[u8; 32]) -> Key {
    Sha256::digest(public_key).into()
}

/// A signing key with the certificate that vouches for it.
#[derive(Clone)]
pub struct Identity {
    /// The private key.
    pub signing_key: SigningKey,
    /// Its certificate.
    pub certificate: Certificate,
}

impl core::fmt::Debug for Identity {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Identity").field("certificate", &self.certificate).finish_non_exhaustive()
    }
}

/// What a registration brings to prove its key (the `pvKeyContext` of DrtRegisterKey).
#[derive(Debug, Clone, Default)]
pub enum KeyCredential {
    /// Nothing (Null provider).
    #[default]
    None,
    /// An identity whose derived key is the registered key.
    Identity(Box<Identity>),
}

/// A record checked by [`SecurityProvider::open`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenedRecord {
    /// The record withdraws the registration (DRT_PAYLOAD_REVOKED).
    pub revoked: bool,
}

/// Why a record or a proof was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused;

/// The security provider interface the node uses (DRT_SECURITY_PROVIDER, reduced to what the
/// protocol needs).
pub trait SecurityProvider: Send + core::fmt::Debug {
    /// Checks that `credential` entitles a registration of `key` (DRT_E_INVALID_KEY if not).
    fn check_registration(&self, key: &Key, credential: &KeyCredential) -> Result<(), DrtError>;

    /// Builds the CPA for `key`'s record, bound to `nonce`, appending it to `out`; returns the
    /// credential bytes to send with it.
    fn seal(
        &self,
        key: &Key,
        credential: &KeyCredential,
        payload: &[u8],
        nonce: &Nonce,
        revoked: bool,
        out: &mut Vec<u8>,
    ) -> Vec<u8>;

    /// Checks a CPA received for `key` answering `nonce`, and that `payload` (when the answer
    /// carried one) is the payload the CPA was sealed with.
    fn open(
        &self,
        key: &Key,
        cpa: &[u8],
        credential: Option<&[u8]>,
        payload: Option<&[u8]>,
        nonce: &Nonce,
    ) -> Result<OpenedRecord, Refused>;

    /// The security mode.
    fn mode(&self) -> SecurityMode {
        SecurityMode::Resolve
    }

    /// MEMBERSHIP mode: credential, signature over `signed`, key identifier.
    fn prove(&self, _signed: &[u8]) -> Option<(Vec<u8>, Vec<u8>, Vec<u8>)> {
        None
    }

    /// MEMBERSHIP mode: checks a searcher's proof over `signed`.
    fn verify_proof(&self, _proof: Option<&MembershipProof<'_>>, _signed: &[u8]) -> Result<(), Refused> {
        Ok(())
    }
}

/// CPA layout: version(1) ‖ flags(1) ‖ key(32) ‖ nonce(16) ‖ SHA-256(payload)(32), then for the
/// derived-key provider the signature(64) and the certificate(96).
const CPA_VERSION: u8 = 1;
const CPA_BODY_LEN: usize = 2 + 32 + 16 + 32;
const CPA_FLAG_REVOKED: u8 = 0x01;

fn cpa_body(key: &Key, payload: &[u8], nonce: &Nonce, revoked: bool) -> [u8; CPA_BODY_LEN] {
    let mut body = [0u8; CPA_BODY_LEN];
    body[0] = CPA_VERSION;
    body[1] = if revoked { CPA_FLAG_REVOKED } else { 0 };
    body[2..34].copy_from_slice(key);
    body[34..50].copy_from_slice(nonce);
    body[50..].copy_from_slice(&Sha256::digest(payload));
    body
}

fn check_body(
    body: &[u8],
    key: &Key,
    payload: Option<&[u8]>,
    nonce: &Nonce,
) -> Result<OpenedRecord, Refused> {
    let body: &[u8; CPA_BODY_LEN] = body.try_into().map_err(|_| Refused)?;
    let revoked = body[1] & CPA_FLAG_REVOKED != 0;
    if body[0] != CPA_VERSION || body[2..34] != key[..] || body[34..50] != nonce[..] {
        return Err(Refused);
    }
    // A revocation carries no payload; a record's payload must be the one it was sealed with.
    if let Some(payload) = payload.filter(|_| !revoked)
        && body[50..] != Sha256::digest(payload)[..]
    {
        return Err(Refused);
    }
    Ok(OpenedRecord { revoked })
}

/// DrtCreateNullSecurityProvider: no authentication.
#[derive(Debug, Clone, Copy, Default)]
pub struct NullProvider;

impl SecurityProvider for NullProvider {
    fn check_registration(&self, _key: &Key, _credential: &KeyCredential) -> Result<(), DrtError> {
        Ok(())
    }

    fn seal(
        &self,
        key: &Key,
        _credential: &KeyCredential,
        payload: &[u8],
        nonce: &Nonce,
        revoked: bool,
        out: &mut Vec<u8>,
    ) -> Vec<u8> {
        out.extend_from_slice(&cpa_body(key, payload, nonce, revoked));
        Vec::new()
    }

    fn open(
        &self,
        key: &Key,
        cpa: &[u8],
        _credential: Option<&[u8]>,
        payload: Option<&[u8]>,
        nonce: &Nonce,
    ) -> Result<OpenedRecord, Refused> {
        check_body(cpa, key, payload, nonce)
    }
}

/// DrtCreateDerivedKeySecurityProvider: keys derived from Ed25519 public keys certified by a root.
#[derive(Debug, Clone)]
pub struct DerivedKeyProvider {
    root: VerifyingKey,
    local: Option<Identity>,
    mode: SecurityMode,
}

impl DerivedKeyProvider {
    /// A provider trusting `root`; `local` is this node's own identity (needed in MEMBERSHIP).
    pub fn new(root: VerifyingKey, local: Option<Identity>, mode: SecurityMode) -> Result<Self, DrtError> {
        if let Some(identity) = &local
            && (!identity.certificate.is_signed_by(&root)
                || identity.certificate.public_key != identity.signing_key.verifying_key().to_bytes())
        {
            return Err(DrtError::InvalidKey);
        }
        if mode == SecurityMode::Membership && local.is_none() {
            return Err(DrtError::CapabilityMismatch);
        }
        Ok(Self { root, local, mode })
    }

    /// The identity a credential carries, if it chains to this provider's root.
    fn identity<'c>(&self, credential: &'c KeyCredential) -> Option<&'c Identity> {
        match credential {
            KeyCredential::Identity(identity) if identity.certificate.is_signed_by(&self.root) => {
                Some(identity)
            }
            _ => None,
        }
    }

    fn certificate(&self, bytes: Option<&[u8]>) -> Result<Certificate, Refused> {
        let certificate = bytes.and_then(Certificate::from_bytes).ok_or(Refused)?;
        if certificate.is_signed_by(&self.root) { Ok(certificate) } else { Err(Refused) }
    }
}

impl SecurityProvider for DerivedKeyProvider {
    fn check_registration(&self, key: &Key, credential: &KeyCredential) -> Result<(), DrtError> {
        let identity = self.identity(credential).ok_or(DrtError::InvalidKey)?;
        let matches_key = identity.certificate.derived_key() == *key;
        let owns_key = identity.signing_key.verifying_key().to_bytes() == identity.certificate.public_key;
        if matches_key && owns_key { Ok(()) } else { Err(DrtError::InvalidKey) }
    }

    fn seal(
        &self,
        key: &Key,
        credential: &KeyCredential,
        payload: &[u8],
        nonce: &Nonce,
        revoked: bool,
        out: &mut Vec<u8>,
    ) -> Vec<u8> {
        let body = cpa_body(key, payload, nonce, revoked);
        out.extend_from_slice(&body);
        match self.identity(credential) {
            Some(identity) => {
                out.extend_from_slice(&identity.signing_key.sign(&body).to_bytes());
                out.extend_from_slice(&identity.certificate.to_bytes());
                identity.certificate.to_bytes().to_vec()
            }
            // Registrations are checked on entry, so this only happens to a caller bypassing it;
            // the unsigned CPA is refused by every peer.
            None => Vec::new(),
        }
    }

    fn open(
        &self,
        key: &Key,
        cpa: &[u8],
        credential: Option<&[u8]>,
        payload: Option<&[u8]>,
        nonce: &Nonce,
    ) -> Result<OpenedRecord, Refused> {
        let (body, rest) = cpa.split_at_checked(CPA_BODY_LEN).ok_or(Refused)?;
        let (signature, embedded) = rest.split_at_checked(64).ok_or(Refused)?;
        let certificate = self.certificate(credential.or(Some(embedded)))?;
        if certificate.derived_key() != *key {
            return Err(Refused);
        }
        let signature: &[u8; 64] = signature.try_into().map_err(|_| Refused)?;
        let verifying = VerifyingKey::from_bytes(&certificate.public_key).map_err(|_| Refused)?;
        verifying.verify(body, &Signature::from_bytes(signature)).map_err(|_| Refused)?;
        check_body(body, key, payload, nonce)
    }

    fn mode(&self) -> SecurityMode {
        self.mode
    }

    fn prove(&self, signed: &[u8]) -> Option<(Vec<u8>, Vec<u8>, Vec<u8>)> {
        if self.mode != SecurityMode::Membership {
            return None;
        }
        let identity = self.local.as_ref()?;
        let mut message = Vec::with_capacity(PROOF_CONTEXT.len() + signed.len());
        message.extend_from_slice(PROOF_CONTEXT);
        message.extend_from_slice(signed);
        let signature = identity.signing_key.sign(&message);
        let key_id = identity.certificate.derived_key()[..8].to_vec();
        Some((identity.certificate.to_bytes().to_vec(), signature.to_bytes().to_vec(), key_id))
    }

    fn verify_proof(&self, proof: Option<&MembershipProof<'_>>, signed: &[u8]) -> Result<(), Refused> {
        if self.mode != SecurityMode::Membership {
            return Ok(());
        }
        let proof = proof.ok_or(Refused)?;
        let certificate = self.certificate(Some(proof.credential))?;
        let signature: &[u8; 64] = proof.signature.try_into().map_err(|_| Refused)?;
        let verifying = VerifyingKey::from_bytes(&certificate.public_key).map_err(|_| Refused)?;
        let mut message = Vec::with_capacity(PROOF_CONTEXT.len() + signed.len());
        message.extend_from_slice(PROOF_CONTEXT);
        message.extend_from_slice(signed);
        verifying.verify(&message, &Signature::from_bytes(signature)).map_err(|_| Refused)
    }
}

/// A boxed provider, as a node holds it.
pub type BoxedProvider = Box<dyn SecurityProvider>;
