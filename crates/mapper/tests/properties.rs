//! Property tests (proptest) for the two paths hostile input reaches
//! first: file name -> catalog number, and the skeletal file reader. They
//! must never panic, whatever the bytes, and must give the right answer on
//! well-formed input.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use proptest::prelude::*;
use specdrop_mapper::CatalogPattern;
use specdrop_mapper::fields::{Field, FieldSet, Kind};
use specdrop_mapper::skeletal::{self, SkeletalFile, Table};

fn patterns() -> Vec<CatalogPattern> {
    [
        (r"^MICH-V-(\d{7})\D*", None),
        (r"/^(ASU-L-\d{7})\D*/i", None),
        (r"^(\d+)", Some((r"^0+", ""))),
        (r"(?i)^([a-z]{2,5}\d+)", Some((r"(?i)^([a-z]+)0*(\d+)$", "$1-$2"))),
        (r"#^(.+?)(_[a-z])?\.jpe?g$#i", None),
    ]
    .into_iter()
    .map(|(p, r)| CatalogPattern::new(p, r).expect("the test patterns are valid"))
    .collect()
}

fn fields() -> FieldSet {
    FieldSet::new(
        [
            ("catalogNumber", Kind::Text, Some(32)),
            ("sciname", Kind::Text, Some(255)),
            ("recordNumber", Kind::Text, Some(45)),
            ("eventDate", Kind::Date, None),
            ("decimalLatitude", Kind::Decimal, None),
            ("recordSecurity", Kind::Integer, None),
        ]
        .map(|(name, kind, max)| Field {
            name: name.into(),
            kind,
            max,
        }),
    )
}

/// The file's bytes as the engine reads them: specdrop-textfile splits,
/// the mapper checks.
fn read(bytes: &[u8], fields: &FieldSet) -> Result<SkeletalFile, String> {
    let text = specdrop_textfile::read(bytes).map_err(|e| e.to_string())?;
    skeletal::check(Table::new(text.header, text.records, text.note), fields)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Any name at all: quotes, `../`, newlines, control characters, very
    /// long, every plane of Unicode.
    #[test]
    fn any_name_gives_a_number_or_none_without_panicking(name in any::<String>()) {
        for pattern in patterns() {
            if let Some(number) = pattern.catalog_number(&name) {
                prop_assert!(!number.is_empty());
                prop_assert_eq!(number.trim(), number.as_str());
            }
        }
    }

    /// Names shaped like an imaging station's: the number is found whatever
    /// follows it, and never found when the digits are too few.
    #[test]
    fn the_number_is_found_whatever_follows(
        digits in "[0-9]{7}",
        suffix in "(_[a-z0-9]{1,8})?(\\.[jJ][pP][eE]?[gG])?",
        short in "[0-9]{1,6}",
    ) {
        let pattern = &patterns()[0];
        let name = format!("MICH-V-{digits}{suffix}");
        prop_assert_eq!(pattern.catalog_number(&name), Some(digits.clone()));
        let too_short = format!("MICH-V-{short}.jpg");
        prop_assert_eq!(pattern.catalog_number(&too_short), None);
    }

    /// Any bytes: the reader refuses or accepts, and never panics.
    #[test]
    fn any_bytes_are_refused_or_read(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let _ = read(&bytes, &fields());
    }

    /// Text that is nearly a CSV: headers and cells from the characters
    /// that make CSV hard (quotes, delimiters, newlines, BOMs).
    #[test]
    fn csv_shaped_text_is_refused_or_read(
        text in "(\u{feff})?(catalogNumber|sciname|\"|,|;|\t|\\||\r?\n| |[a-zA-Z0-9]{1,6}|é|\u{0}){0,80}",
    ) {
        let _ = read(text.as_bytes(), &fields());
    }

    /// A well-formed file keeps every row, whatever the values hold
    /// (quoted delimiters, quotes and newlines included).
    #[test]
    fn every_row_of_a_well_formed_file_is_kept(
        rows in proptest::collection::vec(("[A-Z0-9-]{1,12}", "[a-zA-Z ,;\"\\n]{0,30}"), 1..40),
        delimiter in prop_oneof![Just(','), Just(';'), Just('\t')],
    ) {
        let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
        let mut text = format!("catalogNumber{delimiter}sciname\n");
        for (number, name) in &rows {
            text.push_str(&format!("{}{delimiter}{}\n", quote(number), quote(name)));
        }
        let file = read(text.as_bytes(), &fields());
        prop_assert!(file.is_ok(), "{:?}\n{}", file.err(), text);
        prop_assert_eq!(file.map(|f| f.rows()).unwrap_or(0), rows.len());
    }
}
