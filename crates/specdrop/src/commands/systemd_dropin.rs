//! `specdrop systemd-dropin`: the unit's ReadWritePaths for the
//! configured folders.

use std::path::Path;
use std::process::ExitCode;

use specdrop_engine::config::Config;

use crate::exit::Failure;

pub fn run(config_file: &Path) -> Result<ExitCode, Failure> {
    let config = Config::load(config_file)?;
    print!("{}", specdrop_engine::dropin::render(&config));
    Ok(ExitCode::SUCCESS)
}
