//! `peerdrt-wine-client`: reaches `peerdrt.sys` under Wine the way an application would —
//! `CreateFileW(\\.\PeerDrt)` opened for overlapped I/O and `DeviceIoControl` with the
//! peerdrt-abi encodings — and checks what comes back.
//!
//! ```text
//! peerdrt-wine-client smoke                    the device round trip on one machine
//! peerdrt-wine-client cloud --port P --seed 127.0.0.1:P0 --key HEX --find HEX[,HEX]
//!                            [--hold SECS [--hold-until FILE]] [--timeout SECS]
//!                                              join a cloud, register KEY, find the others,
//!                                              keep KEY registered until FILE exists
//! peerdrt-wine-client pnrp --key HEX --find HEX[,HEX] [--hold SECS [--hold-until FILE]]
//!                                              the driver's Global_ PNRP cloud: list it,
//!                                              attach, register KEY, find the others
//! peerdrt-wine-client provider-detach          stay busy while the WSK provider detaches
//! peerdrt-wine-client hold SECS                keep the Wine prefix (and the driver) alive
//! ```
//!
//! Every wait is bounded; each step prints one `ok:` line or fails with `FAIL:` and exit code 1.

#[cfg(windows)]
#[allow(clippy::upper_case_acronyms)] // Win32 type names
mod win;

#[cfg(windows)]
fn main() -> std::process::ExitCode {
    win::main()
}

#[cfg(not(windows))]
fn main() {
    eprintln!("peerdrt-wine-client runs on Windows (under Wine): build it for x86_64-pc-windows-gnu");
    std::process::exit(2);
}
