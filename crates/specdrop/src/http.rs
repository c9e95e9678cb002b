//! The metrics endpoint (`metrics.listen`): `GET /metrics` answers with
//! the engine's rendering of its counters. A few lines of HTTP: it answers
//! one scraper on a private address, which does not need a web framework
//! (docs/decisions.md).

use std::net::SocketAddr;
use std::sync::Arc;

use specdrop_engine::metrics::Metrics;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

/// Bind `addr` now (so a taken port is reported at start-up) and serve in
/// the background.
pub async fn serve(addr: SocketAddr, metrics: Arc<Metrics>) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                continue;
            };
            let metrics = metrics.clone();
            tokio::spawn(async move {
                let mut request = vec![0u8; 2048];
                let mut read = 0;
                // Enough of the request to see its first line; a slow or
                // silent client is dropped after a few seconds.
                let got = tokio::time::timeout(std::time::Duration::from_secs(5), async {
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
