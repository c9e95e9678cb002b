//! Finding the occurrence a catalog number belongs to.
//!
//! Stages, each tried only when the one before found nothing: the exact
//! `catalogNumber` within the collection; the same number with other
//! leading zeros (`match.leading_zeros`); then `otherCatalogNumbers` and
//! `omoccuridentifiers` (`match.other_catalog_numbers`). Queries compare
//! the column against IN lists of spelled-out variants, never a function of
//! the column, so the portal's indexes serve them. Two or more records in
//! the deciding stage are never guessed between.

use std::collections::BTreeMap;

use serde::Deserialize;
use sqlx::{AnyConnection, Row};

use crate::MapperError;

/// `catalogNumber` is varchar(32) in Symbiota; longer variants cannot exist.
const CATALOG_NUMBER_MAX: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MatchRules {
    pub leading_zeros: bool,
    pub other_catalog_numbers: bool,
    /// Also find the record by the GUIDs collections publish:
    /// `occurrenceID`, then specdrop's and Symbiota's `recordID`.
    pub occurrence_id: bool,
}

impl Default for MatchRules {
    fn default() -> Self {
        MatchRules {
            leading_zeros: true,
            other_catalog_numbers: false,
            occurrence_id: false,
        }
    }
}

/// What a value given for an image names (a mapping file's column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Key {
    /// A catalog number, found by the collection's match rules.
    #[default]
    CatalogNumber,
    /// Only `otherCatalogNumbers` and `omoccuridentifiers`.
    OtherCatalogNumbers,
    /// Only `occurrenceID` or `recordID`.
    OccurrenceId,
    /// The record's `occid` itself.
    Occid,
}

impl Key {
    /// The column name a mapping file gives it under.
    pub fn name(self) -> &'static str {
        match self {
            Key::CatalogNumber => "catalogNumber",
            Key::OtherCatalogNumbers => "otherCatalogNumbers",
            Key::OccurrenceId => "occurrenceID",
            Key::Occid => "occid",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Occurrence {
    pub occid: i64,
    /// `tidInterpreted`, copied into the media row as Symbiota's uploader does.
    pub tid: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Found(Occurrence),
    NotFound,
    /// Several records claim the number: their occids, ascending.
    Ambiguous(Vec<i64>),
}

/// Look `value` up in collection `collid` as `key` says.
pub async fn find_by(
    conn: &mut AnyConnection,
    collid: i64,
    key: Key,
    value: &str,
    rules: MatchRules,
) -> Result<Lookup, MapperError> {
    let values = vec![value.to_string()];
    match key {
        Key::CatalogNumber => find(conn, collid, value, rules).await,
        Key::OtherCatalogNumbers => {
            let mut found = by_column(conn, "otherCatalogNumbers", collid, &values).await?;
            found.extend(by_identifier(conn, collid, &values).await?);
            found.extend(in_other_number_lists(conn, collid, value, &values).await?);
            Ok(decide(found))
        }
        Key::OccurrenceId => Ok(decide(by_guid(conn, collid, &values).await?)),
        Key::Occid => match value.parse::<i64>() {
            Ok(occid) => {
                let sql = "SELECT occid, tidInterpreted FROM omoccurrences WHERE collid = ? AND occid = ?";
                let mut found = BTreeMap::new();
                for row in sqlx::query(sql).bind(collid).bind(occid).fetch_all(conn).await? {
                    found.insert(row.try_get::<i64, _>(0)?, row.try_get::<Option<i64>, _>(1)?);
                }
                Ok(decide(found))
            }
            Err(_) => Ok(Lookup::NotFound),
        },
    }
}

/// `occurrenceID` and `recordID` together: one record may carry the same
/// GUID in both, two records claiming it are ambiguous.
async fn by_guid(
    conn: &mut AnyConnection,
    collid: i64,
    values: &[String],
) -> Result<BTreeMap<i64, Option<i64>>, MapperError> {
    let mut found = by_column(conn, "occurrenceID", collid, values).await?;
    found.extend(by_column(conn, "recordID", collid, values).await?);
    Ok(found)
}

/// Look `catalog_number` up in collection `collid`.
pub async fn find(
    conn: &mut AnyConnection,
    collid: i64,
    catalog_number: &str,
    rules: MatchRules,
) -> Result<Lookup, MapperError> {
    let exact = vec![catalog_number.to_string()];
    let found = by_column(conn, "catalogNumber", collid, &exact).await?;
    if !found.is_empty() {
        return Ok(decide(found));
    }
    if rules.occurrence_id {
        let found = by_guid(conn, collid, &exact).await?;
        if !found.is_empty() {
            return Ok(decide(found));
        }
    }
    let zeros = if rules.leading_zeros {
        zero_variants(catalog_number)
    } else {
        Vec::new()
    };
    if !zeros.is_empty() {
        let found = by_column(conn, "catalogNumber", collid, &zeros).await?;
        if !found.is_empty() {
            return Ok(decide(found));
        }
    }
    if rules.other_catalog_numbers {
        let mut values = exact;
        values.extend(zeros);
        let mut found = by_column(conn, "otherCatalogNumbers", collid, &values).await?;
        found.extend(by_identifier(conn, collid, &values).await?);
        found.extend(in_other_number_lists(conn, collid, catalog_number, &values).await?);
        return Ok(decide(found));
    }
    Ok(Lookup::NotFound)
}

fn decide(found: BTreeMap<i64, Option<i64>>) -> Lookup {
    match found.len() {
        0 => Lookup::NotFound,
        1 => {
            let (&occid, &tid) = found.iter().next().unwrap_or((&0, &None));
            Lookup::Found(Occurrence { occid, tid })
        }
        _ => Lookup::Ambiguous(found.into_keys().collect()),
    }
}

fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

async fn collect(
    conn: &mut AnyConnection,
    sql: &str,
    collid: i64,
    values: &[String],
) -> Result<BTreeMap<i64, Option<i64>>, MapperError> {
    let mut query = sqlx::query(sql).bind(collid);
    for v in values {
        query = query.bind(v.as_str());
    }
    let mut found = BTreeMap::new();
    for row in query.fetch_all(conn).await? {
        found.insert(row.try_get::<i64, _>(0)?, row.try_get::<Option<i64>, _>(1)?);
    }
    Ok(found)
}

async fn by_column(
    conn: &mut AnyConnection,
    column: &'static str,
    collid: i64,
    values: &[String],
) -> Result<BTreeMap<i64, Option<i64>>, MapperError> {
    let sql = format!(
        "SELECT occid, tidInterpreted FROM omoccurrences WHERE collid = ? AND {column} IN ({})",
        placeholders(values.len())
    );
    collect(conn, &sql, collid, values).await
}

async fn by_identifier(
    conn: &mut AnyConnection,
    collid: i64,
    values: &[String],
) -> Result<BTreeMap<i64, Option<i64>>, MapperError> {
    let sql = format!(
        "SELECT o.occid, o.tidInterpreted FROM omoccuridentifiers i \
         JOIN omoccurrences o ON o.occid = i.occid \
         WHERE o.collid = ? AND i.identifierValue IN ({})",
        placeholders(values.len())
    );
    collect(conn, &sql, collid, values).await
}

/// `otherCatalogNumbers` often holds a list (`A; B`, `A, B`, `A|B`). A LIKE
/// narrows the collection's rows to those mentioning the number; the list
/// is then split here and compared item by item, so `123` never matches
/// `41234`.
async fn in_other_number_lists(
    conn: &mut AnyConnection,
    collid: i64,
    catalog_number: &str,
    values: &[String],
) -> Result<BTreeMap<i64, Option<i64>>, MapperError> {
    let core = catalog_number.trim_start_matches('0');
    let needle = if core.is_empty() { catalog_number } else { core };
    let like = format!("%{}%", escape_like(needle));
    let rows = sqlx::query(
        "SELECT occid, tidInterpreted, otherCatalogNumbers FROM omoccurrences \
         WHERE collid = ? AND otherCatalogNumbers LIKE ? ESCAPE '!'",
    )
    .bind(collid)
    .bind(like)
    .fetch_all(conn)
    .await?;
    let mut found = BTreeMap::new();
    for row in rows {
        let list: Option<String> = row.try_get(2)?;
        let listed = list.unwrap_or_default();
        if listed
            .split([';', ',', '|'])
            .map(str::trim)
            .any(|item| values.iter().any(|v| v == item))
        {
            found.insert(row.try_get::<i64, _>(0)?, row.try_get::<Option<i64>, _>(1)?);
        }
    }
    Ok(found)
}

fn escape_like(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '%' | '_' | '!') {
            out.push('!');
        }
        out.push(c);
    }
    out
}

/// The number spelled with every other count of leading zeros on its
/// trailing digit run (`7000001` -> `07000001`, `007000001`...;
/// `0045678` -> `45678`, `045678`, `00045678`...), itself excluded.
pub fn zero_variants(catalog_number: &str) -> Vec<String> {
    let digits_from = catalog_number
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_ascii_digit())
        .last()
        .map(|(i, _)| i);
    let Some(start) = digits_from else { return Vec::new() };
    let (prefix, digits) = catalog_number.split_at(start);
    let core = digits.trim_start_matches('0');
    let core = if core.is_empty() { "0" } else { core };
    let room = CATALOG_NUMBER_MAX.saturating_sub(prefix.chars().count() + core.len());
    (0..=room)
        .map(|zeros| format!("{prefix}{}{core}", "0".repeat(zeros)))
        .filter(|v| v != catalog_number)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_variants_go_both_ways() {
        let v = zero_variants("7000001");
        assert!(v.contains(&"0007000001".to_string()));
        assert!(!v.contains(&"7000001".to_string()));
        let v = zero_variants("0045678");
        assert!(v.contains(&"45678".to_string()));
        assert!(v.contains(&"045678".to_string()));
        assert!(v.iter().all(|x| x.len() <= CATALOG_NUMBER_MAX));
        let v = zero_variants("ASU-L-0001234");
        assert!(v.contains(&"ASU-L-1234".to_string()));
        assert!(zero_variants("ABC").is_empty());
        assert!(zero_variants("0").contains(&"00".to_string()));
    }

    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(escape_like("a%b_c!d"), "a!%b!_c!!d");
    }
}
