//! `specdrop undo FILE | --batch RUN | --since TIME --collection CODE`.

use std::path::Path;
use std::process::ExitCode;

use specdrop_engine::undo::Selection;

use crate::exit::Failure;

pub async fn run(config_file: &Path, selection: &Selection, dry_run: bool) -> Result<ExitCode, Failure> {
    let config = super::load_with_logging(config_file)?;
    Ok(specdrop_engine::undo::command(&config, selection, dry_run).await?)
}
