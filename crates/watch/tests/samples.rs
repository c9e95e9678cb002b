//! Completeness detection on the real sheets in `samples/`.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use specdrop_watch::jpeg::{JpegEnd, find_end};

#[test]
fn real_sheets_are_complete_and_their_prefixes_are_not() -> std::io::Result<()> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        if path.extension().is_none_or(|e| e != "jpg") {
            continue;
        }
        let data = std::fs::read(&path)?;
        assert!(matches!(find_end(&data), JpegEnd::Complete(_)), "{}", path.display());
        for keep in [data.len() / 3, data.len() * 99 / 100, data.len() - 1] {
            assert_eq!(
                find_end(&data[..keep]),
                JpegEnd::Truncated(keep),
                "{} cut at {keep}",
                path.display()
            );
        }
        seen += 1;
    }
    assert!(seen >= 5, "expected the sample sheets in {}", dir.display());
    Ok(())
}
