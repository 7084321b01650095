//! `patchbay`: the gateway's command line.

use clap::Parser;

fn main() -> std::process::ExitCode {
    gateway_server::run::main(gateway_server::cli::Cli::parse())
}
