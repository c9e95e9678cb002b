//! `specdrop scan` from drop folder to derivatives, rows and archive.

use crate::support::*;

async fn links_matched_sheets_archives_them_and_parks_the_rest(backend: Backend) {
    let env = Env::new(backend).await;
    env.drop_sample(FULL_1390992, "MICH-V-1390992.jpg");
    env.drop_sample(SMALL_7, "day1/MICH-V-1390993.JPEG");
    env.drop_sample(SMALL_9, "MICH-V-7654321.jpg");
    env.drop_sample(SMALL_8, "IMG_0001.jpg");

    let run = env.scan();
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.summary(), [2, 1, 0, 0, 1], "{}", run.stdout);
    run.assert_line("MICH-V-7654321.jpg", "no specimen");
    run.assert_line("IMG_0001.jpg", "no catalog number in name");

    // The full-resolution sheet: three derivatives of the right widths.
    let rows = env.media_of(201).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    let (url, thumb, original) = &rows[0];
    assert_eq!(url, "/imglib/MICH_Vascular/01390/MICH-V-1390992_med.jpg");
    assert_eq!(env.served_size(url), (1400, 2102));
    assert_eq!(env.served_size(thumb), (200, 300));
    assert_eq!(env.served_size(original), (3200, 4804));

    // The 1400 px sheet: the source itself is the large and web image.
    let rows = env.media_of(202).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    let (url, thumb, original) = &rows[0];
    assert_eq!(url, original, "no separate web file for a small sheet");
    assert_eq!(
        url, "/imglib/MICH_Vascular/01390/MICH-V-1390993.jpg",
        ".JPEG becomes .jpg"
    );
    assert_eq!(
        std::fs::read(env.served(url)).ok(),
        Some(sample(SMALL_7)),
        "copied byte for byte"
    );
    assert_eq!(env.served_size(thumb), (200, 300));

    let library = env.files_under("var/www/imglib");
    assert_eq!(library.len(), 5, "3 + 2 files, nothing else: {library:?}");
    assert_eq!(
        env.files_under("var/archive/mich"),
        ["MICH-V-1390992.jpg", "day1/MICH-V-1390993.JPEG"]
    );
    assert_eq!(env.files_under("var/drop/mich"), ["IMG_0001.jpg", "MICH-V-7654321.jpg"]);
    assert_eq!(
        std::fs::read(env.path("var/archive/mich/MICH-V-1390992.jpg")).ok(),
        Some(sample(FULL_1390992)),
        "the original is archived unchanged"
    );

    // A second scan changes nothing.
    let media_before = env.image_rows().await;
    assert_eq!(media_before, 3, "the seed's row and two new ones");
    let again = env.scan();
    assert_eq!(again.code, 0, "{}", again.stdout);
    assert_eq!(again.summary(), [0, 1, 0, 0, 1], "{}", again.stdout);
    assert_eq!(env.image_rows().await, media_before);
    assert_eq!(env.files_under("var/www/imglib"), library);
}
on_every_backend!(links_matched_sheets_archives_them_and_parks_the_rest);

async fn the_same_content_under_a_new_name_is_not_linked_twice(backend: Backend) {
    let env = Env::new(backend).await;
    env.drop_sample(FULL_1390992, "MICH-V-1390992.jpg");
    assert_eq!(env.scan().summary(), [1, 0, 0, 0, 0]);
    let library = env.files_under("var/www/imglib");

    env.drop_sample(FULL_1390992, "MICH-V-1390992_b.jpg");
    let run = env.scan();
    assert_eq!(run.code, 0);
    assert_eq!(run.summary(), [0, 0, 0, 0, 1], "{}", run.stdout);
    run.assert_line("MICH-V-1390992_b.jpg", "duplicate of MICH-V-1390992.jpg (occid 201)");
    assert_eq!(env.media_of(201).await.len(), 1);
    assert_eq!(
        env.files_under("var/www/imglib"),
        library,
        "no second set of derivatives"
    );
    assert_eq!(
        env.files_under("var/archive/mich"),
        ["MICH-V-1390992.jpg", "MICH-V-1390992_b.jpg"]
    );
    assert!(env.files_under("var/drop/mich").is_empty());
}
on_every_backend!(the_same_content_under_a_new_name_is_not_linked_twice);

async fn skeletal_policy_creates_one_record_for_an_unknown_number(backend: Backend) {
    let env = Env::new(backend).await;
    env.write_config("unmatched = \"skeletal\"");
    env.drop_sample(SMALL_9, "MICH-V-7654321.jpg");
    env.drop_sample(FULL_1449838, "MICH-V-7654321_b.jpg");
    let run = env.scan();
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.summary(), [1, 0, 1, 0, 0], "{}", run.stdout);
    let new = "FROM omoccurrences WHERE collid = 2 AND catalogNumber = '7654321'";
    assert_eq!(env.count(&format!("SELECT COUNT(*) {new}")).await, 1);
    assert_eq!(
        env.count(&format!(
            "SELECT COUNT(*) {new} AND processingStatus = 'unprocessed' AND recordID IS NOT NULL AND dateEntered IS NOT NULL"
        ))
        .await,
        1
    );
    let occid = env.count(&format!("SELECT occid {new}")).await;
    assert_eq!(env.media_of(occid).await.len(), 2, "both images on the one new record");
    let (table, _) = env.table();
    let highest = env
        .count(&format!("SELECT MAX(sortSequence) FROM {table} WHERE occid = {occid}"))
        .await;
    assert_eq!(highest, 51);
}
on_every_backend!(skeletal_policy_creates_one_record_for_an_unknown_number);

async fn bad_files_fail_alone_and_stay_where_they_are(backend: Backend) {
    let env = Env::new(backend).await;
    let full = sample(FULL_1390992);
    env.write_file("var/drop/mich/MICH-V-1390992.jpg", &full[..full.len() / 2]);
    env.write_file("var/drop/mich/MICH-V-1390993.jpg", &tiny_png());
    env.write_file("var/drop/mich/MICH-V-1390995.jpg", b"");
    env.drop_sample(SMALL_7, "MICH-V-0045678.jpg");

    let run = env.scan();
    assert_eq!(run.code, 1, "some files failed: {}", run.stdout);
    assert_eq!(run.summary(), [1, 0, 0, 2, 1], "{}", run.stdout);
    run.assert_line("MICH-V-1390992.jpg", "incomplete");
    run.assert_line("MICH-V-1390993.jpg", "PNG");
    run.assert_line("MICH-V-1390995.jpg", "empty");
    assert!(
        run.line_for("MICH-V-0045678.jpg").contains("occid 203"),
        "the good file still went through"
    );
    assert_eq!(
        env.files_under("var/drop/mich"),
        ["MICH-V-1390992.jpg", "MICH-V-1390993.jpg", "MICH-V-1390995.jpg"]
    );
    assert_eq!(
        env.files_under("var/www/imglib").len(),
        2,
        "only the good file's derivatives"
    );
    assert_eq!(env.image_rows().await, 2);
}
on_every_backend!(bad_files_fail_alone_and_stay_where_they_are);

#[tokio::test]
async fn absolute_url_base_gives_absolute_urls() {
    let env = Env::new(Backend::Sqlite).await;
    env.write_config("url_base = \"https://img.example.org/imglib/\"");
    env.drop_sample(SMALL_7, "MICH-V-1390993.jpg");
    assert_eq!(env.scan().summary(), [1, 0, 0, 0, 0]);
    let rows = env.media_of(202).await;
    assert_eq!(
        rows.first().map(|r| r.0.as_str()),
        Some("https://img.example.org/imglib/MICH_Vascular/01390/MICH-V-1390993.jpg")
    );
}

#[tokio::test]
async fn dry_run_says_what_would_happen_and_writes_nothing() {
    let env = Env::new(Backend::Sqlite).await;
    env.drop_sample(SMALL_7, "MICH-V-1390993.jpg");
    env.drop_sample(SMALL_9, "MICH-V-7654321.jpg");
    let run = env.cli(&["scan", "--dry-run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.assert_line("MICH-V-1390993.jpg", "would link catalog number 1390993 to occid 202");
    run.assert_line("MICH-V-7654321.jpg", "no specimen");
    assert_eq!(env.files_under("var/drop/mich").len(), 2);
    assert!(env.files_under("var/www").is_empty());
    assert!(!env.path("var/state").exists(), "not even the ledger is created");
    assert_eq!(env.count("SELECT COUNT(*) FROM media").await, 1);
}

#[tokio::test]
async fn config_is_global_and_config_errors_exit_2_naming_the_key() {
    let env = Env::new(Backend::Sqlite).await;
    env.drop_sample(SMALL_7, "MICH-V-1390993.jpg");
    let run = env.run(&["--config", "specdrop.toml", "scan"]);
    assert_eq!(
        (run.code, run.summary()),
        (0, [1, 0, 0, 0, 0]),
        "--config before the subcommand"
    );

    env.write_config("");
    env.edit_config(r"'^MICH-V-(\d{7})\D*'", r"'^MICH-V-\d{7}'");
    env.edit_config("collid = 2", "collid = 2\nunmatched = \"maybe\"");
    let run = env.scan();
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("unmatched"), "{}", run.stderr);

    env.write_config("");
    env.edit_config(r"'^MICH-V-(\d{7})\D*'", r"'^MICH-V-\d{7}'");
    let run = env.scan();
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("collection[0].pattern") && run.stderr.contains("no capture group"),
        "{}",
        run.stderr
    );

    let run = env.run(&["scan", "--config", "missing.toml"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("missing.toml"));
}

#[tokio::test]
async fn a_missing_sqlite_portal_is_created_and_an_unknown_collid_is_named() {
    let env = Env::new(Backend::Sqlite).await;
    env.edit_config(&env.db_url, "sqlite://var/new-portal.db");
    let run = env.scan();
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("collid 2 is not in omcollections"),
        "{}",
        run.stderr
    );
    assert!(
        env.path("var/new-portal.db").exists(),
        "the embedded portal was created"
    );
}

#[tokio::test]
async fn demo_runs_on_a_fresh_folder() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = |args: &[&str]| {
        specdrop_command()
            .args(args)
            .current_dir(dir.path())
            .output()
            .expect("run specdrop demo")
    };
    for _ in 0..2 {
        let out = run(&["demo"]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("summary: 3 linked, 1 parked"), "{stdout}");
        assert!(
            stdout.contains("/imglib/MICH_Vascular/01390/MICH-V-1390992_med.jpg"),
            "{stdout}"
        );
        assert!(
            dir.path()
                .join("demo/www/imglib/MICH_Vascular/01390/MICH-V-1390992_tn.jpg")
                .exists()
        );
        assert!(stdout.contains("What the imaging team sees:"), "{stdout}");
        let page = std::fs::read_to_string(dir.path().join("demo/drop/mich/_specdrop/index.html")).unwrap_or_default();
        assert!(
            page.contains("MICH-V-7654321.jpg"),
            "the parked sheet is on the page:\n{page}"
        );
    }
    std::fs::create_dir_all(dir.path().join("mine")).expect("create a folder of the user's");
    std::fs::write(dir.path().join("mine/keep.txt"), b"x").expect("write a file of the user's");
    let out = run(&["demo", "--dir", "mine"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        dir.path().join("mine/keep.txt").exists(),
        "a folder demo did not make is never cleared"
    );
}

async fn several_images_of_one_specimen_follow_name_order(backend: Backend) {
    let env = Env::new(backend).await;
    env.drop_sample(SMALL_9, "MICH-V-1390993_b.jpg");
    env.drop_sample(FULL_1390992, "MICH-V-1390993_a.jpg");
    env.drop_sample(SMALL_8, "MICH-V-1390993-2.jpg");
    assert_eq!(env.scan().summary(), [3, 0, 0, 0, 0]);
    let (table, id) = env.table();
    let mut conn = env.db().await;
    let sql = format!("SELECT sourceIdentifier, sortSequence FROM {table} WHERE occid = 202 ORDER BY {id}");
    let rows: Vec<(String, i64)> = sqlx::query_as(&sql)
        .fetch_all(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let mut by_sequence = rows.clone();
    by_sequence.sort_by_key(|r| r.1);
    let names: Vec<&str> = by_sequence.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "filename: MICH-V-1390993-2.jpg",
            "filename: MICH-V-1390993_a.jpg",
            "filename: MICH-V-1390993_b.jpg"
        ]
    );
    assert_eq!(by_sequence.iter().map(|r| r.1).collect::<Vec<_>>(), [50, 51, 52]);
}
on_every_backend!(several_images_of_one_specimen_follow_name_order);

async fn hostile_names_are_data_not_sql(backend: Backend) {
    let env = Env::new(backend).await;
    let name = "MICH-V-1390993 it's; DROP TABLE media; -- ü.JPG";
    env.drop_sample(SMALL_7, name);
    let run = env.scan();
    assert_eq!(run.summary(), [1, 0, 0, 0, 0], "{}", run.stdout);
    let rows = env.media_of(202).await;
    assert_eq!(
        rows[0].0,
        "/imglib/MICH_Vascular/01390/MICH-V-1390993_it_s__DROP_TABLE_media__--__.jpg"
    );
    let (table, _) = env.table();
    let sql = format!(
        "SELECT COUNT(*) FROM {table} WHERE sourceIdentifier = 'filename: MICH-V-1390993 it''s; DROP TABLE media; -- ü.JPG'"
    );
    assert_eq!(env.count(&sql).await, 1, "the name is stored as it is");
    assert_eq!(env.files_under("var/archive/mich"), [name]);
}
on_every_backend!(hostile_names_are_data_not_sql);

#[tokio::test]
async fn names_that_clash_after_cleaning_never_overwrite() {
    let env = Env::new(Backend::Sqlite).await;
    env.drop_sample(SMALL_7, "MICH-V-1390993 a.jpg");
    env.drop_sample(SMALL_8, "MICH-V-1390993;a.jpg");
    assert_eq!(env.scan().summary(), [2, 0, 0, 0, 0]);
    let library = env.files_under("var/www/imglib");
    assert_eq!(library.len(), 4, "{library:?}");
    let rows = env.media_of(202).await;
    let originals: Vec<Vec<u8>> = rows
        .iter()
        .filter_map(|r| std::fs::read(env.served(&r.2)).ok())
        .collect();
    assert_eq!(
        rows[1].2, "/imglib/MICH_Vascular/01390/MICH-V-1390993_a_1.jpg",
        "{rows:?}"
    );
    assert!(
        originals == [sample(SMALL_7), sample(SMALL_8)],
        "each row shows its own sheet"
    );
}

#[tokio::test]
async fn large_only_and_hash_in_name_shape_the_files_and_urls() {
    let env = Env::new(Backend::Sqlite).await;
    env.edit_config(
        "[storage]",
        "[derive]\nlarge_only = true\nhash_in_name = true\n\n[storage]",
    );
    env.drop_sample(FULL_1390992, "MICH-V-1390992.jpg");
    assert_eq!(env.scan().summary(), [1, 0, 0, 0, 0]);
    let rows = env.media_of(201).await;
    let (url, thumb, original) = &rows[0];
    assert_eq!(url, original, "the large image is also the web image");
    assert!(thumb.is_empty(), "no thumbnail: {thumb}");
    let name = url.rsplit('/').next().unwrap_or_default();
    let tag = name.trim_start_matches("MICH-V-1390992_").trim_end_matches(".jpg");
    assert!(tag.len() == 8 && tag.chars().all(|c| c.is_ascii_hexdigit()), "{name}");
    assert_eq!(env.served_size(url), (3200, 4804));
    assert_eq!(env.files_under("var/www/imglib").len(), 1);
}

/// A complete 300x450 grey PNG.
fn tiny_png() -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, 300, 450);
    encoder.set_color(png::ColorType::Rgb);
    let mut writer = encoder.write_header().expect("a PNG header");
    writer
        .write_image_data(&vec![200u8; 300 * 450 * 3])
        .expect("the PNG's pixels");
    writer.finish().expect("finish the PNG");
    out
}

#[tokio::test]
async fn archive_masters_are_refused_and_png_taken_when_configured() {
    let env = Env::new(Backend::Sqlite).await;
    env.write_file("var/drop/mich/MICH-V-1390993.tif", b"II*\0\x08\0\0\0 pretend master");
    env.write_file("var/drop/mich/MICH-V-1390995.png", &tiny_png());
    let run = env.scan();
    assert_eq!(run.code, 1, "{}", run.stdout);
    run.assert_line("MICH-V-1390993.tif", "archive format");
    assert!(
        run.stdout.lines().all(|l| !l.contains(".png")),
        "PNG is not taken by default: {}",
        run.stdout
    );

    env.edit_config("[storage]", "[derive]\nformats = [\"jpeg\", \"png\"]\n\n[storage]");
    let run = env.scan();
    let line = run.line_for("MICH-V-1390995.png");
    assert!(line.starts_with("linked"), "{line}");
    let rows = env.media_of(205).await;
    assert_eq!(
        rows[0].2, "/imglib/MICH_Vascular/01390/MICH-V-1390995.jpg",
        "the PNG became a JPEG"
    );
    assert_eq!(env.served_size(&rows[0].2), (300, 450));
    assert!(
        env.files_under("var/drop/mich")
            .contains(&"MICH-V-1390993.tif".to_string()),
        "the master stays"
    );
}
