//! Tests of reading every input format into a table's schema, through one `check` helper.

use std::sync::Arc;

use arrow_array::{ArrayRef, Int32Array, Int64Array, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use tableshare_core::CoreError;

use super::*;

fn table_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("value", DataType::Float64, true),
    ]))
}

/// The ids and names a read should produce, or a predicate on its error.
type Expected = Result<(Vec<i64>, Vec<Option<&'static str>>), fn(&ImportError) -> bool>;

/// Reads `input` as `format`; `expected` is the ids and names read (all batches together), or a
/// predicate on the error.
fn check(format: InputFormat, input: &[u8], expected: Expected) {
    let got = read_from(input, format, &table_schema());
    match (got, expected) {
        (Ok(batches), Ok((ids, names))) => {
            let mut got_ids = Vec::new();
            let mut got_names = Vec::new();
            for batch in &batches {
                assert_eq!(batch.schema(), table_schema(), "fitted exactly");
                let id = batch.column(0).as_any().downcast_ref::<Int64Array>();
                got_ids.extend(id.unwrap().values().iter().copied());
                let name = batch.column(1).as_any().downcast_ref::<StringArray>();
                got_names.extend(name.unwrap().iter().map(|n| n.map(str::to_owned)));
            }
            let names: Vec<Option<String>> = names.into_iter().map(|n| n.map(Into::into)).collect();
            assert_eq!((got_ids, got_names), (ids, names), "{format}");
        }
        (Err(err), Err(is_expected)) => assert!(is_expected(&err), "{format}: {err:?}"),
        (got, expected) => panic!("{format}: got {got:?}, expected {expected:?}"),
    }
}

fn unknown(column: &'static str) -> impl Fn(&ImportError) -> bool {
    move |e| matches!(e, ImportError::DoesNotFit { source: CoreError::UnknownColumn { column: c } } if c == column)
}

// Guards CSV reading: columns by header name in any order, missing nullable columns as nulls,
// unknown columns named, values that do not parse refused, a header required.
#[test]
fn csv_inputs() {
    use InputFormat::Csv;
    check(
        Csv,
        b"id,name,value\n1,Alice,42.5\n2,Bob,37.8\n",
        Ok((vec![1, 2], vec![Some("Alice"), Some("Bob")])),
    );
    check(
        Csv,
        b"name,id\nAlice,1\n",
        Ok((vec![1], vec![Some("Alice")])),
    );
    check(Csv, b"id,value\n7,1.5\n", Ok((vec![7], vec![None])));
    check(
        Csv,
        b"\"id\",\"na\"\"me\"\n1,x\n",
        Err(
            |e| matches!(e, ImportError::DoesNotFit { source: CoreError::UnknownColumn { column } } if column == "na\"me"),
        ),
    );
    check(Csv, b"id,colour\n1,red\n", Err(|e| unknown("colour")(e)));
    check(
        Csv,
        b"id,name\nnot-a-number,x\n",
        Err(
            |e| matches!(e, ImportError::Decode { format: Csv, source } if source.to_string().contains("not-a-number")),
        ),
    );
    check(
        Csv,
        b"name\nx\n",
        Err(
            |e| matches!(e, ImportError::DoesNotFit { source: CoreError::MissingColumn { column } } if column == "id"),
        ),
    );
    check(Csv, b"", Err(|e| matches!(e, ImportError::NoHeader)));
}

// Guards JSON reading: NDJSON and a JSON array of objects read alike; unknown fields refused.
#[test]
fn json_inputs() {
    use InputFormat::Json;
    let rows = Ok((vec![1, 2], vec![Some("A"), None]));
    check(
        Json,
        b"{\"id\":1,\"name\":\"A\"}\n{\"id\":2,\"value\":0.5}\n",
        rows.clone(),
    );
    check(
        Json,
        b" [{\"id\":1,\"name\":\"A\"},{\"id\":2,\"value\":0.5}]",
        rows,
    );
    check(
        Json,
        b"{\"id\":1,\"zzz\":2}\n",
        Err(
            |e| matches!(e, ImportError::Decode { format: Json, source } if source.to_string().contains("zzz")),
        ),
    );
    check(
        Json,
        b"[1, 2]",
        Err(|e| matches!(e, ImportError::JsonArray { .. })),
    );
    check(
        Json,
        b"{\"name\":\"no id\"}\n",
        Err(|e| {
            matches!(
                e,
                ImportError::DoesNotFit {
                    source: CoreError::NullInNonNullableColumn { .. }
                }
            )
        }),
    );
}

/// A batch with its own types (int32 ids), as another tool would write it.
fn foreign_batch(names: Vec<Option<&str>>) -> RecordBatch {
    let ids: Vec<i32> = (1..=names.len() as i32).collect();
    RecordBatch::try_from_iter([
        ("name", Arc::new(StringArray::from(names)) as ArrayRef),
        ("id", Arc::new(Int32Array::from(ids)) as ArrayRef),
    ])
    .unwrap()
}

// Guards Parquet and Arrow IPC (file and stream) reading: the files' own types are cast to the
// table's, and garbage is a decode error.
#[test]
fn binary_inputs() {
    let batch = foreign_batch(vec![Some("a"), None]);
    let expected = || Ok((vec![1, 2], vec![Some("a"), None]));

    let mut parquet_bytes = Vec::new();
    let mut writer =
        parquet::arrow::ArrowWriter::try_new(&mut parquet_bytes, batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    check(InputFormat::Parquet, &parquet_bytes, expected());
    check(
        InputFormat::Parquet,
        b"not parquet",
        Err(|e| matches!(e, ImportError::Parquet { .. })),
    );

    let mut file = Vec::new();
    let mut writer = arrow_ipc::writer::FileWriter::try_new(&mut file, &batch.schema()).unwrap();
    writer.write(&batch).unwrap();
    writer.finish().unwrap();
    drop(writer);
    check(InputFormat::Arrow, &file, expected());

    let mut stream = Vec::new();
    let mut writer =
        arrow_ipc::writer::StreamWriter::try_new(&mut stream, &batch.schema()).unwrap();
    writer.write(&batch).unwrap();
    writer.finish().unwrap();
    drop(writer);
    check(InputFormat::Arrow, &stream, expected());
    check(
        InputFormat::Arrow,
        b"garbage",
        Err(|e| {
            matches!(
                e,
                ImportError::Decode {
                    format: InputFormat::Arrow,
                    ..
                }
            )
        }),
    );
}

// Guards format detection by extension, and that an unknown one is refused before any IO.
#[test]
fn formats_by_extension() {
    let format = |name: &str| InputFormat::from_path(Path::new(name));
    assert_eq!(format("a.CSV"), Some(InputFormat::Csv));
    assert_eq!(format("a.ndjson"), Some(InputFormat::Json));
    assert_eq!(format("a.jsonl"), Some(InputFormat::Json));
    assert_eq!(format("dir/a.parquet"), Some(InputFormat::Parquet));
    assert_eq!(format("a.arrows"), Some(InputFormat::Arrow));
    assert_eq!(format("a.xlsx"), None);
    assert_eq!(format("noext"), None);
    let err = read_file(Path::new("/nonexistent/rows.xlsx"), &table_schema()).unwrap_err();
    assert!(matches!(err, ImportError::UnknownFormat { .. }), "{err:?}");
    let err = read_file(Path::new("/nonexistent/rows.csv"), &table_schema()).unwrap_err();
    assert!(matches!(err, ImportError::Io { .. }), "{err:?}");
}
