//! Which formats are taken, and decoding the non-JPEG ones.
//!
//! JPEG is what imaging stations export and the only format taken by
//! default. PNG and WebP are taken when `derive.formats` lists them; they
//! are always re-encoded as JPEG (never copied). TIFF, DNG and camera RAW
//! files are archive masters, refused with a reason that says so.

use std::io::Cursor;

use serde::Deserialize;

use crate::DeriveError;
use crate::pixels::Decoded;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Jpeg,
    Png,
    Webp,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Jpeg => "jpeg",
            Format::Png => "png",
            Format::Webp => "webp",
        }
    }

    /// File name endings of this format, lower case.
    pub fn extensions(self) -> &'static [&'static str] {
        match self {
            Format::Jpeg => &["jpg", "jpeg"],
            Format::Png => &["png"],
            Format::Webp => &["webp"],
        }
    }
}

/// What the first bytes say a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sniffed {
    Image(Format),
    /// TIFF-based masters (TIFF, DNG, most RAW files).
    Archive(&'static str),
    Other(&'static str),
    Empty,
}

pub fn sniff(source: &[u8]) -> Sniffed {
    const KNOWN: [(&[u8], Sniffed); 10] = [
        (&[0xFF, 0xD8], Sniffed::Image(Format::Jpeg)),
        (b"\x89PNG\r\n\x1a\n", Sniffed::Image(Format::Png)),
        (b"II*\0", Sniffed::Archive("a TIFF/DNG/RAW file")),
        (b"MM\0*", Sniffed::Archive("a TIFF/DNG/RAW file")),
        (b"FUJIFILMCCD-RAW", Sniffed::Archive("a Fujifilm RAW file")),
        (b"IIRO", Sniffed::Archive("an Olympus RAW file")),
        (b"GIF8", Sniffed::Other("a GIF image")),
        (b"%PDF", Sniffed::Other("a PDF document")),
        (b"PK\x03\x04", Sniffed::Other("a ZIP archive")),
        (b"BM", Sniffed::Other("a BMP image")),
    ];
    if source.is_empty() {
        return Sniffed::Empty;
    }
    if source.len() >= 12 && &source[..4] == b"RIFF" && &source[8..12] == b"WEBP" {
        return Sniffed::Image(Format::Webp);
    }
    KNOWN
        .iter()
        .find(|(magic, _)| source.starts_with(magic))
        .map_or(Sniffed::Other("not an image"), |(_, what)| *what)
}

/// The reason a file in a format not taken is refused.
pub fn refusal(sniffed: Sniffed) -> DeriveError {
    DeriveError::NotJpeg(match sniffed {
        Sniffed::Empty => "the file is empty".into(),
        Sniffed::Archive(what) => format!("the file is {what}: archive format, not for the web; export a JPEG"),
        Sniffed::Other("not an image") => "no image signature: not an image".into(),
        Sniffed::Other(what) => format!("the file is {what}: not an image specdrop takes"),
        Sniffed::Image(format) => format!(
            "the file is a {} image; add \"{}\" to derive.formats to accept it",
            format.name().to_ascii_uppercase(),
            format.name()
        ),
    })
}

/// A decoded PNG or WebP, plus its ICC profile; dimensions checked against
/// `max_pixels` before the pixel buffer is allocated.
pub fn decode_other(source: &[u8], format: Format, max_pixels: u64) -> Result<(Decoded, Option<Vec<u8>>), DeriveError> {
    match format {
        Format::Png => decode_png(source, max_pixels),
        Format::Webp => decode_webp(source, max_pixels),
        Format::Jpeg => Err(DeriveError::Corrupt(
            "internal: JPEG given to the PNG/WebP decoder".into(),
        )),
    }
}

/// Width and height of a PNG or WebP from its header alone.
pub fn dimensions(source: &[u8], format: Format) -> Result<(u32, u32), DeriveError> {
    match format {
        Format::Png => {
            let reader = png::Decoder::new(Cursor::new(source))
                .read_info()
                .map_err(|e| DeriveError::Corrupt(format!("PNG: {e}")))?;
            Ok((reader.info().width, reader.info().height))
        }
        Format::Webp => image_webp::WebPDecoder::new(Cursor::new(source))
            .map(|d| d.dimensions())
            .map_err(|e| DeriveError::Corrupt(format!("WebP: {e}"))),
        Format::Jpeg => Err(DeriveError::Corrupt(
            "internal: JPEG given to the PNG/WebP reader".into(),
        )),
    }
}

pub fn check_size(width: u32, height: u32, max_pixels: u64) -> Result<(), DeriveError> {
    let pixels = u64::from(width) * u64::from(height);
    if pixels > max_pixels {
        return Err(DeriveError::TooManyPixels {
            width,
            height,
            pixels,
            max: max_pixels,
        });
    }
    Ok(())
}

fn decode_png(source: &[u8], max_pixels: u64) -> Result<(Decoded, Option<Vec<u8>>), DeriveError> {
    let corrupt = |e: png::DecodingError| DeriveError::Corrupt(format!("PNG: {e}"));
    // Our own pixel limit is the one that counts; the decoder's byte limit
    // is opened up to what that allows (4 bytes a pixel before stripping).
    let limits = png::Limits {
        bytes: usize::try_from(max_pixels.saturating_mul(8)).unwrap_or(usize::MAX),
    };
    let mut decoder = png::Decoder::new_with_limits(Cursor::new(source), limits);
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().map_err(corrupt)?;
    let (width, height) = (reader.info().width, reader.info().height);
    check_size(width, height, max_pixels)?;
    let icc = reader.info().icc_profile.as_ref().map(|p| p.to_vec());
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| DeriveError::Corrupt("PNG: image too large for this machine".into()))?;
    let mut buffer = vec![0u8; size];
    let info = reader.next_frame(&mut buffer).map_err(corrupt)?;
    buffer.truncate(info.buffer_size());
    let (channels, alpha) = match info.color_type {
        png::ColorType::Grayscale => (1, false),
        png::ColorType::GrayscaleAlpha => (1, true),
        png::ColorType::Rgb => (3, false),
        png::ColorType::Rgba => (3, true),
        png::ColorType::Indexed => return Err(DeriveError::Corrupt("PNG: palette not expanded".into())),
    };
    let pixels = if alpha { over_white(&buffer, channels) } else { buffer };
    Ok((
        Decoded {
            width,
            height,
            channels: channels as u8,
            pixels,
        },
        icc,
    ))
}

fn decode_webp(source: &[u8], max_pixels: u64) -> Result<(Decoded, Option<Vec<u8>>), DeriveError> {
    let corrupt = |e: image_webp::DecodingError| DeriveError::Corrupt(format!("WebP: {e}"));
    let mut decoder = image_webp::WebPDecoder::new(Cursor::new(source)).map_err(corrupt)?;
    let (width, height) = decoder.dimensions();
    check_size(width, height, max_pixels)?;
    let icc = decoder.icc_profile().map_err(corrupt)?;
    let size = decoder
        .output_buffer_size()
        .ok_or_else(|| DeriveError::Corrupt("WebP: image too large for this machine".into()))?;
    let mut buffer = vec![0u8; size];
    decoder.read_image(&mut buffer).map_err(corrupt)?;
    let pixels = if decoder.has_alpha() {
        over_white(&buffer, 3)
    } else {
        buffer
    };
    Ok((
        Decoded {
            width,
            height,
            channels: 3,
            pixels,
        },
        icc,
    ))
}

/// Composite `channels` colour values plus alpha over white: specimen
/// photographs have no use for transparency, and JPEG has none.
fn over_white(with_alpha: &[u8], channels: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(with_alpha.len() / (channels + 1) * channels);
    for px in with_alpha.chunks_exact(channels + 1) {
        let a = u32::from(px[channels]);
        for &c in &px[..channels] {
            out.push(((u32::from(c) * a + 255 * (255 - a) + 127) / 255) as u8);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffing_names_what_a_file_is() {
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF]), Sniffed::Image(Format::Jpeg));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\nxxxx"), Sniffed::Image(Format::Png));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Sniffed::Image(Format::Webp));
        assert!(matches!(sniff(b"II*\0...."), Sniffed::Archive(_)));
        assert_eq!(sniff(b""), Sniffed::Empty);
        assert_eq!(sniff(b"hello"), Sniffed::Other("not an image"));
        assert!(
            refusal(sniff(b"MM\0*"))
                .to_string()
                .contains("archive format, not for the web")
        );
        assert!(
            refusal(sniff(b"\x89PNG\r\n\x1a\n"))
                .to_string()
                .contains("derive.formats")
        );
    }

    #[test]
    fn alpha_is_flattened_onto_white() {
        assert_eq!(
            over_white(&[0, 0, 0, 0, 10, 20, 30, 255], 3),
            vec![255, 255, 255, 10, 20, 30]
        );
        assert_eq!(over_white(&[0, 128], 1), vec![127]);
    }
}
