//! Arrival detection for drop folders: which files are finished uploads
//! that specdrop may take.
//!
//! So far this covers what a one-off scan needs: walking a drop folder
//! ([`tree`]), telling upload temporaries and system clutter from real
//! arrivals ([`names`]) and telling a complete JPEG from a half-written one
//! ([`jpeg`]). The daemon's event-driven watching builds on these.

mod error;
pub mod jpeg;
pub mod names;
pub mod tree;

pub use error::WatchError;
