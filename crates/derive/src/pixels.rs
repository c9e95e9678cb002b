//! The decoded image every stage after decoding works on: decoding makes
//! it, orientation turns it, colour conversion, resizing and encoding read
//! it. Kept apart from `decode` so that the format decoders and `orient`
//! need not depend on the module that calls them.

/// Decoded pixels, rows top to bottom, `channels` bytes per pixel.
#[derive(Debug, Clone)]
pub struct Decoded {
    pub width: u32,
    pub height: u32,
    pub channels: u8,
    pub pixels: Vec<u8>,
}

/// Turn RGB pixels into grey in place (Rec. 601 luma, as a JPEG's Y),
/// for a reader that wants only the lightness.
pub fn to_grey(image: &mut Decoded) {
    let channels = usize::from(image.channels);
    if channels < 3 {
        return;
    }
    let count = image.pixels.len() / channels;
    for i in 0..count {
        let p = &image.pixels[i * channels..i * channels + 3];
        let luma = (299 * u32::from(p[0]) + 587 * u32::from(p[1]) + 114 * u32::from(p[2]) + 500) / 1000;
        image.pixels[i] = u8::try_from(luma).unwrap_or(u8::MAX);
    }
    image.pixels.truncate(count);
    image.channels = 1;
}
