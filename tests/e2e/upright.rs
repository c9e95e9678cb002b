//! Sheets photographed sideways (no EXIF tag says so) are stood upright
//! with `derive.auto_rotate`, by the real Tesseract's reading of which way
//! their label text runs; the report says so.

use crate::support::*;

/// `jpeg` turned a quarter clockwise, with no EXIF: what a camera on a
/// copy stand gives for a sheet laid in sideways.
fn turned_clockwise(jpeg: &[u8]) -> Vec<u8> {
    use zune_jpeg::zune_core::{bytestream::ZCursor, colorspace::ColorSpace, options::DecoderOptions};
    let options = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::RGB);
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(jpeg), options);
    let pixels = decoder.decode().expect("decode a sample sheet");
    let (w, h) = decoder.dimensions().expect("a decoded sheet has a size");
    let mut turned = Vec::with_capacity(pixels.len());
    for y in 0..w {
        for x in 0..h {
            let from = ((h - 1 - x) * w + y) * 3;
            turned.extend_from_slice(&pixels[from..from + 3]);
        }
    }
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 90)
        .encode(
            &turned,
            u16::try_from(h).expect("a sample fits in a JPEG"),
            u16::try_from(w).expect("a sample fits in a JPEG"),
            jpeg_encoder::ColorType::Rgb,
        )
        .expect("encode the turned sheet");
    out
}

fn tesseract_here(test: &str) -> bool {
    let found = std::process::Command::new("tesseract")
        .arg("--list-langs")
        .output()
        .is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).lines().any(|l| l == "osd"));
    if !found {
        cannot_run_here(
            test,
            "tesseract with its osd data is not installed (apt-get install tesseract-ocr)",
        );
    }
    found
}

/// Scan a sideways sheet (occid 201) and an upright one (occid 202): the
/// run and the size of each one's web image.
async fn scan_with(auto_rotate: bool) -> (Run, (u32, u32), (u32, u32)) {
    let env = Env::new(Backend::Sqlite).await;
    if auto_rotate {
        env.edit_config("[database]", "[derive]\nauto_rotate = true\n\n[database]");
    }
    env.write_file(
        "var/drop/mich/MICH-V-1390992.jpg",
        &turned_clockwise(&sample(FULL_1390992)),
    );
    env.drop_sample(FULL_1449838, "MICH-V-1390993.jpg");
    let run = env.scan();
    assert_eq!(run.summary()[0], 2, "{}\n{}", run.stdout, run.stderr);
    let mut sizes = Vec::new();
    for occid in [201, 202] {
        let rows = env.media_of(occid).await;
        let (url, _, _) = rows
            .first()
            .unwrap_or_else(|| panic!("no media row for occid {occid}\n{}", run.stdout));
        sizes.push(env.served_size(url));
    }
    (run, sizes[0], sizes[1])
}

#[tokio::test]
async fn a_sheet_photographed_sideways_comes_out_upright_and_the_report_says_so() {
    if !tesseract_here("a_sheet_photographed_sideways_comes_out_upright_and_the_report_says_so") {
        return;
    }
    let (run, turned, upright) = scan_with(true).await;
    assert!(
        turned.1 > turned.0,
        "the sideways sheet's web image stands upright: {turned:?}"
    );
    assert!(upright.1 > upright.0, "the upright sheet stays upright: {upright:?}");
    let line = run.line_for("MICH-V-1390992.jpg");
    assert!(line.contains("turned 270° clockwise to stand upright"), "{line}");
    let line = run.line_for("MICH-V-1390993.jpg");
    assert!(!line.contains("turned"), "an upright sheet is not turned: {line}");

    // Off by default: the same sheet keeps the way it lies.
    let (_, turned, _) = scan_with(false).await;
    assert!(
        turned.0 > turned.1,
        "without auto_rotate the sheet is left sideways: {turned:?}"
    );
}
