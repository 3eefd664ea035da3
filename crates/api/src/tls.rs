//! HTTPS for the API and TAXII through rustls: the certificate chain and private key are read
//! from PEM files, and TLS handshakes run in their own tasks (at most [`MAX_HANDSHAKES`] at a
//! time, each within [`HANDSHAKE_TIME`]) so a slow or silent client never holds up others.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;

/// Handshakes in progress at most.
pub const MAX_HANDSHAKES: usize = 128;
/// Time a client has to complete its TLS handshake.
pub const HANDSHAKE_TIME: Duration = Duration::from_secs(10);

/// Why the certificate or key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Only one of the two files is configured.
    #[error("api.tls_certificate and api.tls_key go together: set both, or neither")]
    Incomplete,
    /// A file cannot be read.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The certificate file holds no certificate.
    #[error("{0} holds no PEM certificate (-----BEGIN CERTIFICATE-----)")]
    NoCertificate(PathBuf),
    /// The key file holds no usable key.
    #[error("{path} holds no PEM private key (PKCS#8, PKCS#1 or SEC1): {reason}")]
    Key {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// rustls refused the pair (the key does not match the certificate, say).
    #[error("the certificate and key cannot be used together: {0}")]
    Config(String),
}

/// Largest certificate chain or key file read, in bytes: a path to something else (a device,
/// a log file) is refused instead of read without end.
const MAX_PEM_BYTES: u64 = 1024 * 1024;

/// A TLS server configuration from a PEM certificate chain (the node's certificate first) and
/// its PEM private key. Offers HTTP/1.1 through ALPN.
pub fn server_config(
    certificate: &Path,
    key: &Path,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let read = |path: &Path| {
        use std::io::Read;
        let failed = |reason: String| TlsError::Read {
            path: path.to_path_buf(),
            reason,
        };
        let file = std::fs::File::open(path).map_err(|e| failed(e.to_string()))?;
        let mut pem = Vec::new();
        file.take(MAX_PEM_BYTES + 1)
            .read_to_end(&mut pem)
            .map_err(|e| failed(e.to_string()))?;
        if pem.len() as u64 > MAX_PEM_BYTES {
            return Err(failed(format!(
                "larger than {} KiB: not a certificate or key file",
                MAX_PEM_BYTES / 1024
            )));
        }
        Ok(pem)
    };
    let certificate_pem = read(certificate)?;
    let chain = CertificateDer::pem_slice_iter(&certificate_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Read {
            path: certificate.to_path_buf(),
            reason: format!("not PEM: {e}"),
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate(certificate.to_path_buf()));
    }
    let key_pem = read(key)?;
    let private_key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| TlsError::Key {
        path: key.to_path_buf(),
        reason: e.to_string(),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, private_key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Accepted connections whose TLS handshake is complete, for `axum::serve`.
pub(crate) struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    /// Accepts on `listener` and runs handshakes until `shutdown`.
    pub(crate) fn start(
        listener: TcpListener,
        config: Arc<rustls::ServerConfig>,
        shutdown: CancellationToken,
    ) -> std::io::Result<TlsListener> {
        let local = listener.local_addr()?;
        let (sender, ready) = mpsc::channel(MAX_HANDSHAKES);
        let acceptor = TlsAcceptor::from(config);
        let slots = Arc::new(Semaphore::new(MAX_HANDSHAKES));
        tokio::spawn(async move {
            loop {
                let permit = tokio::select! {
                    () = shutdown.cancelled() => return,
                    permit = slots.clone().acquire_owned() => match permit {
                        Ok(permit) => permit,
                        Err(_) => return,
                    },
                };
                let (stream, peer) = tokio::select! {
                    () = shutdown.cancelled() => return,
                    accepted = listener.accept() => match accepted {
                        Ok(accepted) => accepted,
                        Err(e) => {
                            // Out of file descriptors, say: wait a moment rather than spin.
                            tracing::warn!("api: accepting a connection failed: {e}");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                    },
                };
                let _ = stream.set_nodelay(true);
                let acceptor = acceptor.clone();
                let sender = sender.clone();
                let stop = shutdown.clone();
                tokio::spawn(async move {
                    let _permit = permit;
                    let handshake = tokio::time::timeout(HANDSHAKE_TIME, acceptor.accept(stream));
                    tokio::select! {
                        () = stop.cancelled() => {}
                        done = handshake => match done {
                            Ok(Ok(tls)) => {
                                let _ = sender.send((tls, peer)).await;
                            }
                            Ok(Err(e)) => tracing::debug!("api: TLS handshake with {peer} failed: {e}"),
                            Err(_) => tracing::debug!("api: TLS handshake with {peer} took too long"),
                        },
                    }
                });
            }
        });
        Ok(TlsListener { ready, local })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(connection) => connection,
            // Shutting down: the server stops on the same signal.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_too_large_for_a_certificate_is_refused_without_reading_it_all() {
        let folder = tempfile::tempdir().unwrap();
        let big = folder.path().join("big.pem");
        std::fs::write(&big, vec![b'A'; MAX_PEM_BYTES as usize + 1]).unwrap();
        let error = server_config(&big, &big).unwrap_err().to_string();
        assert!(error.contains("larger than 1024 KiB"), "{error}");
        assert!(error.contains("big.pem"), "{error}");
        let missing = server_config(&folder.path().join("none.pem"), &big)
            .unwrap_err()
            .to_string();
        assert!(missing.contains("none.pem"), "{missing}");
    }
}
