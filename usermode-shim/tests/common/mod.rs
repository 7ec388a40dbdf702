//! Test support: real `peerdrt daemon` nodes on loopback (the driver crate's host module, run
//! by this package's own binary), client processes, time bounds.
#![allow(dead_code)]

pub mod group;

use std::io::{BufRead, BufReader, Lines, Read, Write};
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use peerdrt_shim::Key;
use peerdrt_shim::drt::{Drt, SearchInfo, Settings};
use serde_json::Value;

/// The `peerdrt` binary of this package.
pub const EXE: &str = env!("CARGO_BIN_EXE_peerdrt");

/// Runs `f` on its own thread and fails the test if it takes longer than `secs`.
pub fn bounded<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(v) => {
            let _ = handle.join();
            v
        }
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => match handle.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => unreachable!("the test thread ended without a result"),
        },
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => panic!("the test did not finish within {secs} s"),
    }
}

/// Polls `f` every 100 ms until it holds or `wait` passes.
pub fn eventually(wait: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + wait;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// An empty directory `peerdrt-<name>-<pid>` under the system's temporary directory (what an
/// earlier run of the same name left there is removed).
pub fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("peerdrt-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Points the shim in this process at the daemon on `socket`, with its identity store in
/// `identities` and its group memberships in `groups` (else in their default place).
///
/// # Safety
/// As [`std::env::set_var`]: no other thread of the process reads or writes the environment.
pub unsafe fn use_daemon(socket: &Path, identities: &Path, groups: Option<&Path>) {
    unsafe {
        std::env::set_var("PEERDRT_SOCKET", socket);
        std::env::set_var("PEERDRT_IDENTITY_DIR", identities);
        if let Some(groups) = groups {
            std::env::set_var("PEERDRT_GROUP_DIR", groups);
        }
    }
}

pub fn random_key() -> Key {
    let mut k = [0u8; 32];
    getrandom::getrandom(&mut k).unwrap();
    Key(k)
}

pub fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// A UDP port that was free on IPv6 and IPv4 a moment ago (a daemon binds both).
pub fn free_port() -> u16 {
    UdpSocket::bind("[::]:0")
        .or_else(|_| UdpSocket::bind("127.0.0.1:0"))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn terminate(child: &mut Child) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    // SAFETY: SIGTERM to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A node: a daemon child with a standing instance.
pub struct Node {
    pub socket: PathBuf,
    pub port: u16,
    child: Child,
}

impl Node {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// N nodes on loopback in a private directory; dropping it stops them and removes it.
pub struct Cloud {
    pub dir: PathBuf,
    pub nodes: Vec<Node>,
}

static CLOUDS: AtomicUsize = AtomicUsize::new(0);

impl Cloud {
    /// Starts `n` nodes (each seeded from node 0 and the previous one) and waits until nearest
    /// searches from an observer have found every node's key.
    pub fn start(n: usize) -> Cloud {
        let dir = std::env::temp_dir().join(format!(
            "peerdrt-shim-test-{}-{}",
            std::process::id(),
            CLOUDS.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut cloud = Cloud { dir, nodes: Vec::new() };
        for i in 0..n {
            let mut attempt = 0;
            loop {
                let port = free_port();
                let socket = cloud.dir.join(format!("node-{i}.sock"));
                let mut cmd = Command::new(EXE);
                cmd.args(["daemon", "--die-with-parent", "--instance-port", &port.to_string()])
                    .arg("--socket")
                    .arg(&socket);
                if i > 0 {
                    cmd.arg("--seed").arg(loopback(cloud.nodes[0].port).to_string());
                    cmd.arg("--seed").arg(loopback(cloud.nodes[i - 1].port).to_string());
                }
                let log = std::fs::File::create(cloud.dir.join(format!("node-{i}.log"))).unwrap();
                let child =
                    cmd.stdin(Stdio::null()).stdout(log.try_clone().unwrap()).stderr(log).spawn().unwrap();
                let mut node = Node { socket, port, child };
                let up = eventually(Duration::from_secs(10), || {
                    std::os::unix::net::UnixStream::connect(&node.socket).is_ok()
                        || matches!(node.child.try_wait(), Ok(Some(_)))
                });
                if up && matches!(node.child.try_wait(), Ok(None)) {
                    cloud.nodes.push(node);
                    break;
                }
                terminate(&mut node.child);
                attempt += 1;
                assert!(attempt < 4, "node {i} did not start (see {})", cloud.dir.display());
            }
        }
        cloud.wait_formed(Duration::from_secs(30));
        cloud
    }

    fn wait_formed(&self, wait: Duration) {
        let observer = Drt::open(&self.settings(0)).expect("observer DrtOpen");
        observer.wait_active(Duration::from_secs(10));
        let want = self.nodes.len();
        let mut seen = std::collections::BTreeSet::new();
        let formed = eventually(wait, || {
            if let Ok(s) =
                observer.search(&random_key(), &SearchInfo::nearest(want as u32), Duration::from_secs(3))
            {
                seen.extend(s.results().filter_map(Result::ok).map(|r| r.key));
            }
            seen.len() >= want
        });
        assert!(formed, "the cloud did not form: {} of {want} node keys found", seen.len());
        observer.close();
    }

    /// Kills node `i` outright (SIGKILL: no revocations are sent).
    pub fn kill(&mut self, i: usize) {
        let n = &mut self.nodes[i];
        let _ = n.child.kill();
        let _ = n.child.wait();
    }

    /// Settings of an instance on node `i`, seeded by its standing instance and node 0's.
    pub fn settings(&self, i: usize) -> Settings {
        let mut seeds = vec![loopback(self.nodes[i].port)];
        if i != 0 {
            seeds.push(loopback(self.nodes[0].port));
        }
        Settings { device: Some(self.nodes[i].socket.clone()), seeds, ..Settings::default() }
    }

    /// An active instance on node `i`.
    pub fn open(&self, i: usize) -> Drt {
        let d = Drt::open(&self.settings(i)).expect("DrtOpen");
        assert_eq!(d.wait_active(Duration::from_secs(10)), Some(peerdrt_shim::drt::Status::Active));
        d
    }

    /// `--attach` arguments for the demo clients.
    pub fn attach(&self, i: usize) -> [String; 2] {
        ["--attach".into(), format!("{},{}", self.nodes[i].socket.display(), self.nodes[i].port)]
    }
}

impl Drop for Cloud {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            terminate(&mut n.child);
        }
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Process A: `peerdrt demo-register`, driven through its stdin.
pub struct Registrar {
    pub child: Child,
    stdin: Option<ChildStdin>,
    lines: Lines<BufReader<ChildStdout>>,
    pub ready: Value,
}

impl Registrar {
    /// Registers `entries` (key, data) through an instance on node `node`.
    pub fn spawn(cloud: &Cloud, node: usize, entries: &[(Key, &str)]) -> Registrar {
        let mut cmd = Command::new(EXE);
        cmd.arg("demo-register").args(cloud.attach(node)).arg("--die-with-parent");
        cmd.arg("--seed").arg(loopback(cloud.nodes[0].port).to_string());
        for (k, d) in entries {
            cmd.arg("--entry").arg(format!("{}={d}", k.to_hex()));
        }
        let mut child =
            cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().unwrap();
        let stdin = child.stdin.take();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let ready = next_json(&mut lines).expect("demo-register reports ready");
        assert_eq!(ready["type"], "ready", "{ready}");
        Registrar { child, stdin, lines, ready }
    }

    /// Sends a command line and returns the reply.
    pub fn command(&mut self, line: &str) -> Value {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
        next_json(&mut self.lines).expect("a reply")
    }

    /// The UDP port of its first instance.
    pub fn port(&self) -> u16 {
        self.ready["instances"][0]["port"].as_u64().unwrap() as u16
    }

    pub fn registration_handle(&self, i: usize) -> u64 {
        self.ready["registrations"][i]["handle"].as_u64().unwrap()
    }

    pub fn instance_handle(&self) -> u64 {
        self.ready["instances"][0]["handle"].as_u64().unwrap()
    }

    pub fn held_search(&self) -> u64 {
        self.ready["held_search"].as_u64().unwrap()
    }

    /// Ends it politely (stdin closes: it unregisters and exits).
    pub fn quit(mut self) -> std::process::ExitStatus {
        drop(self.stdin.take());
        self.child.wait().unwrap()
    }
}

impl Drop for Registrar {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn next_json(lines: &mut impl Iterator<Item = std::io::Result<String>>) -> Option<Value> {
    for line in lines.by_ref() {
        if let Ok(v) = serde_json::from_str::<Value>(&line.ok()?) {
            return Some(v);
        }
    }
    None
}

/// An exact search from `drt`: the data of `key`, if found.
pub fn find(drt: &Drt, key: &Key) -> Option<Vec<u8>> {
    let s = drt.search(key, &SearchInfo::exact(), Duration::from_secs(5)).ok()?;
    let r = s.results().filter_map(Result::ok).find(|r| r.key == *key)?;
    Some(r.app_data)
}

/// Processes whose command line mentions `needle`.
pub fn processes_mentioning(needle: &Path) -> Vec<u32> {
    let needle = needle.to_string_lossy().into_owned();
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for e in entries.flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
            if let Ok(cmd) = std::fs::read(e.path().join("cmdline")) {
                let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
                if cmd.contains(&needle) && pid != std::process::id() {
                    out.push(pid);
                }
            }
        }
    }
    out
}

/// The directory holding libpeerdrt_shim.so for C programs to link. `cargo test` builds the
/// cdylib into `deps/` beside the test binaries (fresh for this run), so that copy comes first;
/// the uplifted copy one level up may be left over from an older `cargo build`.
pub fn cdylib_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
    let deps = profile_dir.join("deps");
    if deps.join("libpeerdrt_shim.so").exists() {
        return deps;
    }
    let status = Command::new(env!("CARGO"))
        .args(["build", "-p", "peerdrt-shim", "--lib"])
        .status()
        .expect("cargo build of the cdylib");
    assert!(status.success());
    assert!(
        profile_dir.join("libpeerdrt_shim.so").exists(),
        "no libpeerdrt_shim.so in {}",
        profile_dir.display()
    );
    profile_dir
}

/// A command for a C program linked against [`cdylib_dir`]'s library. `cargo test` puts the
/// profile directory, which may hold an older uplifted copy of the library, on
/// LD_LIBRARY_PATH, and LD_LIBRARY_PATH outranks the program's RUNPATH: the program must load
/// the library it was linked against.
pub fn c_program(path: &Path) -> Command {
    let mut command = Command::new(path);
    command.env_remove("LD_LIBRARY_PATH");
    command
}

/// The functions `headers` (under include/) declare `WINAPI` and the symbols the cdylib
/// exports, each filtered by `wanted` and sorted: (declared, exported).
pub fn declared_and_exported(headers: &[&str], wanted: impl Fn(&str) -> bool) -> (Vec<String>, Vec<String>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut declared: Vec<String> = Vec::new();
    for header in headers {
        let text = std::fs::read_to_string(root.join("include").join(header)).unwrap();
        declared.extend(
            text.split("WINAPI ")
                .skip(1)
                .map(|p| p.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect::<String>())
                .filter(|n| wanted(n)),
        );
    }
    declared.sort();
    let lib = cdylib_dir().join("libpeerdrt_shim.so");
    let out = Command::new("nm").args(["-D", "--defined-only"]).arg(&lib).output().expect("nm (binutils)");
    let mut exported: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2))
        .filter(|n| wanted(n))
        .map(String::from)
        .collect();
    exported.sort();
    (declared, exported)
}

/// A C program under test, spawned with its stdin, stdout and stderr piped to this process:
/// driven by lines on its stdin, followed by the lines it prints.
pub struct CProgram {
    child: Child,
    stdin: ChildStdin,
    stderr: ChildStderr,
    lines: Lines<BufReader<ChildStdout>>,
}

impl CProgram {
    /// Spawns `command` (from [`c_program`], with its arguments and environment).
    pub fn spawn(command: &mut Command) -> CProgram {
        let mut child =
            command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let stdin = child.stdin.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        CProgram { child, stdin, stderr, lines }
    }

    /// The lines it prints before the line `word`; fails the test, with what it printed on
    /// stdout and stderr, if it ends first.
    pub fn wait_for(&mut self, word: &str) -> Vec<String> {
        self.read_until(word, |line| line == word).0
    }

    /// The lines it prints up to and including the first that starts with `prefix`; fails the
    /// test, with what it printed on stdout and stderr, if it ends first.
    pub fn wait_for_prefix(&mut self, prefix: &str) -> Vec<String> {
        let (mut seen, line) = self.read_until(prefix, |line| line.starts_with(prefix));
        seen.push(line);
        seen
    }

    /// The lines before the first that `done` accepts, and that line.
    fn read_until(&mut self, what: &str, done: impl Fn(&str) -> bool) -> (Vec<String>, String) {
        let mut seen = Vec::new();
        for line in self.lines.by_ref() {
            let line = line.unwrap();
            if done(&line) {
                return (seen, line);
            }
            seen.push(line);
        }
        let mut err = String::new();
        let _ = self.stderr.read_to_string(&mut err);
        panic!("the C program ended before {what}; it printed {seen:?} and on stderr:\n{err}");
    }

    /// Writes `line` to its stdin.
    pub fn send(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").unwrap();
    }

    /// Waits for it to exit (its stdin still open).
    pub fn wait(mut self) -> ExitStatus {
        self.child.wait().unwrap()
    }
}

/// Compiles `tests/c/<source>` against include/ and [`cdylib_dir`]'s library into `out`, as
/// strict C11 with every warning an error; `defines` are extra `-D` flags.
pub fn compile_c(source: &str, out: &Path, defines: &[&str]) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lib = cdylib_dir();
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let output = Command::new(&cc)
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic-errors"])
        .args(defines.iter().map(|d| format!("-D{d}")))
        .arg("-I")
        .arg(root.join("include"))
        .arg(root.join("tests/c").join(source))
        .arg("-L")
        .arg(&lib)
        .arg("-lpeerdrt_shim")
        .arg(format!("-Wl,-rpath,{}", lib.display()))
        .arg("-o")
        .arg(out)
        .output()
        .expect("a C compiler (cc)");
    assert!(output.status.success(), "{cc} failed:\n{}", String::from_utf8_lossy(&output.stderr));
}

/// A NUL-terminated UTF-16 string from C (read unaligned: it may sit anywhere in a block).
///
/// # Safety
/// `p` points at a NUL-terminated UTF-16 string.
pub unsafe fn narrow(p: *const u16) -> String {
    let mut units = Vec::new();
    for i in 0.. {
        let unit = unsafe { p.add(i).read_unaligned() };
        if unit == 0 {
            break;
        }
        units.push(unit);
    }
    String::from_utf16(&units).unwrap()
}

/// How long a daemon gets to open its device socket; start-up takes milliseconds, but CI
/// machines are shared.
const DAEMON_START: Duration = Duration::from_secs(30);

/// One `peerdrt daemon` process serving a device socket: its output goes to `<socket>.log`, its
/// state directory is `<socket>.state`, and dropping it stops it (SIGTERM, then SIGKILL).
pub struct DaemonProcess {
    pub socket: PathBuf,
    /// The UDP port of its PNRP Global_ cloud, if it runs one.
    pub pnrp_port: Option<u16>,
    child: Child,
}

impl DaemonProcess {
    /// Starts a daemon on `socket` with the extra arguments `args` gives (asked again for every
    /// attempt, so a port it picks is fresh). A daemon that exits before its socket answers,
    /// e.g. because a port picked as free was taken in between, is started again; after three
    /// attempts the test fails with the daemon's log.
    pub fn start(socket: &Path, mut args: impl FnMut() -> Vec<String>) -> DaemonProcess {
        let log_path = socket.with_extension("log");
        for attempt in 1..=3 {
            let log = std::fs::OpenOptions::new().create(true).append(true).open(&log_path).unwrap();
            let child = Command::new(EXE)
                .args(["daemon", "--die-with-parent", "--socket"])
                .arg(socket)
                .args(args())
                .env_remove("PEERDRT_STATE_DIR")
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap();
            let mut daemon = DaemonProcess { socket: socket.to_owned(), pnrp_port: None, child };
            let up = eventually(DAEMON_START, || {
                std::os::unix::net::UnixStream::connect(socket).is_ok()
                    || matches!(daemon.child.try_wait(), Ok(Some(_)))
            });
            if up && matches!(daemon.child.try_wait(), Ok(None)) {
                return daemon;
            }
            eprintln!("daemon at {} did not start (attempt {attempt})", socket.display());
        }
        panic!(
            "daemon at {} did not start; its log:\n{}",
            socket.display(),
            std::fs::read_to_string(&log_path).unwrap_or_default()
        );
    }

    /// A daemon running the PNRP Global_ cloud on a free port, seeded from `seed` if given.
    pub fn pnrp(socket: &Path, seed: Option<u16>) -> DaemonProcess {
        let mut port = 0;
        let mut daemon = DaemonProcess::start(socket, || {
            port = free_port();
            let mut args = vec!["--pnrp-port".to_string(), port.to_string()];
            if let Some(seed) = seed {
                args.extend(["--pnrp-seed".to_string(), format!("127.0.0.1:{seed}")]);
            }
            args
        });
        daemon.pnrp_port = Some(port);
        daemon
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A fresh open of its device.
    pub fn device(&self) -> peerdrt_shim::device::Device {
        peerdrt_shim::device::Device::connect(&self.socket).unwrap()
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for DaemonProcess {
    fn drop(&mut self) {
        terminate(&mut self.child);
    }
}

/// A NUL-terminated UTF-16 copy of `s`, for C.
pub fn wide(s: &str) -> Vec<u16> {
    s.encode_utf16().chain([0]).collect()
}
