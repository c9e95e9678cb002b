//! From a file name to a specimen record to a media row, in a real
//! Symbiota portal database (MariaDB/MySQL) or the embedded SQLite one.
//!
//! - [`pattern`]: the collection's regex (plain or PHP-style as pasted from
//!   Symbiota's config) that reads the catalog number out of a file name;
//! - [`portal`]: connecting, creating the embedded database, collection facts;
//! - [`lookup`]: finding the occurrence, never guessing between two;
//! - [`link`]: one transaction that (if asked) creates a skeletal record and
//!   inserts the media row, idempotently.
//!
//! Every statement is parameterised; nothing from a file name is ever
//! spliced into SQL.

mod error;
pub mod fields;
pub mod link;
pub mod lookup;
pub mod pattern;
pub mod portal;
pub mod schema;
pub mod skeletal;
pub mod textfile;

pub use error::MapperError;
pub use link::{Action, ExistingImage, LinkRequest, Linked, MediaFields, MediaUrls, Unmatched};
pub use lookup::{Lookup, MatchRules};
pub use pattern::CatalogPattern;
pub use portal::{Backend, CollectionInfo, Portal};
pub use schema::{MediaTable, SchemaChoice};
