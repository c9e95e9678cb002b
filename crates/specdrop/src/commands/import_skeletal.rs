//! `specdrop import-skeletal FILE --collection CODE`.

use std::path::Path;
use std::process::ExitCode;

use crate::exit::Failure;

pub async fn run(config_file: &Path, file: &Path, collection: &str) -> Result<ExitCode, Failure> {
    let config = super::load_with_logging(config_file)?;
    Ok(specdrop_engine::skeletal::import(&config, file, collection).await?)
}
