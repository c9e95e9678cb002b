//! Per-image media fields and where they come from: the iDigBio Media
//! Ingestion Appliance's report (`import-links --format idigbio`), link
//! spreadsheets naming media columns, GUID matching.

use sqlx::Row as _;

use crate::support::*;

/// The text of `columns` of every image row of `occid`, in id order (an
/// empty string for NULL).
async fn media_columns(env: &Env, occid: i64, columns: &[&str]) -> Vec<Vec<String>> {
    let mut conn = env.db().await;
    let (table, id) = env.table();
    let list: Vec<String> = columns.iter().map(|c| format!("CAST({c} AS CHAR)")).collect();
    let sql = format!("SELECT {} FROM {table} WHERE occid = ? ORDER BY {id}", list.join(", "));
    let rows = sqlx::query(&sql)
        .bind(occid)
        .fetch_all(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.iter()
        .map(|r| {
            (0..columns.len())
                .map(|i| {
                    r.try_get::<Option<String>, _>(i)
                        .ok()
                        .flatten()
                        .or_else(|| {
                            r.try_get::<Option<Vec<u8>>, _>(i)
                                .ok()
                                .flatten()
                                .map(|b| String::from_utf8_lossy(&b).into_owned())
                        })
                        .unwrap_or_default()
                })
                .collect()
        })
        .collect()
}

/// A second-generation report in the appliance's shape (its columns and
/// status words as docs/symbiota.md (i) lists them; synthetic values):
/// Windows and Mac paths, a quoted JSON column, a failed upload.
const REPORT_V2: &str = "\
idigbio:recordID,ac:accessURI,dc:type,dc:format,dc:rights,idigbio:OriginalFileName,ac:hashFunction,ac:hashValue,idigbio:jsonProperties,idigbio:mediaStatus,idigbio:mediaStatusDate,idigbio:mediaStatusDetail
9b3c1f7e-0d4b-4d3a-a3f5-2e1c8a7b6d01,https://api.idigbio.org/v2/media/5d41402abc4b2a76b9719d911017c592,StillImage,image/jpeg,CC BY-NC 4.0,C:\\Users\\imaging\\Desktop\\batch 7\\MICH-V-1390992.jpg,md5,5d41402abc4b2a76b9719d911017c592,\"{\"\"source\"\": \"\"appliance\"\", \"\"v\"\": 2}\",uploaded,2019-06-10 12:00:01,
9b3c1f7e-0d4b-4d3a-a3f5-2e1c8a7b6d02,,StillImage,image/jpeg,CC BY-NC 4.0,C:\\Users\\imaging\\Desktop\\batch 7\\MICH-V-1390993.jpg,md5,,,failed,2019-06-10 12:00:02,Upload failed: HTTP 502 Bad Gateway
9b3c1f7e-0d4b-4d3a-a3f5-2e1c8a7b6d03,https://api.idigbio.org/v2/media/7d793037a0760186574b0282f2f435e7,StillImage,image/jpeg,CC0 1.0,/Volumes/Sheets/MICH-V-0045678.jpg,md5,7d793037a0760186574b0282f2f435e7,,uploaded,2019-06-10 12:00:03,
";

/// The first generation: bare column names, the URL built from the MD5.
const REPORT_V1: &str = "\
OriginalFileName,MediaGUID,MediaMD5,MimeType,MediaSizeInBytes,ProviderCreatedTimeStamp
D:\\herbarium\\MICH-V-1390993.jpg,8f14e45f-ceea-467f-a1f8-2f2b0c6d0e04,8f14e45fceea167a5a36dedd4bea2543,image/jpeg,812345,2016-03-01 09:00:00
";

async fn idigbio_reports_link_their_uploaded_rows(backend: Backend) {
    let env = Env::new(backend).await;
    let before = env.image_rows().await;
    env.write_file("report.csv", REPORT_V2.as_bytes());
    let run = env.cli(&[
        "import-links",
        "report.csv",
        "--collection",
        "MICH-V",
        "--format",
        "idigbio",
    ]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.summary(), [2, 0, 0, 0, 1], "{}", run.stdout);
    let failed = run.line_for("line 3 (MICH-V-1390993.jpg)");
    assert!(
        failed.starts_with("skipped") && failed.contains("\"failed\"") && failed.contains("HTTP 502 Bad Gateway"),
        "the failed upload is skipped with iDigBio's detail: {}",
        run.stdout
    );
    assert_eq!(env.image_rows().await, before + 2);

    let base = "https://api.idigbio.org/v2/media/5d41402abc4b2a76b9719d911017c592";
    let rows = media_columns(
        &env,
        201,
        &[
            "url",
            "thumbnailUrl",
            "originalUrl",
            "mediaMD5",
            "rights",
            "owner",
            "sourceIdentifier",
        ],
    )
    .await;
    assert_eq!(
        rows,
        [[
            format!("{base}?size=webview"),
            format!("{base}?size=thumbnail"),
            base.to_string(),
            "5d41402abc4b2a76b9719d911017c592".to_string(),
            "CC BY-NC 4.0".to_string(),
            "University of Michigan Herbarium - Vascular Plants".to_string(),
            "MICH-V-1390992.jpg".to_string(),
        ]],
        "the report names no owner: the collection's name, as Symbiota's reader wrote"
    );
    let rows = media_columns(&env, 203, &["rights", "mediaMD5"]).await;
    assert_eq!(
        rows,
        [["CC0 1.0", "7d793037a0760186574b0282f2f435e7"]],
        "the Mac path's row"
    );

    let again = env.cli(&[
        "import-links",
        "report.csv",
        "--collection",
        "MICH-V",
        "--format",
        "idigbio",
    ]);
    assert!(again.stdout.contains("already there"), "{}", again.stdout);
    assert_eq!(env.image_rows().await, before + 2, "a second run adds nothing");

    // Given as it is, without --format: recognised by its columns.
    env.write_file("old.csv", REPORT_V1.as_bytes());
    let run = env.cli(&["import-links", "old.csv", "--collection", "MICH-V"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let rows = media_columns(&env, 202, &["url", "mediaMD5"]).await;
    assert_eq!(
        rows,
        [[
            "https://api.idigbio.org/v2/media/8f14e45fceea167a5a36dedd4bea2543?size=webview".to_string(),
            "8f14e45fceea167a5a36dedd4bea2543".to_string()
        ]],
        "the first generation's URL is built from its MD5"
    );
}
on_every_backend!(idigbio_reports_link_their_uploaded_rows);

/// A plain link list with media columns by Symbiota's and Audubon Core's
/// names; a value longer than its column is refused for its line only,
/// with the column's size.
async fn link_lists_carry_media_fields_per_row(backend: Backend) {
    let env = Env::new(backend).await;
    let long = "x".repeat(101);
    let csv = format!(
        "filename,ac:accessURI,Caption,dc:creator,dcterms:rights,xmpRights:Owner,Notes,sortOccurrence\n\
         sheets\\MICH-V-1390992.jpg,https://media.example.org/a/1.jpg,Sheet 1,A. Reznicek,CC BY 4.0,Reznicek family,verso,2\n\
         sheets\\MICH-V-1390993.jpg,https://media.example.org/a/2.jpg,{long},B. Photographer,,,,\n"
    );
    env.write_file("links.csv", csv.as_bytes());
    let run = env.cli(&["import-links", "links.csv", "--collection", "MICH-V"]);
    assert_eq!(run.code, 1, "the long caption fails its line: {}", run.stdout);
    assert_eq!(run.summary(), [1, 0, 0, 1, 0], "{}", run.stdout);
    let refused = run.line_for("line 3");
    assert!(
        refused.contains("caption") && refused.contains("101") && refused.contains("100"),
        "names the column, the length and the column's size: {refused}"
    );
    assert!(env.media_of(202).await.is_empty(), "nothing written for line 3");
    let creator = if backend == Backend::MariaDbLegacy {
        "photographer"
    } else {
        "creator"
    };
    let rows = media_columns(
        &env,
        201,
        &["url", "caption", creator, "rights", "owner", "notes", "sortOccurrence"],
    )
    .await;
    let last = rows.last().cloned().unwrap_or_default();
    assert_eq!(
        last,
        [
            "https://media.example.org/a/1.jpg",
            "Sheet 1",
            "A. Reznicek",
            "CC BY 4.0",
            "Reznicek family",
            "verso",
            "2"
        ],
        "{rows:?}"
    );
}
on_every_backend!(link_lists_carry_media_fields_per_row);

/// `collection.match = { occurrence_id = true }`: a file named after the
/// record's occurrenceID (or recordID) finds it; a list may name
/// `occurrenceID` or `occid` directly; two records claiming one GUID park.
#[tokio::test]
async fn occurrence_ids_find_their_records() {
    let env = Env::new(Backend::MariaDb).await;
    env.execute(
        "UPDATE omoccurrences SET occurrenceID = 'urn:catalog:MICH:V:1390992' WHERE occid = 201;
         UPDATE omoccurrences SET occurrenceID = 'dup-guid' WHERE occid = 202;
         UPDATE omoccurrences SET recordID = 'dup-guid' WHERE occid = 203;",
    )
    .await;
    env.write_file(
        "guids.csv",
        b"occurrenceID,url\n\
          urn:catalog:MICH:V:1390992,https://media.example.org/g/1.jpg\n\
          dup-guid,https://media.example.org/g/2.jpg\n\
          no-such-guid,https://media.example.org/g/3.jpg\n",
    );
    let run = env.cli(&["import-links", "guids.csv", "--collection", "MICH-V"]);
    assert_eq!(run.summary(), [1, 2, 0, 0, 0], "{}", run.stdout);
    assert!(run.line_for("line 3").contains("ambiguous"), "{}", run.stdout);
    assert!(
        run.line_for("line 4")
            .contains("no specimen with occurrenceID no-such-guid"),
        "{}",
        run.stdout
    );
    assert_eq!(env.media_of(201).await.len(), 1);

    env.write_file("occids.csv", b"occid,url\n204,https://media.example.org/g/4.jpg\n");
    let run = env.cli(&["import-links", "occids.csv", "--collection", "MICH-V"]);
    assert_eq!(run.summary(), [1, 0, 0, 0, 0], "{}", run.stdout);
    assert_eq!(env.media_of(204).await.len(), 1);

    // A pattern that reads a GUID (here a recordID) out of the file name.
    env.execute("UPDATE omoccurrences SET recordID = '5f0c2b8e-1111-4222-8333-944455556666' WHERE occid = 205")
        .await;
    env.edit_config(
        "pattern = '^MICH-V-(\\d{7})\\D*'",
        "pattern = '^([0-9a-f-]{36})'\nmatch = { occurrence_id = true }",
    );
    env.write_file(
        "names.csv",
        b"filename,url\n5f0c2b8e-1111-4222-8333-944455556666.jpg,https://media.example.org/g/5.jpg\n",
    );
    let run = env.cli(&["import-links", "names.csv", "--collection", "MICH-V"]);
    assert_eq!(run.summary(), [1, 0, 0, 0, 0], "{}\n{}", run.stdout, run.stderr);
    assert_eq!(env.media_of(205).await.len(), 1);
}

/// A mapping file beside sheets with odd names (no catalog number in
/// them): each is linked to its line's specimen with its own caption and
/// creator; a line whose image never arrives is in the team's waiting
/// list; the file goes to the archive with its result file.
async fn mapping_files_link_odd_names_with_their_own_fields(backend: Backend) {
    let env = Env::new(backend).await;
    env.write_file("var/drop/mich/box7/scan 0001.jpg", &distinct(&sample(SMALL_7), "1"));
    env.write_file("var/drop/mich/box7/scan 0002.jpg", &distinct(&sample(SMALL_8), "2"));
    env.drop_text(
        "var/drop/mich/box7/batch7.map.csv",
        "filename;catalogNumber;Caption;dc:creator;dcterms:rights\n\
         scan 0001.jpg;1390992;Sheet one, recto;A. Reznicek;CC BY 4.0\n\
         scan 0002.jpg;1390993;Sheet two;B. Fotógrafo;\n\
         scan 0003.jpg;0045678;never arrives;;\n\
         ;1390994;no file name;;\n"
            .as_bytes(),
    );
    let run = env.scan();
    assert_eq!(run.summary(), [2, 0, 0, 1, 0], "{}\n{}", run.stdout, run.stderr);
    let map = run.line_for("box7/batch7.map.csv");
    assert!(
        map.contains("3 line(s) kept, 1 rejected"),
        "the bad line is rejected, the others kept: {}",
        run.stdout
    );
    let creator = if backend == Backend::MariaDbLegacy {
        "photographer"
    } else {
        "creator"
    };
    assert_eq!(
        media_columns(&env, 201, &["caption", creator, "rights"]).await,
        [["Sheet one, recto", "A. Reznicek", "CC BY 4.0"]]
    );
    assert_eq!(
        media_columns(&env, 202, &["caption", creator]).await,
        [["Sheet two", "B. Fotógrafo"]]
    );
    let result = env.files_under("var/archive/mich");
    assert!(
        result.iter().any(|f| f.ends_with("batch7.map.csv.result.txt")),
        "the result file is archived beside the mapping file: {result:?}"
    );
    let result_file = result
        .iter()
        .find(|f| f.ends_with("batch7.map.csv.result.txt"))
        .map(|f| env.path("var/archive/mich").join(f))
        .unwrap_or_default();
    let text = std::fs::read_to_string(&result_file).unwrap_or_default();
    assert!(text.contains("line 5: filename is empty"), "{text}");
    let records = env.count("SELECT COUNT(*) FROM omoccurrences WHERE collid = 2").await;
    let stats = env
        .count(&format!(
            "SELECT COUNT(*) FROM omcollectionstats WHERE collid = 2 AND recordcnt = {records} \
             AND datelastmodified IS NOT NULL AND dynamicProperties = '{{\"imgcnt\":\"2:2\"}}'"
        ))
        .await;
    assert_eq!(
        stats, 1,
        "the batch made the collection's statistics row, with imgcnt 2:2"
    );
    let waiting = std::fs::read_to_string(env.path("var/drop/mich/_specdrop/waiting.csv")).unwrap_or_default();
    assert!(
        waiting.contains("box7/scan 0003.jpg") && waiting.contains("waiting for its image"),
        "the line whose image never came is listed: {waiting}"
    );
    assert!(!waiting.contains("scan 0001.jpg"), "{waiting}");
    let page = std::fs::read_to_string(env.path("var/drop/mich/_specdrop/index.html")).unwrap_or_default();
    let by_photographer = page
        .split("<caption>per day, by photographer</caption>")
        .nth(1)
        .unwrap_or("");
    assert!(
        by_photographer.contains("<th>A. Reznicek</th>") && by_photographer.contains("<th>B. Fotógrafo</th>"),
        "the page counts images by the photographer each line names: {page}"
    );
}
on_every_backend!(mapping_files_link_odd_names_with_their_own_fields);

/// `mapping = "required"`: a file no line lists waits, parked, even when
/// its name matches the pattern; once a mapping file lists it, its line
/// decides (here an occid other than the name's number).
#[tokio::test]
async fn with_mapping_required_images_wait_for_their_line() {
    let env = Env::new(Backend::Sqlite).await;
    env.write_config("mapping = \"required\"");
    env.drop_sample(SMALL_9, "MICH-V-1390992.jpg");
    let run = env.scan();
    assert_eq!(run.summary(), [0, 1, 0, 0, 0], "{}\n{}", run.stdout, run.stderr);
    run.assert_line("MICH-V-1390992.jpg", "waiting for a mapping line");

    env.drop_text(
        "var/drop/mich/late.map.txt",
        b"filename\toccid\tnotes\nMICH-V-1390992.jpg\t202\tfrom the late list\n",
    );
    let run = env.scan();
    assert_eq!(run.summary(), [1, 0, 0, 0, 1], "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.line_for("MICH-V-1390992.jpg").contains("-> occid 202"),
        "the line, not the pattern: {}",
        run.stdout
    );
    assert!(env.media_of(201).await.is_empty());
    assert_eq!(media_columns(&env, 202, &["notes"]).await, [["from the late list"]]);
    let waiting = std::fs::read_to_string(env.path("var/drop/mich/_specdrop/waiting.csv")).unwrap_or_default();
    assert!(!waiting.contains("MICH-V-1390992.jpg"), "{waiting}");
}

/// The daemon: an image parked "waiting for a mapping line" is taken as
/// soon as a mapping file listing it has been read, not at the next
/// parked-retry tick (30 minutes by default).
#[tokio::test]
async fn the_daemon_takes_a_waiting_image_when_its_mapping_file_arrives() {
    let env = Env::new(Backend::Sqlite).await;
    env.write_config("mapping = \"required\"");
    env.quick_watch("");
    let mut daemon = env.start_watching();
    env.drop_sample(SMALL_7, "scan 0001.jpg");
    let parked = daemon.wait_for(" scan 0001.jpg:", std::time::Duration::from_secs(60));
    assert!(
        parked.starts_with("parked") && parked.contains("waiting for a mapping line"),
        "{parked}"
    );
    env.write_file(
        "var/drop/mich/late.map.csv",
        b"filename,catalogNumber,caption\nscan 0001.jpg,1390992,came later\n",
    );
    let linked = daemon.wait_for("(mapping file) -> occid 201", std::time::Duration::from_secs(60));
    assert!(linked.contains("scan 0001.jpg"), "{linked}");
    daemon.stop_cleanly();
    assert_eq!(media_columns(&env, 201, &["caption"]).await, [["came later"]]);
}

/// With the default `mapping = "optional"`, a name the pattern cannot read
/// is skipped; the daemon takes it again when a mapping file lists it.
#[tokio::test]
async fn the_daemon_takes_a_skipped_odd_name_when_its_mapping_file_arrives() {
    let env = Env::new(Backend::Sqlite).await;
    env.quick_watch("");
    let mut daemon = env.start_watching();
    env.drop_sample(SMALL_8, "IMG_4411.jpg");
    let skipped = daemon.wait_for(" IMG_4411.jpg:", std::time::Duration::from_secs(60));
    assert!(
        skipped.starts_with("skipped") && skipped.contains("no catalog number in name"),
        "{skipped}"
    );
    env.write_file("var/drop/mich/late.map.csv", b"filename,occid\nIMG_4411.jpg,203\n");
    let linked = daemon.wait_for("(mapping file) -> occid 203", std::time::Duration::from_secs(60));
    assert!(linked.contains("IMG_4411.jpg"), "{linked}");
    daemon.stop_cleanly();
    assert_eq!(env.media_of(203).await.len(), 1);
}

/// The share is hostile: a mapping file that is a link to a file outside
/// the drop folder (or a folder link holding one) is refused and nothing of
/// it is kept, so no image is tied to a specimen by a list the team never
/// put there.
#[tokio::test]
async fn a_linked_mapping_file_is_refused_and_nothing_of_it_kept() {
    let env = Env::new(Backend::Sqlite).await;
    env.write_file("outside/evil.map.csv", b"filename,occid\nMICH-V-1390992.jpg,204\n");
    std::fs::create_dir_all(env.path("var/drop/mich")).expect("the drop folder");
    std::os::unix::fs::symlink(env.path("outside/evil.map.csv"), env.path("var/drop/mich/evil.map.csv"))
        .expect("plant a link");
    std::os::unix::fs::symlink(env.path("outside"), env.path("var/drop/mich/box")).expect("plant a folder link");
    env.drop_sample(SMALL_7, "MICH-V-1390992.jpg");
    let run = env.scan();
    run.assert_line("evil.map.csv", "symbolic link");
    assert!(
        run.line_for("MICH-V-1390992.jpg").contains("-> occid 201"),
        "the pattern, not the planted list: {}",
        run.stdout
    );
    assert!(env.media_of(204).await.is_empty());
    assert!(
        env.path("outside/evil.map.csv").exists(),
        "the link's target is left where it is"
    );
}

/// The imglib files below the test's image library.
fn library_files(env: &Env) -> Vec<String> {
    env.files_under("var/www/imglib")
}

/// Catalog numbers the ledger has as linked, in order.
async fn linked_numbers(env: &Env) -> Vec<String> {
    let mut ledger = env.ledger().await;
    sqlx::query("SELECT catalog_number FROM files WHERE outcome = 'linked' ORDER BY catalog_number")
        .fetch_all(&mut ledger)
        .await
        .expect("read the ledger")
        .iter()
        .map(|r| r.get::<String, _>(0))
        .collect()
}

/// One sheet, two specimens, named by two lines of a mapping file: with
/// the default `multi_specimen = "park"` the image waits; with
/// "link_all" it gets one set of files and a row for each specimen (each
/// with its line's caption), an entry in the ledger under each number.
async fn a_mapping_file_with_two_lines_for_one_image_links_both_with_link_all(backend: Backend) {
    let env = Env::new(backend).await;
    env.write_file("var/drop/mich/sheet 1.jpg", &distinct(&sample(SMALL_7), "two"));
    env.drop_text(
        "var/drop/mich/two.map.csv",
        b"filename,catalogNumber,caption\nsheet 1.jpg,1390992,left plant\nsheet 1.jpg,1390993,right plant\n",
    );
    let run = env.scan();
    let parked = run.line_for("sheet 1.jpg");
    assert!(
        parked.starts_with("parked")
            && parked.contains("several specimens for one image")
            && parked.contains("1390992")
            && parked.contains("1390993")
            && parked.contains("link_all"),
        "{}",
        run.stdout
    );
    assert!(env.media_of(201).await.is_empty() && env.media_of(202).await.is_empty());
    assert!(library_files(&env).is_empty(), "nothing written for a parked sheet");

    env.write_config("multi_specimen = \"link_all\"");
    let run = env.scan();
    let linked = run.line_for("sheet 1.jpg");
    assert!(
        linked.starts_with("linked") && linked.contains("-> occid 201") && linked.contains("-> occid 202"),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    let (one, two) = (env.media_of(201).await, env.media_of(202).await);
    assert_eq!(one.len(), 1, "{one:?}");
    assert_eq!(one, two, "both rows share one set of files");
    let (url, thumbnail, original) = &one[0];
    for u in [url, thumbnail, original] {
        assert!(env.served(u).is_file(), "{u}");
    }
    let files = library_files(&env);
    let distinct_urls: std::collections::BTreeSet<&String> = [url, thumbnail, original].into_iter().collect();
    assert_eq!(files.len(), distinct_urls.len(), "one set of derivatives: {files:?}");
    assert_eq!(media_columns(&env, 201, &["caption"]).await, [["left plant"]]);
    assert_eq!(media_columns(&env, 202, &["caption"]).await, [["right plant"]]);
    assert_eq!(linked_numbers(&env).await, ["1390992", "1390993"]);
    assert!(!env.path("var/drop/mich/sheet 1.jpg").exists(), "archived once linked");

    // Dropped again: a duplicate under both numbers, nothing new written.
    env.write_file("var/drop/mich/sheet 1.jpg", &distinct(&sample(SMALL_7), "two"));
    let again = env.scan();
    again.assert_line("sheet 1.jpg", "duplicate of");
    assert_eq!(env.media_of(201).await.len() + env.media_of(202).await.len(), 2);
}
on_every_backend!(a_mapping_file_with_two_lines_for_one_image_links_both_with_link_all);

/// TIFF (little-endian) for IFD0 `tags` (tag, type, count, inline value or
/// data), the data after the IFD; offsets filled in.
fn tiff(entries: &[(u16, u16, &[u8])], gps: bool) -> Vec<u8> {
    let count = entries.len() + usize::from(gps);
    let data_at = 8 + 2 + 12 * count + 4;
    let mut head: Vec<u8> = b"II*\0\x08\0\0\0".to_vec();
    head.extend(u16::try_from(count).expect("few tags").to_le_bytes());
    let mut data = Vec::new();
    for (tag, kind, value) in entries {
        head.extend(tag.to_le_bytes());
        head.extend(kind.to_le_bytes());
        head.extend(u32::try_from(value.len()).expect("short").to_le_bytes());
        if value.len() <= 4 {
            let mut inline = [0u8; 4];
            inline[..value.len()].copy_from_slice(value);
            head.extend(inline);
        } else {
            head.extend(u32::try_from(data_at + data.len()).expect("short").to_le_bytes());
            data.extend_from_slice(value);
        }
    }
    let gps_at = data_at + data.len();
    if gps {
        // GPSInfo points at an IFD with GPSLatitudeRef "N".
        head.extend(0x8825u16.to_le_bytes());
        head.extend(4u16.to_le_bytes());
        head.extend(1u32.to_le_bytes());
        head.extend(u32::try_from(gps_at).expect("short").to_le_bytes());
        data.extend(1u16.to_le_bytes());
        data.extend(1u16.to_le_bytes());
        data.extend(2u16.to_le_bytes());
        data.extend(2u32.to_le_bytes());
        data.extend(b"N\0\0\0");
        data.extend(0u32.to_le_bytes());
    }
    head.extend(0u32.to_le_bytes());
    head.extend(data);
    head
}

/// `jpeg` with an EXIF APP1 segment (Make, Artist, Copyright, GPS) right
/// after its SOI.
fn with_exif(jpeg: &[u8], artist: &str, copyright: &str) -> Vec<u8> {
    let (a, c) = (format!("{artist}\0"), format!("{copyright}\0"));
    let tiff = tiff(
        &[
            (0x010F, 2, b"SecretCam Mk II\0"),
            (0x013B, 2, a.as_bytes()),
            (0x8298, 2, c.as_bytes()),
        ],
        true,
    );
    let payload = [&b"Exif\0\0"[..], &tiff].concat();
    let mut out = jpeg[..2].to_vec();
    out.extend([0xFF, 0xE1]);
    out.extend(u16::try_from(payload.len() + 2).expect("small").to_be_bytes());
    out.extend(payload);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// Every EXIF IFD0 of a JPEG file: its tags and their ASCII values.
fn exif_tags(jpeg: &[u8]) -> Vec<Vec<(u16, String)>> {
    let mut found = Vec::new();
    let mut at = 2;
    while at + 4 <= jpeg.len() && jpeg[at] == 0xFF && jpeg[at + 1] != 0xDA {
        let len = usize::from(u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]));
        let payload = &jpeg[at + 4..(at + 2 + len).min(jpeg.len())];
        if jpeg[at + 1] == 0xE1
            && let Some(t) = payload.strip_prefix(b"Exif\0\0")
        {
            let le = &t[..2] == b"II";
            let u16_at = |i: usize| {
                let b = [t[i], t[i + 1]];
                if le {
                    u16::from_le_bytes(b)
                } else {
                    u16::from_be_bytes(b)
                }
            };
            let u32_at = |i: usize| {
                let b = [t[i], t[i + 1], t[i + 2], t[i + 3]];
                if le {
                    u32::from_le_bytes(b)
                } else {
                    u32::from_be_bytes(b)
                }
            };
            let ifd = u32_at(4) as usize;
            let tags = (0..usize::from(u16_at(ifd)))
                .map(|i| {
                    let e = ifd + 2 + i * 12;
                    let count = u32_at(e + 4) as usize;
                    let from = if count <= 4 { e + 8 } else { u32_at(e + 8) as usize };
                    let text = String::from_utf8_lossy(&t[from..from + count]);
                    (u16_at(e), text.trim_end_matches('\0').to_string())
                })
                .collect();
            found.push(tags);
        }
        at += 2 + len;
    }
    found
}

/// A source's EXIF Artist and Copyright: carried into every derivative
/// (and nothing else of its EXIF: no camera, no GPS position), whatever
/// `media_from_exif` says; with it, they fill the row's creator and
/// copyright, which the collection's config leaves empty.
async fn exif_artist_and_copyright_reach_the_row_and_every_derivative(backend: Backend) {
    let env = Env::new(backend).await;
    let creator = if backend == Backend::MariaDbLegacy {
        "photographer"
    } else {
        "creator"
    };
    // A copied small sheet (large) and an encoded one (thumbnail).
    env.write_file(
        "var/drop/mich/MICH-V-1390992.jpg",
        &with_exif(&sample(SMALL_7), "A. Reznicek", "(c) 2026 MICH"),
    );
    let run = env.scan();
    assert_eq!(run.summary(), [1, 0, 0, 0, 0], "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        media_columns(&env, 201, &[creator, "copyright"]).await,
        [["", ""]],
        "without media_from_exif the row is as the config says"
    );

    env.write_config("media_from_exif = true");
    env.write_file(
        "var/drop/mich/MICH-V-1390993.jpg",
        &with_exif(&sample(SMALL_8), "B. Fotógrafo", "CC BY 4.0 MICH"),
    );
    let run = env.scan();
    assert_eq!(run.summary(), [1, 0, 0, 0, 0], "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        media_columns(&env, 202, &[creator, "copyright"]).await,
        [["B. Fotógrafo", "CC BY 4.0 MICH"]]
    );

    for (occid, artist, copyright) in [
        (201, "A. Reznicek", "(c) 2026 MICH"),
        (202, "B. Fotógrafo", "CC BY 4.0 MICH"),
    ] {
        let media = env.media_of(occid).await;
        let (url, thumbnail, original) = &media[0];
        for u in [url, thumbnail, original] {
            let bytes = std::fs::read(env.served(u)).expect("a derivative");
            assert_eq!(
                exif_tags(&bytes),
                [vec![(0x013B, artist.to_string()), (0x8298, copyright.to_string())]],
                "{u}: only Artist and Copyright"
            );
            assert!(
                !bytes.windows(9).any(|w| w == b"SecretCam"),
                "{u}: the camera is not named"
            );
            assert!(!bytes.windows(8).any(|w| w == b"xap/1.0/"), "{u}: no XMP");
        }
    }
}
on_every_backend!(exif_artist_and_copyright_reach_the_row_and_every_derivative);

/// The daemon's batches have no end: omcollectionstats is refreshed once
/// the files that linked are done (not per file), so the portal's counts
/// follow images that arrive while it runs.
#[tokio::test]
async fn the_daemon_refreshes_the_collection_statistics_after_linking() {
    let env = Env::new(Backend::Sqlite).await;
    env.quick_watch("");
    let with_images =
        "SELECT COUNT(*) FROM omcollectionstats WHERE collid = 2 AND dynamicProperties LIKE '%\"imgcnt\":\"2:2\"%'";
    assert_eq!(env.count(with_images).await, 0, "the seed has no such row");
    let mut daemon = env.start_watching();
    env.drop_sample(SMALL_7, "MICH-V-1390992.jpg");
    env.drop_sample(SMALL_8, "MICH-V-1390993.jpg");
    let reports = daemon.reports_for(
        &["MICH-V-1390992.jpg", "MICH-V-1390993.jpg"],
        std::time::Duration::from_secs(60),
    );
    assert!(reports.iter().all(|r| r.starts_with("linked")), "{reports:?}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut rows = 0;
    while rows == 0 && std::time::Instant::now() < deadline {
        rows = env.count(with_images).await;
        if rows == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }
    daemon.stop_cleanly();
    assert_eq!(rows, 1, "imgcnt 2:2 after the two links");
}
