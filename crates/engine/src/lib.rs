//! specdrop's engine: everything but the command line. A newcomer reads
//! docs/architecture.md first; in short:
//!
//! - [`config`]: the TOML file, every key checked with its line;
//! - [`session`] and [`context`]: what one run opens (portal, ledger,
//!   workers, the state folder's lock) and what every file shares;
//! - [`pipeline`]: one file through its stages, read to archive, with the
//!   safety argument in its module doc;
//! - [`batch`] (`scan`, `retry`) and [`daemon`] (`run`): which files go
//!   through the pipeline, and when;
//! - [`ledger`], [`claims`]: what specdrop remembers, and the derivatives it
//!   is writing but has not linked yet;
//! - [`outcome`], [`publish`], [`logging`], [`metrics`], [`team_report`]:
//!   what happened to each file, and who is told;
//! - [`skeletal`], [`remote`], [`load_log`]: the other ways records and
//!   links reach the portal; [`fetch`], [`remote_derive`], [`thumbnails`]:
//!   derivatives of images that live on other servers; [`rebuild`]: a
//!   collection's derivatives made again from a job list in the ledger;
//! - [`ocr`]: label text read into the portal after linking;
//! - [`check`], [`status`], [`dropin`], [`demo`]: what the admin asks.
//!
//! The leaf crates (watch, derive, mapper, barcode, textfile) know nothing
//! of each other; only this crate composes them.

pub mod archive;
pub mod batch;
pub mod blocking;
pub mod catalog_number;
pub mod check;
pub mod checkpoint;
pub mod claims;
pub mod clock;
pub mod collection;
pub mod collection_stats;
pub mod config;
pub mod context;
pub mod daemon;
pub mod demo;
pub mod dropin;
mod error;
pub mod fetch;
pub mod idigbio;
pub mod instances;
pub mod ledger;
pub mod link_order;
pub mod load_log;
pub mod logging;
pub mod mapping_file;
pub mod mapping_lines;
pub mod memory_budget;
pub mod metrics;
pub mod notify;
pub mod ocr;
pub mod outage;
pub mod outcome;
pub mod pipeline;
pub mod process_locks;
pub mod progress;
pub mod publish;
pub mod rebuild;
pub mod remote;
pub mod remote_derive;
pub mod session;
pub mod sink;
pub mod skeletal;
pub mod stages;
pub mod state_lock;
pub mod status;
pub mod storage;
pub mod team_page;
pub mod team_report;
pub mod thumbnails;
pub mod undo;
pub mod upright;
pub mod web_url;

pub use error::Error;
