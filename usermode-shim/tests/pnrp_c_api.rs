//! The PNRP C API: a C program compiled against include/p2p.h and linked with the cdylib
//! registers a name through one node and resolves (synchronously and asynchronously) a name
//! this process registered through another node; it never resolves its own name. And p2p.h
//! declares exactly the PNRP exports.
#![cfg(unix)] // the nodes are Linux daemons

mod common;

use std::time::Duration;

use common::{
    CProgram, DaemonProcess, bounded, c_program, compile_c, declared_and_exported, eventually, random_key,
};
use peerdrt_shim::hresult::Error;
use peerdrt_shim::pnrp::*;

/// Names the PNRP part of the cdylib exports.
fn is_pnrp_export(n: &str) -> bool {
    n.starts_with("PeerPnrp")
        || n.starts_with("PeerIdentity")
        || ["PeerCreatePeerName", "PeerNameToPeerHostName", "PeerHostNameToPeerName", "PeerFreeData"]
            .contains(&n)
}

#[test]
fn p2p_h_declares_exactly_the_pnrp_exports() {
    let (declared, exported) = declared_and_exported(&["p2p.h"], is_pnrp_export);
    assert_eq!(declared, exported);
    assert_eq!(declared.len(), 17);
}

#[test]
fn the_pnrp_sample_flow_in_c() {
    bounded(150, || {
        let dir = std::env::temp_dir().join(format!("peerdrt-pnrp-c-{}", random_key().to_hex()));
        std::fs::create_dir_all(&dir).unwrap();
        let first = DaemonProcess::pnrp(&dir.join("n0.sock"), None);
        let second = DaemonProcess::pnrp(&dir.join("n1.sock"), first.pnrp_port);
        let sockets = [first.socket.clone(), second.socket.clone()];

        let program = dir.join("pnrp_flow");
        compile_c("pnrp_flow.c", &program, &["_DEFAULT_SOURCE"]);

        // This process registers a name through node 1.
        let mine = format!("0.rust-{}", &random_key().to_hex()[..10]);
        let theirs = format!("0.c-{}", &random_key().to_hex()[..10]);
        let session = Pnrp::startup(Some(sockets[1].clone()), None).unwrap();
        let info = RegistrationInfo {
            addresses: Addresses::List(vec!["192.0.2.5:5555".parse().unwrap()]),
            comment: "from-rust".into(),
            payload: b"rust".to_vec(),
            ..RegistrationInfo::default()
        };
        let reg = session.register(&mine, &info).unwrap();

        // The C program, through node 0.
        let mut c =
            CProgram::spawn(c_program(&program).env("PEERDRT_SOCKET", &sockets[0]).args([&theirs, &mine]));
        let printed = c.wait_for_prefix("REGISTERED");
        assert!(printed.contains(&"cloud Global_ 1".to_string()), "{printed:?}");

        // Its name resolves here, with what it registered.
        let mut found = Vec::new();
        assert!(eventually(Duration::from_secs(20), || {
            found = session.resolve(&theirs, None, 5, Duration::from_secs(5)).unwrap_or_default();
            !found.is_empty()
        }));
        assert_eq!((found[0].comment.as_str(), &found[0].payload[..]), ("from-c", &b"c-payload"[..]));
        assert_eq!(found[0].addresses, vec!["192.0.2.9:1234".parse().unwrap()]);

        let printed = c.wait_for_prefix("async:");
        assert!(printed.contains(&"own: not found".to_string()), "{printed:?}");
        assert!(printed.contains(&format!("sync {mine} from-rust rust 1")), "{printed:?}");
        assert!(printed.contains(&format!("async {mine} from-rust rust 1")), "{printed:?}");
        assert_eq!(printed.last().unwrap(), "async: 1 then NO_MORE");

        c.send("go");
        c.wait_for_prefix("UNREGISTERED");
        assert!(eventually(Duration::from_secs(20), || {
            session.resolve(&theirs, None, 5, Duration::from_secs(5)) == Err(Error(PEER_E_NOT_FOUND))
        }));
        let rest = c.wait_for_prefix("OK");
        assert!(c.wait().success(), "{rest:?}");
        reg.unregister().unwrap();
        session.shutdown();
        drop((first, second));
        let _ = std::fs::remove_dir_all(&dir);
    });
}
