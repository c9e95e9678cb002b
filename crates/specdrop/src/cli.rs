//! The command line.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "specdrop",
    version,
    about = "Turns a drop folder of specimen photographs into linked Symbiota images"
)]
pub struct Cli {
    /// The config file.
    #[arg(
        long,
        global = true,
        default_value = "/etc/specdrop/specdrop.toml",
        value_name = "PATH"
    )]
    pub config: PathBuf,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Watch the drop folders and process files as they arrive (the daemon).
    Run,
    /// Process what is in the drop folders now, then exit.
    Scan {
        /// Say what would happen to each file; write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Process again the files left parked (no specimen yet) or failed.
    /// Without flags, both.
    Retry {
        #[arg(long)]
        parked: bool,
        #[arg(long)]
        failed: bool,
    },
    /// Load the links a `sink.kind = "log"` run wrote into the portal.
    LoadLog {
        /// The CSV file (`sink.path`).
        file: PathBuf,
    },
    /// Apply a skeletal data file (CSV of Symbiota fields) to a collection.
    ImportSkeletal {
        file: PathBuf,
        /// The collection's `code` in the config.
        #[arg(long)]
        collection: String,
    },
    /// Make a demo folder (config, SQLite portal, sample sheets) and scan it.
    Demo {
        /// Where to make it.
        #[arg(long, default_value = "demo")]
        dir: PathBuf,
    },
}
