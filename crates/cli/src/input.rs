//! Reading the files `tableshare table insert` accepts (CSV, JSON / NDJSON, Parquet, Arrow IPC,
//! or CSV on stdin) into Arrow batches typed like the target table.
//!
//! Columns are matched by name, not position, so a file may hold them in any order; values are
//! cast to the table's types with Arrow's safe casts (a value that does not fit is an error,
//! never a silent null). The storage engine then aligns the columns (a column the table lacks is
//! an error naming it, a table column the file lacks is filled with nulls). Everything is read
//! and checked before anything is written, so bad input leaves the table untouched.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek};
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use arrow_array::RecordBatch;
use arrow_cast::{CastOptions, cast_with_options};
use arrow_schema::{Field, Schema, SchemaRef};

/// The formats `table insert` reads, chosen by file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InputFormat {
    /// Comma-separated values with a header row.
    Csv,
    /// One JSON object per line (`.json` is read the same way, or as one JSON array of objects).
    Json,
    /// Apache Parquet.
    Parquet,
    /// Arrow IPC file or stream.
    Arrow,
}

impl InputFormat {
    /// Picks the format from a path's extension.
    pub(crate) fn from_path(path: &Path) -> Result<Self> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        Ok(match ext.as_deref() {
            Some("csv") => Self::Csv,
            Some("json" | "ndjson" | "jsonl") => Self::Json,
            Some("parquet" | "pq") => Self::Parquet,
            Some("arrow" | "ipc" | "feather" | "arrows") => Self::Arrow,
            _ => bail!(
                "cannot tell the format of `{}` from its extension (use .csv, .json, .ndjson, \
                 .parquet or .arrow)",
                path.display()
            ),
        })
    }
}

/// Reads `path` (or CSV on stdin when `path` is `-`) into batches with exactly `schema`.
pub(crate) fn read_input(path: &Path, schema: &SchemaRef) -> Result<Vec<RecordBatch>> {
    if path.as_os_str() == "-" {
        let mut text = Vec::new();
        std::io::stdin()
            .read_to_end(&mut text)
            .context("could not read standard input")?;
        return read_csv(std::io::Cursor::new(text), schema).context("reading CSV on stdin");
    }
    let format = InputFormat::from_path(path)?;
    let file = File::open(path).with_context(|| format!("could not open `{}`", path.display()))?;
    let batches = match format {
        InputFormat::Csv => read_csv(file, schema),
        InputFormat::Json => read_json(file, schema),
        InputFormat::Parquet => read_parquet(file),
        InputFormat::Arrow => read_arrow(file),
    }
    .with_context(|| format!("reading `{}`", path.display()))?;
    batches
        .iter()
        .map(|batch| cast_to_table(batch, schema))
        .collect::<Result<Vec<_>>>()
        .with_context(|| format!("`{}` does not fit the table", path.display()))
}

/// CSV is read with the header's column names and the table's types for those columns.
fn read_csv<R: Read + Seek>(mut input: R, schema: &SchemaRef) -> Result<Vec<RecordBatch>> {
    let mut first_line = String::new();
    BufReader::new(&mut input)
        .read_line(&mut first_line)
        .context("could not read the header row")?;
    input.rewind()?;
    let header: Vec<String> = csv_header(&first_line);
    if header.is_empty() {
        bail!("the CSV has no header row");
    }
    let mut fields = Vec::with_capacity(header.len());
    for name in &header {
        let field = schema
            .field_with_name(name)
            .map_err(|_| anyhow!("column `{name}` is not in the table"))?;
        fields.push(Field::new(name, field.data_type().clone(), true));
    }
    let file_schema = Arc::new(Schema::new(fields));
    let reader = arrow_csv::ReaderBuilder::new(file_schema)
        .with_header(true)
        .build(input)?;
    let batches = reader.collect::<Result<Vec<_>, _>>()?;
    Ok(batches)
}

/// Splits a CSV header line on commas, honouring double quotes.
fn csv_header(line: &str) -> Vec<String> {
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

/// NDJSON (or a `.json` file holding one object per line), matched to the table by name; a field
/// the table lacks is an error.
fn read_json<R: Read>(input: R, schema: &SchemaRef) -> Result<Vec<RecordBatch>> {
    let mut text = String::new();
    BufReader::new(input).read_to_string(&mut text)?;
    let trimmed = text.trim_start();
    // A JSON array of objects is accepted too: turn it into NDJSON.
    let ndjson = if trimmed.starts_with('[') {
        let rows: Vec<serde_json::Value> =
            serde_json::from_str(trimmed).context("the file is not a JSON array of objects")?;
        let mut out = String::new();
        for row in rows {
            out.push_str(&row.to_string());
            out.push('\n');
        }
        out
    } else {
        text
    };
    let reader = arrow_json::ReaderBuilder::new(schema.clone())
        .with_strict_mode(true)
        .build(std::io::Cursor::new(ndjson.into_bytes()))?;
    Ok(reader.collect::<Result<Vec<_>, _>>()?)
}

fn read_parquet(file: File) -> Result<Vec<RecordBatch>> {
    let reader =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)?.build()?;
    Ok(reader.collect::<Result<Vec<_>, _>>()?)
}

/// Arrow IPC: the file format (with footer) or, failing that, the stream format.
fn read_arrow(mut file: File) -> Result<Vec<RecordBatch>> {
    if let Ok(reader) = arrow_ipc::reader::FileReader::try_new(&mut file, None) {
        return Ok(reader.collect::<Result<Vec<_>, _>>()?);
    }
    file.rewind()?;
    let reader = arrow_ipc::reader::StreamReader::try_new(BufReader::new(file), None)
        .context("not an Arrow IPC file or stream")?;
    Ok(reader.collect::<Result<Vec<_>, _>>()?)
}

/// Casts the columns of `batch` that the table also has to the table's types (Arrow's safe
/// casts: a value that does not fit is an error naming the column, never a silent null).
/// Matching columns by name, filling missing ones and refusing unknown ones is the storage
/// engine's job at insert time.
pub(crate) fn cast_to_table(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    let cast_options = CastOptions {
        safe: false,
        ..Default::default()
    };
    let batch_schema = batch.schema();
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut columns = Vec::with_capacity(batch.num_columns());
    for (field, column) in batch_schema.fields().iter().zip(batch.columns()) {
        match schema.field_with_name(field.name()) {
            Ok(target) if target.data_type() != column.data_type() => {
                let cast = cast_with_options(column, target.data_type(), &cast_options)
                    .with_context(|| {
                        format!(
                            "column `{}` holds {} values that do not convert to {}",
                            field.name(),
                            column.data_type(),
                            target.data_type()
                        )
                    })?;
                fields.push(Arc::new(target.as_ref().clone()));
                columns.push(cast);
            }
            _ => {
                fields.push(Arc::clone(field));
                columns.push(Arc::clone(column));
            }
        }
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Array, Float64Array, Int64Array, StringArray};
    use arrow_schema::DataType;

    fn table_schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
            Field::new("value", DataType::Float64, true),
        ]))
    }

    fn check_csv(text: &str, expected: Result<(Vec<i64>, Vec<Option<&str>>), &str>) {
        let got = read_csv(
            std::io::Cursor::new(text.as_bytes().to_vec()),
            &table_schema(),
        );
        match (got, expected) {
            (Ok(batches), Ok((ids, names))) => {
                let batch =
                    arrow_select::concat::concat_batches(&batches[0].schema(), &batches).unwrap();
                let got_ids = batch
                    .column_by_name("id")
                    .unwrap()
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .unwrap();
                assert_eq!(got_ids.values().to_vec(), ids, "{text:?}");
                // A column the file lacks is absent here (storage fills it with nulls).
                let got_names: Vec<Option<&str>> = match batch.column_by_name("name") {
                    Some(column) => column
                        .as_any()
                        .downcast_ref::<StringArray>()
                        .unwrap()
                        .iter()
                        .collect(),
                    None => vec![None; batch.num_rows()],
                };
                assert_eq!(got_names, names, "{text:?}");
            }
            (Err(err), Err(needle)) => {
                let msg = format!("{err:#}");
                assert!(msg.contains(needle), "{text:?}: `{msg}` lacks `{needle}`");
            }
            (got, expected) => panic!("{text:?}: got {got:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn csv_inputs() {
        check_csv(
            "id,name,value\n1,Alice,42.5\n2,Bob,37.8\n",
            Ok((vec![1, 2], vec![Some("Alice"), Some("Bob")])),
        );
        // Columns in another order, and a missing column filled with nulls.
        check_csv("name,id\nAlice,1\n", Ok((vec![1], vec![Some("Alice")])));
        check_csv("id,value\n7,1.5\n", Ok((vec![7], vec![None])));
        check_csv(
            "id,colour\n1,red\n",
            Err("column `colour` is not in the table"),
        );
        check_csv("id,name\nnot-a-number,x\n", Err("not-a-number"));
        check_csv("", Err("no header"));
    }

    #[test]
    fn casts_to_the_table_types_and_keeps_the_rest() {
        let batch = RecordBatch::try_from_iter(vec![
            (
                "value",
                Arc::new(Int64Array::from(vec![1, 2])) as arrow_array::ArrayRef,
            ),
            ("id", Arc::new(Int64Array::from(vec![10, 20]))),
        ])
        .unwrap();
        let out = cast_to_table(&batch, &table_schema()).unwrap();
        let values = out
            .column(0)
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap();
        assert_eq!(values.values().to_vec(), vec![1.0, 2.0]);
        assert_eq!(out.schema().field(1).name(), "id");
        let text = RecordBatch::try_from_iter(vec![(
            "id",
            Arc::new(StringArray::from(vec!["7", "x"])) as arrow_array::ArrayRef,
        )])
        .unwrap();
        let err = cast_to_table(&text, &table_schema()).unwrap_err();
        assert!(format!("{err:#}").contains("column `id`"), "{err:#}");
    }

    #[test]
    fn json_array_and_ndjson_read_alike() {
        let ndjson = "{\"id\":1,\"name\":\"A\"}\n{\"id\":2,\"value\":0.5}\n";
        let array = "[{\"id\":1,\"name\":\"A\"},{\"id\":2,\"value\":0.5}]";
        let a = read_json(ndjson.as_bytes(), &table_schema()).unwrap();
        let b = read_json(array.as_bytes(), &table_schema()).unwrap();
        assert_eq!(a, b);
        let unknown = read_json("{\"id\":1,\"zzz\":2}\n".as_bytes(), &table_schema());
        assert!(format!("{:#}", unknown.unwrap_err()).contains("zzz"));
    }
}
