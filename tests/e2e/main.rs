//! End-to-end tests: the built `specdrop` binary on real folders, real
//! herbarium sheets (`samples/`) and real databases (a fresh MariaDB
//! database per test, and the embedded SQLite portal).

mod daemon;
#[path = "../support/mariadb.rs"]
mod mariadb;
mod policies;
mod scan;
mod support;
