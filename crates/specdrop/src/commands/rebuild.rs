//! `specdrop rebuild --collection CODE [--since DATE] [--sizes ...]`: a collection's derivatives made again.

use std::path::Path;
use std::process::ExitCode;

use specdrop_engine::rebuild::{Asked, Sizes};

use crate::exit::Failure;

pub async fn run(
    config_file: &Path,
    collection: &str,
    since: Option<String>,
    sizes: Option<&str>,
    again: bool,
) -> Result<ExitCode, Failure> {
    let config = super::load_with_logging(config_file)?;
    let asked = Asked {
        sizes: sizes.map(Sizes::parse).transpose()?,
        since,
        again,
    };
    let tally = specdrop_engine::rebuild::run(&config, collection, &asked).await?;
    println!("rebuild: {tally}");
    // A row that could not be rebuilt is trouble, as a failed file is for `scan`.
    Ok(super::exit_for_failures(tally.failed))
}
