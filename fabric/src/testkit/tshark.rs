//! Decoding a capture with tshark (Wireshark's command line) when it is installed: a real
//! dissector's verdict on the frames a model puts on the wire.

use std::path::{Path, PathBuf};
use std::string::String;

const TSHARK: &str = "/usr/bin/tshark";

/// A capture path in the temporary directory for `what` (unique per process), or `None`
/// when tshark is not installed and there is nothing to decode the capture with.
pub fn capture_path(what: &str) -> Option<PathBuf> {
    if !Path::new(TSHARK).exists() {
        return None;
    }
    Some(std::env::temp_dir().join(std::format!("{what}-{}.pcap", std::process::id())))
}

/// The `fields` of every frame of the capture at `path`, a line per frame separated by `;`,
/// with tshark's `options` first; removes the capture.
pub fn fields(path: &Path, options: &[&str], fields: &[&str]) -> String {
    let mut cmd = std::process::Command::new(TSHARK);
    cmd.args(options)
        .arg("-r")
        .arg(path)
        .args(["-T", "fields", "-E", "separator=;"]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().unwrap();
    let _ = std::fs::remove_file(path);
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}
