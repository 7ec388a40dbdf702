//! Link-local clouds finding each other by multicast: two daemons run `LinkLocal_<if>` on a
//! link that carries IPv6 multicast (loopback does not, so this test needs a real interface:
//! `PEERDRT_TEST_MULTICAST_IF=eth0 cargo test -p peerdrt-shim --test pnrp_link_local -- --ignored`).
//! The second daemon, configured with no seed, discovers the first; a name registered in the
//! link-local cloud resolves through `PEER_PNRP_ALL_LINKS` and not in `Global_`.
#![cfg(unix)]

mod common;

use std::net::UdpSocket;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{EXE, bounded, eventually, random_key};
use peerdrt_shim::hresult::Error;
use peerdrt_shim::pnrp::*;

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        // SAFETY: SIGTERM to our own child.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let _ = self.0.wait();
    }
}

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
            let port = || UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let config = dir.join(format!("n{i}.toml"));
            let toml = format!(
                "[pnrp]\nport = {}\n[[pnrp.link_local]]\ninterface = \"{interface}\"\nport = {}\n",
                port(),
                port()
            );
            std::fs::write(&config, toml).unwrap();
            let socket = dir.join(format!("n{i}.sock"));
            let child = Command::new(EXE)
                .args(["daemon", "--die-with-parent", "--config"])
                .arg(&config)
                .arg("--socket")
                .arg(&socket)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            daemons.push(Daemon(child));
            assert!(eventually(Duration::from_secs(10), || std::os::unix::net::UnixStream::connect(&socket)
                .is_ok()));
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
