//! What imaging teams really produce, generated from a real sheet in the
//! test itself: EXIF orientations 1-8, CMYK and YCCK, progressive, grey,
//! Adobe RGB with its ICC profile, and hostile headers.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use jpeg_encoder::{ColorType, Encoder};
use specdrop_derive::{ColorMode, Derivatives, DeriveConfig, DeriveError, Web, build};
use zune_jpeg::JpegDecoder;
use zune_jpeg::zune_core::bytestream::ZCursor;
use zune_jpeg::zune_core::colorspace::ColorSpace;
use zune_jpeg::zune_core::options::DecoderOptions;

/// An RGB image: width, height, pixels.
#[derive(Clone)]
struct Rgb {
    w: usize,
    h: usize,
    px: Vec<u8>,
}

impl Rgb {
    fn at(&self, x: usize, y: usize) -> [u8; 3] {
        let i = (y * self.w + x) * 3;
        [self.px[i], self.px[i + 1], self.px[i + 2]]
    }

    /// A new image of `w` x `h` whose pixel (x, y) is `self.at(f(x, y))`.
    fn remap(&self, w: usize, h: usize, f: impl Fn(usize, usize) -> (usize, usize)) -> Rgb {
        let mut px = Vec::with_capacity(w * h * 3);
        for y in 0..h {
            for x in 0..w {
                let (sx, sy) = f(x, y);
                px.extend_from_slice(&self.at(sx, sy));
            }
        }
        Rgb { w, h, px }
    }

    /// Mean absolute difference per channel value.
    fn distance(&self, other: &Rgb) -> f64 {
        assert_eq!((self.w, self.h), (other.w, other.h), "sizes differ");
        let sum: u64 = self
            .px
            .iter()
            .zip(&other.px)
            .map(|(a, b)| u64::from(a.abs_diff(*b)))
            .sum();
        sum as f64 / self.px.len() as f64
    }
}

fn sample(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../samples")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn decode_rgb(jpeg: &[u8]) -> Rgb {
    let options = DecoderOptions::new_fast().jpeg_set_out_colorspace(ColorSpace::RGB);
    let mut d = JpegDecoder::new_with_options(ZCursor::new(jpeg), options);
    let px = d.decode().expect("a test image decodes");
    let info = d.info().expect("a decoded image has its frame info");
    Rgb {
        w: usize::from(info.width),
        h: usize::from(info.height),
        px,
    }
}

fn encode(image: &Rgb, color: ColorType, pixels: &[u8], tweak: impl FnOnce(&mut Encoder<&mut Vec<u8>>)) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = Encoder::new(&mut out, 95);
    tweak(&mut encoder);
    encoder
        .encode(pixels, image.w as u16, image.h as u16, color)
        .expect("a test image encodes");
    out
}

/// A real sheet at 300 px wide, as RGB pixels.
fn small_sheet() -> Rgb {
    let config = DeriveConfig {
        thumbnail: specdrop_derive::SizeSpec {
            width: 300,
            quality: 95,
            enabled: true,
        },
        ..DeriveConfig::default()
    };
    let set = build(&sample("LM_Validate_LowRes_7.jpg"), &config).expect("the sample sheet gives derivatives");
    decode_rgb(&set.thumbnail.map(|t| t.data).unwrap_or_default())
}

/// Build with thumbnails of the source's own width (nothing resized away).
fn thumbnail_of(source: &[u8], config: &DeriveConfig) -> Rgb {
    let set = build(source, config).expect("the test image gives derivatives");
    decode_rgb(&set.thumbnail.map(|t| t.data).unwrap_or_default())
}

fn same_size_config(width: u32) -> DeriveConfig {
    let mut config = DeriveConfig::default();
    config.thumbnail.width = width;
    config.thumbnail.quality = 95;
    config
}

fn exif_orientation(value: u16) -> Vec<u8> {
    let mut v = b"Exif\0\0II".to_vec();
    v.extend(42u16.to_le_bytes());
    v.extend(8u32.to_le_bytes());
    v.extend(1u16.to_le_bytes());
    v.extend(0x0112u16.to_le_bytes());
    v.extend(3u16.to_le_bytes());
    v.extend(1u32.to_le_bytes());
    v.extend(value.to_le_bytes());
    v.extend([0, 0]);
    v.extend(0u32.to_le_bytes());
    v
}

fn is_red(p: [u8; 3]) -> bool {
    p[0] > 180 && p[1] < 80 && p[2] < 80
}

#[test]
fn every_exif_orientation_ends_upright_with_the_right_corner_top_left() {
    let mut upright = small_sheet();
    for y in 0..40 {
        for x in 0..40 {
            let i = (y * upright.w + x) * 3;
            upright.px[i..i + 3].copy_from_slice(&[255, 0, 0]);
        }
    }
    let (w, h) = (upright.w, upright.h);
    // How each orientation stores the upright picture (EXIF 2.3, tag 0x0112):
    // the stored image is the upright one with the inverse operation applied.
    let stored: [(u16, Rgb); 8] = [
        (1, upright.clone()),
        (2, upright.remap(w, h, |x, y| (w - 1 - x, y))), // mirrored
        (3, upright.remap(w, h, |x, y| (w - 1 - x, h - 1 - y))), // turned 180
        (4, upright.remap(w, h, |x, y| (x, h - 1 - y))), // flipped
        (5, upright.remap(h, w, |x, y| (y, x))),         // transposed
        (6, upright.remap(h, w, |x, y| (w - 1 - y, x))), // turned 90 counter-clockwise
        (7, upright.remap(h, w, |x, y| (w - 1 - y, h - 1 - x))), // transversed
        (8, upright.remap(h, w, |x, y| (y, h - 1 - x))), // turned 90 clockwise
    ];
    for (orientation, image) in stored {
        let jpeg = encode(&image, ColorType::Rgb, &image.px, |e| {
            e.add_app_segment(1, exif_orientation(orientation))
                .expect("an EXIF segment fits in APP1");
        });
        let set = build(&jpeg, &same_size_config(w as u32)).expect("every orientation gives derivatives");
        assert_eq!(
            (set.source_width, set.source_height),
            (w as u32, h as u32),
            "orientation {orientation}"
        );
        let out = decode_rgb(&set.thumbnail.as_ref().map(|t| t.data.clone()).unwrap_or_default());
        assert_eq!((out.w, out.h), (w, h), "orientation {orientation}");
        assert!(
            is_red(out.at(10, 10)),
            "orientation {orientation}: top-left is {:?}",
            out.at(10, 10)
        );
        for (x, y) in [(out.w - 11, 10), (10, out.h - 11), (out.w - 11, out.h - 11)] {
            assert!(!is_red(out.at(x, y)), "orientation {orientation}: red at ({x}, {y})");
        }
        // Rotated sources are re-encoded upright without EXIF; an upright
        // one may be served as it is (its tag says "normal").
        let large = set.large.map(|l| (l.copied, l.data)).unwrap_or_default();
        if orientation == 1 {
            assert!(large.0, "an upright small source is copied");
        } else {
            assert!(
                !large.0,
                "orientation {orientation}: a rotated source must not be copied"
            );
            assert!(
                !large.1.windows(6).any(|w| w == b"Exif\0\0"),
                "orientation {orientation}: output carries EXIF"
            );
        }
    }
}

#[test]
fn cmyk_and_ycck_come_out_in_their_colours() {
    let rgb = small_sheet();
    let cmyk: Vec<u8> = rgb
        .px
        .chunks(3)
        .flat_map(|p| [255 - p[0], 255 - p[1], 255 - p[2], 0])
        .collect();
    for color in [ColorType::Cmyk, ColorType::CmykAsYcck] {
        let jpeg = encode(&rgb, color, &cmyk, |_| {});
        let out = thumbnail_of(&jpeg, &same_size_config(rgb.w as u32));
        let d = out.distance(&rgb);
        assert!(d < 6.0, "{color:?}: mean difference {d:.2} from the RGB original");
    }
}

#[test]
fn progressive_sheet_gives_the_same_derivatives_as_baseline() {
    let source = sample("herb00ic_1449838_MICH-V-1449838_MICH-V-1449838_3753x5634.jpg");
    let full = decode_rgb(&source);
    let progressive = encode(&full, ColorType::Rgb, &full.px, |e| e.set_progressive(true));
    let baseline = encode(&full, ColorType::Rgb, &full.px, |_| {});
    let config = DeriveConfig::default();
    let (p, b) = (
        build(&progressive, &config).expect("a progressive JPEG gives derivatives"),
        build(&baseline, &config).expect("a baseline JPEG gives derivatives"),
    );
    let web = |s: &Derivatives| match &s.web {
        Some(Web::Own(d)) => decode_rgb(&d.data),
        other => panic!("expected a web image, got {other:?}"),
    };
    assert_eq!((web(&p).w, web(&p).h), (1400, 2102));
    assert!(web(&p).distance(&web(&b)) < 1.0);
}

#[test]
fn grey_sources_give_grey_jpegs() {
    let rgb = small_sheet();
    let luma: Vec<u8> = rgb
        .px
        .chunks(3)
        .map(|p| ((u32::from(p[0]) * 3 + u32::from(p[1]) * 6 + u32::from(p[2])) / 10) as u8)
        .collect();
    let jpeg = encode(&rgb, ColorType::Luma, &luma, |_| {});
    let set = build(&jpeg, &same_size_config(200)).expect("a grey JPEG gives derivatives");
    let thumb = set.thumbnail.map(|t| t.data).unwrap_or_default();
    // SOF0: FF C0, length, precision, height, width, component count.
    let sof = thumb
        .windows(2)
        .position(|w| w == [0xFF, 0xC0])
        .expect("the thumbnail is a baseline JPEG (SOF0)");
    assert_eq!(thumb[sof + 9], 1, "one component");
}

fn to_profile(image: &Rgb, from: &moxcms::ColorProfile, to: &moxcms::ColorProfile) -> Vec<u8> {
    let t = from
        .create_transform_8bit(
            moxcms::Layout::Rgb,
            to,
            moxcms::Layout::Rgb,
            moxcms::TransformOptions::default(),
        )
        .expect("moxcms builds a transform between two RGB profiles");
    let mut out = vec![0; image.px.len()];
    t.transform(&image.px, &mut out)
        .expect("the transform runs on a buffer of the same size");
    out
}

#[test]
fn adobe_rgb_is_converted_to_srgb_or_its_profile_kept() {
    let srgb = small_sheet();
    let (s, a) = (moxcms::ColorProfile::new_srgb(), moxcms::ColorProfile::new_adobe_rgb());
    let adobe_values = Rgb {
        px: to_profile(&srgb, &s, &a),
        ..srgb.clone()
    };
    let icc = a.encode().expect("moxcms encodes its own Adobe RGB profile");
    let jpeg = encode(&adobe_values, ColorType::Rgb, &adobe_values.px, |e| {
        e.add_icc_profile(&icc).expect("an ICC profile fits in APP2 segments");
    });

    let converted = thumbnail_of(&jpeg, &same_size_config(srgb.w as u32));
    let as_if_srgb = adobe_values.distance(&srgb);
    let after = converted.distance(&srgb);
    assert!(
        after < 3.0 && after < as_if_srgb / 2.0,
        "after conversion {after:.2}, unconverted {as_if_srgb:.2}"
    );

    let keep = DeriveConfig {
        color: ColorMode::Keep,
        ..same_size_config(srgb.w as u32)
    };
    let set = build(&jpeg, &keep).expect("an Adobe RGB JPEG gives derivatives");
    let thumb = set.thumbnail.map(|t| t.data).unwrap_or_default();
    assert!(
        thumb.windows(12).any(|w| w == b"ICC_PROFILE\0"),
        "the profile is carried"
    );
    assert!(
        decode_rgb(&thumb).distance(&adobe_values) < 3.0,
        "pixels left in Adobe RGB"
    );
}

#[test]
fn a_header_claiming_a_huge_image_is_refused_before_decoding() {
    let mut jpeg = sample("LM_Validate_LowRes_7.jpg");
    let sof = jpeg
        .windows(2)
        .position(|w| w == [0xFF, 0xC0] || w == [0xFF, 0xC2])
        .expect("the sample has a SOF0 or SOF2 header");
    jpeg[sof + 5..sof + 9].copy_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF]);
    let started = std::time::Instant::now();
    match build(&jpeg, &DeriveConfig::default()) {
        Err(DeriveError::TooManyPixels { width, height, .. }) => assert_eq!((width, height), (65535, 65535)),
        other => panic!("expected TooManyPixels, got {other:?}"),
    }
    assert!(
        started.elapsed() < std::time::Duration::from_secs(1),
        "it must not have decoded anything"
    );
}

#[test]
fn random_bytes_are_not_an_image() {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let bytes: Vec<u8> = (0..4096)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    match build(&bytes, &DeriveConfig::default()) {
        Err(e @ DeriveError::NotJpeg(_)) => assert!(e.to_string().contains("not an image"), "{e}"),
        other => panic!("expected NotJpeg, got {other:?}"),
    }
}

fn with_alpha(rgb: &Rgb) -> Vec<u8> {
    // Opaque, except a transparent 30 px band at the top.
    rgb.px
        .chunks(3)
        .enumerate()
        .flat_map(|(i, p)| [p[0], p[1], p[2], if i / rgb.w < 30 { 0 } else { 255 }])
        .collect()
}

fn png_of(rgb: &Rgb) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, rgb.w as u32, rgb.h as u32);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().expect("PNG header");
    writer.write_image_data(&with_alpha(rgb)).expect("PNG image data");
    writer.finish().expect("PNG end");
    out
}

fn webp_of(rgb: &Rgb) -> Vec<u8> {
    let mut out = Vec::new();
    image_webp::WebPEncoder::new(&mut out)
        .encode(
            &with_alpha(rgb),
            rgb.w as u32,
            rgb.h as u32,
            image_webp::ColorType::Rgba8,
        )
        .expect("WebP encoding of a test image");
    out
}

#[test]
fn png_and_webp_are_taken_only_when_listed_and_flattened_onto_white() {
    let rgb = small_sheet();
    for (name, data) in [("png", png_of(&rgb)), ("webp", webp_of(&rgb))] {
        match build(&data, &DeriveConfig::default()) {
            Err(e @ DeriveError::NotJpeg(_)) => assert!(e.to_string().contains("derive.formats"), "{e}"),
            other => panic!("{name} must be refused by default, got {other:?}"),
        }
        let config = DeriveConfig {
            formats: vec![
                specdrop_derive::Format::Jpeg,
                specdrop_derive::Format::Png,
                specdrop_derive::Format::Webp,
            ],
            ..same_size_config(rgb.w as u32)
        };
        let set = build(&data, &config).unwrap_or_else(|e| panic!("{name}: {e}"));
        let large = set.large.as_ref().unwrap_or_else(|| panic!("{name}: no large image"));
        assert!(
            !large.copied && large.data.starts_with(&[0xFF, 0xD8]),
            "{name}: re-encoded as JPEG"
        );
        let thumb = decode_rgb(&set.thumbnail.map(|t| t.data).unwrap_or_default());
        assert!(
            thumb.at(thumb.w / 2, 5).iter().all(|&c| c > 240),
            "{name}: transparency becomes white"
        );
        let below = Rgb {
            px: thumb.px[thumb.w * 3 * 40..].to_vec(),
            h: thumb.h - 40,
            ..thumb.clone()
        };
        let original = Rgb {
            px: rgb.px[rgb.w * 3 * 40..].to_vec(),
            h: rgb.h - 40,
            ..rgb.clone()
        };
        assert!(below.distance(&original) < 3.0, "{name}: opaque part keeps its pixels");
    }
}

#[test]
fn archive_masters_are_refused_as_such() {
    let tiff = b"II*\0\x08\0\0\0 the rest of a 200 MB master";
    match build(tiff, &DeriveConfig::default()) {
        Err(e) => assert!(e.to_string().contains("archive format, not for the web"), "{e}"),
        Ok(_) => panic!("a TIFF must be refused"),
    }
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut out = (data.len() as u32).to_be_bytes().to_vec();
    let mut body = kind.to_vec();
    body.extend_from_slice(data);
    out.extend_from_slice(&body);
    out.extend_from_slice(&crc32(&body).to_be_bytes());
    out
}

#[test]
fn a_png_header_claiming_100000_by_100000_is_refused_before_decoding() {
    // Signature, IHDR for 100000 x 100000 RGB, an empty IDAT, IEND: a
    // decompression bomb's header with nothing behind it.
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = 100_000u32.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&100_000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    png.extend(chunk(b"IHDR", &ihdr));
    png.extend(chunk(b"IDAT", &[]));
    png.extend(chunk(b"IEND", &[]));
    let config = DeriveConfig {
        formats: vec![specdrop_derive::Format::Jpeg, specdrop_derive::Format::Png],
        ..DeriveConfig::default()
    };
    match build(&png, &config) {
        Err(DeriveError::TooManyPixels { width, height, .. }) => assert_eq!((width, height), (100_000, 100_000)),
        other => panic!("expected TooManyPixels, got {other:?}"),
    }
}

/// Outputs at most half the source's width: large 600, web 300, thumbnail
/// 100 from a 1400 px sheet, which decodes at 1/2 (700 px).
fn half_scale_config() -> DeriveConfig {
    let mut config = DeriveConfig::default();
    config.large.width = 600;
    config.web.width = 300;
    config.thumbnail.width = 100;
    config
}

#[test]
fn a_sheet_twice_as_wide_as_its_outputs_is_decoded_at_half_scale_with_no_visible_loss() {
    let full = decode_rgb(&sample("LM_Validate_LowRes_7.jpg"));
    let baseline = encode(&full, ColorType::Rgb, &full.px, |_| {});
    // A progressive file is decoded at full size: the reference.
    let progressive = encode(&full, ColorType::Rgb, &full.px, |e| e.set_progressive(true));
    let config = half_scale_config();
    let size = |jpeg: &[u8], look| specdrop_derive::decoded_size(jpeg, &config, look).expect("the header reads");
    assert_eq!(size(&baseline, None), (700, 1050));
    assert_eq!(size(&progressive, None), (1400, 2100));
    assert_eq!(
        size(&baseline, Some(1000)),
        (1400, 2100),
        "a look that needs 1000 px gets the full size"
    );
    assert_eq!(size(&baseline, Some(650)), (700, 1050));
    // Symbiota's sizes: the sheet itself serves as large and web image, so
    // only the 200 px thumbnail is made, from a quarter-size decode.
    assert_eq!(
        specdrop_derive::decoded_size(&baseline, &DeriveConfig::default(), None).ok(),
        Some((350, 525))
    );

    let (scaled, reference) = (
        build(&baseline, &config).expect("the baseline sheet gives derivatives"),
        build(&progressive, &config).expect("the progressive sheet gives derivatives"),
    );
    assert_eq!((scaled.source_width, scaled.source_height), (1400, 2100));
    let web = |s: &Derivatives| match &s.web {
        Some(Web::Own(d)) => decode_rgb(&d.data),
        other => panic!("expected a web image, got {other:?}"),
    };
    let large = |s: &Derivatives| decode_rgb(&s.large.as_ref().map(|d| d.data.clone()).unwrap_or_default());
    assert_eq!((large(&scaled).w, large(&scaled).h), (600, 900));
    assert_eq!((web(&scaled).w, web(&scaled).h), (300, 450));
    let d = web(&scaled).distance(&web(&reference));
    assert!(
        d < 1.5,
        "web image from the half-scale decode differs by {d:.2} per value"
    );
    let mut seen = None;
    specdrop_derive::build_and_look(&baseline, &config, 1000, &mut |view| {
        seen = Some((view.width, view.height))
    })
    .expect("the sheet gives derivatives");
    assert_eq!(seen, Some((1400, 2100)), "the look is lent the width it asked for");
}

/// A real 1400×2100 sheet with its top-left 80×80 painted red, to see
/// which corner ends up top-left.
fn marked_sheet() -> Rgb {
    let mut upright = decode_rgb(&sample("LM_Validate_LowRes_7.jpg"));
    for y in 0..80 {
        for x in 0..80 {
            let i = (y * upright.w + x) * 3;
            upright.px[i..i + 3].copy_from_slice(&[255, 0, 0]);
        }
    }
    upright
}

#[test]
fn a_half_scale_decode_turns_the_sheet_upright_and_refuses_a_truncated_one() {
    let upright = marked_sheet();
    let (w, h) = (upright.w, upright.h);
    let config = half_scale_config();
    for (orientation, image) in [
        (3, upright.remap(w, h, |x, y| (w - 1 - x, h - 1 - y))),
        (6, upright.remap(h, w, |x, y| (w - 1 - y, x))),
        (8, upright.remap(h, w, |x, y| (y, h - 1 - x))),
    ] {
        let jpeg = encode(&image, ColorType::Rgb, &image.px, |e| {
            e.add_app_segment(1, exif_orientation(orientation))
                .expect("an EXIF segment fits in APP1");
        });
        assert_eq!(
            specdrop_derive::decoded_size(&jpeg, &config, None).ok(),
            Some((700, 1050)),
            "orientation {orientation}"
        );
        let set = build(&jpeg, &config).expect("a turned sheet gives derivatives");
        let large = decode_rgb(&set.large.map(|d| d.data).unwrap_or_default());
        assert_eq!((large.w, large.h), (600, 900), "orientation {orientation}");
        assert!(
            is_red(large.at(10, 10)),
            "orientation {orientation}: top-left is {:?}",
            large.at(10, 10)
        );
        assert!(
            !is_red(large.at(589, 889)),
            "orientation {orientation}: red at the far corner"
        );
    }
    let baseline = encode(&upright, ColorType::Rgb, &upright.px, |_| {});
    match build(&baseline[..baseline.len() * 2 / 3], &config) {
        Err(DeriveError::Corrupt(reason)) => assert!(reason.contains("truncated"), "{reason}"),
        other => panic!("a truncated sheet at half scale: expected Corrupt, got {other:?}"),
    }
}

#[test]
fn a_web_size_wider_than_the_large_one_is_still_made_from_the_sheet() {
    let mut config = DeriveConfig::default();
    config.large.width = 700;
    config.web.width = 1000;
    let set = build(&sample("LM_Validate_LowRes_7.jpg"), &config).expect("the sheet gives derivatives");
    let web = match &set.web {
        Some(Web::Own(d)) => decode_rgb(&d.data),
        other => panic!("expected a web image, got {other:?}"),
    };
    assert_eq!((web.w, web.h), (1000, 1500), "the web image keeps its configured width");
}

#[test]
fn a_turn_read_from_the_sheet_stands_it_upright_unless_its_exif_says_otherwise() {
    use specdrop_derive::{Turn, build_turned};
    let upright = marked_sheet();
    let (w, h) = (upright.w, upright.h);
    // How a sheet photographed turned is stored, and the turn clockwise
    // that stands it up (as Tesseract's "Rotate:" says it).
    let sideways = [
        (Turn::Half, upright.remap(w, h, |x, y| (w - 1 - x, h - 1 - y))),
        (Turn::Right, upright.remap(h, w, |x, y| (w - 1 - y, x))),
        (Turn::Left, upright.remap(h, w, |x, y| (y, h - 1 - x))),
    ];
    for config in [same_size_config(w as u32), half_scale_config()] {
        for (turn, image) in &sideways {
            let jpeg = encode(image, ColorType::Rgb, &image.px, |_| {});
            assert!(!specdrop_derive::exif_orients(&jpeg, &config).expect("the header reads"));
            let set = build_turned(&jpeg, &config, *turn, None).expect("a turned sheet gives derivatives");
            assert_eq!((set.source_width, set.source_height), (w as u32, h as u32), "{turn:?}");
            let large = set.large.expect("a large image");
            assert!(!large.copied, "{turn:?}: a turned source is never served as it is");
            let large = decode_rgb(&large.data);
            assert!(large.h > large.w, "{turn:?}: the large image stands upright");
            assert!(is_red(large.at(10, 10)), "{turn:?}: top-left is {:?}", large.at(10, 10));
            assert!(
                !is_red(large.at(large.w - 11, large.h - 11)),
                "{turn:?}: red at the far corner"
            );
        }
    }
    // An EXIF orientation wins over the turn: a sheet whose tag already
    // stands it up is not turned again.
    let (_, stored) = &sideways[1];
    let tagged = encode(stored, ColorType::Rgb, &stored.px, |e| {
        e.add_app_segment(1, exif_orientation(6))
            .expect("an EXIF segment fits in APP1");
    });
    let config = same_size_config(w as u32);
    assert!(specdrop_derive::exif_orients(&tagged, &config).expect("the header reads"));
    let set = build_turned(&tagged, &config, Turn::Left, None).expect("a tagged sheet gives derivatives");
    let thumbnail = decode_rgb(&set.thumbnail.expect("a thumbnail").data);
    assert_eq!((thumbnail.w, thumbnail.h), (w, h));
    assert!(is_red(thumbnail.at(10, 10)), "the EXIF tag, not the turn, decides");
}

#[test]
fn the_grey_copy_for_a_reader_is_the_full_sheet_at_one_byte_a_pixel() {
    let source = sample("LM_Validate_LowRes_7.jpg");
    let rgb = decode_rgb(&source);
    let grey = specdrop_derive::grey(&source, &DeriveConfig::default(), specdrop_derive::Turn::None)
        .expect("the sheet decodes in grey");
    assert_eq!((grey.width as usize, grey.height as usize), (rgb.w, rgb.h));
    assert_eq!(grey.pixels.len(), rgb.w * rgb.h);
    // Luma against the RGB decode, away from edges: within JPEG rounding.
    let (x, y) = (rgb.w / 2, rgb.h / 2);
    let [r, g, b] = rgb.at(x, y);
    let luma = (299 * u32::from(r) + 587 * u32::from(g) + 114 * u32::from(b)) / 1000;
    assert!(u32::from(grey.pixels[y * rgb.w + x]).abs_diff(luma) <= 3);
    assert_eq!(
        grey.pgm_header(),
        format!("P5\n{} {}\n255\n", rgb.w, rgb.h).into_bytes()
    );
    // Turned for a reader as the derivatives are.
    let turned = specdrop_derive::grey(&source, &DeriveConfig::default(), specdrop_derive::Turn::Right)
        .expect("the sheet decodes in grey");
    assert_eq!((turned.width as usize, turned.height as usize), (rgb.h, rgb.w));
    assert_eq!(
        turned.pixels[rgb.h - 1],
        grey.pixels[0],
        "the top-left pixel goes to the top-right"
    );
}
