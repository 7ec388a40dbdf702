//! Link-local clouds finding each other by multicast: two daemons run `LinkLocal_<if>` on a
//! link that carries IPv6 multicast (loopback does not, so this test needs a real interface:
//! `PEERDRT_TEST_MULTICAST_IF=eth0 cargo test -p peerdrt-shim --test pnrp_link_local -- --ignored`).
//! The second daemon, configured with no seed, discovers the first; a name registered in the
//! link-local cloud resolves through `PEER_PNRP_ALL_LINKS` and not in `Global_`.
#![cfg(unix)]

mod common;

use std::time::Duration;

use common::{DaemonProcess, bounded, eventually, free_port, random_key};
use peerdrt_shim::hresult::Error;
use peerdrt_shim::pnrp::*;

#[test]
#[ignore = "needs a link that carries IPv6 multicast (PEERDRT_TEST_MULTICAST_IF)"]
fn link_local_clouds_find_each_other_by_multicast() {
    let interface =
        std::env::var("PEERDRT_TEST_MULTICAST_IF").expect("PEERDRT_TEST_MULTICAST_IF=<interface>");
    bounded(60, move || {
        let dir = std::env::temp_dir().join(format!("peerdrt-pnrp-ll-{}", random_key().to_hex()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut daemons = Vec::new();
        let mut sockets = Vec::new();
        for i in 0..2 {
            let config = dir.join(format!("n{i}.toml"));
            let socket = dir.join(format!("n{i}.sock"));
            // Fresh ports for every start attempt.
            daemons.push(DaemonProcess::start(&socket, || {
                let toml = format!(
                    "[pnrp]\nport = {}\n[[pnrp.link_local]]\ninterface = \"{interface}\"\nport = {}\n",
                    free_port(),
                    free_port()
                );
                std::fs::write(&config, toml).unwrap();
                vec!["--config".into(), config.to_string_lossy().into_owned()]
            }));
            sockets.push(socket);
        }
        let cloud = format!("LinkLocal_{interface}");
        let a = Pnrp::startup(Some(sockets[0].clone()), None).unwrap();
        assert!(a.clouds().unwrap().iter().any(|c| c.name == cloud && c.scope == 3));
        let name = format!("0.ll-{}", &random_key().to_hex()[..10]);
        let info = RegistrationInfo {
            cloud: Some(cloud.clone()),
            addresses: Addresses::List(Vec::new()),
            payload: b"link".to_vec(),
            ..RegistrationInfo::default()
        };
        let reg = a.register(&name, &info).unwrap();
        let b = Pnrp::startup(Some(sockets[1].clone()), None).unwrap();
        let mut found = Vec::new();
        assert!(
            eventually(Duration::from_secs(20), || {
                found = b
                    .resolve(&name, Some(PEER_PNRP_ALL_LINK_CLOUDS), 5, Duration::from_secs(3))
                    .unwrap_or_default();
                !found.is_empty()
            }),
            "the second node never found the first's link-local cloud"
        );
        assert_eq!((found[0].cloud.as_str(), &found[0].payload[..]), (cloud.as_str(), &b"link"[..]));
        assert_eq!(
            b.resolve(&name, Some("Global_"), 5, Duration::from_secs(3)),
            Err(Error(PEER_E_NOT_FOUND))
        );
        reg.unregister().unwrap();
        drop(daemons);
        let _ = std::fs::remove_dir_all(&dir);
    });
}
