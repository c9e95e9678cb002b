//! What the benches share.

// Each bench uses a part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

const SEED: &str = include_str!("../../../mapper/sql/seed-mariadb.sql");

/// The sheets to measure on: ../shared/corpus when present, else samples/.
pub fn default_dir() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let corpus = here.join("../../../shared/corpus");
    if corpus.is_dir() {
        corpus
    } else {
        here.join("../../samples")
    }
}

/// The built `specdrop` binary without any `SPECDROP_*` variable of this
/// process: an exported `SPECDROP_DATABASE_URL` must not send a bench's
/// rows to a real portal.
pub fn specdrop_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_specdrop"));
    for (name, _) in std::env::vars_os() {
        if name.as_encoded_bytes().starts_with(b"SPECDROP_") {
            command.env_remove(&name);
        }
    }
    command
}

/// A seeded SQLite portal at `dir/portal.db`; its URL.
pub async fn seeded_sqlite(dir: &Path) -> String {
    let url = format!("sqlite://{}", dir.join("portal.db").display());
    let portal = specdrop_mapper::Portal::connect(&url, specdrop_mapper::SchemaChoice::Auto)
        .await
        .expect("create the SQLite portal");
    portal.execute_script(SEED).await.expect("seed the SQLite portal");
    portal.close().await;
    url
}

/// `dir/specdrop.toml` for one MICH-V collection in `dir/drop` on the
/// portal at `url`: `tables` (whole TOML tables) go before the collection,
/// `collection` (keys) into it.
pub fn write_config(dir: &Path, url: &str, tables: &str, collection: &str) {
    std::fs::write(
        dir.join("specdrop.toml"),
        format!(
            "state_dir = \"state\"\n[database]\nurl = \"{url}\"\n[storage]\nroot = \"www\"\nurl_base = \"/imglib\"\n\
             {tables}\
             [[collection]]\ncode = \"MICH-V\"\ncollid = 2\ndrop = \"drop\"\npattern = '^MICH-V-(\\d{{7}})'\n{collection}"
        ),
    )
    .expect("write specdrop.toml");
}
