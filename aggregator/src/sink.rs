//! Rows into Parquet (zstd, statistics, bounded row groups) in batches, so memory stays bounded by
//! the batch size whatever the organization's size; published as one snapshot per day.
//!
//! Local directories only for now: the snapshot is written under a staging name and renamed into
//! `evaluations/dt=YYYY-MM-DD/` at the end, replacing an earlier snapshot of the same day, so a failed
//! run leaves nothing new under `evaluations/`. (The S3 sink is next.)

use std::fs::File;
use std::path::{Path, PathBuf};
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
use parquet::file::properties::WriterProperties;

use crate::row::Row;
use crate::schema::schema;

/// Rows per record batch (and the unit of memory the writer holds).
pub const BATCH_ROWS: usize = 16_384;
/// Rows per Parquet row group: large enough for Athena to skip by statistics, small enough to stream.
pub const ROW_GROUP_ROWS: usize = 128 * 1024;

fn epoch_days(date: Date) -> i32 {
    let days = rule::dates::days_between(jiff::civil::date(1970, 1, 1), date);
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
    let text = |get: &dyn Fn(&Row) -> Option<&str>| -> ArrayRef {
        let mut builder = StringBuilder::new();
        for row in rows {
            builder.append_option(get(row));
        }
        Arc::new(builder.finish())
    };
    let time = |get: &dyn Fn(&Row) -> Option<jiff::Timestamp>| -> ArrayRef {
        let mut builder = TimestampMillisecondBuilder::new().with_timezone("UTC");
        for row in rows {
            builder.append_option(get(row).map(|t| t.as_millisecond()));
        }
        Arc::new(builder.finish())
    };
    let date = |get: &dyn Fn(&Row) -> Option<Date>| -> ArrayRef {
        let mut builder = Date32Builder::new();
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
    let mut days_to_fail = Int32Builder::new();
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
        .build()
}

/// Writes `rows` as the snapshot of `date` under `root/evaluations/dt=DATE/part-00000.parquet`,
/// replacing that day's earlier snapshot only once the new one is complete. Returns the rows written.
pub fn write_local_snapshot(
    rows: impl IntoIterator<Item = Row>,
    root: &Path,
    date: Date,
    run_id: &str,
) -> anyhow::Result<usize> {
    let evaluations = root.join("evaluations");
    std::fs::create_dir_all(&evaluations).with_context(|| format!("creating {}", evaluations.display()))?;
    // Staging outside `evaluations/` so that Athena never lists a half-written snapshot.
    let staging = root.join(format!(".staging-{run_id}"));
    std::fs::create_dir_all(&staging).with_context(|| format!("creating {}", staging.display()))?;
    let written = write_parts(rows, &staging).inspect_err(|_| {
        let _ = std::fs::remove_dir_all(&staging);
    })?;
    publish(&staging, &evaluations.join(format!("dt={date}")), run_id)?;
    Ok(written)
}

fn write_parts(rows: impl IntoIterator<Item = Row>, dir: &Path) -> anyhow::Result<usize> {
    let path = dir.join("part-00000.parquet");
    let file = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    let mut writer = ArrowWriter::try_new(file, schema(), Some(properties()))?;
    let mut pending = Vec::with_capacity(BATCH_ROWS);
    let mut written = 0;
    for row in rows {
        pending.push(row);
        if pending.len() == BATCH_ROWS {
            writer.write(&batch(&pending)?)?;
            written += pending.len();
            pending.clear();
        }
    }
    if !pending.is_empty() {
        writer.write(&batch(&pending)?)?;
        written += pending.len();
    }
    writer.close().context("finishing the Parquet file")?;
    Ok(written)
}

/// Moves the staged snapshot into place; an earlier snapshot of the day is set aside first and
/// removed only after the new one is in.
fn publish(staging: &Path, target: &Path, run_id: &str) -> anyhow::Result<()> {
    let parent = target.parent().context("snapshot directory")?;
    let replaced: Option<PathBuf> = if target.exists() {
        let aside = parent.with_file_name(format!(".replaced-{run_id}"));
        std::fs::rename(target, &aside).with_context(|| format!("setting aside {}", target.display()))?;
        Some(aside)
    } else {
        None
    };
    if let Err(error) = std::fs::rename(staging, target) {
        if let Some(aside) = &replaced {
            let _ = std::fs::rename(aside, target); // put the previous snapshot back
        }
        return Err(error).with_context(|| format!("publishing {}", target.display()));
    }
    if let Some(aside) = replaced {
        std::fs::remove_dir_all(&aside).with_context(|| format!("removing {}", aside.display()))?;
    }
    Ok(())
}
