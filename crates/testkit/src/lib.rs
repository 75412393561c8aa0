//! Test support shared by the tableshare crates.
//!
//! Storage and transport promise to survive a store that fails: a request that errors, a request
//! that was applied but whose response was lost, a request that is slow. Promises like that are
//! only worth what their tests are, and the tests need a store that misbehaves on cue. This crate
//! holds that store, [`FaultStore`], so every crate tests against the same one:
//!
//! - it counts requests by kind ([`Counts`]), so a test can prove that opening a table costs a
//!   bounded number of requests however many versions it has;
//! - it records every request ([`Request`]), so a test can enumerate the IO steps of an
//!   operation and then inject a fault at each step in turn;
//! - it injects [`Fault`]s at the n-th request from now, or at the next request of a kind or on
//!   a path.
//!
//! ```
//! use std::sync::Arc;
//! use object_store::{ObjectStoreExt, PutPayload, memory::InMemory, path::Path};
//! use tableshare_testkit::{Fault, FaultStore, Op};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let store = FaultStore::new(Arc::new(InMemory::new()));
//! // The next put is applied but its caller sees an error: was it written or not?
//! store.fail_next(Op::Put, None, Fault::LostResponse);
//! let path = Path::from("a");
//! assert!(store.put(&path, PutPayload::from_static(b"x")).await.is_err());
//! assert!(store.head(&path).await.is_ok(), "the write happened anyway");
//! assert_eq!(store.counts().put, 1);
//! # }
//! ```
//!
//! [`LaxCreateStore`] breaks conditional create on cue (refused outright, or silently
//! overwriting), so storage can prove it refuses such stores instead of committing on them.
//!
//! Not for production use: this crate is a dev-dependency of the others.
#![deny(missing_docs)]

mod bench_data;
mod fault_store;
mod lax_create;

pub use bench_data::{bench_batch, bench_schema, percentile};
pub use fault_store::{Counts, Fault, FaultStore, Op, Request};
pub use lax_create::{LaxCreate, LaxCreateStore};
