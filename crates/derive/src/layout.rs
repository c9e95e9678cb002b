//! Where derivatives live in the image library and what they are called:
//! Symbiota's layout (docs/symbiota.md (b)) with names made URL-safe, so
//! stored URLs never need escaping.

/// Replace every character outside `A-Z a-z 0-9 . _ -` with `_`.
pub fn url_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `<institutionCode>_<collectionCode>`, spaces removed, as Symbiota names
/// a collection's folder.
pub fn collection_fragment(institution_code: &str, collection_code: Option<&str>) -> String {
    let joined = match collection_code.map(str::trim).filter(|c| !c.is_empty()) {
        Some(code) => format!("{institution_code}_{code}"),
        None => institution_code.to_string(),
    };
    url_safe(&joined.replace(' ', ""))
}

/// The per-catalog-number folder: the number (cut after its first digit
/// run) minus its last three characters, so about a thousand specimens
/// share a folder; short numeric results are zero-padded to five
/// characters. Numbers of three characters or fewer go into `year_month`
/// (`YYYYMM`).
pub fn catalog_fragment(catalog_number: &str, year_month: &str) -> String {
    let chars: Vec<char> = catalog_number.chars().collect();
    if chars.len() <= 3 {
        return year_month.to_string();
    }
    let mut kept = &chars[..];
    if let Some(first_digit) = chars.iter().position(char::is_ascii_digit) {
        let run_end = chars[first_digit..]
            .iter()
            .position(|c| !c.is_ascii_digit())
            .map(|n| first_digit + n);
        if let Some(end) = run_end {
            kept = &chars[..end];
        }
    }
    let cut = kept.len().saturating_sub(3);
    let fragment: String = kept[..cut]
        .iter()
        .filter(|c| !matches!(c, '.' | '\\' | '/' | '#' | ' '))
        .collect();
    if fragment.is_empty() {
        return year_month.to_string();
    }
    let padded = if fragment.len() < 5 && fragment.starts_with(|c: char| c.is_ascii_digit()) {
        format!("{fragment:0>5}")
    } else {
        fragment
    };
    // A catalog number read from a barcode can be of any length.
    url_safe(&padded).chars().take(MAX_STEM).collect()
}

/// Characters a stem keeps at most: with `_med`, a hash tag, `_N` and
/// `.jpg` a name stays far below the 255 bytes file systems allow.
pub const MAX_STEM: usize = 120;

/// The URL-safe base name derivatives of `source_file_name` get (before
/// any `_1`-style suffix): the name without its extension. The name may
/// come from a barcode's text, so it is made safe whatever it holds: no
/// separators (`url_safe`), no leading dot (a hidden file, and names
/// starting `.specdrop-` are removed as temporaries at start-up), at most
/// [`MAX_STEM`] characters, never empty.
pub fn stem(source_file_name: &str) -> String {
    let stem = match source_file_name.rsplit_once('.') {
        Some((stem, _)) if !stem.is_empty() => stem,
        _ => source_file_name,
    };
    let mut safe: String = url_safe(stem).chars().take(MAX_STEM).collect();
    if safe.starts_with('.') || safe.is_empty() {
        safe.insert(0, '_');
    }
    safe
}

/// File names of one derivative set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    pub large: String,
    pub web: String,
    pub thumbnail: String,
}

impl Names {
    /// Names for a source file name: large keeps the stem, web adds `_med`,
    /// thumbnail `_tn`, all `.jpg` (also for `.jpeg` sources). `tag` (a
    /// short content hash, `derive.hash_in_name`) follows the stem, so a
    /// replaced image gets new URLs that no cache holds. `attempt` > 0 adds
    /// `_1`, `_2`... so an existing image is never overwritten.
    pub fn for_source(source_file_name: &str, tag: Option<&str>, attempt: u32) -> Names {
        let mut stem = stem(source_file_name);
        if let Some(tag) = tag {
            stem = format!("{stem}_{}", url_safe(tag));
        }
        if attempt > 0 {
            stem = format!("{stem}_{attempt}");
        }
        Names {
            large: format!("{stem}.jpg"),
            web: format!("{stem}_med.jpg"),
            thumbnail: format!("{stem}_tn.jpg"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_fragments_follow_symbiota() {
        assert_eq!(catalog_fragment("ASU-L-0001236", "202611"), "ASU-L-0001");
        assert_eq!(catalog_fragment("1390992", "202611"), "01390");
        assert_eq!(catalog_fragment("MICH-V-1390992", "202611"), "MICH-V-1390");
        assert_eq!(catalog_fragment("ABC123-2", "202611"), "ABC");
        assert_eq!(catalog_fragment("123", "202611"), "202611");
        assert_eq!(catalog_fragment("12-3456", "202611"), "202611");
        assert_eq!(catalog_fragment("A B#1234567", "202611"), "AB1234");
        assert_eq!(catalog_fragment("A B#12.34567", "202611"), "AB");
    }

    #[test]
    fn names_are_url_safe_and_jpeg_gets_jpg() {
        let n = Names::for_source("MICH V (1390992).JPEG", None, 0);
        assert_eq!(n.large, "MICH_V__1390992_.jpg");
        assert_eq!(n.web, "MICH_V__1390992__med.jpg");
        assert_eq!(n.thumbnail, "MICH_V__1390992__tn.jpg");
        let n = Names::for_source("x.jpeg", None, 2);
        assert_eq!((n.large.as_str(), n.web.as_str()), ("x_2.jpg", "x_2_med.jpg"));
        let n = Names::for_source("x.jpg", Some("1a2b3c4d"), 0);
        assert_eq!(
            (n.large.as_str(), n.thumbnail.as_str()),
            ("x_1a2b3c4d.jpg", "x_1a2b3c4d_tn.jpg")
        );
        assert_eq!(url_safe("a'b;c/ü.jpg"), "a_b_c__.jpg");
    }

    #[test]
    fn names_from_barcode_text_are_safe() {
        // A barcode value made into a name: `<value>.jpg`.
        assert_eq!(stem(".specdrop-abc.jpg"), "_.specdrop-abc");
        assert_eq!(stem("../../etc/passwd.jpg"), "_.._.._etc_passwd");
        assert_eq!(stem("a/b\\c.jpg"), "a_b_c");
        assert_eq!(stem(".jpg"), "_.jpg");
        let long = format!("{}.jpg", "9".repeat(400));
        assert_eq!(stem(&long).len(), MAX_STEM);
        assert!(catalog_fragment(&"7".repeat(400), "202612").len() <= MAX_STEM);
        let n = Names::for_source(".hidden.jpg", None, 0);
        assert!(!n.large.starts_with('.') && !n.web.starts_with('.') && !n.thumbnail.starts_with('.'));
    }

    #[test]
    fn collection_fragment_drops_spaces() {
        assert_eq!(collection_fragment("MICH", Some("Vascular")), "MICH_Vascular");
        assert_eq!(collection_fragment("ASU", Some("Lichen Herb")), "ASU_LichenHerb");
        assert_eq!(collection_fragment("ASU", None), "ASU");
    }
}
