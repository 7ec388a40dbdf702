//! A C program compiled against include/drt.h and include/peerdrt.h and linked with the cdylib
//! runs the SDK sample's flow against real daemons: it finds a key another process registered,
//! registers its own (found from this process, so the C side's DRT_DATA byte order is checked
//! against the Rust side's), unregisters it, closes.
#![cfg(unix)] // the nodes are Linux daemons

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use peerdrt_shim::Key;

#[test]
fn the_sdk_sample_flow_in_c() {
    bounded(180, || {
        let cloud = Cloud::start(3);
        let program = cloud.dir.join("drt_flow");
        compile_c("drt_flow.c", &program, &[]);

        let remote = random_key();
        let _a = Registrar::spawn(&cloud, 1, &[(remote, "registered-by-rust")]);
        // The C program's key: a small number, so its DRT_DATA bytes are 0x42 0x01 0 … 0.
        let local = Key::from_u64(0x0142);
        let mut c = c_program(&program)
            .env("PEERDRT_SOCKET", &cloud.nodes[2].socket)
            .args(["127.0.0.1", &cloud.nodes[2].port.to_string(), &remote.to_hex(), "registered-by-rust"])
            .args([&local.to_hex(), "registered-by-c"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = c.stdin.take().unwrap();
        let mut stderr = c.stderr.take().unwrap();
        let mut lines = BufReader::new(c.stdout.take().unwrap()).lines();
        let mut wait_for = |word: &str| {
            let mut seen = Vec::new();
            for line in lines.by_ref() {
                let line = line.unwrap();
                if line == word {
                    return seen;
                }
                seen.push(line);
            }
            let mut err = String::new();
            let _ = std::io::Read::read_to_string(&mut stderr, &mut err);
            panic!("the C program ended before {word}; it printed {seen:?} and on stderr:\n{err}");
        };
        let printed = wait_for("REGISTERED");
        assert!(printed.iter().any(|l| l.starts_with("exact: found \"registered-by-rust\"")), "{printed:?}");

        // From this process: the C program's key, by its number.
        let b = cloud.open(0);
        assert!(
            eventually(Duration::from_secs(15), || find(&b, &local).as_deref()
                == Some(&b"registered-by-c"[..])),
            "the key the C program registered was not found as {local}"
        );
        writeln!(stdin, "go").unwrap();
        wait_for("UNREGISTERED");
        assert!(
            eventually(Duration::from_secs(15), || find(&b, &local).is_none()),
            "still found after DrtUnregisterKey"
        );
        writeln!(stdin, "go").unwrap();
        let rest = wait_for("OK");
        let status = c.wait().unwrap();
        assert!(status.success(), "the C program failed ({status}): {rest:?}");
    });
}

/// The headers declare exactly what the cdylib exports.
#[test]
fn the_headers_declare_exactly_the_exports() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut declared: Vec<String> = Vec::new();
    for h in ["include/drt.h", "include/peerdrt.h"] {
        let text = std::fs::read_to_string(root.join(h)).unwrap();
        for part in text.split("WINAPI ").skip(1) {
            let name: String = part.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if name.starts_with("Drt") || name.starts_with("PeerDrt") {
                declared.push(name);
            }
        }
    }
    declared.sort();
    let lib = cdylib_dir().join("libpeerdrt_shim.so");
    let out = Command::new("nm").args(["-D", "--defined-only"]).arg(&lib).output().expect("nm (binutils)");
    let mut exported: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2))
        .filter(|n| n.starts_with("Drt") || n.starts_with("PeerDrt"))
        .map(String::from)
        .collect();
    exported.sort();
    assert_eq!(declared, exported);
    assert_eq!(declared.len(), 40);
}
