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
