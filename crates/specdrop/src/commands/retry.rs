//! `specdrop retry [--parked] [--failed]`: the files the ledger lists so;
//! without flags, both.

use std::path::Path;
use std::process::ExitCode;

use crate::exit::{Failure, finish};

pub async fn run(config_file: &Path, parked: bool, failed: bool) -> Result<ExitCode, Failure> {
    let config = super::load_with_logging(config_file)?;
    let both = !parked && !failed;
    let summary = specdrop_engine::batch::retry(&config, parked || both, failed || both).await?;
    Ok(finish(&summary))
}
