//! One process-wide rustls crypto provider for the worker's and the client's TLS.
//!
//! rustls picks its provider from its crate features only when exactly one of `ring` and
//! `aws-lc-rs` is enabled. A program that also links `object_store`'s cloud stores (the CLI
//! does, for S3 and Azure roots) has both, and rustls then panics at the first handshake
//! instead of choosing. So before any TLS configuration is built, ring (what tonic's `tls-ring`
//! is built for) is installed as the process default, unless the program installed one itself.

/// Makes sure a process-wide rustls crypto provider is installed (see the module docs).
pub(crate) fn ensure_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race with another thread installing one is fine: a provider is installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}
