//! `specdrop ocr --collection CODE`: label text for images that have none.

use std::path::Path;
use std::process::ExitCode;

use crate::exit::Failure;

pub async fn run(config_file: &Path, collection: &str) -> Result<ExitCode, Failure> {
    let config = super::load_with_logging(config_file)?;
    let tally = specdrop_engine::ocr::backfill(&config, collection).await?;
    println!("ocr: {tally}");
    // A sheet that could not be read (or must wait for the database) is
    // trouble, as a failed file is for `scan`.
    Ok(super::exit_for_failures(tally.failed + tally.waiting))
}
