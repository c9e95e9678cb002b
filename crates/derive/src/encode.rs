//! JPEG encoding with jpeg-encoder (pure Rust, SIMD): measured 3x faster
//! than `image`'s encoder, whose files were 27 % larger (docs/performance.md,
//! "Measured before the first version: engines and crates").

use jpeg_encoder::{ColorType, Encoder};

use crate::DeriveError;
use crate::pixels::Decoded;

/// Which encoder this build uses, for reports and benchmarks.
pub const ENCODER: &str = if cfg!(feature = "turbojpeg") {
    "libjpeg-turbo (ICC-carrying outputs: jpeg-encoder)"
} else {
    "jpeg-encoder"
};

/// Encode `image`, with the ICC profile `icc` embedded when given.
pub fn jpeg(image: &Decoded, quality: u8, icc: Option<&[u8]>) -> Result<Vec<u8>, DeriveError> {
    // The turbojpeg crate cannot write an ICC profile; jpeg-encoder can.
    #[cfg(feature = "turbojpeg")]
    if icc.is_none() {
        return turbo(image, quality);
    }
    let mut out = Vec::with_capacity(image.pixels.len() / 8);
    // The encoder's defaults: 4:2:0 with one chroma sample per block, Annex K
    // Huffman tables. Averaged chroma cost 8 % more time for 0.1 % smaller
    // files, and optimised Huffman tables doubled peak memory and made files
    // zune-jpeg misreads (docs/performance.md).
    let mut encoder = Encoder::new(&mut out, quality);
    if let Some(icc) = icc {
        encoder
            .add_icc_profile(icc)
            .map_err(|e| DeriveError::Encode(format!("cannot embed the colour profile: {e}")))?;
    }
    let color = if image.channels == 1 {
        ColorType::Luma
    } else {
        ColorType::Rgb
    };
    let (w, h) = (dimension(image.width)?, dimension(image.height)?);
    encoder
        .encode(&image.pixels, w, h, color)
        .map_err(|e| DeriveError::Encode(e.to_string()))?;
    Ok(out)
}

fn dimension(value: u32) -> Result<u16, DeriveError> {
    u16::try_from(value).map_err(|_| DeriveError::Encode(format!("{value} px is more than JPEG allows (65535)")))
}

#[cfg(feature = "turbojpeg")]
fn turbo(image: &Decoded, quality: u8) -> Result<Vec<u8>, DeriveError> {
    let grey = image.channels == 1;
    let width = image.width as usize;
    let pixels = turbojpeg::Image {
        pixels: image.pixels.as_slice(),
        width,
        pitch: width * usize::from(image.channels),
        height: image.height as usize,
        format: if grey {
            turbojpeg::PixelFormat::GRAY
        } else {
            turbojpeg::PixelFormat::RGB
        },
    };
    let subsampling = if grey {
        turbojpeg::Subsamp::Gray
    } else {
        turbojpeg::Subsamp::Sub2x2
    };
    turbojpeg::compress(pixels, i32::from(quality), subsampling)
        .map(|buf| buf.to_vec())
        .map_err(|e| DeriveError::Encode(e.to_string()))
}
