//! Verified ranged reads of data files: parquet's [`AsyncFileReader`] over a [`StoreRoot`].
//!
//! A streaming scan reads a data file piece by piece (its footer, then the column chunks of
//! the row groups and columns it needs) rather than whole. Every piece is still checked before
//! it is decoded, at the granularity it is read (docs/format.md, "Range hashes"):
//!
//! - the file's *tail* (page indexes and footer, from the end of the last column chunk to the
//!   end of the file) is fetched with one ranged GET and checked against the BLAKE3 the
//!   manifest records for the file, and the object's size against the recorded size;
//! - the verified footer holds the BLAKE3 of every column chunk (key-value metadata
//!   `tableshare:chunk_blake3`; the first chunk's hash also covers the leading `PAR1`), so each
//!   chunk fetched later is checked against it.
//!
//! A request that is not made of whole hashed pieces is widened to them (parquet asks for whole
//! column chunks anyway) and sliced after the check. Files written before range hashes existed
//! (no `tail` in their entry) are fetched and verified whole, then served from memory, so old
//! tables keep reading. Any mismatch is a [`StorageError::Corrupt`] naming the file.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures::FutureExt;
use futures::future::BoxFuture;
use object_store::{GetOptions, GetRange, ObjectStoreExt};
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::arrow::async_reader::AsyncFileReader;
use parquet::errors::ParquetError;
use parquet::file::metadata::{FooterTail, ParquetMetaData, ParquetMetaDataReader};

use super::datafile::CHUNK_HASHES_KEY;
use super::manifest::{DataFileEntry, TailEntry};
use super::store::{StoreRoot, verify};
use crate::error::{CorruptReason, Result, StorageError};

/// Length of the Parquet footer's fixed end: metadata length (4 bytes) and `PAR1`.
const FOOTER_LEN: usize = 8;

/// Hex digits of one BLAKE3 hash.
const HASH_HEX_LEN: usize = 64;

/// One hashed piece of a file: a column chunk.
#[derive(Debug, Clone)]
struct Piece {
    range: Range<u64>,
    hash: blake3::Hash,
}

/// Where the bytes of a file come from.
#[derive(Debug, Clone)]
enum Source {
    /// Ranged GETs checked piece by piece; the verified tail is kept in memory.
    Ranged {
        /// Column chunks, ascending by offset.
        pieces: Arc<[Piece]>,
        tail_offset: u64,
        tail: Bytes,
    },
    /// A file without range hashes, fetched and verified whole.
    Whole(Bytes),
}

/// An open data file whose every read is verified (see the module docs).
#[derive(Debug, Clone)]
pub(crate) struct DataFileReader {
    root: StoreRoot,
    /// The file's path relative to the store root (named in errors).
    rel: String,
    size: u64,
    metadata: Arc<ParquetMetaData>,
    source: Source,
}

impl DataFileReader {
    /// Opens the data file `rel` described by `entry`: reads and verifies its tail (one ranged
    /// GET) and decodes its footer, or, for an entry without range hashes, reads and verifies
    /// the whole file.
    pub(crate) async fn open(root: &StoreRoot, rel: String, entry: &DataFileEntry) -> Result<Self> {
        let Some(tail_entry) = &entry.tail else {
            let bytes = root.get_verified(&rel, entry.size, &entry.blake3).await?;
            let metadata = ParquetMetaDataReader::new()
                .parse_and_finish(&bytes)
                .map_err(|e| StorageError::undecodable(rel.clone(), e))?;
            return Ok(Self {
                root: root.clone(),
                rel,
                size: entry.size,
                metadata: Arc::new(metadata),
                source: Source::Whole(bytes),
            });
        };
        let tail = fetch_tail(root, &rel, entry.size, tail_entry).await?;
        let metadata = decode_footer(&rel, &tail)?;
        let pieces = chunk_pieces(&rel, &metadata, tail_entry.offset)?;
        Ok(Self {
            root: root.clone(),
            rel,
            size: entry.size,
            metadata: Arc::new(metadata),
            source: Source::Ranged {
                pieces: pieces.into(),
                tail_offset: tail_entry.offset,
                tail,
            },
        })
    }

    /// The file's verified metadata.
    pub(crate) fn metadata(&self) -> &Arc<ParquetMetaData> {
        &self.metadata
    }

    /// Reads byte ranges of the file, each verified before it is returned.
    async fn read_ranges(&self, ranges: Vec<Range<u64>>) -> Result<Vec<Bytes>> {
        let inconsistent =
            |what| StorageError::corrupt(&self.rel, CorruptReason::Inconsistent(what));
        if ranges.iter().any(|r| r.start > r.end || r.end > self.size) {
            return Err(inconsistent("a read falls outside the file"));
        }
        let (pieces, tail_offset, tail) = match &self.source {
            Source::Whole(bytes) => {
                return Ok(ranges
                    .iter()
                    .map(|r| bytes.slice(r.start as usize..r.end as usize))
                    .collect());
            }
            Source::Ranged {
                pieces,
                tail_offset,
                tail,
            } => (pieces, *tail_offset, tail),
        };
        // The pieces each request needs (whole pieces only), fetched once each.
        let mut needed: BTreeMap<usize, Option<Bytes>> = BTreeMap::new();
        for r in ranges
            .iter()
            .filter(|r| r.start < tail_offset && r.start < r.end)
        {
            let first = pieces.partition_point(|p| p.range.end <= r.start);
            let mut covered = r.start;
            for (i, piece) in pieces.iter().enumerate().skip(first) {
                if covered >= r.end.min(tail_offset) {
                    break;
                }
                if piece.range.start > covered {
                    return Err(inconsistent(
                        "a read covers bytes no column chunk hash covers",
                    ));
                }
                needed.insert(i, None);
                covered = piece.range.end;
            }
            if covered < r.end.min(tail_offset) {
                return Err(inconsistent(
                    "a read covers bytes no column chunk hash covers",
                ));
            }
        }
        self.fetch_pieces(pieces, &mut needed).await?;
        ranges
            .iter()
            .map(|r| assemble(r, pieces, &needed, tail_offset, tail))
            .collect::<Option<Vec<Bytes>>>()
            .ok_or_else(|| inconsistent("a verified read came back short"))
    }

    /// Fetches the needed pieces with one coalescing ranged request and verifies each.
    async fn fetch_pieces(
        &self,
        pieces: &[Piece],
        needed: &mut BTreeMap<usize, Option<Bytes>>,
    ) -> Result<()> {
        if needed.is_empty() {
            return Ok(());
        }
        // Adjacent pieces become one range.
        let mut fetch: Vec<Range<u64>> = Vec::new();
        for &i in needed.keys() {
            let r = &pieces[i].range;
            match fetch.last_mut() {
                Some(last) if last.end == r.start => last.end = r.end,
                _ => fetch.push(r.clone()),
            }
        }
        let path = self.root.path(&self.rel);
        let fetched = match self.root.store.get_ranges(&path, &fetch).await {
            Ok(f) => f,
            Err(e) => return Err(read_error(&self.root, &self.rel, self.size, e).await),
        };
        let mut at = fetch.iter().zip(fetched);
        let Some((mut range, mut bytes)) = at.next() else {
            return Ok(());
        };
        for (&i, slot) in needed.iter_mut() {
            let piece = &pieces[i];
            if piece.range.start >= range.end {
                let Some(next) = at.next() else { break };
                (range, bytes) = next;
            }
            let offset = (piece.range.start - range.start) as usize;
            let len = (piece.range.end - piece.range.start) as usize;
            let Some(part) = bytes.get(offset..offset + len) else {
                return Err(StorageError::corrupt(
                    &self.rel,
                    CorruptReason::Inconsistent("a ranged read came back short"),
                ));
            };
            let actual = blake3::hash(part);
            if actual != piece.hash {
                return Err(StorageError::corrupt(
                    &self.rel,
                    CorruptReason::HashMismatch {
                        expected: piece.hash.to_hex().to_string(),
                        actual: actual.to_hex().to_string(),
                    },
                ));
            }
            *slot = Some(bytes.slice(offset..offset + len));
        }
        Ok(())
    }
}

/// Builds the bytes of request `r` from verified pieces and the tail (`None` if one is missing).
fn assemble(
    r: &Range<u64>,
    pieces: &[Piece],
    fetched: &BTreeMap<usize, Option<Bytes>>,
    tail_offset: u64,
    tail: &Bytes,
) -> Option<Bytes> {
    if r.start >= tail_offset || r.start == r.end {
        let start = (r.start.max(tail_offset) - tail_offset) as usize;
        let end = (r.end.max(tail_offset) - tail_offset) as usize;
        return tail.get(start..end).map(|_| tail.slice(start..end));
    }
    let first = pieces.partition_point(|p| p.range.end <= r.start);
    let piece = pieces.get(first)?;
    let bytes = fetched.get(&first)?.as_ref()?;
    if r.end <= piece.range.end {
        let start = (r.start - piece.range.start) as usize;
        let end = (r.end - piece.range.start) as usize;
        return Some(bytes.slice(start..end));
    }
    // A request spanning several pieces (or reaching into the tail): copy them together.
    let mut out = BytesMut::with_capacity((r.end - r.start) as usize);
    let mut at = r.start;
    for (i, piece) in pieces.iter().enumerate().skip(first) {
        if at >= r.end.min(tail_offset) {
            break;
        }
        let bytes = fetched.get(&i)?.as_ref()?;
        let start = (at - piece.range.start) as usize;
        let end = (r.end.min(piece.range.end) - piece.range.start) as usize;
        out.extend_from_slice(bytes.get(start..end)?);
        at = piece.range.start + end as u64;
    }
    if r.end > tail_offset {
        out.extend_from_slice(tail.get(..(r.end - tail_offset) as usize)?);
        at = r.end;
    }
    (at == r.end).then(|| out.freeze())
}

/// Fetches the tail of a file (one ranged GET) and checks the object's size and the tail's hash.
async fn fetch_tail(root: &StoreRoot, rel: &str, size: u64, tail: &TailEntry) -> Result<Bytes> {
    let options = GetOptions {
        range: Some(GetRange::Bounded(tail.offset..size)),
        ..GetOptions::default()
    };
    let result = match root.store.get_opts(&root.path(rel), options).await {
        Ok(r) => r,
        Err(e) => return Err(read_error(root, rel, size, e).await),
    };
    if result.meta.size != size {
        return Err(StorageError::corrupt(
            rel,
            CorruptReason::SizeMismatch {
                expected: size,
                actual: result.meta.size,
            },
        ));
    }
    let bytes = match result.bytes().await {
        Ok(b) => b,
        Err(e) => return Err(read_error(root, rel, size, e).await),
    };
    verify(rel, &bytes, size - tail.offset, &tail.blake3)?;
    Ok(bytes)
}

/// Explains a failed ranged read: a missing object or one of another size is corrupt (a
/// range past a truncated end fails in the store); anything else is a store error.
async fn read_error(
    root: &StoreRoot,
    rel: &str,
    size: u64,
    error: object_store::Error,
) -> StorageError {
    if let object_store::Error::NotFound { .. } = error {
        return StorageError::corrupt(rel, CorruptReason::Missing);
    }
    match root.store.head(&root.path(rel)).await {
        Ok(meta) if meta.size != size => StorageError::corrupt(
            rel,
            CorruptReason::SizeMismatch {
                expected: size,
                actual: meta.size,
            },
        ),
        Err(object_store::Error::NotFound { .. }) => {
            StorageError::corrupt(rel, CorruptReason::Missing)
        }
        _ => StorageError::store("get", &rel)(error),
    }
}

/// Decodes the Parquet footer at the end of a verified tail.
fn decode_footer(rel: &str, tail: &[u8]) -> Result<ParquetMetaData> {
    let inconsistent = |what| StorageError::corrupt(rel, CorruptReason::Inconsistent(what));
    let end = tail
        .len()
        .checked_sub(FOOTER_LEN)
        .ok_or_else(|| inconsistent("the file's tail is shorter than a Parquet footer"))?;
    let footer =
        FooterTail::try_from(&tail[end..]).map_err(|e| StorageError::undecodable(rel, e))?;
    let start = end
        .checked_sub(footer.metadata_length())
        .ok_or_else(|| inconsistent("the Parquet footer is longer than the file's tail"))?;
    ParquetMetaDataReader::decode_metadata(&tail[start..end])
        .map_err(|e| StorageError::undecodable(rel, e))
}

/// The column chunks of a file with the hashes its verified footer records for them.
fn chunk_pieces(rel: &str, metadata: &ParquetMetaData, tail_offset: u64) -> Result<Vec<Piece>> {
    let inconsistent = |what| StorageError::corrupt(rel, CorruptReason::Inconsistent(what));
    let hashes = metadata
        .file_metadata()
        .key_value_metadata()
        .and_then(|kv| kv.iter().find(|kv| kv.key == CHUNK_HASHES_KEY))
        .and_then(|kv| kv.value.as_deref())
        .ok_or_else(|| inconsistent("the footer records no column chunk hashes"))?;
    let chunks: Vec<Range<u64>> = metadata
        .row_groups()
        .iter()
        .flat_map(|rg| rg.columns())
        .map(|c| {
            let (start, len) = c.byte_range();
            start..start.saturating_add(len)
        })
        .collect();
    if hashes.len() != chunks.len() * HASH_HEX_LEN {
        return Err(inconsistent(
            "column chunk hashes differ in number from the chunks",
        ));
    }
    let mut pieces = Vec::with_capacity(chunks.len());
    for (i, mut range) in chunks.into_iter().enumerate() {
        let hex = &hashes[i * HASH_HEX_LEN..(i + 1) * HASH_HEX_LEN];
        if i == 0 {
            // The first chunk's hash also covers the leading `PAR1`.
            range.start = 0;
        }
        let hash = blake3::Hash::from_hex(hex).map_err(|e| StorageError::undecodable(rel, e))?;
        if range.end > tail_offset || (i > 0 && range.start < 4) {
            return Err(inconsistent(
                "a column chunk lies outside the file's data area",
            ));
        }
        pieces.push(Piece { range, hash });
    }
    pieces.sort_by_key(|p| p.range.start);
    if pieces.windows(2).any(|w| w[0].range.end > w[1].range.start) {
        return Err(inconsistent("column chunks overlap"));
    }
    Ok(pieces)
}

/// Wraps a storage error so it can travel through parquet's reader.
fn to_parquet(error: StorageError) -> ParquetError {
    ParquetError::External(Box::new(error))
}

/// Recovers the storage error a parquet error carries (from [`DataFileReader`]), or reports
/// the file as undecodable.
pub(crate) fn from_parquet(rel: &str, error: ParquetError) -> StorageError {
    match error {
        ParquetError::External(inner) => match inner.downcast::<StorageError>() {
            Ok(storage) => *storage,
            Err(other) => StorageError::undecodable(rel, other),
        },
        ParquetError::ArrowError(text) => {
            StorageError::undecodable(rel, ParquetError::ArrowError(text))
        }
        other => StorageError::undecodable(rel, other),
    }
}

impl AsyncFileReader for DataFileReader {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        async move {
            let mut parts = self.read_ranges(vec![range]).await.map_err(to_parquet)?;
            parts
                .pop()
                .ok_or_else(|| ParquetError::General("empty ranged read".to_owned()))
        }
        .boxed()
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<Range<u64>>,
    ) -> BoxFuture<'_, parquet::errors::Result<Vec<Bytes>>> {
        async move { self.read_ranges(ranges).await.map_err(to_parquet) }.boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        _options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        let metadata = Arc::clone(&self.metadata);
        async move { Ok(metadata) }.boxed()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{Int64Array, RecordBatch, UInt64Array};
    use arrow_schema::{DataType, Field, Schema};
    use object_store::memory::InMemory;

    use super::*;
    use crate::format::datafile::encode_data_file;
    use crate::format::manifest::with_column_id;
    use crate::format::store::blake3_hex;

    /// A request of one range.
    fn one(range: Range<u64>) -> Vec<Range<u64>> {
        std::iter::once(range).collect()
    }

    async fn stored(rows: u64) -> (StoreRoot, DataFileEntry, Bytes) {
        let schema = Arc::new(Schema::new(vec![with_column_id(
            &Field::new("a", DataType::Int64, false),
            0,
        )]));
        let values: Vec<i64> = (0..rows as i64).collect();
        let batch = RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(values))]).unwrap();
        let keys = UInt64Array::from((0..rows).collect::<Vec<_>>());
        let file = encode_data_file("t", &keys, &batch).unwrap();
        let root = StoreRoot::new(Arc::new(InMemory::new()), "");
        root.put_content(&file.entry.path, file.bytes.clone(), &file.entry.blake3)
            .await
            .unwrap();
        (root, file.entry, file.bytes)
    }

    // Guards the range reader: any range (inside one chunk, across chunks, into the tail)
    // comes back byte-exact, old entries without a tail read whole, and a damaged chunk is
    // Corrupt while untouched chunks still read.
    #[tokio::test]
    async fn ranges_are_exact_and_verified() {
        let (root, entry, bytes) = stored(200_000).await;
        assert_eq!(
            blake3_hex(&bytes[entry.tail.as_ref().unwrap().offset as usize..]),
            entry.tail.as_ref().unwrap().blake3
        );
        let mut legacy = entry.clone();
        legacy.tail = None;
        let size = entry.size;
        let ranges = vec![
            0..4,
            4..100,
            10..size / 2,
            size / 3..size,
            size - 8..size,
            7..7,
        ];
        for e in [&entry, &legacy] {
            let reader = DataFileReader::open(&root, entry.path.clone(), e)
                .await
                .unwrap();
            assert_eq!(reader.metadata().num_row_groups(), 4);
            let got = reader.read_ranges(ranges.clone()).await.unwrap();
            for (r, g) in ranges.iter().zip(got) {
                assert_eq!(&g[..], &bytes[r.start as usize..r.end as usize], "{r:?}");
            }
        }
        // The leading magic is covered by the first chunk's hash.
        let reader = DataFileReader::open(&root, entry.path.clone(), &entry)
            .await
            .unwrap();
        let magic = reader.read_ranges(one(0..4)).await.unwrap();
        assert_eq!(&magic[0][..], b"PAR1");
        // Damage the second row group's chunk: reads of it fail, reads of the first do not.
        let rg = reader.metadata().row_group(1).column(1).byte_range();
        let first = reader.metadata().row_group(0).column(1).byte_range();
        let mut damaged = bytes.to_vec();
        damaged[(rg.0 + rg.1 / 2) as usize] ^= 1;
        root.put_overwrite(&entry.path, Bytes::from(damaged))
            .await
            .unwrap();
        let err = reader
            .read_ranges(one(rg.0..rg.0 + rg.1))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StorageError::Corrupt { path, reason: CorruptReason::HashMismatch { .. }, .. } if *path == entry.path),
            "{err:?}"
        );
        reader
            .read_ranges(one(first.0..first.0 + first.1))
            .await
            .unwrap();
    }
}
