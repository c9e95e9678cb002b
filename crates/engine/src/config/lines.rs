//! Finding config problems' lines, and getting past the first one.
//!
//! serde stops at the first unknown key or bad value. To report every
//! problem at once, the offending line is noted and blanked out (a table
//! header blanks its whole table), and the text parsed again; the lines
//! keep their numbers. Keys are named as `check` names them:
//! `storage.root`, `collection[1].pattern`.

use std::collections::HashMap;

/// A problem in the config file, with the line it is on when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: String,
    pub line: Option<usize>,
    pub message: String,
}

/// How many different problems one parse may get past.
const MAX_PASSES: usize = 64;

/// Deserialize `text`, collecting every unknown key and bad value rather
/// than only the first. `None` when the TOML itself cannot be read (one
/// syntax problem is reported then: nothing after it can be trusted).
pub fn parse_all<T: serde::de::DeserializeOwned>(text: &str) -> (Option<T>, Vec<Problem>) {
    let mut problems = Vec::new();
    if let Err(e) = text.parse::<toml::Table>() {
        let line = e.span().map(|s| line_of(text, s.start));
        problems.push(Problem {
            key: "(syntax)".into(),
            line,
            message: e.message().trim_end().to_string(),
        });
        return (None, problems);
    }
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for _ in 0..MAX_PASSES {
        let current = lines.join("\n");
        let e = match toml::from_str::<T>(&current) {
            Ok(value) => {
                // serde's order is not the file's.
                problems.sort_by_key(|p| p.line);
                return (Some(value), problems);
            }
            Err(e) => e,
        };
        let Some(span) = e.span() else {
            problems.push(Problem {
                key: "(file)".into(),
                line: None,
                message: e.message().to_string(),
            });
            return (None, problems);
        };
        let first = line_of(&current, span.start);
        let last = line_of(&current, span.end.saturating_sub(1).max(span.start));
        problems.push(Problem {
            key: key_at(&current, first),
            line: Some(first),
            message: e.message().trim_end().to_string(),
        });
        let before = lines.clone();
        let is_header = lines.get(first - 1).is_some_and(|l| l.trim_start().starts_with('['));
        let end = if is_header {
            // The whole table goes: its keys would land in the table above.
            let next = lines
                .iter()
                .enumerate()
                .skip(first)
                .find(|(_, l)| l.trim_start().starts_with('['))
                .map_or(lines.len(), |(i, _)| i);
            next.max(last)
        } else {
            last
        };
        for line in lines.iter_mut().take(end).skip(first - 1) {
            line.clear();
        }
        if lines == before {
            return (None, problems);
        }
    }
    (None, problems)
}

/// 1-based line of byte `offset`.
pub fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()
        .iter()
        .take(offset.min(text.len()))
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// Each key's path (`collection[0].pattern`) and table's path
/// (`collection[0]`, `storage`) with the line it first appears on.
pub fn key_lines(text: &str) -> HashMap<String, usize> {
    let mut found = HashMap::new();
    walk(text, |line, path| {
        found.entry(path.to_string()).or_insert(line);
    });
    found
}

/// The line `key` is on, or failing that the line of the nearest table
/// that holds it (a required key that is missing is reported at its
/// table).
pub fn locate(lines: &HashMap<String, usize>, key: &str) -> Option<usize> {
    let mut key = key.split('/').next().unwrap_or(key);
    loop {
        if let Some(line) = lines.get(key) {
            return Some(*line);
        }
        key = &key[..key.rfind(['.', '['])?];
    }
}

/// The key path defined or opened on `line`.
fn key_at(text: &str, line: usize) -> String {
    let mut at = String::new();
    walk(text, |l, path| {
        if l == line && at.is_empty() {
            at = path.to_string();
        }
    });
    if at.is_empty() { "(file)".into() } else { at }
}

/// Call `seen(line, path)` for every table header and `key =` line.
fn walk(text: &str, mut seen: impl FnMut(usize, &str)) {
    let mut table = String::new();
    let mut arrays: HashMap<String, usize> = HashMap::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if let Some(name) = line.strip_prefix("[[").and_then(|l| l.split("]]").next()) {
            let name = clean_key(name);
            let index = arrays.entry(name.clone()).or_insert(0);
            table = format!("{name}[{index}]");
            *index += 1;
            seen(i + 1, &table);
        } else if let Some(name) = line.strip_prefix('[').and_then(|l| l.split(']').next()) {
            let name = clean_key(name);
            // `[collection.media]` belongs to the last `[[collection]]`.
            table = match name.split_once('.') {
                Some((array, rest)) if arrays.contains_key(array) => {
                    format!("{array}[{}].{rest}", arrays[array] - 1)
                }
                _ => name,
            };
            seen(i + 1, &table);
        } else if !line.starts_with('#')
            && let Some((key, _)) = line.split_once('=')
        {
            let key = clean_key(key);
            if key.is_empty() {
                continue;
            }
            let path = if table.is_empty() {
                key
            } else {
                format!("{table}.{key}")
            };
            seen(i + 1, &path);
        }
    }
}

fn clean_key(key: &str) -> String {
    key.split('.')
        .map(|part| part.trim().trim_matches(['"', '\'']))
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "state_dir = \"x\"\n\n[storage]\nroot = \"r\"\n\n[[collection]]\ncode = \"A\"\n\n[[collection]]\ncode = \"B\"\npattern = '(x)'\n[collection.media]\nrights = \"cc\"\n";

    #[test]
    fn keys_and_tables_have_their_lines() {
        let lines = key_lines(TEXT);
        assert_eq!(lines.get("state_dir"), Some(&1));
        assert_eq!(lines.get("storage.root"), Some(&4));
        assert_eq!(lines.get("collection[1].pattern"), Some(&11));
        assert_eq!(lines.get("collection[1].media.rights"), Some(&13));
        assert_eq!(locate(&lines, "collection[1].collid"), Some(9));
        assert_eq!(locate(&lines, "collection[0].pattern/replace"), Some(6));
        assert_eq!(locate(&lines, "metrics.listen"), None);
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Small {
        a: Option<u32>,
        b: Option<u32>,
        section: Option<Section>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Section {
        c: Option<String>,
    }

    #[test]
    fn every_unknown_key_and_bad_value_is_reported() {
        let text = "a = 1\nzz = 2\nb = \"two\"\n[section]\nc = \"ok\"\nd = 1\n[other]\ne = 1\n";
        let (value, problems) = parse_all::<Small>(text);
        assert!(value.is_some());
        let got: Vec<(String, Option<usize>)> = problems.iter().map(|p| (p.key.clone(), p.line)).collect();
        assert_eq!(
            got,
            vec![
                ("zz".to_string(), Some(2)),
                ("b".to_string(), Some(3)),
                ("section.d".to_string(), Some(6)),
                ("other".to_string(), Some(7)),
            ],
            "{problems:#?}"
        );
    }

    #[test]
    fn a_syntax_error_stops_with_its_line() {
        let (value, problems) = parse_all::<Small>("a = 1\nb = = 2\n");
        assert!(value.is_none());
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].line, Some(2));
    }
}
