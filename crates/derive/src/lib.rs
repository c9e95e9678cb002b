//! One source JPEG in, web-ready JPEG derivatives out.
//!
//! The crate decodes a source once, applies Symbiota's "use the source
//! as-is when it is already small enough" rules ([`plan`]), resizes with a
//! Catmull-Rom filter in a cascade (large -> web -> thumbnail) and encodes each
//! size. [`store`] writes the results atomically under the image library
//! with Symbiota's folder layout and URL-safe names ([`layout`]).
//!
//! It knows nothing of databases or drop folders; `specdrop` composes it.

mod color;
mod config;
mod credit;
mod decode;
mod encode;
mod error;
pub mod formats;
pub mod layout;
mod orient;
mod pixels;
pub mod plan;
mod pool;
mod resize;
mod scaled;
pub mod store;
mod workers;

pub use config::{ColorMode, DeriveConfig, SizeSpec};
pub use credit::Credit;
pub use encode::ENCODER;
pub use error::DeriveError;
pub use formats::Format;
pub use orient::Turn;
pub use workers::Workers;

use pixels::Decoded;
use plan::{Plan, Step, WebStep};

/// One encoded derivative, ready to be written.
#[derive(Debug, Clone)]
pub struct Derivative {
    pub width: u32,
    pub height: u32,
    /// JPEG bytes.
    pub data: Vec<u8>,
    /// True when `data` is the source file itself: its image data byte for
    /// byte, its metadata reduced to the credit (credit.rs).
    pub copied: bool,
}

/// The web-size image: its own file, or the large file doing both jobs
/// (Symbiota makes no web file when the copied source is barely wider than
/// the web size).
#[derive(Debug, Clone)]
pub enum Web {
    Own(Derivative),
    SameAsLarge,
}

/// Everything `build` made from one source.
#[derive(Debug, Clone)]
pub struct Derivatives {
    pub source_width: u32,
    pub source_height: u32,
    pub large: Option<Derivative>,
    pub web: Option<Web>,
    pub thumbnail: Option<Derivative>,
    /// Whose image it is, as the source's EXIF/XMP says; every derivative
    /// carries its EXIF Artist and Copyright and no other metadata.
    pub credit: Credit,
}

impl Derivatives {
    /// Number of files this set will write.
    pub fn file_count(&self) -> usize {
        usize::from(self.large.is_some())
            + usize::from(matches!(self.web, Some(Web::Own(_))))
            + usize::from(self.thumbnail.is_some())
    }

    /// Bytes this set will write.
    pub fn bytes(&self) -> u64 {
        let web = match &self.web {
            Some(Web::Own(d)) => Some(d),
            _ => None,
        };
        [self.large.as_ref(), web, self.thumbnail.as_ref()]
            .into_iter()
            .flatten()
            .map(|d| d.data.len() as u64)
            .sum()
    }
}

/// Pixel size of `source` (as displayed) from its header alone, after the
/// checks `build` makes before decoding: a format in `formats`, within
/// `max_pixels`. Cheap: lets a caller refuse a file before doing anything
/// else with it.
pub fn probe(source: &[u8], max_pixels: u64, formats: &[Format]) -> Result<(u32, u32), DeriveError> {
    match formats::sniff(source) {
        formats::Sniffed::Image(Format::Jpeg) if formats.contains(&Format::Jpeg) => {
            let header = decode::open(source, max_pixels, &[Format::Jpeg])?.header;
            Ok((header.width, header.height))
        }
        formats::Sniffed::Image(format) if formats.contains(&format) => {
            let (w, h) = formats::dimensions(source, format)?;
            formats::check_size(w, h, max_pixels)?;
            Ok((w, h))
        }
        other => Err(formats::refusal(other)),
    }
}

/// Width and height (as displayed) of the pixels `build` will decode
/// `source` to: the full size, or a DCT scale of it when every output,
/// and `look_width` for [`build_and_look`], fits in less. What a worker
/// holds while it derives follows from this, before any pixel is decoded.
pub fn decoded_size(source: &[u8], config: &DeriveConfig, look_width: Option<u32>) -> Result<(u32, u32), DeriveError> {
    // Only JPEGs are scaled, and opening another format decodes it.
    if !matches!(formats::sniff(source), formats::Sniffed::Image(Format::Jpeg)) {
        return probe(source, config.max_pixels, &config.formats);
    }
    let opened = decode::open(source, config.max_pixels, &config.formats)?;
    let header = &opened.header;
    let plan = plan_for(source, header, config);
    let denominator = scaled::denominator(header, needed_width(&plan, header, look_width));
    Ok(scaled::size(header, denominator))
}

fn plan_for(source: &[u8], header: &decode::Header, config: &DeriveConfig) -> Plan {
    Plan::new(
        &plan::Source {
            width: header.width,
            bytes: source.len() as u64,
            web_safe: header.web_safe,
        },
        config,
    )
}

/// The fewest pixels across that every resized output (and the look) can
/// be made from without upscaling.
fn needed_width(plan: &Plan, header: &decode::Header, look_width: Option<u32>) -> u32 {
    let web = match plan.web {
        WebStep::Resize(width) => Some(width),
        _ => None,
    };
    let resized = [plan.large, plan.thumbnail]
        .into_iter()
        .filter_map(|step| match step {
            Step::Resize(width) => Some(width),
            _ => None,
        })
        .chain(web)
        .max()
        .unwrap_or(1);
    resized.max(look_width.map_or(1, |w| w.min(header.width)))
}

/// The decoded source, lent to a caller while [`build_and_look`] has it:
/// 1 (grey) or 3 (RGB) interleaved 8-bit channels, row by row; at full
/// size, or at a DCT scale at least the look's width across.
#[derive(Debug, Clone, Copy)]
pub struct View<'a> {
    pub width: u32,
    pub height: u32,
    pub channels: u8,
    pub pixels: &'a [u8],
}

/// Whether the source's EXIF orientation turns or mirrors it: then that,
/// not a [`Turn`] read from the pixels, says which way is up.
pub fn exif_orients(source: &[u8], config: &DeriveConfig) -> Result<bool, DeriveError> {
    let opened = decode::open(source, config.max_pixels, &config.formats)?;
    Ok(opened.header.orientation != orient::Orientation::Normal)
}

/// The source at full size in grey (one byte per pixel, rows top to
/// bottom, EXIF orientation applied, else `turn`), for a program that
/// reads the sheet's text.
pub fn grey(source: &[u8], config: &DeriveConfig, turn: Turn) -> Result<Grey, DeriveError> {
    let mut opened = decode::open(source, config.max_pixels, &config.formats)?;
    opened.turn(turn);
    let decoded = opened.into_grey().decode()?;
    Ok(Grey {
        width: decoded.width,
        height: decoded.height,
        pixels: decoded.pixels,
    })
}

/// What [`grey`] gives.
#[derive(Debug, Clone)]
pub struct Grey {
    pub width: u32,
    pub height: u32,
    pub pixels: Vec<u8>,
}

impl Grey {
    /// The header of a binary PGM (netpbm P5) holding these pixels: what
    /// a reader program is handed on its standard input.
    pub fn pgm_header(&self) -> Vec<u8> {
        format!("P5\n{} {}\n255\n", self.width, self.height).into_bytes()
    }
}

/// Decode `source` (the bytes of a JPEG file) once and build the derivatives
/// `config` asks for.
///
/// Fails with a reason that names what is wrong with the file; nothing is
/// half-made: a truncated or corrupt JPEG never yields a derivative.
pub fn build(source: &[u8], config: &DeriveConfig) -> Result<Derivatives, DeriveError> {
    build_inner(source, config, Turn::None, None)
}

/// [`build`] or [`build_and_look`] (when `look` is given), with the
/// derivatives (and the look) turned by `turn` unless the EXIF orientation
/// says how the source is turned.
pub fn build_turned(
    source: &[u8],
    config: &DeriveConfig,
    turn: Turn,
    look: Option<(u32, Look<'_>)>,
) -> Result<Derivatives, DeriveError> {
    build_inner(source, config, turn, look)
}

/// [`build`], then lend `look` the pixels already decoded for the
/// derivatives (no second decode), at least `look_width` pixels across
/// (or the full width, if less): a sheet far wider than its outputs is
/// decoded at a DCT scale, and this keeps enough of it for the look.
pub fn build_and_look(
    source: &[u8],
    config: &DeriveConfig,
    look_width: u32,
    look: Look<'_>,
) -> Result<Derivatives, DeriveError> {
    build_inner(source, config, Turn::None, Some((look_width, look)))
}

/// What [`build_and_look`] lends the pixels to.
pub type Look<'a> = &'a mut dyn FnMut(View<'_>);

fn build_inner(
    source: &[u8],
    config: &DeriveConfig,
    turn: Turn,
    look: Option<(u32, Look<'_>)>,
) -> Result<Derivatives, DeriveError> {
    let mut opened = decode::open(source, config.max_pixels, &config.formats)?;
    opened.turn(turn);
    let header = opened.header.clone();
    let credit = Credit::of_jpeg(source);
    let plan = plan_for(source, &header, config);
    let denominator = scaled::denominator(&header, needed_width(&plan, &header, look.as_ref().map(|l| l.0)));
    let profile = color::plan(header.icc.clone(), header.grey, config.color == ColorMode::Keep);
    // A full decode fills a buffer from the worker's spares (pool.rs); a
    // scaled one gets its own from jpeg-decoder, unless turning it upright
    // copied it into a spare.
    let small = match denominator {
        1 => None,
        d => scaled::decode(source, &header, d)?,
    };
    let pool_source = small.is_none() || header.orientation != orient::Orientation::Normal;
    let mut decoded = match small {
        Some(decoded) => decoded,
        None => opened.decode()?,
    };
    if let color::Profile::Convert(icc) = &profile {
        color::to_srgb(&mut decoded, icc)?;
    }
    let carry = match &profile {
        color::Profile::Carry(icc) => Some(icc.as_slice()),
        _ => None,
    };
    let mut cascade = resize::Cascade::new(decoded, pool_source);

    // The look first, while the decoded sheet is all the worker holds.
    if let Some((_, look)) = look {
        let image = cascade.full();
        look(View {
            width: image.width,
            height: image.height,
            channels: image.channels,
            pixels: &image.pixels,
        });
    }
    let large = match plan.large {
        Step::Skip => None,
        Step::Copy => Some(copy_of(source, &header, &credit)),
        Step::Resize(width) => {
            // Made, then encoded without the sheet held beside it, when
            // every smaller size can come from it.
            cascade.at_width(width)?;
            if smaller_sizes_fit_in(&plan, width) {
                cascade.let_source_go();
            }
            Some(encoded(&mut cascade, width, config.large.quality, carry, &credit)?)
        }
    };
    let web = match plan.web {
        WebStep::Skip => None,
        WebStep::SameAsLarge => Some(Web::SameAsLarge),
        WebStep::Copy => Some(Web::Own(copy_of(source, &header, &credit))),
        WebStep::Resize(width) => Some(Web::Own(encoded(
            &mut cascade,
            width,
            config.web.quality,
            carry,
            &credit,
        )?)),
    };
    let thumbnail = match plan.thumbnail {
        Step::Skip => None,
        Step::Copy => Some(copy_of(source, &header, &credit)),
        Step::Resize(width) => Some(encoded(&mut cascade, width, config.thumbnail.quality, carry, &credit)?),
    };
    Ok(Derivatives {
        source_width: header.width,
        source_height: header.height,
        large,
        web,
        thumbnail,
        credit,
    })
}

/// Whether the web and thumbnail sizes the plan resizes to are no wider
/// than `large` (a config may ask for a web image wider than the large
/// one, and a heavy narrow source gets a large image below the web width).
fn smaller_sizes_fit_in(plan: &Plan, large: u32) -> bool {
    let web = match plan.web {
        WebStep::Resize(width) => width,
        _ => 0,
    };
    let thumbnail = match plan.thumbnail {
        Step::Resize(width) => width,
        _ => 0,
    };
    web <= large && thumbnail <= large
}

fn copy_of(source: &[u8], header: &decode::Header, credit: &Credit) -> Derivative {
    Derivative {
        width: header.width,
        height: header.height,
        data: credit.onto_copy(source),
        copied: true,
    }
}

fn encoded(
    cascade: &mut resize::Cascade,
    width: u32,
    quality: u8,
    icc: Option<&[u8]>,
    credit: &Credit,
) -> Result<Derivative, DeriveError> {
    let image: &Decoded = cascade.at_width(width)?;
    let data = credit.onto_encoded(encode::jpeg(image, quality, icc)?);
    Ok(Derivative {
        width: image.width,
        height: image.height,
        data,
        copied: false,
    })
}
