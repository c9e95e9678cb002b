//! `specdrop thumbnails --collection CODE`: derivatives for image rows that have none.

use std::path::Path;
use std::process::ExitCode;

use crate::exit::Failure;

pub async fn run(config_file: &Path, collection: &str) -> Result<ExitCode, Failure> {
    let config = super::load_with_logging(config_file)?;
    let tally = specdrop_engine::thumbnails::run(&config, collection).await?;
    println!("thumbnails: {tally}");
    // A row that could not be done is trouble, as a failed file is for `scan`.
    Ok(super::exit_for_failures(tally.failed))
}
