//! The occurrence fields a skeletal file may fill: the portal's own
//! `omoccurrences` columns, with their types and lengths, and checking a
//! value against them.

use std::collections::BTreeMap;

/// Columns Symbiota never loads from skeletal files (docs/symbiota.md
/// (e)): keys, bookkeeping and values that other tools maintain.
pub const NEVER_LOADED: [&str; 9] = [
    "occid",
    "collid",
    "dbpk",
    "institutioncode",
    "collectioncode",
    "processingstatus",
    "datelastmodified",
    "observeruid",
    "tidinterpreted",
];

/// Columns specdrop itself writes on records it creates.
const WRITTEN_BY_SPECDROP: [&str; 3] = ["recordid", "dateentered", "recordenteredby"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Integer,
    Decimal,
    Date,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The column's name as the portal spells it.
    pub name: String,
    pub kind: Kind,
    /// Maximum characters (text columns).
    pub max: Option<usize>,
}

/// The fields of `omoccurrences`, by lower-case name.
#[derive(Debug, Clone, Default)]
pub struct FieldSet {
    fields: BTreeMap<String, Field>,
}

impl FieldSet {
    pub fn new(fields: impl IntoIterator<Item = Field>) -> FieldSet {
        FieldSet {
            fields: fields.into_iter().map(|f| (f.name.to_ascii_lowercase(), f)).collect(),
        }
    }

    pub fn get(&self, name: &str) -> Option<&Field> {
        self.fields.get(&name.to_ascii_lowercase())
    }

    /// Whether a file may set this field.
    pub fn loadable(&self, name: &str) -> bool {
        let lower = name.to_ascii_lowercase();
        !NEVER_LOADED.contains(&lower.as_str()) && !WRITTEN_BY_SPECDROP.contains(&lower.as_str())
    }

    /// The field name closest to `wrong` (by edit distance), to suggest.
    pub fn closest(&self, wrong: &str) -> Option<&str> {
        let wrong = wrong.to_ascii_lowercase();
        self.fields
            .iter()
            .filter(|(lower, _)| self.loadable(lower))
            .map(|(lower, f)| (edit_distance(&wrong, lower), f.name.as_str()))
            .min_by_key(|(d, _)| *d)
            .map(|(_, name)| name)
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            current.push((previous[j] + cost).min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

impl Field {
    /// The value to store, or why it cannot be.
    pub fn check(&self, value: &str) -> Result<String, String> {
        match self.kind {
            Kind::Text => match self.max {
                Some(max) if value.chars().count() > max => Err(format!(
                    "{} is {} characters long, more than the portal's {max}",
                    self.name,
                    value.chars().count()
                )),
                _ => Ok(value.to_string()),
            },
            Kind::Integer => value
                .parse::<i64>()
                .map(|n| n.to_string())
                .map_err(|_| format!("{} {value:?} is not a whole number", self.name)),
            Kind::Decimal => value
                .parse::<f64>()
                .ok()
                .filter(|n| n.is_finite())
                .map(|n| n.to_string())
                .ok_or_else(|| format!("{} {value:?} is not a number (use a point for decimals)", self.name)),
            Kind::Date => date(value).ok_or_else(|| {
                format!(
                    "{} {value:?} is not a full date; use YYYY-MM-DD (a partial date belongs in verbatimEventDate)",
                    self.name
                )
            }),
        }
    }
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// A full date in the forms people type: 2004-06-10, 2004/6/10,
/// 6/10/2004 (month first, as Symbiota reads it), 10 Jun 2004, 10-Jun-2004,
/// June 10, 2004 (a time after the date is ignored).
pub fn date(value: &str) -> Option<String> {
    let value = value
        .split(['T', ' '])
        .next()
        .filter(|d| d.len() >= 8)
        .unwrap_or(value)
        .trim();
    let number = |s: &str| s.trim().parse::<u32>().ok();
    let month_name = |s: &str| {
        let s = s.trim().trim_end_matches('.').to_ascii_lowercase();
        MONTHS.iter().position(|m| s.starts_with(m)).map(|i| i as u32 + 1)
    };
    let parts: Vec<&str> = value
        .split(['-', '/', '.', ' ', ','])
        .filter(|p| !p.is_empty())
        .collect();
    let (y, m, d) = match parts.as_slice() {
        [y, m, d] if y.len() == 4 && number(y).is_some() => {
            (number(y)?, number(m).or_else(|| month_name(m))?, number(d)?)
        }
        [m, d, y] if y.len() == 4 && number(m).is_some() && number(d).is_some() => (number(y)?, number(m)?, number(d)?),
        [d, m, y] if y.len() == 4 && month_name(m).is_some() => (number(y)?, month_name(m)?, number(d)?),
        [m, d, y] if y.len() == 4 => (number(y)?, month_name(m)?, number(d)?),
        _ => return None,
    };
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) => 29,
        2 => 28,
        _ => return None,
    };
    (1..=days).contains(&d).then(|| format!("{y:04}-{m:02}-{d:02}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_people_type() {
        for (input, want) in [
            ("2004-06-10", "2004-06-10"),
            ("2004/6/10", "2004-06-10"),
            ("6/10/2004", "2004-06-10"),
            ("10 Jun 2004", "2004-06-10"),
            ("10-Jun-2004", "2004-06-10"),
            ("June 10, 2004", "2004-06-10"),
            ("2004-06-10T12:00:00", "2004-06-10"),
            ("2000-02-29", "2000-02-29"),
        ] {
            assert_eq!(date(input).as_deref(), Some(want), "{input}");
        }
        for bad in ["2004", "2004-06", "31/31/2001", "2001-02-29", "yesterday", "10.6.04"] {
            assert_eq!(date(bad), None, "{bad}");
        }
    }

    #[test]
    fn values_are_checked_against_their_column() {
        let f = |name: &str, kind, max| Field {
            name: name.into(),
            kind,
            max,
        };
        assert!(f("recordNumber", Kind::Text, Some(4)).check("12345").is_err());
        assert_eq!(
            f("decimalLatitude", Kind::Decimal, None).check("42.5"),
            Ok("42.5".into())
        );
        assert!(f("decimalLatitude", Kind::Decimal, None).check("42,5").is_err());
        assert!(f("recordSecurity", Kind::Integer, None).check("x").is_err());
        assert_eq!(
            f("eventDate", Kind::Date, None).check("6/10/2004"),
            Ok("2004-06-10".into())
        );
    }

    #[test]
    fn the_closest_field_is_suggested() {
        let set = FieldSet::new(
            ["catalogNumber", "sciname", "recordedBy", "locality", "collid"].map(|n| Field {
                name: n.into(),
                kind: Kind::Text,
                max: None,
            }),
        );
        assert_eq!(set.closest("scientificname"), Some("sciname"));
        assert_eq!(set.closest("Recorded_By"), Some("recordedBy"));
        assert_eq!(set.closest("localty"), Some("locality"));
        assert!(!set.loadable("collID"));
    }
}
