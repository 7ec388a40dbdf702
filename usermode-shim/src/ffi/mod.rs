//! The C API: drt.h's functions exported from the cdylib with their Win32 names, and the
//! helpers of peerdrt.h.
//!
//! Handles given to the application (`HDRT`, `HDRT_REGISTRATION_CONTEXT`,
//! `HDRT_SEARCH_CONTEXT`, `HDRT_TRANSPORT`, and on Linux the event `HANDLE`s) are opaque values
//! looked up in a process-wide table, never dereferenced: a stale, foreign or made-up value is
//! `E_HANDLE`, not a crash. Values are a salted bijection of a counter, so a value from another
//! process does not name an object here by accident. Provider pointers
//! (`DRT_SECURITY_PROVIDER*`, `DRT_BOOTSTRAP_PROVIDER*`) are real allocations, as on Windows,
//! recorded in the same table.

#![allow(non_snake_case, non_camel_case_types)]

pub mod api;
pub mod group;
pub mod group_members;
pub mod pnrp;
pub mod providers;
#[cfg(not(windows))]
pub mod sync;
pub mod types;
mod write;

use std::collections::{HashMap, HashSet};
use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::AtomicU16;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};

use crate::cert::{Credential, RootCredential};
use crate::client::{Instance, SearchCore};
#[cfg(not(windows))]
use crate::event::EventObject;
use crate::event::lock;
use crate::hresult::*;
use types::HRESULT;

/// A DrtOpen'd instance.
#[derive(Debug)]
pub(crate) struct CDrt {
    pub instance: Arc<Instance>,
    pub name: Vec<u16>,
    pub derived_key: bool,
    pub local: Option<Credential>,
    /// Registration and search tokens of this instance.
    pub children: Mutex<Vec<usize>>,
}

/// A DrtRegisterKey'd key.
#[derive(Debug)]
pub(crate) struct CRegistration {
    pub drt: Arc<CDrt>,
    pub handle: u64,
}

/// A DrtStartSearch'd search.
#[derive(Debug)]
pub(crate) struct CSearch {
    pub drt: Arc<CDrt>,
    pub core: Arc<SearchCore>,
}

/// DrtCreateIpv6UdpTransport's object.
#[derive(Debug)]
pub(crate) struct Transport {
    pub scope: u32,
    pub scope_id: u32,
    pub port: u16,
    pub bound_port: AtomicU16,
    pub attached: Option<usize>,
}

/// What a provider pointer is.
#[derive(Debug, Clone)]
pub(crate) enum ProviderKind {
    NullSecurity,
    DerivedKey { root: RootCredential, local: Option<Credential> },
    Dns { hosts: String, port: u16 },
}

#[derive(Debug)]
pub(crate) struct Provider {
    pub kind: ProviderKind,
    pub attached: Option<usize>,
}

#[derive(Debug, Clone)]
pub(crate) enum Object {
    Drt(Arc<CDrt>),
    Registration(Arc<CRegistration>),
    Search(Arc<CSearch>),
    #[cfg(not(windows))]
    Event(Arc<EventObject>),
}

#[derive(Debug)]
pub(crate) struct Registry {
    pub objects: HashMap<usize, Object>,
    pub transports: HashMap<usize, Transport>,
    pub providers: HashMap<usize, Provider>,
    /// CERT_CONTEXTs made by PeerDrtCreateRootCertificate / PeerDrtIssueCertificate.
    pub certs: HashSet<usize>,
    next: u64,
    salt: u64,
}

pub(crate) static REGISTRY: LazyLock<Mutex<Registry>> = LazyLock::new(|| {
    let mut salt = [0u8; 8];
    let _ = getrandom::getrandom(&mut salt);
    Mutex::new(Registry {
        objects: HashMap::new(),
        transports: HashMap::new(),
        providers: HashMap::new(),
        certs: HashSet::new(),
        next: 1,
        salt: u64::from_ne_bytes(salt) & !0xF,
    })
});

pub(crate) fn registry() -> MutexGuard<'static, Registry> {
    lock(&REGISTRY)
}

impl Registry {
    /// A fresh handle value: salt + counter × odd constant (a bijection, so never a repeat),
    /// 16-aligned like a heap pointer, never NULL.
    pub fn token(&mut self) -> usize {
        loop {
            let n = self.next;
            self.next += 1;
            let v = (self.salt.wrapping_add(n.wrapping_mul(0x9E37_79B9_7F4A_7C15)) << 4) as usize;
            if v != 0 && !self.objects.contains_key(&v) && !self.transports.contains_key(&v) {
                return v;
            }
        }
    }

    pub fn insert(&mut self, object: Object) -> usize {
        let t = self.token();
        self.objects.insert(t, object);
        t
    }

    pub fn drt(&self, h: *mut c_void) -> Result<Arc<CDrt>> {
        match self.objects.get(&(h as usize)) {
            Some(Object::Drt(d)) => Ok(d.clone()),
            _ => Err(Error(E_HANDLE)),
        }
    }

    pub fn registration(&self, h: *mut c_void) -> Result<Arc<CRegistration>> {
        match self.objects.get(&(h as usize)) {
            Some(Object::Registration(r)) => Ok(r.clone()),
            _ => Err(Error(E_HANDLE)),
        }
    }

    pub fn search(&self, h: *mut c_void) -> Result<Arc<CSearch>> {
        match self.objects.get(&(h as usize)) {
            Some(Object::Search(s)) => Ok(s.clone()),
            _ => Err(Error(E_HANDLE)),
        }
    }

    #[cfg(not(windows))]
    pub fn event(&self, h: *mut c_void) -> Option<Arc<EventObject>> {
        match self.objects.get(&(h as usize)) {
            Some(Object::Event(e)) => Some(e.clone()),
            _ => None,
        }
    }
}

/// Runs an export's body: its HRESULT, or E_UNEXPECTED if it panicked (a panic never crosses
/// into the caller).
pub(crate) fn guard(f: impl FnOnce() -> Result<()>) -> HRESULT {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => S_OK as HRESULT,
        Ok(Err(Error(hr))) => hr as HRESULT,
        Err(_) => E_UNEXPECTED as HRESULT,
    }
}

/// Like [`guard`] for exports without a result.
pub(crate) fn guard_void(f: impl FnOnce()) {
    let _ = catch_unwind(AssertUnwindSafe(f));
}

/// Reads a NUL-terminated UTF-16 string of at most `max` units; `Err(())` if longer.
///
/// # Safety
/// `p` must be NULL or point to a NUL-terminated UTF-16 string (or at least `max + 1` units).
pub(crate) unsafe fn read_wstr(p: *const u16, max: usize) -> std::result::Result<Option<Vec<u16>>, ()> {
    if p.is_null() {
        return Ok(None);
    }
    let mut v = Vec::new();
    for i in 0..=max {
        // SAFETY: within the string or its terminator, per the contract.
        let c = unsafe { p.add(i).read_unaligned() };
        if c == 0 {
            return Ok(Some(v));
        }
        v.push(c);
    }
    Err(())
}

/// The bytes of a DRT_DATA.
///
/// # Safety
/// `d.pb` must point to `d.cb` readable bytes when non-NULL.
pub(crate) unsafe fn data_bytes<'a>(d: &types::DRT_DATA) -> Option<&'a [u8]> {
    if d.pb.is_null() {
        return None;
    }
    // SAFETY: per the contract.
    Some(unsafe { std::slice::from_raw_parts(d.pb, d.cb as usize) })
}

/// The signal of an application's event handle (`None` for NULL; E_HANDLE for a handle this
/// process's registry does not know, on Linux). One mapping for DrtOpen, PeerPnrpStartResolve
/// and PeerGroupRegisterEvent.
pub(crate) fn signal_of(r: &Registry, h: types::HANDLE) -> Result<Option<crate::event::Signal>> {
    if h.is_null() {
        return Ok(None);
    }
    #[cfg(not(windows))]
    {
        r.event(h).map(|e| Some(crate::event::Signal::Object(e))).ok_or(Error(E_HANDLE))
    }
    #[cfg(windows)]
    {
        let _ = r;
        Ok(Some(crate::event::Signal::Win32(h as usize)))
    }
}
