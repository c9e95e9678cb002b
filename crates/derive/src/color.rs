//! Colour: embedded ICC profiles converted to sRGB (`derive.color =
//! "srgb"`), or carried into every output (`"keep"`), never silently
//! dropped.
//!
//! Profiles that describe sRGB itself (the common case: scanners and
//! cameras set to sRGB) cost nothing; others (Adobe RGB, camera profiles)
//! are converted once, on the decoded source, with moxcms (pure Rust).
//! CMYK and YCCK sources are turned into RGB by the decoder (Adobe's
//! inverted convention handled); a CMYK profile is then not applied, and
//! with `"keep"` it is not carried (it would not describe RGB pixels).

use moxcms::{ColorProfile, DataColorSpace, Layout, TransformOptions};

use crate::DeriveError;
use crate::pixels::Decoded;

/// What to do with a source's profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Profile {
    /// No profile, or one describing sRGB: nothing to do.
    Srgb,
    /// An RGB profile to convert from.
    Convert(Vec<u8>),
    /// A profile to write into every output unchanged.
    Carry(Vec<u8>),
}

/// Decide for a source with embedded profile `icc` (and `grey` pixels).
pub fn plan(icc: Option<Vec<u8>>, grey: bool, keep: bool) -> Profile {
    let Some(icc) = icc.filter(|i| !i.is_empty()) else {
        return Profile::Srgb;
    };
    let Ok(profile) = ColorProfile::new_from_slice(&icc) else {
        // Unreadable: treated as sRGB, the web's assumption for untagged
        // images; carried when asked to keep.
        return if keep { Profile::Carry(icc) } else { Profile::Srgb };
    };
    let rgb = profile.color_space == DataColorSpace::Rgb;
    let gray = profile.color_space == DataColorSpace::Gray;
    match (keep, rgb, gray) {
        (true, true, _) if !grey => Profile::Carry(icc),
        (true, _, true) if grey => Profile::Carry(icc),
        (true, _, _) => Profile::Srgb,
        (false, true, _) if !grey && !describes_srgb(&profile) => Profile::Convert(icc),
        _ => Profile::Srgb,
    }
}

/// True for profiles with sRGB's primaries (within rounding), whatever
/// their name: the gamut is what a conversion would change; tone curves of
/// "sRGB-like" camera profiles differ too little to be worth a pass.
fn describes_srgb(profile: &ColorProfile) -> bool {
    let srgb = ColorProfile::new_srgb();
    let close = |a: moxcms::Xyzd, b: moxcms::Xyzd| {
        (a.x - b.x).abs() < 0.002 && (a.y - b.y).abs() < 0.002 && (a.z - b.z).abs() < 0.002
    };
    close(profile.red_colorant, srgb.red_colorant)
        && close(profile.green_colorant, srgb.green_colorant)
        && close(profile.blue_colorant, srgb.blue_colorant)
}

/// Convert RGB pixels from the profile `icc` to sRGB.
pub fn to_srgb(image: &mut Decoded, icc: &[u8]) -> Result<(), DeriveError> {
    let unusable = |e: moxcms::CmsError| {
        DeriveError::Color(format!(
            "the embedded colour profile cannot be applied ({e}); set derive.color = \"keep\" to carry it instead"
        ))
    };
    let source = ColorProfile::new_from_slice(icc).map_err(unusable)?;
    let transform = source
        .create_transform_8bit(
            Layout::Rgb,
            &ColorProfile::new_srgb(),
            Layout::Rgb,
            TransformOptions::default(),
        )
        .map_err(unusable)?;
    // Row by row through one row buffer: no second full-size image.
    let row = image.width as usize * 3;
    let mut converted = vec![0u8; row];
    for line in image.pixels.chunks_mut(row) {
        let out = &mut converted[..line.len()];
        transform.transform(line, out).map_err(unusable)?;
        line.copy_from_slice(out);
    }
    Ok(())
}
