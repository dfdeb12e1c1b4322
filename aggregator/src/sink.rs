//! Rows into Parquet (zstd, statistics, bounded row groups). Each row is appended to Arrow column
//! builders as it arrives (the row is read once, while it is still in cache, instead of once per
//! column from a buffer of rows), and every [`BATCH_ROWS`] rows the builders are finished into a
//! record batch for the writer thread. The encoded bytes are handed out in parts as they accumulate, so
//! memory stays bounded by a row group and a part whatever the organization's size.
//! [`crate::output`] publishes the parts as one snapshot per day.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, SyncSender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use arrow_array::builder::{
    Date32Builder, Int32Builder, Int64Builder, ListBuilder, MapBuilder, MapFieldNames, StringBuilder,
    TimestampMillisecondBuilder,
};
use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, SchemaRef, TimeUnit};
use jiff::Timestamp;
use jiff::civil::Date;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use crate::row::Row;
use crate::schema::schema;

/// Rows per record batch (and the unit of memory the column builders hold).
pub const BATCH_ROWS: usize = 16_384;
/// Rows per Parquet row group: large enough for Athena to skip by statistics, small enough to stream.
pub const ROW_GROUP_ROWS: usize = 128 * 1024;

/// Days since 1970-01-01 (Arrow's Date32). `duration_since` counts civil days of 24 hours without
/// building and balancing a calendar `Span` (`Date::until`), three times per row.
fn epoch_days(date: Date) -> i32 {
    let seconds = date.duration_since(jiff::civil::date(1970, 1, 1)).as_secs();
    i32::try_from(seconds.div_euclid(86_400)).unwrap_or(if seconds < 0 { i32::MIN } else { i32::MAX })
}

/// One row's value for one column, as the row holds it.
enum Value<'r> {
    Text(Option<&'r str>),
    Time(Option<Timestamp>),
    Date(Option<Date>),
    Int(Option<i32>),
    Long(Option<i64>),
    List(&'r [String]),
    /// A list that may be NULL (not read).
    OptList(Option<&'r [String]>),
    Map(&'r BTreeMap<String, String>),
}

/// Reads one column's value from a row.
type Getter = for<'r> fn(&'r Row) -> Value<'r>;

/// Where each column of [`schema`] comes from in a [`Row`], in the schema's order. The column
/// types and builders come from the schema; [`Encoder::new`] checks these names against it.
const COLUMNS: [(&str, Getter); 34] = [
    ("account_id", |r| Value::Text(Some(&r.account_id))),
    ("account_name", |r| Value::Text(r.account_name.as_deref())),
    ("ou_path", |r| Value::Text(r.ou_path.as_deref())),
    ("account_tags", |r| Value::Map(&r.account_tags)),
    ("region", |r| Value::Text(Some(&r.region))),
    ("rule_name", |r| Value::Text(Some(&r.rule_name))),
    ("resource_type", |r| Value::Text(Some(&r.resource_type))),
    ("resource_id", |r| Value::Text(Some(&r.resource_id))),
    ("function_arn", |r| Value::Text(r.function_arn.as_deref())),
    ("compliance_type", |r| Value::Text(Some(&r.compliance_type))),
    ("annotation", |r| Value::Text(r.annotation.as_deref())),
    ("result_recorded_time", |r| Value::Time(r.result_recorded_time)),
    ("config_rule_invoked_time", |r| {
        Value::Time(r.config_rule_invoked_time)
    }),
    ("runtime", |r| Value::Text(r.runtime.as_deref())),
    ("runtime_family", |r| Value::Text(r.runtime_family.as_deref())),
    ("package_type", |r| Value::Text(r.package_type.as_deref())),
    ("architectures", |r| Value::List(&r.architectures)),
    ("code_last_modified", |r| Value::Time(r.code_last_modified)),
    ("function_tags", |r| Value::Map(&r.function_tags)),
    ("phase", |r| Value::Text(r.phase.map(|p| p.as_str()))),
    ("deprecation_date", |r| Value::Date(r.deprecation_date)),
    ("block_create_date", |r| Value::Date(r.block_create_date)),
    ("block_update_date", |r| Value::Date(r.block_update_date)),
    ("days_to_fail", |r| Value::Int(r.days_to_fail)),
    ("successor", |r| Value::Text(r.successor.as_deref())),
    ("latest_runtime", |r| Value::Text(r.latest_runtime.as_deref())),
    ("exempt_until", |r| Value::Date(r.exempt_until)),
    ("qualifier", |r| Value::Text(r.qualifier.as_deref())),
    ("aliases", |r| Value::List(&r.aliases)),
    ("blocking_layers", |r| {
        Value::OptList(r.blocking_layers.as_deref())
    }),
    ("invocations_30d", |r| Value::Long(r.invocations_30d)),
    ("last_invoked_date", |r| Value::Date(r.last_invoked_date)),
    ("run_id", |r| Value::Text(Some(&r.run_id))),
    ("collected_at", |r| Value::Time(Some(r.collected_at))),
];

/// The Arrow builder of one column, chosen by the column's type in [`schema`].
enum Column {
    Text(StringBuilder),
    Time(TimestampMillisecondBuilder),
    Date(Date32Builder),
    Int(Int32Builder),
    Long(Int64Builder),
    List(ListBuilder<StringBuilder>),
    Map(MapBuilder<StringBuilder, StringBuilder>),
}

impl Column {
    /// The builder for a field of the schema; an error for a type the rows cannot fill. Sized like
    /// `previous`, the column's last batch when there is one: builders start over empty after a
    /// batch, and growing them by doubling again would copy each buffer about twice.
    fn for_field(field: &Field, previous: Option<&ArrayRef>) -> anyhow::Result<Column> {
        let text = |f: &Field| f.data_type() == &DataType::Utf8;
        let rows = previous.map_or(0, |array| array.len());
        // A string array's value bytes (a finished array holds exactly its own).
        let bytes = |array: &ArrayRef| array.as_string_opt::<i32>().map_or(0, |a| a.value_data().len());
        let strings = |array: Option<&ArrayRef>| {
            StringBuilder::with_capacity(array.map_or(0, |a| a.len()), array.map_or(0, bytes))
        };
        Ok(match field.data_type() {
            DataType::Utf8 => Column::Text(strings(previous)),
            DataType::Timestamp(TimeUnit::Millisecond, zone) => {
                let builder = TimestampMillisecondBuilder::with_capacity(rows);
                Column::Time(match zone {
                    Some(zone) => builder.with_timezone(zone.as_ref()),
                    None => builder,
                })
            }
            DataType::Date32 => Column::Date(Date32Builder::with_capacity(rows)),
            DataType::Int32 => Column::Int(Int32Builder::with_capacity(rows)),
            DataType::Int64 => Column::Long(Int64Builder::with_capacity(rows)),
            DataType::List(item) if text(item) => {
                let items = previous.and_then(|a| a.as_list_opt::<i32>()).map(|l| l.values());
                Column::List(ListBuilder::with_capacity(strings(items), rows).with_field(item.clone()))
            }
            DataType::Map(entries, false) => match entries.data_type() {
                // MapBuilder::finish panics unless the key field is a non-null string: checked here.
                DataType::Struct(fields)
                    if fields.len() == 2
                        && text(&fields[0])
                        && !fields[0].is_nullable()
                        && text(&fields[1]) =>
                {
                    let names = MapFieldNames {
                        entry: entries.name().clone(),
                        key: fields[0].name().clone(),
                        value: fields[1].name().clone(),
                    };
                    let map = previous.and_then(|a| a.as_map_opt());
                    let (keys, values) = (map.map(|m| m.keys()), map.map(|m| m.values()));
                    Column::Map(
                        MapBuilder::with_capacity(Some(names), strings(keys), strings(values), rows)
                            .with_keys_field(fields[0].clone())
                            .with_values_field(fields[1].clone()),
                    )
                }
                other => bail!(
                    "column {}: map entries of {other} are not supported",
                    field.name()
                ),
            },
            other => bail!("column {}: type {other} is not supported", field.name()),
        })
    }

    #[inline]
    fn append(&mut self, value: Value<'_>) -> anyhow::Result<()> {
        match (self, value) {
            (Column::Text(builder), Value::Text(text)) => builder.append_option(text),
            (Column::Time(builder), Value::Time(time)) => {
                builder.append_option(time.map(Timestamp::as_millisecond))
            }
            (Column::Date(builder), Value::Date(date)) => builder.append_option(date.map(epoch_days)),
            (Column::Int(builder), Value::Int(int)) => builder.append_option(int),
            (Column::Long(builder), Value::Long(long)) => builder.append_option(long),
            (Column::List(builder), Value::List(items)) => {
                for item in items {
                    builder.values().append_value(item);
                }
                builder.append(true);
            }
            (Column::List(builder), Value::OptList(items)) => {
                for item in items.unwrap_or_default() {
                    builder.values().append_value(item);
                }
                builder.append(items.is_some());
            }
            (Column::Map(builder), Value::Map(map)) => {
                let (keys, values) = builder.entries();
                for (key, value) in map {
                    keys.append_value(key);
                    values.append_value(value);
                }
                builder.append(true)?;
            }
            _ => bail!("a row value does not match its column's type"),
        }
        Ok(())
    }

    /// The column so far as an array; the builder starts over empty.
    fn finish(&mut self) -> ArrayRef {
        match self {
            Column::Text(builder) => Arc::new(builder.finish()),
            Column::Time(builder) => Arc::new(builder.finish()),
            Column::Date(builder) => Arc::new(builder.finish()),
            Column::Int(builder) => Arc::new(builder.finish()),
            Column::Long(builder) => Arc::new(builder.finish()),
            Column::List(builder) => Arc::new(builder.finish()),
            Column::Map(builder) => Arc::new(builder.finish()),
        }
    }
}

/// Builders for every column of the schema, filled a row at a time.
struct Columns {
    schema: SchemaRef,
    columns: Vec<(&'static str, Getter, Column)>,
    rows: usize,
}

impl Columns {
    fn new() -> anyhow::Result<Columns> {
        let schema = schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        let table: Vec<&str> = COLUMNS.iter().map(|(name, _)| *name).collect();
        if names != table {
            bail!("the row columns {table:?} do not match the schema's {names:?}");
        }
        let columns = schema
            .fields()
            .iter()
            .zip(COLUMNS)
            .map(|(field, (name, get))| Ok((name, get, Column::for_field(field, None)?)))
            .collect::<anyhow::Result<_>>()?;
        Ok(Columns {
            schema,
            columns,
            rows: 0,
        })
    }

    /// One row into every column. An error leaves the columns of unequal length, which the next
    /// batch then refuses: callers stop at the first error.
    fn append(&mut self, row: &Row) -> anyhow::Result<()> {
        for (name, get, column) in &mut self.columns {
            column
                .append(get(row))
                .with_context(|| format!("column {name}"))?;
        }
        self.rows += 1;
        Ok(())
    }

    /// The rows so far as a record batch; the builders start over empty, sized for another such.
    fn finish(&mut self) -> anyhow::Result<RecordBatch> {
        let mut arrays = Vec::with_capacity(self.columns.len());
        for (field, (_, _, column)) in self.schema.fields().iter().zip(&mut self.columns) {
            let array = column.finish();
            *column = Column::for_field(field, Some(&array))?;
            arrays.push(array);
        }
        self.rows = 0;
        RecordBatch::try_new(self.schema.clone(), arrays)
            .context("building a record batch of the dataset schema")
    }
}

/// Columns written without a dictionary: their values are (nearly) one per row — a function's
/// identifiers, the times Config stamps each result with. A dictionary there fills its page limit
/// within every row group and falls back to plain encoding, so it only costs time and bytes (README,
/// Performance: `cargo xtask bench aggregator`). Where such times do repeat, zstd compresses the
/// plain values well.
const PLAIN_COLUMNS: [&str; 4] = [
    "resource_id",
    "function_arn",
    "result_recorded_time",
    "config_rule_invoked_time",
];

fn properties() -> WriterProperties {
    PLAIN_COLUMNS
        .iter()
        .fold(WriterProperties::builder(), |builder, column| {
            builder.set_column_dictionary_enabled(ColumnPath::from(*column), false)
        })
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        // Min/max per column chunk (row group) is what Athena prunes with; page-level statistics
        // and the page index cost encode time for little gain here.
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .build()
}

/// Encodes rows into one Parquet file whose bytes are taken out as they are produced.
///
/// Arrow → Parquet (dictionaries, statistics, zstd) costs about as much as filling the builders
/// from rows, so it runs on a thread of its own: the caller appends the next batch's rows while the
/// previous batch is encoded. At most one full batch waits for the writer, so memory stays bounded.
pub struct Encoder {
    columns: Columns,
    /// Full batches to the writer thread; `None` once finishing.
    batches: Option<SyncSender<RecordBatch>>,
    /// Encoded bytes from the writer thread, in file order.
    parts: Receiver<Vec<u8>>,
    writer: Option<JoinHandle<anyhow::Result<Written>>>,
    /// Bytes received from the writer and not yet taken.
    received: Vec<u8>,
    /// Rows handed to the writer.
    sent: usize,
    /// Time the caller spent blocked on the writer thread.
    waiting: Duration,
}

/// What the writer thread returns: the file's last bytes and its busy time.
struct Written {
    last: Vec<u8>,
    to_parquet: Duration,
}

/// Where encoding time goes, for the benchmark.
#[derive(Debug, Default, Clone, Copy)]
pub struct Timings {
    /// Arrow → Parquet bytes, on the writer thread.
    pub to_parquet: Duration,
    /// The caller's time blocked waiting for the writer thread (it has a batch still to encode).
    pub waiting: Duration,
}

/// The writer thread: encodes each batch and passes the bytes on as the writer produces them
/// (a row group at a time), then writes the footer.
fn write_batches(
    mut writer: ArrowWriter<Vec<u8>>,
    batches: Receiver<RecordBatch>,
    parts: Sender<Vec<u8>>,
) -> anyhow::Result<Written> {
    let mut to_parquet = Duration::ZERO;
    for batch in batches {
        let started = Instant::now();
        writer.write(&batch).context("encoding rows as Parquet")?;
        to_parquet += started.elapsed();
        if !writer.inner().is_empty() {
            // The writer only appends to its buffer and keeps its own offsets, so taking the bytes
            // out is safe. A send fails only when the encoder was dropped: then nobody wants them.
            if parts.send(std::mem::take(writer.inner_mut())).is_err() {
                break;
            }
        }
    }
    let started = Instant::now();
    let last = writer.into_inner().context("finishing the Parquet file")?;
    to_parquet += started.elapsed();
    Ok(Written { last, to_parquet })
}

impl Encoder {
    pub fn new() -> anyhow::Result<Encoder> {
        let writer = ArrowWriter::try_new(Vec::new(), schema(), Some(properties()))
            .context("starting a Parquet file")?;
        let (batches, batches_rx) = std::sync::mpsc::sync_channel(1);
        let (parts_tx, parts) = std::sync::mpsc::channel();
        let handle = std::thread::Builder::new()
            .name("parquet-writer".into())
            .spawn(move || write_batches(writer, batches_rx, parts_tx))
            .context("starting the Parquet writer thread")?;
        Ok(Encoder {
            columns: Columns::new()?,
            batches: Some(batches),
            parts,
            writer: Some(handle),
            received: Vec::new(),
            sent: 0,
            waiting: Duration::ZERO,
        })
    }

    pub fn push(&mut self, row: Row) -> anyhow::Result<()> {
        self.columns.append(&row)?;
        if self.columns.rows == BATCH_ROWS {
            self.send_pending()?;
        }
        Ok(())
    }

    fn send_pending(&mut self) -> anyhow::Result<()> {
        if self.columns.rows == 0 {
            return Ok(());
        }
        let batch = self.columns.finish()?;
        let rows = batch.num_rows();
        let started = Instant::now();
        let sent = self.batches.as_ref().map(|batches| batches.send(batch).is_ok());
        self.waiting += started.elapsed();
        if sent != Some(true) {
            // The writer stopped, which it does only on an error: report that one.
            return Err(self
                .join()
                .err()
                .unwrap_or_else(|| anyhow!("the Parquet writer stopped")));
        }
        self.sent += rows;
        Ok(())
    }

    /// Waits for the writer thread and returns what it wrote last.
    fn join(&mut self) -> anyhow::Result<Written> {
        self.batches = None;
        let handle = self
            .writer
            .take()
            .context("the Parquet writer has finished already")?;
        let started = Instant::now();
        let written = handle
            .join()
            .map_err(|_| anyhow!("the Parquet writer thread panicked"))?;
        self.waiting += started.elapsed();
        written
    }

    /// The encoded bytes so far, once there are at least `at_least` of them.
    pub fn take(&mut self, at_least: usize) -> Option<Vec<u8>> {
        self.received.extend(self.parts.try_iter().flatten());
        (self.received.len() >= at_least).then(|| std::mem::take(&mut self.received))
    }

    /// Rows encoded so far (including those waiting for a full batch).
    pub fn rows(&self) -> usize {
        self.sent + self.columns.rows
    }

    /// Writes what is pending and the footer; returns the last bytes and the row count.
    pub fn finish(self) -> anyhow::Result<(Vec<u8>, usize)> {
        self.finish_timed().map(|(bytes, rows, _)| (bytes, rows))
    }

    /// [`Encoder::finish`], with where the time went.
    pub fn finish_timed(mut self) -> anyhow::Result<(Vec<u8>, usize, Timings)> {
        self.send_pending()?;
        let written = self.join()?;
        // The writer has ended, so every part it sent is in the channel.
        let mut bytes = std::mem::take(&mut self.received);
        bytes.extend(self.parts.try_iter().flatten());
        bytes.extend(written.last);
        Ok((
            bytes,
            self.sent,
            Timings {
                to_parquet: written.to_parquet,
                waiting: self.waiting,
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_schema_column_has_a_row_value_and_a_builder() {
        let mut columns = Columns::new().expect("the row table matches the schema");
        assert_eq!(columns.columns.len(), schema().fields().len());
        let batch = columns.finish().expect("an empty batch of the schema");
        assert_eq!(batch.schema(), schema());
    }

    #[test]
    fn plain_columns_are_top_level_columns_of_the_schema() {
        for column in PLAIN_COLUMNS {
            let field = schema().field_with_name(column).cloned();
            assert!(
                field.is_ok_and(|f| !f.data_type().is_nested()),
                "{column} is not a top-level column of the schema"
            );
        }
    }
}
