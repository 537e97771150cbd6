//! The HTTP client castbook uses for URL downloads and provider APIs: rustls with the ring
//! crypto provider, installed once per process, and no automatic request retries (castbook
//! decides itself what may be sent again).

use std::sync::Once;
use std::time::Duration;

use crate::error::{Error, Result};

/// A client builder with castbook's TLS set up, a user agent and no automatic retries.
pub fn client_builder(connect_timeout: Duration) -> reqwest::ClientBuilder {
    static TLS: Once = Once::new();
    TLS.call_once(|| {
        // Another part of the process may already have installed a provider; that one is used.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    reqwest::Client::builder()
        .user_agent(concat!("castbook/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(connect_timeout)
        .retry(reqwest::retry::never())
}

/// Build a client, turning a failure into one clear error.
pub fn build(builder: reqwest::ClientBuilder) -> Result<reqwest::Client> {
    builder.build().map_err(|e| {
        Error::network(
            "http_client",
            format!("cannot set up the HTTP client: {}", error_chain(&e)),
        )
    })
}

/// An error and its causes, joined with `: `, each cause said once.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        let s = e.to_string();
        if !s.is_empty() && !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        cur = e.source();
    }
    parts.join(": ")
}

/// Whether any cause in the chain is an I/O error of this kind.
pub fn has_io_kind(err: &(dyn std::error::Error + 'static), kind: std::io::ErrorKind) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && io.kind() == kind
        {
            return true;
        }
        cur = e.source();
    }
    false
}

/// Whether the chain says the host name could not be resolved.
pub fn is_dns_failure(err: &reqwest::Error) -> bool {
    let text = error_chain(err).to_lowercase();
    text.contains("dns error")
        || text.contains("failed to lookup address")
        || text.contains("name or service not known")
        || text.contains("no address associated")
}

/// The TLS failure in the chain, if the connection failed there (a server that does not speak
/// https, a certificate that is not trusted, ...).
pub fn tls_failure(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(t) = e.downcast_ref::<rustls::Error>() {
            return Some(t.to_string());
        }
        let text = e.to_string();
        if e.source().is_none() && (text.contains("tls") || text.contains("handshake")) {
            return Some(text);
        }
        cur = e.source();
    }
    None
}
