//! The storage format and commit protocol: the tier that both the local engine and the
//! transport build on (docs/format.md specifies it).
//!
//! | module | role |
//! | --- | --- |
//! | `store` | raw object IO under a store root; verified content-addressed objects |
//! | `log` | the commit protocol: a versioned log of self-verifying manifests |
//! | `manifest` | the table manifest: schema with column ids, data files, deletion vectors |
//! | `datafile` | Parquet data files with a `_row_key` column; roaring deletion vectors |
//! | `reader` | verified ranged reads of data files (parquet's async reader over a store root) |
//! | `catalog` | the catalog manifest: the path → entry map |
//! | `table_dir` | one table directory: its log and verified objects |

pub(crate) mod catalog;
pub(crate) mod datafile;
pub(crate) mod log;
pub(crate) mod manifest;
pub(crate) mod reader;
pub(crate) mod store;
pub(crate) mod table_dir;
