//! Catalog numbers read from the sheets' Code 39 labels: the real
//! full-resolution MICH sheets under camera names, sheets with two labels
//! (made here by pasting one sheet's label onto another), a name that
//! disagrees with its barcode, and a sheet with no readable barcode.

use sqlx::Row as _;

use crate::support::*;

const FULL_1450812: &str = "herb00ic_1450812_MICH-V-1450812_MICH-V-1450812_3744x5616.jpg";
const FULL_16205594: &str = "MICH_16205594_Poaceae_Jouvea_pilosa_full.jpg";

/// Where each sheet's label is, at full resolution: (sample, x0, y0, x1, y1).
const LABEL_1390992: (&str, usize, usize, usize, usize) = (FULL_1390992, 1736, 5363, 2246, 5548);
const LABEL_1122841: (&str, usize, usize, usize, usize) = (FULL_16205594, 1656, 5191, 2156, 5386);

fn rgb(jpeg: &[u8]) -> (usize, usize, Vec<u8>) {
    use zune_jpeg::zune_core::{bytestream::ZCursor, colorspace::ColorSpace, options::DecoderOptions};
    let options = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::RGB);
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(jpeg), options);
    let pixels = decoder.decode().expect("decode a sample sheet");
    let (w, h) = decoder.dimensions().expect("a decoded sheet has a size");
    (w, h, pixels)
}

/// `base` with `label` pasted at (x, y): a sheet carrying two barcodes.
fn with_label(base: &str, label: (&str, usize, usize, usize, usize), x: usize, y: usize) -> Vec<u8> {
    let (w, h, mut pixels) = rgb(&sample(base));
    let (name, x0, y0, x1, y1) = label;
    let (lw, _, donor) = rgb(&sample(name));
    for row in 0..(y1 - y0) {
        let from = ((y0 + row) * lw + x0) * 3;
        let to = ((y + row) * w + x) * 3;
        pixels[to..to + (x1 - x0) * 3].copy_from_slice(&donor[from..from + (x1 - x0) * 3]);
    }
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 92)
        .encode(
            &pixels,
            u16::try_from(w).unwrap_or(u16::MAX),
            u16::try_from(h).unwrap_or(u16::MAX),
            jpeg_encoder::ColorType::Rgb,
        )
        .expect("encode the pasted sheet");
    out
}

/// Drop `base` with `label` pasted at (x, y) into the drop folder as `name`.
fn drop_with_label(env: &Env, name: &str, base: &str, label: (&str, usize, usize, usize, usize), x: usize, y: usize) {
    env.write_file(&format!("var/drop/mich/{name}"), &with_label(base, label, x, y));
}

async fn add_specimens(env: &Env, numbers: &[&str]) {
    let mut db = env.db().await;
    for number in numbers {
        sqlx::query("INSERT INTO omoccurrences (collid, catalogNumber) VALUES (2, ?)")
            .bind(*number)
            .execute(&mut db)
            .await
            .unwrap_or_else(|e| panic!("insert specimen {number}: {e}"));
    }
}

async fn occid_of(env: &Env, number: &str) -> i64 {
    env.count(&format!(
        "SELECT occid FROM omoccurrences WHERE collid = 2 AND catalogNumber = '{number}'"
    ))
    .await
}

/// (number_from, symbology) the ledger holds for the file named `name`.
async fn ledger_source(env: &Env, name: &str) -> (Option<String>, Option<String>) {
    let mut ledger = env.ledger().await;
    let row = sqlx::query("SELECT number_from, symbology FROM files WHERE source LIKE ?")
        .bind(format!("%/{name}"))
        .fetch_one(&mut ledger)
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    (row.get(0), row.get(1))
}

#[tokio::test]
async fn sheets_under_camera_names_link_by_their_barcodes() {
    let env = Env::new(Backend::MariaDb).await;
    env.write_config("identifier = \"barcode\"");
    add_specimens(&env, &["1449838", "1450812", "1122841"]).await;
    let sheets = [
        ("IMG_0001.jpg", FULL_1390992, "1390992"),
        ("IMG_0002.jpg", FULL_1449838, "1449838"),
        ("IMG_0003.jpg", FULL_1450812, "1450812"),
        ("IMG_0004.jpg", FULL_16205594, "1122841"),
    ];
    for (name, sample_name, _) in sheets {
        env.drop_sample(sample_name, name);
    }
    env.drop_sample(SMALL_7, "IMG_0009.jpg");
    let run = env.scan();
    assert_eq!(run.summary(), [4, 1, 0, 0, 0], "{}\n{}", run.stdout, run.stderr);

    for (name, _, number) in sheets {
        let line = run.line_for(name);
        assert!(
            line.starts_with("linked") && line.contains(&format!("catalog number {number} (barcode, Code 39)")),
            "{line}"
        );
        let media = env.media_of(occid_of(&env, number).await).await;
        assert_eq!(media.len(), 1, "{name}: {media:?}");
        let (url, thumbnail, original) = &media[0];
        // Named after the catalog number, not the camera's counter.
        assert!(original.ends_with(&format!("/{number}.jpg")), "{original}");
        assert!(url.ends_with(&format!("/{number}_med.jpg")), "{url}");
        assert!(thumbnail.ends_with(&format!("/{number}_tn.jpg")), "{thumbnail}");
        assert!(env.served(url).is_file());
        assert_eq!(
            ledger_source(&env, name).await,
            (Some("barcode".into()), Some("Code 39".into()))
        );
    }

    let small = run.line_for("IMG_0009.jpg");
    assert!(
        small.starts_with("parked") && small.contains("no barcode read"),
        "{small}"
    );
    assert!(env.path("var/drop/mich/IMG_0009.jpg").is_file(), "a parked file stays");

    // The imaging team sees where each number came from.
    let report = env.files_under("var/drop/mich/_specdrop");
    let day = report
        .iter()
        .find(|f| f.ends_with(".csv") && f.len() == 14)
        .unwrap_or_else(|| panic!("{report:?}"));
    let csv = std::fs::read_to_string(env.path("var/drop/mich/_specdrop").join(day)).unwrap_or_default();
    let line = csv
        .lines()
        .find(|l| l.contains("IMG_0004.jpg"))
        .unwrap_or_else(|| panic!("{csv}"));
    assert!(
        line.contains("1122841") && line.contains(",\"barcode, Code 39\","),
        "{line}"
    );
}

#[tokio::test]
async fn two_barcodes_link_only_when_exactly_one_has_a_record() {
    let env = Env::new(Backend::Sqlite).await;
    env.write_config("identifier = \"barcode\"");
    // 1390992 has a record in the seed; 1122841 has none.
    drop_with_label(&env, "IMG_0101.jpg", FULL_1390992, LABEL_1122841, 400, 3400);
    // 1449838 gets a record: both labels match one.
    add_specimens(&env, &["1449838"]).await;
    drop_with_label(&env, "IMG_0102.jpg", FULL_1449838, LABEL_1390992, 300, 5300);
    let run = env.scan();
    let one = run.line_for("IMG_0101.jpg");
    assert!(
        one.starts_with("linked") && one.contains("catalog number 1390992 (barcode, Code 39) -> occid 201"),
        "{one}"
    );
    let two = run.line_for("IMG_0102.jpg");
    assert!(two.starts_with("parked"), "{two}");
    assert!(
        two.contains("1390992") && two.contains("1449838") && two.contains("2 records match"),
        "every value is named, nothing guessed: {two}"
    );
}

#[tokio::test]
async fn a_name_that_disagrees_with_its_barcode_is_parked_or_settled_as_configured() {
    let env = Env::new(Backend::Sqlite).await;
    env.write_config("barcode = { verify = true, pattern = '^(\\d{7})$' }");
    add_specimens(&env, &["1449838"]).await;
    // The 1390992 sheet under the name of another specimen.
    env.drop_sample(FULL_1390992, "MICH-V-1449838.jpg");
    env.drop_sample(FULL_1449838, "MICH-V-1449838_b.jpg");
    let run = env.scan();
    let wrong = run.line_for("MICH-V-1449838.jpg");
    assert!(
        wrong.starts_with("parked")
            && wrong.contains("the file name gives 1449838 but the barcode 1390992; barcode.conflict = \"park\""),
        "{wrong}"
    );
    let right = run.line_for("MICH-V-1449838_b.jpg");
    assert!(
        right.starts_with("linked") && right.contains("confirmed by its Code 39 barcode"),
        "{right}"
    );

    // The same disagreement, with the barcode trusted instead.
    env.edit_config("verify = true,", "verify = true, conflict = \"barcode\",");
    let again = env.scan();
    let settled = again.line_for("MICH-V-1449838.jpg");
    assert!(
        settled.starts_with("linked")
            && settled.contains("catalog number 1390992 (barcode, Code 39) -> occid 201")
            && settled.contains("the barcode wins"),
        "{settled}"
    );
}

#[tokio::test]
async fn in_filename_then_barcode_mode_a_name_with_a_number_is_not_decoded_for_barcodes() {
    let env = Env::new(Backend::Sqlite).await;
    env.write_config("identifier = \"filename-then-barcode\"");
    env.drop_sample(FULL_1390992, "IMG_0001.jpg");
    env.drop_sample(SMALL_7, "MICH-V-1390993.jpg");
    let run = env.scan();
    let by_barcode = run.line_for("IMG_0001.jpg");
    assert!(by_barcode.contains("(barcode, Code 39) -> occid 201"), "{by_barcode}");
    let by_name = run.line_for("MICH-V-1390993.jpg");
    assert!(
        by_name.starts_with("linked") && !by_name.contains("barcode"),
        "{by_name}"
    );
    assert_eq!(
        ledger_source(&env, "MICH-V-1390993.jpg").await,
        (Some("filename".into()), None)
    );
}

#[tokio::test]
async fn several_numbers_with_no_record_or_an_old_and_a_new_number_park() {
    let env = Env::new(Backend::Sqlite).await;
    env.write_config("identifier = \"barcode\"\nmatch = { other_catalog_numbers = true }");
    // Neither 1450812 nor 1122841 has a record here.
    drop_with_label(&env, "IMG_0201.jpg", FULL_1450812, LABEL_1122841, 400, 3400);
    let run = env.scan();
    let none = run.line_for("IMG_0201.jpg");
    assert!(
        none.starts_with("parked")
            && none.contains("1450812")
            && none.contains("1122841")
            && none.contains("no record matches"),
        "{none}"
    );

    // 1122841 becomes the old number of the specimen 1390992: both labels
    // find a record, and which one is current is not guessed.
    env.execute("UPDATE omoccurrences SET otherCatalogNumbers = '1122841' WHERE occid = 201")
        .await;
    drop_with_label(&env, "IMG_0202.jpg", FULL_1390992, LABEL_1122841, 400, 3400);
    let again = env.scan();
    let two = again.line_for("IMG_0202.jpg");
    assert!(
        two.starts_with("parked")
            && two.contains("1390992")
            && two.contains("1122841")
            && two.contains("2 records match"),
        "{two}"
    );
}

/// A sheet carrying two specimens, each label finding its own record:
/// parked by default (which one is meant is not guessed), linked to both
/// with `multi_specimen = "link_all"`: one set of files, a row for each
/// specimen, the ledger's entry under each number.
async fn a_two_specimen_sheet_is_linked_to_each_with_link_all(backend: Backend) {
    let env = Env::new(backend).await;
    env.write_config("identifier = \"barcode\"");
    add_specimens(&env, &["1449838"]).await;
    drop_with_label(&env, "IMG_0102.jpg", FULL_1449838, LABEL_1390992, 300, 5300);
    let run = env.scan();
    let parked = run.line_for("IMG_0102.jpg");
    assert!(
        parked.starts_with("parked") && parked.contains("2 records match") && parked.contains("link_all"),
        "{parked}"
    );
    assert!(
        env.files_under("var/www/imglib").is_empty(),
        "nothing written for a parked sheet"
    );

    env.write_config("identifier = \"barcode\"\nmulti_specimen = \"link_all\"");
    let run = env.scan();
    let linked = run.line_for("IMG_0102.jpg");
    let other = occid_of(&env, "1449838").await;
    assert!(
        linked.starts_with("linked")
            && linked.contains("-> occid 201")
            && linked.contains(&format!("-> occid {other}")),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    let (one, two) = (env.media_of(201).await, env.media_of(other).await);
    assert_eq!(one.len(), 1, "{one:?}");
    assert_eq!(one, two, "both rows point at one set of files");
    let (url, thumbnail, original) = &one[0];
    for u in [url, thumbnail, original] {
        assert!(env.served(u).is_file(), "{u}");
    }
    assert_eq!(env.files_under("var/www/imglib").len(), 3, "large, web, thumbnail once");
    let mut ledger = env.ledger().await;
    let numbers: Vec<String> =
        sqlx::query("SELECT catalog_number FROM files WHERE outcome = 'linked' ORDER BY catalog_number")
            .fetch_all(&mut ledger)
            .await
            .expect("read the ledger")
            .iter()
            .map(|r| r.get(0))
            .collect();
    assert_eq!(numbers, ["1390992", "1449838"]);
}
on_every_backend!(a_two_specimen_sheet_is_linked_to_each_with_link_all);
