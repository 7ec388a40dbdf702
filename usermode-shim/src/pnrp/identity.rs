//! The per-user identity store: PeerIdentityCreate / PeerIdentityGetDefault /
//! PeerIdentityDelete, the subset PNRP and grouping need.
//!
//! An identity is an Ed25519 key pair; its name is the peer name `<authority>.<classifier>`
//! whose authority is SHA-1 over the key's SubjectPublicKeyInfo, so names it publishes are
//! secured by it. Keys live in one file each, `<authority>.json`, in a directory only its owner
//! may enter (0700; files 0600; an existing directory with wider permissions is tightened). The
//! private key never leaves this process: the shim signs records and hands signed bytes down.
//!
//! Where: `$PEERDRT_IDENTITY_DIR`, else `$XDG_DATA_HOME/peerdrt/identities`, else
//! `~/.local/share/peerdrt/identities` (on Windows `%LOCALAPPDATA%\peerdrt\identities`, whose
//! ACL is the user profile's; this shim sets no ACL of its own there).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use peerdrt_core::pnrp::name::check_classifier;
use peerdrt_core::pnrp::{Authority, NameError, PeerName};
use serde::{Deserialize, Serialize};

use super::hresult::*;
use crate::hresult::{E_INVALIDARG, Error, Result};

/// The environment variable naming the store's directory.
pub const IDENTITY_DIR_ENV: &str = "PEERDRT_IDENTITY_DIR";
/// The classifier of an identity created without one (and of the default identity).
pub const DEFAULT_CLASSIFIER: &str = "identity";
/// Longest friendly name, in UTF-16 units (`MAX_PATH`).
pub const MAX_FRIENDLY_NAME_UNITS: usize = 256;
/// Most identities a store holds.
pub const MAX_IDENTITIES: usize = 256;
const DEFAULT_FILE: &str = "default";

#[derive(Serialize, Deserialize)]
struct Stored {
    identity: String,
    friendly_name: String,
    secret: String,
}

/// An identity: its name and key.
#[derive(Clone)]
pub struct Identity {
    /// `<authority>.<classifier>`.
    pub name: String,
    /// Its friendly name.
    pub friendly_name: String,
    /// The key pair.
    pub key: SigningKey,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity").field("name", &self.name).finish_non_exhaustive()
    }
}

/// Maps a name error to its HRESULT.
pub fn name_error(e: NameError) -> Error {
    Error(match e {
        NameError::InvalidPeerName => PEER_E_INVALID_PEER_NAME,
        NameError::InvalidClassifier => PEER_E_INVALID_CLASSIFIER,
        NameError::ClassifierTooLong => PEER_E_CLASSIFIER_TOO_LONG,
    })
}

/// The store.
#[derive(Debug, Clone)]
pub struct IdentityStore {
    dir: PathBuf,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex32(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

fn authority_hex(authority: &Authority) -> Option<String> {
    match authority {
        Authority::Secured(h) => Some(hex(h)),
        Authority::Unsecured => None,
    }
}

fn io_error(_: std::io::Error) -> Error {
    Error(PEER_E_NO_KEY_ACCESS)
}

impl IdentityStore {
    /// The default location (see the module documentation).
    pub fn default_dir() -> PathBuf {
        if let Some(d) = std::env::var_os(IDENTITY_DIR_ENV).filter(|d| !d.is_empty()) {
            return PathBuf::from(d);
        }
        #[cfg(windows)]
        if let Some(d) = std::env::var_os("LOCALAPPDATA") {
            return PathBuf::from(d).join("peerdrt").join("identities");
        }
        if let Some(d) = std::env::var_os("XDG_DATA_HOME").map(PathBuf::from).filter(|p| p.is_absolute()) {
            return d.join("peerdrt").join("identities");
        }
        let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
        home.join(".local").join("share").join("peerdrt").join("identities")
    }

    /// The store in `dir`, created owner-only if missing.
    pub fn at(dir: &Path) -> Result<Self> {
        fs::create_dir_all(dir).map_err(io_error)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::{MetadataExt, PermissionsExt};
            let meta = fs::metadata(dir).map_err(io_error)?;
            // SAFETY: geteuid cannot fail.
            if meta.uid() != unsafe { libc::geteuid() } {
                return Err(Error(crate::hresult::E_ACCESSDENIED));
            }
            if meta.mode() & 0o077 != 0 {
                fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io_error)?;
            }
        }
        Ok(Self { dir: dir.to_path_buf() })
    }

    /// The store at [`IdentityStore::default_dir`].
    pub fn open_default() -> Result<Self> {
        Self::at(&Self::default_dir())
    }

    /// Its directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn file(&self, authority: &str) -> PathBuf {
        self.dir.join(format!("{authority}.json"))
    }

    fn write_owner_only(path: &Path, bytes: &[u8]) -> Result<()> {
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = options.open(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                Error(PEER_E_ALREADY_EXISTS)
            } else {
                io_error(e)
            }
        })?;
        f.write_all(bytes).map_err(io_error)
    }

    /// PeerIdentityCreate: a new key pair; returns the identity's name.
    pub fn create(&self, classifier: Option<&str>, friendly_name: Option<&str>) -> Result<String> {
        let classifier = classifier.unwrap_or(DEFAULT_CLASSIFIER);
        check_classifier(classifier).map_err(name_error)?;
        let friendly = friendly_name.unwrap_or(classifier);
        if friendly.encode_utf16().count() > MAX_FRIENDLY_NAME_UNITS {
            return Err(Error(E_INVALIDARG));
        }
        if self.list()?.len() >= MAX_IDENTITIES {
            return Err(Error(E_INVALIDARG));
        }
        let mut secret = [0u8; 32];
        getrandom::getrandom(&mut secret).map_err(|_| Error(PEER_E_NO_KEY_ACCESS))?;
        let key = SigningKey::from_bytes(&secret);
        let authority = Authority::of_key(key.verifying_key().as_bytes());
        let name = PeerName::new(authority, classifier).map_err(name_error)?.to_string();
        let stored = Stored { identity: name.clone(), friendly_name: friendly.into(), secret: hex(&secret) };
        let json = serde_json::to_vec(&stored).map_err(|_| Error(E_INVALIDARG))?;
        let file = self.file(&authority_hex(&authority).unwrap_or_default());
        Self::write_owner_only(&file, &json)?;
        Ok(name)
    }

    fn read(&self, path: &Path) -> Option<Identity> {
        let stored: Stored = serde_json::from_slice(&fs::read(path).ok()?).ok()?;
        let key = SigningKey::from_bytes(&unhex32(&stored.secret)?);
        let name = PeerName::parse(&stored.identity).ok()?;
        // A file whose key does not secure its name is not an identity.
        (name.authority == Authority::of_key(key.verifying_key().as_bytes())).then_some(Identity {
            name: stored.identity,
            friendly_name: stored.friendly_name,
            key,
        })
    }

    /// The identity named `identity` (PEER_E_IDENTITY_NOT_FOUND if there is none).
    pub fn get(&self, identity: &str) -> Result<Identity> {
        let name = PeerName::parse(identity).map_err(|_| Error(PEER_E_INVALID_IDENTITY))?;
        let authority = authority_hex(&name.authority).ok_or(Error(PEER_E_INVALID_IDENTITY))?;
        self.read(&self.file(&authority))
            .filter(|i| i.name == identity)
            .ok_or(Error(PEER_E_IDENTITY_NOT_FOUND))
    }

    /// The identity holding the key that secures names of `authority`, if this user has it.
    pub fn for_authority(&self, authority: &Authority) -> Result<Identity> {
        let a = authority_hex(authority).ok_or(Error(PEER_E_IDENTITY_NOT_FOUND))?;
        self.read(&self.file(&a)).ok_or(Error(PEER_E_IDENTITY_NOT_FOUND))
    }

    /// Every identity's name.
    pub fn list(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for e in fs::read_dir(&self.dir).map_err(io_error)?.flatten() {
            if e.path().extension().is_some_and(|x| x == "json")
                && let Some(i) = self.read(&e.path())
            {
                out.push(i.name);
            }
        }
        out.sort();
        Ok(out)
    }

    /// PeerIdentityGetDefault: the default identity, created on first use.
    pub fn default_identity(&self) -> Result<String> {
        let path = self.dir.join(DEFAULT_FILE);
        if let Ok(text) = fs::read_to_string(&path)
            && self.get(text.trim()).is_ok()
        {
            return Ok(text.trim().to_string());
        }
        let name = self.create(Some(DEFAULT_CLASSIFIER), Some("Default identity"))?;
        let _ = fs::remove_file(&path);
        Self::write_owner_only(&path, name.as_bytes())?;
        Ok(name)
    }

    /// PeerIdentityDelete.
    pub fn delete(&self, identity: &str) -> Result<()> {
        let found = self.get(identity)?;
        let name = PeerName::parse(&found.name).map_err(|_| Error(PEER_E_INVALID_IDENTITY))?;
        let a = authority_hex(&name.authority).ok_or(Error(PEER_E_INVALID_IDENTITY))?;
        fs::remove_file(self.file(&a)).map_err(io_error)?;
        let default = self.dir.join(DEFAULT_FILE);
        if fs::read_to_string(&default).is_ok_and(|t| t.trim() == identity) {
            let _ = fs::remove_file(default);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempdir::Dir, IdentityStore) {
        let d = tempdir::Dir::new();
        let s = IdentityStore::at(&d.0.join("ids")).unwrap();
        (d, s)
    }

    mod tempdir {
        pub struct Dir(pub std::path::PathBuf);
        impl Dir {
            pub fn new() -> Self {
                let mut r = [0u8; 8];
                getrandom::getrandom(&mut r).unwrap();
                let p = std::env::temp_dir().join(format!("peerdrt-ids-{}", u64::from_ne_bytes(r)));
                std::fs::create_dir_all(&p).unwrap();
                Self(p)
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[test]
    fn a_created_identity_secures_its_name_and_is_found_again() {
        let (_d, s) = store();
        let name = s.create(Some("chat"), Some("Chat identity")).unwrap();
        let id = s.get(&name).unwrap();
        let parsed = PeerName::parse(&name).unwrap();
        assert_eq!(parsed.classifier, "chat");
        assert_eq!(parsed.authority, Authority::of_key(id.key.verifying_key().as_bytes()));
        assert_eq!(id.friendly_name, "Chat identity");
        assert_eq!(s.for_authority(&parsed.authority).unwrap().name, name);
        assert_eq!(s.list().unwrap(), vec![name.clone()]);
        s.delete(&name).unwrap();
        assert_eq!(s.get(&name).unwrap_err(), Error(PEER_E_IDENTITY_NOT_FOUND));
        assert_eq!(s.delete(&name).unwrap_err(), Error(PEER_E_IDENTITY_NOT_FOUND));
    }

    #[cfg(unix)]
    #[test]
    fn the_store_is_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let (d, _) = store();
        let dir = d.0.join("wide");
        fs::create_dir_all(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        let s = IdentityStore::at(&dir).unwrap();
        assert_eq!(fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
        let name = s.create(None, None).unwrap();
        let a = &name[..40];
        let mode = fs::metadata(dir.join(format!("{a}.json"))).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn the_default_identity_is_created_once() {
        let (_d, s) = store();
        let a = s.default_identity().unwrap();
        assert_eq!(s.default_identity().unwrap(), a);
        s.delete(&a).unwrap();
        assert_ne!(s.default_identity().unwrap(), a, "a deleted default is replaced");
    }

    #[test]
    fn bad_classifiers_and_names_get_their_hresults() {
        let (_d, s) = store();
        let long = "c".repeat(peerdrt_core::pnrp::name::MAX_CLASSIFIER_UNITS + 1);
        assert_eq!(s.create(Some(&long), None).unwrap_err(), Error(PEER_E_CLASSIFIER_TOO_LONG));
        assert_eq!(s.create(Some("a b"), None).unwrap_err(), Error(PEER_E_INVALID_CLASSIFIER));
        assert_eq!(s.get("0.x").unwrap_err(), Error(PEER_E_INVALID_IDENTITY));
        let friendly = "f".repeat(MAX_FRIENDLY_NAME_UNITS + 1);
        assert_eq!(s.create(None, Some(&friendly)).unwrap_err(), Error(E_INVALIDARG));
        assert!(s.create(None, Some(&friendly[1..])).is_ok());
    }
}
