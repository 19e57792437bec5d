//! `cargo run --release -p ndkperf -- --help`

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = ndkperf::Args::parse();
    let mut out = std::io::stdout().lock();
    match ndkperf::main_with(&args, &mut out) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ndkperf: error: {e}");
            ExitCode::FAILURE
        }
    }
}
