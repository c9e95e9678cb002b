//! The `format` column of a media row: the MIME type Symbiota shows and
//! serves the file as, from the extension of its URL or file name. One
//! answer for every caller: links made from skeletal files'
//! `associatedMedia`, from `import-links` lists and from remote folders.

/// The MIME type of the image `url` (or file name) points to, from its
/// extension, case-insensitively: PNG, WebP and TIFF by name, anything
/// else (`.jpg`, `.jpeg`, no extension) is taken for a JPEG, the format
/// Symbiota's own loaders write.
pub fn for_url(url: &str) -> &'static str {
    let lower = url.to_ascii_lowercase();
    if lower.ends_with(".png") {
        "image/png"
    } else if lower.ends_with(".webp") {
        "image/webp"
    } else if lower.ends_with(".tif") || lower.ends_with(".tiff") {
        "image/tiff"
    } else {
        "image/jpeg"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_extension_either_caller_named_gets_its_type() {
        let cases = [
            ("https://x.org/a/ASU-L-0001234.jpg", "image/jpeg"),
            ("https://x.org/a/ASU-L-0001234.JPEG", "image/jpeg"),
            ("MICH-V-1390992.png", "image/png"),
            ("https://x.org/a/b.PNG", "image/png"),
            ("https://x.org/a/b.webp", "image/webp"),
            ("https://x.org/a/b.WebP", "image/webp"),
            ("https://x.org/a/b.tif", "image/tiff"),
            ("https://x.org/a/b.TIFF", "image/tiff"),
            ("https://x.org/a/no-extension", "image/jpeg"),
            ("https://x.org/a.png/b.jpg", "image/jpeg"),
        ];
        for (url, format) in cases {
            assert_eq!(for_url(url), format, "{url}");
        }
    }
}
