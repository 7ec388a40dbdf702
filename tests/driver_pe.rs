//! The cross-built driver binary is a kernel driver Windows (and Wine) will load.
//!
//! Builds `target/wine/peerdrt.sys` with `tests/wine/build-driver.sh` (cargo no-ops when it is
//! fresh; `PEERDRT_SYS=<path>` checks a given file instead) and reads its PE headers by hand:
//! PE32+, AMD64, subsystem NATIVE, DllCharacteristics with FORCE_INTEGRITY (build.rs passes
//! `/INTEGRITYCHECK`), NX and dynamic base, the entry point at `DriverEntry`, a checksum, no
//! section both writable and executable, and imports only from ntoskrnl.exe, HAL.dll, NETIO.SYS
//! and ksecdd.sys — with the NMR registration calls from NETIO.SYS and the system-preferred
//! random generator (key material) from ksecdd.sys.

#![cfg(target_os = "linux")]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

const IMAGE_FILE_MACHINE_AMD64: u16 = 0x8664;
const PE32_PLUS: u16 = 0x20b;
const IMAGE_SUBSYSTEM_NATIVE: u16 = 1;
const DLLCHAR_DYNAMIC_BASE: u16 = 0x0040;
const DLLCHAR_FORCE_INTEGRITY: u16 = 0x0080;
const DLLCHAR_NX_COMPAT: u16 = 0x0100;
const SCN_MEM_EXECUTE: u32 = 0x2000_0000;
const SCN_MEM_WRITE: u32 = 0x8000_0000;

/// The modules a driver may import from.
const ALLOWED_MODULES: [&str; 4] = ["ntoskrnl.exe", "HAL.dll", "NETIO.SYS", "ksecdd.sys"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn driver_path() -> PathBuf {
    if let Some(p) = std::env::var_os("PEERDRT_SYS") {
        return PathBuf::from(p);
    }
    let script = root().join("tests/wine/build-driver.sh");
    let status = Command::new("bash").arg(&script).status().expect("run tests/wine/build-driver.sh");
    assert!(status.success(), "tests/wine/build-driver.sh failed ({status})");
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from);
    target.join("wine/peerdrt.sys")
}

struct Section {
    name: String,
    rva: u32,
    virtual_size: u32,
    raw_offset: u32,
    raw_size: u32,
    characteristics: u32,
}

struct Pe {
    bytes: Vec<u8>,
    machine: u16,
    file_characteristics: u16,
    magic: u16,
    entry: u32,
    image_base: u64,
    subsystem: u16,
    dll_characteristics: u16,
    checksum: u32,
    directories: Vec<(u32, u32)>,
    sections: Vec<Section>,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(b[at..at + 2].try_into().unwrap())
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

impl Pe {
    fn parse(bytes: Vec<u8>) -> Pe {
        assert_eq!(&bytes[..2], b"MZ", "no DOS header");
        let pe = u32_at(&bytes, 0x3c) as usize;
        assert_eq!(&bytes[pe..pe + 4], b"PE\0\0", "no PE signature");
        let coff = pe + 4;
        let machine = u16_at(&bytes, coff);
        let sections = u16_at(&bytes, coff + 2) as usize;
        let optional_size = u16_at(&bytes, coff + 16) as usize;
        let file_characteristics = u16_at(&bytes, coff + 18);
        let opt = coff + 20;
        let magic = u16_at(&bytes, opt);
        assert_eq!(magic, PE32_PLUS, "not PE32+");
        let entry = u32_at(&bytes, opt + 16);
        let image_base = u64_at(&bytes, opt + 24);
        let checksum = u32_at(&bytes, opt + 64);
        let subsystem = u16_at(&bytes, opt + 68);
        let dll_characteristics = u16_at(&bytes, opt + 70);
        let count = u32_at(&bytes, opt + 108) as usize;
        let directories = (0..count)
            .map(|i| (u32_at(&bytes, opt + 112 + 8 * i), u32_at(&bytes, opt + 116 + 8 * i)))
            .collect();
        let table = opt + optional_size;
        let sections = (0..sections)
            .map(|i| {
                let s = table + 40 * i;
                let name = String::from_utf8_lossy(&bytes[s..s + 8]).trim_end_matches('\0').to_string();
                Section {
                    name,
                    virtual_size: u32_at(&bytes, s + 8),
                    rva: u32_at(&bytes, s + 12),
                    raw_size: u32_at(&bytes, s + 16),
                    raw_offset: u32_at(&bytes, s + 20),
                    characteristics: u32_at(&bytes, s + 36),
                }
            })
            .collect();
        Pe {
            bytes,
            machine,
            file_characteristics,
            magic,
            entry,
            image_base,
            subsystem,
            dll_characteristics,
            checksum,
            directories,
            sections,
        }
    }

    /// The file offset of an RVA.
    fn offset(&self, rva: u32) -> usize {
        let s = self
            .sections
            .iter()
            .find(|s| rva >= s.rva && rva < s.rva + s.virtual_size.max(s.raw_size))
            .unwrap_or_else(|| panic!("RVA {rva:#x} is in no section"));
        (rva - s.rva + s.raw_offset) as usize
    }

    fn c_string(&self, rva: u32) -> String {
        let at = self.offset(rva);
        let end = self.bytes[at..].iter().position(|&b| b == 0).expect("unterminated string") + at;
        String::from_utf8_lossy(&self.bytes[at..end]).into_owned()
    }

    /// Module name → imported function names (ordinals as `#n`).
    fn imports(&self) -> BTreeMap<String, Vec<String>> {
        let (rva, size) = self.directories[1];
        let mut out = BTreeMap::new();
        if size == 0 {
            return out;
        }
        let mut at = self.offset(rva);
        loop {
            let lookup = u32_at(&self.bytes, at);
            let name = u32_at(&self.bytes, at + 12);
            let first_thunk = u32_at(&self.bytes, at + 16);
            if lookup == 0 && name == 0 && first_thunk == 0 {
                break;
            }
            let module = self.c_string(name);
            let mut functions = Vec::new();
            let mut thunk = self.offset(if lookup != 0 { lookup } else { first_thunk });
            loop {
                let entry = u64_at(&self.bytes, thunk);
                if entry == 0 {
                    break;
                }
                if entry & (1 << 63) != 0 {
                    functions.push(format!("#{}", entry & 0xffff));
                } else {
                    functions.push(self.c_string(entry as u32 + 2));
                }
                thunk += 8;
            }
            out.insert(module, functions);
            at += 20;
        }
        out
    }

    /// Exported name → RVA.
    fn exports(&self) -> BTreeMap<String, u32> {
        let (rva, size) = self.directories[0];
        let mut out = BTreeMap::new();
        if size == 0 {
            return out;
        }
        let dir = self.offset(rva);
        let names = u32_at(&self.bytes, dir + 24) as usize;
        let functions = u32_at(&self.bytes, dir + 28);
        let name_table = u32_at(&self.bytes, dir + 32);
        let ordinals = u32_at(&self.bytes, dir + 36);
        for i in 0..names {
            let name = self.c_string(u32_at(&self.bytes, self.offset(name_table) + 4 * i));
            let ordinal = u16_at(&self.bytes, self.offset(ordinals) + 2 * i) as usize;
            let address = u32_at(&self.bytes, self.offset(functions) + 4 * ordinal);
            out.insert(name, address);
        }
        out
    }

    /// The PE checksum algorithm of imagehlp's CheckSumMappedFile.
    fn computed_checksum(&self) -> u32 {
        let checksum_at = u32_at(&self.bytes, 0x3c) as usize + 4 + 20 + 64;
        let mut sum: u64 = 0;
        let mut i = 0;
        while i < self.bytes.len() {
            let word =
                if i + 1 < self.bytes.len() { u16_at(&self.bytes, i) as u64 } else { self.bytes[i] as u64 };
            if i != checksum_at && i != checksum_at + 2 {
                sum += word;
                sum = (sum & 0xffff) + (sum >> 16);
            }
            i += 2;
        }
        sum = (sum & 0xffff) + (sum >> 16);
        (sum as u32) + self.bytes.len() as u32
    }
}

fn load() -> Pe {
    let path = driver_path();
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    println!("{}: {} bytes", path.display(), bytes.len());
    Pe::parse(bytes)
}

#[test]
fn peerdrt_sys_is_a_native_amd64_driver_importing_only_kernel_modules() {
    let pe = load();
    assert_eq!(pe.machine, IMAGE_FILE_MACHINE_AMD64, "machine");
    assert_eq!(pe.magic, PE32_PLUS);
    assert_eq!(pe.subsystem, IMAGE_SUBSYSTEM_NATIVE, "subsystem");
    println!(
        "machine {:#06x}, PE32+, subsystem {}, characteristics {:#06x}, DllCharacteristics {:#06x}, image base {:#x}",
        pe.machine, pe.subsystem, pe.file_characteristics, pe.dll_characteristics, pe.image_base
    );
    for (bit, name) in [
        (DLLCHAR_FORCE_INTEGRITY, "FORCE_INTEGRITY"),
        (DLLCHAR_NX_COMPAT, "NX_COMPAT"),
        (DLLCHAR_DYNAMIC_BASE, "DYNAMIC_BASE"),
    ] {
        assert_ne!(pe.dll_characteristics & bit, 0, "DllCharacteristics lacks {name}");
    }
    // FORCE_INTEGRITY images must carry a valid checksum (lld-link /RELEASE writes it).
    assert_eq!(pe.checksum, pe.computed_checksum(), "PE checksum");
    assert!(pe.directories.len() > 5 && pe.directories[5].1 > 0, "no base relocations");

    // The entry point is DriverEntry.
    let exports = pe.exports();
    let driver_entry = *exports.get("DriverEntry").expect("DriverEntry is not exported");
    assert_eq!(pe.entry, driver_entry, "AddressOfEntryPoint is not DriverEntry");
    println!("entry point {:#x} = DriverEntry; exports {:?}", pe.entry, exports.keys().collect::<Vec<_>>());

    for s in &pe.sections {
        println!(
            "section {:8} rva {:#07x} size {:#07x} characteristics {:#010x}",
            s.name, s.rva, s.virtual_size, s.characteristics
        );
        assert!(
            s.characteristics & (SCN_MEM_WRITE | SCN_MEM_EXECUTE) != (SCN_MEM_WRITE | SCN_MEM_EXECUTE),
            "section {} is writable and executable",
            s.name
        );
    }

    let imports = pe.imports();
    for (module, functions) in &imports {
        println!("imports from {module}: {}", functions.join(" "));
        assert!(
            ALLOWED_MODULES.contains(&module.as_str()),
            "imports from {module} (only {ALLOWED_MODULES:?} allowed)"
        );
        assert!(functions.iter().all(|f| !f.starts_with('#')), "{module}: imports by ordinal");
    }
    let nt = imports.get("ntoskrnl.exe").expect("no imports from ntoskrnl.exe");
    for f in [
        "IoCreateDevice",
        "IoCreateSymbolicLink",
        "PsCreateSystemThread",
        "ExAllocatePoolWithTag",
        "KeBugCheckEx",
    ] {
        assert!(nt.iter().any(|n| n == f), "ntoskrnl.exe!{f} is not imported");
    }
    let netio = imports.get("NETIO.SYS").expect("no imports from NETIO.SYS");
    for f in [
        "NmrRegisterClient",
        "NmrClientAttachProvider",
        "NmrClientDetachProviderComplete",
        "NmrDeregisterClient",
        "NmrWaitForClientDeregisterComplete",
    ] {
        assert!(netio.iter().any(|n| n == f), "NETIO.SYS!{f} is not imported");
    }
    let cng = imports.get("ksecdd.sys").expect("no imports from ksecdd.sys");
    assert_eq!(cng, &["BCryptGenRandom"], "ksecdd.sys: only the random generator");
    // Nothing of a C runtime, and no unwinding support (the driver aborts on panic).
    for f in imports.values().flatten() {
        assert!(!f.starts_with("__Cxx") && !f.starts_with("_CxxThrow"), "imports {f}");
    }
}
