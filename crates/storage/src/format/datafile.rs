//! Data files (Parquet) and deletion vectors (portable roaring): encoding and decoding.
//!
//! A data file is a plain Parquet file (snappy) whose first column `_row_key` (UInt64) holds the
//! stable row keys (delta-encoded without a dictionary: keys ascend and are usually
//! contiguous), followed by the data columns under their names at write time; other tools
//! read it as an ordinary table. Row groups hold [`ROW_GROUP_ROWS`] rows, so streaming reads
//! can prune and fetch them one by one, and the footer records the BLAKE3 of every column chunk
//! (`tableshare:chunk_blake3`) while the manifest entry records the hash of the file's tail, so
//! ranged reads are verified (`format::reader`; docs/format.md, "Range hashes"). The engine reads columns *by id* through the manifest's
//! `columns` list, so renamed columns keep their data and dropped ones are skipped, and fills
//! columns added later with nulls.
//!
//! Both kinds of file are content-addressed: the name is the BLAKE3 of the bytes. Decoding runs
//! only on bytes whose size and hash (of the whole file here, of each piece in ranged reads)
//! were already checked, and every decoding failure is a [`StorageError::Corrupt`] naming the
//! file.

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, RecordBatch, UInt64Array, new_null_array};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, Encoding};
use parquet::file::metadata::{KeyValue, RowGroupMetaData};
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;
use tableshare_core::RowSet;

use crate::error::{CorruptReason, Result, StorageError};
use crate::format::manifest::{
    DataFileEntry, DeletionVectorEntry, ROW_KEY_COLUMN, TailEntry, column_id, strip_column_id,
};
use crate::format::store::blake3_hex;

/// Footer key-value metadata holding the BLAKE3 of every column chunk (see [`chunk_hashes`]).
pub(crate) const CHUNK_HASHES_KEY: &str = "tableshare:chunk_blake3";

/// An encoded data file ready to be put, with its manifest entry.
#[derive(Debug)]
pub(crate) struct EncodedFile {
    pub(crate) bytes: Bytes,
    pub(crate) entry: DataFileEntry,
}

/// Encodes rows (`keys[i]` is the key of row `i` of `batch`, ascending, no nulls) as a Parquet
/// data file. `batch`'s fields carry column ids.
pub(crate) fn encode_data_file(
    table: &str,
    keys: &UInt64Array,
    batch: &RecordBatch,
) -> Result<EncodedFile> {
    if keys.len() != batch.num_rows() || keys.is_empty() || keys.null_count() > 0 {
        return Err(StorageError::invalid(
            table,
            "a data file needs one key per row and at least one row",
        ));
    }
    let mut fields = vec![Arc::new(Field::new(
        ROW_KEY_COLUMN,
        DataType::UInt64,
        false,
    ))];
    let mut columns: Vec<ArrayRef> = vec![Arc::new(keys.clone())];
    let mut ids = Vec::with_capacity(batch.num_columns());
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        let id = column_id(field).ok_or_else(|| {
            StorageError::invalid(table, format!("column {} has no id", field.name()))
        })?;
        ids.push(id);
        fields.push(Arc::new(strip_column_id(field)));
        columns.push(Arc::clone(column));
    }
    let schema = Arc::new(Schema::new(fields));
    let file_batch = RecordBatch::try_new(Arc::clone(&schema), columns)
        .map_err(StorageError::arrow("building a data file"))?;
    let props = writer_properties(&file_batch);
    // Reserve about what the encoded file will take (Parquet with snappy is usually well under
    // the Arrow size), so the output buffer is not copied over and over as it grows.
    let mut buf = Vec::with_capacity(file_batch.get_array_memory_size() / 2 + 4096);
    let parquet_err = |source| StorageError::ParquetWrite {
        table: table.to_owned(),
        source,
    };
    let mut writer = ArrowWriter::try_new(&mut buf, schema, Some(props)).map_err(parquet_err)?;
    writer.write(&file_batch).map_err(parquet_err)?;
    writer.flush().map_err(parquet_err)?;
    writer
        .sync()
        .map_err(|e| parquet_err(parquet::errors::ParquetError::External(Box::new(e))))?;
    // Every column chunk is in `buf` now; the footer (written by `close`) records their hashes.
    let (chunk_hashes, tail_offset) = chunk_hashes(writer.inner(), writer.flushed_row_groups())
        .ok_or_else(|| {
            parquet_err(parquet::errors::ParquetError::General(
                "a column chunk lies past the bytes written".to_owned(),
            ))
        })?;
    writer.append_key_value_metadata(KeyValue::new(CHUNK_HASHES_KEY.to_owned(), chunk_hashes));
    writer.close().map_err(parquet_err)?;
    let tail = TailEntry {
        offset: tail_offset,
        blake3: blake3_hex(buf.get(tail_offset as usize..).unwrap_or_default()),
    };
    let hash = blake3_hex(&buf);
    let (key_min, key_max) = (keys.value(0), keys.value(keys.len() - 1));
    let entry = DataFileEntry {
        path: object_name(DATA_DIR, &hash, DATA_EXT),
        size: buf.len() as u64,
        rows: keys.len() as u64,
        key_min,
        key_max,
        blake3: hash,
        columns: ids,
        deletion_vector: None,
        tail: Some(tail),
    };
    Ok(EncodedFile {
        bytes: Bytes::from(buf),
        entry,
    })
}

/// The hex BLAKE3 of every column chunk written so far (row group by row group, columns in
/// file order, 64 hex digits each, concatenated; the first chunk's from offset 0) and the offset just past the last chunk, where
/// the file's tail starts. `bytes` is the file as written so far; `None` if a chunk lies
/// beyond it (the writer was not synced).
fn chunk_hashes(bytes: &[u8], row_groups: &[RowGroupMetaData]) -> Option<(String, u64)> {
    let mut hashes = String::new();
    let mut end = 4; // after the leading `PAR1`
    for (i, column) in row_groups
        .iter()
        .flat_map(RowGroupMetaData::columns)
        .enumerate()
    {
        let (start, len) = column.byte_range();
        // The first chunk's hash also covers the leading `PAR1`, so every byte has a hash.
        let first = if i == 0 { 0 } else { start };
        let range = usize::try_from(first).ok()?..usize::try_from(start + len).ok()?;
        hashes.push_str(&blake3_hex(bytes.get(range)?));
        end = end.max(start + len);
    }
    Some((hashes, end))
}

/// Rows per Parquet row group: the unit a streaming read prunes by statistics and fetches at
/// once. 64Ki rows keep a column chunk of 8-byte values at about 512 KiB before compression,
/// big enough for an efficient ranged GET yet small enough that a limited or pruned read
/// decodes little (docs/format.md, "Row groups").
pub(crate) const ROW_GROUP_ROWS: usize = 1 << 16;

/// The Parquet writer settings of a data file holding `batch` (its fields under their file
/// names): snappy; row groups of [`ROW_GROUP_ROWS`]; the ascending `_row_key` column is
/// delta-encoded (DELTA_BINARY_PACKED stores a contiguous run in a few bytes per page) and
/// never dictionary-encoded (every key is distinct, so a dictionary is pure cost); any other
/// column gets a dictionary only where a sample says it pays ([`dictionary_pays`]).
fn writer_properties(batch: &RecordBatch) -> WriterProperties {
    let keys = ColumnPath::from(ROW_KEY_COLUMN);
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_column_dictionary_enabled(keys.clone(), false)
        .set_column_encoding(keys, Encoding::DELTA_BINARY_PACKED);
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()).skip(1) {
        if !dictionary_pays(column) {
            builder = builder
                .set_column_dictionary_enabled(ColumnPath::from(field.name().as_str()), false);
        }
    }
    builder.build()
}

/// Rows sampled to decide whether a column's dictionary pays.
const DICTIONARY_SAMPLE_ROWS: usize = 4096;

/// Whether dictionary-encoding `column` pays: its first [`DICTIONARY_SAMPLE_ROWS`] rows repeat
/// values (at most half of them distinct). Parquet starts a fresh dictionary in every row group
/// and only gives up on it once it outgrows the dictionary page limit, so on high-cardinality
/// columns (ids, measurements, unique names) it interns and rehashes every value of every row
/// group for nothing: that was a third of the time of a large write. Types the sample cannot
/// judge (nested, booleans) keep Parquet's default.
fn dictionary_pays(column: &ArrayRef) -> bool {
    let n = column.len().min(DICTIONARY_SAMPLE_ROWS);
    if n < 64 {
        return true;
    }
    distinct_in(&column.slice(0, n)).is_none_or(|distinct| distinct * 2 <= n)
}

/// The number of distinct values of `sample` (nulls of primitive columns count by their
/// slot's bytes), or `None` for types this does not judge.
fn distinct_in(sample: &ArrayRef) -> Option<usize> {
    use arrow_array::cast::AsArray;
    use std::collections::HashSet;
    fn count<'a>(values: impl Iterator<Item = &'a [u8]>) -> usize {
        values.collect::<HashSet<&[u8]>>().len()
    }
    let distinct = match sample.data_type() {
        DataType::Utf8 => count(
            sample
                .as_string::<i32>()
                .iter()
                .flatten()
                .map(str::as_bytes),
        ),
        DataType::LargeUtf8 => count(
            sample
                .as_string::<i64>()
                .iter()
                .flatten()
                .map(str::as_bytes),
        ),
        DataType::Utf8View => count(sample.as_string_view().iter().flatten().map(str::as_bytes)),
        DataType::Binary => count(sample.as_binary::<i32>().iter().flatten()),
        DataType::LargeBinary => count(sample.as_binary::<i64>().iter().flatten()),
        DataType::BinaryView => count(sample.as_binary_view().iter().flatten()),
        DataType::Boolean => return None,
        other if other.is_primitive() => {
            let width = other.primitive_width()?;
            let data = sample.to_data();
            let start = data.offset().checked_mul(width)?;
            let bytes = data
                .buffers()
                .first()?
                .as_slice()
                .get(start..start.checked_add(data.len().checked_mul(width)?)?)?;
            count(bytes.chunks_exact(width))
        }
        _ => return None,
    };
    Some(distinct)
}

/// How the rows of one write are cut into data files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileLimits {
    /// At most this many rows per file.
    pub(crate) max_rows: usize,
    /// About this many bytes of in-memory Arrow data per file.
    pub(crate) max_bytes: usize,
}

/// Cuts `rows` rows occupying `bytes` bytes of Arrow memory into the fewest equal parts that
/// respect `limits`: `(offset, length)` pairs in order. A write within the limits is one part.
pub(crate) fn split_rows(rows: usize, bytes: usize, limits: FileLimits) -> Vec<(usize, usize)> {
    if rows == 0 {
        return Vec::new();
    }
    let by_rows = rows.div_ceil(limits.max_rows.max(1));
    let by_bytes = bytes.div_ceil(limits.max_bytes.max(1));
    let parts = by_rows.max(by_bytes).clamp(1, rows);
    let base = rows / parts;
    let extra = rows % parts;
    let mut out = Vec::with_capacity(parts);
    let mut offset = 0;
    for i in 0..parts {
        let len = base + usize::from(i < extra);
        out.push((offset, len));
        offset += len;
    }
    out
}

/// Rows decoded from one data file, shaped to a target schema.
#[derive(Debug)]
pub(crate) struct DecodedRows {
    pub(crate) keys: Vec<u64>,
    pub(crate) batch: RecordBatch,
}

/// Decodes a verified data file into `target` (a schema whose fields carry column ids):
/// columns are matched by id, missing ones filled with nulls. `rel` names the file in errors.
pub(crate) fn decode_data_file(
    rel: &str,
    bytes: Bytes,
    entry: &DataFileEntry,
    target: &SchemaRef,
) -> Result<DecodedRows> {
    let inconsistent = |what| StorageError::corrupt(rel, CorruptReason::Inconsistent(what));
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
        .map_err(|e| StorageError::undecodable(rel, e))?
        .with_batch_size(1 << 20)
        .build()
        .map_err(|e| StorageError::undecodable(rel, e))?;
    let mut batches = Vec::new();
    for b in reader {
        batches.push(b.map_err(|e| StorageError::undecodable(rel, e))?);
    }
    let Some(first) = batches.first() else {
        return Err(inconsistent("data file has no rows"));
    };
    let file_schema = first.schema();
    let whole = arrow_select::concat::concat_batches(&file_schema, &batches)
        .map_err(|e| StorageError::undecodable(rel, e))?;
    if whole.num_columns() != entry.columns.len() + 1
        || file_schema.field(0).name() != ROW_KEY_COLUMN
    {
        return Err(inconsistent("data file columns differ from the manifest"));
    }
    let keys_col = whole
        .column(0)
        .as_any()
        .downcast_ref::<UInt64Array>()
        .ok_or_else(|| inconsistent("_row_key is not UInt64"))?;
    if keys_col.null_count() > 0 || keys_col.len() as u64 != entry.rows {
        return Err(inconsistent(
            "row keys or row count differ from the manifest",
        ));
    }
    let keys: Vec<u64> = keys_col.values().to_vec();
    if keys.first() != Some(&entry.key_min)
        || keys.last() != Some(&entry.key_max)
        || keys.windows(2).any(|w| w[0] >= w[1])
    {
        return Err(inconsistent(
            "row keys are not ascending within the recorded range",
        ));
    }
    let mut columns = Vec::with_capacity(target.fields().len());
    for field in target.fields() {
        let position = column_id(field).and_then(|id| entry.columns.iter().position(|c| *c == id));
        let column = match position {
            Some(i) => {
                let c = whole.column(i + 1);
                if c.data_type() != field.data_type() {
                    return Err(inconsistent("a column's type differs from the schema"));
                }
                Arc::clone(c)
            }
            None => new_null_array(field.data_type(), keys.len()),
        };
        columns.push(column);
    }
    let batch = RecordBatch::try_new_with_options(
        Arc::clone(target),
        columns,
        &arrow_array::RecordBatchOptions::new().with_row_count(Some(keys.len())),
    )
    .map_err(|e| StorageError::undecodable(rel, e))?;
    Ok(DecodedRows { keys, batch })
}

/// Where data files live in a table directory, and their extension.
pub(crate) const DATA_DIR: &str = "data";
pub(crate) const DATA_EXT: &str = "parquet";
/// Where deletion vectors live in a table directory, and their extension.
pub(crate) const DV_DIR: &str = "dv";
pub(crate) const DV_EXT: &str = "roaring";

/// A fresh object name for content with BLAKE3 `hash`: `DIR/<hash>-<16 random hex>.EXT`.
///
/// The name starts with the content hash (so it can be verified from the name alone) but is
/// unique to this write: a writer never reuses an object that already exists, so every object
/// a new version references is either referenced by its base version or was written by its
/// writer moments ago, which is what makes garbage collection's age guard sound
/// (docs/format.md, "Garbage collection").
pub(crate) fn object_name(dir: &str, hash: &str, ext: &str) -> String {
    let nonce = uuid::Uuid::new_v4().as_u64_pair().0;
    format!("{dir}/{hash}-{nonce:016x}.{ext}")
}

/// The content hash an object name (`data/…` or `dv/…`, relative to the table directory)
/// claims, for both name forms: `<hash>.EXT` (written before unique names) and
/// `<hash>-<nonce>.EXT`. `None` for any other name.
pub fn hash_of_name(rel: &str) -> Option<&str> {
    let stem = rel
        .strip_prefix("data/")
        .and_then(|r| r.strip_suffix(".parquet"))
        .or_else(|| {
            rel.strip_prefix("dv/")
                .and_then(|r| r.strip_suffix(".roaring"))
        })?;
    let hash = stem.split_once('-').map_or(stem, |(h, _)| h);
    (hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hash)
}

/// Encodes a deletion vector.
pub(crate) fn encode_dv(table: &str, set: &RowSet) -> Result<(Bytes, DeletionVectorEntry)> {
    let mut buf = Vec::with_capacity(set.serialized_size());
    set.serialize_into(&mut buf)
        .map_err(|source| StorageError::Core {
            context: format!("encoding a deletion vector of {table}"),
            source,
        })?;
    let hash = blake3_hex(&buf);
    let entry = DeletionVectorEntry {
        path: object_name(DV_DIR, &hash, DV_EXT),
        size: buf.len() as u64,
        blake3: hash,
        cardinality: set.len(),
    };
    Ok((Bytes::from(buf), entry))
}

/// Decodes a verified deletion vector and checks its cardinality.
pub(crate) fn decode_dv(rel: &str, bytes: &[u8], entry: &DeletionVectorEntry) -> Result<RowSet> {
    let set = RowSet::deserialize_from(bytes).map_err(|e| StorageError::undecodable(rel, e))?;
    if set.len() != entry.cardinality {
        return Err(StorageError::corrupt(
            rel,
            CorruptReason::Inconsistent("deletion vector cardinality"),
        ));
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use arrow_array::types::Float32Type;
    use arrow_array::{BooleanArray, Float32Array, Int64Array, ListArray, StringArray};

    use super::*;
    use crate::format::manifest::with_column_id;

    fn batch() -> RecordBatch {
        let schema = Schema::new(vec![
            with_column_id(&Field::new("a", DataType::Int64, true), 0),
            with_column_id(&Field::new("s", DataType::Utf8, true), 1),
            with_column_id(
                &Field::new(
                    "e",
                    DataType::List(Arc::new(Field::new_list_field(DataType::Float32, true))),
                    true,
                ),
                3,
            ),
        ]);
        RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(Int64Array::from(vec![1, 2])),
                Arc::new(StringArray::from(vec![Some("x"), None])),
                Arc::new(ListArray::from_iter_primitive::<Float32Type, _, _>(vec![
                    Some(vec![Some(1.0), Some(2.0)]),
                    None,
                ])),
            ],
        )
        .unwrap()
    }

    // Guards: columns are matched by id (rename-proof), missing ids become nulls, dropped ones
    // are skipped, and damaged bytes are reported as corrupt rather than panicking.
    #[test]
    fn round_trip_by_column_id() {
        let f = encode_data_file("t", &UInt64Array::from(vec![5, 9]), &batch()).unwrap();
        assert_eq!(f.entry.columns, vec![0, 1, 3]);
        assert_eq!((f.entry.key_min, f.entry.key_max, f.entry.rows), (5, 9, 2));
        // target: `a` renamed to `b`, `s` dropped, new column 4 added.
        let target: SchemaRef = Arc::new(Schema::new(vec![
            with_column_id(&Field::new("b", DataType::Int64, true), 0),
            with_column_id(&Field::new("n", DataType::Boolean, true), 4),
        ]));
        let d = decode_data_file("f", f.bytes.clone(), &f.entry, &target).unwrap();
        assert_eq!(d.keys, vec![5, 9]);
        assert_eq!(
            d.batch.column(0).as_ref(),
            &Int64Array::from(vec![1, 2]) as &dyn Array
        );
        assert_eq!(
            d.batch.column(1).as_ref(),
            &BooleanArray::from(vec![None, None]) as &dyn Array
        );
        let _ = Float32Array::from(vec![1.0]);
        for cut in [0, 4, f.bytes.len() / 2, f.bytes.len() - 1] {
            let err = decode_data_file("f", f.bytes.slice(..cut), &f.entry, &target).unwrap_err();
            assert!(
                matches!(err, StorageError::Corrupt { .. }),
                "{cut}: {err:?}"
            );
        }
    }

    // Guards the dictionary choice: columns whose sample repeats values get a dictionary,
    // high-cardinality ones (unique ids, unique strings, a sliced column) are written plain,
    // and the file says so in its column chunk encodings.
    #[test]
    fn dictionaries_only_where_values_repeat() {
        let n = 10_000_i64;
        let unique: ArrayRef = Arc::new(Int64Array::from_iter_values(0..n));
        let few: ArrayRef = Arc::new(Int64Array::from_iter_values((0..n).map(|i| i % 7)));
        let names: ArrayRef = Arc::new(StringArray::from_iter_values(
            (0..n).map(|i| format!("u{i}")),
        ));
        let cities: ArrayRef = Arc::new(StringArray::from_iter_values(
            (0..n).map(|i| ["a", "b"][(i % 2) as usize]),
        ));
        assert!(!dictionary_pays(&unique));
        assert!(!dictionary_pays(&unique.slice(5000, 5000)));
        assert!(dictionary_pays(&few));
        assert!(!dictionary_pays(&names));
        assert!(dictionary_pays(&cities));
        assert!(
            dictionary_pays(&unique.slice(0, 10)),
            "too few rows to judge"
        );
        let bools: ArrayRef = Arc::new(BooleanArray::from(vec![true; 100]));
        assert_eq!(distinct_in(&bools), None);

        let schema = Arc::new(Schema::new(vec![
            with_column_id(&Field::new("unique", DataType::Int64, false), 0),
            with_column_id(&Field::new("few", DataType::Int64, false), 1),
        ]));
        let batch = RecordBatch::try_new(schema, vec![unique, few]).unwrap();
        let keys = UInt64Array::from_iter_values(0..u64::try_from(n).unwrap());
        let f = encode_data_file("t", &keys, &batch).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(f.bytes).unwrap();
        let group = reader.metadata().row_group(0);
        let dictionary = |i: usize| {
            group
                .column(i)
                .encodings()
                .any(|e| matches!(e, Encoding::RLE_DICTIONARY | Encoding::PLAIN_DICTIONARY))
        };
        assert!(!dictionary(1), "unique column written plain");
        assert!(dictionary(2), "repeating column dictionary-encoded");
    }

    // Guards the cutting of big writes into files: small writes stay one file, parts are
    // contiguous, cover every row, and respect both limits.
    #[test]
    fn split_rows_cases() {
        fn check(
            rows: usize,
            bytes: usize,
            max_rows: usize,
            max_bytes: usize,
            expected: &[(usize, usize)],
        ) {
            let got = split_rows(
                rows,
                bytes,
                FileLimits {
                    max_rows,
                    max_bytes,
                },
            );
            assert_eq!(got, expected, "{rows} rows, {bytes} bytes");
        }
        check(0, 0, 10, 100, &[]);
        check(1, 10, 10, 100, &[(0, 1)]);
        check(10, 10, 10, 100, &[(0, 10)]);
        check(11, 10, 10, 100, &[(0, 6), (6, 5)]);
        check(10, 250, 100, 100, &[(0, 4), (4, 3), (7, 3)]);
        check(3, 1000, 100, 1, &[(0, 1), (1, 1), (2, 1)]);
    }

    // Guards the writer settings: `_row_key` is delta-encoded without a dictionary.
    #[test]
    fn row_key_encoding() {
        let f = encode_data_file("t", &UInt64Array::from(vec![5, 9]), &batch()).unwrap();
        let reader = parquet::file::serialized_reader::SerializedFileReader::new(f.bytes).unwrap();
        use parquet::file::reader::FileReader;
        let column = reader.metadata().row_group(0).column(0);
        assert_eq!(column.column_path().string(), ROW_KEY_COLUMN);
        assert!(
            column
                .encodings()
                .any(|e| e == Encoding::DELTA_BINARY_PACKED),
            "{:?}",
            column.encodings().collect::<Vec<_>>()
        );
        assert!(column.dictionary_page_offset().is_none());
    }

    #[test]
    fn deletion_vector_round_trip() {
        let set: RowSet = [1u64, 7, 1 << 40].into_iter().collect();
        let (bytes, entry) = encode_dv("t", &set).unwrap();
        assert_eq!(entry.cardinality, 3);
        assert_eq!(decode_dv("d", &bytes, &entry).unwrap(), set);
        assert!(decode_dv("d", &bytes[..bytes.len() - 1], &entry).is_err());
    }
}
