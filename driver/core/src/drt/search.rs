//! The resolver side of one search: candidates, the path, and what to ask next.
//!
//! A search walks towards its target with LOOKUPs (each answer names the answering node's best
//! route to the target that is not on the flagged path), then fetches the records of the keys
//! that match with INQUIREs. Nearest and range searches keep asking nodes around the target until
//! every candidate within the radius of the k-th best match has been asked, so the results are
//! the k keys nearest the target in the whole cloud.

use alloc::vec::Vec;

use super::keyspace::{U256, distance};
use super::types::{DrtError, MatchType, PathEntry, SearchId, SearchInfo, SearchResult};
use crate::time::Instant;
use crate::wire::{Endpoint, Key};

/// Most candidates a search remembers (the farthest go first).
pub const MAX_SEARCH_CANDIDATES: usize = 64;
/// Most path entries a search records.
pub const MAX_SEARCH_PATH: usize = 64;
/// Most requests a search has outstanding at once.
pub const MAX_SEARCH_IN_FLIGHT: usize = 3;
/// Most requests one search sends in all.
pub const MAX_SEARCH_REQUESTS: u32 = 96;
/// Most times one node is asked the same search's LOOKUP (with a longer flagged path each time).
pub const MAX_ASKS_PER_NODE: u8 = 3;
/// Cache entries a search starts from.
pub const SEED_CANDIDATES: usize = 8;
/// Further cache entries an application's exact search keeps in reserve, the nearest of each
/// length of prefix shared with the target: if every nearest entry is hostile (a Sybil cluster
/// around the target fills that part of the cache), the detours start from other parts of the
/// ring. They are asked only after the greedy paths dead-end.
pub const RESERVE_CANDIDATES: usize = 8;
/// INQUIREs sent to one node for its record before giving up on it (each with its retries).
pub const MAX_FETCHES_PER_NODE: u8 = 3;
/// LOOKUPs an exact search sends off its greedy path once that path dead-ends (a node that
/// says it knows nothing closer may have lost a route, or may be lying): a second, disjoint
/// route towards the target through the other nodes it knows.
pub const MAX_DEAD_END_DETOURS: u8 = 12;
/// Endpoints one key may be claimed at among a search's live candidates (a key is held at one
/// endpoint; a route poisoner names the same near key at many). Failed candidates do not count,
/// so liars claiming the target cannot keep its true holder out.
pub const MAX_ENDPOINTS_PER_KEY: usize = 2;
/// Referrals of one node that may fail (unreachable, or a refused record) before the search
/// stops trusting that node's answers.
pub const MAX_FAILED_REFERRALS: u8 = 2;
/// Endpoints a search stops trusting (beyond this, the oldest is forgotten).
pub const MAX_DISTRUSTED: usize = 32;
/// Endpoints in a LOOKUP's flagged path.
pub const MAX_FLAGGED_PATH: usize = 22;
/// Disjoint lookup paths an application's exact search runs unless the node is set otherwise
/// (see [`SearchSettings`]). One: each extra path costs about 7–9 datagrams per search in an
/// honest cloud of 1,000 (`drt-adversity-bench --hostile`), and pays off only under attack, so
/// a cloud that expects hostile peers sets more (3 is what `docs/hostile-peers.md` measures).
pub const DEFAULT_DISJOINT_PATHS: u8 = 1;
/// Most disjoint lookup paths one search may run: each path starts from at least two of the
/// [`SEED_CANDIDATES`] cache entries, and all share the search's [`MAX_SEARCH_REQUESTS`].
pub const MAX_DISJOINT_PATHS: u8 = 4;

/// How a node runs the searches its application starts.
///
/// With `d` disjoint paths (in the spirit of S/Kademlia), an exact search splits the cache
/// entries it starts from over `d` paths; a node a path learns of joins that path, and a node
/// is asked on one path only, so a hostile node on one path cannot steer the others. The
/// results are the union: the key is found if any path reaches a node whose record verifies.
/// Nearest, range and iterative searches, and the node's own maintenance, run one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchSettings {
    disjoint_paths: u8,
}

impl SearchSettings {
    /// Settings with `disjoint_paths` paths (1..=[`MAX_DISJOINT_PATHS`]).
    pub fn new(disjoint_paths: u8) -> Result<Self, DrtError> {
        if !(1..=MAX_DISJOINT_PATHS).contains(&disjoint_paths) {
            return Err(DrtError::InvalidArgument);
        }
        Ok(Self { disjoint_paths })
    }

    /// Disjoint paths of an exact search.
    pub fn disjoint_paths(&self) -> u8 {
        self.disjoint_paths
    }
}

impl Default for SearchSettings {
    fn default() -> Self {
        Self { disjoint_paths: DEFAULT_DISJOINT_PATHS }
    }
}

/// Where a candidate stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asked {
    /// Not asked yet.
    No,
    /// A LOOKUP is outstanding.
    Pending,
    /// It answered.
    Yes,
    /// It did not answer, or disowned its key.
    Failed,
}

/// Whether a candidate's record has been fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetch {
    /// Not fetched.
    No,
    /// An INQUIRE is outstanding.
    Pending,
    /// Fetched: its application data.
    Done(Vec<u8>),
    /// The node no longer holds the key, or did not answer.
    Failed,
}

/// A node a search knows of.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// Its key.
    pub key: Key,
    /// Its endpoint.
    pub endpoint: Endpoint,
    /// Distance to the target.
    pub dist: U256,
    /// LOOKUP state.
    pub asked: Asked,
    /// LOOKUPs sent to it.
    pub asks: u8,
    /// Visited endpoints when it was last asked.
    pub visited_at_ask: usize,
    /// INQUIRE state.
    pub fetch: Fetch,
    /// INQUIREs sent to it.
    pub fetches: u8,
    /// Reported as an iterative search's next hop.
    pub reported: bool,
    /// The node whose LOOKUP answer named it (none: from the cache).
    pub referrer: Option<Endpoint>,
    /// Its referrals that failed.
    pub failed_referrals: u8,
    /// The disjoint path it belongs to (0 when the search runs one path).
    pub path: u8,
    /// Its requests whose first timeout has not passed.
    pub active: u8,
    /// It answered a LOOKUP with no route (it knows nothing closer): asking it again with a
    /// longer flagged path cannot change that.
    pub exhausted: bool,
}

/// Who started a search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The application (events are reported).
    App,
    /// Announcing a registration: flood the route entry to the nodes found.
    Announce(Key),
    /// Cache maintenance (results unused; answers fill the cache).
    Maintenance,
}

/// What to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Send a LOOKUP to candidate `i`.
    Lookup(usize),
    /// Send an INQUIRE to candidate `i`.
    Inquire(usize),
    /// Iterative search: report candidate `i` as the next hop and wait for `continue_search`.
    Intermediate(usize),
    /// Nothing to send now; wait for answers (or `continue_search`).
    Wait,
    /// The search is over.
    Finish,
}

/// One search.
#[derive(Debug)]
pub struct Search {
    /// Its id.
    pub id: SearchId,
    /// Who asked.
    pub purpose: Purpose,
    /// The key searched for.
    pub target: Key,
    /// Validated DRT_SEARCH_INFO.
    pub info: SearchInfo,
    /// When it times out.
    pub deadline: Instant,
    /// Known nodes.
    pub candidates: Vec<Candidate>,
    /// Nodes contacted.
    pub path: Vec<PathEntry>,
    /// Endpoints asked (the flagged path), this node first.
    pub visited: Vec<Endpoint>,
    /// Outstanding requests.
    pub outstanding: usize,
    /// Outstanding requests whose first timeout has not passed.
    pub active: usize,
    /// Requests sent.
    pub requests: u32,
    /// Results delivered.
    pub delivered: u32,
    /// Iterative: waiting for `continue_search`.
    pub waiting: bool,
    /// Over.
    pub done: bool,
    /// Fetch the matching records (application searches) or only route (internal ones).
    pub fetch_results: bool,
    /// LOOKUPs sent off the greedy path after it dead-ended.
    pub detours: u8,
    /// Endpoints whose answers this search no longer trusts.
    pub distrusted: Vec<Endpoint>,
    /// Disjoint lookup paths (1: one path).
    pub paths: u8,
    /// The path whose turn it is to send.
    next_path: u8,
}

impl Search {
    /// A new search from `local` (this node's endpoint) for `target`.
    pub fn new(
        id: SearchId,
        purpose: Purpose,
        target: Key,
        info: SearchInfo,
        deadline: Instant,
        local: Endpoint,
    ) -> Self {
        Self {
            id,
            purpose,
            target,
            info,
            deadline,
            candidates: Vec::new(),
            path: Vec::new(),
            visited: alloc::vec![local],
            outstanding: 0,
            active: 0,
            requests: 0,
            delivered: 0,
            waiting: false,
            done: false,
            fetch_results: true,
            detours: 0,
            distrusted: Vec::new(),
            paths: 1,
            next_path: 0,
        }
    }

    /// Only the target key itself can be a result.
    pub fn exact_only(&self) -> bool {
        match &self.info.range {
            None => true,
            Some((min, max)) => min == max,
        }
    }

    /// Adds a node; returns its index unless it is known already or the list is full of closer
    /// ones. It joins path 0 (see [`Search::assign_paths`]).
    pub fn add_candidate(&mut self, key: Key, endpoint: Endpoint) -> Option<usize> {
        self.add_in_path(key, endpoint, 0)
    }

    /// Adds a node to disjoint path `path`, unless another path has it.
    fn add_in_path(&mut self, key: Key, endpoint: Endpoint, path: u8) -> Option<usize> {
        if self.candidates.iter().any(|c| c.key == key && c.endpoint == endpoint)
            || self.distrusted.contains(&endpoint)
            || (self.paths > 1 && self.candidates.iter().any(|c| c.endpoint == endpoint && c.path != path))
            || self
                .candidates
                .iter()
                .filter(|c| {
                    c.key == key && c.path == path && c.asked != Asked::Failed && c.fetch != Fetch::Failed
                })
                .count()
                >= MAX_ENDPOINTS_PER_KEY
        {
            return None;
        }
        let dist = distance(&key, &self.target);
        if self.candidates.len() >= MAX_SEARCH_CANDIDATES {
            // Replace the farthest candidate that has nothing outstanding, if farther.
            let (i, far) = self
                .candidates
                .iter()
                .enumerate()
                .filter(|(_, c)| c.asked != Asked::Pending && c.fetch != Fetch::Pending)
                .max_by_key(|(_, c)| c.dist)?;
            if far.dist <= dist {
                return None;
            }
            self.candidates.swap_remove(i);
        }
        self.candidates.push(Candidate {
            key,
            endpoint,
            dist,
            asked: Asked::No,
            asks: 0,
            visited_at_ask: 0,
            fetch: Fetch::No,
            fetches: 0,
            reported: false,
            referrer: None,
            failed_referrals: 0,
            path,
            active: 0,
            exhausted: false,
        });
        Some(self.candidates.len() - 1)
    }

    /// Splits the candidates known so far (the cache entries the search starts from) over its
    /// paths: nearest to path 0, next to path 1, and so on round the paths.
    pub fn assign_paths(&mut self) {
        let mut order: Vec<usize> = (0..self.candidates.len()).collect();
        order.sort_by_key(|&i| self.candidates[i].dist);
        let paths = self.paths.max(1);
        for (rank, i) in order.into_iter().enumerate() {
            self.candidates[i].path = (rank % usize::from(paths)) as u8;
        }
    }

    /// Adds a node named by `referrer`'s LOOKUP answer to `referrer`'s path (ignored if
    /// `referrer` is distrusted, or if another path has the node).
    pub fn add_referred(&mut self, key: Key, endpoint: Endpoint, referrer: Endpoint) -> Option<usize> {
        if self.distrusted.contains(&referrer) {
            return None;
        }
        let path = self.candidates.iter().find(|c| c.endpoint == referrer).map_or(0, |c| c.path);
        let i = self.add_in_path(key, endpoint, path)?;
        self.candidates[i].referrer = Some(referrer);
        Some(i)
    }

    /// Stops trusting `endpoint`: it is asked nothing more and its referrals are ignored.
    pub fn distrust(&mut self, endpoint: Endpoint) {
        if self.distrusted.contains(&endpoint) {
            return;
        }
        if self.distrusted.len() >= MAX_DISTRUSTED {
            self.distrusted.remove(0);
        }
        self.distrusted.push(endpoint);
        for c in self.candidates.iter_mut().filter(|c| c.endpoint == endpoint) {
            if c.asked != Asked::Pending {
                c.asked = Asked::Failed;
            }
            if c.fetch != Fetch::Pending {
                c.fetch = Fetch::Failed;
            }
        }
    }

    /// The candidate `key` at `endpoint` failed: its referrer is charged, and distrusted once
    /// [`MAX_FAILED_REFERRALS`] of its referrals have failed (or at once if `lied`: the node it
    /// named returned a record that does not verify).
    pub fn referral_failed(&mut self, key: &Key, endpoint: &Endpoint, lied: bool) {
        let Some(referrer) = self
            .candidates
            .iter()
            .find(|c| c.key == *key && c.endpoint == *endpoint)
            .and_then(|c| c.referrer)
        else {
            return;
        };
        let mut failures = 0;
        for c in self.candidates.iter_mut().filter(|c| c.endpoint == referrer) {
            c.failed_referrals = c.failed_referrals.saturating_add(1);
            failures = failures.max(c.failed_referrals);
        }
        if lied || failures >= MAX_FAILED_REFERRALS {
            self.distrust(referrer);
        }
    }

    /// The distance within which every candidate must be asked before the search may end.
    fn radius(&self) -> Option<U256> {
        let (min, max) = self.info.range.as_ref()?;
        if self.exact_only() {
            return None;
        }
        let mut eligible: Vec<U256> = self
            .candidates
            .iter()
            .filter(|c| {
                c.asked != Asked::Failed
                    && c.fetch != Fetch::Failed
                    && self.info.accepts(&self.target, &c.key)
            })
            .map(|c| c.dist)
            .collect();
        eligible.sort();
        let k = self.info.max_endpoints as usize;
        match eligible.get(k.saturating_sub(1)) {
            Some(kth) => Some(*kth),
            None => {
                let (t, lo, hi) = (U256::from_key(&self.target), U256::from_key(min), U256::from_key(max));
                Some(t.wrapping_sub(lo).max(hi.wrapping_sub(t)).min(U256::HALF))
            }
        }
    }

    fn routing_limit(&self) -> usize {
        if self.info.iterative { 1 } else { MAX_SEARCH_IN_FLIGHT }
    }

    /// Decides the next request, marking the candidate as asked.
    pub fn next_step(&mut self) -> Step {
        if self.done {
            return Step::Finish;
        }
        if self.waiting || self.outstanding >= self.in_flight_limit() {
            return Step::Wait;
        }
        if self.requests >= MAX_SEARCH_REQUESTS {
            return if self.outstanding == 0 { Step::Finish } else { Step::Wait };
        }
        let wants_more = self.delivered < self.info.max_endpoints;
        // Exact and any-in-range searches fetch a matching record as soon as one is known.
        if self.fetch_results && (self.exact_only() || self.info.any_match_in_range) {
            if !wants_more {
                return Step::Finish;
            }
            if let Some(i) = self.closest(|s, c| {
                c.fetch == Fetch::No && c.asked != Asked::Failed && s.info.accepts(&s.target, &c.key)
            }) {
                return self.start_fetch(i);
            }
        }
        // Each path takes its turn; a path with nothing to send leaves the turn to the next.
        let paths = self.paths.max(1);
        for turn in 0..paths {
            let path = (self.next_path + turn) % paths;
            if let Some(step) = self.path_step(path) {
                self.next_path = (path + 1) % paths;
                return step;
            }
        }
        if self.outstanding > 0 {
            return Step::Wait;
        }
        // Routing is over: fetch the best matches not fetched yet, then finish.
        if self.fetch_results && !self.exact_only() && !self.info.any_match_in_range {
            let k = self.info.max_endpoints as usize;
            let mut eligible: Vec<usize> = (0..self.candidates.len())
                .filter(|&i| {
                    let c = &self.candidates[i];
                    c.asked != Asked::Failed
                        && c.fetch != Fetch::Failed
                        && self.info.accepts(&self.target, &c.key)
                })
                .collect();
            eligible.sort_by_key(|&i| self.candidates[i].dist);
            eligible.truncate(k);
            if let Some(&i) = eligible.iter().find(|&&i| self.candidates[i].fetch == Fetch::No) {
                return self.start_fetch(i);
            }
        }
        Step::Finish
    }

    /// Requests outstanding at once: [`MAX_SEARCH_IN_FLIGHT`], and one more per extra path.
    fn in_flight_limit(&self) -> usize {
        MAX_SEARCH_IN_FLIGHT + usize::from(self.paths.max(1)) - 1
    }

    /// The next LOOKUP (or iterative hop report) of disjoint path `path`, if it has one to send.
    fn path_step(&mut self, path: u8) -> Option<Step> {
        let on_path = |c: &Candidate| c.path == path;
        let best_asked =
            self.candidates.iter().filter(|c| on_path(c) && c.asked == Asked::Yes).map(|c| c.dist).min();
        let radius = self.radius();
        let visited = self.visited.len();
        // One request at a time while each answer gets closer; several around the target.
        let near = |c: &Candidate| radius.is_some_and(|r| c.dist <= r);
        let closer = |c: &Candidate| best_asked.is_none_or(|b| c.dist < b);
        // Re-ask an answered node once the flagged path has grown (its next answer skips the
        // nodes visited since): around the target, or the best node so far when the hop it
        // pointed to stalled or failed. A node that knew nothing closer is not asked again.
        let reask = |c: &Candidate| {
            c.asked == Asked::Yes
                && !c.exhausted
                && c.endpoint != self.visited[0]
                && c.asks < MAX_ASKS_PER_NODE
                && c.visited_at_ask < visited
                && (near(c) || Some(c.dist) == best_asked)
        };
        // Once a hop has failed, the routes through it are stale: any other known node may
        // know a way round, so none is left unasked.
        let failed = self.candidates.iter().any(|c| on_path(c) && c.asked == Asked::Failed);
        // An exact search whose greedy path ended without its target tries other routes.
        let dead_end = self.exact_only()
            && self.detours < MAX_DEAD_END_DETOURS
            && !self
                .candidates
                .iter()
                .any(|c| c.key == self.target && c.asked != Asked::Failed && c.fetch != Fetch::Failed);
        let active: usize = if self.paths > 1 {
            self.candidates.iter().filter(|c| on_path(c)).map(|c| usize::from(c.active)).sum()
        } else {
            self.active
        };
        let detour = active == 0 && (failed || dead_end);
        let i = self
            .closest(|_, c| on_path(c) && c.asked == Asked::No && (closer(c) || near(c)))
            .or_else(|| self.closest(|_, c| on_path(c) && reask(c)))
            .or_else(|| {
                if !detour {
                    return None;
                }
                let i = self.closest(|_, c| on_path(c) && c.asked == Asked::No)?;
                if !failed {
                    self.detours += 1;
                }
                Some(i)
            })?;
        // Hops that get closer go one at a time (fewest datagrams); around the target, and
        // past a stalled request, several may be outstanding.
        let c = &self.candidates[i];
        let limit = if self.info.iterative || !near(c) { 1 } else { self.routing_limit() };
        if active >= limit {
            return None;
        }
        if self.info.iterative && self.purpose == Purpose::App && !c.reported {
            // Each hop is shown before it is taken (DRT_MATCH_INTERMEDIATE).
            self.candidates[i].reported = true;
            self.waiting = true;
            return Some(Step::Intermediate(i));
        }
        let c = &mut self.candidates[i];
        c.asked = Asked::Pending;
        c.asks += 1;
        c.visited_at_ask = visited;
        c.active += 1;
        self.outstanding += 1;
        self.active += 1;
        self.requests += 1;
        Some(Step::Lookup(i))
    }

    fn start_fetch(&mut self, i: usize) -> Step {
        self.candidates[i].fetch = Fetch::Pending;
        self.candidates[i].fetches += 1;
        self.candidates[i].active += 1;
        self.outstanding += 1;
        self.active += 1;
        self.requests += 1;
        Step::Inquire(i)
    }

    fn closest(&self, pick: impl Fn(&Self, &Candidate) -> bool) -> Option<usize> {
        (0..self.candidates.len())
            .filter(|&i| pick(self, &self.candidates[i]))
            .min_by_key(|&i| self.candidates[i].dist)
    }

    /// The flagged path for a LOOKUP: this node, then the visited nodes nearest the target.
    pub fn flagged_path(&self) -> Vec<Endpoint> {
        let mut path: Vec<(U256, Endpoint)> = self
            .visited
            .iter()
            .skip(1)
            .map(|e| {
                let dist = self
                    .candidates
                    .iter()
                    .filter(|c| c.endpoint == *e)
                    .map(|c| c.dist)
                    .min()
                    .unwrap_or(U256::MAX);
                (dist, *e)
            })
            .collect();
        path.sort_by_key(|(d, _)| *d);
        let mut out = Vec::with_capacity(MAX_FLAGGED_PATH);
        out.extend(self.visited.first().copied());
        out.extend(path.into_iter().map(|(_, e)| e).take(MAX_FLAGGED_PATH - 1));
        out
    }

    /// Notes that `endpoint` has seen the search.
    pub fn visit(&mut self, endpoint: Endpoint) {
        if !self.visited.contains(&endpoint) && self.visited.len() < MAX_SEARCH_CANDIDATES * 2 {
            self.visited.push(endpoint);
        }
    }

    /// Records a contacted node.
    pub fn record_path(&mut self, entry: PathEntry) {
        if let Some(existing) = self.path.iter_mut().find(|p| p.endpoint == entry.endpoint) {
            existing.flags |= entry.flags;
            existing.latency = entry.latency;
        } else if self.path.len() < MAX_SEARCH_PATH {
            self.path.push(entry);
        }
    }

    /// A request to `key` at `endpoint` finished (answered or given up); `still_active` says
    /// whether its first timeout had not passed yet.
    pub fn request_done(&mut self, key: &Key, endpoint: &Endpoint, still_active: bool) {
        self.outstanding = self.outstanding.saturating_sub(1);
        if still_active {
            self.first_timeout(key, endpoint);
        }
    }

    /// The first timeout of a request to `key` at `endpoint` passed: it no longer holds back
    /// its path (it stays outstanding until answered or given up).
    pub fn first_timeout(&mut self, key: &Key, endpoint: &Endpoint) {
        self.active = self.active.saturating_sub(1);
        if let Some(c) = self.candidates.iter_mut().find(|c| c.key == *key && c.endpoint == *endpoint) {
            c.active = c.active.saturating_sub(1);
        }
    }

    /// The results to deliver at the end of a nearest/range search, nearest first.
    pub fn final_results(&self) -> Vec<SearchResult> {
        let mut fetched: Vec<&Candidate> = self
            .candidates
            .iter()
            .filter(|c| matches!(c.fetch, Fetch::Done(_)) && self.info.accepts(&self.target, &c.key))
            .collect();
        fetched.sort_by_key(|c| c.dist);
        fetched.into_iter().take(self.info.max_endpoints as usize).map(|c| self.result_of(c)).collect()
    }

    /// A result for a fetched candidate.
    pub fn result_of(&self, c: &Candidate) -> SearchResult {
        SearchResult {
            match_type: if c.key == self.target { MatchType::Exact } else { MatchType::Near },
            key: c.key,
            app_data: match &c.fetch {
                Fetch::Done(data) => data.clone(),
                _ => Vec::new(),
            },
            endpoint: c.endpoint,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::Ipv6Addr;

    const TARGET: Key = [0x80; 32];

    fn ep(i: u16) -> Endpoint {
        Endpoint { addr: Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, i), port: 4000 }
    }

    fn key(low: u8) -> Key {
        let mut k = TARGET;
        k[0] = low;
        k
    }

    fn search() -> Search {
        Search::new(SearchId(1), Purpose::App, TARGET, SearchInfo::exact(), Instant(10_000), ep(0))
    }

    #[test]
    fn a_key_is_a_candidate_at_max_endpoints_per_key_live_endpoints_and_no_more() {
        let mut s = search();
        for i in 1..=MAX_ENDPOINTS_PER_KEY as u16 {
            assert!(s.add_candidate(TARGET, ep(i)).is_some());
        }
        assert!(s.add_candidate(TARGET, ep(99)).is_none());
        // A liar among them no longer counts: the true holder gets in.
        s.distrust(ep(1));
        assert!(s.add_candidate(TARGET, ep(99)).is_some());
        // Nor is anything at a distrusted endpoint added again.
        assert!(s.add_candidate(key(3), ep(1)).is_none());
    }

    #[test]
    fn a_referrer_is_distrusted_after_max_failed_referrals_and_not_before() {
        let mut s = search();
        s.add_candidate(key(1), ep(1));
        for i in 0..MAX_FAILED_REFERRALS {
            s.add_referred(key(10 + i), ep(10 + u16::from(i)), ep(1)).unwrap();
        }
        for i in 0..MAX_FAILED_REFERRALS {
            assert!(!s.distrusted.contains(&ep(1)), "after {i} failed referrals");
            s.referral_failed(&key(10 + i), &ep(10 + u16::from(i)), false);
        }
        assert!(s.distrusted.contains(&ep(1)));
        assert!(s.add_referred(key(50), ep(50), ep(1)).is_none());
        assert!(s.candidates.iter().filter(|c| c.endpoint == ep(1)).all(|c| c.asked == Asked::Failed));
    }

    #[test]
    fn a_referral_to_a_liar_distrusts_the_referrer_at_once() {
        let mut s = search();
        s.add_candidate(key(1), ep(1));
        s.add_referred(TARGET, ep(2), ep(1)).unwrap();
        s.referral_failed(&TARGET, &ep(2), true);
        assert!(s.distrusted.contains(&ep(1)));
    }

    #[test]
    fn a_search_distrusts_at_most_max_distrusted_endpoints() {
        let mut s = search();
        for i in 0..=MAX_DISTRUSTED as u16 {
            s.distrust(ep(100 + i));
        }
        assert_eq!(s.distrusted.len(), MAX_DISTRUSTED);
        assert!(!s.distrusted.contains(&ep(100)));
    }

    #[test]
    fn an_exact_search_takes_max_dead_end_detours_after_its_path_ends_and_then_finishes() {
        let mut s = search();
        // The nearest node has answered (and may not be asked again); the others are farther.
        let best = s.add_candidate(key(0x7F), ep(1)).unwrap();
        s.candidates[best].asked = Asked::Yes;
        s.candidates[best].asks = MAX_ASKS_PER_NODE;
        for i in 0..2 * MAX_DEAD_END_DETOURS {
            s.add_candidate(key(i), ep(10 + u16::from(i)));
        }
        let mut lookups = 0;
        loop {
            match s.next_step() {
                Step::Lookup(i) => {
                    lookups += 1;
                    s.candidates[i].asked = Asked::Yes;
                    let (key, endpoint) = (s.candidates[i].key, s.candidates[i].endpoint);
                    s.request_done(&key, &endpoint, true);
                }
                Step::Finish => break,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(lookups, usize::from(MAX_DEAD_END_DETOURS));
    }

    #[test]
    fn a_search_runs_one_to_max_disjoint_paths_and_no_other_number() {
        assert_eq!(SearchSettings::new(0), Err(DrtError::InvalidArgument));
        assert_eq!(SearchSettings::new(1).map(|s| s.disjoint_paths()), Ok(1));
        assert_eq!(
            SearchSettings::new(MAX_DISJOINT_PATHS).map(|s| s.disjoint_paths()),
            Ok(MAX_DISJOINT_PATHS)
        );
        assert_eq!(SearchSettings::new(MAX_DISJOINT_PATHS + 1), Err(DrtError::InvalidArgument));
        assert_eq!(SearchSettings::default().disjoint_paths(), DEFAULT_DISJOINT_PATHS);
        const { assert!(2 * MAX_DISJOINT_PATHS as usize <= SEED_CANDIDATES) };
    }

    /// A search with `paths` paths seeded with eight candidates, farthest first.
    fn with_paths(paths: u8) -> Search {
        let mut s = search();
        s.paths = paths;
        for i in 0..SEED_CANDIDATES as u8 {
            s.add_candidate(key(0x10 + i), ep(u16::from(i) + 1));
        }
        s.assign_paths();
        s
    }

    #[test]
    fn the_starting_nodes_are_dealt_round_the_paths_nearest_first() {
        let s = with_paths(3);
        let mut by_distance: Vec<&Candidate> = s.candidates.iter().collect();
        by_distance.sort_by_key(|c| c.dist);
        let paths: Vec<u8> = by_distance.iter().map(|c| c.path).collect();
        assert_eq!(paths, [0, 1, 2, 0, 1, 2, 0, 1]);
    }

    #[test]
    fn each_path_sends_its_first_lookup_at_once_and_one_path_runs_one_hop_at_a_time() {
        for paths in 1..=MAX_DISJOINT_PATHS {
            let mut s = with_paths(paths);
            let mut asked = Vec::new();
            while let Step::Lookup(i) = s.next_step() {
                asked.push(s.candidates[i].path);
            }
            asked.sort();
            assert_eq!(asked, (0..paths).collect::<Vec<u8>>(), "{paths} paths");
        }
    }

    #[test]
    fn a_node_on_one_path_is_never_asked_on_another() {
        let mut s = with_paths(2);
        let (on_0, on_1) = (
            s.candidates.iter().find(|c| c.path == 0).unwrap().endpoint,
            s.candidates.iter().find(|c| c.path == 1).unwrap().endpoint,
        );
        // Path 1's node names a node path 0 already has: refused; a new node joins path 1.
        assert!(s.add_referred(key(0x70), on_0, on_1).is_none());
        let i = s.add_referred(key(0x71), ep(50), on_1).unwrap();
        assert_eq!(s.candidates[i].path, 1);
        // And path 0 may not have it now.
        assert!(s.add_referred(key(0x72), ep(50), on_0).is_none());
        // With one path, the same referrals are all taken.
        let mut one = with_paths(1);
        assert!(one.add_referred(key(0x70), on_0, on_1).is_some());
    }

    /// A key `d` past the target (so at distance `d` from it).
    fn at_distance(d: u16) -> Key {
        let mut k = TARGET;
        k[30..].copy_from_slice(&(0x8080 + d).to_be_bytes());
        k
    }

    /// A nearest search for as many keys as a search may ask for, routing only: every node
    /// it knows is near enough to be asked.
    fn nearest() -> Search {
        let info = SearchInfo::nearest(super::super::types::MAX_SEARCH_RESULTS);
        let mut s = Search::new(SearchId(2), Purpose::Maintenance, TARGET, info, Instant(10_000), ep(0));
        s.fetch_results = false;
        s
    }

    /// The candidate `i` answered its LOOKUP.
    fn answered(s: &mut Search, i: usize) {
        s.candidates[i].asked = Asked::Yes;
        let (key, endpoint) = (s.candidates[i].key, s.candidates[i].endpoint);
        s.request_done(&key, &endpoint, true);
    }

    #[test]
    fn a_search_keeps_max_search_candidates_and_a_nearer_node_takes_the_farthest_ones_place() {
        let mut s = search();
        for d in 1..=MAX_SEARCH_CANDIDATES as u16 {
            assert!(s.add_candidate(at_distance(100 + d), ep(d)).is_some(), "candidate {d}");
        }
        assert_eq!(s.candidates.len(), MAX_SEARCH_CANDIDATES);
        // One past: a farther node is not taken; a nearer one replaces the farthest.
        assert!(s.add_candidate(at_distance(1000), ep(1000)).is_none());
        assert!(s.add_candidate(at_distance(1), ep(1001)).is_some());
        assert_eq!(s.candidates.len(), MAX_SEARCH_CANDIDATES);
        assert!(!s.candidates.iter().any(|c| c.endpoint == ep(MAX_SEARCH_CANDIDATES as u16)));
        // A candidate with a request outstanding is never the one replaced.
        for c in &mut s.candidates {
            c.asked = Asked::Pending;
        }
        assert!(s.add_candidate(at_distance(0), ep(1002)).is_none());
        assert_eq!(s.candidates.len(), MAX_SEARCH_CANDIDATES);
    }

    #[test]
    fn a_search_records_max_search_path_nodes_and_updates_but_does_not_add_past_that() {
        let entry = |i: u16, flags: u32| PathEntry {
            endpoint: ep(i),
            flags,
            nearness: 0,
            latency: core::time::Duration::ZERO,
        };
        let mut s = search();
        for i in 1..=MAX_SEARCH_PATH as u16 {
            s.record_path(entry(i, 1));
        }
        assert_eq!(s.path.len(), MAX_SEARCH_PATH);
        s.record_path(entry(MAX_SEARCH_PATH as u16 + 1, 1));
        assert_eq!(s.path.len(), MAX_SEARCH_PATH);
        assert!(!s.path.iter().any(|p| p.endpoint == ep(MAX_SEARCH_PATH as u16 + 1)));
        // A node already on the path is still updated.
        s.record_path(entry(1, 2));
        assert_eq!(s.path[0].flags, 3);
    }

    #[test]
    fn a_search_has_max_search_in_flight_requests_outstanding_and_sends_the_next_when_one_is_answered() {
        let mut s = nearest();
        for d in 1..=2 * MAX_SEARCH_IN_FLIGHT as u16 {
            s.add_candidate(at_distance(d), ep(d));
        }
        let mut sent = Vec::new();
        for _ in 0..MAX_SEARCH_IN_FLIGHT {
            match s.next_step() {
                Step::Lookup(i) => sent.push(i),
                other => panic!("expected a LOOKUP, got {other:?}"),
            }
        }
        assert_eq!(s.next_step(), Step::Wait);
        answered(&mut s, sent[0]);
        assert!(matches!(s.next_step(), Step::Lookup(_)));
        assert_eq!(s.next_step(), Step::Wait);
        assert_eq!(s.outstanding, MAX_SEARCH_IN_FLIGHT);
    }

    #[test]
    fn a_search_sends_max_search_requests_in_all_and_then_finishes_with_nodes_left_to_ask() {
        let mut s = nearest();
        s.add_candidate(at_distance(1000), ep(1));
        let mut sent = 0;
        loop {
            match s.next_step() {
                Step::Lookup(i) => {
                    sent += 1;
                    answered(&mut s, i);
                    // Every answer names a nearer node.
                    s.add_candidate(at_distance(1000 - sent as u16), ep(1 + sent as u16));
                }
                Step::Finish => break,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(sent, MAX_SEARCH_REQUESTS);
        assert_eq!(s.requests, MAX_SEARCH_REQUESTS);
        assert!(s.candidates.iter().any(|c| c.asked == Asked::No));
    }

    #[test]
    fn a_node_is_asked_the_same_lookup_max_asks_per_node_times_as_the_flagged_path_grows() {
        let mut s = nearest();
        let node = s.add_candidate(at_distance(5), ep(1)).unwrap();
        let mut asks = 0;
        for hop in 0..=u16::from(MAX_ASKS_PER_NODE) {
            match s.next_step() {
                Step::Lookup(i) => {
                    assert_eq!(i, node);
                    asks += 1;
                    answered(&mut s, i);
                }
                Step::Finish => break,
                other => panic!("unexpected {other:?}"),
            }
            // Another node has seen the search: a new ask would flag it.
            s.visit(ep(100 + hop));
        }
        assert_eq!(asks, MAX_ASKS_PER_NODE);
        assert_eq!(s.candidates[node].asks, MAX_ASKS_PER_NODE);
        assert_eq!(s.next_step(), Step::Finish);
    }

    #[test]
    fn a_lookup_flags_this_node_and_the_nearest_visited_up_to_max_flagged_path() {
        let mut s = search();
        // At the edge: this node and MAX_FLAGGED_PATH - 1 visited nodes, all flagged.
        for i in 1..MAX_FLAGGED_PATH as u16 {
            s.add_candidate(at_distance(10 + i), ep(i));
            s.visit(ep(i));
        }
        let all: Vec<Endpoint> = (0..MAX_FLAGGED_PATH as u16).map(ep).collect();
        assert_eq!(s.flagged_path(), all);
        // One past: a farther visited node is left out...
        s.add_candidate(at_distance(500), ep(500));
        s.visit(ep(500));
        assert_eq!(s.flagged_path(), all);
        // ...and a nearer one goes in, in place of the farthest.
        s.add_candidate(at_distance(1), ep(600));
        s.visit(ep(600));
        let path = s.flagged_path();
        assert_eq!(path.len(), MAX_FLAGGED_PATH);
        assert_eq!((path[0], path[1]), (ep(0), ep(600)));
        assert!(!path.contains(&ep(MAX_FLAGGED_PATH as u16 - 1)));
    }

    #[test]
    fn a_search_remembers_twice_max_search_candidates_visited_endpoints() {
        let mut s = search();
        // This node is the first.
        for i in 1..2 * MAX_SEARCH_CANDIDATES as u16 {
            s.visit(ep(i));
        }
        assert_eq!(s.visited.len(), 2 * MAX_SEARCH_CANDIDATES);
        s.visit(ep(1000));
        assert_eq!(s.visited.len(), 2 * MAX_SEARCH_CANDIDATES);
        assert!(!s.visited.contains(&ep(1000)));
    }

    #[test]
    fn a_node_that_knew_nothing_closer_is_not_asked_again() {
        let mut s = search();
        let i = s.add_candidate(key(0x7F), ep(1)).unwrap();
        assert_eq!(s.next_step(), Step::Lookup(i));
        s.candidates[i].asked = Asked::Yes;
        s.candidates[i].exhausted = true;
        s.request_done(&key(0x7F), &ep(1), true);
        // The flagged path grows; an answered best node would be asked again, this one is not.
        s.visit(ep(9));
        assert_eq!(s.next_step(), Step::Finish);
    }
}
