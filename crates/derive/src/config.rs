//! The `[derive]` section of specdrop's config, with Symbiota's defaults.

use serde::Deserialize;

/// One derivative size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SizeSpec {
    /// Target width in pixels; never upscaled.
    pub width: u32,
    /// JPEG quality, 1-100.
    #[serde(default = "default_quality")]
    pub quality: u8,
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn default_quality() -> u8 {
    80
}

fn yes() -> bool {
    true
}

/// How colour is handled: convert embedded profiles to sRGB, or carry
/// them into the outputs unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ColorMode {
    #[default]
    Srgb,
    Keep,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeriveConfig {
    pub large: SizeSpec,
    pub web: SizeSpec,
    pub thumbnail: SizeSpec,
    pub large_only: bool,
    /// Sources with more pixels than this are refused before decoding.
    pub max_pixels: u64,
    /// Source files larger than this many MiB are refused before they are
    /// read (a source is held in memory while it is processed).
    pub max_file_mb: u64,
    pub color: ColorMode,
    pub hash_in_name: bool,
    /// Source formats taken: JPEG by default; PNG and WebP when listed.
    pub formats: Vec<crate::Format>,
    /// Stand sheets photographed sideways or upside down upright, as the
    /// orientation of their label text says, when the EXIF says nothing.
    /// The crate only carries the switch: the caller reads the text and
    /// passes the [`crate::Turn`].
    pub auto_rotate: bool,
}

impl Default for DeriveConfig {
    fn default() -> Self {
        let size = |width| SizeSpec {
            width,
            quality: default_quality(),
            enabled: true,
        };
        DeriveConfig {
            large: size(3200),
            web: size(1400),
            thumbnail: size(200),
            large_only: false,
            max_pixels: 300_000_000,
            max_file_mb: 256,
            color: ColorMode::Srgb,
            hash_in_name: false,
            formats: vec![crate::Format::Jpeg],
            auto_rotate: false,
        }
    }
}

impl DeriveConfig {
    /// Problems with the values, each as `(key, what to do)`.
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        for (name, spec) in [
            ("large", &self.large),
            ("web", &self.web),
            ("thumbnail", &self.thumbnail),
        ] {
            if spec.width == 0 {
                problems.push((format!("derive.{name}.width"), "must be at least 1 pixel".to_string()));
            }
            if !(1..=100).contains(&spec.quality) {
                problems.push((
                    format!("derive.{name}.quality"),
                    format!(
                        "is {}; JPEG quality must be between 1 and 100 (80 is Symbiota's default)",
                        spec.quality
                    ),
                ));
            }
        }
        if self.large_only && !self.large.enabled {
            problems.push((
                "derive.large_only".into(),
                "is true but derive.large.enabled is false: nothing would be made".into(),
            ));
        }
        if !(self.large.enabled || self.web.enabled || self.thumbnail.enabled) {
            problems.push((
                "derive".into(),
                "large, web and thumbnail are all disabled; enable at least one".into(),
            ));
        }
        if self.formats.is_empty() {
            problems.push(("derive.formats".into(), "is empty; list at least \"jpeg\"".into()));
        }
        if self.max_file_mb == 0 {
            problems.push(("derive.max_file_mb".into(), "must be above 0 (default 256)".into()));
        }
        if self.max_pixels == 0 {
            problems.push(("derive.max_pixels".into(), "must be above 0 (default 300000000)".into()));
        }
        problems
    }
}
