//! The rust-lld link never builds a windows-drivers-rs crate (their build scripts need the
//! WDK), while the WDK build of the same crates does use them: the gate is
//! `cfg(all(windows, not(ndk_rust_lld)))` and `drivers/link.toml` sets `ndk_rust_lld`.

use std::process::Command;

use ndk_package::{workspace_root, DRIVERS, TARGET};

/// Package names in the dependency graph of `krate` for the kernel target.
fn graph(krate: &str, link_config: bool) -> Vec<String> {
    let root = workspace_root();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .args(["tree", "-p", krate, "--target", TARGET])
        .args(["-e", "normal,build", "--prefix", "none", "--format", "{p}"])
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    if link_config {
        cmd.arg("--config")
            .arg(root.join("drivers").join("link.toml"));
    }
    let out = cmd.output().expect("cargo tree runs");
    assert!(
        out.status.success(),
        "cargo tree: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

#[test]
fn the_rust_lld_link_builds_no_wdk_crate() {
    for driver in DRIVERS {
        let graph = graph(driver.krate, true);
        assert!(graph.iter().any(|p| p == "ndk-kernel"), "{graph:?}");
        let wdk: Vec<_> = graph.iter().filter(|p| p.starts_with("wdk")).collect();
        assert!(wdk.is_empty(), "{}: {wdk:?}", driver.name);
    }
}

#[test]
fn the_wdk_build_uses_windows_drivers_rs() {
    for driver in DRIVERS {
        let graph = graph(driver.krate, false);
        for krate in ["wdk-sys", "wdk-alloc", "wdk-panic"] {
            assert!(
                graph.iter().any(|p| p == krate),
                "{}: no {krate}",
                driver.name
            );
        }
    }
}
