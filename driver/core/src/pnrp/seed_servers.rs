//! The seed server list of Windows' PNRP policy: the REG_SZ value `SeedServer` under
//! `HKLM\Software\Policies\Microsoft\Peernet\Pnrp\IPv6-Global`, entries separated by `;`.
//!
//! A kernel driver cannot resolve DNS names, so only literal addresses are taken: `2001:db8::1`,
//! `[2001:db8::1]:3540`, `192.0.2.1`, `192.0.2.1:3540` (IPv4 becomes IPv4-mapped, a missing port
//! is [`super::DEFAULT_PORT`]). Host names (Microsoft's own seeds were
//! `pnrpv2.ipv6.microsoft.com`) and malformed entries are reported as skipped, so the caller can
//! log them, and never fail the whole list.

use alloc::vec::Vec;
use core::net::{Ipv4Addr, Ipv6Addr};

use crate::wire::Endpoint;

/// Most seeds taken from one list (the IOCTL ABI's MAX_SEEDS).
pub const MAX_SEED_SERVERS: usize = 16;
/// Longest list read, in bytes of text (a longer value is refused whole: it is not a policy a
/// person wrote).
pub const MAX_SEED_LIST_LEN: usize = 4096;

/// Why an entry was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// A host name: needs DNS, which the kernel does not have.
    HostName,
    /// Neither an address nor a host name, or a bad port.
    Malformed,
    /// The same endpoint again.
    Duplicate,
    /// Past [`MAX_SEED_SERVERS`].
    TooMany,
}

/// An entry that was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Skipped<'a> {
    /// The entry, trimmed.
    pub entry: &'a str,
    /// Why.
    pub reason: SkipReason,
}

/// A parsed list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SeedServers<'a> {
    /// The seeds, in list order, without duplicates; at most [`MAX_SEED_SERVERS`].
    pub seeds: Vec<Endpoint>,
    /// Entries not taken, in list order (bounded by the list's length).
    pub skipped: Vec<Skipped<'a>>,
}

/// The list as a whole could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeedListError {
    /// Longer than [`MAX_SEED_LIST_LEN`] bytes.
    TooLong,
}

impl core::fmt::Display for SeedListError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::TooLong => write!(f, "the seed server list is longer than {MAX_SEED_LIST_LEN} bytes"),
        }
    }
}

/// Parses a `;`-separated seed server list. Empty entries (`a;;b`, a trailing `;`) are ignored.
pub fn parse_seed_servers(list: &str) -> Result<SeedServers<'_>, SeedListError> {
    if list.len() > MAX_SEED_LIST_LEN {
        return Err(SeedListError::TooLong);
    }
    let mut out = SeedServers::default();
    for entry in list.split(';').map(str::trim).filter(|e| !e.is_empty()) {
        let reason = match parse_entry(entry) {
            Ok(endpoint) if out.seeds.contains(&endpoint) => SkipReason::Duplicate,
            Ok(_) if out.seeds.len() >= MAX_SEED_SERVERS => SkipReason::TooMany,
            Ok(endpoint) => {
                out.seeds.push(endpoint);
                continue;
            }
            Err(reason) => reason,
        };
        out.skipped.push(Skipped { entry, reason });
    }
    Ok(out)
}

/// One entry: an address literal with an optional port.
fn parse_entry(entry: &str) -> Result<Endpoint, SkipReason> {
    // `[v6]` or `[v6]:port`.
    if let Some(rest) = entry.strip_prefix('[') {
        let (addr, after) = rest.split_once(']').ok_or(SkipReason::Malformed)?;
        let addr: Ipv6Addr = addr.parse().map_err(|_| SkipReason::Malformed)?;
        let port = match after {
            "" => super::DEFAULT_PORT,
            _ => port(after.strip_prefix(':').ok_or(SkipReason::Malformed)?)?,
        };
        return Ok(Endpoint { addr, port });
    }
    // A bare IPv6 literal (two or more colons; no port without brackets).
    if entry.matches(':').count() >= 2 {
        let addr: Ipv6Addr = entry.parse().map_err(|_| SkipReason::Malformed)?;
        return Ok(Endpoint { addr, port: super::DEFAULT_PORT });
    }
    let (host, port) = match entry.split_once(':') {
        Some((host, p)) => (host, port(p)?),
        None => (entry, super::DEFAULT_PORT),
    };
    if let Ok(v4) = host.parse::<Ipv4Addr>() {
        return Ok(Endpoint { addr: v4.to_ipv6_mapped(), port });
    }
    if is_host_name(host) { Err(SkipReason::HostName) } else { Err(SkipReason::Malformed) }
}

/// A UDP port, 1..=65535, decimal.
fn port(text: &str) -> Result<u16, SkipReason> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SkipReason::Malformed);
    }
    match text.parse::<u16>() {
        Ok(0) | Err(_) => Err(SkipReason::Malformed),
        Ok(p) => Ok(p),
    }
}

/// RFC 1123 host name shape: dot-separated labels of letters, digits and hyphens, at most 253
/// bytes, not all digits (that would be a broken IPv4 literal).
fn is_host_name(host: &str) -> bool {
    host.len() <= 253
        && !host.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use alloc::format;
    use alloc::string::String;

    use super::*;

    fn v4(a: [u8; 4], port: u16) -> Endpoint {
        Endpoint { addr: Ipv4Addr::from(a).to_ipv6_mapped(), port }
    }

    #[test]
    fn literal_addresses_with_and_without_ports_are_taken_in_order() {
        let list = "192.0.2.1; 192.0.2.2:4000 ;2001:db8::1;[2001:db8::2];[2001:db8::3]:5000";
        let parsed = parse_seed_servers(list).unwrap();
        let v6 = |s: &str| s.parse::<Ipv6Addr>().unwrap();
        assert_eq!(
            parsed.seeds,
            [
                v4([192, 0, 2, 1], super::super::DEFAULT_PORT),
                v4([192, 0, 2, 2], 4000),
                Endpoint { addr: v6("2001:db8::1"), port: super::super::DEFAULT_PORT },
                Endpoint { addr: v6("2001:db8::2"), port: super::super::DEFAULT_PORT },
                Endpoint { addr: v6("2001:db8::3"), port: 5000 },
            ]
        );
        assert!(parsed.skipped.is_empty());
    }

    #[test]
    fn host_names_are_skipped_as_needing_dns() {
        let parsed =
            parse_seed_servers("pnrpv2.ipv6.microsoft.com;seed.example.net:3540;127.0.0.1:9").unwrap();
        assert_eq!(parsed.seeds, [v4([127, 0, 0, 1], 9)]);
        assert_eq!(
            parsed.skipped,
            [
                Skipped { entry: "pnrpv2.ipv6.microsoft.com", reason: SkipReason::HostName },
                Skipped { entry: "seed.example.net:3540", reason: SkipReason::HostName },
            ]
        );
    }

    #[test]
    fn malformed_entries_and_bad_ports_are_skipped_and_the_rest_kept() {
        let bad = [
            "192.0.2.1:0",
            "192.0.2.1:65536",
            "192.0.2.1:",
            "192.0.2.1:+5",
            "[2001:db8::1",
            "[2001:db8::1]5",
            "[not-v6]:1",
            "2001:db8::zz",
            "999.0.0.1",
            "bad_name!",
            "-lead.example",
        ];
        let list: String = bad.iter().map(|b| format!("{b};")).collect::<String>() + "10.0.0.1:65535";
        let parsed = parse_seed_servers(&list).unwrap();
        assert_eq!(parsed.seeds, [v4([10, 0, 0, 1], 65535)]);
        assert_eq!(parsed.skipped.len(), bad.len());
        for (s, b) in parsed.skipped.iter().zip(bad) {
            assert_eq!((s.entry, s.reason), (b, SkipReason::Malformed));
        }
    }

    #[test]
    fn empty_entries_are_ignored_and_duplicates_skipped() {
        let parsed = parse_seed_servers(" ;;127.0.0.1:5; ;127.0.0.1:5;").unwrap();
        assert_eq!(parsed.seeds, [v4([127, 0, 0, 1], 5)]);
        assert_eq!(parsed.skipped, [Skipped { entry: "127.0.0.1:5", reason: SkipReason::Duplicate }]);
        assert_eq!(parse_seed_servers("").unwrap(), SeedServers::default());
    }

    #[test]
    fn at_most_max_seed_servers_are_taken() {
        let list =
            |n: usize| (1..=n).map(|i| format!("10.0.0.1:{i}")).collect::<alloc::vec::Vec<_>>().join(";");
        let at_text = list(MAX_SEED_SERVERS);
        let at = parse_seed_servers(&at_text).unwrap();
        assert_eq!(at.seeds.len(), MAX_SEED_SERVERS);
        assert!(at.skipped.is_empty());
        let past_text = list(MAX_SEED_SERVERS + 1);
        let past = parse_seed_servers(&past_text).unwrap();
        assert_eq!(past.seeds, at.seeds);
        assert_eq!(past.skipped.len(), 1);
        assert_eq!(past.skipped[0].reason, SkipReason::TooMany);
    }

    #[test]
    fn a_list_longer_than_max_seed_list_len_is_refused_whole() {
        let mut at = String::from("127.0.0.1:7;");
        while at.len() < MAX_SEED_LIST_LEN {
            at.push(';');
        }
        assert_eq!(parse_seed_servers(&at).unwrap().seeds, [v4([127, 0, 0, 1], 7)]);
        at.push(';');
        assert_eq!(parse_seed_servers(&at), Err(SeedListError::TooLong));
    }
}
