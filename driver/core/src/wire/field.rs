//! Field IDs of PNRP v4 / [MC-DRT] (big-endian on the wire).
//!
//! DRT renames the PNRP ones (PNRP_ID → DRT key, CERT_CHAIN → CREDENTIAL) but keeps the values.

/// PNRP_HEADER / DRT_HEADER.
pub const HEADER: u16 = 0x0010;
/// PNRP_HEADER_ACKED: the message ID being answered.
pub const HEADER_ACKED: u16 = 0x0018;
/// PNRP_ID / DRT key, as an element of an ID array.
pub const KEY: u16 = 0x0030;
/// TARGET_PNRP_ID / target key of a LOOKUP.
pub const TARGET_KEY: u16 = 0x0038;
/// VALIDATE_PNRP_ID / validate key.
pub const VALIDATE_KEY: u16 = 0x0039;
/// FLAGS_FIELD.
pub const FLAGS: u16 = 0x0040;
/// FLOOD_CONTROLS.
pub const FLOOD_CONTROLS: u16 = 0x0043;
/// SOLICIT_CONTROLS.
pub const SOLICIT_CONTROLS: u16 = 0x0044;
/// LOOKUP_CONTROLS.
pub const LOOKUP_CONTROLS: u16 = 0x0045;
/// EXTENDED_PAYLOAD.
pub const EXTENDED_PAYLOAD: u16 = 0x005A;
/// PNRP_ID_ARRAY / key array.
pub const KEY_ARRAY: u16 = 0x0060;
/// CERT_CHAIN (PNRP) / CREDENTIAL (DRT).
pub const CREDENTIAL: u16 = 0x0080;
/// WCHAR.
pub const WCHAR: u16 = 0x0084;
/// CLASSIFIER.
pub const CLASSIFIER: u16 = 0x0085;
/// HASHED_NONCE.
pub const HASHED_NONCE: u16 = 0x0092;
/// NONCE.
pub const NONCE: u16 = 0x0093;
/// SPLIT_CONTROLS.
pub const SPLIT_CONTROLS: u16 = 0x0098;
/// ROUTING_ENTRY.
pub const ROUTE_ENTRY: u16 = 0x009A;
/// VALIDATE_CPA (PNRP) / the secured address payload (DRT).
pub const VALIDATE_CPA: u16 = 0x009B;
/// REVOKE_CPA.
pub const REVOKE_CPA: u16 = 0x009C;
/// IPV6_ENDPOINT, as an element of an endpoint array.
pub const IPV6_ENDPOINT: u16 = 0x009D;
/// IPV6_ENDPOINT_ARRAY.
pub const IPV6_ENDPOINT_ARRAY: u16 = 0x009E;
/// KEYTOKEN (DRT, CONFIDENTIALPAYLOAD).
pub const KEYTOKEN: u16 = 0x009F;
/// ENCRYPTED_ENDPOINT_ARRAY (DRT, CONFIDENTIALPAYLOAD).
pub const ENCRYPTED_ENDPOINT_ARRAY: u16 = 0x00A0;
/// ENCRYPTED_ROUTING_ENTRY (DRT, CONFIDENTIALPAYLOAD).
pub const ENCRYPTED_ROUTE_ENTRY: u16 = 0x00A1;
/// ENCRYPTED_CPA (DRT, CONFIDENTIALPAYLOAD).
pub const ENCRYPTED_CPA: u16 = 0x00A2;
/// ENCRYPTED_CLASSIFIER (DRT, CONFIDENTIALPAYLOAD).
pub const ENCRYPTED_CLASSIFIER: u16 = 0x00A3;
/// ENCRYPTED_PAYLOAD (DRT, CONFIDENTIALPAYLOAD).
pub const ENCRYPTED_PAYLOAD: u16 = 0x00A4;
/// SIGNATURE (DRT membership modes).
pub const SIGNATURE: u16 = 0x00A5;
/// KEY_IDENTIFIER (DRT membership modes).
pub const KEY_IDENTIFIER: u16 = 0x00A6;
