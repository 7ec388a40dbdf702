//! How many disjoint lookup paths the device's DRT instances search with, as configured.
//!
//! Win32's `DRT_SETTINGS` and `DRT_SEARCH_INFO` have no field for it, and their layout must
//! stay bit-exact, so the number is a setting of the device, not of an instance: peerdrtd's
//! `--disjoint-paths` (or `disjoint_paths` in its file), peerdrt.sys's `Parameters\DisjointPaths`
//! (REG_DWORD). Both are checked here, so the two platforms accept exactly the same values.

use core::fmt;

use peerdrt_core::drt::search::{DEFAULT_DISJOINT_PATHS, MAX_DISJOINT_PATHS, SearchSettings};

/// The registry's type code of a 32-bit little-endian number (winnt.h `REG_DWORD`).
pub const REG_DWORD: u32 = 4;

/// Why a configured number of disjoint paths was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisjointPathsError {
    /// Outside 1..=[`MAX_DISJOINT_PATHS`].
    OutOfRange(u64),
    /// A registry value of another type than REG_DWORD.
    NotADword(u32),
    /// A REG_DWORD value whose data is not four bytes long.
    BadLength(usize),
}

impl fmt::Display for DisjointPathsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OutOfRange(n) => {
                write!(f, "disjoint paths {n}: expected 1 to {MAX_DISJOINT_PATHS}")
            }
            Self::NotADword(kind) => write!(f, "disjoint paths: registry type {kind}, expected REG_DWORD"),
            Self::BadLength(len) => write!(f, "disjoint paths: {len} bytes of REG_DWORD data, expected 4"),
        }
    }
}

/// Settings with `paths` disjoint lookup paths, if 1..=[`MAX_DISJOINT_PATHS`].
pub fn disjoint_paths(paths: u64) -> Result<SearchSettings, DisjointPathsError> {
    u8::try_from(paths)
        .ok()
        .and_then(|d| SearchSettings::new(d).ok())
        .ok_or(DisjointPathsError::OutOfRange(paths))
}

/// The settings a `Parameters\DisjointPaths` value of registry type `kind` and data `data`
/// asks for. The driver uses the default ([`DEFAULT_DISJOINT_PATHS`]) when the value is absent
/// or refused, and logs the refusal.
pub fn disjoint_paths_from_registry(kind: u32, data: &[u8]) -> Result<SearchSettings, DisjointPathsError> {
    if kind != REG_DWORD {
        return Err(DisjointPathsError::NotADword(kind));
    }
    let bytes: [u8; 4] = data.try_into().map_err(|_| DisjointPathsError::BadLength(data.len()))?;
    disjoint_paths(u64::from(u32::from_le_bytes(bytes)))
}

const _: () = assert!(DEFAULT_DISJOINT_PATHS >= 1 && DEFAULT_DISJOINT_PATHS <= MAX_DISJOINT_PATHS);

#[cfg(test)]
mod tests {
    use super::*;

    const REG_SZ: u32 = 1;
    const REG_QWORD: u32 = 11;

    fn dword(n: u32) -> [u8; 4] {
        n.to_le_bytes()
    }

    #[test]
    fn one_to_max_disjoint_paths_are_accepted_and_nothing_else() {
        assert_eq!(disjoint_paths(0), Err(DisjointPathsError::OutOfRange(0)));
        assert_eq!(disjoint_paths(1).map(|s| s.disjoint_paths()), Ok(1));
        let max = u64::from(MAX_DISJOINT_PATHS);
        assert_eq!(disjoint_paths(max).map(|s| s.disjoint_paths()), Ok(MAX_DISJOINT_PATHS));
        assert_eq!(disjoint_paths(max + 1), Err(DisjointPathsError::OutOfRange(max + 1)));
        // Past u8: not wrapped round to a small number.
        assert_eq!(disjoint_paths(256 + 3), Err(DisjointPathsError::OutOfRange(259)));
        assert_eq!(disjoint_paths(u64::MAX), Err(DisjointPathsError::OutOfRange(u64::MAX)));
    }

    #[test]
    fn a_registry_dword_in_range_sets_the_paths() {
        for d in 1..=MAX_DISJOINT_PATHS {
            let got = disjoint_paths_from_registry(REG_DWORD, &dword(u32::from(d)));
            assert_eq!(got.map(|s| s.disjoint_paths()), Ok(d));
        }
    }

    #[test]
    fn a_registry_dword_at_zero_or_past_max_is_refused() {
        assert_eq!(
            disjoint_paths_from_registry(REG_DWORD, &dword(0)),
            Err(DisjointPathsError::OutOfRange(0))
        );
        let past = u32::from(MAX_DISJOINT_PATHS) + 1;
        assert_eq!(
            disjoint_paths_from_registry(REG_DWORD, &dword(past)),
            Err(DisjointPathsError::OutOfRange(u64::from(past)))
        );
        assert_eq!(
            disjoint_paths_from_registry(REG_DWORD, &dword(u32::MAX)),
            Err(DisjointPathsError::OutOfRange(u64::from(u32::MAX)))
        );
        // 0x0000_0103 would be 3 if only the low byte were read.
        assert_eq!(
            disjoint_paths_from_registry(REG_DWORD, &dword(0x103)),
            Err(DisjointPathsError::OutOfRange(0x103))
        );
    }

    #[test]
    fn a_registry_value_of_another_type_or_length_is_refused() {
        assert_eq!(
            disjoint_paths_from_registry(REG_SZ, &[b'3', 0, 0, 0]),
            Err(DisjointPathsError::NotADword(REG_SZ))
        );
        assert_eq!(
            disjoint_paths_from_registry(REG_QWORD, &3u64.to_le_bytes()),
            Err(DisjointPathsError::NotADword(REG_QWORD))
        );
        for len in [0, 1, 3, 5, 8] {
            let data = [3u8; 8];
            assert_eq!(
                disjoint_paths_from_registry(REG_DWORD, &data[..len]),
                Err(DisjointPathsError::BadLength(len))
            );
        }
    }

    #[test]
    fn refusals_say_what_was_expected() {
        let text = alloc::format!("{}", DisjointPathsError::OutOfRange(9));
        assert_eq!(text, alloc::format!("disjoint paths 9: expected 1 to {MAX_DISJOINT_PATHS}"));
    }
}
