//! From a file name to a specimen record to a media row, in a real
//! Symbiota portal database (MariaDB/MySQL) or the embedded SQLite one.
//!
//! - [`pattern`]: the collection's regex (plain or PHP-style as pasted from
//!   Symbiota's config) that reads the catalog number out of a file name;
//! - [`portal`]: connecting, creating the embedded database, collection facts;
//! - [`lookup`]: finding the occurrence, never guessing between two;
//! - [`link`]: one transaction that (if asked) creates a skeletal record and
//!   inserts the media row, idempotently;
//! - [`skeletal`]: checking a skeletal data file's table (already split into
//!   rows by the caller) against the portal's fields, and applying it;
//! - [`mapping`]: checking a mapping file's table (file name -> specimen,
//!   media fields per image);
//! - [`media_columns`]: per-image media fields a spreadsheet names, by
//!   Symbiota's and Audubon Core's names;
//! - [`media_format`]: the MIME type a media row gets from a file's name;
//! - [`stats`]: the collection's `omcollectionstats` row after a batch;
//! - [`rawlabels`]: OCR text of an image, where Symbiota's NLP and
//!   crowdsourcing tools read it;
//! - [`thumbnails`]: image rows waiting for derivatives, each locked while
//!   its derivatives are made (`specdrop thumbnails`);
//! - [`rebuild`]: a collection's image rows, each switched to new
//!   derivatives in one statement (`specdrop rebuild`).
//!
//! Every statement is parameterised; nothing from a file name is ever
//! spliced into SQL.

mod backend;
mod error;
pub mod fields;
pub mod link;
pub mod lookup;
pub mod mapping;
pub mod media_columns;
pub mod media_format;
pub mod pattern;
pub mod portal;
pub mod rawlabels;
pub mod rebuild;
pub mod schema;
pub mod skeletal;
pub mod stats;
pub mod thumbnails;
pub mod undo;

pub use backend::Backend;
pub use error::MapperError;
pub use link::{Action, ExistingImage, LinkRequest, Linked, MediaFields, MediaUrls, Unmatched};
pub use lookup::{Key, Lookup, MatchRules};
pub use media_columns::{MediaColumn, MediaValues};
pub use pattern::CatalogPattern;
pub use portal::{CollectionInfo, Portal, mask_password};
pub use rawlabels::{RawLabel, Unread};
pub use schema::{MediaTable, SchemaChoice};
