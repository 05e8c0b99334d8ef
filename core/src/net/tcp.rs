//! TCP connect with a deadline, telling DNS failures apart from refused connections.

use std::time::Duration;

use tokio::net::TcpStream;

use crate::error::{Error, Result};

/// Resolves `host` and connects to the first address that answers within `timeout`.
pub async fn connect_tcp(host: &str, port: u16, timeout: Duration) -> Result<TcpStream> {
    if host.is_empty() {
        return Err(Error::Config {
            reason: "empty host name".into(),
        });
    }
    let addrs: Vec<_> = tokio::time::timeout(timeout, tokio::net::lookup_host((host, port)))
        .await
        .map_err(|_| Error::Timeout {
            during: "resolving the host name",
        })?
        .map_err(|source| Error::Dns {
            host: host.to_string(),
            source,
        })?
        .collect();
    let mut last = None;
    for addr in addrs {
        match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Ok(Err(e)) => last = Some(e),
            Err(_) => {
                last = Some(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "connect timed out",
                ))
            }
        }
    }
    let source =
        last.unwrap_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no address"));
    Err(Error::Connect {
        host: host.to_string(),
        port,
        source,
    })
}
