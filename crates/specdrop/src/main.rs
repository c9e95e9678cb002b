//! `specdrop`: wires config, portal, ledger and pipeline together; the
//! work itself lives in the `specdrop-watch`, `specdrop-derive` and
//! `specdrop-mapper` crates.

mod archive;
mod cli;
mod config;
mod daemon;
mod demo;
mod exit;
mod ledger;
mod loadlog;
mod outage;
mod outcome;
mod pipeline;
mod remote;
mod scan;
mod sink;
mod skeletal;
mod turnstile;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::config::Config;
use crate::exit::Failure;
use crate::outcome::{Kind, Summary};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => return Failure::Run(e.into()).report(),
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Run => {
                let config = Config::load(&cli.config)?;
                init_logging(&config.log_filter);
                daemon::run(&cli.config, config).await
            }
            Command::Scan { dry_run } => {
                let config = Config::load(&cli.config)?;
                init_logging(&config.log_filter);
                let summary = scan::scan(&config, dry_run).await?;
                Ok(finish(&summary))
            }
            Command::Retry { parked, failed } => {
                let config = Config::load(&cli.config)?;
                init_logging(&config.log_filter);
                let both = !parked && !failed;
                let summary = scan::retry(&config, parked || both, failed || both).await?;
                Ok(finish(&summary))
            }
            Command::LoadLog { file } => {
                let config = Config::load(&cli.config)?;
                init_logging(&config.log_filter);
                let summary = loadlog::load(&config, &file).await?;
                Ok(finish(&summary))
            }
            Command::ImportSkeletal { file, collection } => {
                let config = Config::load(&cli.config)?;
                init_logging(&config.log_filter);
                skeletal::import(&config, &file, &collection).await
            }
            Command::Harvest {
                url,
                collection,
                dry_run,
            } => {
                let config = Config::load(&cli.config)?;
                init_logging(&config.log_filter);
                let summary = remote::harvest(&config, &url, &collection, dry_run).await?;
                Ok(finish(&summary))
            }
            Command::ImportLinks {
                file,
                collection,
                url_column,
                file_column,
                catalog_column,
                dry_run,
            } => {
                let config = Config::load(&cli.config)?;
                init_logging(&config.log_filter);
                let columns = remote::Columns {
                    url: url_column,
                    file: file_column,
                    catalog: catalog_column,
                };
                let summary = remote::import_links(&config, &file, &collection, &columns, dry_run).await?;
                Ok(finish(&summary))
            }
            Command::Demo { dir } => {
                init_logging("info");
                demo::run(&dir).await
            }
        }
    });
    result.unwrap_or_else(|failure| failure.report())
}

/// Print the summary; exit 1 when any file failed or had to wait for the
/// database.
fn finish(summary: &Summary) -> ExitCode {
    println!("summary: {summary}");
    if summary.deferred > 0 {
        println!(
            "{} file(s) left untouched for the next run: the portal database was unavailable",
            summary.deferred
        );
    }
    if summary.count(Kind::Failed) > 0 || summary.deferred > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Human-readable lines on stderr; `RUST_LOG` overrides `log.filter`.
/// The database drivers only speak up for warnings.
fn init_logging(filter: &str) {
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| format!("{filter},sqlx=warn"));
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}
