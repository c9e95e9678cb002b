//! The stages a dropped file shares with images from elsewhere (remote
//! links, `thumbnails`): deriving on the workers, storing with claims, and
//! the verdict that ends a file. The pipeline (pipeline/) runs them in its
//! order; remote_derive.rs runs derive and store for a fetched image.

// As in the pipeline: a verdict ends a file once; unboxed it reads plainly.
#![allow(clippy::result_large_err)]

pub mod derive;
pub mod replaced;
pub mod store;
pub mod verdict;
