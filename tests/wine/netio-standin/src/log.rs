//! What the stand-in reports: violation lines, lifecycle notes, the deregistration summary,
//! and the counters behind them. Every line goes to stderr and is appended to the log file
//! (`PEERDRT_NETIO_LOG`, default `C:\netio-standin.log`), which the Wine lane greps.

use std::fs::OpenOptions;
use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Rules the client broke.
pub static VIOLATIONS: AtomicU64 = AtomicU64::new(0);
/// Bindings that reached Attached.
pub static ATTACHES: AtomicU64 = AtomicU64::new(0);
/// Bindings whose detach completed.
pub static DETACHES: AtomicU64 = AtomicU64::new(0);
/// ClientDetachProvider answers.
pub static DETACH_PENDING: AtomicU64 = AtomicU64::new(0);
pub static DETACH_NOW: AtomicU64 = AtomicU64::new(0);
/// Traffic.
pub static DATAGRAMS_SENT: AtomicU64 = AtomicU64::new(0);
pub static DATAGRAMS_INDICATED: AtomicU64 = AtomicU64::new(0);
/// WskReceiveFromEvent calls (each may chain several datagrams).
pub static RECEIVE_CALLBACKS: AtomicU64 = AtomicU64::new(0);
pub static INDICATIONS_RETAINED: AtomicU64 = AtomicU64::new(0);
pub static INDICATIONS_RELEASED: AtomicU64 = AtomicU64::new(0);
pub static IRPS_COMPLETED: AtomicU64 = AtomicU64::new(0);

static FILE_LOCK: Mutex<()> = Mutex::new(());

/// Knobs, from the environment of winedevice.exe. Wine's services.exe builds that environment
/// from the registry when it starts, not from the shell's: set them as values of
/// `HKLM\System\CurrentControlSet\Control\Session Manager\Environment` before the prefix's
/// services start (or restart them with `wineserver -k`).
pub struct Config {
    pub log_path: String,
    /// Delay between NmrRegisterClient returning and ClientAttachProvider (attach thread).
    pub attach_delay: Duration,
    /// If set, the provider detaches the client on its own this long after attach (the "WSK
    /// subsystem goes away" path), while the client is busy.
    pub detach_after: Option<Duration>,
    /// How long the detach thread waits for NmrClientDetachProviderComplete.
    pub detach_timeout: Duration,
    /// How long NmrWaitForClientDeregisterComplete waits before it gives up (and says so).
    pub deregister_timeout: Duration,
    /// Longest random delay before an IRP completes (widens the race windows).
    pub max_completion_delay: Duration,
    /// Log every call, not only lifecycle events.
    pub verbose: bool,
}

fn env_ms(name: &str, default: u64) -> Duration {
    Duration::from_millis(std::env::var(name).ok().and_then(|v| v.trim().parse().ok()).unwrap_or(default))
}

pub fn config() -> &'static Config {
    static CONFIG: std::sync::OnceLock<Config> = std::sync::OnceLock::new();
    CONFIG.get_or_init(|| Config {
        log_path: std::env::var("PEERDRT_NETIO_LOG")
            .ok()
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| r"C:\netio-standin.log".to_string()),
        attach_delay: env_ms("PEERDRT_NETIO_ATTACH_DELAY_MS", 50),
        detach_after: std::env::var("PEERDRT_NETIO_DETACH_AFTER_MS")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .map(Duration::from_millis),
        detach_timeout: env_ms("PEERDRT_NETIO_DETACH_TIMEOUT_MS", 15_000),
        deregister_timeout: env_ms("PEERDRT_NETIO_DEREGISTER_TIMEOUT_MS", 30_000),
        max_completion_delay: env_ms("PEERDRT_NETIO_COMPLETION_DELAY_MS", 2),
        verbose: std::env::var("PEERDRT_NETIO_VERBOSE").is_ok_and(|v| v != "0"),
    })
}

#[link(name = "kernel32")]
unsafe extern "system" {
    fn OutputDebugStringA(text: *const u8);
}

/// Writes one line to stderr, the debugger channel and the log file. winedevice.exe often has
/// no usable stderr; OutputDebugString reaches Wine's stderr with `WINEDEBUG=+debugstr`, beside
/// the driver's DbgPrint output.
pub fn line(text: &str) {
    let _guard = FILE_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    eprintln!("{text}");
    let mut c = text.replace('\0', "?").into_bytes();
    c.extend_from_slice(b"\n\0");
    // SAFETY: a NUL-terminated string.
    unsafe { OutputDebugStringA(c.as_ptr()) };
    if let Ok(mut file) = OpenOptions::new().create(true).append(true).open(&config().log_path) {
        let _ = writeln!(file, "{text}");
    }
}

/// A rule the client broke: counted, and reported on a line starting `NETIO-STANDIN VIOLATION:`.
pub fn violation(text: &str) {
    let n = VIOLATIONS.fetch_add(1, Ordering::SeqCst) + 1;
    line(&format!("NETIO-STANDIN VIOLATION: {text} (violation #{n})"));
}

/// A lifecycle event.
pub fn note(text: &str) {
    line(&format!("NETIO-STANDIN: {text}"));
}

/// A per-call trace, only with PEERDRT_NETIO_VERBOSE.
pub fn trace(text: impl FnOnce() -> String) {
    if config().verbose {
        line(&format!("NETIO-STANDIN: {}", text()));
    }
}

/// The line the Wine lane asserts on (zero violations), and a line of traffic counters.
pub fn summary(sockets_open: usize, retained: usize) {
    let get = |c: &AtomicU64| c.load(Ordering::SeqCst);
    line(&format!(
        "NETIO-STANDIN SUMMARY: attaches={} detaches={} sockets_open={} retained={} violations={}",
        get(&ATTACHES),
        get(&DETACHES),
        sockets_open,
        retained,
        get(&VIOLATIONS)
    ));
    line(&format!(
        "NETIO-STANDIN STATS: detach_pending={} detach_now={} sent={} indicated={} callbacks={} retained_total={} released={} irps_completed={}",
        get(&DETACH_PENDING),
        get(&DETACH_NOW),
        get(&DATAGRAMS_SENT),
        get(&DATAGRAMS_INDICATED),
        get(&RECEIVE_CALLBACKS),
        get(&INDICATIONS_RETAINED),
        get(&INDICATIONS_RELEASED),
        get(&IRPS_COMPLETED)
    ));
}

/// `0x%08X` of an NTSTATUS.
pub fn hex(status: i32) -> String {
    format!("0x{:08X}", status as u32)
}

/// Once per process: the configuration in effect (so a lane log shows which knobs applied).
pub fn announce() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let c = config();
        note(&format!(
            "loaded (pid {}): log {}, attach delay {} ms, provider detach after {}, detach timeout {} ms, deregister timeout {} ms, completion delay <= {} ms{}",
            std::process::id(),
            c.log_path,
            c.attach_delay.as_millis(),
            c.detach_after.map_or("never".to_string(), |d| format!("{} ms", d.as_millis())),
            c.detach_timeout.as_millis(),
            c.deregister_timeout.as_millis(),
            c.max_completion_delay.as_millis(),
            if c.verbose { ", verbose" } else { "" }
        ));
    });
}
