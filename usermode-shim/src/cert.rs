//! Credentials of the derived-key security provider.
//!
//! The driver's derived-key provider uses Ed25519: a key is SHA-256 of a public key, and a
//! certificate is that public key signed by the provider's root. Windows passes X.509
//! `CERT_CONTEXT`s; the shim accepts `CERT_CONTEXT`s whose `dwCertEncodingType` is
//! [`PEERDRT_CERT_ENCODING`] and whose encoded bytes are one of:
//! * 32 bytes: a root public key;
//! * 64 bytes: a root public key ‖ the root's secret key (a root that can issue);
//! * 128 bytes: a local identity, secret key ‖ 96-byte certificate.
//!
//! `PeerDrtCreateRootCertificate` / `PeerDrtIssueCertificate` (peerdrt.h) make them, as the SDK
//! sample's MakeCert helper does for X.509.

use ed25519_dalek::{SigningKey, VerifyingKey};
use peerdrt_abi::{CERTIFICATE_LEN, SECRET_LEN};
use peerdrt_core::drt::security::{Certificate, derive_key};

use crate::key::Key;

/// `CERT_CONTEXT.dwCertEncodingType` of peerdrt credentials ("PDRT").
pub const PEERDRT_CERT_ENCODING: u32 = 0x5044_5254;

fn random_secret() -> [u8; 32] {
    let mut s = [0u8; 32];
    getrandom::getrandom(&mut s).expect("the operating system's random source failed");
    s
}

/// A root of trust: verifies certificates, and issues them when it holds its secret.
#[derive(Clone, PartialEq, Eq)]
pub struct RootCredential {
    /// The root public key.
    pub public_key: [u8; 32],
    /// The root secret key, if this side can issue.
    pub secret: Option<[u8; 32]>,
}

impl std::fmt::Debug for RootCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RootCredential").field("public_key", &self.public_key).finish_non_exhaustive()
    }
}

impl RootCredential {
    /// A new root key pair.
    pub fn generate() -> Self {
        let secret = random_secret();
        let public_key = SigningKey::from_bytes(&secret).verifying_key().to_bytes();
        Self { public_key, secret: Some(secret) }
    }

    /// A verify-only root.
    pub fn from_public_key(public_key: [u8; 32]) -> Option<Self> {
        VerifyingKey::from_bytes(&public_key).ok()?;
        Some(Self { public_key, secret: None })
    }

    /// Issues a new local identity under this root (`None` for a verify-only root).
    pub fn issue(&self) -> Option<Credential> {
        let root = SigningKey::from_bytes(self.secret.as_ref()?);
        let secret = random_secret();
        let signing = SigningKey::from_bytes(&secret);
        let certificate = Certificate::issue(&root, &signing.verifying_key()).to_bytes();
        Some(Credential { secret, certificate })
    }

    /// Whether `credential` was issued by this root.
    pub fn verifies(&self, credential: &Credential) -> bool {
        let Ok(root) = VerifyingKey::from_bytes(&self.public_key) else { return false };
        let Some(cert) = Certificate::from_bytes(&credential.certificate) else { return false };
        cert.is_signed_by(&root)
            && SigningKey::from_bytes(&credential.secret).verifying_key().to_bytes() == cert.public_key
    }

    /// The encoded form (32 or 64 bytes).
    pub fn encode(&self) -> Vec<u8> {
        let mut v = self.public_key.to_vec();
        if let Some(s) = &self.secret {
            v.extend_from_slice(s);
        }
        v
    }

    /// Parses the encoded form.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        match bytes.len() {
            32 => Self::from_public_key(bytes.try_into().ok()?),
            64 => {
                let public_key: [u8; 32] = bytes[..32].try_into().ok()?;
                let secret: [u8; 32] = bytes[32..].try_into().ok()?;
                (SigningKey::from_bytes(&secret).verifying_key().to_bytes() == public_key)
                    .then_some(Self { public_key, secret: Some(secret) })
            }
            _ => None,
        }
    }
}

/// A local identity: a secret key and the certificate the root issued for it.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    /// The Ed25519 secret key.
    pub secret: [u8; SECRET_LEN],
    /// The certificate (public key ‖ root signature).
    pub certificate: [u8; CERTIFICATE_LEN],
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential").field("key", &self.derived_key()).finish_non_exhaustive()
    }
}

impl Credential {
    /// The key this identity may register: `DrtCreateDerivedKey`.
    pub fn derived_key(&self) -> Key {
        let mut pk = [0u8; 32];
        pk.copy_from_slice(&self.certificate[..32]);
        Key(derive_key(&pk))
    }

    /// The encoded form (128 bytes).
    pub fn encode(&self) -> Vec<u8> {
        let mut v = self.secret.to_vec();
        v.extend_from_slice(&self.certificate);
        v
    }

    /// Parses the encoded form.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != SECRET_LEN + CERTIFICATE_LEN {
            return None;
        }
        Some(Self {
            secret: bytes[..SECRET_LEN].try_into().ok()?,
            certificate: bytes[SECRET_LEN..].try_into().ok()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_issue_verifiable_identities_and_encodings_round_trip() {
        let root = RootCredential::generate();
        let id = root.issue().unwrap();
        assert!(root.verifies(&id));
        assert!(!RootCredential::generate().verifies(&id));
        assert_eq!(RootCredential::decode(&root.encode()), Some(root.clone()));
        let public = RootCredential::decode(&root.encode()[..32]).unwrap();
        assert!(public.issue().is_none());
        assert!(public.verifies(&id));
        assert_eq!(Credential::decode(&id.encode()), Some(id.clone()));
        assert_eq!(id.derived_key(), Key(derive_key(id.certificate[..32].try_into().unwrap())));
        assert!(Credential::decode(&[0u8; 127]).is_none());
        let mut wrong = root.encode();
        wrong[40] ^= 1;
        assert!(RootCredential::decode(&wrong).is_none());
    }
}
