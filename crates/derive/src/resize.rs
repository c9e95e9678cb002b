//! Resizing in a cascade: each size is made from the smallest image already
//! at hand that is at least as wide (full -> large -> web -> thumbnail),
//! which costs little after the first step (docs/performance.md, "Measured
//! before the first version: engines and crates": 3200 -> 1400 in 15-17 ms,
//! 1400 -> 200 in 1-2 ms, against 64-77 ms for full -> 3200).
//!
//! The filter is Catmull-Rom, in gamma-encoded values. Measured against a
//! float Lanczos3 reference (docs/performance.md): its web images score the
//! same SSIM as libvips' (0.984; Lanczos3 0.985) at 3 % fewer bytes, with a
//! shorter kernel; resizing in linear light would move SSIM by less than
//! 0.002 against either reference, so it is not worth its cost here.

use fast_image_resize::PixelTrait;
use fast_image_resize::images::{TypedCroppedImageMut, TypedImage, TypedImageRef};
use fast_image_resize::pixels::{U8, U8x3};
use fast_image_resize::{FilterType, ResizeAlg, ResizeOptions, Resizer};

use crate::DeriveError;
use crate::pixels::Decoded;

pub struct Cascade {
    /// Every image made so far, the decoded source first.
    levels: Vec<Decoded>,
    resizer: Resizer,
    /// Whether the source's buffer goes back to the worker's spares: not
    /// when a decoder allocated it itself (a DCT-scaled decode), since no
    /// later decode would take it and it would only be held.
    pool_source: bool,
}

impl Cascade {
    pub fn new(source: Decoded, pool_source: bool) -> Cascade {
        Cascade {
            levels: vec![source],
            resizer: Resizer::new(),
            pool_source,
        }
    }

    /// The decoded source itself (or, after `let_source_go`, the widest
    /// level left).
    pub fn full(&self) -> &Decoded {
        &self.levels[0]
    }

    /// Let the decoded source go once a smaller level exists (every later
    /// size is made from the narrowest level at least as wide, so from
    /// that one): a worker then holds the large image, not the sheet,
    /// while it encodes. Kept when it is the only level.
    pub fn let_source_go(&mut self) {
        if self.levels.len() > 1 {
            let source = self.levels.remove(0);
            if self.pool_source {
                crate::pool::give(source.pixels);
            }
            // Whatever is left was made here, from the pool.
            self.pool_source = true;
        }
    }

    /// The image at `width` (never wider than the source), made from the
    /// narrowest level that is at least that wide.
    pub fn at_width(&mut self, width: u32) -> Result<&Decoded, DeriveError> {
        if let Some(i) = self.levels.iter().position(|l| l.width == width) {
            return Ok(&self.levels[i]);
        }
        let from = self
            .levels
            .iter()
            .filter(|l| l.width >= width)
            .min_by_key(|l| l.width)
            .unwrap_or(&self.levels[0]);
        let width = width.min(from.width).max(1);
        let height = scaled_height(from.width, from.height, width);
        let resized = resize(&mut self.resizer, from, width, height)?;
        // The resizer keeps its full-height intermediate (new width × source
        // height: 70 MB from a 4879×7324 decode to 3200) for the next call,
        // which needs far less; let it go now rather than at the end.
        self.resizer = Resizer::new();
        self.levels.push(resized);
        let last = self.levels.len() - 1;
        Ok(&self.levels[last])
    }
}

impl Drop for Cascade {
    fn drop(&mut self) {
        for (i, level) in self.levels.drain(..).enumerate() {
            if i > 0 || self.pool_source {
                crate::pool::give(level.pixels);
            }
        }
    }
}

fn scaled_height(width: u32, height: u32, new_width: u32) -> u32 {
    let h = (f64::from(height) * f64::from(new_width) / f64::from(width)).round();
    (h as u32).max(1)
}

/// Output rows made per pass. The resizer's intermediate image is the
/// source's width by the output rows of one pass: made in one pass, that
/// is 70 MB from a 4879×7324 decode to 3200 px; in bands of this many
/// rows, 4 MB.
const BAND_ROWS: u32 = 256;

/// `from` resized to `width` × `height`, band by band of output rows.
/// Each band is the whole image's mapping restricted to those rows: the
/// resizer places output row centres from the crop's top with the same
/// scale and reads source rows beyond the crop where the filter reaches,
/// so the bands join without a seam.
fn resize(resizer: &mut Resizer, from: &Decoded, width: u32, height: u32) -> Result<Decoded, DeriveError> {
    let len = width as usize * height as usize * usize::from(from.channels);
    let mut pixels = crate::pool::take(len);
    // Typed views, not `Resizer::resize`: that one dispatches on the pixel
    // type at run time, so all thirteen of fast_image_resize's pixel types
    // (with every filter and CPU path) were compiled into this crate for
    // the two it uses: a third of its release build time (docs/decisions.md,
    // "Build time").
    if from.channels == 1 {
        resize_as::<U8>(resizer, from, &mut pixels, width, height)?;
    } else {
        resize_as::<U8x3>(resizer, from, &mut pixels, width, height)?;
    }
    Ok(Decoded {
        width,
        height,
        channels: from.channels,
        pixels,
    })
}

fn resize_as<P: PixelTrait>(
    resizer: &mut Resizer,
    from: &Decoded,
    into: &mut [u8],
    width: u32,
    height: u32,
) -> Result<(), DeriveError> {
    let failed = |e: &dyn std::fmt::Display| DeriveError::Resize(e.to_string());
    let src = TypedImageRef::<P>::from_buffer(from.width, from.height, &from.pixels).map_err(|e| failed(&e))?;
    let mut dst = TypedImage::<P>::from_buffer(width, height, into).map_err(|e| failed(&e))?;
    let scale = f64::from(from.height) / f64::from(height);
    let mut top = 0;
    while top < height {
        let rows = BAND_ROWS.min(height - top);
        let crop_top = f64::from(top) * scale;
        let crop_height = (f64::from(rows) * scale).min(f64::from(from.height) - crop_top);
        let options = ResizeOptions::new()
            .resize_alg(ResizeAlg::Convolution(FilterType::CatmullRom))
            .crop(0.0, crop_top, f64::from(from.width), crop_height);
        let mut band = TypedCroppedImageMut::from_ref(&mut dst, 0, top, width, rows).map_err(|e| failed(&e))?;
        resizer
            .resize_typed(&src, &mut band, &options)
            .map_err(|e| failed(&e))?;
        top += rows;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use fast_image_resize::PixelType;
    use fast_image_resize::images::Image;

    fn grey(width: u32, height: u32) -> Decoded {
        Decoded {
            width,
            height,
            channels: 1,
            pixels: vec![128; (width * height) as usize],
        }
    }

    #[test]
    fn keeps_the_aspect_ratio_and_reuses_levels() {
        let mut c = Cascade::new(grey(3000, 4500), true);
        let large = c.at_width(2000).map(|l| (l.width, l.height)).ok();
        assert_eq!(large, Some((2000, 3000)));
        let web = c.at_width(1000).map(|l| (l.width, l.height, l.pixels[0])).ok();
        assert_eq!(web, Some((1000, 1500, 128)));
        assert_eq!(c.levels.len(), 3);
        c.at_width(2000).ok();
        assert_eq!(c.levels.len(), 3, "an existing level is reused");
    }

    #[test]
    fn once_the_source_goes_the_smaller_sizes_come_from_the_large_one() {
        let mut c = Cascade::new(grey(3000, 4500), false);
        c.let_source_go();
        assert_eq!(c.levels.len(), 1, "the only level stays");
        c.at_width(2000).ok();
        c.let_source_go();
        assert_eq!(c.levels.iter().map(|l| l.width).collect::<Vec<_>>(), [2000]);
        let web = c.at_width(1000).map(|l| (l.width, l.height)).ok();
        assert_eq!(web, Some((1000, 1500)));
    }

    /// A real sheet's pixels: bands must not show where they join.
    fn sheet() -> Decoded {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples/LM_Validate_LowRes_7.jpg");
        let bytes = std::fs::read(&path).expect("the sample sheet is in samples/");
        let opened = crate::decode::open(&bytes, u64::MAX, &[crate::Format::Jpeg]).expect("its header reads");
        opened.decode().expect("it decodes")
    }

    #[test]
    fn bands_give_the_image_one_pass_gives() {
        let from = sheet();
        for (width, height) in [(600, 900), (1000, 1500), (1399, 2099), (200, 300)] {
            let banded = resize(&mut Resizer::new(), &from, width, height).expect("resized in bands");
            let src = fast_image_resize::images::ImageRef::new(from.width, from.height, &from.pixels, PixelType::U8x3)
                .expect("a view of the sheet");
            let mut whole = Image::new(width, height, PixelType::U8x3);
            Resizer::new()
                .resize(
                    &src,
                    &mut whole,
                    &ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::CatmullRom)),
                )
                .expect("resized in one pass");
            let worst = banded
                .pixels
                .iter()
                .zip(whole.buffer())
                .map(|(a, b)| a.abs_diff(*b))
                .max();
            assert_eq!(banded.pixels.len(), whole.buffer().len());
            assert!(worst <= Some(1), "{width}x{height}: bands differ by up to {worst:?}");
        }
    }

    #[test]
    fn never_upscales() {
        let mut c = Cascade::new(grey(100, 50), true);
        let out = c.at_width(400).map(|l| (l.width, l.height)).ok();
        assert_eq!(out, Some((100, 50)));
    }
}
