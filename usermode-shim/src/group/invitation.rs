//! The invitation string of PeerGroupCreateInvitation / PeerGroupJoin.
//!
//! Not Windows' invitation XML (nothing here interoperates with Windows grouping): a JSON
//! object carrying what a joiner needs — the group's peer name and friendly name, the creator's
//! identity name, the membership certificate the root signed for the invitee, and the address
//! hints (`addr:port`) of the inviting member's group socket. The certificate is what grants
//! membership; every other field is a hint that cannot grant anything.

use peerdrt_abi::group::CERTIFICATE_LEN;
use peerdrt_core::group::password::SECURITY_PROPERTIES_LEN;
use serde::{Deserialize, Serialize};

use super::membership_store::{MAX_HINTS, hex, unhex};

/// Longest invitation string accepted (UTF-16 units).
pub const MAX_INVITATION_UNITS: usize = 8 * 1024;
/// The format's version.
pub const INVITATION_VERSION: u32 = 1;

/// An invitation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    /// The group's peer name.
    pub group_peer_name: String,
    /// The group's friendly name.
    pub friendly_name: String,
    /// The creator's identity name.
    pub creator: String,
    /// The invitee's membership certificate.
    pub certificate: [u8; CERTIFICATE_LEN],
    /// Group sockets of the inviting member (≤ [`MAX_HINTS`]).
    pub hints: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct Text {
    version: u32,
    group: String,
    friendly_name: String,
    creator: String,
    certificate: String,
    hints: Vec<String>,
}

/// Why an invitation string was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvitationError {
    /// Longer than [`MAX_INVITATION_UNITS`].
    TooLong,
    /// Not the format, another version, a bad certificate, or too many hints.
    Malformed,
}

impl Invitation {
    /// The string form.
    pub fn encode(&self) -> String {
        let text = Text {
            version: INVITATION_VERSION,
            group: self.group_peer_name.clone(),
            friendly_name: self.friendly_name.clone(),
            creator: self.creator.clone(),
            certificate: hex(&self.certificate),
            hints: self.hints.iter().take(MAX_HINTS).cloned().collect(),
        };
        serde_json::to_string(&text).unwrap_or_default()
    }

    /// Parses the string form.
    pub fn decode(s: &str) -> Result<Self, InvitationError> {
        if s.encode_utf16().count() > MAX_INVITATION_UNITS {
            return Err(InvitationError::TooLong);
        }
        let t: Text = serde_json::from_str(s).map_err(|_| InvitationError::Malformed)?;
        if t.version != INVITATION_VERSION || t.hints.len() > MAX_HINTS {
            return Err(InvitationError::Malformed);
        }
        let certificate = unhex(&t.certificate).ok_or(InvitationError::Malformed)?;
        Ok(Self {
            group_peer_name: t.group,
            friendly_name: t.friendly_name,
            creator: t.creator,
            certificate,
            hints: t.hints,
        })
    }
}

/// The format tag of a password invitation.
const PASSWORD_KIND: &str = "password";

/// A password invitation (PeerGroupCreatePasswordInvitation): names no invitee and grants
/// nothing by itself; it carries the group's root-signed security properties (the salted
/// password verifier, never the password), which tell a joiner how to derive the password's key
/// and which root must grant its certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordInvitation {
    /// The group's peer name.
    pub group_peer_name: String,
    /// The group's friendly name.
    pub friendly_name: String,
    /// The creator's identity name.
    pub creator: String,
    /// The group's security properties.
    pub security_properties: [u8; SECURITY_PROPERTIES_LEN],
    /// Group sockets of the inviting member (≤ [`MAX_HINTS`]).
    pub hints: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct PasswordText {
    version: u32,
    kind: String,
    group: String,
    friendly_name: String,
    creator: String,
    security_properties: String,
    hints: Vec<String>,
}

impl PasswordInvitation {
    /// The string form.
    pub fn encode(&self) -> String {
        let text = PasswordText {
            version: INVITATION_VERSION,
            kind: PASSWORD_KIND.into(),
            group: self.group_peer_name.clone(),
            friendly_name: self.friendly_name.clone(),
            creator: self.creator.clone(),
            security_properties: hex(&self.security_properties),
            hints: self.hints.iter().take(MAX_HINTS).cloned().collect(),
        };
        serde_json::to_string(&text).unwrap_or_default()
    }

    /// Parses the string form (the properties' signature is checked by the joiner).
    pub fn decode(s: &str) -> Result<Self, InvitationError> {
        if s.encode_utf16().count() > MAX_INVITATION_UNITS {
            return Err(InvitationError::TooLong);
        }
        let t: PasswordText = serde_json::from_str(s).map_err(|_| InvitationError::Malformed)?;
        if t.version != INVITATION_VERSION || t.kind != PASSWORD_KIND || t.hints.len() > MAX_HINTS {
            return Err(InvitationError::Malformed);
        }
        let security_properties = unhex(&t.security_properties).ok_or(InvitationError::Malformed)?;
        Ok(Self {
            group_peer_name: t.group,
            friendly_name: t.friendly_name,
            creator: t.creator,
            security_properties,
            hints: t.hints,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invitation(hints: usize) -> Invitation {
        Invitation {
            group_peer_name: "ab.chat".into(),
            friendly_name: "Chat".into(),
            creator: "cd.me".into(),
            certificate: [9; CERTIFICATE_LEN],
            hints: (0..hints).map(|i| format!("127.0.0.1:{}", 1000 + i)).collect(),
        }
    }

    #[test]
    fn an_invitation_round_trips() {
        let i = invitation(MAX_HINTS);
        assert_eq!(Invitation::decode(&i.encode()), Ok(i));
    }

    #[test]
    fn hints_are_limited_at_and_past_the_edge() {
        let mut text: serde_json::Value = serde_json::from_str(&invitation(MAX_HINTS).encode()).unwrap();
        text["hints"].as_array_mut().unwrap().push("127.0.0.1:1".into());
        assert_eq!(Invitation::decode(&text.to_string()), Err(InvitationError::Malformed));
    }

    #[test]
    fn malformed_and_oversized_invitations_are_refused() {
        assert_eq!(Invitation::decode("not json"), Err(InvitationError::Malformed));
        let mut short = invitation(0).encode();
        short = short.replace(&"09".repeat(CERTIFICATE_LEN), "09");
        assert_eq!(Invitation::decode(&short), Err(InvitationError::Malformed));
        let other_version = invitation(0).encode().replace("\"version\":1", "\"version\":2");
        assert_eq!(Invitation::decode(&other_version), Err(InvitationError::Malformed));
        let mut long = invitation(0);
        long.friendly_name = "x".repeat(MAX_INVITATION_UNITS);
        assert_eq!(Invitation::decode(&long.encode()), Err(InvitationError::TooLong));
        let mut edge = invitation(0);
        let base = edge.encode().encode_utf16().count();
        edge.friendly_name.push_str(&"x".repeat(MAX_INVITATION_UNITS - base));
        assert_eq!(edge.encode().encode_utf16().count(), MAX_INVITATION_UNITS);
        assert_eq!(Invitation::decode(&edge.encode()), Ok(edge));
    }

    fn password_invitation() -> PasswordInvitation {
        PasswordInvitation {
            group_peer_name: "ab.chat".into(),
            friendly_name: "Chat".into(),
            creator: "cd.me".into(),
            security_properties: [7; SECURITY_PROPERTIES_LEN],
            hints: vec!["127.0.0.1:1000".into()],
        }
    }

    #[test]
    fn a_password_invitation_round_trips_and_is_not_a_certificate_invitation() {
        let p = password_invitation();
        assert_eq!(PasswordInvitation::decode(&p.encode()), Ok(p.clone()));
        assert_eq!(Invitation::decode(&p.encode()), Err(InvitationError::Malformed));
        assert_eq!(PasswordInvitation::decode(&invitation(0).encode()), Err(InvitationError::Malformed));
    }

    #[test]
    fn password_invitations_are_bounded_like_the_others() {
        let mut long = password_invitation();
        long.friendly_name = "x".repeat(MAX_INVITATION_UNITS);
        assert_eq!(PasswordInvitation::decode(&long.encode()), Err(InvitationError::TooLong));
        let mut text: serde_json::Value = serde_json::from_str(&password_invitation().encode()).unwrap();
        let hints: Vec<serde_json::Value> =
            (0..=MAX_HINTS).map(|i| format!("127.0.0.1:{i}").into()).collect();
        text["hints"] = hints[..MAX_HINTS].to_vec().into();
        assert!(PasswordInvitation::decode(&text.to_string()).is_ok());
        text["hints"] = hints.into();
        assert_eq!(PasswordInvitation::decode(&text.to_string()), Err(InvitationError::Malformed));
    }
}
