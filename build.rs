//! Build script of the driver package.
//!
//! * Feature `wdk` (a Windows host with the WDK): the windows-drivers-rs configuration.
//! * The Linux cross build of the `.sys` (target `x86_64-pc-windows-msvc`, no `wdk`, linker
//!   rust-lld in lld-link mode, see `.cargo/config.toml` and `tests/wine/build-driver.sh`): the
//!   kernel-driver link arguments. They only reach a link of this package for that target,
//!   which is the cdylib of `cargo rustc --crate-type cdylib`; host builds get nothing.
//! * Everything else (Linux host builds, tests, the gnu target): nothing.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    #[cfg(feature = "wdk")]
    if let Err(error) = wdk_build::configure_wdk_binary_build() {
        panic!("wdk-build could not configure the driver build: {error:?}");
    }
    #[cfg(not(feature = "wdk"))]
    driver_link_args();
}

/// The kernel-driver link of the cross build (wine-lane.md, "The driver (.sys) built on Linux").
///
/// `rustc-link-arg` rather than `rustc-cdylib-link-arg`: cargo warns (and says it may become
/// an error) when a package whose manifest has no cdylib target emits the latter, and the
/// driver is a cdylib only through `cargo rustc --crate-type cdylib`. For this target nothing
/// else of the package links: the library is `no_std` there (an rlib is never linked), and
/// peerdrtd, the tests and the benches are Linux programs nobody builds for windows-msvc.
#[cfg(not(feature = "wdk"))]
fn driver_link_args() {
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    if var("CARGO_CFG_TARGET_OS") != "windows" || var("CARGO_CFG_TARGET_ENV") != "msvc" {
        return;
    }
    for arg in [
        // A kernel-mode driver: no CRT, no default libraries, native subsystem, WDM entry point.
        "/DRIVER",
        "/SUBSYSTEM:NATIVE,10.0",
        "/ENTRY:DriverEntry",
        "/NODEFAULTLIB",
        // What wdk-build's configure_binary_build passes for every driver.
        "/NXCOMPAT",
        "/DYNAMICBASE",
        "/OPT:REF,ICF",
        "/MANIFEST:NO",
        // Code integrity: FORCE_INTEGRITY in DllCharacteristics, and a correct PE checksum.
        "/INTEGRITYCHECK",
        "/RELEASE",
        // The conventional base of a driver image (it is relocated anyway).
        "/BASE:0x140000000",
    ] {
        println!("cargo::rustc-link-arg={arg}");
    }
}
