//! One remote image fetched, for its derivatives (`[remote]`): only from
//! `remote.allowed_hosts`, redirects followed by hand and only to those
//! hosts, within `remote.max_mb` and the time limits; the bytes are
//! checked as an image (magic bytes, a header that decodes, a JPEG that
//! is not cut off) before any decoder sees them. Blocking.

use std::time::Duration;

use specdrop_derive::DeriveConfig;

use crate::config::remote::RemoteConfig;

/// Redirects followed for one image at most.
const MAX_REDIRECTS: usize = 5;

/// A fetched image: where it was found in the end, and its bytes.
pub struct Fetched {
    pub from: String,
    pub bytes: Vec<u8>,
}

/// The scheme, host (lower case) and port of an http(s) URL.
fn host_of(url: &str) -> Result<(String, String, u16), String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("{url:?} is not an http(s) URL"))?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return Err(format!("{url:?} is not an http(s) URL")),
    };
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    if authority.contains('@') {
        return Err(format!("{url:?} carries a user name or password; give the plain URL"));
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or_else(|| format!("{url:?}: a bad host"))?;
        (host.to_string(), after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host.to_string(), Some(port)),
            None => (authority.to_string(), None),
        }
    };
    let port = match port {
        None | Some("") => default_port,
        Some(p) => p
            .parse()
            .map_err(|_| format!("{url:?}: the port {p:?} is not a number"))?,
    };
    if host.is_empty() {
        return Err(format!("{url:?} names no host"));
    }
    Ok((scheme, host.to_ascii_lowercase(), port))
}

/// Refused unless `url`'s host is allowed.
fn check_host(remote: &RemoteConfig, url: &str) -> Result<(), String> {
    let (_, host, port) = host_of(url)?;
    if remote.allows(&host, port) {
        Ok(())
    } else {
        Err(format!(
            "{host}:{port} is not in remote.allowed_hosts; not fetched (add the host there if it is meant)"
        ))
    }
}

/// Fetch `url` under `remote`'s rules and check that it is an image
/// `derive` takes; the error is the reason, for the report.
pub fn fetch(remote: &RemoteConfig, derive: &DeriveConfig, url: &str) -> Result<Fetched, String> {
    let agent = ureq::Agent::config_builder()
        .timeout_global(Some(remote.timeout))
        .timeout_connect(Some(remote.connect_timeout))
        .max_redirects(0)
        .build()
        .new_agent();
    // One deadline for the whole fetch, redirects included: each hop gets
    // only what is left of remote.timeout_secs.
    let deadline = std::time::Instant::now() + remote.timeout;
    let mut at = url.to_string();
    for _ in 0..=MAX_REDIRECTS {
        check_host(remote, &at)?;
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err(timed_out(&at, remote.timeout));
        }
        let mut response = agent
            .get(&at)
            .config()
            .timeout_global(Some(left))
            .build()
            .call()
            .map_err(|e| why(&e, &at, remote))?;
        if response.status().is_redirection() {
            let location = response
                .headers()
                .get("location")
                .and_then(|l| l.to_str().ok())
                .unwrap_or_default()
                .to_string();
            let target = crate::web_url::resolve(&at, &location)
                .ok_or_else(|| format!("{at} redirects to {location:?}, which is not an http(s) URL"))?;
            check_host(remote, &target).map_err(|e| format!("{at} redirects to {target}: {e}"))?;
            at = target;
            continue;
        }
        let headers = response.headers();
        let kind = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        if kind.starts_with("text/") {
            return Err(format!(
                "{at} sent {kind} where an image was expected (a web page, not the image itself?)"
            ));
        }
        let length = headers
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if let Some(length) = length.filter(|l| *l > remote.max_bytes) {
            return Err(too_big(&at, Some(length), remote));
        }
        let bytes = response
            .body_mut()
            .with_config()
            .limit(remote.max_bytes)
            .read_to_vec()
            .map_err(|e| why(&e, &at, remote))?;
        check_image(&bytes, derive).map_err(|e| format!("{at}: {e}"))?;
        return Ok(Fetched { from: at, bytes });
    }
    Err(format!("{url} redirects more than {MAX_REDIRECTS} times"))
}

/// The bytes are an image of a configured format whose header decodes,
/// and a JPEG is complete.
pub fn check_image(bytes: &[u8], derive: &DeriveConfig) -> Result<(u32, u32), String> {
    let size = specdrop_derive::probe(bytes, derive.max_pixels, &derive.formats).map_err(|e| e.to_string())?;
    if let specdrop_watch::complete::Arrived::Truncated(at) = specdrop_watch::complete::check(bytes) {
        return Err(format!(
            "the image is cut off: it ends at byte {at} before its end marker"
        ));
    }
    Ok(size)
}

fn too_big(url: &str, length: Option<u64>, remote: &RemoteConfig) -> String {
    let mb = remote.max_bytes >> 20;
    match length {
        Some(length) => format!(
            "{url} is {} MB, more than remote.max_mb = {mb}; not fetched",
            length.div_ceil(1 << 20)
        ),
        None => format!("{url} is more than remote.max_mb = {mb}; not fetched"),
    }
}

fn timed_out(url: &str, limit: Duration) -> String {
    format!("{url} did not arrive within remote.timeout_secs = {}", limit.as_secs())
}

/// The reason for the report.
fn why(e: &ureq::Error, url: &str, remote: &RemoteConfig) -> String {
    match e {
        ureq::Error::StatusCode(code) => format!("{url} answered HTTP {code}"),
        ureq::Error::BodyExceedsLimit(_) => too_big(url, None, remote),
        ureq::Error::Timeout(_) => timed_out(url, remote.timeout),
        other => format!("cannot fetch {url}: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_ports_are_read_from_urls() {
        assert_eq!(
            host_of("http://127.0.0.1:8080/a.jpg"),
            Ok(("http".into(), "127.0.0.1".into(), 8080))
        );
        assert_eq!(
            host_of("https://Media.Example.org/a.jpg"),
            Ok(("https".into(), "media.example.org".into(), 443))
        );
        assert_eq!(host_of("http://[::1]:81/x"), Ok(("http".into(), "::1".into(), 81)));
        assert!(host_of("http://user:pw@media.example.org/a.jpg").is_err());
        assert!(host_of("ftp://media.example.org/a.jpg").is_err());
        let remote = RemoteConfig {
            allowed_hosts: vec!["media.example.org".into()],
            ..RemoteConfig::default()
        };
        assert!(check_host(&remote, "https://media.example.org/a.jpg").is_ok());
        let refused = check_host(&remote, "https://media.example.org.evil.net/a.jpg");
        assert!(refused.is_err_and(|e| e.contains("remote.allowed_hosts")));
    }
}
