//! An S3-compatible bucket as specdrop uses it: objects are only ever
//! created, never replaced; each upload carries its MD5 so the server
//! refuses a body damaged on the way.
//!
//! The requests are signed by rusty-s3 (no I/O of its own) and sent with
//! the blocking ureq agent the workspace already has: callers run these
//! calls on a blocking thread.

use std::time::Duration;

use base64::Engine as _;
use md5::{Digest as _, Md5};
use rusty_s3::actions::S3Action as _;

mod error;
pub use error::ObjStoreError;

/// How long a signed request stays valid: it is sent at once, so a short
/// time, but long enough for a clock a little off.
const SIGNED_FOR: Duration = Duration::from_secs(15 * 60);

/// The keys of the credentials, kept out of every `Debug` and log line.
#[derive(Clone)]
pub struct Credentials {
    pub key: String,
    pub secret: String,
    /// For temporary credentials (`AWS_SESSION_TOKEN`).
    pub token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credentials { .. }")
    }
}

/// Where the bucket is and how to reach it.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `http(s)://host[:port][/path]`.
    pub endpoint: String,
    pub bucket: String,
    pub region: String,
    /// `host/bucket/key` (MinIO, Ceph RGW, most servers) rather than
    /// `bucket.host/key`.
    pub path_style: bool,
    pub credentials: Credentials,
    /// A canned ACL (`x-amz-acl`), e.g. `public-read`.
    pub acl: Option<String>,
    /// Limit for one whole request, connect to last byte.
    pub timeout: Duration,
}

/// Headers every object gets.
#[derive(Debug, Clone, Copy)]
pub struct ObjectKind<'a> {
    pub content_type: &'a str,
    pub cache_control: &'a str,
}

/// What a create-only upload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    /// The object is there, with our bytes (the server checked their MD5).
    New,
    /// An object was at the key already; it was left as it was.
    Exists,
}

/// Canned ACLs S3 knows (`x-amz-acl`).
pub const CANNED_ACLS: [&str; 7] = [
    "private",
    "public-read",
    "public-read-write",
    "authenticated-read",
    "aws-exec-read",
    "bucket-owner-read",
    "bucket-owner-full-control",
];

pub struct Bucket {
    bucket: rusty_s3::Bucket,
    credentials: rusty_s3::Credentials,
    agent: ureq::Agent,
    acl: Option<String>,
    endpoint: String,
}

impl std::fmt::Debug for Bucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bucket")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket.name())
            .finish_non_exhaustive()
    }
}

impl Bucket {
    pub fn new(settings: &Settings) -> Result<Bucket, ObjStoreError> {
        let bad = |message: String| ObjStoreError::Settings(message);
        let endpoint: url::Url = settings.endpoint.parse().map_err(|e| {
            bad(format!(
                "{:?} is not a URL ({e}); write e.g. \"http://127.0.0.1:9000\"",
                settings.endpoint
            ))
        })?;
        let style = if settings.path_style {
            rusty_s3::UrlStyle::Path
        } else {
            rusty_s3::UrlStyle::VirtualHost
        };
        let bucket =
            rusty_s3::Bucket::new(endpoint, style, settings.bucket.clone(), settings.region.clone()).map_err(|e| {
                bad(format!(
                    "bucket {:?} at {}: {e}; an IP address or a bucket name with dots needs path_style = true",
                    settings.bucket, settings.endpoint
                ))
            })?;
        let c = &settings.credentials;
        let credentials = match &c.token {
            Some(token) => rusty_s3::Credentials::new_with_token(c.key.clone(), c.secret.clone(), token.clone()),
            None => rusty_s3::Credentials::new(c.key.clone(), c.secret.clone()),
        };
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(settings.timeout))
            .timeout_connect(Some(settings.timeout.min(Duration::from_secs(10))))
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .new_agent();
        Ok(Bucket {
            bucket,
            credentials,
            agent,
            acl: settings.acl.clone(),
            endpoint: settings.endpoint.clone(),
        })
    }

    pub fn name(&self) -> &str {
        self.bucket.name()
    }

    /// Create `key` with `data` unless an object is there: `If-None-Match: *`
    /// makes the server refuse (412) when one is, and `Content-MD5` makes
    /// it refuse a damaged body. A server that does not implement the
    /// condition (501) is asked without it, after a HEAD: then two writers
    /// racing between that HEAD and the PUT could still overwrite, which
    /// the caller's claims rule out among specdrop's own processes.
    pub fn create(&self, key: &str, data: &[u8], kind: ObjectKind<'_>) -> Result<Created, ObjStoreError> {
        match self.put(key, data, kind, true)? {
            Some(created) => Ok(created),
            None => {
                if self.exists(key)? {
                    return Ok(Created::Exists);
                }
                Ok(self.put(key, data, kind, false)?.unwrap_or(Created::New))
            }
        }
    }

    /// `None` when the server does not implement `If-None-Match`.
    fn put(
        &self,
        key: &str,
        data: &[u8],
        kind: ObjectKind<'_>,
        only_new: bool,
    ) -> Result<Option<Created>, ObjStoreError> {
        let md5 = base64::engine::general_purpose::STANDARD.encode(Md5::digest(data));
        let mut action = self.bucket.put_object(Some(&self.credentials), key);
        let headers = action.headers_mut();
        headers.insert("content-type", kind.content_type.to_string());
        headers.insert("cache-control", kind.cache_control.to_string());
        headers.insert("content-md5", md5.clone());
        if only_new {
            headers.insert("if-none-match", "*");
        }
        if let Some(acl) = &self.acl {
            headers.insert("x-amz-acl", acl.clone());
        }
        let url = action.sign(SIGNED_FOR);
        let mut request = self
            .agent
            .put(url.as_str())
            .header("content-type", kind.content_type)
            .header("cache-control", kind.cache_control)
            .header("content-md5", &md5);
        if only_new {
            request = request.header("if-none-match", "*");
        }
        if let Some(acl) = &self.acl {
            request = request.header("x-amz-acl", acl);
        }
        let response = request.send(data).map_err(|e| self.unreachable("PUT", key, e))?;
        match response.status().as_u16() {
            200..=299 => Ok(Some(Created::New)),
            // 409: a conditional write that raced another one (AWS).
            412 | 409 if only_new => Ok(Some(Created::Exists)),
            501 if only_new => Ok(None),
            _ => Err(self.refused("PUT", key, response)),
        }
    }

    /// Is there an object at `key`?
    pub fn exists(&self, key: &str) -> Result<bool, ObjStoreError> {
        let url = self.bucket.head_object(Some(&self.credentials), key).sign(SIGNED_FOR);
        let response = self
            .agent
            .head(url.as_str())
            .call()
            .map_err(|e| self.unreachable("HEAD", key, e))?;
        match response.status().as_u16() {
            200..=299 => Ok(true),
            404 => Ok(false),
            _ => Err(self.refused("HEAD", key, response)),
        }
    }

    /// The object at `key`, `None` when there is none.
    pub fn get(&self, key: &str, limit: u64) -> Result<Option<Vec<u8>>, ObjStoreError> {
        let url = self.bucket.get_object(Some(&self.credentials), key).sign(SIGNED_FOR);
        let mut response = self
            .agent
            .get(url.as_str())
            .call()
            .map_err(|e| self.unreachable("GET", key, e))?;
        match response.status().as_u16() {
            200..=299 => response
                .body_mut()
                .with_config()
                .limit(limit)
                .read_to_vec()
                .map(Some)
                .map_err(|e| self.unreachable("GET", key, e)),
            404 => Ok(None),
            _ => Err(self.refused("GET", key, response)),
        }
    }

    /// Remove the object at `key`; removing one that is not there is no
    /// error (S3 answers 204 either way).
    pub fn delete(&self, key: &str) -> Result<(), ObjStoreError> {
        let url = self.bucket.delete_object(Some(&self.credentials), key).sign(SIGNED_FOR);
        let response = self
            .agent
            .delete(url.as_str())
            .call()
            .map_err(|e| self.unreachable("DELETE", key, e))?;
        match response.status().as_u16() {
            200..=299 | 404 => Ok(()),
            _ => Err(self.refused("DELETE", key, response)),
        }
    }

    /// Keys under `prefix`, at most `max` (pages followed).
    pub fn list(&self, prefix: &str, max: usize) -> Result<Vec<String>, ObjStoreError> {
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        let page_size = max.clamp(1, 1000).to_string();
        loop {
            // ListObjectsV2 is a GET of the bucket's own URL: signed as a
            // GET of the empty key, so rusty-s3's `xml` feature (an XML
            // parser and its derive macros) is not needed for one listing.
            let mut action = self.bucket.get_object(Some(&self.credentials), "");
            let query = action.query_mut();
            query.insert("list-type", "2");
            query.insert("prefix", prefix.to_string());
            query.insert("max-keys", page_size.clone());
            if let Some(token) = &token {
                query.insert("continuation-token", token.clone());
            }
            let url = action.sign(SIGNED_FOR);
            let mut response = self
                .agent
                .get(url.as_str())
                .call()
                .map_err(|e| self.unreachable("LIST", prefix, e))?;
            if !response.status().is_success() {
                return Err(self.refused("LIST", prefix, response));
            }
            let text = response
                .body_mut()
                .with_config()
                .limit(16 << 20)
                .read_to_string()
                .map_err(|e| self.unreachable("LIST", prefix, e))?;
            if !text.contains("<ListBucketResult") {
                return Err(ObjStoreError::Answer {
                    operation: "LIST",
                    key: prefix.to_string(),
                    detail: "the answer is not an S3 listing (ListBucketResult); check storage.endpoint".into(),
                });
            }
            keys.extend(xml_fields(&text, "Key"));
            let truncated = xml_field(&text, "IsTruncated").is_some_and(|t| t == "true");
            match xml_field(&text, "NextContinuationToken") {
                Some(next) if truncated && keys.len() < max => token = Some(next),
                _ => break,
            }
        }
        keys.truncate(max);
        Ok(keys)
    }

    fn unreachable(&self, operation: &'static str, key: &str, cause: ureq::Error) -> ObjStoreError {
        ObjStoreError::Unreachable {
            operation,
            key: key.to_string(),
            endpoint: self.endpoint.clone(),
            cause: cause.to_string(),
        }
    }

    fn refused(
        &self,
        operation: &'static str,
        key: &str,
        mut response: ureq::http::Response<ureq::Body>,
    ) -> ObjStoreError {
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(64 << 10)
            .read_to_string()
            .unwrap_or_default();
        ObjStoreError::Refused {
            operation,
            key: key.to_string(),
            bucket: self.bucket.name().to_string(),
            status,
            code: xml_field(&body, "Code").unwrap_or_default(),
            message: xml_field(&body, "Message").unwrap_or_default(),
        }
    }
}

/// The text of the first `<name>` in an S3 answer.
fn xml_field(body: &str, name: &str) -> Option<String> {
    xml_fields(body, name).next()
}

/// The text of every `<name>` element, entities decoded. S3's answers are
/// flat enough for this: no attributes on these elements, no CDATA.
fn xml_fields<'b>(body: &'b str, name: &str) -> impl Iterator<Item = String> + 'b {
    let (open, close) = (format!("<{name}>"), format!("</{name}>"));
    let mut rest = body;
    std::iter::from_fn(move || {
        let start = rest.find(&open)? + open.len();
        let end = rest[start..].find(&close)? + start;
        let text = &rest[start..end];
        rest = &rest[end + close.len()..];
        Some(unescape(text))
    })
}

fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let Some(end) = rest.find(';') else { break };
        let entity = &rest[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_document_gives_its_code_and_message() {
        let body = "<?xml version=\"1.0\"?><Error><Code>NoSuchBucket</Code>\
                    <Message>The specified bucket does not exist</Message></Error>";
        assert_eq!(xml_field(body, "Code").as_deref(), Some("NoSuchBucket"));
        assert_eq!(
            xml_field(body, "Message").as_deref(),
            Some("The specified bucket does not exist")
        );
        assert_eq!(xml_field("<html>502</html>", "Code"), None);
    }

    #[test]
    fn a_listing_gives_every_key_decoded() {
        let body = "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>imglib/a&amp;b.jpg</Key>\
                    </Contents><Contents><Key>imglib/&#233;t&#xE9;.jpg</Key></Contents></ListBucketResult>";
        let keys: Vec<String> = xml_fields(body, "Key").collect();
        assert_eq!(keys, ["imglib/a&b.jpg", "imglib/été.jpg"]);
        assert_eq!(unescape("a & b &bogus; c"), "a & b &bogus; c");
    }

    #[test]
    fn credentials_never_show_in_debug() {
        let settings = Settings {
            endpoint: "http://127.0.0.1:9".into(),
            bucket: "b".into(),
            region: "us-east-1".into(),
            path_style: true,
            credentials: Credentials {
                key: "AKIDEXAMPLE".into(),
                secret: "wJalrXUtnFEMI".into(),
                token: None,
            },
            acl: None,
            timeout: Duration::from_secs(1),
        };
        let shown = format!("{settings:?} {:?}", Bucket::new(&settings));
        assert!(
            !shown.contains("AKIDEXAMPLE") && !shown.contains("wJalrXUtnFEMI"),
            "{shown}"
        );
    }

    fn settings(endpoint: &str, timeout: Duration) -> Settings {
        Settings {
            endpoint: endpoint.into(),
            bucket: "b".into(),
            region: "r".into(),
            path_style: true,
            credentials: Credentials {
                key: "k".into(),
                secret: "s".into(),
                token: None,
            },
            acl: None,
            timeout,
        }
    }

    #[test]
    fn an_endpoint_that_is_not_a_url_is_named() {
        let settings = settings("127.0.0.1:9000", Duration::from_secs(1));
        let err = Bucket::new(&settings)
            .map(|_| ())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("127.0.0.1:9000"), "{err}");
    }

    #[test]
    fn an_unreachable_server_is_transient() {
        // A port nothing listens on: connection refused.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let settings = settings(&format!("http://127.0.0.1:{port}"), Duration::from_secs(2));
        let bucket = Bucket::new(&settings).expect("valid settings");
        let err = bucket.exists("a/b.jpg").expect_err("nothing listens");
        assert!(matches!(err, ObjStoreError::Unreachable { .. }), "{err}");
        assert!(err.to_string().contains(&format!("127.0.0.1:{port}")), "{err}");
    }
}
