//! Header check, then one full decode to 8-bit RGB or grey pixels.

use zune_jpeg::JpegDecoder;
use zune_jpeg::errors::DecodeErrors;
use zune_jpeg::zune_core::bytestream::ZCursor;
use zune_jpeg::zune_core::colorspace::ColorSpace;
use zune_jpeg::zune_core::options::DecoderOptions;

use crate::DeriveError;
use crate::formats::{self, Format, Sniffed};
use crate::orient::{self, Orientation, Turn};
use crate::pixels::Decoded;

/// What the header says, read before any pixel buffer is allocated.
#[derive(Debug, Clone)]
pub struct Header {
    /// Width and height as displayed (EXIF orientation applied).
    pub width: u32,
    pub height: u32,
    pub orientation: Orientation,
    /// Grey sources stay grey (a third of the memory and smaller files).
    pub grey: bool,
    /// Whether the file itself can be served as a derivative: plain
    /// YCbCr or grey, nothing a browser would show differently from us.
    pub web_safe: bool,
    /// The embedded ICC profile, if any.
    pub icc: Option<Vec<u8>>,
    /// A sequential YCbCr or grey JPEG, which `scaled` can decode at
    /// 1/2, 1/4 or 1/8 size.
    pub scalable: bool,
}

/// A source whose header has been read and accepted.
pub struct Opened<'a> {
    pixels: Pixels<'a>,
    pub header: Header,
}

enum Pixels<'a> {
    /// A JPEG, decoded on demand (always by zune-jpeg in strict mode: with
    /// the turbojpeg feature, libjpeg-turbo decoded no faster here and let a
    /// truncated file through as a grey-filled image).
    Jpeg {
        decoder: Box<JpegDecoder<ZCursor<&'a [u8]>>>,
        source: &'a [u8],
    },
    /// PNG and WebP: decoded already (after the same size check).
    Ready(Decoded),
}

/// Read the source's header, accept it (a format in `formats`, within
/// `max_pixels`) or say why not.
pub fn open<'a>(source: &'a [u8], max_pixels: u64, formats: &[Format]) -> Result<Opened<'a>, DeriveError> {
    match formats::sniff(source) {
        Sniffed::Image(Format::Jpeg) if formats.contains(&Format::Jpeg) => open_jpeg(source, max_pixels),
        Sniffed::Image(format) if formats.contains(&format) => {
            let (decoded, icc) = formats::decode_other(source, format, max_pixels)?;
            let header = Header {
                width: decoded.width,
                height: decoded.height,
                orientation: Orientation::Normal,
                grey: decoded.channels == 1,
                // Never served as it is: the portal gets JPEGs.
                web_safe: false,
                icc,
                scalable: false,
            };
            Ok(Opened {
                pixels: Pixels::Ready(decoded),
                header,
            })
        }
        other => Err(formats::refusal(other)),
    }
}

fn jpeg_options() -> DecoderOptions {
    // Our own limit (max_pixels) is the one that counts; the decoder's
    // per-side limit is opened up to what JPEG itself allows.
    DecoderOptions::new_fast()
        .set_strict_mode(true)
        .set_max_width(usize::from(u16::MAX))
        .set_max_height(usize::from(u16::MAX))
}

fn open_jpeg(source: &[u8], max_pixels: u64) -> Result<Opened<'_>, DeriveError> {
    let options = jpeg_options();
    let mut decoder = JpegDecoder::new_with_options(ZCursor::new(source), options);
    decoder.decode_headers().map_err(|e| describe(&e, source.len()))?;
    let info = decoder
        .info()
        .ok_or_else(|| DeriveError::Corrupt("no frame header".into()))?;
    let (stored_w, stored_h) = (u32::from(info.width), u32::from(info.height));
    let pixels = u64::from(stored_w) * u64::from(stored_h);
    if pixels > max_pixels {
        return Err(DeriveError::TooManyPixels {
            width: stored_w,
            height: stored_h,
            pixels,
            max: max_pixels,
        });
    }
    let input = decoder.input_colorspace().unwrap_or(ColorSpace::Unknown);
    let grey = input == ColorSpace::Luma;
    let orientation = decoder
        .exif()
        .map_or(Orientation::Normal, |exif| orient::from_exif(exif));
    let plain = matches!(input, ColorSpace::YCbCr | ColorSpace::Luma);
    let web_safe = plain && orientation == Orientation::Normal;
    let scalable = plain && info.sof.is_sequential_dct();
    // CMYK profiles do not describe the RGB pixels the decoder makes.
    let icc = decoder
        .icc_profile()
        .filter(|_| !matches!(input, ColorSpace::CMYK | ColorSpace::YCCK));
    decoder.set_options(options.jpeg_set_out_colorspace(if grey { ColorSpace::Luma } else { ColorSpace::RGB }));
    let (width, height) = orientation.displayed(stored_w, stored_h);
    Ok(Opened {
        pixels: Pixels::Jpeg {
            decoder: Box::new(decoder),
            source,
        },
        header: Header {
            width,
            height,
            orientation,
            grey,
            web_safe,
            icc,
            scalable,
        },
    })
}

impl Opened<'_> {
    /// Make the derivatives turned by `turn`, as if the EXIF said so; an
    /// orientation the EXIF gives wins.
    pub fn turn(&mut self, turn: Turn) {
        if turn == Turn::None || self.header.orientation != Orientation::Normal {
            return;
        }
        let orientation = turn.orientation();
        (self.header.width, self.header.height) = orientation.displayed(self.header.width, self.header.height);
        self.header.orientation = orientation;
        self.header.web_safe = false;
    }

    /// Decode to grey only (a JPEG's luma, without colour conversion).
    pub fn into_grey(mut self) -> Self {
        match &mut self.pixels {
            Pixels::Jpeg { decoder, .. } => {
                decoder.set_options(jpeg_options().jpeg_set_out_colorspace(ColorSpace::Luma))
            }
            Pixels::Ready(decoded) => crate::pixels::to_grey(decoded),
        }
        self.header.grey = true;
        self
    }

    /// Decode every pixel and turn the image upright.
    pub fn decode(self) -> Result<Decoded, DeriveError> {
        let (mut decoder, source_len) = match self.pixels {
            Pixels::Ready(decoded) => return Ok(orient::upright(decoded, self.header.orientation)),
            Pixels::Jpeg { decoder, source } => (decoder, source.len()),
        };
        let size = decoder
            .output_buffer_size()
            .ok_or_else(|| DeriveError::Corrupt("no frame header".into()))?;
        let mut pixels = crate::pool::take(size);
        if let Err(e) = decoder.decode_into(&mut pixels) {
            crate::pool::give(pixels);
            return Err(describe(&e, source_len));
        }
        let info = decoder
            .info()
            .ok_or_else(|| DeriveError::Corrupt("no frame header".into()))?;
        let stored = Decoded {
            width: u32::from(info.width),
            height: u32::from(info.height),
            channels: if self.header.grey { 1 } else { 3 },
            pixels,
        };
        Ok(orient::upright(stored, self.header.orientation))
    }
}

/// Turn the decoder's error into a reason an imaging team can act on.
fn describe(error: &DecodeErrors, len: usize) -> DeriveError {
    match error {
        DecodeErrors::ExhaustedData => DeriveError::Corrupt(format!("truncated at byte {len}")),
        DecodeErrors::IoErrors(_) => {
            DeriveError::Corrupt(format!("truncated at byte {len} (data ends inside a segment)"))
        }
        DecodeErrors::HuffmanDecode(detail) => DeriveError::Corrupt(format!("corrupt Huffman data ({detail})")),
        DecodeErrors::Unsupported(scheme) => DeriveError::NotJpeg(format!("unsupported JPEG coding {scheme:?}")),
        other => DeriveError::Corrupt(format!("{other}")),
    }
}
