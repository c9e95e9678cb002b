//! Which derivative is copied, resized or left out: Symbiota's sizing
//! rules (docs/symbiota.md (b)), made safe: never upscale, and only copy a
//! source that a browser shows exactly as we would.

use crate::DeriveConfig;

/// A source larger than this is re-encoded for the large size even when it
/// is narrow enough (Symbiota's `lgFileSizeLimit`).
pub const LARGE_COPY_MAX_BYTES: u64 = 10_000_000;
/// A source smaller than this (and under twice the web width) is served as
/// the web image itself (Symbiota's `MEDIA_FILE_SIZE_LIMIT`).
pub const WEB_COPY_MAX_BYTES: u64 = 300_000;
/// When the copied large image is narrower than this many web widths, no
/// separate web file is made (Symbiota's 1.3 x webPixWidth rule).
const WEB_FROM_LARGE_FACTOR: f64 = 1.3;

/// What the plan needs to know about a source.
#[derive(Debug, Clone, Copy)]
pub struct Source {
    /// Displayed width (after EXIF orientation).
    pub width: u32,
    pub bytes: u64,
    /// The file can be served as it is (plain JPEG, upright, not CMYK).
    pub web_safe: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Skip,
    Copy,
    /// Encode at this width (height keeps the aspect ratio).
    Resize(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebStep {
    Skip,
    Copy,
    Resize(u32),
    /// No web file; the large file serves as the web image.
    SameAsLarge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub large: Step,
    pub web: WebStep,
    pub thumbnail: Step,
}

impl Plan {
    pub fn new(source: &Source, config: &DeriveConfig) -> Plan {
        let large = if !config.large.enabled {
            Step::Skip
        } else if source.width <= config.large.width && source.bytes < LARGE_COPY_MAX_BYTES && source.web_safe {
            Step::Copy
        } else if source.width > config.large.width {
            Step::Resize(config.large.width)
        } else if source.bytes >= LARGE_COPY_MAX_BYTES {
            // Narrow but heavy: shrink so the file lands near the limit, as
            // Symbiota does (pixel count scales with bytes).
            let factor = (LARGE_COPY_MAX_BYTES as f64 / source.bytes as f64).sqrt();
            Step::Resize(((f64::from(source.width) * factor) as u32).max(1))
        } else {
            Step::Resize(source.width)
        };

        let web = if !config.web.enabled {
            WebStep::Skip
        } else if large == Step::Copy && f64::from(source.width) < WEB_FROM_LARGE_FACTOR * f64::from(config.web.width) {
            WebStep::SameAsLarge
        } else if source.bytes < WEB_COPY_MAX_BYTES
            && u64::from(source.width) < 2 * u64::from(config.web.width)
            && source.web_safe
        {
            WebStep::Copy
        } else {
            WebStep::Resize(config.web.width.min(source.width))
        };

        // Portals that want only the large image (it becomes url and
        // originalUrl).
        if config.large_only {
            return Plan {
                large,
                web: WebStep::Skip,
                thumbnail: Step::Skip,
            };
        }
        let thumbnail = if config.thumbnail.enabled {
            Step::Resize(config.thumbnail.width.min(source.width))
        } else {
            Step::Skip
        };
        Plan { large, web, thumbnail }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(width: u32, bytes: u64) -> Plan {
        Plan::new(
            &Source {
                width,
                bytes,
                web_safe: true,
            },
            &DeriveConfig::default(),
        )
    }

    #[test]
    fn full_resolution_sheet_gets_three_resized_files() {
        let p = plan(3753, 1_060_891);
        assert_eq!(p.large, Step::Resize(3200));
        assert_eq!(p.web, WebStep::Resize(1400));
        assert_eq!(p.thumbnail, Step::Resize(200));
    }

    #[test]
    fn small_sheet_gets_two_files_large_copied_and_doing_the_web_job() {
        let p = plan(1400, 923_364);
        assert_eq!(p.large, Step::Copy);
        assert_eq!(p.web, WebStep::SameAsLarge);
        assert_eq!(p.thumbnail, Step::Resize(200));
    }

    #[test]
    fn mid_width_light_file_is_copied_for_both_large_and_web() {
        let p = plan(2000, 250_000);
        assert_eq!(p.large, Step::Copy);
        assert_eq!(p.web, WebStep::Copy);
    }

    #[test]
    fn mid_width_heavy_file_gets_a_resized_web_image() {
        let p = plan(2600, 2_000_000);
        assert_eq!(p.large, Step::Copy);
        assert_eq!(p.web, WebStep::Resize(1400));
    }

    #[test]
    fn heavy_narrow_file_is_shrunk_by_the_byte_limit() {
        let p = plan(3000, 40_000_000);
        assert_eq!(p.large, Step::Resize(1500));
    }

    #[test]
    fn never_upscales() {
        let p = plan(150, 400_000);
        assert_eq!(p.large, Step::Copy);
        assert_eq!(p.web, WebStep::SameAsLarge);
        assert_eq!(p.thumbnail, Step::Resize(150));
        let p = Plan::new(
            &Source {
                width: 900,
                bytes: 500_000,
                web_safe: false,
            },
            &DeriveConfig::default(),
        );
        assert_eq!((p.large, p.web), (Step::Resize(900), WebStep::Resize(900)));
    }

    #[test]
    fn a_source_the_browser_would_show_differently_is_never_copied() {
        let p = Plan::new(
            &Source {
                width: 1400,
                bytes: 200_000,
                web_safe: false,
            },
            &DeriveConfig::default(),
        );
        assert_eq!(p.large, Step::Resize(1400));
        assert_eq!(p.web, WebStep::Resize(1400));
    }

    #[test]
    fn large_only_makes_one_file() {
        let config = DeriveConfig {
            large_only: true,
            ..DeriveConfig::default()
        };
        let p = Plan::new(
            &Source {
                width: 4000,
                bytes: 1_000_000,
                web_safe: true,
            },
            &config,
        );
        assert_eq!(
            (p.large, p.web, p.thumbnail),
            (Step::Resize(3200), WebStep::Skip, Step::Skip)
        );
    }

    #[test]
    fn disabled_sizes_are_skipped() {
        let mut config = DeriveConfig::default();
        config.web.enabled = false;
        config.thumbnail.enabled = false;
        let p = Plan::new(
            &Source {
                width: 4000,
                bytes: 1_000_000,
                web_safe: true,
            },
            &config,
        );
        assert_eq!((p.web, p.thumbnail), (WebStep::Skip, Step::Skip));
    }
}
