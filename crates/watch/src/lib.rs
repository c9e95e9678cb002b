//! Arrival detection for drop folders: which files are finished uploads
//! that specdrop may take.
//!
//! - [`names`]: upload temporaries and desktop clutter are never arrivals;
//! - [`jpeg`], [`complete`]: a complete JPEG reaches its end marker (PNG:
//!   its IEND chunk; WebP: its RIFF length);
//! - [`tree`]: walking a drop folder (the one-off scan and rescans);
//! - [`fskind`]: which file systems must be polled (statfs);
//! - [`watcher`]: the long-running watcher: native events or polling,
//!   settle window, rescans, and a bounded channel of complete files.

pub mod complete;
mod config;
mod error;
pub mod fskind;
pub mod jpeg;
pub mod names;
mod pending;
pub mod tree;
pub mod watcher;

pub use config::{Mode, WatchConfig};
pub use error::WatchError;
pub use names::{Accept, Class};
pub use watcher::{Arrival, Root, Watcher};
