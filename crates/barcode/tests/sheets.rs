//! The real sheets in `samples/`: the three MICH-V sheets carry Code 39
//! labels with the number in their file names, MICH_16205594 one with
//! 1122841; the 1400×2100 sheets carry none.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::Path;

use specdrop_barcode::{Found, Pixels, Symbology, read};
use zune_jpeg::JpegDecoder;
use zune_jpeg::zune_core::bytestream::ZCursor;
use zune_jpeg::zune_core::colorspace::ColorSpace;
use zune_jpeg::zune_core::options::DecoderOptions;

fn rgb(name: &str) -> (u32, u32, Vec<u8>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples").join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let options = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::RGB);
    let mut decoder = JpegDecoder::new_with_options(ZCursor::new(&bytes[..]), options);
    let pixels = decoder.decode().unwrap_or_else(|e| panic!("{name}: {e:?}"));
    let (w, h) = decoder.dimensions().expect("a decoded sheet has a size");
    (w as u32, h as u32, pixels)
}

fn read_all(name: &str, kinds: &[Symbology]) -> Vec<Found> {
    let (width, height, data) = rgb(name);
    let pixels = Pixels {
        width,
        height,
        channels: 3,
        data: &data,
    };
    read(pixels, kinds, &|_| true).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn each_full_sheet_gives_its_code_39_number() {
    for (name, number) in [
        (
            "herb00ic_1390992_MICH-V-1390992_MICH-V-1390992_3753x5634.jpg",
            "1390992",
        ),
        (
            "herb00ic_1449838_MICH-V-1449838_MICH-V-1449838_3753x5634.jpg",
            "1449838",
        ),
        (
            "herb00ic_1450812_MICH-V-1450812_MICH-V-1450812_3744x5616.jpg",
            "1450812",
        ),
        ("MICH_16205594_Poaceae_Jouvea_pilosa_full.jpg", "1122841"),
    ] {
        let found = read_all(name, &Symbology::ALL);
        assert_eq!(
            found,
            [Found {
                text: number.to_string(),
                symbology: Symbology::Code39
            }],
            "{name}"
        );
    }
}

#[test]
fn a_small_sheet_and_a_kind_not_asked_for_give_nothing() {
    assert_eq!(read_all("LM_Validate_LowRes_7.jpg", &Symbology::ALL), []);
    let only_2d = [Symbology::Qr, Symbology::DataMatrix];
    assert_eq!(
        read_all("herb00ic_1390992_MICH-V-1390992_MICH-V-1390992_3753x5634.jpg", &only_2d),
        []
    );
}

#[test]
fn a_grey_image_of_the_wrong_size_is_an_error_not_a_panic() {
    let pixels = Pixels {
        width: 10,
        height: 10,
        channels: 1,
        data: &[0; 99],
    };
    assert!(read(pixels, &Symbology::ALL, &|_| true).is_err());
}

/// The sheet's pixels as a JPEG of `quality` would give them back, grey.
fn saved_at(name: &str, quality: u8) -> (u32, u32, Vec<u8>) {
    let (width, height, rgb_pixels) = rgb(name);
    let grey: Vec<u8> = rgb_pixels
        .chunks_exact(3)
        .map(|p| ((u32::from(p[0]) * 77 + u32::from(p[1]) * 150 + u32::from(p[2]) * 29) >> 8) as u8)
        .collect();
    let mut jpeg = Vec::new();
    jpeg_encoder::Encoder::new(&mut jpeg, quality)
        .encode(&grey, width as u16, height as u16, jpeg_encoder::ColorType::Luma)
        .expect("encode the sheet");
    let options = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::Luma);
    let mut decoder = JpegDecoder::new_with_options(ZCursor::new(&jpeg[..]), options);
    let pixels = decoder.decode().expect("decode it again");
    (width, height, pixels)
}

/// Every barcode on grey pixels, with MICH's pattern (seven digits) as
/// the wanted values.
fn read_seven_digits(width: u32, height: u32, data: &[u8]) -> Vec<Found> {
    let pixels = Pixels {
        width,
        height,
        channels: 1,
        data,
    };
    let seven_digits = |t: &str| t.len() == 7 && t.bytes().all(|b| b.is_ascii_digit());
    read(pixels, &Symbology::ALL, &seven_digits).expect("pixels of the right size")
}

#[test]
fn a_label_only_a_smaller_copy_reads_is_read_by_a_later_pass() {
    // Saved at quality 60, this sheet's label reads at 0.8 of its size
    // only (measured: not at 1.0, 0.9, 0.85, 0.75 or below); ZBar reads it.
    let (width, height, data) = saved_at("herb00ic_1450812_MICH-V-1450812_MICH-V-1450812_3744x5616.jpg", 60);
    let found = read_seven_digits(width, height, &data);
    assert_eq!(
        found,
        [Found {
            text: "1450812".to_string(),
            symbology: Symbology::Code39
        }]
    );
}

#[test]
fn a_second_label_is_read_even_when_the_first_is_wanted() {
    // Another sheet's label strip (its bottom fifth) pasted over the top
    // fifth: two labels, each a number the pattern wants.
    let (width, height, mut data) = saved_at("herb00ic_1390992_MICH-V-1390992_MICH-V-1390992_3753x5634.jpg", 92);
    let (ow, oh, other) = saved_at("herb00ic_1449838_MICH-V-1449838_MICH-V-1449838_3753x5634.jpg", 92);
    let (w, strip) = (width as usize, (height as usize / 5).min(oh as usize / 5));
    for y in 0..strip {
        let from = (oh as usize - strip + y) * ow as usize;
        let n = w.min(ow as usize);
        data[y * w..y * w + n].copy_from_slice(&other[from..from + n]);
    }
    let mut texts: Vec<String> = read_seven_digits(width, height, &data)
        .into_iter()
        .map(|f| f.text)
        .collect();
    texts.sort();
    assert_eq!(texts, ["1390992", "1449838"]);
}

/// Each label on the real sheets lies in one of the regions the sheet's
/// bars are found in: read from its crop alone (turned when sideways), it
/// gives the sheet's number.
#[test]
fn each_label_is_in_a_region_found_on_the_sheet() {
    use specdrop_barcode::{crop, label_regions, turn_grey};
    for (name, number) in [
        (
            "herb00ic_1390992_MICH-V-1390992_MICH-V-1390992_3753x5634.jpg",
            "1390992",
        ),
        (
            "herb00ic_1449838_MICH-V-1449838_MICH-V-1449838_3753x5634.jpg",
            "1449838",
        ),
        ("MICH_16205594_Poaceae_Jouvea_pilosa_full.jpg", "1122841"),
    ] {
        let (width, height, rgb) = rgb(name);
        let grey: Vec<u8> = rgb
            .chunks_exact(3)
            .map(|p| ((u32::from(p[0]) * 299 + u32::from(p[1]) * 587 + u32::from(p[2]) * 114) / 1000) as u8)
            .collect();
        let regions = label_regions(width, height, &grey);
        assert!(!regions.is_empty(), "{name}: no region");
        let mut read_from = Vec::new();
        for region in &regions {
            let part = crop(width, &grey, region);
            let (w, h, part) = if region.sideways {
                turn_grey(region.width, region.height, &part)
            } else {
                (region.width, region.height, part)
            };
            let pixels = Pixels {
                width: w,
                height: h,
                channels: 1,
                data: &part,
            };
            let found = read(pixels, &[Symbology::Code39], &|_| true).expect("a crop is a grey image");
            if found.iter().any(|f| f.text == number) {
                read_from.push(*region);
            }
        }
        assert!(!read_from.is_empty(), "{name}: {number} in none of {regions:?}");
        let area = |r: &specdrop_barcode::Region| u64::from(r.width) * u64::from(r.height);
        assert!(
            read_from
                .iter()
                .all(|r| area(r) * 10 < u64::from(width) * u64::from(height)),
            "{name}: a region is a tenth of the sheet or more: {read_from:?}"
        );
    }
}
