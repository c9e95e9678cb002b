//! Skeletal data files: dropped beside images, or given to
//! `specdrop import-skeletal`.

use crate::support::*;

/// The first column of `sql`'s first row as text (select it with
/// `CAST(... AS CHAR)` for TEXT and DATE columns).
async fn text_of(env: &Env, sql: &str) -> String {
    use sqlx::Row;
    let mut conn = env.db().await;
    let row = sqlx::query(sql)
        .fetch_one(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    if let Ok(text) = row.try_get::<Option<String>, _>(0) {
        return text.unwrap_or_default();
    }
    // MariaDB sends TEXT columns as blobs.
    let bytes: Option<Vec<u8>> = row.try_get(0).unwrap_or_else(|e| panic!("{sql}: {e}"));
    String::from_utf8_lossy(&bytes.unwrap_or_default()).into_owned()
}

async fn a_dropped_file_creates_fills_and_reports_by_line(backend: Backend) {
    let env = Env::new(backend).await;
    // UTF-8 with a BOM, semicolons, a quoted field with a newline and a
    // semicolon inside, and one bad row.
    let file = "\u{FEFF}catalogNumber;sciname;family;habitat;eventDate;collid\n\
                1390993;Carex lacustris;Other family;\"marsh; wet\nmeadow\";2001-09-13;99\n\
                7654321;Carex nova;Cyperaceae;;6/10/2004;\n\
                1390995;;;;31/31/2001;\n\
                7654322;;;;;\n";
    env.drop_text("var/drop/mich/batch1.csv", file.as_bytes());
    let run = env.scan();
    assert_eq!(run.code, 1, "a row was rejected: {}", run.stdout);
    let line = run.line_for("batch1.csv");
    assert!(line.contains("1 created, 1 filled, 0 unchanged, 2 rejected"), "{line}");

    // 202 (1390993): empty habitat filled, curated family kept.
    assert_eq!(
        text_of(
            &env,
            "SELECT CAST(habitat AS CHAR) FROM omoccurrences WHERE occid = 202"
        )
        .await,
        "marsh; wet\nmeadow"
    );
    assert_eq!(
        text_of(&env, "SELECT family FROM omoccurrences WHERE occid = 202").await,
        "Cyperaceae"
    );
    // A new record for 7654321 with its fields; collid from the file ignored.
    let new = "FROM omoccurrences WHERE catalogNumber = '7654321' AND collid = 2 AND processingStatus = 'unprocessed'";
    assert_eq!(env.count(&format!("SELECT COUNT(*) {new}")).await, 1);
    assert_eq!(text_of(&env, &format!("SELECT sciname {new}")).await, "Carex nova");
    assert!(
        text_of(&env, &format!("SELECT CAST(eventDate AS CHAR) {new}"))
            .await
            .starts_with("2004-06-10")
    );
    assert_eq!(
        env.count("SELECT COUNT(*) FROM omoccurrences WHERE catalogNumber = '7654322'")
            .await,
        0
    );

    // The file and its result file are in the archive.
    assert_eq!(
        env.files_under("var/archive/mich"),
        ["batch1.csv", "batch1.csv.result.txt"]
    );
    let result = std::fs::read_to_string(env.path("var/archive/mich/batch1.csv.result.txt")).unwrap_or_default();
    for expected in [
        "line 5: eventDate \"31/31/2001\" is not a full date",
        "line 6: no record with catalogNumber 7654322",
        "line 2: 1390993 -> occid 202: habitat",
        "column 6 \"collid\" is never loaded",
    ] {
        assert!(result.contains(expected), "{expected:?} not in:\n{result}");
    }

    // The same file again changes nothing.
    let before = env.count("SELECT COUNT(*) FROM omoccurrences").await;
    env.drop_text("var/drop/mich/batch1.csv", file.as_bytes());
    let again = env.scan();
    again.assert_line("batch1.csv", "0 created, 0 filled, 2 unchanged");
    assert_eq!(env.count("SELECT COUNT(*) FROM omoccurrences").await, before);
}
on_every_backend!(a_dropped_file_creates_fills_and_reports_by_line);

async fn an_unknown_column_refuses_the_file_and_writes_nothing(backend: Backend) {
    let env = Env::new(backend).await;
    env.drop_text(
        "var/drop/mich/bad.tsv",
        b"catalogNumber\tscientifc_name\n1390993\tCarex\n",
    );
    let before = env.count("SELECT COUNT(*) FROM omoccurrences").await;
    let run = env.scan();
    assert_eq!(run.code, 1);
    let line = run.line_for("bad.tsv");
    assert!(
        line.contains("column 2 \"scientifc_name\" is not a Symbiota occurrence field"),
        "{line}"
    );
    assert!(line.contains("did you mean"), "{line}");
    assert_eq!(env.count("SELECT COUNT(*) FROM omoccurrences").await, before);
    assert_eq!(
        env.files_under("var/drop/mich"),
        ["bad.tsv", "bad.tsv.result.txt"],
        "left where it is, with the reason"
    );
}
on_every_backend!(an_unknown_column_refuses_the_file_and_writes_nothing);

async fn associated_media_links_each_url(backend: Backend) {
    let env = Env::new(backend).await;
    let file = "catalogNumber,associatedMedia\n\
                1390992,https://images.example.org/a/1390992.jpg | https://images.example.org/a/1390992_b.jpg\n\
                1390993,ftp://nope/x.jpg\n";
    env.write_file("links.csv", file.as_bytes());
    let import = ["import-skeletal", "links.csv", "--collection", "MICH-V"];
    let run = env.cli(&import);
    assert_eq!(run.code, 1, "the ftp row is rejected: {}", run.stdout);
    assert!(
        run.stdout
            .contains("line 3: \"ftp://nope/x.jpg\" is not an http(s) URL"),
        "{}",
        run.stdout
    );
    let rows = env.media_of(201).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0].0, "https://images.example.org/a/1390992.jpg");
    assert_eq!(rows[0].0, rows[0].2, "url and originalUrl are the link");
    assert!(rows[0].1.is_empty(), "no thumbnail is made for a remote image");
    // Applying the file again links nothing twice.
    let again = env.cli(&import);
    assert!(again.stdout.contains("0 image link(s)"), "{}", again.stdout);
    assert_eq!(env.media_of(201).await.len(), 2);
}
on_every_backend!(associated_media_links_each_url);

#[tokio::test]
async fn overwrite_replaces_curated_values_only_when_asked() {
    let env = Env::new(Backend::MariaDb).await;
    env.write_file("f.csv", b"catalogNumber,family\n1390993,Juncaceae\n");
    let args = ["import-skeletal", "f.csv", "--collection", "MICH-V"];
    assert_eq!(env.cli(&args).code, 0);
    assert_eq!(
        text_of(&env, "SELECT family FROM omoccurrences WHERE occid = 202").await,
        "Cyperaceae"
    );
    env.write_config("skeletal = { overwrite = true }");
    let run = env.cli(&args);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(run.stdout.contains("occid 202: family"), "{}", run.stdout);
    assert_eq!(
        text_of(&env, "SELECT family FROM omoccurrences WHERE occid = 202").await,
        "Juncaceae"
    );
}

#[tokio::test]
async fn windows_1252_files_are_read_and_bad_values_named() {
    let env = Env::new(Backend::MariaDb).await;
    let mut file = b"catalogNumber|municipality|decimalLatitude|recordNumber\n1390993|S".to_vec();
    file.push(0xE3); // ã in Windows-1252
    file.extend_from_slice(b"o Paulo|-23.5|\n1390995||north|\n1390992|||");
    file.extend_from_slice("x".repeat(50).as_bytes());
    file.push(b'\n');
    env.write_file("w.txt", &file);
    let run = env.cli(&["import-skeletal", "w.txt", "--collection", "MICH-V"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.stdout.contains("read as Windows-1252"), "{}", run.stdout);
    assert!(
        run.stdout.contains("line 3: decimalLatitude \"north\" is not a number"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("line 4: recordNumber is 50 characters long, more than the portal's 45"),
        "{}",
        run.stdout
    );
    assert_eq!(
        text_of(
            &env,
            "SELECT CAST(municipality AS CHAR) FROM omoccurrences WHERE occid = 202"
        )
        .await,
        "São Paulo"
    );
    let bad = env.cli(&["import-skeletal", "w.txt", "--collection", "NOPE"]);
    assert_eq!(bad.code, 2);
}

#[tokio::test]
async fn a_tab_separated_file_in_the_drop_folder_is_applied() {
    let env = Env::new(Backend::MariaDb).await;
    env.drop_text(
        "var/drop/mich/day1/batch.TAB",
        b"catalogNumber\tcounty\thabitat\n1390995\tAllegan\t\"dry, oak\twoods\"\n",
    );
    let run = env.scan();
    assert_eq!(run.code, 0, "{}", run.stdout);
    run.assert_line("day1/batch.TAB", "0 created, 1 filled");
    assert_eq!(
        text_of(
            &env,
            "SELECT CAST(habitat AS CHAR) FROM omoccurrences WHERE occid = 205"
        )
        .await,
        "dry, oak\twoods"
    );
    assert_eq!(
        env.files_under("var/archive/mich"),
        ["day1/batch.TAB", "day1/batch.TAB.result.txt"]
    );
}

/// A skeletal file still being copied is left for the next run: one
/// changed within watch.settle_secs, one whose last line has no line end,
/// one whose last line has fewer fields than the header. A cut-off value
/// ("Ann Arb") never reaches the portal; a command-line file that is cut
/// off is refused.
#[tokio::test]
async fn a_file_still_arriving_is_left_for_the_next_run() {
    let env = Env::new(Backend::Sqlite).await;
    env.write_file(
        "var/drop/mich/fresh.csv",
        b"catalogNumber,municipality\n1390993,Ann Arbor\n",
    );
    env.drop_text("var/drop/mich/cut.csv", b"catalogNumber,municipality\n1390993,Ann Arb");
    env.drop_text(
        "var/drop/mich/short.csv",
        b"catalogNumber,county,municipality\n1390993,Washtenaw\n",
    );
    let touched = "SELECT COUNT(*) FROM omoccurrences WHERE municipality LIKE 'Ann%' OR county = 'Washtenaw'";
    let before = env.count(touched).await;
    let run = env.scan();
    for file in ["fresh.csv", "cut.csv", "short.csv"] {
        run.assert_line(file, "still arriving");
    }
    run.assert_line("fresh.csv", "settle_secs");
    run.assert_line("cut.csv", "no line end");
    run.assert_line("short.csv", "2 of the header's 3 fields");
    assert_eq!(env.count(touched).await, before, "a cut-off file reached the portal");
    assert_eq!(
        env.files_under("var/drop/mich"),
        ["cut.csv", "fresh.csv", "short.csv"],
        "all left in place, no result files"
    );

    env.write_file("cut.csv", b"catalogNumber,municipality\n1390993,Ann Arb");
    let refused = env.cli(&["import-skeletal", "cut.csv", "--collection", "MICH-V"]);
    assert_eq!(refused.code, 1, "{}", refused.stdout);
    assert!(refused.stderr.contains("looks cut off"), "{}", refused.stderr);
}

#[tokio::test]
async fn a_skeletal_file_waits_out_a_locked_portal_and_is_applied_next_run() {
    use sqlx::Connection as _;
    let env = Env::new(Backend::Sqlite).await;
    // Give up on an outage at once, so that the scan ends while the
    // portal is still locked.
    env.edit_config("[database]", "[database]\nretry_mins = 0");
    env.drop_text(
        "var/drop/mich/batch.csv",
        b"catalogNumber,municipality\n1390993,Ann Arbor\n",
    );
    // Another writer holds the portal's write lock for the whole scan.
    let url = env.db_url.clone();
    let mut holder = sqlx::SqliteConnection::connect(&url).await.expect("open the portal");
    sqlx::raw_sql("BEGIN IMMEDIATE")
        .execute(&mut holder)
        .await
        .expect("take the write lock");
    let run = env.scan();
    run.assert_line("batch.csv", "skipped");
    run.assert_line("batch.csv", "portal database unavailable");
    run.assert_line("batch.csv", "left in place for the next run");
    assert_eq!(
        env.files_under("var/drop/mich"),
        ["batch.csv"],
        "left in place, no result file"
    );
    sqlx::raw_sql("ROLLBACK")
        .execute(&mut holder)
        .await
        .expect("release the lock");
    holder.close().await.expect("close");

    let again = env.scan();
    again.assert_line("batch.csv", "1 filled");
    assert_eq!(
        env.count("SELECT COUNT(*) FROM omoccurrences WHERE occid = 202 AND municipality = 'Ann Arbor'")
            .await,
        1
    );
}
