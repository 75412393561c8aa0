//! One reader per input format, each turning bytes into Arrow batches (not yet fitted to the
//! table; [`super::read_from`] does that for all of them alike).

use std::io::{BufRead, Cursor};
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use bytes::Bytes;

use super::{ImportError, InputFormat};

fn decode(format: InputFormat) -> impl Fn(arrow_schema::ArrowError) -> ImportError {
    move |source| ImportError::Decode { format, source }
}

/// CSV, read with the header's column names and, for each, the table's type (text for a name
/// the table lacks, so that fitting reports it by name).
pub(super) fn read_csv(bytes: Bytes, schema: &SchemaRef) -> Result<Vec<RecordBatch>, ImportError> {
    let mut first_line = String::new();
    Cursor::new(&bytes)
        .read_line(&mut first_line)
        .map_err(|source| ImportError::Io {
            what: "the CSV header".to_owned(),
            source,
        })?;
    let header = csv_header(&first_line);
    if header.is_empty() {
        return Err(ImportError::NoHeader);
    }
    let fields: Vec<Field> = header
        .iter()
        .map(|name| {
            let data_type = schema
                .field_with_name(name)
                .map_or(DataType::Utf8, |f| f.data_type().clone());
            Field::new(name, data_type, true)
        })
        .collect();
    let reader = arrow_csv::ReaderBuilder::new(Arc::new(Schema::new(fields)))
        .with_header(true)
        .build(Cursor::new(bytes))
        .map_err(decode(InputFormat::Csv))?;
    reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(decode(InputFormat::Csv))
}

/// Splits a CSV header line on commas, honouring double quotes.
pub(super) fn csv_header(line: &str) -> Vec<String> {
    let line = line.trim_end_matches(['\r', '\n']);
    if line.is_empty() {
        return Vec::new();
    }
    let mut names = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                current.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => names.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    names.push(current);
    names.into_iter().map(|n| n.trim().to_owned()).collect()
}

/// NDJSON, or one JSON array of objects, read with the table's schema in strict mode (a field
/// the table lacks is an error naming it).
pub(super) fn read_json(bytes: Bytes, schema: &SchemaRef) -> Result<Vec<RecordBatch>, ImportError> {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let ndjson = if bytes.get(start) == Some(&b'[') {
        let rows: Vec<serde_json::Map<String, serde_json::Value>> =
            serde_json::from_slice(&bytes).map_err(|source| ImportError::JsonArray { source })?;
        let mut out = Vec::with_capacity(bytes.len());
        for row in rows {
            // Writing a JSON map into a Vec cannot fail.
            serde_json::to_writer(&mut out, &row)
                .map_err(|source| ImportError::JsonArray { source })?;
            out.push(b'\n');
        }
        Bytes::from(out)
    } else {
        bytes
    };
    // Nullable everywhere: a required column's absence is reported by fitting, by name.
    let lenient = Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect::<Vec<_>>(),
    );
    let reader = arrow_json::ReaderBuilder::new(Arc::new(lenient))
        .with_strict_mode(true)
        .build(Cursor::new(ndjson))
        .map_err(decode(InputFormat::Json))?;
    reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(decode(InputFormat::Json))
}

/// Parquet, with the file's own types.
pub(super) fn read_parquet(bytes: Bytes) -> Result<Vec<RecordBatch>, ImportError> {
    let parquet = |source| ImportError::Parquet { source };
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
        .map_err(parquet)?
        .build()
        .map_err(parquet)?;
    reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(decode(InputFormat::Parquet))
}

/// Arrow IPC: the file format (with footer) or, failing that, the stream format.
pub(super) fn read_arrow(bytes: Bytes) -> Result<Vec<RecordBatch>, ImportError> {
    let batches = match arrow_ipc::reader::FileReader::try_new(Cursor::new(bytes.clone()), None) {
        Ok(reader) => reader.collect::<Result<Vec<_>, _>>(),
        Err(_) => arrow_ipc::reader::StreamReader::try_new(Cursor::new(bytes), None)
            .map_err(decode(InputFormat::Arrow))?
            .collect::<Result<Vec<_>, _>>(),
    };
    batches.map_err(decode(InputFormat::Arrow))
}
