//! TLS for `wss://`, on rustls: server certificates and optional client-certificate
//! verification (mutual TLS); client trust (the Mozilla roots, the platform's, a custom CA, or
//! an explicit insecure mode) and client certificates.
//!
//! The crypto provider is the process default when one is installed
//! (`rustls::crypto::CryptoProvider::install_default`), else `aws-lc-rs` or `ring`, whichever
//! feature is on (`aws-lc-rs` when both are).

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

use crate::error::{Error, Result};

/// The crypto provider: the process default, else the one a feature compiled in.
pub fn provider() -> Result<Arc<rustls::crypto::CryptoProvider>> {
    if let Some(p) = rustls::crypto::CryptoProvider::get_default() {
        return Ok(p.clone());
    }
    #[cfg(feature = "aws-lc-rs")]
    return Ok(Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
    #[cfg(all(feature = "ring", not(feature = "aws-lc-rs")))]
    return Ok(Arc::new(rustls::crypto::ring::default_provider()));
    #[cfg(not(any(feature = "ring", feature = "aws-lc-rs")))]
    Err(Error::tls_setup(
        "no crypto provider: turn on wsx's `ring` or `aws-lc-rs` feature, or install a \
         process default with rustls::crypto::CryptoProvider::install_default",
    ))
}

/// The certificates of a PEM file (at least one).
pub fn certificates_from_pem_file(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| Error::tls(format!("cannot read {}", path.display()), e))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::tls(format!("{} is not PEM", path.display()), e))?;
    if certs.is_empty() {
        return Err(Error::tls_setup(format!(
            "{}: no certificate found",
            path.display()
        )));
    }
    Ok(certs)
}

/// The private key of a PEM file (PKCS#8, PKCS#1 or SEC1).
pub fn private_key_from_pem_file(path: &Path) -> Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_file(path)
        .map_err(|e| Error::tls(format!("no private key read from {}", path.display()), e))
}

/// A server TLS configuration from PEM certificate chain and private key files.
pub fn server_config_from_pem_files(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>> {
    ServerTls::from_pem_files(cert, key)?.build()
}

/// A server TLS configuration from DER certificates and key (HTTP/1.1 ALPN, no client
/// certificates asked for).
pub fn server_config(
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<rustls::ServerConfig>> {
    ServerTls::new(certs, key).build()
}

/// Whether a server asks clients for a certificate.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub enum ClientAuth {
    /// It does not (the default).
    #[default]
    None,
    /// Clients may present a certificate, which must then chain to one of these CAs; clients
    /// without one are let in too.
    Optional(Vec<CertificateDer<'static>>),
    /// Clients must present a certificate chaining to one of these CAs.
    Required(Vec<CertificateDer<'static>>),
}

/// A server's TLS configuration: its certificate and key, and client certificates.
///
/// ```no_run
/// # fn run() -> wsx::Result<()> {
/// use std::path::Path;
/// use wsx::tls::{ClientAuth, ServerTls, certificates_from_pem_file};
///
/// let clients_ca = certificates_from_pem_file(Path::new("clients-ca.pem"))?;
/// let tls = ServerTls::from_pem_files(Path::new("cert.pem"), Path::new("key.pem"))?
///     .client_auth(ClientAuth::Required(clients_ca))
///     .build()?;
/// let server = wsx::Server::builder().tls(tls);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct ServerTls {
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    client_auth: ClientAuth,
}

impl ServerTls {
    /// From a DER certificate chain and its key.
    pub fn new(certs: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>) -> Self {
        Self {
            certs,
            key,
            client_auth: ClientAuth::None,
        }
    }

    /// From PEM files: a certificate chain and its private key.
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Self> {
        Ok(Self::new(
            certificates_from_pem_file(cert)?,
            private_key_from_pem_file(key)?,
        ))
    }

    /// Whether clients are asked for a certificate (see [`ClientAuth`]).
    pub fn client_auth(mut self, auth: ClientAuth) -> Self {
        self.client_auth = auth;
        self
    }

    /// The rustls configuration (ALPN `http/1.1`).
    pub fn build(self) -> Result<Arc<rustls::ServerConfig>> {
        let provider = provider()?;
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::tls("the crypto provider supports no safe TLS version", e))?;
        let builder = match self.client_auth {
            ClientAuth::None => builder.with_no_client_auth(),
            ClientAuth::Optional(cas) | ClientAuth::Required(cas) if cas.is_empty() => {
                return Err(Error::tls_setup(
                    "client certificates asked for, but no CA to check them against",
                ));
            }
            ClientAuth::Optional(cas) => {
                builder.with_client_cert_verifier(client_verifier(cas, provider, true)?)
            }
            ClientAuth::Required(cas) => {
                builder.with_client_cert_verifier(client_verifier(cas, provider, false)?)
            }
        };
        let mut cfg = builder
            .with_single_cert(self.certs, self.key)
            .map_err(|e| Error::tls("the certificate and key do not make a configuration", e))?;
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(cfg))
    }
}

fn client_verifier(
    cas: Vec<CertificateDer<'static>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
    optional: bool,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>> {
    let mut roots = rustls::RootCertStore::empty();
    for c in cas {
        roots
            .add(c)
            .map_err(|e| Error::tls("a client CA certificate is not usable", e))?;
    }
    let builder =
        rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
    let builder = if optional {
        builder.allow_unauthenticated()
    } else {
        builder
    };
    builder
        .build()
        .map_err(|e| Error::tls("the client certificate verifier cannot be built", e))
}

/// Whom a client trusts.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Trust {
    /// The Mozilla web PKI roots compiled in (feature `webpki-roots`; the default when on).
    WebPki,
    /// The platform's roots (feature `native-roots`: the system store, `SSL_CERT_FILE` and
    /// `SSL_CERT_DIR`, through rustls-native-certs; the default without `webpki-roots`).
    Native,
    /// These CA certificates (PEM files or DER), instead of any roots.
    Custom(Vec<CertificateDer<'static>>),
    /// Accept any certificate. Only for testing: it makes TLS useless against an active
    /// attacker.
    Insecure,
}

impl Default for Trust {
    fn default() -> Self {
        if cfg!(feature = "webpki-roots") {
            Self::WebPki
        } else {
            Self::Native
        }
    }
}

impl Trust {
    /// Trust the CA certificates in a PEM file.
    pub fn ca_file(path: &Path) -> Result<Self> {
        Ok(Self::Custom(certificates_from_pem_file(path)?))
    }

    /// The rustls client configuration for this trust, without a client certificate. Those
    /// of the web and platform roots are built once per process (building the store is the
    /// costly part) and shared by every connection.
    pub fn client_config(&self) -> Result<Arc<rustls::ClientConfig>> {
        static WEBPKI: std::sync::OnceLock<Arc<rustls::ClientConfig>> = std::sync::OnceLock::new();
        static NATIVE: std::sync::OnceLock<Arc<rustls::ClientConfig>> = std::sync::OnceLock::new();
        let cache = match self {
            Trust::WebPki => &WEBPKI,
            Trust::Native => &NATIVE,
            _ => return self.client_config_with(None),
        };
        if let Some(c) = cache.get() {
            return Ok(c.clone());
        }
        let c = self.client_config_with(None)?;
        Ok(cache.get_or_init(|| c).clone())
    }

    /// The rustls client configuration for this trust, presenting `identity` to servers that
    /// ask for a client certificate.
    pub fn client_config_with(
        &self,
        identity: Option<&Identity>,
    ) -> Result<Arc<rustls::ClientConfig>> {
        let provider = provider()?;
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::tls("the crypto provider supports no safe TLS version", e))?;
        let builder = match self {
            Trust::WebPki => builder.with_root_certificates(webpki_roots()?),
            Trust::Native => builder.with_root_certificates(native_roots()?),
            Trust::Custom(certs) => {
                let mut roots = rustls::RootCertStore::empty();
                for c in certs {
                    roots
                        .add(c.clone())
                        .map_err(|e| Error::tls("a CA certificate is not usable", e))?;
                }
                builder.with_root_certificates(roots)
            }
            Trust::Insecure => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAny(provider))),
        };
        let mut cfg = match identity {
            None => builder.with_no_client_auth(),
            Some(id) => builder
                .with_client_auth_cert(id.certs.clone(), id.key.clone_key())
                .map_err(|e| Error::tls("the client certificate and key are not usable", e))?,
        };
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(cfg))
    }
}

#[cfg(feature = "webpki-roots")]
fn webpki_roots() -> Result<rustls::RootCertStore> {
    Ok(rustls::RootCertStore::from_iter(
        webpki_roots::TLS_SERVER_ROOTS.iter().cloned(),
    ))
}

#[cfg(not(feature = "webpki-roots"))]
fn webpki_roots() -> Result<rustls::RootCertStore> {
    Err(Error::tls_setup(
        "Trust::WebPki needs wsx's `webpki-roots` feature",
    ))
}

#[cfg(feature = "native-roots")]
fn native_roots() -> Result<rustls::RootCertStore> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = rustls::RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        let why = found
            .errors
            .into_iter()
            .next()
            .map(|e| e.to_string())
            .unwrap_or_else(|| "the store is empty".into());
        return Err(Error::tls_setup(format!(
            "no usable root certificate found on this system ({why})"
        )));
    }
    Ok(roots)
}

#[cfg(not(feature = "native-roots"))]
fn native_roots() -> Result<rustls::RootCertStore> {
    Err(Error::tls_setup(
        "Trust::Native needs wsx's `native-roots` feature",
    ))
}

/// A client certificate chain and its key, presented to servers that ask for one (mutual TLS).
pub struct Identity {
    pub(crate) certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl Identity {
    /// From a DER chain and key.
    pub fn new(certs: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>) -> Self {
        Self { certs, key }
    }

    /// From PEM files: a certificate chain and its private key.
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Self> {
        Ok(Self::new(
            certificates_from_pem_file(cert)?,
            private_key_from_pem_file(key)?,
        ))
    }
}

impl Clone for Identity {
    fn clone(&self) -> Self {
        Self {
            certs: self.certs.clone(),
            key: self.key.clone_key(),
        }
    }
}

/// The chain's length, never the key.
impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("certificates", &self.certs.len())
            .finish_non_exhaustive()
    }
}

pub(crate) fn server_name(host: &str) -> Result<ServerName<'static>> {
    ServerName::try_from(
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
    )
    .map_err(|e| Error::tls(format!("{host:?} is not a valid server name"), e))
}

#[derive(Debug)]
struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_provider_is_the_one_the_features_choose() {
        let p = format!("{:?}", provider().unwrap().key_provider);
        if cfg!(feature = "aws-lc-rs") {
            assert!(p.contains("AwsLcRs"), "{p}");
        } else if cfg!(feature = "ring") {
            assert!(p.contains("Ring"), "{p}");
        }
    }

    #[test]
    fn the_default_trust_follows_the_roots_compiled_in() {
        let t = Trust::default();
        if cfg!(feature = "webpki-roots") {
            assert!(matches!(t, Trust::WebPki));
            assert!(t.client_config().is_ok());
        } else {
            assert!(matches!(t, Trust::Native));
        }
        if !cfg!(feature = "native-roots") {
            let e = Trust::Native.client_config().unwrap_err();
            assert!(e.to_string().contains("native-roots"), "{e}");
        }
    }
}
