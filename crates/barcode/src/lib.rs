//! Reading the barcodes on a specimen sheet from pixels already decoded
//! (specdrop lends them while it makes the derivatives), with rxing.
//!
//! What was measured on the corpus sheets (docs/performance.md): Code 39
//! labels on ~3750×5630 MICH sheets read at full resolution and at 3200 px
//! width, and fail at 1400-2000 px; rxing finds nothing without its
//! try-harder mode (the labels are near the bottom, away from the rows it
//! otherwise scans); and looking for QR and DataMatrix costs 10-50 times
//! more than for bars. So bars are read first, on every row, and the 2-D
//! kinds only when no bar code gave a value the caller wants.

mod grey;
mod read;
mod regions;
mod symbology;

pub use grey::{shrink_grey, turn_grey};
pub use read::{Found, Pixels, read};
pub use regions::{Region, crop, label_regions};

/// The fewest pixels across a sheet that the reader is given: the MICH
/// labels read at 3200 px across a 3753 px sheet and no longer at 2000, so
/// a sheet decoded at a smaller scale for its derivatives (150 MP backs)
/// still keeps at least this, with a margin.
pub const READ_WIDTH: u32 = 3600;
pub use symbology::Symbology;

#[derive(Debug, thiserror::Error)]
pub enum BarcodeError {
    #[error(
        "the image handed to the barcode reader is {width}×{height} with {channels} channel(s) but holds {len} bytes; \
         this is a bug in specdrop, please report it"
    )]
    BadPixels {
        width: u32,
        height: u32,
        channels: u8,
        len: usize,
    },
}
