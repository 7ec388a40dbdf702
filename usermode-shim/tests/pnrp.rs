//! PNRP across processes and nodes, against real daemons on loopback that run a `Global_`
//! cloud: names registered by `peerdrt pnrp register` children through one node and resolved
//! through another; the same-session rule; forged, altered and replayed records of a secured
//! name; asynchronous resolves.
#![cfg(unix)] // the nodes are Linux daemons

mod common;

use std::io::{BufRead, BufReader, Lines, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use common::{DaemonProcess, EXE, bounded, eventually, next_json, random_key};
use ed25519_dalek::SigningKey;
use peerdrt_core::pnrp::record::RecordAddress;
use peerdrt_core::pnrp::{PeerName, PnrpId, RecordContent, p2p_id};
use peerdrt_shim::abi::pnrp::ATTACH_CLOUD;
use peerdrt_shim::abi::{Request, Response, status};
use peerdrt_shim::device::Device;
use peerdrt_shim::event::EventObject;
use peerdrt_shim::hresult::{E_INVALIDARG, Error};
use peerdrt_shim::pnrp::*;

const PATIENCE: Duration = Duration::from_secs(20);
const SEARCH: Duration = Duration::from_secs(5);

/// Daemons with a Global_ cloud each, node i seeded from node 0.
struct Nodes {
    dir: PathBuf,
    sockets: Vec<PathBuf>,
    daemons: Vec<DaemonProcess>,
}

impl Nodes {
    fn start(n: usize) -> Nodes {
        let dir = std::env::temp_dir().join(format!("peerdrt-pnrp-test-{}", random_key().to_hex()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut daemons: Vec<DaemonProcess> = Vec::new();
        for i in 0..n {
            let seed = daemons.first().and_then(|d| d.pnrp_port);
            daemons.push(DaemonProcess::pnrp(&dir.join(format!("node-{i}.sock")), seed));
        }
        let sockets = daemons.iter().map(|d| d.socket.clone()).collect();
        Nodes { dir, sockets, daemons }
    }

    /// A session on node `i` (like a process of its own: its own device opens).
    fn session(&self, i: usize) -> Pnrp {
        Pnrp::startup(Some(self.sockets[i].clone()), Some(IdentityStore::at(&self.dir.join("ids")).unwrap()))
            .unwrap()
    }

    /// `peerdrt pnrp register ... --stdin` through node `i`.
    fn register_child(&self, i: usize, name: &str, args: &[&str]) -> Registrant {
        let mut child = Command::new(EXE)
            .arg("--socket")
            .arg(&self.sockets[i])
            .args(["--json", "pnrp", "register", name, "--stdin"])
            .args(args)
            .env("PEERDRT_IDENTITY_DIR", self.dir.join("ids"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let ready = next_json(&mut lines).expect("a registered line");
        assert_eq!(ready["event"], "registered", "{ready}");
        Registrant { child, stdin, lines }
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        self.daemons.clear();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

struct Registrant {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Registrant {
    fn command(&mut self, line: &str) -> serde_json::Value {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
        next_json(&mut self.lines).expect("a reply")
    }
}

impl Drop for Registrant {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn unique(prefix: &str) -> String {
    format!("0.{prefix}-{}", &random_key().to_hex()[..12])
}

fn resolve(p: &Pnrp, name: &str) -> Result<Vec<Endpoint>, Error> {
    p.resolve(name, None, 10, SEARCH)
}

#[test]
fn a_name_registered_in_one_process_is_resolved_updated_and_removed_from_another_node() {
    bounded(120, || {
        let nodes = Nodes::start(2);
        let name = unique("demo");
        let mut a = nodes.register_child(
            0,
            &name,
            &[
                "--address",
                "192.0.2.1:8080",
                "--address",
                "[2001:db8::1]:9090",
                "--comment",
                "hello",
                "--payload",
                "data",
            ],
        );
        let b = nodes.session(1);
        let mut found = Vec::new();
        assert!(
            eventually(PATIENCE, || {
                found = resolve(&b, &name).unwrap_or_default();
                !found.is_empty()
            }),
            "B never resolved A's name"
        );
        assert_eq!(found.len(), 1, "{found:?}");
        let e = &found[0];
        let want: Vec<SocketAddr> =
            vec!["192.0.2.1:8080".parse().unwrap(), "[2001:db8::1]:9090".parse().unwrap()];
        assert_eq!(
            (e.name.as_str(), &e.addresses, e.comment.as_str(), &e.payload[..]),
            (name.as_str(), &want, "hello", &b"data"[..])
        );
        assert_eq!(e.cloud, "Global_");
        // The CLI resolves it too, synchronously and asynchronously.
        for mode in [&[][..], &["--async"][..]] {
            let out = Command::new(EXE)
                .arg("--socket")
                .arg(&nodes.sockets[1])
                .args(["--json", "pnrp", "resolve", &name, "--timeout", "5000"])
                .args(mode)
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            assert_eq!(lines[0]["comment"], "hello", "{lines:?}");
            assert_eq!(lines[0]["addresses"][1], "[2001:db8::1]:9090");
            assert_eq!(lines.last().unwrap()["count"], 1);
        }
        let out = Command::new(EXE)
            .arg("--socket")
            .arg(&nodes.sockets[0])
            .args(["--json", "pnrp", "clouds"])
            .output()
            .unwrap();
        let clouds: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!((clouds["cloud"].as_str(), clouds["scope"].as_u64()), (Some("Global_"), Some(1)));

        // The update is what B resolves next (and only it).
        assert_eq!(a.command("update bye second")["ok"], true);
        assert!(
            eventually(PATIENCE, || {
                let r = resolve(&b, &name).unwrap_or_default();
                r.len() == 1 && r[0].comment == "bye" && r[0].payload == b"second" && r[0].addresses == want
            }),
            "B never saw the update"
        );

        // Unregistered: gone.
        writeln!(a.stdin.as_mut().unwrap(), "unregister").unwrap();
        assert!(a.child.wait().unwrap().success());
        assert!(
            eventually(PATIENCE, || resolve(&b, &name) == Err(Error(PEER_E_NOT_FOUND))),
            "still resolved after unregister"
        );

        // A process that exits without unregistering takes its name with it.
        let name2 = unique("exit");
        let mut c = nodes.register_child(0, &name2, &["--payload", "p"]);
        assert!(eventually(PATIENCE, || resolve(&b, &name2).is_ok_and(|r| r.len() == 1)));
        c.child.kill().unwrap();
        c.child.wait().unwrap();
        assert!(
            eventually(PATIENCE, || resolve(&b, &name2) == Err(Error(PEER_E_NOT_FOUND))),
            "still resolved after exit"
        );

        // `peerdrt pnrp unregister` ends a running `peerdrt pnrp register`.
        let name3 = unique("cli");
        let mut holder = Command::new(EXE)
            .arg("--socket")
            .arg(&nodes.sockets[0])
            .args(["--json", "pnrp", "register", &name3, "--payload", "x"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(holder.stdout.take().unwrap()).lines();
        assert_eq!(next_json(&mut lines).unwrap()["event"], "registered");
        assert!(eventually(PATIENCE, || resolve(&b, &name3).is_ok()));
        let out = Command::new(EXE).args(["pnrp", "unregister", &name3]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(holder.wait().unwrap().success());
        assert!(eventually(PATIENCE, || resolve(&b, &name3) == Err(Error(PEER_E_NOT_FOUND))));
        b.shutdown();
    });
}

#[test]
fn a_session_never_resolves_its_own_registration_but_others_on_its_node_do() {
    bounded(90, || {
        let nodes = Nodes::start(2);
        let clouds = nodes.session(0).clouds().unwrap();
        assert_eq!(clouds.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), vec!["Global_"]);
        assert_eq!(clouds[0].scope, 1);

        let name = unique("self");
        let me = nodes.session(0);
        let info = RegistrationInfo {
            addresses: Addresses::List(vec!["127.0.0.1:7000".parse().unwrap()]),
            ..RegistrationInfo::default()
        };
        let reg = me.register(&name, &info).unwrap();
        let neighbour = nodes.session(0);
        let remote = nodes.session(1);
        assert!(
            eventually(PATIENCE, || resolve(&neighbour, &name).is_ok_and(|r| r.len() == 1)),
            "another session on the same node"
        );
        assert!(
            eventually(PATIENCE, || resolve(&remote, &name).is_ok_and(|r| r.len() == 1)),
            "a session on another node"
        );
        for cloud in [None, Some("Global_"), Some("GLOBAL_")] {
            assert_eq!(me.resolve(&name, cloud, 10, SEARCH), Err(Error(PEER_E_NOT_FOUND)), "{cloud:?}");
        }
        // A second registration of the same name by a neighbour is what `me` finds.
        let theirs = neighbour
            .register(
                &name,
                &RegistrationInfo {
                    payload: b"theirs".to_vec(),
                    addresses: Addresses::List(Vec::new()),
                    ..RegistrationInfo::default()
                },
            )
            .unwrap();
        let mut seen = Vec::new();
        assert!(eventually(PATIENCE, || {
            seen = me.resolve(&name, None, 10, SEARCH).unwrap_or_default();
            !seen.is_empty()
        }));
        assert_eq!(seen.iter().map(|e| e.payload.clone()).collect::<Vec<_>>(), vec![b"theirs".to_vec()]);
        drop(theirs);
        reg.unregister().unwrap();

        // Bad arguments have their HRESULTs.
        assert_eq!(me.resolve("nodot", None, 1, SEARCH), Err(Error(PEER_E_INVALID_PEER_NAME)));
        assert_eq!(
            me.resolve(&name, Some("LinkLocal_nowhere"), 1, SEARCH),
            Err(Error(PEER_E_CLOUD_NOT_FOUND))
        );
        assert_eq!(me.resolve(&name, None, MAX_ENDPOINTS + 1, SEARCH), Err(Error(E_INVALIDARG)));
        let empty =
            RegistrationInfo { addresses: Addresses::List(Vec::new()), ..RegistrationInfo::default() };
        assert_eq!(me.register(&name, &empty).unwrap_err(), Error(E_INVALIDARG));
        let dev = Device::connect(&nodes.sockets[0]).unwrap();
        let (st, _) = dev.request(&Request::AttachCloud { name: "LinkLocal_nowhere" }, 16).unwrap();
        assert_eq!(status::to_hresult(st), PEER_E_CLOUD_NOT_FOUND);
        me.shutdown();
    });
}

/// A raw attachment of its own on node `i`: a forger that writes whatever bytes it likes.
fn forger(nodes: &Nodes, i: usize) -> (Device, u64) {
    let dev = Device::connect(&nodes.sockets[i]).unwrap();
    let (st, out) = dev.request(&Request::AttachCloud { name: "Global_" }, 16).unwrap();
    assert_eq!(st, status::SUCCESS);
    let Ok(Response::Instance { instance, .. }) = Response::decode(ATTACH_CLOUD, &out) else { panic!() };
    (dev, instance)
}

fn plant(dev: &Device, attachment: u64, key: &[u8; 32], record: &[u8]) {
    let r = Request::RegisterKey { instance: attachment, key, app_data: record, credential: None };
    let (st, _) = dev.request(&r, 16).unwrap();
    assert_eq!(st, status::SUCCESS, "planting a record");
}

#[test]
fn forged_altered_and_replayed_records_of_a_secured_name_are_never_returned() {
    bounded(120, || {
        let nodes = Nodes::start(2);
        let store = IdentityStore::at(&nodes.dir.join("ids")).unwrap();
        let identity = store.create(Some("owner"), None).unwrap();
        let owner_key = store.get(&identity).unwrap().key;
        let name = create_peer_name(Some(&identity), "bank").unwrap();
        let peer_name = PeerName::parse(&name).unwrap();
        let owner = nodes.session(0);
        let addr = vec!["192.0.2.7:443".parse::<SocketAddr>().unwrap()];
        let mut info = RegistrationInfo {
            addresses: Addresses::List(addr.clone()),
            payload: b"v1".to_vec(),
            ..RegistrationInfo::default()
        };
        let mut reg = owner.register(&name, &info).unwrap();
        info.payload = b"v2".to_vec();
        reg.update(&info).unwrap();
        let genuine = reg.ids()[0];

        // Without the key, the name cannot even be registered through the API.
        let other_store = IdentityStore::at(&nodes.dir.join("other-ids")).unwrap();
        let thief = Pnrp::startup(Some(nodes.sockets[1].clone()), Some(other_store)).unwrap();
        assert_eq!(thief.register(&name, &info).unwrap_err(), Error(PEER_E_IDENTITY_NOT_FOUND));

        // So a forger on node 1 writes records into the cloud directly.
        let (dev, att) = forger(&nodes, 1);
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        let ra = [RecordAddress {
            addr: [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x66],
            port: 666,
            scope_id: 0,
        }];
        let fresh_id = || {
            let mut loc = [0u8; 16];
            getrandom::getrandom(&mut loc).unwrap();
            PnrpId::new(p2p_id(&peer_name), loc)
        };
        let content = |id: PnrpId, sequence: u64, payload: &'static [u8]| RecordContent {
            name: &peer_name,
            id,
            sequence,
            not_before: now,
            not_after: now + 3600,
            addresses: &ra,
            comment: "forged",
            payload,
        };
        // 1. The owner's own old version (validly signed, sequence 1) replayed under its key.
        plant(&dev, att, &genuine.0, &content(genuine, 1, b"v1-replayed").sign(&owner_key).unwrap());
        // 2. The name signed with the forger's key.
        let forger_key = SigningKey::from_bytes(&[0x42; 32]);
        let id = fresh_id();
        plant(&dev, att, &id.0, &content(id, u64::MAX, b"wrong-key").sign(&forger_key).unwrap());
        // 3. A record the owner signed, altered afterwards (its payload).
        let id = fresh_id();
        let mut altered = content(id, u64::MAX, b"altered!").sign(&owner_key).unwrap();
        let at = altered.windows(8).position(|w| w == b"altered!").unwrap();
        altered[at] = b'A';
        plant(&dev, att, &id.0, &altered);
        // 4. A record the owner signed for one PNRP ID, planted under another.
        let (signed_for, planted_at) = (fresh_id(), fresh_id());
        plant(&dev, att, &planted_at.0, &content(signed_for, u64::MAX, b"moved").sign(&owner_key).unwrap());
        // 5. Not a record at all.
        let id = fresh_id();
        plant(&dev, att, &id.0, b"garbage");

        // Resolvers on both nodes (fresh sessions, which have seen nothing before) get the
        // owner's current record and nothing else, however often they ask.
        for node in [1, 0, 1] {
            let resolver = nodes.session(node);
            let mut got = Vec::new();
            assert!(eventually(PATIENCE, || {
                got = resolve(&resolver, &name).unwrap_or_default();
                !got.is_empty()
            }));
            assert_eq!(got.len(), 1, "{got:?}");
            assert_eq!((got[0].payload.as_slice(), &got[0].addresses), (&b"v2"[..], &addr));
            resolver.shutdown();
        }
        drop(dev);
        reg.unregister().unwrap();
    });
}

#[test]
fn an_asynchronous_resolve_returns_endpoints_one_by_one_and_ends_with_no_more() {
    bounded(90, || {
        let nodes = Nodes::start(2);
        let name = unique("async");
        let publisher = nodes.session(0);
        let regs: Vec<Registration> = (0..3)
            .map(|i| {
                let info = RegistrationInfo {
                    addresses: Addresses::List(Vec::new()),
                    payload: format!("p{i}").into_bytes(),
                    ..RegistrationInfo::default()
                };
                publisher.register(&name, &info).unwrap()
            })
            .collect();
        let resolver = nodes.session(1);
        assert!(eventually(PATIENCE, || resolve(&resolver, &name).is_ok_and(|r| r.len() == 3)));

        let event = EventObject::new(false);
        let r = resolver.start_resolve(&name, None, 10, Some(event.clone())).unwrap();
        let mut payloads = Vec::new();
        let end = loop {
            assert!(event.wait(Some(Duration::from_secs(35))), "the event was not signalled");
            // Each call returns one endpoint; the signals of several may have merged.
            let end = loop {
                match r.get_endpoint() {
                    Ok(e) => payloads.push(String::from_utf8(e.payload).unwrap()),
                    Err(e) => break e,
                }
            };
            if end != Error(E_PENDING) {
                break end;
            }
        };
        assert_eq!(end, Error(PEER_E_NO_MORE));
        assert_eq!(r.get_endpoint().unwrap_err(), Error(PEER_E_NO_MORE), "and stays over");
        payloads.sort();
        assert_eq!(payloads, ["p0", "p1", "p2"]);
        r.end();

        // At most cMaxEndpoints.
        let r = resolver.start_resolve(&name, None, 2, None).unwrap();
        assert!(r.wait(Duration::from_secs(35)));
        let mut n = 0;
        loop {
            match r.get_endpoint() {
                Ok(_) => n += 1,
                Err(e) if e == Error(PEER_E_NO_MORE) => break,
                Err(e) if e == Error(E_PENDING) => assert!(r.wait(Duration::from_secs(35))),
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(n, 2);
        drop(regs);
    });
}
