//! A configured collection with what the portal says about it, and the
//! one place a `--collection CODE` is looked up.

use specdrop_mapper::{Backend, CollectionInfo, LinkRequest, MapperError, MediaUrls, Portal};

use crate::Error;
use crate::config::{Collection, Config};

#[derive(Debug, Clone)]
pub struct Prepared {
    pub config: Collection,
    pub info: CollectionInfo,
    /// `<institutionCode>_<collectionCode>`: its folder in the image library.
    pub folder: String,
}

impl Prepared {
    /// A link of this collection's image `source_name` (derivatives named
    /// after `stem`) to catalog number `catalog_number`, under the
    /// collection's rules; the caller sets what else it knows (MD5, size,
    /// format).
    pub fn link_request<'a>(
        &'a self,
        catalog_number: &'a str,
        urls: MediaUrls,
        source_name: &'a str,
        stem: &'a str,
    ) -> LinkRequest<'a> {
        let cfg = &self.config;
        LinkRequest {
            collection: &self.info,
            catalog_number,
            key: specdrop_mapper::Key::CatalogNumber,
            rules: cfg.match_rules,
            unmatched: cfg.unmatched,
            existing: cfg.existing,
            fields: &cfg.fields,
            urls,
            md5: None,
            source_name,
            stem,
            size: None,
            format: "image/jpeg",
            meta: specdrop_mapper::MediaValues::default(),
        }
    }
}

/// The position of collection `code` in the config; a code it does not
/// have is the command line's mistake (exit 2), with the codes it has.
pub fn position(config: &Config, code: &str) -> Result<usize, Error> {
    config.collections.iter().position(|c| c.code == code).ok_or_else(|| {
        let known: Vec<&str> = config.collections.iter().map(|c| c.code.as_str()).collect();
        Error::Config(format!(
            "--collection {code:?} is not in the config; it has {}",
            known.join(", ")
        ))
    })
}

/// Every configured collection with the portal's facts, in config order.
pub async fn prepare(config: &Config, portal: &Portal) -> Result<Vec<Prepared>, Error> {
    let mut prepared = Vec::new();
    for (i, c) in config.collections.iter().enumerate() {
        if c.after_batch_procedure.is_some() && portal.backend() == Backend::Sqlite {
            return Err(Error::Config(format!(
                "collection[{i}].after_batch_procedure: SQLite has no stored procedures; remove the key or use a MariaDB/MySQL portal"
            )));
        }
        let info = portal.collection(c.collid).await.map_err(|e| match e {
            MapperError::UnknownCollection { .. } => Error::Config(format!("collection[{i}].collid ({}): {e}", c.code)),
            other => Error::Run(format!("reading collection {}: {other}", c.code)),
        })?;
        let folder =
            specdrop_derive::layout::collection_fragment(&info.institution_code, info.collection_code.as_deref());
        prepared.push(Prepared {
            config: c.clone(),
            info,
            folder,
        });
    }
    Ok(prepared)
}
