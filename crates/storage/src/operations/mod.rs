//! One file per user-facing operation on a table, as `impl Table` blocks: the [`Table`]
//! handle holds state (its directory, the version it last saw, its options), the operations
//! hold logic. Each mutation builds the next manifest on a base version and commits it through
//! [`crate::commit`].
//!
//! [`Table`]: crate::Table

mod compact;
mod delete;
pub(crate) mod gc;
mod insert;
mod merge_offer;

pub(crate) use merge_offer::{MergeOffer, MergeOffers, OfferGuard};

pub use insert::TxnToken;
mod revert;
mod schema;
mod update;
