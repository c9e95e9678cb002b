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
//! - [`media_format`]: the MIME type a media row gets from a file's name;
//! - [`rawlabels`]: OCR text of an image, where Symbiota's NLP and
//!   crowdsourcing tools read it.
//!
//! Every statement is parameterised; nothing from a file name is ever
//! spliced into SQL.

mod backend;
mod error;
pub mod fields;
pub mod link;
pub mod lookup;
pub mod media_format;
pub mod pattern;
pub mod portal;
pub mod rawlabels;
pub mod schema;
pub mod skeletal;
pub mod undo;

pub use backend::Backend;
pub use error::MapperError;
pub use link::{Action, ExistingImage, LinkRequest, Linked, MediaFields, MediaUrls, Unmatched};
pub use lookup::{Lookup, MatchRules};
pub use pattern::CatalogPattern;
pub use portal::{CollectionInfo, Portal};
pub use rawlabels::{RawLabel, Unread};
pub use schema::{MediaTable, SchemaChoice};
