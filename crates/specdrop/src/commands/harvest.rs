//! `specdrop harvest URL --collection CODE [--dry-run]`.

use std::path::Path;
use std::process::ExitCode;

use crate::exit::{Failure, finish};

pub async fn run(config_file: &Path, url: &str, collection: &str, dry_run: bool) -> Result<ExitCode, Failure> {
    let config = super::load_with_logging(config_file)?;
    let summary = specdrop_engine::remote::harvest(&config, url, collection, dry_run).await?;
    Ok(finish(&summary))
}
