//! One sheet's barcodes: to grey, then a multi-barcode pass for bar codes
//! and, when needed, one for 2-D codes.

use std::borrow::Cow;
use std::collections::HashSet;

use rxing::common::HybridBinarizer;
use rxing::multi::{GenericMultipleBarcodeReader, MultipleBarcodeReader as _};
use rxing::{BarcodeFormat, BinaryBitmap, DecodeHintValue, DecodeHints, Luma8Source, MultiUseMultiFormatReader};

use crate::grey::{Grey, shrink, turn};
use crate::regions::{crop, label_regions};
use crate::{BarcodeError, Symbology};

/// Decoded pixels: `channels` (1 grey, 3 RGB) interleaved bytes per pixel.
#[derive(Debug, Clone, Copy)]
pub struct Pixels<'a> {
    pub width: u32,
    pub height: u32,
    pub channels: u8,
    pub data: &'a [u8],
}

/// One value read from the sheet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub text: String,
    pub symbology: Symbology,
}

/// Every barcode of the kinds in `symbologies` on the sheet, in reading
/// order, each value once. The 2-D kinds are only looked for when no bar
/// code gave a value `wanted` accepts.
///
/// Several passes, as a person would look again: the sheet as it is, then
/// at half size (a label's bars photographed with much detail are found
/// more surely on a smaller copy, as ZBar's reads of 0.75× and 0.5× copies
/// showed), then each region that looks like a bar code cut out at full
/// size (regions.rs; turned when its bars run sideways), then at 0.8 and
/// 0.65, then the whole sheet turned a quarter (at 0.75) for labels
/// printed sideways. Each pass adds what it finds; the passes stop once a
/// value `wanted` accepts (the collection's pattern) is among the finds
/// and the half-size pass has run, so a second label on the sheet is
/// still seen. A bar code upside down needs no pass of its own: each row
/// is read both ways.
pub fn read(
    pixels: Pixels<'_>,
    symbologies: &[Symbology],
    wanted: &dyn Fn(&str) -> bool,
) -> Result<Vec<Found>, BarcodeError> {
    let grey = to_grey(pixels)?;
    let sheet = Grey {
        width: pixels.width,
        height: pixels.height,
        data: grey,
    };
    let linear: Vec<Symbology> = symbologies.iter().copied().filter(|s| s.is_linear()).collect();
    let matrix: Vec<Symbology> = symbologies.iter().copied().filter(|s| !s.is_linear()).collect();
    let mut found = Vec::new();
    if !linear.is_empty() {
        for (i, pass) in Pass::ALL.iter().enumerate() {
            for image in pass.images(&sheet) {
                found.extend(decode(&image.data, image.width, image.height, &linear));
            }
            // The full-size and half-size passes always run: a sheet may
            // carry two labels, and each of them is read by one of them.
            if i >= 1 && found.iter().any(|f| wanted(&f.text)) {
                break;
            }
        }
    }
    if !matrix.is_empty() && !found.iter().any(|f| wanted(&f.text)) {
        found.extend(decode(&sheet.data, sheet.width, sheet.height, &matrix));
    }
    let mut seen = HashSet::new();
    found.retain(|f| seen.insert((f.text.clone(), f.symbology)));
    Ok(found)
}

/// One look at the sheet.
#[derive(Debug, Clone, Copy)]
enum Pass {
    /// The sheet scaled by this factor (1.0: as it is).
    Scaled(f32),
    /// Turned a quarter clockwise, at three quarters of the size.
    Turned,
    /// Each region that looks like a bar code (regions.rs), cut out at
    /// full resolution (turned when its bars run sideways).
    Labels,
}

impl Pass {
    /// In this order. Which scale reads a worn or compressed label is
    /// not predictable: on the corpus sheet saved at JPEG quality 60 only
    /// 0.8 read its label (1.0, 0.9, 0.85, 0.75 and below did not).
    const ALL: [Pass; 6] = [
        Pass::Scaled(1.0),
        Pass::Scaled(0.5),
        Pass::Labels,
        Pass::Scaled(0.8),
        Pass::Scaled(0.65),
        Pass::Turned,
    ];

    /// The images this pass reads: the sheet itself, a copy of it, or
    /// one crop per label region.
    fn images<'a>(self, sheet: &'a Grey<'a>) -> Vec<Grey<'a>> {
        match self {
            Pass::Scaled(f) if f >= 1.0 => vec![Grey {
                width: sheet.width,
                height: sheet.height,
                data: Cow::Borrowed(&sheet.data),
            }],
            Pass::Scaled(f) => vec![shrink(sheet, f)],
            Pass::Turned => vec![turn(&shrink(sheet, 0.75))],
            Pass::Labels => label_regions(sheet.width, sheet.height, &sheet.data)
                .into_iter()
                .map(|region| {
                    let part = Grey {
                        width: region.width,
                        height: region.height,
                        data: Cow::Owned(crop(sheet.width, &sheet.data, &region)),
                    };
                    if region.sideways { turn(&part) } else { part }
                })
                .collect(),
        }
    }
}

fn to_grey(pixels: Pixels<'_>) -> Result<Cow<'_, [u8]>, BarcodeError> {
    let area = pixels.width as usize * pixels.height as usize;
    let bad = || BarcodeError::BadPixels {
        width: pixels.width,
        height: pixels.height,
        channels: pixels.channels,
        len: pixels.data.len(),
    };
    if pixels.data.len() != area * usize::from(pixels.channels) {
        return Err(bad());
    }
    match pixels.channels {
        1 => Ok(Cow::Borrowed(pixels.data)),
        // Rec. 601 weights in 8-bit fixed point: bars are dark on light,
        // any reasonable weighting keeps them so.
        3 => Ok(Cow::Owned(
            pixels
                .data
                .chunks_exact(3)
                .map(|p| ((u32::from(p[0]) * 77 + u32::from(p[1]) * 150 + u32::from(p[2]) * 29) >> 8) as u8)
                .collect(),
        )),
        _ => Err(bad()),
    }
}

fn decode(grey: &[u8], width: u32, height: u32, kinds: &[Symbology]) -> Vec<Found> {
    let formats: HashSet<BarcodeFormat> = kinds.iter().map(|k| format_of(*k)).collect();
    let hints = DecodeHints::default()
        .with(DecodeHintValue::PossibleFormats(formats))
        .with(DecodeHintValue::TryHarder(true));
    let Ok(source) = Luma8Source::new_with_slice(grey, width, height) else {
        // to_grey checked the size; nothing to read in anything else.
        return Vec::new();
    };
    let mut bitmap = BinaryBitmap::new(HybridBinarizer::new(source));
    let mut reader = GenericMultipleBarcodeReader::new(MultiUseMultiFormatReader::default());
    // Nothing found is an error in rxing's terms; here it is an empty list.
    let results = reader
        .decode_multiple_with_hints(&mut bitmap, &hints)
        .unwrap_or_default();
    results
        .iter()
        .filter_map(|r| {
            let symbology = kind_of(r.getBarcodeFormat())?;
            Some(Found {
                text: r.getText().to_string(),
                symbology,
            })
        })
        .collect()
}

fn format_of(kind: Symbology) -> BarcodeFormat {
    match kind {
        Symbology::Code39 => BarcodeFormat::CODE_39,
        Symbology::Code128 => BarcodeFormat::CODE_128,
        Symbology::Qr => BarcodeFormat::QR_CODE,
        Symbology::DataMatrix => BarcodeFormat::DATA_MATRIX,
    }
}

fn kind_of(format: &BarcodeFormat) -> Option<Symbology> {
    match format {
        BarcodeFormat::CODE_39 => Some(Symbology::Code39),
        BarcodeFormat::CODE_128 => Some(Symbology::Code128),
        BarcodeFormat::QR_CODE => Some(Symbology::Qr),
        BarcodeFormat::DATA_MATRIX => Some(Symbology::DataMatrix),
        _ => None,
    }
}
