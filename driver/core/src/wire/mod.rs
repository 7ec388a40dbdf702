//! The [MC-DRT] / [MS-PNRP] v4 datagram codec.
//!
//! * [`Datagram::decode`] parses a datagram into a typed [`Message`] that borrows from the input;
//!   any malformed input yields a [`DecodeError`] — never a panic, never an allocation.
//! * [`Datagram::encode`] writes into a caller buffer and returns the length.
//! * [`fragment`] splits AUTHORITY_BUFFERs into 1,188-byte fragments and reassembles them with
//!   bounded memory.
//!
//! Layout facts: `../shared/reference/p2p-api-and-protocols.md` §4 and [MC-DRT] §2.2.

mod error;
pub mod field;
pub mod fragment;
mod header;
mod message;
mod tlv;
mod types;

pub use error::{DecodeError, EncodeError};
pub use fragment::{FragmentError, Reassembled, Reassembler, SplitControls};
pub use header::{HEADER_IDENTIFIER, HEADER_LEN, Header, MessageType, ProtocolVersion};
pub use message::*;
pub use tlv::{FIELD_HEADER_LEN, FieldReader, RawField, padding_after};
pub use types::*;
