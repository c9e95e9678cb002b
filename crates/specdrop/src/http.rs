//! The metrics endpoint (`metrics.listen`): `GET /metrics` answers with
//! the engine's rendering of its counters. A few lines of HTTP: it answers
//! one scraper on a private address, which does not need a web framework
//! (docs/decisions.md).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use specdrop_engine::metrics::Metrics;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

/// Connections served at once; more wait in the kernel's backlog. A
/// scraper needs one; a flood must not take the descriptors the daemon
/// needs to open source files.
pub const MAX_CONNECTIONS: usize = 8;

/// Bind `addr` now (so a taken port is reported at start-up) and serve in
/// the background.
pub async fn serve(addr: SocketAddr, metrics: Arc<Metrics>) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(10);
        loop {
            // A slot before accepting: at most MAX_CONNECTIONS open.
            let Ok(slot) = slots.clone().acquire_owned().await else {
                return;
            };
            let mut stream = match listener.accept().await {
                Ok((stream, _)) => {
                    backoff = Duration::from_millis(10);
                    stream
                }
                Err(e) => {
                    // Out of descriptors, say: wait instead of spinning.
                    tracing::warn!("metrics endpoint: accept failed ({e}); waiting {backoff:?}");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            };
            let metrics = metrics.clone();
            tokio::spawn(async move {
                let _slot = slot;
                let mut request = vec![0u8; 2048];
                let mut read = 0;
                // Enough of the request to see its first line; a slow or
                // silent client is dropped after a few seconds.
                let got = tokio::time::timeout(Duration::from_secs(5), async {
                    while read < request.len() && !request[..read].windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut request[read..]).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => read += n,
                        }
                    }
                })
                .await;
                if got.is_err() {
                    return;
                }
                let line = String::from_utf8_lossy(&request[..read]);
                let path = line.split_whitespace().nth(1).unwrap_or("");
                let response = if line.starts_with("GET ") && (path == "/metrics" || path == "/") {
                    let body = metrics.render();
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                } else {
                    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string()
                };
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    Ok(bound)
}
