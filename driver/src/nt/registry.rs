//! Reading configuration values from the registry (PASSIVE_LEVEL only: the Zw registry routines
//! and the paged key objects they touch require it).

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use super::sys;
use super::utf16;

/// The service key's `Parameters` subkey, appended to DriverEntry's RegistryPath.
const PARAMETERS: [u16; 11] = utf16("\\Parameters");
/// KEY_VALUE_PARTIAL_INFORMATION's header: TitleIndex, Type, DataLength.
const PARTIAL_HEADER: usize = 12;

/// A value's type and data.
pub struct Value {
    /// REG_SZ, REG_DWORD, ...
    pub kind: u32,
    /// The data, exactly DataLength bytes.
    pub data: Vec<u8>,
}

impl Value {
    /// REG_SZ / REG_EXPAND_SZ data as text, up to the first NUL (UTF-16; unpaired surrogates
    /// become U+FFFD).
    pub fn text(&self) -> String {
        let units =
            self.data.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).take_while(|&u| u != 0);
        char::decode_utf16(units).map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER)).collect()
    }

    /// REG_DWORD data.
    pub fn dword(&self) -> Option<u32> {
        (self.kind == sys::REG_DWORD && self.data.len() == 4)
            .then(|| u32::from_le_bytes([self.data[0], self.data[1], self.data[2], self.data[3]]))
    }
}

/// `RegistryPath\Parameters` (RegistryPath as DriverEntry got it), or None for a null path.
///
/// # Safety
/// `registry_path` is null or a valid counted string.
pub unsafe fn parameters_path(registry_path: *const sys::UNICODE_STRING) -> Option<Vec<u16>> {
    if registry_path.is_null() {
        return None;
    }
    // SAFETY: a valid counted string (caller).
    let base = unsafe {
        let r = &*registry_path;
        if r.Buffer.is_null() {
            return None;
        }
        core::slice::from_raw_parts(r.Buffer, usize::from(r.Length) / 2)
    };
    let mut path = Vec::with_capacity(base.len() + PARAMETERS.len());
    path.extend_from_slice(base);
    path.extend_from_slice(&PARAMETERS);
    Some(path)
}

/// The value `name` of the key at the absolute kernel path `key` (`\Registry\Machine\...`), with
/// at most `max_data` bytes of data. The NTSTATUS of the failing call otherwise
/// (STATUS_OBJECT_NAME_NOT_FOUND for a missing key or value, STATUS_BUFFER_OVERFLOW for a longer
/// value, STATUS_INVALID_PARAMETER for a name longer than a counted string holds). PASSIVE_LEVEL.
pub fn read_value(key: &[u16], name: &[u16], max_data: usize) -> Result<Value, sys::NTSTATUS> {
    let mut path: Vec<u16> = key.to_vec();
    let mut value_name: Vec<u16> = name.to_vec();
    let counted = |s: &mut Vec<u16>| -> Result<sys::UNICODE_STRING, sys::NTSTATUS> {
        let bytes = u16::try_from(s.len() * 2).map_err(|_| sys::STATUS_INVALID_PARAMETER)?;
        Ok(sys::UNICODE_STRING { Length: bytes, MaximumLength: bytes, Buffer: s.as_mut_ptr() })
    };
    let mut key_name = counted(&mut path)?;
    let mut attributes = sys::OBJECT_ATTRIBUTES {
        Length: core::mem::size_of::<sys::OBJECT_ATTRIBUTES>() as u32,
        RootDirectory: core::ptr::null_mut(),
        ObjectName: &mut key_name,
        Attributes: sys::OBJ_CASE_INSENSITIVE | sys::OBJ_KERNEL_HANDLE,
        SecurityDescriptor: core::ptr::null_mut(),
        SecurityQualityOfService: core::ptr::null_mut(),
    };
    let mut handle: sys::HANDLE = core::ptr::null_mut();
    // SAFETY: PASSIVE_LEVEL; the attributes and name outlive the call.
    let status = unsafe { sys::ZwOpenKey(&mut handle, sys::KEY_READ, &mut attributes) };
    if status < 0 {
        return Err(status);
    }
    // 8-aligned, as the structure wants.
    let mut buffer = vec![0u64; (PARTIAL_HEADER + max_data).div_ceil(8)];
    let mut returned = 0u32;
    let mut value = counted(&mut value_name)?;
    // SAFETY: our key handle and a buffer of the size passed; the handle is closed once.
    let status = unsafe {
        let s = sys::ZwQueryValueKey(
            handle,
            &mut value,
            sys::KeyValuePartialInformation,
            buffer.as_mut_ptr().cast(),
            (buffer.len() * 8) as u32,
            &mut returned,
        );
        sys::ZwClose(handle);
        s
    };
    if status < 0 {
        return Err(status);
    }
    // SAFETY: reinterpreting our own buffer as bytes.
    let raw = unsafe { core::slice::from_raw_parts(buffer.as_ptr().cast::<u8>(), buffer.len() * 8) };
    let kind = u32::from_le_bytes([raw[4], raw[5], raw[6], raw[7]]);
    let length = u32::from_le_bytes([raw[8], raw[9], raw[10], raw[11]]) as usize;
    if length > max_data {
        return Err(sys::STATUS_BUFFER_OVERFLOW);
    }
    Ok(Value { kind, data: raw[PARTIAL_HEADER..PARTIAL_HEADER + length].to_vec() })
}
