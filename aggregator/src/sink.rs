//! Rows into Parquet (zstd, statistics, bounded row groups). Each row is appended to Arrow column
//! builders as it arrives (the row is read once, while it is still in cache, instead of once per
//! column from a buffer of rows), and every [`BATCH_ROWS`] rows the builders are finished into a
//! record batch for the writer thread. The encoded bytes are handed out in parts as they accumulate, so
//! memory stays bounded by a row group and a part whatever the organization's size.
//! [`crate::output`] publishes the parts as one snapshot per day.

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::mpsc::{Receiver, Sender, SyncSender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use arrow_array::builder::{
    ArrayBuilder, Date32Builder, ListBuilder, MapBuilder, MapFieldNames, PrimitiveBuilder, StringBuilder,
    TimestampMillisecondBuilder,
};
use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type};
use arrow_array::{Array, ArrayRef, ArrowPrimitiveType, RecordBatch};
use arrow_schema::{DataType, Field, Fields, SchemaRef, TimeUnit};
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

/// The Arrow builder of one kind of column, and the value a row holds for it.
trait Kind {
    type Builder: ArrayBuilder;
    type Value<'r>;
    /// The builder for `field`; an error when the field's type is not this kind's. Sized like
    /// `previous`, the column's last batch when there is one: builders start over empty after a
    /// batch, and growing them by doubling again would copy each buffer about twice.
    fn builder(field: &Field, previous: Option<&ArrayRef>) -> anyhow::Result<Self::Builder>;
    fn append(builder: &mut Self::Builder, value: Self::Value<'_>) -> anyhow::Result<()>;
}

/// A string builder sized like a finished string array (which holds exactly its own value bytes).
fn strings(previous: Option<&ArrayRef>) -> StringBuilder {
    let bytes = previous
        .and_then(|array| array.as_string_opt::<i32>())
        .map_or(0, |array| array.value_data().len());
    StringBuilder::with_capacity(previous.map_or(0, |array| array.len()), bytes)
}

fn rows_of(previous: Option<&ArrayRef>) -> usize {
    previous.map_or(0, |array| array.len())
}

fn mismatch<T>(field: &Field, kind: &str) -> anyhow::Result<T> {
    bail!(
        "column {}: type {} is not {kind}",
        field.name(),
        field.data_type()
    )
}

struct Text;
impl Kind for Text {
    type Builder = StringBuilder;
    type Value<'r> = Option<&'r str>;
    fn builder(field: &Field, previous: Option<&ArrayRef>) -> anyhow::Result<StringBuilder> {
        match field.data_type() {
            DataType::Utf8 => Ok(strings(previous)),
            _ => mismatch(field, "a string"),
        }
    }
    #[inline]
    fn append(builder: &mut StringBuilder, value: Option<&str>) -> anyhow::Result<()> {
        builder.append_option(value);
        Ok(())
    }
}

struct Time;
impl Kind for Time {
    type Builder = TimestampMillisecondBuilder;
    type Value<'r> = Option<Timestamp>;
    fn builder(field: &Field, previous: Option<&ArrayRef>) -> anyhow::Result<Self::Builder> {
        match field.data_type() {
            DataType::Timestamp(TimeUnit::Millisecond, zone) => {
                let builder = TimestampMillisecondBuilder::with_capacity(rows_of(previous));
                Ok(match zone {
                    Some(zone) => builder.with_timezone(zone.as_ref()),
                    None => builder,
                })
            }
            _ => mismatch(field, "a timestamp in milliseconds"),
        }
    }
    #[inline]
    fn append(builder: &mut Self::Builder, value: Option<Timestamp>) -> anyhow::Result<()> {
        builder.append_option(value.map(Timestamp::as_millisecond));
        Ok(())
    }
}

struct Day;
impl Kind for Day {
    type Builder = Date32Builder;
    type Value<'r> = Option<Date>;
    fn builder(field: &Field, previous: Option<&ArrayRef>) -> anyhow::Result<Date32Builder> {
        match field.data_type() {
            DataType::Date32 => Ok(Date32Builder::with_capacity(rows_of(previous))),
            _ => mismatch(field, "a date"),
        }
    }
    #[inline]
    fn append(builder: &mut Date32Builder, value: Option<Date>) -> anyhow::Result<()> {
        builder.append_option(value.map(epoch_days));
        Ok(())
    }
}

/// An integer column of Arrow type `T` (its values as the row holds them).
struct Integer<T>(PhantomData<T>);
type Int = Integer<Int32Type>;
type Long = Integer<Int64Type>;
impl<T: ArrowPrimitiveType> Kind for Integer<T> {
    type Builder = PrimitiveBuilder<T>;
    type Value<'r> = Option<T::Native>;
    fn builder(field: &Field, previous: Option<&ArrayRef>) -> anyhow::Result<Self::Builder> {
        if field.data_type() == &T::DATA_TYPE {
            Ok(PrimitiveBuilder::with_capacity(rows_of(previous)))
        } else {
            mismatch(field, &T::DATA_TYPE.to_string())
        }
    }
    #[inline]
    fn append(builder: &mut Self::Builder, value: Option<T::Native>) -> anyhow::Result<()> {
        builder.append_option(value);
        Ok(())
    }
}

/// A list of strings; `None` is a NULL list (not read), `Some(&[])` an empty one.
struct List;
impl Kind for List {
    type Builder = ListBuilder<StringBuilder>;
    type Value<'r> = Option<&'r [String]>;
    fn builder(field: &Field, previous: Option<&ArrayRef>) -> anyhow::Result<Self::Builder> {
        match field.data_type() {
            DataType::List(item) if item.data_type() == &DataType::Utf8 => {
                let items = previous.and_then(|a| a.as_list_opt::<i32>()).map(|l| l.values());
                Ok(ListBuilder::with_capacity(strings(items), rows_of(previous)).with_field(item.clone()))
            }
            _ => mismatch(field, "a list of strings"),
        }
    }
    #[inline]
    fn append(builder: &mut Self::Builder, items: Option<&[String]>) -> anyhow::Result<()> {
        for item in items.unwrap_or_default() {
            builder.values().append_value(item);
        }
        builder.append(items.is_some());
        Ok(())
    }
}

/// A map of strings to strings (never NULL: an empty map when there is nothing).
struct Map;
impl Kind for Map {
    type Builder = MapBuilder<StringBuilder, StringBuilder>;
    type Value<'r> = &'r BTreeMap<String, String>;
    fn builder(field: &Field, previous: Option<&ArrayRef>) -> anyhow::Result<Self::Builder> {
        let DataType::Map(entries, false) = field.data_type() else {
            return mismatch(field, "an unsorted map");
        };
        match entries.data_type() {
            // MapBuilder::finish panics unless the key field is a non-null string: checked here.
            DataType::Struct(fields)
                if fields.len() == 2
                    && fields[0].data_type() == &DataType::Utf8
                    && !fields[0].is_nullable()
                    && fields[1].data_type() == &DataType::Utf8 =>
            {
                let names = MapFieldNames {
                    entry: entries.name().clone(),
                    key: fields[0].name().clone(),
                    value: fields[1].name().clone(),
                };
                let map = previous.and_then(|a| a.as_map_opt());
                let (keys, values) = (map.map(|m| m.keys()), map.map(|m| m.values()));
                Ok(
                    MapBuilder::with_capacity(Some(names), strings(keys), strings(values), rows_of(previous))
                        .with_keys_field(fields[0].clone())
                        .with_values_field(fields[1].clone()),
                )
            }
            _ => mismatch(field, "a map of non-null strings to strings"),
        }
    }
    #[inline]
    fn append(builder: &mut Self::Builder, map: &BTreeMap<String, String>) -> anyhow::Result<()> {
        let (keys, values) = builder.entries();
        for (key, value) in map {
            keys.append_value(key);
            values.append_value(value);
        }
        builder.append(true)?;
        Ok(())
    }
}

/// Where each column of [`schema`] comes from in a [`Row`], in the schema's order: `name: Kind =
/// |row| value`. It becomes a builder per column and one straight-line `append` (no call through a
/// table and no match per value: a million rows × 34 columns); [`Columns::new`] checks the names and
/// kinds against the schema, the one home of the column types.
macro_rules! columns {
    ($($name:ident: $kind:ident = |$row:ident| $value:expr),* $(,)?) => {
        /// One builder per column of the schema, filled a row at a time.
        struct Builders {
            $($name: <$kind as Kind>::Builder,)*
        }

        const COLUMN_NAMES: &[&str] = &[$(stringify!($name)),*];

        impl Builders {
            /// `previous`: the last batch's arrays, in the schema's order, to size the builders.
            fn new(fields: &Fields, previous: Option<&[ArrayRef]>) -> anyhow::Result<Builders> {
                let mut fields = fields.iter();
                let mut previous = previous.map(|arrays| arrays.iter());
                Ok(Builders {
                    $($name: {
                        let field = fields.next().context("the schema has fewer columns than the rows")?;
                        let last = previous.as_mut().and_then(|arrays| arrays.next());
                        <$kind as Kind>::builder(field, last)?
                    },)*
                })
            }

            #[inline]
            fn append(&mut self, row: &Row) -> anyhow::Result<()> {
                $({
                    let $row = row;
                    <$kind as Kind>::append(&mut self.$name, $value)
                        .context(concat!("column ", stringify!($name)))?;
                })*
                Ok(())
            }

            fn finish(&mut self) -> Vec<ArrayRef> {
                vec![$(ArrayBuilder::finish(&mut self.$name)),*]
            }
        }
    };
}

columns! {
    account_id: Text = |r| Some(&r.account_id),
    account_name: Text = |r| r.account_name.as_deref(),
    ou_path: Text = |r| r.ou_path.as_deref(),
    account_tags: Map = |r| &r.account_tags,
    region: Text = |r| Some(&r.region),
    rule_name: Text = |r| Some(&r.rule_name),
    resource_type: Text = |r| Some(&r.resource_type),
    resource_id: Text = |r| Some(&r.resource_id),
    function_arn: Text = |r| r.function_arn.as_deref(),
    compliance_type: Text = |r| Some(&r.compliance_type),
    annotation: Text = |r| r.annotation.as_deref(),
    result_recorded_time: Time = |r| r.result_recorded_time,
    config_rule_invoked_time: Time = |r| r.config_rule_invoked_time,
    runtime: Text = |r| r.runtime.as_deref(),
    runtime_family: Text = |r| r.runtime_family.as_deref(),
    package_type: Text = |r| r.package_type.as_deref(),
    architectures: List = |r| Some(&r.architectures),
    code_last_modified: Time = |r| r.code_last_modified,
    function_tags: Map = |r| &r.function_tags,
    phase: Text = |r| r.phase.map(|p| p.as_str()),
    deprecation_date: Day = |r| r.deprecation_date,
    block_create_date: Day = |r| r.block_create_date,
    block_update_date: Day = |r| r.block_update_date,
    days_to_fail: Int = |r| r.days_to_fail,
    successor: Text = |r| r.successor.as_deref(),
    latest_runtime: Text = |r| r.latest_runtime.as_deref(),
    exempt_until: Day = |r| r.exempt_until,
    qualifier: Text = |r| r.qualifier.as_deref(),
    aliases: List = |r| Some(&r.aliases),
    blocking_layers: List = |r| r.blocking_layers.as_deref(),
    invocations_30d: Long = |r| r.invocations_30d,
    last_invoked_date: Day = |r| r.last_invoked_date,
    run_id: Text = |r| Some(&r.run_id),
    collected_at: Time = |r| Some(r.collected_at),
}

/// The schema's builders and how many rows they hold.
struct Columns {
    schema: SchemaRef,
    builders: Builders,
    rows: usize,
}

impl Columns {
    fn new() -> anyhow::Result<Columns> {
        let schema = schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        if names != COLUMN_NAMES {
            bail!("the row columns {COLUMN_NAMES:?} do not match the schema's {names:?}");
        }
        let builders = Builders::new(schema.fields(), None)?;
        Ok(Columns {
            schema,
            builders,
            rows: 0,
        })
    }

    /// One row into every column. An error leaves the columns of unequal length, which the next
    /// batch then refuses: callers stop at the first error.
    fn append(&mut self, row: &Row) -> anyhow::Result<()> {
        self.builders.append(row)?;
        self.rows += 1;
        Ok(())
    }

    /// The rows so far as a record batch; the builders start over empty, sized for another such.
    fn finish(&mut self) -> anyhow::Result<RecordBatch> {
        let arrays = self.builders.finish();
        self.builders = Builders::new(self.schema.fields(), Some(&arrays))?;
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
        assert_eq!(COLUMN_NAMES.len(), schema().fields().len());
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
