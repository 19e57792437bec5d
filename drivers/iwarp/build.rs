//! On Windows with the WDK, wdk-build finds the kit and emits the WDM driver link flags
//! (`/DRIVER /SUBSYSTEM:NATIVE /ENTRY:DriverEntry ...`) from
//! `[package.metadata.wdk.driver-model]`. The rust-lld link (`--cfg ndk_rust_lld`) passes its
//! own flags instead, so this does nothing there, nor on other hosts.

fn main() {
    #[cfg(windows)]
    if std::env::var_os("CARGO_CFG_NDK_RUST_LLD").is_none() {
        if let Err(e) = wdk_build::configure_wdk_binary_build() {
            panic!("wdk-build could not configure the WDK build: {e:?}");
        }
    }
}
