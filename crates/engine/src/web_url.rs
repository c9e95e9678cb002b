//! URLs of web pages and images: a link resolved against the page it is
//! on (or a redirect against the URL that sent it), with `.` and `..`
//! resolved the way a server would, and percent-decoding for names.

/// `href` as an absolute URL, seen from page `base` (which ends in `/`);
/// `None` for sort links, fragments and other schemes.
pub fn resolve(base: &str, href: &str) -> Option<String> {
    if href.starts_with('?') || href.starts_with('#') || href.is_empty() {
        return None;
    }
    let (scheme, rest) = base.split_once("://")?;
    let host_end = rest.find('/').unwrap_or(rest.len());
    let (origin, path) = if href.starts_with("http://") || href.starts_with("https://") {
        return normalized(href);
    } else if let Some(other_host) = href.strip_prefix("//") {
        return normalized(&format!("{scheme}://{other_host}"));
    } else if href.starts_with('/') {
        (format!("{scheme}://{}", &rest[..host_end]), href.to_string())
    } else if href.contains(':') && !href.contains('/') && !href.contains('.') {
        return None; // mailto:, javascript:
    } else {
        let dir = &rest[host_end..];
        let dir = &dir[..dir.rfind('/').map_or(0, |i| i + 1)];
        (format!("{scheme}://{}", &rest[..host_end]), format!("{dir}{href}"))
    };
    Some(format!("{origin}{}", dot_free(&path)))
}

/// `url` with its path's `.` and `..` segments resolved (also when
/// percent-encoded, as a server would decode them), so a link cannot leave
/// the harvested folder by a `..` that a prefix check would not see.
pub fn normalized(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host_end = rest.find('/').unwrap_or(rest.len());
    Some(format!(
        "{scheme}://{}{}",
        &rest[..host_end],
        dot_free(&rest[host_end..])
    ))
}

fn dot_free(path: &str) -> String {
    let (path, query) = match path.find(['?', '#']) {
        Some(i) => path.split_at(i),
        None => (path, ""),
    };
    let keep_slash = path.ends_with('/') || path.ends_with("/.") || path.ends_with("/..");
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match percent_decode(part).as_str() {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            _ => parts.push(part),
        }
    }
    let slash = if keep_slash && !parts.is_empty() { "/" } else { "" };
    format!("/{}{slash}{query}", parts.join("/"))
}

pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).and_then(|b| hex(*b)),
                bytes.get(i + 2).and_then(|b| hex(*b)),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_resolve_within_the_site() {
        let base = "http://127.0.0.1:8080/imglib/mich/";
        assert_eq!(
            resolve(base, "a.jpg").as_deref(),
            Some("http://127.0.0.1:8080/imglib/mich/a.jpg")
        );
        assert_eq!(
            resolve(base, "box2/").as_deref(),
            Some("http://127.0.0.1:8080/imglib/mich/box2/")
        );
        assert_eq!(resolve(base, "../").as_deref(), Some("http://127.0.0.1:8080/imglib/"));
        assert_eq!(
            resolve(base, "/imglib/").as_deref(),
            Some("http://127.0.0.1:8080/imglib/")
        );
        assert_eq!(resolve(base, "?C=N;O=D"), None);
        assert_eq!(resolve(base, "mailto:x@y"), None);
    }

    #[test]
    fn dot_segments_cannot_leave_the_harvested_folder() {
        let base = "http://127.0.0.1:8080/imglib/mich/";
        for href in [
            "http://127.0.0.1:8080/imglib/mich/../../private/",
            "/imglib/mich/../../private/a.jpg",
            "%2e%2e/%2E%2E/private/",
            "box/../../../private/",
        ] {
            let resolved = resolve(base, href).unwrap_or_default();
            assert!(!resolved.starts_with(base), "{href} -> {resolved}");
            assert!(!resolved.contains(".."), "{href} -> {resolved}");
        }
        assert_eq!(
            normalized("https://img.example/mich/../../private/").as_deref(),
            Some("https://img.example/private/")
        );
        assert_eq!(
            resolve("http://h/a/page.html", "b.jpg").as_deref(),
            Some("http://h/a/b.jpg")
        );
    }
}
