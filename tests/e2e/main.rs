//! End-to-end tests: the built `specdrop` binary on real folders, real
//! herbarium sheets (`samples/`) and real databases (a fresh MariaDB
//! database per test, and the embedded SQLite portal).

// A test that cannot set itself up says why and stops.
#![allow(clippy::expect_used, clippy::unwrap_used)]

/// A test body `async fn name(backend: Backend)` run once per portal kind:
/// the embedded SQLite, MariaDB with the 3.x `media` table, and MariaDB
/// with the older `images` table.
macro_rules! on_every_backend {
    ($name:ident) => {
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$name(crate::support::Backend::Sqlite).await;
            }
            #[tokio::test]
            async fn mariadb() {
                super::$name(crate::support::Backend::MariaDb).await;
            }
            #[tokio::test]
            async fn mariadb_legacy_images() {
                super::$name(crate::support::Backend::MariaDbLegacy).await;
            }
        }
    };
}

mod barcode;
mod check;
mod crash;
mod daemon;
mod faults;
mod hostile;
mod instances;
mod mapping;
#[path = "../support/mariadb.rs"]
mod mariadb;
mod memory;
mod notify;
mod ocr;
mod policies;
mod rebuild;
mod remote;
mod remote_derive;
mod report_page;
mod s3;
mod same_image;
mod scan;
mod service;
mod share_links;
mod skeletal;
mod support;
mod two_processes;
mod undo;
mod upright;
