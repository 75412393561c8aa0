//! Insert: appending rows under fresh row keys. An append never conflicts: when a rival
//! commits first it is rebuilt on the winner (fresh keys there). With a [`TxnToken`] it is also
//! idempotent: retrying the same insert after any failure, an unknown commit outcome included,
//! never inserts twice. An insert that leaves too many small files starts a compaction in the
//! background; it never merges files itself, so no append pays for merging.

use std::fmt;
use std::str::FromStr;

use arrow_array::{RecordBatch, UInt64Array};
use serde::Serialize;
use tracing::debug;
use uuid::Uuid;

use crate::align::align_batch;
use crate::commit::Footprint;
use crate::error::{Result, StorageError};
use crate::format::manifest::{DataFileEntry, Operation, column_id, now_ms, public_schema};
use crate::format::table_dir::Loaded;
use crate::table::Table;

/// A caller's token that makes an insert idempotent ([`Table::insert_with_token`]).
///
/// Make one per logical insert and pass the same token to every retry of it. It records when it
/// was made, which bounds how far back a retry looks for an earlier attempt that landed: the
/// versions committed since. Its text form (`Display` / `FromStr`) survives a process restart.
///
/// ```
/// use tableshare_storage::TxnToken;
///
/// let token = TxnToken::new();
/// let again: TxnToken = token.to_string().parse()?;
/// assert_eq!(token, again);
/// # Ok::<(), tableshare_storage::StorageError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TxnToken {
    created_ms: u64,
    id: Uuid,
}

impl TxnToken {
    /// A fresh token, created now.
    pub fn new() -> Self {
        Self {
            created_ms: now_ms(),
            id: Uuid::new_v4(),
        }
    }

    /// When the token was made, milliseconds since the Unix epoch.
    pub fn created_ms(&self) -> u64 {
        self.created_ms
    }
}

impl Default for TxnToken {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for TxnToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.created_ms, self.id.simple())
    }
}

impl FromStr for TxnToken {
    type Err = StorageError;

    fn from_str(s: &str) -> Result<Self> {
        let bad = || StorageError::InvalidToken {
            token: s.to_owned(),
        };
        let (ms, id) = s.split_once('-').ok_or_else(bad)?;
        Ok(Self {
            created_ms: ms.parse().map_err(|_| bad())?,
            id: Uuid::parse_str(id).map_err(|_| bad())?,
        })
    }
}

impl Table {
    /// Appends rows; they get fresh row keys. Returns the new version (the current one if
    /// `batch` is empty). Columns are matched by name; nullable columns may be omitted.
    ///
    /// # Errors
    ///
    /// [`StorageError::ReadOnly`], [`StorageError::RowsDoNotFit`] for a batch that does not
    /// fit the schema, [`StorageError::VersionConflict`] if a rival dropped a column being
    /// inserted into (other rivals are rebased onto automatically).
    pub async fn insert(&self, batch: &RecordBatch) -> Result<u64> {
        self.insert_with_token(batch, &TxnToken::new()).await
    }

    /// [`Table::insert`], idempotent under `token`: if an earlier call with the same token
    /// committed (even if it then reported an error, such as
    /// [`StorageError::CommitOutcomeUnknown`]), this returns that version and inserts nothing.
    /// The earlier commit is found among the versions committed since the token was made, as
    /// long as garbage collection has not expired them.
    ///
    /// # Errors
    ///
    /// As [`Table::insert`].
    pub async fn insert_with_token(&self, batch: &RecordBatch, token: &TxnToken) -> Result<u64> {
        self.writable("insert")?;
        let first_base = self.current();
        let aligned = align_batch(self.path(), &first_base.manifest.schema, batch)?;
        let n = aligned.num_rows() as u64;
        if n == 0 {
            return Ok(first_base.version());
        }
        let ids: Vec<u32> = aligned
            .schema()
            .fields()
            .iter()
            .filter_map(|f| column_id(f))
            .collect();
        let token_text = token.to_string();
        // Versions at or below this one were already searched for the token.
        let searched: std::sync::Mutex<Option<u64>> = std::sync::Mutex::new(None);
        // The merge the last build committed with the rows, if any (see below).
        let carried: std::sync::Mutex<Option<super::MergeOffer>> = std::sync::Mutex::new(None);
        // The files the last build wrote: when they were written, their first key, entries.
        type Written = (std::time::Instant, u64, Vec<DataFileEntry>);
        let written: std::sync::Mutex<Option<Written>> = std::sync::Mutex::new(None);
        let (searched, aligned, ids, token_text, carried, written) =
            (&searched, &aligned, &ids, &token_text, &carried, &written);
        let limits = self.options().file_limits();
        let version = self
            .commit_change(&Footprint::Append, |base: Loaded| {
            Box::pin(async move {
            let base = &base;
                *carried.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
                let already = *searched.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                if let Some(v) = self.find_token(base, token, token_text, already).await? {
                    debug!(table = %self.path(), version = v, "insert already committed under its token");
                    return Ok(crate::commit::Built::Done(v));
                }
                *searched.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
                    Some(base.version());
                let schema = &base.manifest.schema;
                if ids
                    .iter()
                    .any(|id| !schema.fields().iter().any(|f| column_id(f) == Some(*id)))
                {
                    return Err(StorageError::VersionConflict {
                        table: self.path().to_owned(),
                        attempted: base.version() + 1,
                        current: base.version(),
                    });
                }
                let first = base.manifest.next_row_key;
                // A rival that allocated no keys (a compaction, a delete) leaves the keys, and so
                // the files already written, valid for this base: reuse them while they are
                // young enough for GC's age guard (see `crate::commit`).
                let reusable = written
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .take()
                    .filter(|(at, key, _)| {
                        *key == first && at.elapsed() < self.options().max_commit_duration / 2
                    });
                let entries = match reusable {
                    Some((at, key, entries)) => {
                        *written.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
                            Some((at, key, entries.clone()));
                        entries
                    }
                    None => {
                        let at = std::time::Instant::now();
                        let keys = UInt64Array::from_iter_values(first..first + n);
                        let entries = self.store.write_rows(&keys, aligned, limits).await?;
                        *written.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
                            Some((at, first, entries.clone()));
                        entries
                    }
                };
                // A merge a compaction of this process finished is committed with this append
                // when it still applies (operations/merge_offer.rs), instead of waiting for it.
                let merge = self.hooks.merge_offer().filter(|o| {
                    o.fresh(self.options().max_commit_duration) && o.applies_to(&base.manifest)
                });
                let mut m = Self::next_manifest(
                    base,
                    Operation::Insert {
                        rows: n,
                        files_compacted: merge.as_ref().map_or(0, |o| o.replaced.len() as u64),
                    },
                );
                if let Some(merge) = &merge {
                    merge.apply(&mut m);
                }
                *carried.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = merge;
                m.txn_token = Some(token_text.clone());
                m.next_row_key = first + n;
                m.row_count += n;
                m.rows_added = n;
                m.files.extend(entries);
                Ok(crate::commit::Built::Commit(Box::new(m)))
            })
            })
            .await?;
        if let Some(merge) = carried
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
        {
            merge.landed_in(version);
        }
        self.compact_in_background_if_needed();
        Ok(version)
    }

    /// The version at or below `base` committed under `token`, looking only at versions
    /// committed since the token was made (commit times never decrease along the chain) and
    /// above `searched`.
    async fn find_token(
        &self,
        base: &Loaded,
        token: &TxnToken,
        text: &str,
        searched: Option<u64>,
    ) -> Result<Option<u64>> {
        let mut at = base.clone();
        loop {
            if searched.is_some_and(|s| at.version() <= s)
                || at.manifest.timestamp_ms < token.created_ms()
            {
                return Ok(None);
            }
            if at.manifest.txn_token.as_deref() == Some(text) {
                return Ok(Some(at.version()));
            }
            let Some(parent) = at.manifest.parent_version else {
                return Ok(None);
            };
            at = match self.store.load(parent).await {
                Ok(l) => l,
                Err(StorageError::VersionExpired { .. }) => return Ok(None),
                Err(e) => return Err(e),
            };
        }
    }

    /// Appends rows given as serde values (structs or maps keyed by column name), converted
    /// through the table's Arrow schema. JSON-marked columns accept any JSON value.
    ///
    /// # Errors
    ///
    /// As [`Table::insert`] (rows that do not fit the schema included).
    pub async fn insert_rows<T: Serialize>(&self, rows: &[T]) -> Result<u64> {
        self.writable("insert")?;
        let schema = public_schema(&self.current().manifest.schema);
        let batch = crate::rows::rows_to_batch(self.path(), &schema, rows)?;
        self.insert(&batch).await
    }
}
