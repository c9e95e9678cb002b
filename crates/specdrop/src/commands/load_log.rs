//! `specdrop load-log FILE`: the links a `sink.kind = "log"` run wrote.

use std::path::Path;
use std::process::ExitCode;

use crate::exit::{Failure, finish};

pub async fn run(config_file: &Path, file: &Path) -> Result<ExitCode, Failure> {
    let config = super::load_with_logging(config_file)?;
    let summary = specdrop_engine::load_log::load(&config, file).await?;
    Ok(finish(&summary))
}
