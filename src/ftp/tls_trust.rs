//! Which server certificates we trust, and what we tell the user about one we refuse.
//!
//! The rules, first match wins:
//! 1. **A pin** (`fingerprint`): exactly the certificate with that SHA-256 is trusted, whoever
//!    signed it, and any other is refused, even one a CA vouches for. A pin says "this
//!    certificate and no other" (curl's pinned public key, lftp's fingerprint setting).
//! 2. **insecure**: any certificate (handshake signatures are still checked by rustls).
//! 3. **A certificate given in `ca_file` is trusted as itself.** Most NAS and vsftpd set-ups use
//!    a self-signed certificate made with `openssl req -x509`, which marks it as a CA; WebPKI
//!    rules (rustls' verifier) refuse a CA certificate as a server's own (`CaUsedAsEndEntity`),
//!    so handing the server's certificate over with `--ca-file` would not work otherwise. As
//!    with a pin, its name and dates are not checked: the user gave us this very certificate.
//! 4. **WebPKI**: a chain to the system roots or to a CA in `ca_file`, valid now, issued for
//!    the host name we connect to.
//!
//! The pool's one [`RecordingVerifier`] (rustls resumes a TLS session only under the verifier
//! that made it, so all connections share it) remembers the certificate it last refused: the
//! handshake error then shows that certificate's fingerprint and names, so the user can check
//! them with the server's administrator and pin it.

use std::fmt;
use std::sync::Arc;

use log::{debug, warn};
use parking_lot::Mutex;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::certificate::{Fingerprint, Names, names};
use super::config::FtpConfig;
use crate::remote::{RemoteError, RemoteErrorKind};

/// The trust rules of one pool (see the module doc), built once from the configuration.
#[derive(Debug)]
pub struct Trust {
    provider: Arc<CryptoProvider>,
    rule: Rule,
}

#[derive(Debug)]
enum Rule {
    Pinned(Fingerprint),
    AnyCertificate,
    Verified {
        /// The certificates of `ca_file`, each trusted as itself.
        own: Vec<CertificateDer<'static>>,
        /// None when no certificate can serve as a root (only `own` is trusted then).
        webpki: Option<Arc<WebPkiServerVerifier>>,
    },
}

/// A certificate the verifier refused, described for the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub fingerprint: Fingerprint,
    /// `None` when the certificate could not be read far enough.
    pub names: Option<Names>,
    /// The pin it failed to match, when a pin was the rule.
    pub pinned: Option<Fingerprint>,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "certificate {}", self.fingerprint)?;
        match &self.names {
            Some(names) if names.subject == names.issuer => {
                write!(f, ", subject {} (self-signed)", names.subject)
            }
            Some(names) => write!(f, ", subject {}, issuer {}", names.subject, names.issuer),
            None => f.write_str(" (unreadable names)"),
        }
    }
}

fn setup_error(message: String) -> RemoteError {
    RemoteError::new(RemoteErrorKind::Other, message)
}

impl Trust {
    /// The rules for `config`: loads the system roots and `ca_file` unless a pin or `insecure`
    /// makes them irrelevant.
    pub fn for_config(
        config: &FtpConfig,
        provider: Arc<CryptoProvider>,
    ) -> Result<Trust, RemoteError> {
        let rule = if let Some(pin) = config.fingerprint {
            if config.insecure || config.ca_file.is_some() {
                warn!("a certificate fingerprint is pinned: insecure and the CA file are not used");
            }
            Rule::Pinned(pin)
        } else if config.insecure {
            warn!(
                "TLS certificate verification is OFF (insecure): the identity of {} is not checked",
                config.host
            );
            Rule::AnyCertificate
        } else {
            let own = match &config.ca_file {
                Some(path) => read_ca_file(path)?,
                None => Vec::new(),
            };
            let roots = trusted_roots(&own)?;
            let webpki = if roots.is_empty() {
                None
            } else {
                let builder =
                    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone());
                let built = builder.build();
                Some(built.map_err(|e| setup_error(format!("TLS setup: {e}")))?)
            };
            Rule::Verified { own, webpki }
        };
        Ok(Trust { provider, rule })
    }

    fn check(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match &self.rule {
            Rule::Pinned(pin) if Fingerprint::of(end_entity) == *pin => {
                Ok(ServerCertVerified::assertion())
            }
            Rule::Pinned(_) => Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            )),
            Rule::AnyCertificate => Ok(ServerCertVerified::assertion()),
            Rule::Verified { own, .. } if own.iter().any(|cert| cert == end_entity) => {
                debug!("server certificate is one given in the CA file: trusted as itself");
                Ok(ServerCertVerified::assertion())
            }
            Rule::Verified {
                webpki: Some(webpki),
                ..
            } => webpki.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            ),
            Rule::Verified { webpki: None, .. } => Err(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer,
            )),
        }
    }

    fn pin(&self) -> Option<Fingerprint> {
        match self.rule {
            Rule::Pinned(pin) => Some(pin),
            _ => None,
        }
    }
}

/// The certificates of a PEM file.
fn read_ca_file(path: &std::path::Path) -> Result<Vec<CertificateDer<'static>>, RemoteError> {
    let shown = path.display();
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect())
        .map_err(|e| setup_error(format!("cannot read CA file {shown}: {e}")))?;
    if certs.is_empty() {
        return Err(setup_error(format!(
            "CA file {shown} holds no PEM certificate"
        )));
    }
    Ok(certs)
}

/// System roots plus the certificates of the CA file that can act as roots (a server's own
/// certificate that cannot is still trusted as itself).
fn trusted_roots(own: &[CertificateDer<'static>]) -> Result<RootCertStore, RemoteError> {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for e in &native.errors {
        debug!("loading system CA certificates: {e}");
    }
    let (added, ignored) = roots.add_parsable_certificates(native.certs);
    debug!("{added} system CA certificates loaded ({ignored} unusable)");
    let (added, ignored) = roots.add_parsable_certificates(own.iter().cloned());
    debug!("{added} CA file certificates usable as roots ({ignored} not)");
    if roots.is_empty() && own.is_empty() {
        return Err(setup_error(
            "no trusted CA certificates: the system has none; give a CA file, pin the server's \
             certificate with a fingerprint, or use insecure"
                .into(),
        ));
    }
    Ok(roots)
}

/// The verifier of every connection of a pool: its [`Trust`], and the certificate it last
/// refused (for the error message; kept until the next refusal, so that a handshake succeeding
/// on another connection meanwhile cannot wipe it before it is reported).
#[derive(Debug)]
pub struct RecordingVerifier {
    trust: Trust,
    refused: Mutex<Option<Refusal>>,
}

impl RecordingVerifier {
    pub fn new(trust: Trust) -> RecordingVerifier {
        RecordingVerifier {
            trust,
            refused: Mutex::new(None),
        }
    }

    /// The certificate refused by the last failed verification, if any.
    pub fn last_refusal(&self) -> Option<Refusal> {
        self.refused.lock().clone()
    }
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let result = self
            .trust
            .check(end_entity, intermediates, server_name, ocsp_response, now);
        if result.is_err() {
            *self.refused.lock() = Some(Refusal {
                fingerprint: Fingerprint::of(end_entity),
                names: names(end_entity),
                pinned: self.trust.pin(),
            });
        }
        result
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.trust.provider.signature_verification_algorithms;
        verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.trust.provider.signature_verification_algorithms;
        verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.trust
            .provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The sentence for a refused certificate: what it is and the ways out.
pub fn refusal_message(where_: &str, error: &dyn fmt::Display, refusal: &Refusal) -> String {
    match refusal.pinned {
        Some(pin) => format!(
            "TLS handshake with {where_} failed: the server's {refusal} is not the pinned \
             certificate {pin}"
        ),
        None => format!(
            "TLS handshake with {where_} failed: {error}; the server showed {refusal}. If that \
             is your server's certificate, pin it with --fingerprint {}, or trust it (or its CA) \
             with --ca-file; --insecure skips verification",
            refusal.fingerprint
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ftp::certificate::tests::{SELF_SIGNED, UTF8_NAMES, der};

    fn verifier(configure: impl FnOnce(&mut FtpConfig)) -> RecordingVerifier {
        let mut config = FtpConfig::new("nas.example", 21);
        configure(&mut config);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        RecordingVerifier::new(Trust::for_config(&config, provider).expect("trust"))
    }

    fn verify(verifier: &RecordingVerifier, pem: &str) -> Result<(), rustls::Error> {
        let cert = CertificateDer::from(der(pem));
        let name = ServerName::try_from("nas.example").unwrap();
        verifier
            .verify_server_cert(&cert, &[], &name, &[], UnixTime::now())
            .map(|_| ())
    }

    fn pem_file(pem: &str) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!(
            "ftpfs-trust-{}-{:?}.pem",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::write(&path, pem).unwrap();
        path
    }

    #[test]
    fn a_pin_trusts_exactly_its_certificate() {
        let pin = Fingerprint::of(&der(SELF_SIGNED));
        let pinned = verifier(|c| c.fingerprint = Some(pin));
        assert_eq!(verify(&pinned, SELF_SIGNED), Ok(()));
        assert_eq!(pinned.last_refusal(), None);

        assert!(verify(&pinned, UTF8_NAMES).is_err());
        let refusal = pinned.last_refusal().expect("refusal recorded");
        assert_eq!(refusal.pinned, Some(pin));
        assert_eq!(refusal.fingerprint, Fingerprint::of(&der(UTF8_NAMES)));
        let message = refusal_message("h:21", &"x", &refusal);
        assert_eq!(
            message,
            format!(
                "TLS handshake with h:21 failed: the server's certificate {}, subject \
                 CN=Ünïcödé server, emailAddress=admin@example.org (self-signed) is not the \
                 pinned certificate {pin}",
                refusal.fingerprint
            )
        );
        // A later success keeps the record (another connection may not have reported it yet).
        assert_eq!(verify(&pinned, SELF_SIGNED), Ok(()));
        assert_eq!(pinned.last_refusal(), Some(refusal));
    }

    #[test]
    fn a_self_signed_ca_certificate_in_the_ca_file_is_trusted_as_itself() {
        let path = pem_file(SELF_SIGNED);
        let trusting = verifier(|c| c.ca_file = Some(path.clone()));
        let result = verify(&trusting, SELF_SIGNED);
        let other = verify(&trusting, UTF8_NAMES);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(result, Ok(()));
        // Another self-signed certificate is still refused, and described.
        assert!(other.is_err(), "{other:?}");
        let refusal = trusting.last_refusal().expect("refusal recorded");
        assert_eq!(refusal.pinned, None);
        let message = refusal_message("h:21", &"invalid peer certificate: UnknownIssuer", &refusal);
        assert!(
            message.starts_with("TLS handshake with h:21 failed: invalid peer certificate"),
            "{message}"
        );
        assert!(
            message.contains(&format!("--fingerprint {}", refusal.fingerprint)),
            "{message}"
        );
        assert!(message.contains("subject CN=Ünïcödé server"), "{message}");
    }

    #[test]
    fn without_the_ca_file_webpki_refuses_a_self_signed_certificate() {
        let path = pem_file(UTF8_NAMES);
        let strict = verifier(|c| c.ca_file = Some(path.clone()));
        let result = verify(&strict, SELF_SIGNED);
        std::fs::remove_file(&path).unwrap();
        assert!(
            matches!(result, Err(rustls::Error::InvalidCertificate(_))),
            "{result:?}"
        );
        let names = strict.last_refusal().and_then(|r| r.names).expect("names");
        assert_eq!(names.subject, "C=DE, O=Example NAS, CN=nas.example");
    }

    #[test]
    fn insecure_accepts_anything_and_records_nothing() {
        let any = verifier(|c| c.insecure = true);
        assert_eq!(verify(&any, SELF_SIGNED), Ok(()));
        assert_eq!(verify(&any, UTF8_NAMES), Ok(()));
        assert_eq!(any.last_refusal(), None);
    }
}
