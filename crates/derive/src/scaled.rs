//! Decoding a JPEG at 1/2, 1/4 or 1/8 of its size in the DCT domain, for
//! sheets far wider than the widest derivative (150 MP camera backs).
//!
//! zune-jpeg, the decoder for everything else, decodes only at full size;
//! jpeg-decoder (pure Rust) runs a smaller inverse DCT per block, so a
//! 9758×14648 sheet is decoded as 4879×7324: a quarter of the pixels to
//! hold and to resize, and measured faster than zune-jpeg's full decode
//! (docs/performance.md, "Large sheets and memory"). Only baseline
//! (sequential) YCbCr and grey JPEGs take this path: jpeg-decoder hands
//! back Adobe CMYK/YCCK unconverted, and a progressive file keeps every
//! coefficient of the full-size image whatever the output scale.

use crate::DeriveError;
use crate::decode::Header;
use crate::orient;
use crate::pixels::Decoded;

/// The scale denominators jpeg-decoder offers below 1.
const SCALES: [u32; 3] = [8, 4, 2];

/// The denominator (1, 2, 4 or 8) that decodes the fewest pixels and still
/// gives at least `need` pixels across the displayed image.
pub fn denominator(header: &Header, need: u32) -> u32 {
    if !header.scalable {
        return 1;
    }
    SCALES
        .into_iter()
        .find(|d| header.width.div_ceil(*d) >= need.max(1))
        .unwrap_or(1)
}

/// Width and height (as displayed) of a decode at 1/`denominator`.
pub fn size(header: &Header, denominator: u32) -> (u32, u32) {
    (header.width.div_ceil(denominator), header.height.div_ceil(denominator))
}

/// Decode `source` at 1/`denominator` of its size and turn it upright.
/// A truncated file is refused in the words a full decode uses; anything
/// else jpeg-decoder cannot do or does not like (arithmetic coding, an
/// odd marker) gives `None`, and the full decode by zune-jpeg in strict
/// mode has the last word, as for every other file.
pub fn decode(source: &[u8], header: &Header, denominator: u32) -> Result<Option<Decoded>, DeriveError> {
    let (stored_w, stored_h) = header.orientation.displayed(header.width, header.height);
    let request = |v: u32| u16::try_from(v.div_ceil(denominator)).unwrap_or(u16::MAX);
    let mut decoder = jpeg_decoder::Decoder::new(source);
    let decoded = decoder
        .scale(request(stored_w), request(stored_h))
        .and_then(|_| decoder.decode());
    let pixels = match decoded {
        Ok(pixels) => pixels,
        Err(jpeg_decoder::Error::Io(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            return Err(DeriveError::Corrupt(format!("truncated at byte {}", source.len())));
        }
        Err(_) => return Ok(None),
    };
    let Some(info) = decoder.info() else { return Ok(None) };
    let channels: u8 = match info.pixel_format {
        jpeg_decoder::PixelFormat::L8 => 1,
        jpeg_decoder::PixelFormat::RGB24 => 3,
        _ => return Ok(None),
    };
    let (width, height) = (u32::from(info.width), u32::from(info.height));
    if pixels.len() != width as usize * height as usize * usize::from(channels) {
        return Ok(None);
    }
    let stored = Decoded {
        width,
        height,
        channels,
        pixels,
    };
    Ok(Some(orient::upright(stored, header.orientation)))
}
