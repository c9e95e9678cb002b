//! A collection's statistics in `omcollectionstats`, refreshed after a
//! batch the way Symbiota's loader does (docs/symbiota.md (n)): the counts
//! of its basic update (`recordcnt`, `georefcnt`, `familycnt`, and
//! `genuscnt`/`speciescnt` where the portal has its `taxa` table),
//! `datelastmodified`, and the `imgcnt` entry (`"images:specimens with
//! images"`) of the `dynamicProperties` JSON its full update writes, every
//! other key of that JSON kept. The row is created when it is missing.

use sqlx::{AnyConnection, Row as _};

use crate::MapperError;
use crate::backend::Backend;
use crate::portal::Portal;
use crate::skeletal::text_value;

/// What a refresh wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionStats {
    pub records: i64,
    pub images: i64,
    pub specimens_with_images: i64,
    /// The row was made now.
    pub created: bool,
    /// `dynamicProperties` held something that is not a JSON object: it
    /// was left as it was (and `imgcnt` not written), never overwritten.
    pub unreadable_properties: bool,
}

impl Portal {
    /// Refresh `collid`'s row of `omcollectionstats` in one transaction;
    /// `None` when the portal has no such table (nothing to keep current).
    pub async fn refresh_collection_stats(&self, collid: i64) -> Result<Option<CollectionStats>, MapperError> {
        if !self.has_table("omcollectionstats").await? {
            return Ok(None);
        }
        let with_taxa = self.has_table("taxa").await?;
        let mut tx = self.pool.begin().await?;
        match self.refresh_in(&mut tx, collid, with_taxa).await {
            Ok(stats) => {
                tx.commit().await?;
                Ok(Some(stats))
            }
            Err(e) => {
                let _ = tx.rollback().await;
                Err(e)
            }
        }
    }

    async fn refresh_in(
        &self,
        tx: &mut AnyConnection,
        collid: i64,
        with_taxa: bool,
    ) -> Result<CollectionStats, MapperError> {
        let row = sqlx::query(
            "SELECT COUNT(occid), COUNT(decimalLatitude), COUNT(DISTINCT family) FROM omoccurrences WHERE collid = ?",
        )
        .bind(collid)
        .fetch_one(&mut *tx)
        .await?;
        let (records, georef, families): (i64, i64, i64) = (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        let taxa = if with_taxa {
            // Symbiota's ranks: genus 180, species 220.
            let row = sqlx::query(
                "SELECT COUNT(DISTINCT CASE WHEN t.RankId >= 180 THEN t.UnitName1 ELSE NULL END), \
                 COUNT(DISTINCT CASE WHEN t.RankId = 220 THEN t.SciName ELSE NULL END) \
                 FROM omoccurrences o LEFT JOIN taxa t ON o.tidInterpreted = t.TID WHERE o.collid = ?",
            )
            .bind(collid)
            .fetch_one(&mut *tx)
            .await?;
            Some((row.try_get::<i64, _>(0)?, row.try_get::<i64, _>(1)?))
        } else {
            None
        };
        let m = &self.media;
        let sql = format!(
            "SELECT COUNT(DISTINCT o.occid), COUNT(DISTINCT m.{}) FROM omoccurrences o \
             JOIN {} m ON o.occid = m.occid WHERE o.collid = ?",
            m.id, m.table
        );
        let row = sqlx::query(&sql).bind(collid).fetch_one(&mut *tx).await?;
        let (specimens_with_images, images): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);

        let existing = sqlx::query("SELECT dynamicProperties FROM omcollectionstats WHERE collid = ?")
            .bind(collid)
            .fetch_optional(&mut *tx)
            .await?;
        let created = existing.is_none();
        if created {
            sqlx::query("INSERT INTO omcollectionstats (collid, recordcnt) VALUES (?, 0)")
                .bind(collid)
                .execute(&mut *tx)
                .await?;
        }
        let current = existing.as_ref().and_then(|r| text_value(r, 0)).unwrap_or_default();
        let imgcnt = format!("{images}:{specimens_with_images}");
        let properties = with_imgcnt(&current, &imgcnt);
        let unreadable_properties = properties.is_none();

        let mut set = vec!["recordcnt = ?", "georefcnt = ?", "familycnt = ?"];
        if taxa.is_some() {
            set.extend(["genuscnt = ?", "speciescnt = ?"]);
        }
        if properties.is_some() {
            set.push("dynamicProperties = ?");
        }
        let now = self.backend.now();
        let sql = format!(
            "UPDATE omcollectionstats SET {}, datelastmodified = {now} WHERE collid = ?",
            set.join(", ")
        );
        let mut query = sqlx::query(&sql).bind(records).bind(georef).bind(families);
        if let Some((genera, species)) = taxa {
            query = query.bind(genera).bind(species);
        }
        if let Some(properties) = properties {
            query = query.bind(properties);
        }
        query.bind(collid).execute(&mut *tx).await?;
        Ok(CollectionStats {
            records,
            images,
            specimens_with_images,
            created,
            unreadable_properties,
        })
    }

    async fn has_table(&self, table: &str) -> Result<bool, MapperError> {
        let sql = match self.backend {
            Backend::MySql => {
                "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?"
            }
            Backend::Sqlite => "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?",
        };
        let found: i64 = sqlx::query(sql).bind(table).fetch_one(&self.pool).await?.try_get(0)?;
        Ok(found > 0)
    }
}

/// `current` (a JSON object, or empty) with its `imgcnt` set; `None` when
/// it is something else, which is then left alone.
fn with_imgcnt(current: &str, imgcnt: &str) -> Option<String> {
    let mut object = if current.trim().is_empty() {
        serde_json::Map::new()
    } else {
        match serde_json::from_str::<serde_json::Value>(current) {
            Ok(serde_json::Value::Object(object)) => object,
            _ => return None,
        }
    };
    object.insert("imgcnt".into(), serde_json::Value::String(imgcnt.into()));
    serde_json::to_string(&object).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imgcnt_is_set_and_other_keys_kept() {
        let out = with_imgcnt(
            r#"{"SpecimensCountID":"12","imgcnt":"1:1","families":{"Pinaceae":{}}}"#,
            "5:3",
        )
        .unwrap_or_default();
        let value: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
        assert_eq!(value["imgcnt"], "5:3");
        assert_eq!(value["SpecimensCountID"], "12");
        assert!(value["families"]["Pinaceae"].is_object(), "{out}");
        assert_eq!(with_imgcnt("", "0:0").as_deref(), Some(r#"{"imgcnt":"0:0"}"#));
        assert_eq!(with_imgcnt("[1,2]", "0:0"), None);
        assert_eq!(with_imgcnt("not json", "0:0"), None);
    }
}
