//! `specdrop`: the command line. The work is done by the engine
//! (`specdrop-engine`); this crate parses the command, starts the runtime
//! and the metrics endpoint, and turns errors into exit codes.

mod cli;
mod commands;
mod exit;
mod http;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::Cli;
use crate::exit::Failure;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Before any thread exists: see the engine's clock.rs.
    specdrop_engine::clock::init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => return Failure::Run(e.into()).report(),
    };
    let result = runtime.block_on(commands::dispatch(&cli.config, cli.command));
    result.unwrap_or_else(|failure| failure.report())
}
