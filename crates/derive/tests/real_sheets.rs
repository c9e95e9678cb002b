//! The derivative engine on real herbarium sheets from `samples/`.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use specdrop_derive::{DeriveConfig, DeriveError, Web, build};

fn sample(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../samples")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("sample image {} is missing: {e}", path.display()))
}

const FULL: &str = "herb00ic_1390992_MICH-V-1390992_MICH-V-1390992_3753x5634.jpg";
const SMALL: &str = "LM_Validate_LowRes_7.jpg";

fn jpeg_size(data: &[u8]) -> (u32, u32) {
    let header = zune_jpeg_header(data);
    (header.0, header.1)
}

/// Read the frame size straight from the SOF marker, independently of the
/// crate under test.
fn zune_jpeg_header(data: &[u8]) -> (u32, u32) {
    let mut i = 2;
    while i + 9 < data.len() {
        assert_eq!(data[i], 0xFF, "marker expected at {i}");
        let marker = data[i + 1];
        let len = usize::from(u16::from_be_bytes([data[i + 2], data[i + 3]]));
        if (0xC0..=0xC2).contains(&marker) {
            let h = u16::from_be_bytes([data[i + 5], data[i + 6]]);
            let w = u16::from_be_bytes([data[i + 7], data[i + 8]]);
            return (u32::from(w), u32::from(h));
        }
        i += 2 + len;
    }
    panic!("no SOF marker");
}

#[test]
fn full_resolution_sheet_gives_three_sizes() -> Result<(), DeriveError> {
    let source = sample(FULL);
    let set = build(&source, &DeriveConfig::default())?;
    assert_eq!((set.source_width, set.source_height), (3753, 5634));
    let large = set.large.as_ref().map(|d| (d.copied, jpeg_size(&d.data)));
    assert_eq!(large, Some((false, (3200, 4804))));
    let web = match &set.web {
        Some(Web::Own(d)) => Some(jpeg_size(&d.data)),
        _ => None,
    };
    assert_eq!(web, Some((1400, 2102)));
    assert_eq!(set.thumbnail.as_ref().map(|d| jpeg_size(&d.data)), Some((200, 300)));
    assert_eq!(set.file_count(), 3);
    Ok(())
}

#[test]
fn small_sheet_is_copied_as_large_and_gets_only_a_thumbnail() -> Result<(), DeriveError> {
    let source = sample(SMALL);
    let set = build(&source, &DeriveConfig::default())?;
    let large = set.large.as_ref().map(|d| (d.copied, d.data == source));
    assert_eq!(large, Some((true, true)));
    assert!(matches!(set.web, Some(Web::SameAsLarge)));
    assert_eq!(set.thumbnail.as_ref().map(|d| jpeg_size(&d.data)), Some((200, 300)));
    assert_eq!(set.file_count(), 2);
    Ok(())
}

#[test]
fn truncated_upload_is_refused_not_greyed() {
    let source = sample(SMALL);
    for keep in [source.len() / 2, source.len() * 99 / 100] {
        match build(&source[..keep], &DeriveConfig::default()) {
            Err(DeriveError::Corrupt(reason)) => assert!(reason.contains("truncated"), "{reason}"),
            other => panic!("truncated at {keep}: expected Corrupt, got {other:?}"),
        }
    }
}

#[test]
fn non_jpeg_input_is_named() {
    let cases: [(&[u8], &str); 3] = [
        (b"", "empty"),
        (b"\x89PNG\r\n\x1a\n0000", "PNG"),
        (b"II*\0abcdefgh", "archive format"),
    ];
    for (bytes, expect) in cases {
        match build(bytes, &DeriveConfig::default()) {
            Err(e @ DeriveError::NotJpeg(_)) => assert!(e.to_string().contains(expect), "{e}"),
            other => panic!("expected NotJpeg for {expect}, got {other:?}"),
        }
    }
}

#[test]
fn pixel_limit_is_checked_before_decoding() {
    let source = sample(FULL);
    let config = DeriveConfig {
        max_pixels: 1_000_000,
        ..DeriveConfig::default()
    };
    match build(&source, &config) {
        Err(DeriveError::TooManyPixels { width, height, .. }) => assert_eq!((width, height), (3753, 5634)),
        other => panic!("expected TooManyPixels, got {other:?}"),
    }
}
