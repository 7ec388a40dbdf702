//! PEER_RECORD as an application hands it to PeerGroupAddRecord / PeerGroupUpdateRecord: the
//! rules applied in user mode before the record goes to the device.
//!
//! The caller sets `dwSize`, `type`, `ftExpiration` (in peer time), optionally `pwzAttributes`,
//! `data` and PEER_RECORD_FLAG_AUTOREFRESH. `id`, `pwzCreatorId`, `pwzModifiedById`,
//! `ftCreation`, `ftLastModified` and `securityData` are ignored: the engine sets them.

use peerdrt_abi::group::{MAX_ATTRIBUTES_LEN, MAX_DATA_LEN, RecordFields};
use peerdrt_core::group::limits::MAX_RECORD_SIZE;

use super::hresult::{E_INVALIDARG, E_POINTER, PEER_E_INVALID_ATTRIBUTES, PEER_E_MAX_RECORD_SIZE_EXCEEDED};
use super::types::{GUID, PEER_RECORD, PEER_RECORD_FLAG_AUTOREFRESH};

/// The caller-set fields of a PEER_RECORD, copied out of the caller's memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordInput {
    /// type, in wire order.
    pub record_type: [u8; 16],
    /// ftExpiration (peer time).
    pub expiration: u64,
    /// PEER_RECORD_FLAG_AUTOREFRESH or 0.
    pub flags: u32,
    /// pwzAttributes as UTF-8.
    pub attributes: String,
    /// data.
    pub data: Vec<u8>,
}

impl RecordInput {
    /// The ABI form.
    pub fn fields(&self) -> RecordFields<'_> {
        RecordFields {
            record_type: self.record_type,
            expiration: self.expiration,
            flags: self.flags,
            attributes: self.attributes.as_bytes(),
            data: &self.data,
        }
    }
}

/// Reads and checks the caller-set fields of `record`.
///
/// Errors: E_POINTER for a null record; E_INVALIDARG for a `dwSize` smaller than PEER_RECORD,
/// a null type, a zero expiration or data with a null pointer; PEER_E_MAX_RECORD_SIZE_EXCEEDED
/// for data and attributes over the record size limit; PEER_E_INVALID_ATTRIBUTES for attributes
/// that are not valid UTF-16. (The attribute schema itself is checked by the engine.)
///
/// # Safety
/// `record` must be null or point to a readable PEER_RECORD whose `pwzAttributes` is null or a
/// NUL-terminated UTF-16 string and whose `data.pbData` is null or points to `data.cbData`
/// readable bytes.
pub unsafe fn read_record(record: *const PEER_RECORD) -> Result<RecordInput, u32> {
    if record.is_null() {
        return Err(E_POINTER);
    }
    // SAFETY: non-null and readable per the caller's contract.
    let record = unsafe { &*record };
    if (record.dwSize as usize) < size_of::<PEER_RECORD>() {
        return Err(E_INVALIDARG);
    }
    if record.r#type == GUID::default() || record.ftExpiration.to_u64() == 0 {
        return Err(E_INVALIDARG);
    }
    let data_len = record.data.cbData as usize;
    if data_len > MAX_DATA_LEN.min(MAX_RECORD_SIZE) {
        return Err(PEER_E_MAX_RECORD_SIZE_EXCEEDED);
    }
    let data = if data_len == 0 {
        Vec::new()
    } else if record.data.pbData.is_null() {
        return Err(E_INVALIDARG);
    } else {
        // SAFETY: pbData points to cbData readable bytes per the caller's contract.
        unsafe { std::slice::from_raw_parts(record.data.pbData, data_len) }.to_vec()
    };
    // SAFETY: pwzAttributes is null or a NUL-terminated UTF-16 string per the caller's contract.
    let attributes = unsafe { read_wide(record.pwzAttributes, MAX_ATTRIBUTES_LEN) }?;
    if data.len() + attributes.len() > MAX_RECORD_SIZE {
        return Err(PEER_E_MAX_RECORD_SIZE_EXCEEDED);
    }
    Ok(RecordInput {
        record_type: record.r#type.to_wire(),
        expiration: record.ftExpiration.to_u64(),
        flags: record.dwFlags & PEER_RECORD_FLAG_AUTOREFRESH,
        attributes,
        data,
    })
}

/// A NUL-terminated UTF-16 string as UTF-8, reading at most `max` units.
///
/// # Safety
/// `text` must be null or point to a NUL-terminated UTF-16 string.
unsafe fn read_wide(text: *const u16, max: usize) -> Result<String, u32> {
    if text.is_null() {
        return Ok(String::new());
    }
    let mut units = Vec::new();
    loop {
        // SAFETY: the string is NUL-terminated and we stop at the NUL, so every unit read is
        // inside it.
        let unit = unsafe { *text.add(units.len()) };
        if unit == 0 {
            break;
        }
        if units.len() == max {
            return Err(PEER_E_INVALID_ATTRIBUTES);
        }
        units.push(unit);
    }
    String::from_utf16(&units).map_err(|_| PEER_E_INVALID_ATTRIBUTES)
}

#[cfg(test)]
mod tests {
    use std::ptr;

    use super::*;
    use crate::group::types::{FILETIME, PEER_DATA};

    fn wide(text: &str) -> Vec<u16> {
        text.encode_utf16().chain([0]).collect()
    }

    fn record(attributes: *mut u16, data: &mut [u8]) -> PEER_RECORD {
        PEER_RECORD {
            dwSize: size_of::<PEER_RECORD>() as u32,
            r#type: GUID { Data1: 0x1234_5678, Data2: 1, Data3: 2, Data4: [3; 8] },
            id: GUID::default(),
            dwVersion: 99,
            dwFlags: PEER_RECORD_FLAG_AUTOREFRESH | 0x80,
            pwzCreatorId: ptr::null_mut(),
            pwzModifiedById: ptr::null_mut(),
            pwzAttributes: attributes,
            ftCreation: FILETIME::default(),
            ftExpiration: FILETIME::from_u64(133_000_000_000_000_000),
            ftLastModified: FILETIME::default(),
            securityData: PEER_DATA { cbData: 0, pbData: ptr::null_mut() },
            data: PEER_DATA { cbData: data.len() as u32, pbData: data.as_mut_ptr() },
        }
    }

    #[test]
    fn the_caller_set_fields_are_read_and_the_rest_ignored() {
        let mut attributes = wide(r#"<attributes><attribute name="n" type="int">1</attribute></attributes>"#);
        let mut data = *b"hello";
        let r = record(attributes.as_mut_ptr(), &mut data);
        // SAFETY: every pointer in `r` is valid for the test's duration.
        let input = unsafe { read_record(&r) }.unwrap();
        assert_eq!(input.record_type, [0x12, 0x34, 0x56, 0x78, 0, 1, 0, 2, 3, 3, 3, 3, 3, 3, 3, 3]);
        assert_eq!(input.flags, PEER_RECORD_FLAG_AUTOREFRESH, "unknown flags dropped");
        assert_eq!(input.data, b"hello");
        assert!(input.attributes.starts_with("<attributes>"));
    }

    #[test]
    fn missing_required_fields_and_bad_sizes_are_refused() {
        let mut data = *b"x";
        // SAFETY (all calls below): the records' pointers are valid or null.
        assert_eq!(unsafe { read_record(ptr::null()) }, Err(E_POINTER));
        let mut r = record(ptr::null_mut(), &mut data);
        r.dwSize -= 1;
        assert_eq!(unsafe { read_record(&r) }, Err(E_INVALIDARG));
        let mut r = record(ptr::null_mut(), &mut data);
        r.r#type = GUID::default();
        assert_eq!(unsafe { read_record(&r) }, Err(E_INVALIDARG));
        let mut r = record(ptr::null_mut(), &mut data);
        r.ftExpiration = FILETIME::default();
        assert_eq!(unsafe { read_record(&r) }, Err(E_INVALIDARG));
        let mut r = record(ptr::null_mut(), &mut data);
        r.data.pbData = ptr::null_mut();
        assert_eq!(unsafe { read_record(&r) }, Err(E_INVALIDARG));
    }

    #[test]
    fn size_limits_hold_at_their_edges() {
        let mut at = vec![0u8; MAX_RECORD_SIZE];
        let r = record(ptr::null_mut(), &mut at);
        // SAFETY: valid pointers.
        assert!(unsafe { read_record(&r) }.is_ok());
        let mut past = vec![0u8; MAX_RECORD_SIZE + 1];
        let r = record(ptr::null_mut(), &mut past);
        // SAFETY: valid pointers.
        assert_eq!(unsafe { read_record(&r) }, Err(PEER_E_MAX_RECORD_SIZE_EXCEEDED));

        let mut long = vec![u16::from(b'a'); MAX_ATTRIBUTES_LEN + 1];
        long.push(0);
        let r = record(long.as_mut_ptr(), &mut []);
        // SAFETY: valid pointers.
        assert_eq!(unsafe { read_record(&r) }, Err(PEER_E_INVALID_ATTRIBUTES));
        let mut unpaired = vec![0xd800u16, 0];
        let r = record(unpaired.as_mut_ptr(), &mut []);
        // SAFETY: valid pointers.
        assert_eq!(unsafe { read_record(&r) }, Err(PEER_E_INVALID_ATTRIBUTES));
    }
}
