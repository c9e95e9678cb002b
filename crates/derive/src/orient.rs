//! EXIF orientation: scanners and cameras store the sensor's pixels and a
//! tag that says how to turn them. Derivatives are written upright with no
//! orientation tag (their only EXIF is the credit, credit.rs), so nothing
//! downstream can turn them twice.

use crate::pixels::Decoded;

/// The eight EXIF orientation values (TIFF tag 0x0112).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Orientation {
    Normal = 1,
    FlipH = 2,
    Rotate180 = 3,
    FlipV = 4,
    Transpose = 5,
    Rotate90 = 6,
    Transverse = 7,
    Rotate270 = 8,
}

impl Orientation {
    fn from_tag(value: u16) -> Orientation {
        match value {
            2 => Orientation::FlipH,
            3 => Orientation::Rotate180,
            4 => Orientation::FlipV,
            5 => Orientation::Transpose,
            6 => Orientation::Rotate90,
            7 => Orientation::Transverse,
            8 => Orientation::Rotate270,
            _ => Orientation::Normal,
        }
    }

    fn swaps_axes(self) -> bool {
        matches!(
            self,
            Orientation::Transpose | Orientation::Rotate90 | Orientation::Transverse | Orientation::Rotate270
        )
    }

    /// Width and height as shown, for an image stored as `w` x `h`.
    pub fn displayed(self, w: u32, h: u32) -> (u32, u32) {
        if self.swaps_axes() { (h, w) } else { (w, h) }
    }
}

/// A turn clockwise that the sheet itself calls for (its label text read
/// sideways or upside down), for a source whose EXIF says nothing: the
/// derivatives are made as if the EXIF said it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Turn {
    #[default]
    None,
    Right,
    Half,
    Left,
}

impl Turn {
    /// The turn of `degrees` clockwise (0, 90, 180 or 270), as Tesseract's
    /// orientation detection reports it ("Rotate: 270").
    pub fn clockwise(degrees: u32) -> Option<Turn> {
        match degrees {
            0 => Some(Turn::None),
            90 => Some(Turn::Right),
            180 => Some(Turn::Half),
            270 => Some(Turn::Left),
            _ => None,
        }
    }

    pub fn degrees(self) -> u32 {
        match self {
            Turn::None => 0,
            Turn::Right => 90,
            Turn::Half => 180,
            Turn::Left => 270,
        }
    }

    pub(crate) fn orientation(self) -> Orientation {
        match self {
            Turn::None => Orientation::Normal,
            Turn::Right => Orientation::Rotate90,
            Turn::Half => Orientation::Rotate180,
            Turn::Left => Orientation::Rotate270,
        }
    }
}

/// Read the orientation tag from EXIF data that starts at the TIFF header.
/// Anything unreadable counts as "normal": a broken EXIF block must not
/// cost the image.
pub fn from_exif(exif: &[u8]) -> Orientation {
    let tag = crate::credit::Tiff::new(exif).and_then(|tiff| tiff.u16_at(tiff.entry(0x0112)? + 8));
    tag.map_or(Orientation::Normal, Orientation::from_tag)
}

/// Return the image as it should be displayed.
pub fn upright(image: Decoded, orientation: Orientation) -> Decoded {
    if orientation == Orientation::Normal {
        return image;
    }
    let (w, h) = (image.width as usize, image.height as usize);
    let ch = usize::from(image.channels);
    let (out_w, out_h) = orientation.displayed(image.width, image.height);
    let (ow, oh) = (out_w as usize, out_h as usize);
    let mut out = crate::pool::take(image.pixels.len());
    for y in 0..oh {
        for x in 0..ow {
            // Which stored pixel lands at displayed (x, y).
            let (sx, sy) = match orientation {
                Orientation::Normal => (x, y),
                Orientation::FlipH => (w - 1 - x, y),
                Orientation::Rotate180 => (w - 1 - x, h - 1 - y),
                Orientation::FlipV => (x, h - 1 - y),
                Orientation::Transpose => (y, x),
                Orientation::Rotate90 => (y, h - 1 - x),
                Orientation::Transverse => (w - 1 - y, h - 1 - x),
                Orientation::Rotate270 => (w - 1 - y, x),
            };
            let from = (sy * w + sx) * ch;
            let to = (y * ow + x) * ch;
            out[to..to + ch].copy_from_slice(&image.pixels[from..from + ch]);
        }
    }
    crate::pool::give(image.pixels);
    Decoded {
        width: out_w,
        height: out_h,
        channels: image.channels,
        pixels: out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exif_with(orientation: u16, big_endian: bool) -> Vec<u8> {
        let mut v = Vec::new();
        let p16 = |v: &mut Vec<u8>, x: u16| v.extend(if big_endian { x.to_be_bytes() } else { x.to_le_bytes() });
        let p32 = |v: &mut Vec<u8>, x: u32| v.extend(if big_endian { x.to_be_bytes() } else { x.to_le_bytes() });
        v.extend(if big_endian { b"MM" } else { b"II" });
        p16(&mut v, 42);
        p32(&mut v, 8);
        p16(&mut v, 1);
        p16(&mut v, 0x0112);
        p16(&mut v, 3);
        p32(&mut v, 1);
        p16(&mut v, orientation);
        p16(&mut v, 0);
        p32(&mut v, 0);
        v
    }

    #[test]
    fn reads_the_tag_in_both_byte_orders() {
        for value in 1..=8 {
            for be in [true, false] {
                assert_eq!(from_exif(&exif_with(value, be)) as u16, value);
            }
        }
        assert_eq!(from_exif(b"garbage"), Orientation::Normal);
        assert_eq!(from_exif(&exif_with(9, false)), Orientation::Normal);
    }

    /// A 2x3 grey image with distinct pixels; for each orientation the
    /// pixel that ends up top-left is the one EXIF says.
    #[test]
    fn every_orientation_puts_the_right_corner_top_left() {
        // stored:  1 2
        //          3 4
        //          5 6
        let stored = || Decoded {
            width: 2,
            height: 3,
            channels: 1,
            pixels: vec![1, 2, 3, 4, 5, 6],
        };
        let expect: [(Orientation, u32, u32, Vec<u8>); 8] = [
            (Orientation::Normal, 2, 3, vec![1, 2, 3, 4, 5, 6]),
            (Orientation::FlipH, 2, 3, vec![2, 1, 4, 3, 6, 5]),
            (Orientation::Rotate180, 2, 3, vec![6, 5, 4, 3, 2, 1]),
            (Orientation::FlipV, 2, 3, vec![5, 6, 3, 4, 1, 2]),
            (Orientation::Transpose, 3, 2, vec![1, 3, 5, 2, 4, 6]),
            (Orientation::Rotate90, 3, 2, vec![5, 3, 1, 6, 4, 2]),
            (Orientation::Transverse, 3, 2, vec![6, 4, 2, 5, 3, 1]),
            (Orientation::Rotate270, 3, 2, vec![2, 4, 6, 1, 3, 5]),
        ];
        for (o, w, h, pixels) in expect {
            let out = upright(stored(), o);
            assert_eq!((out.width, out.height, out.pixels), (w, h, pixels), "{o:?}");
        }
    }
}
