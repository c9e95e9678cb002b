//! The shared ledger's tables in a MariaDB/MySQL database of specdrop's
//! own (`ledger.url`): made and brought up to date by specdrop, one
//! numbered step at a time, the step reached kept in `schema_version`.
//! A step is never changed once released; a new shape is a new step.
//!
//! Text columns are VARCHAR, never TEXT: the Any driver reads a TEXT
//! column as bytes. Paths are BLOBs (a name need not be UTF-8). Keys fit
//! InnoDB's 3072 bytes in utf8mb4; `utf8mb4_bin` compares as SQLite does,
//! byte for byte.

/// The step this version brings a ledger database to, and expects.
pub const SCHEMA_VERSION: i64 = 3;

const TABLE_OPTIONS: &str = "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin";

const NOW_DEFAULT: &str = "DEFAULT (DATE_FORMAT(UTC_TIMESTAMP(), '%Y-%m-%d %H:%i:%s'))";

/// Step 1: the tables of the SQLite ledger (ledger/mod.rs, mapping_lines.rs).
fn step_1() -> Vec<String> {
    let now = NOW_DEFAULT;
    vec![
        format!(
            "CREATE TABLE IF NOT EXISTS files (
                hash           VARCHAR(64) CHARACTER SET ascii NOT NULL,
                collection     VARCHAR(128) NOT NULL,
                catalog_number VARCHAR(255) NOT NULL DEFAULT '',
                source         BLOB NOT NULL,
                outcome        VARCHAR(16) NOT NULL,
                reason         VARCHAR(4000),
                occid          BIGINT,
                media_id       BIGINT,
                large          VARCHAR(1024),
                web            VARCHAR(1024),
                thumbnail      VARCHAR(1024),
                archived_to    VARCHAR(4096),
                number_from    VARCHAR(16),
                symbology      VARCHAR(32),
                first_seen     VARCHAR(19) NOT NULL {now},
                updated        VARCHAR(19) NOT NULL {now},
                run            VARCHAR(160),
                seq            BIGINT NOT NULL AUTO_INCREMENT,
                PRIMARY KEY (hash, collection, catalog_number),
                UNIQUE KEY files_seq (seq),
                KEY files_outcome (outcome),
                KEY files_source (source(255)),
                KEY files_run (run)
            ) {TABLE_OPTIONS}"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS writing (
                path  VARCHAR(768) NOT NULL PRIMARY KEY,
                url   VARCHAR(2048) NOT NULL,
                hash  VARCHAR(64) CHARACTER SET ascii NOT NULL,
                run   VARCHAR(200) NOT NULL,
                since VARCHAR(19) NOT NULL {now},
                KEY writing_run (run)
            ) {TABLE_OPTIONS}"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS undone (
                hash           VARCHAR(64) CHARACTER SET ascii NOT NULL,
                collection     VARCHAR(128) NOT NULL,
                catalog_number VARCHAR(255) NOT NULL,
                source         BLOB NOT NULL,
                occid          BIGINT,
                media_id       BIGINT,
                linked_by      VARCHAR(160),
                undone_by      VARCHAR(160) NOT NULL,
                at             VARCHAR(19) NOT NULL {now},
                PRIMARY KEY (hash, collection, catalog_number)
            ) {TABLE_OPTIONS}"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS ocr_jobs (
                media_id   BIGINT NOT NULL PRIMARY KEY,
                occid      BIGINT NOT NULL,
                collection VARCHAR(128) NOT NULL,
                image      BLOB NOT NULL,
                state      VARCHAR(16) NOT NULL DEFAULT 'queued',
                attempts   BIGINT NOT NULL DEFAULT 0,
                reason     VARCHAR(4000),
                queued     VARCHAR(19) NOT NULL {now},
                updated    VARCHAR(19) NOT NULL {now},
                KEY ocr_jobs_state (state)
            ) {TABLE_OPTIONS}"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS mapping_lines (
                collection VARCHAR(128) NOT NULL,
                path       VARCHAR(630) NOT NULL,
                base       VARCHAR(255) NOT NULL,
                folder     VARCHAR(640) NOT NULL,
                bare       BIGINT NOT NULL,
                `key`      VARCHAR(32) NOT NULL,
                value      VARCHAR(1024) NOT NULL,
                meta       VARCHAR(8000) NOT NULL,
                source     VARCHAR(1024) NOT NULL,
                line       BIGINT NOT NULL,
                matched    VARCHAR(19),
                added      VARCHAR(19) NOT NULL {now},
                seq        BIGINT NOT NULL DEFAULT 0,
                PRIMARY KEY (collection, path, seq),
                KEY mapping_lines_base (collection, base)
            ) {TABLE_OPTIONS}"
        ),
    ]
}

/// Step 2: several instances on one ledger. `instances`: one row per
/// session (`run`), its heartbeat in the server's clock (so hosts whose
/// clocks differ agree on who is alive). `taken`: a source file claimed
/// by one session before it is read, until `until` unless renewed.
/// `link_locks`: whose turn it is to link in a collection, the same way.
fn step_2() -> Vec<String> {
    vec![
        format!(
            "CREATE TABLE IF NOT EXISTS instances (
                run        VARCHAR(200) NOT NULL PRIMARY KEY,
                name       VARCHAR(255) NOT NULL,
                host       VARCHAR(255) NOT NULL,
                pid        BIGINT NOT NULL,
                version    VARCHAR(32) NOT NULL,
                started    BIGINT NOT NULL,
                heartbeat  BIGINT NOT NULL,
                lease_secs BIGINT NOT NULL,
                in_hand    BIGINT NOT NULL DEFAULT 0,
                ended      BIGINT,
                settled_by VARCHAR(200),
                settled    BIGINT,
                KEY instances_name (name)
            ) {TABLE_OPTIONS}"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS taken (
                collection VARCHAR(128) NOT NULL,
                path_key   CHAR(64) CHARACTER SET ascii NOT NULL,
                path       BLOB NOT NULL,
                run        VARCHAR(200) NOT NULL,
                until      BIGINT NOT NULL,
                PRIMARY KEY (collection, path_key),
                KEY taken_run (run)
            ) {TABLE_OPTIONS}"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS link_locks (
                collection VARCHAR(128) NOT NULL PRIMARY KEY,
                run        VARCHAR(200) NOT NULL,
                turn       BIGINT NOT NULL,
                until      BIGINT NOT NULL,
                KEY link_locks_run (run)
            ) {TABLE_OPTIONS}"
        ),
    ]
}

/// Step 3: `specdrop rebuild`. `rebuilds`: one job list per collection
/// (what it rebuilds, whether every row is listed, when it finished).
/// `rebuild_jobs`: one image row each, its state, the session holding it
/// until `until` (renewed with the heartbeat, as `taken`), and what the
/// row pointed at before and is to point at (a kill between the switch
/// and the clean-up is finished from these). `files_media`: a row's
/// ledger entry found by its id.
fn step_3() -> Vec<String> {
    vec![
        format!(
            "CREATE TABLE IF NOT EXISTS rebuilds (
                collection VARCHAR(128) NOT NULL PRIMARY KEY,
                sizes      VARCHAR(32) NOT NULL,
                since      VARCHAR(64) NOT NULL,
                started    BIGINT NOT NULL,
                listed     BIGINT NOT NULL DEFAULT 0,
                finished   BIGINT
            ) {TABLE_OPTIONS}"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS rebuild_jobs (
                collection    VARCHAR(128) NOT NULL,
                media_id      BIGINT NOT NULL,
                state         VARCHAR(16) NOT NULL DEFAULT 'waiting',
                run           VARCHAR(200),
                until         BIGINT,
                attempts      BIGINT NOT NULL DEFAULT 0,
                new_url       VARCHAR(1024),
                old_url       VARCHAR(1024),
                old_thumbnail VARCHAR(1024),
                old_original  VARCHAR(1024),
                reason        VARCHAR(4000),
                finished      BIGINT,
                PRIMARY KEY (collection, media_id),
                KEY rebuild_jobs_state (collection, state),
                KEY rebuild_jobs_finished (collection, finished),
                KEY rebuild_jobs_run (run)
            ) {TABLE_OPTIONS}"
        ),
        "CREATE INDEX files_media ON files (collection, media_id)".to_string(),
    ]
}

/// Every step, in order: step N is at index N - 1.
pub fn steps() -> Vec<Vec<String>> {
    vec![step_1(), step_2(), step_3()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_expected_version_is_the_last_step() {
        assert_eq!(steps().len() as i64, SCHEMA_VERSION);
    }
}
