//! `specdrop`: wires config, portal, ledger and pipeline together; the
//! work itself lives in the `specdrop-watch`, `specdrop-derive` and
//! `specdrop-mapper` crates.

mod archive;
mod check;
mod claims;
mod cli;
mod clock;
mod config;
mod config_lines;
mod daemon;
mod demo;
mod dropin;
mod events;
mod exit;
mod identify;
mod ledger;
mod loadlog;
mod metrics;
mod outage;
mod outcome;
mod pipeline;
mod progress;
mod remote;
mod scan;
mod share;
mod sink;
mod skeletal;
mod status;
mod turnstile;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::config::Config;
use crate::exit::Failure;
use crate::outcome::{Kind, Summary};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Before any thread exists: see clock.rs.
    clock::init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => return Failure::Run(e.into()).report(),
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Run => {
                let config = Config::load(&cli.config)?;
                events::init(config.log_target, &config.log_filter, true);
                daemon::run(&cli.config, config).await
            }
            Command::Scan { dry_run } => {
                let config = Config::load(&cli.config)?;
                events::init(config.log_target, &config.log_filter, true);
                let summary = scan::scan(&config, dry_run).await?;
                Ok(finish(&summary))
            }
            Command::Retry { parked, failed } => {
                let config = Config::load(&cli.config)?;
                events::init(config.log_target, &config.log_filter, true);
                let both = !parked && !failed;
                let summary = scan::retry(&config, parked || both, failed || both).await?;
                Ok(finish(&summary))
            }
            Command::LoadLog { file } => {
                let config = Config::load(&cli.config)?;
                events::init(config.log_target, &config.log_filter, true);
                let summary = loadlog::load(&config, &file).await?;
                Ok(finish(&summary))
            }
            Command::ImportSkeletal { file, collection } => {
                let config = Config::load(&cli.config)?;
                events::init(config.log_target, &config.log_filter, true);
                skeletal::import(&config, &file, &collection).await
            }
            Command::Harvest {
                url,
                collection,
                dry_run,
            } => {
                let config = Config::load(&cli.config)?;
                events::init(config.log_target, &config.log_filter, true);
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
                events::init(config.log_target, &config.log_filter, true);
                let columns = remote::Columns {
                    url: url_column,
                    file: file_column,
                    catalog: catalog_column,
                };
                let summary = remote::import_links(&config, &file, &collection, &columns, dry_run).await?;
                Ok(finish(&summary))
            }
            Command::Check => {
                events::init(config::LogTarget::Stderr, "warn", true);
                check::command(&cli.config).await
            }
            Command::Status { json } => {
                let config = Config::load(&cli.config)?;
                status::command(&config, json).await
            }
            Command::SystemdDropin => {
                let config = Config::load(&cli.config)?;
                print!("{}", dropin::render(&config));
                Ok(ExitCode::SUCCESS)
            }
            Command::Demo { dir } => {
                events::init(config::LogTarget::Stderr, "info", true);
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
