//! Handle values: each names the open that created it, a slot and a generation, so a stale
//! handle or another open's raw value never reaches someone else's object.

use peerdrt_abi::Handle;

/// Identifies an open (slot and generation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OpenId {
    /// Slot in the device's open table.
    pub slot: u16,
    /// Generation of the slot when the open was created.
    pub generation: u16,
}

impl OpenId {
    /// The 32-bit form carried in handles.
    pub fn to_bits(self) -> u32 {
        (u32::from(self.slot) << 16) | u32::from(self.generation)
    }
}

/// What a handle names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandleKind {
    /// HDRT.
    Instance = 1,
    /// HDRT_REGISTRATION_CONTEXT.
    Registration = 2,
    /// HDRT_SEARCH_CONTEXT.
    Search = 3,
    /// HGROUP.
    Group = 4,
}

/// Layout: open (32 bits) ‖ kind (4) ‖ slot (12) ‖ generation (16).
pub(crate) fn make(open: OpenId, kind: HandleKind, slot: u16, generation: u16) -> Handle {
    (u64::from(open.to_bits()) << 32)
        | (u64::from(kind as u8) << 28)
        | (u64::from(slot & 0x0FFF) << 16)
        | u64::from(generation)
}

/// Splits a handle of `open` of `kind` into its slot and generation.
pub(crate) fn split(handle: Handle, open: OpenId, kind: HandleKind) -> Option<(u16, u16)> {
    if (handle >> 32) as u32 != open.to_bits() || ((handle >> 28) & 0xF) as u8 != kind as u8 {
        return None;
    }
    Some((((handle >> 16) & 0x0FFF) as u16, handle as u16))
}

/// Most objects (instances, registrations, searches) one open can hold: the slot field's range.
pub const MAX_OBJECTS_PER_OPEN: usize = 0x1000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handle_resolves_only_in_its_open_and_as_its_kind() {
        let a = OpenId { slot: 1, generation: 7 };
        let b = OpenId { slot: 2, generation: 7 };
        let h = make(a, HandleKind::Search, 0x123, 0xBEEF);
        assert_eq!(split(h, a, HandleKind::Search), Some((0x123, 0xBEEF)));
        assert_eq!(split(h, b, HandleKind::Search), None);
        assert_eq!(split(h, a, HandleKind::Instance), None);
        assert_eq!(split(h, OpenId { slot: 1, generation: 8 }, HandleKind::Search), None);
    }
}
