//! `specdrop status [--json]`.

use std::path::Path;
use std::process::ExitCode;

use specdrop_engine::config::Config;

use crate::exit::Failure;

pub async fn run(config_file: &Path, json: bool) -> Result<ExitCode, Failure> {
    let config = Config::load(config_file)?;
    Ok(specdrop_engine::status::command(&config, json).await?)
}
