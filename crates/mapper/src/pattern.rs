//! The collection's catalog-number pattern.
//!
//! Portals moving from Symbiota paste patterns in PHP form, with
//! delimiters and flags (`/^(ASU-L-\d{7})\D*/i`); plain patterns work too.
//! A pattern without a capture group is refused when the config is read,
//! not on the first file.

use regex::Regex;

#[derive(Debug, Clone)]
pub struct CatalogPattern {
    regex: Regex,
    replace: Option<(Regex, String)>,
}

/// PHP (PCRE) delimiters seen in Symbiota configs.
const DELIMITERS: [char; 8] = ['/', '#', '~', '%', '@', '!', '|', '+'];

impl CatalogPattern {
    /// Compile `pattern` and the optional `replace = [regex, replacement]`.
    /// The error is a sentence for the config report.
    pub fn new(pattern: &str, replace: Option<(&str, &str)>) -> Result<CatalogPattern, String> {
        let regex = compile(pattern)?;
        if regex.captures_len() < 2 {
            return Err(format!(
                "{pattern:?} has no capture group; put the catalog number in parentheses, e.g. '^(MICH-V-\\d{{7}})'"
            ));
        }
        let replace = match replace {
            Some((from, to)) => Some((compile(from)?, php_backrefs(to))),
            None => None,
        };
        Ok(CatalogPattern { regex, replace })
    }

    /// The catalog number in `file_name` (capture group 1, then the
    /// replacement), or `None` when the pattern does not match.
    pub fn catalog_number(&self, file_name: &str) -> Option<String> {
        let captured = self.regex.captures(file_name)?.get(1)?.as_str();
        let number = match &self.replace {
            Some((from, to)) => from.replace_all(captured, to.as_str()).into_owned(),
            None => captured.to_string(),
        };
        let number = number.trim();
        (!number.is_empty()).then(|| number.to_string())
    }
}

fn compile(pattern: &str) -> Result<Regex, String> {
    let source = php_form(pattern).unwrap_or_else(|| pattern.to_string());
    Regex::new(&source).map_err(|e| format!("{pattern:?} is not a valid regular expression: {e}"))
}

/// `/body/flags` -> `(?flags)body`, or `None` when `pattern` is plain.
fn php_form(pattern: &str) -> Option<String> {
    let delimiter = pattern.chars().next().filter(|c| DELIMITERS.contains(c))?;
    let close = pattern.rfind(delimiter).filter(|&i| i > 0)?;
    let (body, flags) = (&pattern[1..close], &pattern[close + 1..]);
    if !flags.chars().all(|c| "imsxuUD".contains(c)) {
        return None;
    }
    // `u` (UTF-8) and `D` (dollar end only) are how Rust's regex works anyway.
    let flags: String = flags.chars().filter(|c| "imsxU".contains(*c)).collect();
    Some(if flags.is_empty() {
        body.to_string()
    } else {
        format!("(?{flags}){body}")
    })
}

/// PHP replacements write `\1` or `$1`; Rust's regex wants `${1}`.
fn php_backrefs(replacement: &str) -> String {
    let mut out = String::with_capacity(replacement.len());
    let mut chars = replacement.chars().peekable();
    while let Some(c) = chars.next() {
        let digit_follows = chars.peek().is_some_and(char::is_ascii_digit);
        if (c == '\\' || c == '$') && digit_follows {
            let mut group = String::new();
            while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                group.push(*d);
                chars.next();
            }
            out.push_str(&format!("${{{group}}}"));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn number(pattern: &str, name: &str) -> Option<String> {
        CatalogPattern::new(pattern, None).ok()?.catalog_number(name)
    }

    #[test]
    fn plain_and_php_patterns() {
        assert_eq!(
            number(r"^(MICH-V-\d{7})\D*", "MICH-V-1390992.jpg").as_deref(),
            Some("MICH-V-1390992")
        );
        assert_eq!(
            number(r"/^(ASU-L-\d{7})\D*/", "ASU-L-0001234_a.jpg").as_deref(),
            Some("ASU-L-0001234")
        );
        assert_eq!(
            number(r"/^(asu-l-\d{7})\D*/i", "ASU-L-0001234.JPG").as_deref(),
            Some("ASU-L-0001234")
        );
        assert_eq!(
            number(r"#^MICH_(\d+)#", "MICH_16205594_Poaceae.jpg").as_deref(),
            Some("16205594")
        );
        assert_eq!(number(r"^(MICH-V-\d{7})", "IMG_0001.jpg"), None);
    }

    #[test]
    fn pattern_without_capture_group_is_refused() {
        let err = CatalogPattern::new(r"^MICH-V-\d{7}", None).err();
        assert!(err.is_some_and(|e| e.contains("no capture group")));
        let err = CatalogPattern::new(r"^(MICH", None).err();
        assert!(err.is_some_and(|e| e.contains("not a valid regular expression")));
    }

    #[test]
    fn replace_normalises_the_capture() -> Result<(), String> {
        let p = CatalogPattern::new(r"^(\d+)", Some((r"^(\d+)$", "MICH-V-\\1")))?;
        assert_eq!(p.catalog_number("1390992.jpg").as_deref(), Some("MICH-V-1390992"));
        let p = CatalogPattern::new(r"^(\d+)", Some((r"^", "X$0")))?;
        assert_eq!(p.catalog_number("12.jpg").as_deref(), Some("X12"));
        Ok(())
    }

    #[test]
    fn backrefs_are_translated() {
        assert_eq!(php_backrefs(r"A\1-$2$"), "A${1}-${2}$");
    }
}
