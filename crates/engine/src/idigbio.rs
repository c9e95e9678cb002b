//! The iDigBio Media Ingestion Appliance's report, as it is: which row is
//! which image, and what Symbiota's (since removed) reader made of it
//! (docs/symbiota.md (m)): the original path's base name (cut at `/` or
//! `\`, since the appliance ran on Windows and Macs), the media MD5, the
//! web and thumbnail variants of iDigBio's URL, and rows that did not
//! upload skipped with iDigBio's own detail.

use specdrop_mapper::{MediaColumn, MediaValues};

/// Where iDigBio serves a media object by its MD5 when the report gives
/// no `ac:accessURI` (the address Symbiota's reader built).
pub const MEDIA_API: &str = "https://api.idigbio.org/v2/media/";

/// One report row, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Row {
    /// Uploaded: link it.
    Image(Image),
    /// Not uploaded (or no MD5): the reason, iDigBio's detail when it gave one.
    Skipped { name: String, why: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// The original file's base name (`MICH-V-1390992.jpg`).
    pub name: String,
    /// The full original path as the report gives it.
    pub original_path: String,
    pub md5: String,
    /// iDigBio's URL of the full-size file.
    pub access_uri: String,
    /// Rights, owner and other media columns the report carries.
    pub meta: MediaValues,
}

impl Image {
    /// `url`: the web-size view.
    pub fn web_url(&self) -> String {
        format!("{}?size=webview", self.access_uri)
    }

    pub fn thumbnail_url(&self) -> String {
        format!("{}?size=thumbnail", self.access_uri)
    }
}

/// The column positions of a report, either generation.
#[derive(Debug, Clone)]
pub struct Layout {
    file: usize,
    md5: usize,
    access_uri: Option<usize>,
    status: Option<usize>,
    detail: Option<usize>,
    /// Other columns that name a media column (rights, owner...).
    media: Vec<(usize, MediaColumn)>,
}

impl Layout {
    /// Find the columns in `header`; the error names what is missing.
    pub fn of(header: &[String]) -> Result<Layout, String> {
        let at = |names: &[&str]| {
            header
                .iter()
                .position(|h| names.iter().any(|n| h.trim().eq_ignore_ascii_case(n)))
        };
        let file = at(&["idigbio:OriginalFileName", "OriginalFileName"]).ok_or_else(|| {
            format!(
                "this is not an iDigBio ingestion report: no OriginalFileName or idigbio:OriginalFileName column (the columns are {})",
                header.join(", ")
            )
        })?;
        let md5 = at(&["MediaMD5", "ac:hashValue", "idigbio:mediaMD5"]).ok_or_else(|| {
            "this iDigBio report has no MediaMD5 or ac:hashValue column; export the report again with it".to_string()
        })?;
        let access_uri = at(&["ac:accessURI", "MediaURL", "idigbio:mediaURL"]);
        let status = at(&["idigbio:mediaStatus", "MediaStatus"]);
        let detail = at(&["idigbio:mediaStatusDetail", "MediaStatusDetail"]);
        let taken = [Some(file), Some(md5), access_uri, status, detail];
        let media = header
            .iter()
            .enumerate()
            .filter(|(i, _)| !taken.contains(&Some(*i)))
            .filter_map(|(i, h)| MediaColumn::from_header(h).map(|c| (i, c)))
            .filter(|(_, c)| !c.is_link() && !matches!(c, MediaColumn::HashFunction | MediaColumn::HashValue))
            .collect();
        Ok(Layout {
            file,
            md5,
            access_uri,
            status,
            detail,
            media,
        })
    }

    /// One record of the report.
    pub fn row(&self, values: &[String]) -> Result<Row, String> {
        let get = |i: Option<usize>| i.and_then(|i| values.get(i)).map(|v| v.trim()).unwrap_or("");
        let original_path = get(Some(self.file)).to_string();
        let name = base_name(&original_path).to_string();
        if name.is_empty() {
            return Err("the OriginalFileName is empty".into());
        }
        let md5 = get(Some(self.md5));
        let status = get(self.status);
        let detail = get(self.detail);
        if !status.is_empty() && !uploaded(status) {
            let why = if detail.is_empty() {
                format!("not uploaded to iDigBio (status {status:?})")
            } else {
                format!("not uploaded to iDigBio (status {status:?}): {detail}")
            };
            return Ok(Row::Skipped { name, why });
        }
        if md5.is_empty() {
            let why = if detail.is_empty() {
                "no MediaMD5: iDigBio did not take the file".to_string()
            } else {
                format!("no MediaMD5, iDigBio says: {detail}")
            };
            return Ok(Row::Skipped { name, why });
        }
        let access_uri = match get(self.access_uri) {
            "" => format!("{MEDIA_API}{md5}"),
            uri => uri.split(['?', '#']).next().unwrap_or(uri).to_string(),
        };
        let mut meta = MediaValues::default();
        for (i, column) in &self.media {
            meta.set(*column, get(Some(*i)))?;
        }
        if meta.get(MediaColumn::SourceIdentifier).is_none() {
            // What Symbiota's reader kept: the original file's name.
            meta.set(MediaColumn::SourceIdentifier, &name)?;
        }
        Ok(Row::Image(Image {
            name,
            original_path,
            md5: md5.to_string(),
            access_uri,
            meta,
        }))
    }
}

/// A report's status that means the file is at iDigBio.
fn uploaded(status: &str) -> bool {
    let s = status.to_ascii_lowercase();
    let bad = ["fail", "error", "reject", "skip", "pending", "not "];
    !bad.iter().any(|b| s.contains(b))
        && ["upload", "success", "ok", "done", "complete", "finished"]
            .iter()
            .any(|g| s.contains(g))
}

/// The last component of a path written on any system: `C:\Users\x\a.jpg`
/// and `/Volumes/x/a.jpg` are both `a.jpg`.
pub fn base_name(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path).trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_string()).collect()
    }

    #[test]
    fn windows_and_mac_paths_give_their_base_name() {
        assert_eq!(
            base_name(r"C:\Users\imaging\2024\MICH-V-1390992.jpg"),
            "MICH-V-1390992.jpg"
        );
        assert_eq!(base_name("/Volumes/Sheets/MICH-V-1390992.jpg"), "MICH-V-1390992.jpg");
        assert_eq!(base_name("MICH-V-1390992.jpg"), "MICH-V-1390992.jpg");
    }

    #[test]
    fn the_first_generation_builds_urls_from_the_md5() -> Result<(), String> {
        let layout = Layout::of(&strings(&["OriginalFileName", "MediaMD5", "MimeType"]))?;
        let row = layout.row(&strings(&[
            r"D:\x\A-1.jpg",
            "0123456789abcdef0123456789abcdef",
            "image/jpeg",
        ]))?;
        let Row::Image(image) = row else {
            return Err(format!("not an image: {row:?}"));
        };
        assert_eq!(image.name, "A-1.jpg");
        assert_eq!(
            image.web_url(),
            "https://api.idigbio.org/v2/media/0123456789abcdef0123456789abcdef?size=webview"
        );
        assert_eq!(image.meta.get(MediaColumn::SourceIdentifier), Some("A-1.jpg"));
        Ok(())
    }

    #[test]
    fn rows_that_did_not_upload_are_skipped_with_idigbios_detail() -> Result<(), String> {
        let header = strings(&[
            "idigbio:OriginalFileName",
            "ac:accessURI",
            "ac:hashValue",
            "dc:rights",
            "idigbio:mediaStatus",
            "idigbio:mediaStatusDetail",
        ]);
        let layout = Layout::of(&header)?;
        let failed = layout.row(&strings(&[
            "a\\B-2.jpg",
            "",
            "",
            "CC BY 4.0",
            "Failed",
            "HTTP 500 from server",
        ]))?;
        assert_eq!(
            failed,
            Row::Skipped {
                name: "B-2.jpg".into(),
                why: "not uploaded to iDigBio (status \"Failed\"): HTTP 500 from server".into()
            }
        );
        let good = layout.row(&strings(&[
            "a/B-3.jpg",
            "https://api.idigbio.org/v2/media/ffff",
            "ffff",
            "CC BY 4.0",
            "Uploaded",
            "",
        ]))?;
        let Row::Image(image) = good else {
            return Err(format!("not an image: {good:?}"));
        };
        assert_eq!(image.meta.get(MediaColumn::Rights), Some("CC BY 4.0"));
        assert_eq!(
            image.thumbnail_url(),
            "https://api.idigbio.org/v2/media/ffff?size=thumbnail"
        );
        Ok(())
    }

    #[test]
    fn a_file_that_is_not_a_report_is_refused() {
        let err = Layout::of(&strings(&["url", "catalogNumber"]))
            .err()
            .unwrap_or_default();
        assert!(err.contains("not an iDigBio ingestion report"), "{err}");
    }
}
