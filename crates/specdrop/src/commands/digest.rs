//! `specdrop digest`: the daily digest, sent now (for sites that prefer
//! cron to the daemon's `notify.digest_at`).

use std::path::Path;
use std::process::ExitCode;

use crate::exit::Failure;

pub async fn run(config_file: &Path) -> Result<ExitCode, Failure> {
    let config = super::load_with_logging(config_file)?;
    Ok(specdrop_engine::notify::command(&config).await?)
}
