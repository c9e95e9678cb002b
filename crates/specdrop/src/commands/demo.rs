//! `specdrop demo [--dir DIR]`: a demo folder (config, SQLite portal,
//! sample sheets), scanned, and what came out.

use std::path::Path;
use std::process::ExitCode;

use specdrop_engine::config::LogTarget;

use crate::exit::{Failure, finish};

pub async fn run(dir: &Path) -> Result<ExitCode, Failure> {
    specdrop_engine::logging::init(LogTarget::Stderr, "info", true);
    let config = specdrop_engine::demo::make(dir).await?;
    let summary = specdrop_engine::batch::scan(&config, false).await?;
    let code = finish(&summary);
    specdrop_engine::demo::show(dir, &config).await?;
    Ok(code)
}
