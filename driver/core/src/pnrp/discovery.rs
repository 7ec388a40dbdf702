//! Multicast bootstrap of link-local clouds: the SSDP exchange [MS-PNRP] §3.1.4.2 uses when no
//! seed server is configured. A node sends `M-SEARCH` to `[FF02::C]:1900` with the search target
//! `urn:Microsoft Windows Peer Name Resolution Protocol: V4:IPV6:LinkLocal`; nodes of that cloud
//! answer it with the UDP port their cloud instance listens on, and the searcher uses the
//! answers (source address, that port) as its seeds.
//!
//! Messages are short HTTP-over-UDP texts; parsing is bounded ([`MAX_MESSAGE`],
//! [`MAX_HEADERS`]) and never panics.

use alloc::format;
use alloc::vec::Vec;
use core::net::Ipv6Addr;

/// The SSDP port.
pub const SSDP_PORT: u16 = 1900;
/// The link-local SSDP multicast group.
pub const SSDP_GROUP: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0xc);
/// The search target of PNRP's link-local clouds.
pub const LINK_LOCAL_TARGET: &str = "urn:Microsoft Windows Peer Name Resolution Protocol: V4:IPV6:LinkLocal";
/// The search target of the global cloud.
pub const GLOBAL_TARGET: &str = "urn:Microsoft Windows Peer Name Resolution Protocol: V4:IPV6:Global";
/// The header carrying the answering node's cloud port.
pub const PORT_HEADER: &str = "X-PEERDRT-PNRP-PORT";
/// Longest message handled.
pub const MAX_MESSAGE: usize = 1024;
/// Most header lines read.
pub const MAX_HEADERS: usize = 16;

/// A message of the exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message<'a> {
    /// `M-SEARCH` for a target.
    Search {
        /// ST.
        target: &'a str,
    },
    /// An answer: the target and the answering node's cloud port.
    Answer {
        /// ST.
        target: &'a str,
        /// Its cloud's UDP port.
        port: u16,
    },
}

/// Why bytes are not a message of the exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiscoveryError {
    /// Longer than [`MAX_MESSAGE`], or more than [`MAX_HEADERS`] headers.
    TooLarge,
    /// Not UTF-8 text, or no blank line ending the headers.
    Malformed,
    /// Another SSDP message (NOTIFY, a search without ST, an answer without the port).
    NotPnrp,
}

impl Message<'_> {
    /// Encodes the message.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Self::Search { target } => format!(
                "M-SEARCH * HTTP/1.1\r\nHOST: [FF02::C]:1900\r\nMAN: \"ssdp:discover\"\r\nMX: 1\r\nST: {target}\r\n\r\n"
            ),
            Self::Answer { target, port } => {
                format!("HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=60\r\nEXT:\r\nST: {target}\r\n{PORT_HEADER}: {port}\r\n\r\n")
            }
        }
        .into_bytes()
    }

    /// Decodes a datagram.
    pub fn decode(bytes: &[u8]) -> Result<Message<'_>, DiscoveryError> {
        if bytes.len() > MAX_MESSAGE {
            return Err(DiscoveryError::TooLarge);
        }
        let text = core::str::from_utf8(bytes).map_err(|_| DiscoveryError::Malformed)?;
        let (head, _) = text.split_once("\r\n\r\n").ok_or(DiscoveryError::Malformed)?;
        let mut lines = head.split("\r\n");
        let start = lines.next().ok_or(DiscoveryError::Malformed)?;
        let (mut target, mut port) = (None, None);
        for (i, line) in lines.enumerate() {
            if i >= MAX_HEADERS {
                return Err(DiscoveryError::TooLarge);
            }
            let Some((name, value)) = line.split_once(':') else { return Err(DiscoveryError::Malformed) };
            let value = value.trim();
            if name.trim().eq_ignore_ascii_case("ST") {
                target = Some(value);
            } else if name.trim().eq_ignore_ascii_case(PORT_HEADER) {
                port = value.parse::<u16>().ok().filter(|p| *p >= 1024);
            }
        }
        let target = target.ok_or(DiscoveryError::NotPnrp)?;
        if start.starts_with("M-SEARCH ") {
            Ok(Message::Search { target })
        } else if start.starts_with("HTTP/1.1 200") {
            Ok(Message::Answer { target, port: port.ok_or(DiscoveryError::NotPnrp)? })
        } else {
            Err(DiscoveryError::NotPnrp)
        }
    }
}

/// What a node answers to a datagram, given the clouds it runs (target, port): an answer to a
/// search for one of them, nothing to anything else.
pub fn answer_to(bytes: &[u8], clouds: &[(&str, u16)]) -> Option<Vec<u8>> {
    match Message::decode(bytes) {
        Ok(Message::Search { target }) => {
            let (t, port) = clouds.iter().find(|(t, _)| *t == target)?;
            Some(Message::Answer { target: t, port: *port }.encode())
        }
        _ => None,
    }
}

/// The cloud port in an answer to a search for `target`.
pub fn port_in_answer(bytes: &[u8], target: &str) -> Option<u16> {
    match Message::decode(bytes) {
        Ok(Message::Answer { target: t, port }) if t == target => Some(port),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn a_search_is_answered_with_the_cloud_port() {
        let search = Message::Search { target: LINK_LOCAL_TARGET }.encode();
        let text = core::str::from_utf8(&search).unwrap();
        assert!(text.starts_with("M-SEARCH * HTTP/1.1\r\n"));
        assert!(
            text.contains("ST: urn:Microsoft Windows Peer Name Resolution Protocol: V4:IPV6:LinkLocal\r\n")
        );
        let answer = answer_to(&search, &[(GLOBAL_TARGET, 3540), (LINK_LOCAL_TARGET, 3541)]).unwrap();
        assert_eq!(port_in_answer(&answer, LINK_LOCAL_TARGET), Some(3541));
        assert_eq!(port_in_answer(&answer, GLOBAL_TARGET), None, "an answer for another cloud");
        assert_eq!(answer_to(&search, &[(GLOBAL_TARGET, 3540)]), None, "no such cloud here");
        assert_eq!(answer_to(&answer, &[(LINK_LOCAL_TARGET, 3541)]), None, "answers are not answered");
    }

    #[test]
    fn other_ssdp_traffic_and_bad_bytes_get_typed_errors() {
        let notify =
            b"NOTIFY * HTTP/1.1\r\nHOST: [FF02::C]:1900\r\nNT: upnp:rootdevice\r\nNTS: ssdp:alive\r\n\r\n";
        assert_eq!(Message::decode(notify), Err(DiscoveryError::NotPnrp));
        let no_port = b"HTTP/1.1 200 OK\r\nST: x\r\n\r\n";
        assert_eq!(Message::decode(no_port), Err(DiscoveryError::NotPnrp));
        let low_port = b"HTTP/1.1 200 OK\r\nST: x\r\nX-PEERDRT-PNRP-PORT: 80\r\n\r\n";
        assert_eq!(Message::decode(low_port), Err(DiscoveryError::NotPnrp));
        assert_eq!(Message::decode(b"M-SEARCH * HTTP/1.1\r\nST: x"), Err(DiscoveryError::Malformed));
        assert_eq!(Message::decode(&[0xFF, 0xFE]), Err(DiscoveryError::Malformed));
        assert_eq!(
            Message::decode(b"M-SEARCH * HTTP/1.1\r\nbad line\r\n\r\n"),
            Err(DiscoveryError::Malformed)
        );
    }

    #[test]
    fn size_and_header_limits_hold_at_and_past_their_edges() {
        let mut at = vec![b'M'; MAX_MESSAGE];
        at[..9].copy_from_slice(b"M-SEARCH ");
        assert_ne!(Message::decode(&at), Err(DiscoveryError::TooLarge));
        let past = vec![b'x'; MAX_MESSAGE + 1];
        assert_eq!(Message::decode(&past), Err(DiscoveryError::TooLarge));
        let headers = |n: usize| {
            let mut t = alloc::string::String::from("M-SEARCH * HTTP/1.1\r\nST: x\r\n");
            for i in 1..n {
                t.push_str(&format!("H{i}: v\r\n"));
            }
            t.push_str("\r\n");
            t
        };
        assert_eq!(Message::decode(headers(MAX_HEADERS).as_bytes()), Ok(Message::Search { target: "x" }));
        assert_eq!(Message::decode(headers(MAX_HEADERS + 1).as_bytes()), Err(DiscoveryError::TooLarge));
    }
}
