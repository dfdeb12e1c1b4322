//! Rows into Parquet (zstd, statistics, bounded row groups) in record batches; the encoded bytes are
//! handed out in parts as they accumulate, so memory stays bounded by a row group and a part whatever
//! the organization's size. [`crate::output`] publishes the parts as one snapshot per day.

use std::sync::Arc;

use anyhow::Context as _;
use arrow_array::builder::{
    Date32Builder, Int32Builder, ListBuilder, MapBuilder, MapFieldNames, StringBuilder,
    TimestampMillisecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field};
use jiff::civil::Date;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};

use crate::row::Row;
use crate::schema::schema;

/// Rows per record batch (and the unit of memory the writer holds).
pub const BATCH_ROWS: usize = 16_384;
/// Rows per Parquet row group: large enough for Athena to skip by statistics, small enough to stream.
pub const ROW_GROUP_ROWS: usize = 128 * 1024;

fn epoch_days(date: Date) -> i32 {
    let days = lifecycle::dates::days_between(jiff::civil::date(1970, 1, 1), date);
    i32::try_from(days).unwrap_or(i32::MAX)
}

fn map_builder() -> MapBuilder<StringBuilder, StringBuilder> {
    let names = MapFieldNames {
        entry: "entries".into(),
        key: "key".into(),
        value: "value".into(),
    };
    MapBuilder::new(Some(names), StringBuilder::new(), StringBuilder::new())
        .with_values_field(Arc::new(Field::new("value", DataType::Utf8, true)))
}

/// One record batch of the schema from rows.
pub fn batch(rows: &[Row]) -> anyhow::Result<RecordBatch> {
    // Sized up front: one allocation per column instead of a doubling series.
    let text = |get: &dyn Fn(&Row) -> Option<&str>| -> ArrayRef {
        let bytes = rows.iter().map(|r| get(r).map_or(0, str::len)).sum();
        let mut builder = StringBuilder::with_capacity(rows.len(), bytes);
        for row in rows {
            builder.append_option(get(row));
        }
        Arc::new(builder.finish())
    };
    let time = |get: &dyn Fn(&Row) -> Option<jiff::Timestamp>| -> ArrayRef {
        let mut builder = TimestampMillisecondBuilder::with_capacity(rows.len()).with_timezone("UTC");
        for row in rows {
            builder.append_option(get(row).map(|t| t.as_millisecond()));
        }
        Arc::new(builder.finish())
    };
    let date = |get: &dyn Fn(&Row) -> Option<Date>| -> ArrayRef {
        let mut builder = Date32Builder::with_capacity(rows.len());
        for row in rows {
            builder.append_option(get(row).map(epoch_days));
        }
        Arc::new(builder.finish())
    };
    let map =
        |get: &dyn Fn(&Row) -> &std::collections::BTreeMap<String, String>| -> anyhow::Result<ArrayRef> {
            let mut builder = map_builder();
            for row in rows {
                for (key, value) in get(row) {
                    builder.keys().append_value(key);
                    builder.values().append_value(value);
                }
                builder.append(true)?;
            }
            Ok(Arc::new(builder.finish()))
        };
    let mut architectures =
        ListBuilder::new(StringBuilder::new()).with_field(Field::new("item", DataType::Utf8, true));
    for row in rows {
        for architecture in &row.architectures {
            architectures.values().append_value(architecture);
        }
        architectures.append(true);
    }
    let mut days_to_fail = Int32Builder::with_capacity(rows.len());
    for row in rows {
        days_to_fail.append_option(row.days_to_fail);
    }
    let columns: Vec<ArrayRef> = vec![
        text(&|r| Some(&r.account_id)),
        text(&|r| r.account_name.as_deref()),
        text(&|r| r.ou_path.as_deref()),
        map(&|r| &r.account_tags)?,
        text(&|r| Some(&r.region)),
        text(&|r| Some(&r.rule_name)),
        text(&|r| Some(&r.resource_type)),
        text(&|r| Some(&r.resource_id)),
        text(&|r| r.function_arn.as_deref()),
        text(&|r| Some(&r.compliance_type)),
        text(&|r| r.annotation.as_deref()),
        time(&|r| r.result_recorded_time),
        time(&|r| r.config_rule_invoked_time),
        text(&|r| r.runtime.as_deref()),
        text(&|r| r.runtime_family.as_deref()),
        text(&|r| r.package_type.as_deref()),
        Arc::new(architectures.finish()),
        time(&|r| r.code_last_modified),
        map(&|r| &r.function_tags)?,
        text(&|r| r.phase.map(|p| p.as_str())),
        date(&|r| r.deprecation_date),
        date(&|r| r.block_create_date),
        date(&|r| r.block_update_date),
        Arc::new(days_to_fail.finish()),
        text(&|r| r.successor.as_deref()),
        text(&|r| r.latest_runtime.as_deref()),
        text(&|r| Some(&r.run_id)),
        time(&|r| Some(r.collected_at)),
    ];
    RecordBatch::try_new(schema(), columns).context("building a record batch of the dataset schema")
}

fn properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        // Min/max per column chunk (row group) is what Athena prunes with; page-level statistics
        // and the page index cost encode time for little gain here.
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .build()
}

/// Encodes rows into one Parquet file whose bytes are taken out as they are produced.
pub struct Encoder {
    writer: ArrowWriter<Vec<u8>>,
    pending: Vec<Row>,
    rows: usize,
    timings: Timings,
}

/// Where encoding time goes, for the benchmark: rows → Arrow arrays, and Arrow → Parquet bytes.
#[derive(Debug, Default, Clone, Copy)]
pub struct Timings {
    pub to_arrow: std::time::Duration,
    pub to_parquet: std::time::Duration,
}

impl Encoder {
    pub fn new() -> anyhow::Result<Encoder> {
        Ok(Encoder {
            writer: ArrowWriter::try_new(Vec::new(), schema(), Some(properties()))
                .context("starting a Parquet file")?,
            pending: Vec::with_capacity(BATCH_ROWS),
            rows: 0,
            timings: Timings::default(),
        })
    }

    pub fn push(&mut self, row: Row) -> anyhow::Result<()> {
        self.pending.push(row);
        if self.pending.len() == BATCH_ROWS {
            self.write_pending()?;
        }
        Ok(())
    }

    fn write_pending(&mut self) -> anyhow::Result<()> {
        if !self.pending.is_empty() {
            let started = std::time::Instant::now();
            let batch = batch(&self.pending)?;
            let built = std::time::Instant::now();
            self.writer.write(&batch).context("encoding rows as Parquet")?;
            self.timings.to_arrow += built - started;
            self.timings.to_parquet += built.elapsed();
            self.rows += self.pending.len();
            self.pending.clear();
        }
        Ok(())
    }

    /// The encoded bytes so far, once there are at least `at_least` of them. The writer only
    /// appends to its buffer and keeps its own offsets, so taking the bytes out is safe.
    pub fn take(&mut self, at_least: usize) -> Option<Vec<u8>> {
        (self.writer.inner().len() >= at_least).then(|| std::mem::take(self.writer.inner_mut()))
    }

    /// Rows encoded so far (including those waiting for a full batch).
    pub fn rows(&self) -> usize {
        self.rows + self.pending.len()
    }

    /// Writes what is pending and the footer; returns the last bytes and the row count.
    pub fn finish(self) -> anyhow::Result<(Vec<u8>, usize)> {
        self.finish_timed().map(|(bytes, rows, _)| (bytes, rows))
    }

    /// [`Encoder::finish`], with where the time went.
    pub fn finish_timed(mut self) -> anyhow::Result<(Vec<u8>, usize, Timings)> {
        self.write_pending()?;
        let rows = self.rows;
        let started = std::time::Instant::now();
        let bytes = self.writer.into_inner().context("finishing the Parquet file")?;
        self.timings.to_parquet += started.elapsed();
        Ok((bytes, rows, self.timings))
    }
}
