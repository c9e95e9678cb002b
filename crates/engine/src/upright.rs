//! Which way is up (`derive.auto_rotate`): a sheet photographed sideways
//! or upside down is stood upright in every derivative, as the orientation
//! of its label text says (Tesseract's orientation detection, `--psm 0`),
//! when its EXIF says nothing. An EXIF orientation other than 1 always
//! wins; a tag of 1 is what a copy-stand camera writes whichever way the
//! sheet lies, so it counts as saying nothing.
//!
//! Runs on the derivative worker that then makes the derivatives, before
//! it decodes them: the turn decides their size. Measured here
//! (docs/performance.md, "Which way is up"): about 3 s of CPU and 160 MB
//! for Tesseract on a 21 MP sheet at full size; at half size it turned
//! one of eight sheets the wrong way, so the full size is read.

use std::sync::OnceLock;

use specdrop_derive::{DeriveConfig, Turn};

use crate::ocr::Tesseract;

/// Below this "Orientation confidence" the sheet keeps the way it is.
/// Full-size corpus sheets that Tesseract judged right scored 0.8 to 9.4;
/// its wrong answers (small or text-poor sheets) scored 0.5 to 2.2.
pub const MIN_CONFIDENCE: f32 = 2.5;

/// What was decided for one sheet, for the report.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decision {
    /// Turned clockwise by this, with Tesseract's confidence.
    Turned(Turn, f32),
    /// Left as it is (upright already, or too little text to tell, or
    /// the EXIF says).
    Kept,
}

impl Decision {
    pub fn turn(self) -> Turn {
        match self {
            Decision::Turned(turn, _) => turn,
            Decision::Kept => Turn::None,
        }
    }

    /// The report's note for a turned sheet.
    pub fn note(self) -> Option<String> {
        match self {
            Decision::Turned(turn, confidence) => Some(format!(
                "turned {}° clockwise to stand upright (label text; orientation confidence {confidence:.1})",
                turn.degrees()
            )),
            Decision::Kept => None,
        }
    }
}

/// Tesseract with its orientation data, looked for once per process; its
/// absence is logged once.
fn tesseract() -> Option<&'static Tesseract> {
    static USABLE: OnceLock<bool> = OnceLock::new();
    let found = crate::ocr::installed();
    let usable = *USABLE.get_or_init(|| {
        let usable = found.is_some_and(Tesseract::has_orientation_data);
        if !usable {
            tracing::warn!(
                "derive.auto_rotate is on but tesseract (with its osd data) is not installed; \
                 sheets are not turned: install tesseract-ocr"
            );
        }
        usable
    });
    found.filter(|_| usable)
}

/// Which way `source` should be turned; called on a derivative worker.
/// Nothing here fails a file: a sheet that cannot be judged keeps its way.
pub fn decide(source: &[u8], config: &DeriveConfig) -> Decision {
    if !config.auto_rotate {
        return Decision::Kept;
    }
    let Some(tesseract) = tesseract() else {
        return Decision::Kept;
    };
    if specdrop_derive::exif_orients(source, config).unwrap_or(true) {
        return Decision::Kept;
    }
    let grey = match specdrop_derive::grey(source, config, Turn::None) {
        Ok(grey) => grey,
        Err(e) => {
            tracing::debug!("no grey copy for orientation detection: {e}");
            return Decision::Kept;
        }
    };
    match tesseract.orientation(&grey) {
        Ok(Some(found)) if found.confidence >= MIN_CONFIDENCE => match Turn::clockwise(found.rotate) {
            Some(Turn::None) | None => Decision::Kept,
            Some(turn) => Decision::Turned(turn, found.confidence),
        },
        Ok(_) => Decision::Kept,
        Err(e) => {
            tracing::warn!("{e}; the sheet keeps the way it is");
            Decision::Kept
        }
    }
}

/// MB the orientation step holds for `source` at its full size (0 when
/// `derive.auto_rotate` is off): the memory budget admits a sheet for the
/// larger of this and its derivatives, which come after.
pub fn needs_mb(source: &[u8], config: &DeriveConfig) -> u32 {
    if !config.auto_rotate {
        return 0;
    }
    specdrop_derive::probe(source, config.max_pixels, &config.formats)
        .map_or(0, |(w, h)| crate::memory_budget::MemoryBudget::reader_needs_mb(w, h))
}
