//! Build script of the driver package.
//!
//! * Feature `wdk` (a Windows host with the WDK): the windows-drivers-rs configuration.
//! * Everything else (Linux host builds, tests): nothing. The Linux cross build of the `.sys`
//!   gains its rust-lld driver link arguments with the kernel-driver issue.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    #[cfg(feature = "wdk")]
    if let Err(error) = wdk_build::configure_wdk_binary_build() {
        panic!("wdk-build could not configure the driver build: {error:?}");
    }
}
