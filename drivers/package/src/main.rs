//! `cargo run -p ndk-package -- [DRIVER...]`: links each driver (all by default) into
//! `<target>/package/<crate>/<crate>.sys` next to its INF.

use clap::Parser;

/// Links per-silicon drivers into Windows kernel images with rust-lld and stages them.
#[derive(Parser)]
struct Args {
    /// Drivers to build (default: all).
    #[arg(value_parser = clap::builder::PossibleValuesParser::new(
        ndk_package::DRIVERS.iter().map(|d| d.name)))]
    drivers: Vec<String>,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let drivers: Vec<_> = if args.drivers.is_empty() {
        ndk_package::DRIVERS.iter().collect()
    } else {
        args.drivers
            .iter()
            .filter_map(|n| ndk_package::driver(n))
            .collect()
    };
    for driver in drivers {
        match ndk_package::build(driver) {
            Ok(p) => println!("{}\n{}", p.sys.display(), p.inf.display()),
            Err(e) => {
                eprintln!("{}: {e}", driver.name);
                return std::process::ExitCode::FAILURE;
            }
        }
    }
    std::process::ExitCode::SUCCESS
}
