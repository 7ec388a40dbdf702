//! The `peerdrt` command line against real daemons: register in one process, search from
//! another, unregister; status; and the README's demo.
#![cfg(unix)] // the nodes are Linux daemons

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use serde_json::Value;

fn run_json(args: &[String]) -> (bool, Value) {
    let out = Command::new(EXE).args(args).stderr(Stdio::inherit()).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text.lines().rfind(|l| l.starts_with('{')).unwrap_or("{}");
    (out.status.success(), serde_json::from_str(last).unwrap_or(Value::Null))
}

fn node_args(cloud: &Cloud, i: usize) -> Vec<String> {
    vec![
        "--socket".into(),
        cloud.nodes[i].socket.display().to_string(),
        "--seed".into(),
        loopback(cloud.nodes[i].port).to_string(),
    ]
}

#[test]
fn register_search_unregister_from_the_command_line() {
    bounded(120, || {
        let cloud = Cloud::start(3);
        let key = random_key();
        let mut register = Command::new(EXE)
            .args(["--json", "drt", "register", "--key", &key.to_hex(), "--data", "hello from the cli"])
            .args(node_args(&cloud, 1))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(register.stdout.take().unwrap()).lines();
        let first = next_json(&mut lines).expect("register prints a line");
        assert_eq!(first["event"], "registered", "{first}");
        assert_eq!(first["status"], "DRT_ACTIVE", "{first}");

        let mut search =
            vec!["--json".to_string(), "drt".into(), "search".into(), "--key".into(), key.to_hex()];
        search.extend(node_args(&cloud, 2));
        let mut found = Value::Null;
        assert!(
            eventually(Duration::from_secs(15), || {
                let (ok, v) = run_json(&search);
                found = v;
                ok
            }),
            "not found: {found}"
        );
        assert_eq!(found["results"][0]["data"], "hello from the cli");
        assert_eq!(found["results"][0]["match"], "exact");
        assert_eq!(found["outcome"], "complete");
        assert!(!found["path"].as_array().unwrap().is_empty());

        let mut near = search.clone();
        near.extend(["--near".into(), "2".into()]);
        let (ok, v) = run_json(&near);
        assert!(ok && v["results"].as_array().unwrap().iter().any(|r| r["key"] == key.to_hex()), "{v}");

        let mut iterative = search.clone();
        iterative.push("--iterative".into());
        let (ok, v) = run_json(&iterative);
        assert!(ok && v["results"][0]["key"] == key.to_hex(), "{v}");

        let (ok, v) =
            run_json(&["--json".into(), "drt".into(), "unregister".into(), "--key".into(), key.to_hex()]);
        assert!(ok, "{v}");
        assert!(register.wait().unwrap().success());
        let rest: Vec<Value> =
            lines.map_while(Result::ok).filter_map(|l| serde_json::from_str(&l).ok()).collect();
        assert!(rest.iter().any(|v| v["event"] == "unregistered"), "{rest:?}");
        assert!(eventually(Duration::from_secs(15), || !run_json(&search).0), "still found after unregister");
        let (ok, _) = run_json(&["drt".into(), "unregister".into(), "--key".into(), key.to_hex()]);
        assert!(!ok, "nothing left to unregister");

        let mut status = vec!["--json".to_string(), "status".into()];
        status.extend(node_args(&cloud, 0));
        let (ok, v) = run_json(&status);
        assert!(ok, "{v}");
        assert_eq!(v["reachable"], true);
        assert_eq!(v["probe"]["status"], "DRT_ACTIVE", "{v}");
        let (ok, v) = run_json(&[
            "--json".into(),
            "status".into(),
            "--socket".into(),
            cloud.dir.join("none").display().to_string(),
        ]);
        assert!(!ok && v["reachable"] == false, "{v}");
    });
}

#[test]
fn the_demo_finds_everything_and_leaves_nothing_behind() {
    bounded(240, || {
        let out = Command::new(EXE)
            .args(["--json", "demo", "--nodes", "8", "--keys", "10"])
            .stderr(Stdio::inherit())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let v: Value = serde_json::from_str(text.lines().last().unwrap_or("{}")).unwrap();
        assert!(out.status.success(), "{v}");
        assert_eq!(
            (v["ok"].clone(), v["found"].clone(), v["total"].clone()),
            (Value::Bool(true), 20.into(), 20.into())
        );
        assert_eq!(v["stopped_cleanly"], v["processes"], "{v}");
        assert_eq!(v["processes"], 10);
        assert_eq!(v["temp_removed"], true);
        let dir = std::path::PathBuf::from(v["dir"].as_str().unwrap());
        assert!(!dir.exists());
        assert!(processes_mentioning(&dir).is_empty(), "processes left behind");
    });
}

/// `peerdrtd` next to this package's binary, built now if it is not there (`cargo test -p
/// peerdrt-shim` does not build the root package's binaries).
fn peerdrtd() -> std::path::PathBuf {
    let path = std::path::Path::new(EXE).with_file_name("peerdrtd");
    if !path.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "peerdrt", "--bin", "peerdrtd"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo build --bin peerdrtd");
        assert!(status.success());
    }
    assert!(path.exists(), "no {}", path.display());
    path
}

#[test]
fn the_demo_runs_on_peerdrtd_too() {
    bounded(600, || {
        let daemon = peerdrtd();
        let out = Command::new(EXE)
            .args(["--json", "demo", "--nodes", "5", "--keys", "5", "--node-binary"])
            .arg(&daemon)
            .stderr(Stdio::inherit())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let v: Value = serde_json::from_str(text.lines().last().unwrap_or("{}")).unwrap();
        assert!(out.status.success() && v["ok"] == true, "{v}");
        assert_eq!(v["stopped_cleanly"], v["processes"], "{v}");
        assert!(processes_mentioning(std::path::Path::new(v["dir"].as_str().unwrap())).is_empty());
    });
}
