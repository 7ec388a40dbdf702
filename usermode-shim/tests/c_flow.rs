//! A C program compiled against include/drt.h and include/peerdrt.h and linked with the cdylib
//! runs the SDK sample's flow against real daemons: it finds a key another process registered,
//! registers its own (found from this process, so the C side's DRT_DATA byte order is checked
//! against the Rust side's), unregisters it, closes.
#![cfg(unix)] // the nodes are Linux daemons

mod common;

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
        let mut c = CProgram::spawn(
            c_program(&program)
                .env("PEERDRT_SOCKET", &cloud.nodes[2].socket)
                .args(["127.0.0.1", &cloud.nodes[2].port.to_string(), &remote.to_hex(), "registered-by-rust"])
                .args([&local.to_hex(), "registered-by-c"]),
        );
        let printed = c.wait_for("REGISTERED");
        assert!(printed.iter().any(|l| l.starts_with("exact: found \"registered-by-rust\"")), "{printed:?}");

        // From this process: the C program's key, by its number.
        let b = cloud.open(0);
        assert!(
            eventually(Duration::from_secs(15), || find(&b, &local).as_deref()
                == Some(&b"registered-by-c"[..])),
            "the key the C program registered was not found as {local}"
        );
        c.send("go");
        c.wait_for("UNREGISTERED");
        assert!(
            eventually(Duration::from_secs(15), || find(&b, &local).is_none()),
            "still found after DrtUnregisterKey"
        );
        c.send("go");
        let rest = c.wait_for("OK");
        let status = c.wait();
        assert!(status.success(), "the C program failed ({status}): {rest:?}");
    });
}

/// The headers declare exactly what the cdylib exports.
#[test]
fn the_headers_declare_exactly_the_exports() {
    let (declared, exported) =
        declared_and_exported(&["drt.h", "peerdrt.h"], |n| n.starts_with("Drt") || n.starts_with("PeerDrt"));
    assert_eq!(declared, exported);
    assert_eq!(declared.len(), 40);
}
