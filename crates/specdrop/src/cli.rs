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
    /// Take back what specdrop did for linked files: their image rows (if
    /// unchanged), bare skeletal records it made, derivatives nobody else
    /// uses; the originals come back into the drop folder.
    #[command(group(clap::ArgGroup::new("which").required(true).args(["file", "batch", "since"])))]
    Undo {
        /// A linked file, by its path in the drop folder or the archive.
        file: Option<PathBuf>,
        /// Every file one run linked (the id in its summary line, or in
        /// `specdrop status`).
        #[arg(long)]
        batch: Option<String>,
        /// Every file of --collection linked since this time (RFC 3339,
        /// e.g. 2026-12-02T09:30:00Z).
        #[arg(long, requires = "collection")]
        since: Option<String>,
        #[arg(long)]
        collection: Option<String>,
        /// Say what would happen; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Apply a skeletal data file (CSV of Symbiota fields) to a collection.
    ImportSkeletal {
        file: PathBuf,
        /// The collection's `code` in the config.
        #[arg(long)]
        collection: String,
    },
    /// Link the images of an HTTP directory listing (Apache or nginx
    /// autoindex, sub-directories included) to their specimens.
    Harvest {
        url: String,
        #[arg(long)]
        collection: String,
        /// Say what would happen; write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Link image URLs listed in a CSV file (file name or catalog number,
    /// and URL columns) to their specimens.
    ImportLinks {
        file: PathBuf,
        #[arg(long)]
        collection: String,
        /// The column holding the image URL (default: url, accessURI, mediaURL...).
        #[arg(long)]
        url_column: Option<String>,
        /// The column holding the file name (default: filename, originalFileName...).
        #[arg(long)]
        file_column: Option<String>,
        /// The column holding the catalog number, when there is one.
        #[arg(long)]
        catalog_column: Option<String>,
        /// `idigbio`: the file is an iDigBio Media Ingestion Appliance
        /// report, read by its own columns; `columns`: a link list. Without
        /// it (and without column options) a file with the report's
        /// columns is read as a report.
        #[arg(long)]
        format: Option<String>,
        /// Say what would happen; write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Read the label text of a collection's images that have none yet,
    /// for records whose processingStatus is in `ocr.statuses`, into the
    /// portal's specprocessorrawlabels (a backfill; with a progress bar).
    Ocr {
        /// The collection's `code` in the config.
        #[arg(long)]
        collection: String,
    },
    /// Make the thumbnail and web image of every image row of a collection
    /// that has none (no thumbnailUrl, a "processing" stub, or url =
    /// 'empty'), from its originalUrl or url, fetched under `[remote]`'s
    /// rules (with a progress bar).
    Thumbnails {
        /// The collection's `code` in the config.
        #[arg(long)]
        collection: String,
    },
    /// Make the derivatives of a collection's image rows again, from their
    /// archived originals (else originalUrl), the rows switched in place
    /// (same mediaID) and the old files removed; a job list in the ledger
    /// that every `rebuild` of the collection shares and that survives
    /// kills (with a progress bar).
    Rebuild {
        /// The collection's `code` in the config.
        #[arg(long)]
        collection: String,
        /// Only rows added since: a date (YYYY-MM-DD, from 00:00 UTC) or an
        /// RFC 3339 time, against the row's initialTimestamp.
        #[arg(long)]
        since: Option<String>,
        /// Which sizes: any of large,web,thumbnail (default: every size
        /// [derive] makes).
        #[arg(long)]
        sizes: Option<String>,
        /// Rebuild once more a collection whose same rebuild ran to its end.
        #[arg(long)]
        again: bool,
    },
    /// Check the config, the folders, the free space and the database, and
    /// say what each waiting file would become. Writes nothing.
    Check,
    /// Counts by outcome (today and in total), the daemon's queue, parked
    /// files and the last failures.
    Status {
        /// As JSON, for scripts and monitoring.
        #[arg(long)]
        json: bool,
    },
    /// Send the digest (parked and failed files with their reasons, the
    /// last 24 hours' counts) to `[notify]`'s e-mail and webhook now.
    Digest,
    /// Print a systemd drop-in whose ReadWritePaths are the configured
    /// folders.
    SystemdDropin,
    /// Make a demo folder (config, SQLite portal, sample sheets) and scan it.
    Demo {
        /// Where to make it.
        #[arg(long, default_value = "demo")]
        dir: PathBuf,
    },
}
