//! TLS material for both sides: PEM files, generated self-signed certificates, and the rustls
//! configurations of the HTTPS/QUIC server and the QUIC client (TLS 1.3, ring).

use std::path::PathBuf;
use std::sync::Arc;

use meanet_core::BoxError;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// ALPN protocol id of meanet's QUIC inference protocol (framing version 2: metadata + body).
pub const ALPN: &[u8] = b"meanet-v2.1";

/// PEM files for TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// Certificate chain (PEM).
    pub cert: PathBuf,
    /// Private key (PEM).
    pub key: PathBuf,
}

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("TLS setup failed: {what}")]
pub struct TlsError {
    /// What was being set up (names the file where there is one).
    pub what: String,
    /// The cause.
    #[source]
    pub source: BoxError,
}

fn tls_err(what: impl Into<String>) -> impl FnOnce(BoxError) -> TlsError {
    let what = what.into();
    move |source| TlsError { what, source }
}

/// A generated self-signed certificate and its key.
#[derive(Debug, Clone)]
pub struct SelfSigned {
    /// Certificate, DER.
    pub cert_der: Vec<u8>,
    /// Certificate, PEM (to hand to clients).
    pub cert_pem: String,
    /// Private key, PEM.
    pub key_pem: String,
    key_der: Vec<u8>,
}

impl SelfSigned {
    /// The private key, DER.
    pub fn key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()))
    }
}

/// Generates a self-signed certificate for `names` (DNS names or IP addresses).
pub fn self_signed(names: &[&str]) -> Result<SelfSigned, rcgen::Error> {
    let ck = rcgen::generate_simple_self_signed(
        names.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
    )?;
    Ok(SelfSigned {
        cert_der: ck.cert.der().to_vec(),
        cert_pem: ck.cert.pem(),
        key_pem: ck.key_pair.serialize_pem(),
        key_der: ck.key_pair.serialize_der(),
    })
}

/// A certificate chain and its private key.
pub(crate) type CertKey = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

/// Reads a certificate chain and key from PEM files.
pub(crate) fn load(files: &TlsFiles) -> Result<CertKey, TlsError> {
    let cert_what = format!("certificate {}", files.cert.display());
    let certs = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| tls_err(cert_what.clone())(Box::new(e)))?;
    if certs.is_empty() {
        return Err(tls_err(cert_what)("the file holds no certificate".into()));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| tls_err(format!("private key {}", files.key.display()))(Box::new(e)))?;
    Ok((certs, key))
}

/// A TLS 1.3 server configuration offering `alpn`.
pub(crate) fn server_config(
    (certs, key): CertKey,
    alpn: Vec<Vec<u8>>,
) -> Result<rustls::ServerConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| tls_err("server protocol versions")(Box::new(e)))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| tls_err("server certificate and key")(Box::new(e)))?;
    cfg.alpn_protocols = alpn;
    Ok(cfg)
}

/// How a QUIC client trusts the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// A certificate in DER (e.g. from [`crate::RunningServer::quic_certificate`]).
    Der(Vec<u8>),
    /// A PEM file (e.g. written by `meanet serve`).
    PemFile(PathBuf),
}

/// A TLS 1.3 client configuration that trusts exactly `trust` and offers [`ALPN`].
pub(crate) fn client_config(trust: &Trust) -> Result<rustls::ClientConfig, TlsError> {
    let der = match trust {
        Trust::Der(d) => vec![CertificateDer::from(d.clone())],
        Trust::PemFile(p) => CertificateDer::pem_file_iter(p)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .map_err(|e| tls_err(format!("certificate {}", p.display()))(Box::new(e)))?,
    };
    let mut roots = rustls::RootCertStore::empty();
    for c in der {
        roots
            .add(c)
            .map_err(|e| tls_err("trusted certificate")(Box::new(e)))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| tls_err("client protocol versions")(Box::new(e)))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![ALPN.to_vec()];
    Ok(tls)
}
