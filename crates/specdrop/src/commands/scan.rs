//! `specdrop scan [--dry-run]`: the drop folders now, then exit.

use std::path::Path;
use std::process::ExitCode;

use crate::exit::{Failure, finish};

pub async fn run(config_file: &Path, dry_run: bool) -> Result<ExitCode, Failure> {
    let config = super::load_with_logging(config_file)?;
    let summary = specdrop_engine::batch::scan(&config, dry_run).await?;
    Ok(finish(&summary))
}
