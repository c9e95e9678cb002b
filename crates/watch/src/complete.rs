//! Has a file fully arrived, judging by its own structure? A JPEG reaches
//! its EOI marker ([`jpeg::find_end`]), a PNG ends with its IEND chunk, a
//! WebP is as long as its RIFF header says.

use crate::jpeg::{self, JpegEnd};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrived {
    Complete,
    /// The data stops short; the offset is the file's length.
    Truncated(usize),
    /// Not a format whose end can be told: judged by the settle window only.
    Unknown,
}

pub fn check(data: &[u8]) -> Arrived {
    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n";
    const IEND: &[u8] = b"IEND\xAE\x42\x60\x82";
    if data.starts_with(&[0xFF, 0xD8]) {
        return match jpeg::find_end(data) {
            JpegEnd::Complete(_) => Arrived::Complete,
            JpegEnd::Truncated(at) => Arrived::Truncated(at),
            JpegEnd::NotJpeg => Arrived::Unknown,
        };
    }
    if data.starts_with(PNG) {
        // Nothing may follow IEND but a few stray bytes some tools add.
        let tail = &data[data.len().saturating_sub(64)..];
        return if tail.windows(IEND.len()).any(|w| w == IEND) {
            Arrived::Complete
        } else {
            Arrived::Truncated(data.len())
        };
    }
    if data.len() >= 12 && &data[..4] == b"RIFF" && &data[8..12] == b"WEBP" {
        let declared = u32::from_le_bytes([data[4], data[5], data[6], data[7]]) as usize + 8;
        return if data.len() >= declared {
            Arrived::Complete
        } else {
            Arrived::Truncated(data.len())
        };
    }
    Arrived::Unknown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_and_webp_ends_are_checked() {
        let mut png = b"\x89PNG\r\n\x1a\n....IHDR....".to_vec();
        assert_eq!(check(&png), Arrived::Truncated(png.len()));
        png.extend_from_slice(b"\0\0\0\0IEND\xAE\x42\x60\x82");
        assert_eq!(check(&png), Arrived::Complete);
        let mut webp = b"RIFF\x10\0\0\0WEBPVP8 ".to_vec();
        assert_eq!(check(&webp), Arrived::Truncated(webp.len()));
        webp.extend_from_slice(&[0; 8]);
        assert_eq!(check(&webp), Arrived::Complete);
        assert_eq!(check(b"hello"), Arrived::Unknown);
    }
}
