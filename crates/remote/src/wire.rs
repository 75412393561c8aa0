//! The wire protocol between worker and client, specified in one place.
//!
//! Everything travels as Arrow Flight messages; our own metadata rides in `app_metadata`, as in
//! Deephaven's Barrage. A plain Flight client needs none of it: `DoGet` with a ticket that is a
//! table name (or a [`Request`] as JSON) streams ordinary record batches.
//!
//! # Requests
//!
//! A `DoGet` ticket or the first `DoExchange` message's `FlightDescriptor` command is a JSON
//! [`Request`]: `{"table":"dir.t","columns":["a","b"]|null,"resume":{"incarnation":"…","step":N}|null}`.
//! A `DoGet` ticket may also be the bare table name.
//!
//! # Subscription stream (`DoExchange`, worker to client)
//!
//! A sequence of steps. Each step is a run of messages whose `app_metadata` is a [`Meta`]:
//!
//! 1. `Begin`: the step, the table's incarnation, and whether it replaces the whole table
//!    (`reset`: the first snapshot, a resync, a restarted table). A reset `Begin` is a Flight
//!    *schema* message carrying the (projected) schema; any other `Begin` has no body.
//! 2. `Removed` (no body): keys removed, as a portable roaring bitmap.
//! 3. `Added`: a record batch of the table's columns with the keys of its rows.
//! 4. `Modified`: a one-column record batch of new values for one column, with their keys.
//! 5. `End`: the step is complete; the client applies it atomically.
//!
//! Rows and keys are split into batches of bounded size, so no message exceeds the size limit
//! however large the step. Schema messages without metadata precede batches whose schema differs
//! from the last one sent (they only tell the Flight decoder how to read what follows).
//!
//! `app_metadata` layout: the 4 bytes `TSR1`, a little-endian `u32` length, that many bytes of
//! JSON header, then the keys (portable roaring format) to the end.

use arrow_array::RecordBatch;
use arrow_flight::{FlightData, SchemaAsIpc};
use arrow_ipc::writer::{DictionaryTracker, IpcDataGenerator, IpcWriteContext, IpcWriteOptions};
use arrow_schema::SchemaRef;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tableshare_core::{RowKey, RowSet, Step};

/// Magic at the start of every `app_metadata` we write.
const MAGIC: &[u8; 4] = b"TSR1";

/// Largest header we accept, to refuse hostile input cheaply.
const MAX_HEADER: usize = 64 * 1024;

/// The default limit on one gRPC message, both ways (encoded and decoded).
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// Rows per batch the worker sends, unless configured otherwise.
pub const DEFAULT_BATCH_ROWS: usize = 64 * 1024;

/// The gRPC metadata key that carries the worker token (`authorization: Bearer TOKEN`).
pub const AUTHORIZATION: &str = "authorization";

/// Where a resuming client is: the table incarnation and the step it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resume {
    /// The incarnation of the table the client holds.
    pub incarnation: String,
    /// The step the client holds.
    pub step: Step,
}

/// What a client asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// The table's name in the worker's scope.
    pub table: String,
    /// The columns to send (all when absent), applied at the worker.
    #[serde(default)]
    pub columns: Option<Vec<String>>,
    /// Resume after a step the client holds (subscriptions only).
    #[serde(default)]
    pub resume: Option<Resume>,
}

impl Request {
    /// Encodes as JSON.
    pub fn to_bytes(&self) -> Bytes {
        // Serializing plain strings and numbers cannot fail.
        Bytes::from(serde_json::to_vec(self).unwrap_or_default())
    }

    /// Decodes a ticket or command: JSON, or (for tickets) a bare table name.
    pub fn from_bytes(bytes: &[u8], allow_bare_name: bool) -> Result<Self, String> {
        if bytes.first() == Some(&b'{') {
            return serde_json::from_slice(bytes).map_err(|e| format!("malformed request: {e}"));
        }
        if !allow_bare_name {
            return Err("malformed request: expected a JSON object".into());
        }
        let table = std::str::from_utf8(bytes)
            .map_err(|_| "malformed ticket: not UTF-8".to_string())?
            .trim();
        if table.is_empty() {
            return Err("malformed ticket: empty table name".into());
        }
        Ok(Self {
            table: table.to_owned(),
            columns: None,
            resume: None,
        })
    }
}

/// The kind of a subscription-stream message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A step starts.
    Begin,
    /// Keys removed in this step.
    Removed,
    /// Rows added in this step (with a batch).
    Added,
    /// New values of one column (with a one-column batch).
    Modified,
    /// The step is complete.
    End,
}

/// The JSON header of a message's `app_metadata`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// What the message is.
    pub kind: Kind,
    /// The step it belongs to.
    pub step: Step,
    /// `Begin` only: the table's incarnation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incarnation: Option<String>,
    /// `Begin` only: the step replaces the whole table.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reset: bool,
    /// `Modified` only: the column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// `Begin` only: the modified columns of the step.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub modified_columns: Vec<String>,
}

impl Header {
    /// A header of `kind` at `step`.
    pub fn new(kind: Kind, step: Step) -> Self {
        Self {
            kind,
            step,
            incarnation: None,
            reset: false,
            column: None,
            modified_columns: Vec::new(),
        }
    }
}

/// A decoded `app_metadata`: the header and the keys.
#[derive(Debug, Clone, PartialEq)]
pub struct Meta {
    /// The header.
    pub header: Header,
    /// The keys the message concerns (removed, added or modified), ascending.
    pub keys: RowSet,
}

impl Meta {
    /// Encodes into `app_metadata` bytes.
    pub fn encode(&self) -> Bytes {
        let json = serde_json::to_vec(&self.header).unwrap_or_default();
        let mut out = Vec::with_capacity(8 + json.len() + self.keys.serialized_size());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(json.len() as u32).to_le_bytes());
        out.extend_from_slice(&json);
        if !self.keys.is_empty() {
            // Writing into a Vec cannot fail.
            let _ = self.keys.serialize_into(&mut out);
        }
        Bytes::from(out)
    }

    /// Decodes `app_metadata` bytes; `Err` says what is malformed.
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        let rest = bytes
            .strip_prefix(MAGIC.as_slice())
            .ok_or("metadata does not start with TSR1")?;
        let len_bytes: [u8; 4] = rest
            .get(..4)
            .and_then(|b| b.try_into().ok())
            .ok_or("metadata truncated before its header length")?;
        let len = u32::from_le_bytes(len_bytes) as usize;
        if len > MAX_HEADER {
            return Err(format!("metadata header of {len} bytes is too large"));
        }
        let json = rest
            .get(4..4 + len)
            .ok_or("metadata truncated inside its header")?;
        let header: Header =
            serde_json::from_slice(json).map_err(|e| format!("malformed metadata header: {e}"))?;
        let key_bytes = rest.get(4 + len..).unwrap_or_default();
        let keys = if key_bytes.is_empty() {
            RowSet::new()
        } else {
            RowSet::deserialize_from(key_bytes).map_err(|e| format!("malformed keys: {e}"))?
        };
        Ok(Self { header, keys })
    }
}

/// Turns schemas, batches and metadata into Flight messages, sending a schema message whenever
/// the batch schema changes.
pub struct Encoder {
    generator: IpcDataGenerator,
    tracker: DictionaryTracker,
    options: IpcWriteOptions,
    context: IpcWriteContext,
    last_schema: Option<SchemaRef>,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder").finish_non_exhaustive()
    }
}

impl Default for Encoder {
    fn default() -> Self {
        Self {
            generator: IpcDataGenerator::default(),
            tracker: DictionaryTracker::new(false),
            options: IpcWriteOptions::default(),
            context: IpcWriteContext::default(),
            last_schema: None,
        }
    }
}

impl Encoder {
    /// A schema message carrying `meta` (a reset `Begin`).
    pub fn schema_with_meta(&mut self, schema: &SchemaRef, meta: &Meta) -> FlightData {
        self.last_schema = Some(schema.clone());
        self.tracker = DictionaryTracker::new(false);
        FlightData::from(SchemaAsIpc::new(schema, &self.options)).with_app_metadata(meta.encode())
    }

    /// A body-less message carrying `meta`: an IPC message of type `NONE`, which Flight
    /// decoders pass through with its metadata.
    pub fn meta_only(meta: &Meta) -> FlightData {
        FlightData::new()
            .with_data_header(none_header())
            .with_app_metadata(meta.encode())
    }

    /// The messages for `batch` carrying `meta`: a schema message first if the schema changed,
    /// dictionaries, then the batch.
    pub fn batch(
        &mut self,
        batch: &RecordBatch,
        meta: &Meta,
    ) -> Result<Vec<FlightData>, arrow_schema::ArrowError> {
        let mut out = Vec::with_capacity(2);
        let schema = batch.schema();
        if self.last_schema.as_ref() != Some(&schema) {
            self.tracker = DictionaryTracker::new(false);
            out.push(FlightData::from(SchemaAsIpc::new(&schema, &self.options)));
            self.last_schema = Some(schema);
        }
        let (dictionaries, data) =
            self.generator
                .encode(batch, &mut self.tracker, &self.options, &mut self.context)?;
        out.extend(dictionaries.into_iter().map(FlightData::from));
        out.push(FlightData::from(data).with_app_metadata(meta.encode()));
        Ok(out)
    }
}

/// The flatbuffer of an IPC message with no header and no body.
fn none_header() -> Bytes {
    static HEADER: std::sync::OnceLock<Bytes> = std::sync::OnceLock::new();
    HEADER
        .get_or_init(|| {
            let mut fbb = flatbuffers::FlatBufferBuilder::new();
            let mut message = arrow_ipc::MessageBuilder::new(&mut fbb);
            message.add_version(arrow_ipc::MetadataVersion::V5);
            message.add_header_type(arrow_ipc::MessageHeader::NONE);
            message.add_bodyLength(0);
            let root = message.finish();
            fbb.finish(root, None);
            Bytes::copy_from_slice(fbb.finished_data())
        })
        .clone()
}

/// Splits ascending `keys` into row sets of at most `max` keys each.
pub fn key_chunks(keys: &RowSet, max: usize) -> Vec<RowSet> {
    let max = max.max(1);
    let mut out = Vec::new();
    let mut current = RowSet::new();
    let mut count = 0;
    for key in keys.iter() {
        current.insert(key);
        count += 1;
        if count == max {
            out.push(std::mem::take(&mut current));
            count = 0;
        }
    }
    if count > 0 {
        out.push(current);
    }
    out
}

/// Ascending keys to a row set; `Err` if they are not strictly ascending.
pub fn key_set(keys: &[RowKey]) -> Result<RowSet, String> {
    RowSet::from_sorted_keys(keys).map_err(|e| e.to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn meta_round_trips_and_hostile_bytes_are_errors() {
        let mut header = Header::new(Kind::Modified, 7);
        header.column = Some("price".into());
        let meta = Meta {
            header,
            keys: RowSet::from_range(3..9),
        };
        assert_eq!(Meta::decode(&meta.encode()).unwrap(), meta);
        for hostile in [
            &b""[..],
            b"TSR1",
            b"TSR1\xff\xff\xff\xff",
            b"TSR1\x02\x00\x00\x00{}",
            b"XXXX\x00\x00\x00\x00",
            b"TSR1\x02\x00\x00\x00{",
        ] {
            assert!(Meta::decode(hostile).is_err(), "{hostile:?}");
        }
        let mut bad_keys = meta.encode().to_vec();
        bad_keys.truncate(bad_keys.len() - 3);
        assert!(Meta::decode(&bad_keys).is_err());
    }

    #[test]
    fn requests_parse_json_or_bare_names() {
        let request = Request {
            table: "dir.t".into(),
            columns: Some(vec!["a".into()]),
            resume: Some(Resume {
                incarnation: "x".into(),
                step: 4,
            }),
        };
        assert_eq!(
            Request::from_bytes(&request.to_bytes(), false).unwrap(),
            request
        );
        assert_eq!(Request::from_bytes(b"dir.t", true).unwrap().table, "dir.t");
        assert!(Request::from_bytes(b"dir.t", false).is_err());
        assert!(Request::from_bytes(b"{\"tab", true).is_err());
        assert!(Request::from_bytes(b"\xff\xfe", true).is_err());
        assert!(Request::from_bytes(b"  ", true).is_err());
    }

    #[test]
    fn key_chunks_cover_every_key_in_bounded_sets() {
        let keys = RowSet::from_range(0..10);
        let chunks = key_chunks(&keys, 4);
        assert_eq!(
            chunks.iter().map(RowSet::len).collect::<Vec<_>>(),
            [4, 4, 2]
        );
        let mut all = RowSet::new();
        chunks.iter().for_each(|c| all.union_with(c));
        assert_eq!(all, keys);
    }
}
