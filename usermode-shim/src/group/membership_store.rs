//! What an identity keeps to reopen a group it created or joined (PeerGroupOpen after
//! PeerGroupClose, or after the application exited): its membership certificate, on the creator
//! the group root's secret, the group's names and the address hints of other members.
//!
//! One JSON file per (group, identity) in the groups directory — `$PEERDRT_GROUP_DIR`, else
//! `groups` beside the identity store — named by the two authorities, so it needs no hashing and
//! cannot collide. Files are written owner-only (0600: the creator's holds the root secret) and
//! synced before the call that wrote them returns. The records themselves are in the node's log.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use peerdrt_abi::group::CERTIFICATE_LEN;
use peerdrt_core::pnrp::{Authority, PeerName};
use serde::{Deserialize, Serialize};

use crate::hresult::{Error, Result};
use crate::pnrp::{IdentityStore, PEER_E_INVALID_PEER_NAME, PEER_E_NOT_FOUND};

/// The environment variable naming the groups directory (shared with `peerdrt group`).
pub const GROUP_DIR_ENV: &str = "PEERDRT_GROUP_DIR";
/// Largest membership file read back (names, hints and hex keys fit well inside).
pub const MAX_MEMBERSHIP_FILE: u64 = 16 * 1024;
/// Most address hints kept per group.
pub const MAX_HINTS: usize = 8;
/// What a failed read or write of the store reports.
const IO_FAILURE: u32 = crate::hresult::E_UNEXPECTED;

/// One identity's membership of one group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    /// The member's identity (`<authority>.<classifier>`).
    pub identity: String,
    /// The group's peer name (`<root authority>.<classifier>`).
    pub group_peer_name: String,
    /// The group's friendly name.
    pub friendly_name: String,
    /// The creator's identity name.
    pub creator: String,
    /// The member's certificate, hex.
    pub certificate: String,
    /// The root's secret, hex: only on the creator.
    pub root: Option<String>,
    /// Member lifetime the group was created with (seconds).
    pub member_lifetime: u32,
    /// Other members' group sockets (`addr:port`), from the invitation.
    pub hints: Vec<String>,
    /// On the creator of a group with password authentication: its security properties
    /// (root-signed password verifier), hex. Never the password.
    #[serde(default)]
    pub security_properties: Option<String>,
    /// A password joiner whose certificate has not been granted yet (never stored: the membership
    /// is written once the certificate arrives).
    #[serde(skip)]
    pub password_pending: bool,
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Bytes of exactly `N` hex-encoded bytes.
pub fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != 2 * N || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; N];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// The peer name of the group rooted at `root_public` with `classifier`: a secured PNRP name
/// whose authority is the hash of the root key, as PNRP computes it for any secured name.
pub fn group_peer_name(root_public: &[u8; 32], classifier: &str) -> Result<String> {
    PeerName::new(Authority::of_key(root_public), classifier)
        .map(|n| n.to_string())
        .map_err(crate::pnrp::identity::name_error)
}

impl Membership {
    /// The certificate's bytes.
    pub fn certificate(&self) -> Result<[u8; CERTIFICATE_LEN]> {
        unhex(&self.certificate).ok_or(Error(IO_FAILURE))
    }

    /// The group root's public key (the certificate's first 32 bytes).
    pub fn root_public(&self) -> Result<[u8; 32]> {
        let c = self.certificate()?;
        let mut out = [0u8; 32];
        out.copy_from_slice(&c[..32]);
        Ok(out)
    }

    /// The classifier of the group's peer name.
    pub fn classifier(&self) -> String {
        self.group_peer_name.split_once('.').map(|(_, c)| c.to_owned()).unwrap_or_default()
    }
}

/// The groups directory.
#[derive(Debug, Clone)]
pub struct MembershipStore {
    dir: PathBuf,
}

fn authority_hex(name: &str) -> Result<String> {
    match PeerName::parse(name).map(|n| n.authority) {
        Ok(Authority::Secured(h)) => Ok(hex(&h)),
        _ => Err(Error(PEER_E_INVALID_PEER_NAME)),
    }
}

impl MembershipStore {
    /// The default directory (see the module documentation).
    pub fn default_dir() -> PathBuf {
        match std::env::var_os(GROUP_DIR_ENV).filter(|d| !d.is_empty()) {
            Some(d) => PathBuf::from(d),
            None => IdentityStore::default_dir()
                .parent()
                .map(|p| p.join("groups"))
                .unwrap_or_else(|| "groups".into()),
        }
    }

    /// The store in `dir`.
    pub fn at(dir: &Path) -> Self {
        Self { dir: dir.to_path_buf() }
    }

    /// The store at [`MembershipStore::default_dir`].
    pub fn open_default() -> Self {
        Self::at(&Self::default_dir())
    }

    fn path(&self, identity: &str, group_peer_name: &str) -> Result<PathBuf> {
        Ok(self.dir.join(format!("{}-{}.json", authority_hex(group_peer_name)?, authority_hex(identity)?)))
    }

    /// Writes (or replaces) a membership, owner-only, synced.
    pub fn save(&self, m: &Membership) -> Result<()> {
        let path = self.path(&m.identity, &m.group_peer_name)?;
        let io = |_| Error(IO_FAILURE);
        fs::create_dir_all(&self.dir).map_err(io)?;
        let mut options = fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = options.open(&path).map_err(io)?;
        let text = serde_json::to_vec_pretty(m).map_err(|_| Error(IO_FAILURE))?;
        f.write_all(&text).map_err(io)?;
        f.sync_all().map_err(io)
    }

    /// The membership of `identity` in the group `group_peer_name`; PEER_E_NOT_FOUND if there is
    /// none (or the file names another group or identity).
    pub fn load(&self, identity: &str, group_peer_name: &str) -> Result<Membership> {
        let path = self.path(identity, group_peer_name)?;
        let f = fs::File::open(&path).map_err(|_| Error(PEER_E_NOT_FOUND))?;
        let mut text = Vec::new();
        std::io::Read::read_to_end(&mut std::io::Read::take(f, MAX_MEMBERSHIP_FILE + 1), &mut text)
            .map_err(|_| Error(IO_FAILURE))?;
        if text.len() as u64 > MAX_MEMBERSHIP_FILE {
            return Err(Error(IO_FAILURE));
        }
        let m: Membership = serde_json::from_slice(&text).map_err(|_| Error(IO_FAILURE))?;
        if m.identity != identity || m.group_peer_name != group_peer_name {
            return Err(Error(PEER_E_NOT_FOUND));
        }
        Ok(m)
    }

    /// Forgets a membership (PeerGroupDelete); PEER_E_NOT_FOUND if there is none.
    pub fn delete(&self, identity: &str, group_peer_name: &str) -> Result<()> {
        self.load(identity, group_peer_name)?;
        fs::remove_file(self.path(identity, group_peer_name)?).map_err(|_| Error(IO_FAILURE))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn membership(identity: &str, group: &str) -> Membership {
        Membership {
            identity: identity.into(),
            group_peer_name: group.into(),
            friendly_name: "f".into(),
            creator: identity.into(),
            certificate: "ab".repeat(CERTIFICATE_LEN),
            root: Some("cd".repeat(32)),
            member_lifetime: 60,
            hints: vec!["127.0.0.1:9".into()],
            security_properties: None,
            password_pending: false,
        }
    }

    #[test]
    fn a_saved_membership_is_loaded_back_owner_only_and_deleted() {
        let dir = std::env::temp_dir().join(format!("peerdrt-ms-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let store = MembershipStore::at(&dir);
        let (me, group) = (format!("{}.me", "1a".repeat(20)), group_peer_name(&[7; 32], "chat").unwrap());
        let m = membership(&me, &group);
        store.save(&m).unwrap();
        assert_eq!(store.load(&me, &group).unwrap(), m);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let file = store.path(&me, &group).unwrap();
            assert_eq!(fs::metadata(file).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let other_classifier = group_peer_name(&[7; 32], "other").unwrap();
        assert_eq!(store.load(&me, &other_classifier), Err(Error(PEER_E_NOT_FOUND)));
        assert_eq!(store.load(&me, "0.unsecured"), Err(Error(PEER_E_INVALID_PEER_NAME)));
        store.delete(&me, &group).unwrap();
        assert_eq!(store.load(&me, &group), Err(Error(PEER_E_NOT_FOUND)));
        assert_eq!(store.delete(&me, &group), Err(Error(PEER_E_NOT_FOUND)));
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_group_peer_name_is_secured_by_the_root_key() {
        let name = group_peer_name(&[7; 32], "chat").unwrap();
        let parsed = PeerName::parse(&name).unwrap();
        assert_eq!(parsed.authority, Authority::of_key(&[7; 32]));
        assert!(name.ends_with(".chat"));
    }
}
