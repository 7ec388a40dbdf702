//! Peer host names: a peer name as a DNS name under `pnrp.net`, for `getaddrinfo`
//! (PeerNameToPeerHostName / PeerHostNameToPeerName).
//!
//! `<authority>.<classifier>` becomes `<classifier>.p<authority>.pnrp.net`. Only classifiers
//! that are one DNS label (1..=63 letters, digits and inner hyphens) convert; Windows also
//! encodes other classifiers, which this shim does not (PEER_E_CANNOT_CONVERT_PEER_NAME).

use peerdrt_core::pnrp::PeerName;

use super::hresult::{PEER_E_CANNOT_CONVERT_PEER_NAME, PEER_E_INVALID_PEER_HOST_NAME};
use crate::hresult::{Error, Result};

/// The DNS suffix of peer host names.
pub const SUFFIX: &str = ".pnrp.net";
/// Longest DNS label.
pub const MAX_LABEL: usize = 63;

fn is_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_LABEL
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// PeerNameToPeerHostName.
pub fn to_host_name(peer_name: &str) -> Result<String> {
    let name = PeerName::parse(peer_name).map_err(|_| Error(PEER_E_CANNOT_CONVERT_PEER_NAME))?;
    if !is_label(&name.classifier) {
        return Err(Error(PEER_E_CANNOT_CONVERT_PEER_NAME));
    }
    let text = name.to_string();
    let (authority, classifier) = text.split_once('.').ok_or(Error(PEER_E_CANNOT_CONVERT_PEER_NAME))?;
    Ok(format!("{classifier}.p{authority}{SUFFIX}"))
}

/// PeerHostNameToPeerName (a trailing root dot is accepted; the suffix is case-insensitive).
pub fn to_peer_name(host_name: &str) -> Result<String> {
    let bad = || Error(PEER_E_INVALID_PEER_HOST_NAME);
    let host = host_name.strip_suffix('.').unwrap_or(host_name);
    if host.len() <= SUFFIX.len() || !host[host.len() - SUFFIX.len()..].eq_ignore_ascii_case(SUFFIX) {
        return Err(bad());
    }
    let head = &host[..host.len() - SUFFIX.len()];
    let (classifier, authority) = head.split_once('.').ok_or_else(bad)?;
    let authority = authority.strip_prefix('p').ok_or_else(bad)?;
    if !is_label(classifier) {
        return Err(bad());
    }
    let text = format!("{authority}.{classifier}");
    PeerName::parse(&text).map_err(|_| bad())?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_host_names_convert_both_ways() {
        assert_eq!(to_host_name("0.demo").unwrap(), "demo.p0.pnrp.net");
        assert_eq!(to_peer_name("demo.p0.pnrp.net").unwrap(), "0.demo");
        assert_eq!(to_peer_name("Demo.p0.PNRP.NET.").unwrap(), "0.Demo");
        let secured = format!("{}.Chat-1", "ab".repeat(20));
        let host = to_host_name(&secured).unwrap();
        assert_eq!(host, format!("Chat-1.p{}.pnrp.net", "ab".repeat(20)));
        assert_eq!(to_peer_name(&host).unwrap(), secured);
    }

    #[test]
    fn what_does_not_fit_dns_is_refused_with_its_own_hresult() {
        let long = format!("0.{}", "a".repeat(MAX_LABEL + 1));
        assert!(to_host_name(&format!("0.{}", "a".repeat(MAX_LABEL))).is_ok());
        for bad in ["0.a.b", "0.a_b", "0.-a", long.as_str(), "nodot"] {
            assert_eq!(to_host_name(bad), Err(Error(PEER_E_CANNOT_CONVERT_PEER_NAME)), "{bad}");
        }
        for bad in
            ["demo.pnrp.net", "demo.x0.pnrp.net", "demo.p0.example.com", "a.b.p0.pnrp.net", ".pnrp.net"]
        {
            assert_eq!(to_peer_name(bad), Err(Error(PEER_E_INVALID_PEER_HOST_NAME)), "{bad}");
        }
    }
}
