//! `specdrop import-links FILE --collection CODE [--format idigbio] [--dry-run]`.

use std::path::Path;
use std::process::ExitCode;

use specdrop_engine::remote::Columns;

use crate::exit::{Failure, finish};

pub async fn run(
    config_file: &Path,
    file: &Path,
    collection: &str,
    columns: &Columns,
    dry_run: bool,
) -> Result<ExitCode, Failure> {
    let config = super::load_with_logging(config_file)?;
    let summary = specdrop_engine::remote::import_links(&config, file, collection, columns, dry_run).await?;
    Ok(finish(&summary))
}
