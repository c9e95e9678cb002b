//! Whose image it is: the source's EXIF Artist (0x013B) and Copyright
//! (0x8298) in IFD0, else XMP `dc:creator` and `dc:rights`, read from the
//! JPEG's APP1 segments. The only metadata a derivative carries is a
//! minimal EXIF APP1 with those two tags as the source has them, so a
//! downloaded web image still says whose it is while GPS positions,
//! camera serial numbers and editing history stay behind.

use std::ops::Range;

const EXIF: &[u8] = b"Exif\0\0";
const XMP: &[u8] = b"http://ns.adobe.com/xap/1.0/\0";
const ARTIST: u16 = 0x013B;
const COPYRIGHT: u16 = 0x8298;
const ASCII: u16 = 2;
/// A value longer than this is not carried (a segment holds 64 KiB).
const MAX_VALUE: usize = 16 * 1024;

/// Who made the image and who holds its rights, as the source says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credit {
    /// EXIF Artist, else XMP dc:creator (several creators joined by "; ").
    pub creator: Option<String>,
    /// EXIF Copyright, else XMP dc:rights.
    pub copyright: Option<String>,
    /// The APP1 segment (marker included) derivatives carry; none when the
    /// source has neither EXIF tag.
    app1: Option<Vec<u8>>,
}

impl Credit {
    /// Read from a JPEG file's segments before its image data; anything
    /// unreadable is no credit, never an error: metadata must not cost the
    /// image.
    pub fn of_jpeg(jpeg: &[u8]) -> Credit {
        let (mut artist, mut copyright, mut xmp) = (None, None, None);
        for (marker, range) in segments(jpeg) {
            let Some(payload) = jpeg.get(range.start + 4..range.end) else {
                continue;
            };
            if marker != 0xE1 {
                continue;
            }
            if let Some(tiff) = payload.strip_prefix(EXIF) {
                let tags = Tiff::new(tiff).map(|t| (t.ascii(ARTIST), t.ascii(COPYRIGHT)));
                if let Some((a, c)) = tags {
                    artist = artist.or(a);
                    copyright = copyright.or(c);
                }
            } else if let Some(text) = payload.strip_prefix(XMP) {
                xmp = xmp.or_else(|| Some(String::from_utf8_lossy(text).into_owned()));
            }
        }
        let from_xmp = |element: &str, all: bool| xmp.as_deref().and_then(|x| xmp_value(x, element, all));
        Credit {
            creator: artist
                .as_deref()
                .and_then(text_of)
                .or_else(|| from_xmp("dc:creator", true)),
            copyright: copyright
                .as_deref()
                .and_then(text_of)
                .or_else(|| from_xmp("dc:rights", false)),
            app1: app1(artist.as_deref(), copyright.as_deref()),
        }
    }

    /// The encoder's output with the credit segment after its SOI and JFIF
    /// header.
    pub(crate) fn onto_encoded(&self, encoded: Vec<u8>) -> Vec<u8> {
        let Some(app1) = &self.app1 else {
            return encoded;
        };
        let at = segments(&encoded)
            .into_iter()
            .take_while(|(marker, _)| *marker == 0xE0)
            .last()
            .map_or(2, |(_, r)| r.end);
        if encoded.len() < at {
            return encoded;
        }
        let mut out = Vec::with_capacity(encoded.len() + app1.len());
        out.extend_from_slice(&encoded[..at]);
        out.extend_from_slice(app1);
        out.extend_from_slice(&encoded[at..]);
        out
    }

    /// A source served as it is, its metadata reduced to the credit: the
    /// application segments that do not describe the pixels (EXIF with its
    /// GPS and thumbnail, XMP, IPTC, maker data) are left out; JFIF (APP0),
    /// the ICC profile (APP2), Adobe's colour transform (APP14) and
    /// comments stay (a comment is what tells two otherwise equal sources
    /// apart, and mediaMD5 is taken of this file).
    pub(crate) fn onto_copy(&self, source: &[u8]) -> Vec<u8> {
        let found = segments(source);
        let Some(end) = found.last().map(|(_, r)| r.end) else {
            return source.to_vec();
        };
        let mut out = Vec::with_capacity(source.len());
        out.extend_from_slice(&source[..2]);
        let mut credited = false;
        for (marker, range) in found {
            let metadata = matches!(marker, 0xE1 | 0xE3..=0xED | 0xEF);
            if !credited && marker != 0xE0 {
                if let Some(app1) = &self.app1 {
                    out.extend_from_slice(app1);
                }
                credited = true;
            }
            if !metadata {
                out.extend_from_slice(&source[range]);
            }
        }
        out.extend_from_slice(&source[end..]);
        out
    }
}

/// The marker segments from SOI up to (not including) the start of scan:
/// (marker, bytes of the whole segment). Stops at anything malformed.
fn segments(jpeg: &[u8]) -> Vec<(u8, Range<usize>)> {
    let mut found = Vec::new();
    if jpeg.get(..2) != Some(&[0xFF, 0xD8]) {
        return found;
    }
    let mut at = 2;
    while let (Some(0xFF), Some(&marker)) = (jpeg.get(at), jpeg.get(at + 1)) {
        if marker == 0xDA || marker == 0xD9 || marker == 0xFF || marker == 0x00 {
            break;
        }
        let Some(len) = jpeg
            .get(at + 2..at + 4)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
        else {
            break;
        };
        if len < 2 || at + 2 + len > jpeg.len() {
            break;
        }
        found.push((marker, at..at + 2 + len));
        at += 2 + len;
    }
    found
}

/// A minimal EXIF APP1 segment with IFD0 holding Artist and Copyright as
/// given (raw ASCII bytes), or none when neither is.
fn app1(artist: Option<&[u8]>, copyright: Option<&[u8]>) -> Option<Vec<u8>> {
    let tags: Vec<(u16, Vec<u8>)> = [(ARTIST, artist), (COPYRIGHT, copyright)]
        .into_iter()
        .filter_map(|(tag, value)| {
            let mut value = value?.to_vec();
            if value.last() != Some(&0) {
                value.push(0);
            }
            (value.len() <= MAX_VALUE).then_some((tag, value))
        })
        .collect();
    if tags.is_empty() {
        return None;
    }
    // TIFF header (8), entry count (2), entries (12 each), next IFD (4),
    // then the values longer than four bytes.
    let mut tiff: Vec<u8> = b"II*\0\x08\0\0\0".to_vec();
    tiff.extend((tags.len() as u16).to_le_bytes());
    let base = 8 + 2 + 12 * tags.len() + 4;
    let mut data = Vec::new();
    for (tag, value) in &tags {
        tiff.extend(tag.to_le_bytes());
        tiff.extend(ASCII.to_le_bytes());
        tiff.extend((value.len() as u32).to_le_bytes());
        if value.len() <= 4 {
            let mut inline = [0u8; 4];
            inline[..value.len()].copy_from_slice(value);
            tiff.extend(inline);
        } else {
            tiff.extend(((base + data.len()) as u32).to_le_bytes());
            data.extend_from_slice(value);
            // Offsets are word-aligned.
            if value.len() % 2 == 1 {
                data.push(0);
            }
        }
    }
    tiff.extend(0u32.to_le_bytes());
    tiff.extend(data);
    let len = u16::try_from(2 + EXIF.len() + tiff.len()).ok()?;
    let mut segment = vec![0xFF, 0xE1];
    segment.extend(len.to_be_bytes());
    segment.extend_from_slice(EXIF);
    segment.extend(tiff);
    Some(segment)
}

/// EXIF data from its TIFF header on: IFD0's entries.
pub(crate) struct Tiff<'a> {
    data: &'a [u8],
    big_endian: bool,
}

impl<'a> Tiff<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Option<Tiff<'a>> {
        let big_endian = match data.get(..2)? {
            b"MM" => true,
            b"II" => false,
            _ => return None,
        };
        Some(Tiff { data, big_endian })
    }

    pub(crate) fn u16_at(&self, at: usize) -> Option<u16> {
        let b = self.data.get(at..at + 2)?;
        Some(if self.big_endian {
            u16::from_be_bytes([b[0], b[1]])
        } else {
            u16::from_le_bytes([b[0], b[1]])
        })
    }

    fn u32_at(&self, at: usize) -> Option<u32> {
        let b = self.data.get(at..at + 4)?;
        let a = [b[0], b[1], b[2], b[3]];
        Some(if self.big_endian {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        })
    }

    /// Where IFD0's entry for `tag` starts.
    pub(crate) fn entry(&self, tag: u16) -> Option<usize> {
        let ifd = usize::try_from(self.u32_at(4)?).ok()?;
        let entries = usize::from(self.u16_at(ifd)?);
        (0..entries)
            .map(|i| ifd + 2 + i * 12)
            .find(|&entry| self.u16_at(entry) == Some(tag))
    }

    /// An ASCII tag's bytes as stored (its NUL included).
    fn ascii(&self, tag: u16) -> Option<Vec<u8>> {
        let entry = self.entry(tag)?;
        if self.u16_at(entry + 2)? != ASCII {
            return None;
        }
        let count = usize::try_from(self.u32_at(entry + 4)?).ok()?;
        let at = if count <= 4 {
            entry + 8
        } else {
            usize::try_from(self.u32_at(entry + 8)?).ok()?
        };
        let bytes = self.data.get(at..at.checked_add(count)?)?;
        bytes
            .iter()
            .any(|b| *b != 0 && !b.is_ascii_whitespace())
            .then(|| bytes.to_vec())
    }
}

/// A tag's text: UTF-8 as most tools write it, else Latin-1; the parts of
/// Copyright ("photographer\0editor") joined by "; ".
fn text_of(bytes: &[u8]) -> Option<String> {
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text.to_string(),
        Err(_) => bytes.iter().map(|&b| char::from(b)).collect(),
    };
    let parts: Vec<&str> = text.split('\0').map(str::trim).filter(|p| !p.is_empty()).collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// The text of XMP element `element` (`dc:creator`): its `rdf:li` items
/// (all of them joined by "; " when `all`, else the first), or its own
/// text.
fn xmp_value(xmp: &str, element: &str, all: bool) -> Option<String> {
    let start = xmp.find(&format!("<{element}>"))?;
    let inner = &xmp[start + element.len() + 2..];
    let inner = &inner[..inner.find(&format!("</{element}>"))?];
    let mut items = Vec::new();
    let mut rest = inner;
    while let Some(li) = rest.find("<rdf:li") {
        let after = &rest[li..];
        let Some(open) = after.find('>') else { break };
        let body = &after[open + 1..];
        let Some(close) = body.find("</rdf:li>") else { break };
        items.push(unescape(body[..close].trim()));
        rest = &body[close..];
        if !all {
            break;
        }
    }
    if items.is_empty() && !inner.contains('<') {
        items.push(unescape(inner.trim()));
    }
    items.retain(|i| !i.is_empty());
    (!items.is_empty()).then(|| items.join("; "))
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&#169;", "©")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(marker: u8, payload: &[u8]) -> Vec<u8> {
        let mut s = vec![0xFF, marker];
        s.extend(u16::try_from(payload.len() + 2).expect("small").to_be_bytes());
        s.extend_from_slice(payload);
        s
    }

    /// Big-endian EXIF with Artist, Copyright and a GPS IFD pointer.
    fn exif_be(artist: &str, copyright: &str) -> Vec<u8> {
        let mut t: Vec<u8> = b"MM\0*\0\0\0\x08".to_vec();
        t.extend(3u16.to_be_bytes());
        let data_at = 8 + 2 + 12 * 3 + 4;
        let a = [artist.as_bytes(), b"\0"].concat();
        let c = [copyright.as_bytes(), b"\0"].concat();
        for (tag, kind, count, value) in [
            (ARTIST, ASCII, a.len() as u32, data_at as u32),
            (COPYRIGHT, ASCII, c.len() as u32, (data_at + a.len()) as u32),
            (0x8825u16, 4u16, 1u32, 0u32),
        ] {
            t.extend(tag.to_be_bytes());
            t.extend(kind.to_be_bytes());
            t.extend(count.to_be_bytes());
            t.extend(value.to_be_bytes());
        }
        t.extend(0u32.to_be_bytes());
        t.extend(a);
        t.extend(c);
        [EXIF, &t].concat()
    }

    fn jpeg_with(segments: &[Vec<u8>]) -> Vec<u8> {
        let mut j = vec![0xFF, 0xD8];
        for s in segments {
            j.extend(s);
        }
        j.extend(segment(0xDB, &[0; 65]));
        j.extend([0xFF, 0xDA, 0, 2, 1, 2, 3, 0xFF, 0xD9]);
        j
    }

    #[test]
    fn exif_tags_win_and_are_carried_alone() {
        let source = jpeg_with(&[
            segment(0xE0, b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0"),
            segment(0xE1, &exif_be("A. Reznicek", "(c) MICH")),
            segment(
                0xE1,
                &[
                    XMP,
                    b"<dc:creator><rdf:Seq><rdf:li>Other</rdf:li></rdf:Seq></dc:creator>",
                ]
                .concat(),
            ),
            segment(0xE2, b"ICC_PROFILE\0\x01\x01abc"),
            segment(0xED, b"Photoshop 3.0\0IPTC"),
            segment(0xFE, b"a comment"),
        ]);
        let credit = Credit::of_jpeg(&source);
        assert_eq!(credit.creator.as_deref(), Some("A. Reznicek"));
        assert_eq!(credit.copyright.as_deref(), Some("(c) MICH"));
        let copy = credit.onto_copy(&source);
        let kept: Vec<u8> = segments(&copy).into_iter().map(|(m, _)| m).collect();
        assert_eq!(
            kept,
            [0xE0, 0xE1, 0xE2, 0xFE, 0xDB],
            "JFIF, the credit, ICC, the comment, tables"
        );
        assert!(
            copy.ends_with(&[0xFF, 0xDA, 0, 2, 1, 2, 3, 0xFF, 0xD9]),
            "image data as it was"
        );
        let again = Credit::of_jpeg(&copy);
        assert_eq!(
            (again.creator, again.copyright),
            (credit.creator.clone(), credit.copyright.clone())
        );
        let (_, app1) = segments(&copy)[1].clone();
        let tiff = Tiff::new(&copy[app1.start + 4 + EXIF.len()..app1.end]).expect("TIFF header");
        assert!(tiff.entry(0x8825).is_none(), "no GPS pointer carried");
    }

    #[test]
    fn xmp_stands_in_and_encoded_output_gets_the_segment() {
        let xmp = [
            XMP,
            b"<x:xmpmeta><dc:creator><rdf:Seq><rdf:li>R. Smith</rdf:li><rdf:li>J. Doe</rdf:li></rdf:Seq></dc:creator>\
              <dc:rights><rdf:Alt><rdf:li xml:lang=\"x-default\">CC BY &amp; more</rdf:li></rdf:Alt></dc:rights></x:xmpmeta>",
        ]
        .concat();
        let credit = Credit::of_jpeg(&jpeg_with(&[segment(0xE1, &xmp)]));
        assert_eq!(credit.creator.as_deref(), Some("R. Smith; J. Doe"));
        assert_eq!(credit.copyright.as_deref(), Some("CC BY & more"));
        // No EXIF tags: nothing to carry.
        let encoded = jpeg_with(&[segment(0xE0, b"JFIF\0")]);
        assert_eq!(credit.onto_encoded(encoded.clone()), encoded);

        let short = Credit::of_jpeg(&jpeg_with(&[segment(0xE1, &exif_be("A. Smith", "(c) MICH 2026"))]));
        let out = short.onto_encoded(encoded);
        let markers: Vec<u8> = segments(&out).into_iter().map(|(m, _)| m).collect();
        assert_eq!(markers, [0xE0, 0xE1, 0xDB]);
        let read = Credit::of_jpeg(&out);
        assert_eq!(
            (read.creator.as_deref(), read.copyright.as_deref()),
            (Some("A. Smith"), Some("(c) MICH 2026"))
        );
    }

    #[test]
    fn broken_metadata_is_no_credit() {
        for bytes in [
            &b""[..],
            b"\xFF\xD8",
            b"\xFF\xD8\xFF\xE1\x00\x10Exif\0\0MM",
            b"not a jpeg",
        ] {
            assert_eq!(Credit::of_jpeg(bytes), Credit::default());
        }
        assert_eq!(text_of(b"Jos\xe9"), Some("José".into()), "Latin-1");
        assert_eq!(text_of(b"P\0E\0"), Some("P; E".into()));
    }
}
