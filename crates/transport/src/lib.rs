//! Sharing tables through object stores: publish, push, replicate, pull and independent
//! copies between a local [`Catalog`](tableshare_storage::Catalog) and cloud roots on any
//! object store (local disk, memory, S3), with no server to run.
//!
//! A published table is a table directory in the storage format (docs/format.md) under its
//! org's cloud root, so sharing is copying what the other side lacks, verified, then committing
//! manifests in version order with one conditional create each:
//!
//! | operation | what moves | safety |
//! | --- | --- | --- |
//! | [`Transport::publish`] | every version of a local table | needs the org key; the cloud address must be free |
//! | [`Transport::push`] | versions the cloud lacks, and only files it lacks | non-fast-forward when the cloud moved on |
//! | [`Transport::replicate`] | a cloud table into a read-only replica | every manifest verified before the replica exists |
//! | [`Transport::pull`] | new cloud versions, one local commit each | each file verified before its version commits |
//! | [`Transport::create_copy`] | a cloud version into a writable table | as replicate |
//! | [`Transport::cloud_ls`], [`Transport::cloud_drop`] | an org's tables | drop needs the key |
//!
//! Access is enforced in the bytes (see `keys`): every version is signed with an Ed25519 key
//! derived from the org key and verified against the org's public key a replica pinned;
//! private tables have every object sealed with AES-256-GCM.
//!
//! Where the cloud is: [`CloudConfig`]. Progress: [`ProgressFn`].
//!
//! This crate has no feature flags; it enables `object_store`'s `aws` feature for `s3://`.
#![deny(missing_docs)]

mod admin;
mod config;
mod error;
mod keys;
mod layout;
mod progress;
mod publish;
mod pull;
mod state;
mod transport;
mod versions;
mod window;

#[cfg(test)]
mod hostile_tests;

pub use admin::CloudEntry;
pub use config::{CloudConfig, RootSpec, open_store_url};
pub use error::{Result, TransportError};
pub use layout::Access;
pub use progress::{ProgressEvent, ProgressFn, TransferReport};
pub use transport::Transport;
