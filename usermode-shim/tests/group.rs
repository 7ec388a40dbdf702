//! Peer groups across real daemons (`peerdrt daemon` processes on loopback): replication among
//! five members on five nodes, catch-up after being offline, refusal of unauthorised and forged
//! records, expiry, and durability when a node is killed right after AddRecord returned.
#![cfg(unix)] // the nodes are Linux daemons

mod common;

use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{DaemonProcess, EXE, bounded, eventually};
use peerdrt_shim::abi::group::{RecordFields, hresult};
use peerdrt_shim::group::client::{GroupCallError, GroupHandle, utc_now};

/// IPv4 loopback as the daemons' dual-stack sockets see it.
const LOOPBACK: Ipv6Addr = Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0x7f00, 0x0001);
const RECORD_TYPE: [u8; 16] = [0x42; 16];
const ROOT: [u8; 32] = [0xA0; 32];
const WAIT: Duration = Duration::from_secs(15);

static DIRS: AtomicUsize = AtomicUsize::new(0);

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "peerdrt-group-test-{}-{}",
        std::process::id(),
        DIRS.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn fields(data: &[u8], seconds: u64) -> RecordFields<'_> {
    RecordFields {
        record_type: RECORD_TYPE,
        expiration: utc_now() + seconds * 10_000_000,
        flags: 0,
        attributes: b"",
        data,
    }
}

fn member_secret(i: usize) -> [u8; 32] {
    [i as u8 + 1; 32]
}

fn public(secret: &[u8; 32]) -> [u8; 32] {
    peerdrt_core::group::membership::member_key(secret)
}

/// The data of record `id` on `g`, `None` if it has none.
fn data_of(g: &GroupHandle, id: &[u8; 16]) -> Option<Vec<u8>> {
    g.get(id).ok().map(|r| r.data)
}

#[test]
fn five_members_on_five_nodes_replicate_refuse_forgeries_expire_and_catch_up() {
    bounded(120, || {
        let dir = temp_dir();
        let mut daemons: Vec<DaemonProcess> =
            (0..5).map(|i| DaemonProcess::start(&dir.join(format!("node-{i}.sock")), Vec::new)).collect();
        let creator = GroupHandle::create(&daemons[0].device(), &ROOT, &member_secret(0), 3600).unwrap();
        let mut invitations = vec![creator.certificate];
        let mut members = vec![creator];
        for (i, daemon) in daemons.iter().enumerate().skip(1) {
            let invitation = members[0].invite(&public(&member_secret(i)), 1, 3600).unwrap();
            invitations.push(invitation);
            let member = GroupHandle::join(&daemon.device(), &member_secret(i), &invitation).unwrap();
            assert_eq!(
                member.add(fields(b"early", 60)),
                Err(GroupCallError(hresult::PEER_E_GROUP_NOT_READY)),
                "a joining member is not ready before its first synchronisation"
            );
            member.connect(LOOPBACK, members[0].port).unwrap();
            members.push(member);
        }
        let all_ready = eventually(WAIT, || members.iter().all(|m| m.status().is_ok_and(|s| s.ready)));
        assert!(all_ready, "every member synchronised with the creator");

        // A record added on one node appears on all.
        let id = members[0].add(fields(b"first", 3600)).unwrap();
        assert!(eventually(WAIT, || members.iter().all(|m| data_of(m, &id).as_deref() == Some(b"first"))));
        // ... also when a plain member writes it (it floods through the creator).
        let id2 = members[3].add(fields(b"from three", 3600)).unwrap();
        assert!(eventually(WAIT, || members.iter().all(|m| data_of(m, &id2).is_some())));

        // Member 4 goes offline (its node is killed) while records change.
        daemons[4].kill();
        members[0].update(&id, fields(b"updated", 3600)).unwrap();
        members[3].delete(&id2).unwrap();
        let id3 = members[2].add(fields(b"while four was away", 3600)).unwrap();
        assert!(eventually(WAIT, || members[..4]
            .iter()
            .all(|m| data_of(m, &id).as_deref() == Some(b"updated")
                && data_of(m, &id2).is_none()
                && data_of(m, &id3).is_some())));

        // Unauthorised: a plain member may not change another's record; nothing changes.
        assert_eq!(
            members[1].update(&id, fields(b"hijacked", 3600)),
            Err(GroupCallError(hresult::PEER_E_NOT_AUTHORIZED))
        );
        assert_eq!(data_of(&members[1], &id).as_deref(), Some(&b"updated"[..]));

        // Forged: an invitation altered to name an outsider's key is refused.
        let mut forged = invitations[1];
        forged[32..64].copy_from_slice(&public(&[0xEE; 32]));
        let outsider_node = DaemonProcess::start(&dir.join("outsider.sock"), Vec::new);
        let outsider = GroupHandle::join(&outsider_node.device(), &[0xEE; 32], &forged);
        match outsider {
            Err(e) => assert_eq!(e, GroupCallError(hresult::PEER_E_INVALID_CREDENTIAL)),
            Ok(outsider) => {
                // Accepted locally at most: the members refuse its handshake and its records.
                outsider.connect(LOOPBACK, members[0].port).unwrap();
                std::thread::sleep(Duration::from_secs(2));
                assert!(!outsider.status().unwrap().ready, "no member synchronised with the outsider");
                assert_eq!(members[0].status().unwrap().connections, 3, "the outsider is not connected");
            }
        }

        // Member 4 comes back: its node restarts, its group reopens from its log and it catches up.
        daemons[4] = DaemonProcess::start(&dir.join("node-4.sock"), Vec::new);
        let back = GroupHandle::join(&daemons[4].device(), &member_secret(4), &invitations[4]).unwrap();
        assert!(back.status().unwrap().ready, "reopened from its log, it is ready at once");
        assert_eq!(data_of(&back, &id).as_deref(), Some(&b"first"[..]), "what it held before, from its log");
        back.connect(LOOPBACK, members[0].port).unwrap();
        members[4] = back;
        assert!(eventually(WAIT, || data_of(&members[4], &id).as_deref() == Some(b"updated")
            && data_of(&members[4], &id2).is_none()
            && data_of(&members[4], &id3).is_some()));

        // Expired records disappear everywhere.
        let short = members[0].add(fields(b"short-lived", 2)).unwrap();
        assert!(eventually(WAIT, || members.iter().all(|m| data_of(m, &short).is_some())));
        assert!(eventually(WAIT, || members.iter().all(|m| data_of(m, &short).is_none())), "expired");
        for m in &members {
            let ids = m.ids(Some(&RECORD_TYPE)).unwrap();
            assert_eq!(ids.len(), 2, "the updated record and the one added while four was away");
        }
        drop(daemons);
        let _ = std::fs::remove_dir_all(&dir);
    });
}

#[test]
fn a_record_survives_a_kill_right_after_add_record_returned() {
    bounded(60, || {
        let dir = temp_dir();
        let socket = dir.join("node.sock");
        let mut daemon = DaemonProcess::start(&socket, Vec::new);
        let group = GroupHandle::create(&daemon.device(), &ROOT, &member_secret(0), 3600).unwrap();
        let certificate = group.certificate;
        let id = group.add(fields(b"must survive", 3600)).unwrap();
        let largest = vec![0x5A; peerdrt_core::group::limits::MAX_RECORD_SIZE];
        let big =
            group.add(fields(&largest, 3600)).expect("a record at the size limit goes through the device");
        daemon.kill();

        let daemon = DaemonProcess::start(&socket, Vec::new);
        let reopened = GroupHandle::join(&daemon.device(), &member_secret(0), &certificate).unwrap();
        assert_eq!(data_of(&reopened, &id).as_deref(), Some(&b"must survive"[..]));
        assert_eq!(data_of(&reopened, &big), Some(largest));
        let mut both = vec![id, big];
        both.sort();
        assert_eq!(reopened.ids(None).unwrap(), both);
        drop(daemon);
        let _ = std::fs::remove_dir_all(&dir);
    });
}

/// Runs `peerdrt --json group ...` as user `user` (own identity and group directories) against
/// `socket`; returns its JSON lines.
fn cli(dir: &Path, user: &str, socket: &Path, args: &[&str]) -> Vec<serde_json::Value> {
    let out = Command::new(EXE)
        .arg("--json")
        .arg("--socket")
        .arg(socket)
        .arg("group")
        .args(args)
        .env("PEERDRT_IDENTITY_DIR", dir.join(user).join("identities"))
        .env("PEERDRT_GROUP_DIR", dir.join(user).join("groups"))
        .output()
        .unwrap();
    assert!(out.status.success(), "group {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn the_cli_creates_invites_joins_adds_lists_and_watches() {
    bounded(60, || {
        let dir = temp_dir();
        let (a, b) = (
            DaemonProcess::start(&dir.join("a.sock"), Vec::new),
            DaemonProcess::start(&dir.join("b.sock"), Vec::new),
        );
        let created = cli(&dir, "alice", &a.socket, &["create", "club"]);
        let port = created[0]["port"].as_u64().unwrap();
        let key = cli(&dir, "bob", &b.socket, &["key"])[0]["key"].as_str().unwrap().to_owned();
        let invitation =
            cli(&dir, "alice", &a.socket, &["invite", "club", "--member", &key])[0]["invitation"]
                .as_str()
                .unwrap()
                .to_owned();
        cli(&dir, "bob", &b.socket, &["join", "club", &invitation]);

        // Alice's node holds the group open and connected while Bob adds and Alice watches.
        let peer_a = format!("127.0.0.1:{port}");
        let watcher = Command::new(EXE)
            .args(["--json", "--socket"])
            .arg(&a.socket)
            .args(["group", "watch", "club", "--for", "8"])
            .env("PEERDRT_IDENTITY_DIR", dir.join("alice").join("identities"))
            .env("PEERDRT_GROUP_DIR", dir.join("alice").join("groups"))
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(500));
        let added = cli(&dir, "bob", &b.socket, &["add", "club", "hello from bob", "--peer", &peer_a]);
        let id = added[0]["id"].as_str().unwrap().to_owned();
        let watched = watcher.wait_with_output().unwrap();
        let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&watched.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert!(
            lines
                .iter()
                .any(|l| l["type"] == "added" && l["id"] == id.as_str() && l["data"] == "hello from bob"),
            "watch saw Bob's record: {lines:?}"
        );
        let listed = cli(&dir, "alice", &a.socket, &["list", "club"]);
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0]["data"], "hello from bob", "Alice's node keeps the record after watch exits");
        drop((a, b));
        let _ = std::fs::remove_dir_all(&dir);
    });
}
