//! Builds a per-silicon driver crate into a Windows kernel image and stages its package.
//!
//! The image is linked by rust-lld through rustc (raw-dylib imports, no WDK), with the flags
//! of `drivers/link.toml`, in a target directory of its own so the host build is untouched.
//! The result is `<target>/package/<crate>/{<crate>.sys, <crate>.pdb, <crate>.inf}`. Signing
//! and the catalog (`inf2cat`) are Windows steps; see `docs/windows.md`.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};

pub mod inf;

/// The Rust target of every kernel image.
pub const TARGET: &str = "x86_64-pc-windows-msvc";

/// One per-silicon driver: its crate, INF and datasheet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Driver {
    /// Name on the command line.
    pub name: &'static str,
    /// Cargo package (and image) name.
    pub krate: &'static str,
    /// The INF, relative to the workspace root.
    pub inf: &'static str,
    /// The silicon's datasheet (its §2 holds the PCI IDs), relative to the workspace root.
    pub datasheet: &'static str,
}

/// Every driver of the workspace.
pub const DRIVERS: &[Driver] = &[
    Driver {
        name: "rocev2",
        krate: "ndkroce",
        inf: "inf/ndkroce.inf",
        datasheet: "docs/silicon/rocev2.md",
    },
    Driver {
        name: "iwarp",
        krate: "ndkiwarp",
        inf: "inf/ndkiwarp.inf",
        datasheet: "docs/silicon/iwarp.md",
    },
];

/// The driver called `name` on the command line.
pub fn driver(name: &str) -> Option<&'static Driver> {
    DRIVERS.iter().find(|d| d.name == name)
}

/// The workspace root (this crate lives in `drivers/package`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// Cargo's target directory for this workspace (`CARGO_TARGET_DIR` or `<root>/target`).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// Where a driver's package is staged.
pub fn package_dir(driver: &Driver) -> PathBuf {
    target_dir().join("package").join(driver.krate)
}

/// A staged driver package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    /// The kernel image.
    pub sys: PathBuf,
    /// Its INF.
    pub inf: PathBuf,
    /// Its debug symbols.
    pub pdb: PathBuf,
}

/// Why a build failed.
#[derive(Debug)]
pub enum Error {
    /// Running cargo or copying a file failed.
    Io(PathBuf, io::Error),
    /// Cargo reported a failed build.
    Cargo(ExitStatus),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(path, e) => write!(f, "{}: {e}", path.display()),
            Error::Cargo(status) => write!(f, "cargo failed ({status})"),
        }
    }
}

impl std::error::Error for Error {}

/// The cargo command that links `driver` into a kernel image (without running it).
pub fn cargo_command(driver: &Driver) -> Command {
    let root = workspace_root();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .args(["rustc", "--release", "--lib", "--crate-type", "cdylib"])
        .args(["-p", driver.krate, "--target", TARGET, "--config"])
        .arg(root.join("drivers").join("link.toml"))
        .arg("--target-dir")
        .arg(target_dir().join("kernel"))
        // Flags from the environment would replace the link configuration's.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS");
    cmd
}

/// Links `driver` with rust-lld and stages `<crate>.sys`, `.pdb` and `.inf`. Cargo decides
/// what is stale, so calling it again is cheap.
pub fn build(driver: &Driver) -> Result<Package, Error> {
    let status = cargo_command(driver)
        .status()
        .map_err(|e| Error::Io("cargo".into(), e))?;
    if !status.success() {
        return Err(Error::Cargo(status));
    }
    let out = target_dir().join("kernel").join(TARGET).join("release");
    let dir = package_dir(driver);
    std::fs::create_dir_all(&dir).map_err(|e| Error::Io(dir.clone(), e))?;
    let package = Package {
        sys: dir.join(format!("{}.sys", driver.krate)),
        inf: dir.join(format!("{}.inf", driver.krate)),
        pdb: dir.join(format!("{}.pdb", driver.krate)),
    };
    copy(&out.join(format!("{}.dll", driver.krate)), &package.sys)?;
    copy(&out.join(format!("{}.pdb", driver.krate)), &package.pdb)?;
    copy(&workspace_root().join(driver.inf), &package.inf)?;
    Ok(package)
}

fn copy(from: &Path, to: &Path) -> Result<(), Error> {
    std::fs::copy(from, to)
        .map(drop)
        .map_err(|e| Error::Io(from.to_path_buf(), e))
}
