//! The DRT node's public values: status, events, search parameters and results, errors.

use alloc::vec::Vec;
use core::time::Duration;

use crate::wire::{Endpoint, Key};

/// Size of a DRT key (`DRT_SETTINGS.cbKey` must be 32).
pub const KEY_SIZE: usize = 32;
/// Largest application payload registered with a key (`DRT_MAX_PAYLOAD_SIZE`).
pub const MAX_PAYLOAD_SIZE: usize = 5120;

/// DRT_STATUS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// DRT_ACTIVE: connected to at least one other node.
    Active = 0,
    /// DRT_ALONE: no other node found; still listening and re-bootstrapping.
    Alone = 1,
    /// DRT_NO_NETWORK: the transport has no usable address.
    NoNetwork = 10,
    /// DRT_FAULTED: unrecoverable; the instance must be closed.
    Faulted = 20,
}

/// DRT_MATCH_TYPE of a search result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchType {
    /// DRT_MATCH_EXACT.
    Exact = 0,
    /// DRT_MATCH_NEAR.
    Near = 1,
    /// DRT_MATCH_INTERMEDIATE: an iterative search's next hop.
    Intermediate = 2,
}

/// DRT_LEAFSET_KEY_CHANGE_TYPE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LeafSetChange {
    /// DRT_LEAFSET_KEY_ADDED.
    Added = 0,
    /// DRT_LEAFSET_KEY_DELETED.
    Deleted = 1,
}

/// DRT_REGISTRATION_STATE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RegistrationState {
    /// DRT_REGISTRATION_STATE_UNRESOLVEABLE: the security provider can no longer vouch for it.
    Unresolvable = 1,
}

/// DRT_ADDRESS_FLAGS of a search path entry.
pub mod address_flags {
    /// The node answered and was used.
    pub const ACCEPTED: u32 = 0x01;
    /// The node answered but its answer was refused.
    pub const REJECTED: u32 = 0x02;
    /// The node did not answer.
    pub const UNREACHABLE: u32 = 0x04;
    /// The node was already on the path.
    pub const LOOP: u32 = 0x08;
    /// The node said it is too busy.
    pub const TOO_BUSY: u32 = 0x10;
    /// The node does not hold the key it was asked as.
    pub const BAD_VALIDATE_ID: u32 = 0x20;
    /// The node seems to have unregistered its key.
    pub const SUSPECT_UNREGISTERED_ID: u32 = 0x40;
    /// The node was sent an INQUIRE (rather than a LOOKUP).
    pub const INQUIRE: u32 = 0x80;
}

/// Identifies a registration within its node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RegistrationId(pub u32);

/// Identifies a search within its node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SearchId(pub u32);

/// DRT_SEARCH_INFO, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchInfo {
    /// Report every hop as an intermediate result and wait for `continue_search`.
    pub iterative: bool,
    /// Results may include keys registered in this instance.
    pub allow_current_instance_match: bool,
    /// Stop at the first key in range (forces one result).
    pub any_match_in_range: bool,
    /// Most results wanted (≥ 1).
    pub max_endpoints: u32,
    /// Range `[min, max]` the results must lie in, both or neither.
    pub range: Option<(Key, Key)>,
}

impl SearchInfo {
    /// `pInfo == NULL`: a simple exact search for one result.
    pub const fn exact() -> Self {
        Self {
            iterative: false,
            allow_current_instance_match: false,
            any_match_in_range: false,
            max_endpoints: 1,
            range: None,
        }
    }

    /// The nearest `count` keys anywhere (the SDK sample's "nearest match": min 0, max FF..FF).
    pub fn nearest(count: u32) -> Self {
        Self { max_endpoints: count, range: Some(([0; 32], [0xFF; 32])), ..Self::exact() }
    }

    /// Checks the DrtStartSearch rules for `target`.
    pub fn validate(&self, target: &Key) -> Result<(), DrtError> {
        if self.max_endpoints == 0 || (self.max_endpoints > 1 && (self.any_match_in_range || self.iterative))
        {
            return Err(DrtError::InvalidMaxEndpoints);
        }
        if self.max_endpoints > MAX_SEARCH_RESULTS {
            return Err(DrtError::InvalidMaxEndpoints);
        }
        if let Some((min, max)) = &self.range
            && (min > max || !(min <= target && target <= max) || (min == max && min != target))
        {
            return Err(DrtError::InvalidSearchRange);
        }
        Ok(())
    }

    /// Whether `key` may be a result.
    pub fn accepts(&self, target: &Key, key: &Key) -> bool {
        match &self.range {
            Some((min, max)) => min <= key && key <= max,
            None => key == target,
        }
    }
}

/// Most results one search may ask for.
pub const MAX_SEARCH_RESULTS: u32 = 64;

/// One result of a search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchResult {
    /// Exact, near, or an iterative search's intermediate hop.
    pub match_type: MatchType,
    /// The key found (for an intermediate result: the next node's key).
    pub key: Key,
    /// The application data registered with the key (empty for intermediate results).
    pub app_data: Vec<u8>,
    /// Where the publisher is.
    pub endpoint: Endpoint,
}

/// One node a search contacted (DRT_ADDRESS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathEntry {
    /// The node's endpoint.
    pub endpoint: Endpoint,
    /// `address_flags` bits.
    pub flags: u32,
    /// Leading bits its key shares with the target.
    pub nearness: u32,
    /// Round-trip time of its answer.
    pub latency: Duration,
}

/// How a search ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchEnd {
    /// Every result was delivered (DRT_E_NO_MORE follows the results).
    Complete,
    /// The search's timeout passed first (DRT_E_TIMEOUT).
    TimedOut,
    /// The instance faulted (DRT_E_FAULTED).
    Faulted,
}

/// What the node tells its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// DRT_EVENT_STATUS_CHANGED; `bootstrap` lists the seeds tried when the new status is ALONE.
    StatusChanged {
        /// New status.
        status: Status,
        /// Addresses the bootstrapper returned.
        bootstrap: Vec<Endpoint>,
    },
    /// DRT_EVENT_LEAFSET_KEY_CHANGED.
    LeafSetKeyChanged {
        /// The local key whose leaf set changed.
        local_key: Key,
        /// The remote key added or deleted.
        remote_key: Key,
        /// Added or deleted.
        change: LeafSetChange,
    },
    /// DRT_EVENT_REGISTRATION_STATE_CHANGED.
    RegistrationStateChanged {
        /// The registration.
        registration: RegistrationId,
        /// Its key.
        key: Key,
        /// New state.
        state: RegistrationState,
    },
    /// A search result is ready.
    SearchResult {
        /// The search.
        search: SearchId,
        /// The result.
        result: SearchResult,
    },
    /// A search ended; no more results follow.
    SearchEnded {
        /// The search.
        search: SearchId,
        /// Why.
        end: SearchEnd,
    },
}

/// Errors of the node API, one per DRT HRESULT meaning they map to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DrtError {
    /// E_INVALIDARG (e.g. appData of 0 or more than 5,120 bytes).
    InvalidArgument,
    /// DRT_E_INVALID_KEY_SIZE.
    InvalidKeySize,
    /// DRT_E_INVALID_KEY: the key does not match the registration's credential.
    InvalidKey,
    /// DRT_E_DUPLICATE_KEY: this instance already registered the key.
    DuplicateKey,
    /// DRT_E_INVALID_MAX_ENDPOINTS.
    InvalidMaxEndpoints,
    /// DRT_E_INVALID_SEARCH_RANGE.
    InvalidSearchRange,
    /// DRT_E_FAULTED.
    Faulted,
    /// E_HANDLE: no such registration or search.
    InvalidHandle,
    /// E_UNEXPECTED: e.g. DrtContinueSearch on a search not waiting.
    Unexpected,
    /// A named bound (registrations, searches) is full: E_OUTOFMEMORY.
    LimitReached,
    /// DRT_E_CAPABILITY_MISMATCH: the security mode needs a local credential.
    CapabilityMismatch,
}
