//! One file per subcommand: each loads what it needs and calls the
//! engine.

mod check;
mod demo;
mod digest;
mod harvest;
mod import_links;
mod import_skeletal;
mod load_log;
mod ocr;
mod rebuild;
mod retry;
mod run;
mod scan;
mod status;
mod systemd_dropin;
mod thumbnails;
mod undo;

use std::path::Path;
use std::process::ExitCode;

use specdrop_engine::config::Config;

use crate::cli::Command;
use crate::exit::Failure;

pub async fn dispatch(config_file: &Path, command: Command) -> Result<ExitCode, Failure> {
    match command {
        Command::Run => run::run(config_file).await,
        Command::Scan { dry_run } => scan::run(config_file, dry_run).await,
        Command::Retry { parked, failed } => retry::run(config_file, parked, failed).await,
        Command::LoadLog { file } => load_log::run(config_file, &file).await,
        Command::ImportSkeletal { file, collection } => import_skeletal::run(config_file, &file, &collection).await,
        Command::Undo {
            file,
            batch,
            since,
            collection,
            dry_run,
        } => {
            use specdrop_engine::undo::Selection;
            // clap requires exactly one of them (and --collection with --since).
            let selection = match (file, batch, since, collection) {
                (Some(file), _, _, _) => Selection::File(file),
                (_, Some(run), _, _) => Selection::Batch(run),
                (_, _, Some(time), Some(collection)) => Selection::Since { time, collection },
                _ => {
                    return Err(Failure::Config(
                        "say what to undo: FILE, --batch RUN or --since TIME --collection CODE".into(),
                    ));
                }
            };
            undo::run(config_file, &selection, dry_run).await
        }
        Command::Harvest {
            url,
            collection,
            dry_run,
        } => harvest::run(config_file, &url, &collection, dry_run).await,
        Command::ImportLinks {
            file,
            collection,
            url_column,
            file_column,
            catalog_column,
            format,
            dry_run,
        } => {
            let columns = specdrop_engine::remote::Columns {
                url: url_column,
                file: file_column,
                catalog: catalog_column,
                format,
            };
            import_links::run(config_file, &file, &collection, &columns, dry_run).await
        }
        Command::Ocr { collection } => ocr::run(config_file, &collection).await,
        Command::Thumbnails { collection } => thumbnails::run(config_file, &collection).await,
        Command::Rebuild {
            collection,
            since,
            sizes,
            again,
        } => rebuild::run(config_file, &collection, since, sizes.as_deref(), again).await,
        Command::Check => check::run(config_file).await,
        Command::Status { json } => status::run(config_file, json).await,
        Command::Digest => digest::run(config_file).await,
        Command::SystemdDropin => systemd_dropin::run(config_file),
        Command::Demo { dir } => demo::run(&dir).await,
    }
}

/// The config, with logging set up as it says (outcomes printed on
/// stdout, or sent to the journal with their fields).
fn load_with_logging(config_file: &Path) -> Result<Config, Failure> {
    let config = Config::load(config_file)?;
    specdrop_engine::logging::init(config.log_target, &config.log_filter, true);
    Ok(config)
}

/// A backfill's exit status: 1 when any row (or sheet) failed, as a failed
/// file is for `scan`.
fn exit_for_failures(failed: usize) -> ExitCode {
    if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
