//! A fresh MariaDB database per test, loaded with the Symbiota DDL and
//! seed from `crates/mapper/sql/`. Shared by the mapper's tests and the
//! end-to-end tests (included with `#[path]`).
//!
//! The server is `SPECDROP_TEST_MARIADB` (default
//! `mysql://root@127.0.0.1:3306`). When it cannot be reached the test
//! fails with a message saying so: a run without MariaDB never passes
//! silently.

#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::{Connection, Executor, MySqlConnection};

pub const SCHEMA: &str = include_str!("../../crates/mapper/sql/schema-mariadb.sql");
pub const SEED: &str = include_str!("../../crates/mapper/sql/seed-mariadb.sql");
pub const LEGACY_SCHEMA: &str = include_str!("../../crates/mapper/sql/schema-mariadb-legacy-images.sql");
pub const LEGACY_SEED: &str = include_str!("../../crates/mapper/sql/seed-mariadb-legacy-images.sql");

fn server() -> String {
    std::env::var("SPECDROP_TEST_MARIADB").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".to_string())
}

/// A database that exists for one test and is dropped after it.
pub struct TestDb {
    pub name: String,
    /// `mysql://.../NAME`, for `database.url`.
    pub url: String,
}

async fn admin() -> MySqlConnection {
    let url = format!("{}/test", server());
    match MySqlConnection::connect(&url).await {
        Ok(conn) => conn,
        Err(e) => panic!(
            "\n\n*** MariaDB is not reachable at {url}: {e}\n\
             *** The mapper and end-to-end tests need a real MariaDB. Start it (.ci/run does),\n\
             *** or point SPECDROP_TEST_MARIADB at one (mysql://user:password@host:port).\n\n"
        ),
    }
}

impl TestDb {
    /// A new database with the Symbiota schema (3.x `media` table) and seed.
    pub async fn seeded() -> TestDb {
        let db = TestDb::empty().await;
        db.run(SCHEMA).await;
        db.run(SEED).await;
        db
    }

    /// A new database of a portal before Symbiota 3.2 (`images` table).
    pub async fn seeded_legacy() -> TestDb {
        let db = TestDb::empty().await;
        db.run(LEGACY_SCHEMA).await;
        db.run(LEGACY_SEED).await;
        db
    }

    /// A new, empty database.
    pub async fn empty() -> TestDb {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!(
            "specdrop_t_{}_{}_{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let mut conn = admin().await;
        conn.execute(format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4").as_str())
            .await
            .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
        let url = format!("{}/{name}", server());
        TestDb { name, url }
    }

    pub async fn connect(&self) -> MySqlConnection {
        MySqlConnection::connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {}: {e}", self.url))
    }

    /// Run a script of several statements.
    pub async fn run(&self, sql: &str) {
        let mut conn = self.connect().await;
        sqlx::raw_sql(sql)
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("script failed in {}: {e}", self.name));
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs outside any async context we could borrow; a small
        // runtime on its own thread does the one statement.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return;
            };
            rt.block_on(async {
                let mut conn = admin().await;
                // A failed test may leave connections (and their locks) open.
                let ids: Vec<(u64,)> = sqlx::query_as(
                    "SELECT CAST(ID AS UNSIGNED) FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID()",
                )
                .bind(&name)
                .fetch_all(&mut conn)
                .await
                .unwrap_or_default();
                for (id,) in ids {
                    let _ = conn.execute(format!("KILL {id}").as_str()).await;
                }
                let _ = conn.execute(format!("DROP DATABASE IF EXISTS `{name}`").as_str()).await;
            });
        })
        .join();
    }
}
