//! Has a JPEG fully arrived? A JPEG ends with its EOI marker (FF D9); bytes
//! after it (camera trailers) are allowed. Searching for FF D9 anywhere is
//! not enough: the EXIF thumbnail inside the header ends with one too, so
//! the marker segments are walked to the real end of the image data.

/// Where a JPEG's data stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JpegEnd {
    /// The EOI marker ends at this offset (the image is complete).
    Complete(usize),
    /// The data stops before the image does: an upload still arriving or
    /// cut short. The offset is the file's length.
    Truncated(usize),
    /// Not a JPEG at all (no SOI marker, or a malformed segment).
    NotJpeg,
}

pub fn find_end(data: &[u8]) -> JpegEnd {
    if !data.starts_with(&[0xFF, 0xD8]) {
        return JpegEnd::NotJpeg;
    }
    let truncated = JpegEnd::Truncated(data.len());
    let mut at = 2;
    loop {
        // Markers may be preceded by any number of FF fill bytes.
        let Some(&first) = data.get(at) else { return truncated };
        if first != 0xFF {
            return JpegEnd::NotJpeg;
        }
        while data.get(at) == Some(&0xFF) {
            at += 1;
        }
        let Some(&marker) = data.get(at) else { return truncated };
        at += 1;
        match marker {
            0xD9 => return JpegEnd::Complete(at),
            0x01 | 0xD0..=0xD7 => continue,
            0x00 => return JpegEnd::NotJpeg,
            _ => {}
        }
        let Some(len) = data
            .get(at..at + 2)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
        else {
            return truncated;
        };
        if len < 2 {
            return JpegEnd::NotJpeg;
        }
        at += len;
        if at > data.len() {
            return truncated;
        }
        if marker == 0xDA {
            // Entropy-coded data follows the scan header; it ends at the
            // first FF not followed by 00 (stuffing) or a restart marker.
            match skip_entropy_data(data, at) {
                Some(next) => at = next,
                None => return truncated,
            }
        }
    }
}

fn skip_entropy_data(data: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let ff = at + data.get(at..)?.iter().position(|&b| b == 0xFF)?;
        match data.get(ff + 1)? {
            0x00 | 0xD0..=0xD7 | 0xFF => at = ff + 1,
            _ => return Some(ff),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SOI, an APP1 holding a fake thumbnail that ends in FF D9, a scan
    /// with stuffed bytes and a restart marker, EOI, then a trailer.
    fn jpeg() -> Vec<u8> {
        let mut v = vec![0xFF, 0xD8];
        v.extend([0xFF, 0xE1, 0x00, 0x08, 0xFF, 0xD8, 0xAA, 0xBB, 0xFF, 0xD9]);
        v.extend([0xFF, 0xDA, 0x00, 0x04, 0x01, 0x02]);
        v.extend([0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56]);
        v.extend([0xFF, 0xD9]);
        v
    }

    #[test]
    fn complete_file_ends_at_eoi_even_with_a_trailer() {
        let data = jpeg();
        let end = data.len();
        assert_eq!(find_end(&data), JpegEnd::Complete(end));
        let mut with_trailer = data.clone();
        with_trailer.extend(b"CAMERA TRAILER");
        assert_eq!(find_end(&with_trailer), JpegEnd::Complete(end));
    }

    #[test]
    fn every_shorter_prefix_is_truncated() {
        let data = jpeg();
        for keep in 2..data.len() {
            assert_eq!(
                find_end(&data[..keep]),
                JpegEnd::Truncated(keep),
                "prefix of {keep} bytes"
            );
        }
    }

    #[test]
    fn other_files_are_not_jpeg() {
        assert_eq!(find_end(b""), JpegEnd::NotJpeg);
        assert_eq!(find_end(b"\x89PNG\r\n"), JpegEnd::NotJpeg);
        assert_eq!(find_end(&[0xFF, 0xD8, 0x00, 0x00]), JpegEnd::NotJpeg);
    }
}
