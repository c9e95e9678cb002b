//! `specdrop check`: every problem at once, and what each waiting file
//! would become; writes nothing.

use std::path::Path;
use std::process::ExitCode;

use specdrop_engine::config::LogTarget;

use crate::exit::Failure;

pub async fn run(config_file: &Path) -> Result<ExitCode, Failure> {
    specdrop_engine::logging::init(LogTarget::Stderr, "warn", true);
    Ok(specdrop_engine::check::command(config_file).await?)
}
