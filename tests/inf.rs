//! The driver's INF, read the way stampinf/infverif read it, checked against the driver's own
//! constants and the primitive-driver rules.

use std::collections::HashMap;

use peerdrt::abi::{DEVICE_NAME, DRIVER_FILE, SERVICE_NAME};

/// Sections in order, each with its lines (comments and blank lines removed).
struct Inf {
    sections: Vec<(String, Vec<String>)>,
    strings: HashMap<String, String>,
}

impl Inf {
    fn load() -> Self {
        let bytes =
            std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/inf/peerdrt.inx")).expect("inf/peerdrt.inx");
        let text = decode(&bytes);
        let mut sections: Vec<(String, Vec<String>)> = Vec::new();
        for raw in text.lines() {
            let line = raw.split(';').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                sections.push((name.to_string(), Vec::new()));
            } else {
                sections.last_mut().expect("a line before any section").1.push(line.to_string());
            }
        }
        let strings = sections
            .iter()
            .find(|(n, _)| n == "Strings")
            .map(|(_, lines)| {
                lines
                    .iter()
                    .filter_map(|l| l.split_once('='))
                    .map(|(k, v)| (k.trim().to_string(), v.trim().trim_matches('"').to_string()))
                    .collect()
            })
            .unwrap_or_default();
        Self { sections, strings }
    }

    fn section(&self, name: &str) -> &[String] {
        self.sections
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, l)| &l[..])
            .unwrap_or_else(|| panic!("no [{name}] section"))
    }

    /// `key = value` of a section, with %string% substitutions.
    fn value(&self, section: &str, key: &str) -> String {
        let raw = self
            .section(section)
            .iter()
            .filter_map(|l| l.split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case(key))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_else(|| panic!("no {key} in [{section}]"));
        self.expand(&raw)
    }

    fn expand(&self, raw: &str) -> String {
        let mut out = raw.to_string();
        for (k, v) in &self.strings {
            out = out.replace(&format!("%{k}%"), v);
        }
        out
    }
}

/// UTF-16LE with a BOM (what the WDK samples ship) or UTF-8; anything else fails.
fn decode(bytes: &[u8]) -> String {
    if let Some(body) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        assert!(body.len() % 2 == 0, "odd UTF-16 length");
        let units: Vec<u16> = body.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
        String::from_utf16(&units).expect("valid UTF-16LE")
    } else {
        String::from_utf8(bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(bytes).to_vec())
            .expect("valid UTF-8")
    }
}

#[test]
fn the_inf_is_utf16le_with_a_bom_and_crlf_line_ends() {
    let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/inf/peerdrt.inx")).unwrap();
    assert_eq!(&bytes[..2], &[0xFF, 0xFE]);
    let text = decode(&bytes);
    assert!(text.contains("\r\n"));
    assert!(!text.replace("\r\n", "").contains('\n'), "bare LF line end");
}

#[test]
fn the_service_matches_the_driver_constants() {
    let inf = Inf::load();
    let add = inf.value("DefaultInstall.NT$ARCH$.Services", "AddService");
    let mut parts = add.split(',').map(str::trim);
    assert_eq!(parts.next(), Some(SERVICE_NAME));
    assert_eq!(parts.nth(1), Some("PeerDrt.Service"));
    assert_eq!(inf.value("PeerDrt.Service", "ServiceType"), "1");
    assert_eq!(inf.value("PeerDrt.Service", "StartType"), "3");
    assert_eq!(inf.value("PeerDrt.Service", "ErrorControl"), "1");
    assert_eq!(inf.value("PeerDrt.Service", "ServiceBinary"), format!("%13%\\{DRIVER_FILE}"));
    assert_eq!(inf.section("PeerDrt.DriverFiles"), [DRIVER_FILE.to_string()]);
    assert!(inf.value("SourceDisksFiles", DRIVER_FILE).starts_with('1'));
    let reg = inf.expand(&inf.section("PeerDrt.Service.AddReg")[0]);
    assert!(reg.ends_with(&format!(",{DEVICE_NAME}")), "{reg}");
    let del = inf.value("DefaultUninstall.NT$ARCH$.Services", "DelService");
    assert!(del.starts_with(SERVICE_NAME));
}

#[test]
fn it_follows_the_primitive_driver_rules() {
    let inf = Inf::load();
    for key in ["Signature", "Class", "ClassGuid", "Provider", "CatalogFile", "PnpLockdown"] {
        assert!(!inf.value("Version", key).is_empty(), "Version.{key}");
    }
    assert_eq!(inf.value("Version", "Signature"), "\"$WINDOWS NT$\"");
    let names: Vec<&str> = inf.sections.iter().map(|(n, _)| n.as_str()).collect();
    assert!(!names.iter().any(|n| n.eq_ignore_ascii_case("Manufacturer")), "no [Manufacturer]");
    assert!(
        !names.iter().any(|n| n.eq_ignore_ascii_case("DefaultInstall")),
        "DefaultInstall must be decorated"
    );
    assert!(names.contains(&"DefaultInstall.NT$ARCH$"));
    assert_eq!(inf.value("DestinationDirs", "DefaultDestDir"), "13");
    assert_eq!(inf.value("DefaultUninstall.NT$ARCH$", "LegacyUninstall"), "1");
}

#[test]
fn the_default_disjoint_paths_it_installs_are_a_dword_the_driver_accepts_and_keep_an_admins_value() {
    use peerdrt::core::drt::search::DEFAULT_DISJOINT_PATHS;
    use peerdrt::engine::search_settings::{REG_DWORD, disjoint_paths_from_registry};
    let inf = Inf::load();
    let line = inf
        .section("PeerDrt.Service.AddReg")
        .iter()
        .find(|l| l.split(',').nth(2).map(str::trim) == Some("DisjointPaths"))
        .expect("an AddReg line for Parameters\\DisjointPaths")
        .clone();
    let fields: Vec<&str> = line.split(',').map(str::trim).collect();
    assert_eq!(&fields[..3], ["HKR", "Parameters", "DisjointPaths"]);
    let flags = u32::from_str_radix(fields[3].trim_start_matches("0x"), 16).unwrap();
    const FLG_ADDREG_TYPE_DWORD: u32 = 0x0001_0001;
    const FLG_ADDREG_NOCLOBBER: u32 = 0x0000_0002;
    assert_eq!(flags & FLG_ADDREG_TYPE_DWORD, FLG_ADDREG_TYPE_DWORD, "{line}");
    assert_eq!(flags & FLG_ADDREG_NOCLOBBER, FLG_ADDREG_NOCLOBBER, "{line}");
    let value: u32 = fields[4].parse().unwrap();
    let settings = disjoint_paths_from_registry(REG_DWORD, &value.to_le_bytes()).expect("accepted");
    assert_eq!(settings.disjoint_paths(), DEFAULT_DISJOINT_PATHS);
}
