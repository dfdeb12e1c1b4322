//! `aggregator ddl`: the Athena table over the snapshots, with partition projection on `dt` so that
//! new days need no MSCK REPAIR or crawler.

use anyhow::{Context as _, bail};

use crate::layout::{PARTITION_FORMAT, PARTITION_KEY, S3Location};

use crate::schema::{athena_type, schema};

/// CREATE EXTERNAL TABLE for Athena, generated from the one schema.
pub fn create_table(
    database: &str,
    table: &str,
    location: &S3Location,
    first_day: &str,
) -> anyhow::Result<String> {
    for (what, name) in [("database", database), ("table", table)] {
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            bail!("the {what} name {name:?} must be lowercase letters, digits and underscores");
        }
    }
    let mut columns = Vec::new();
    for field in schema().fields() {
        let kind = athena_type(field.data_type())
            .with_context(|| format!("no Athena type for column {}", field.name()))?;
        columns.push(format!("  `{}` {kind}", field.name()));
    }
    let root = location.dataset_root();
    let properties: Vec<String> = table_properties(&root, first_day)
        .into_iter()
        .map(|(key, value)| format!("  '{key}'='{value}'"))
        .collect();
    Ok(format!(
        "CREATE EXTERNAL TABLE IF NOT EXISTS `{database}`.`{table}` (\n{}\n)\n\
         PARTITIONED BY (`{PARTITION_KEY}` string)\n\
         STORED AS PARQUET\n\
         LOCATION '{root}'\n\
         TBLPROPERTIES (\n{}\n);\n",
        columns.join(",\n"),
        properties.join(",\n"),
    ))
}

/// The table's properties: partition projection on the date partition (no MSCK REPAIR, no crawler)
/// from `first_day` to today, and the storage template under `root` (the dataset's LOCATION). The
/// DDL and the contract (`cdk/contracts/dataset.json`, which the Glue table is built from) share them.
pub fn table_properties(root: &str, first_day: &str) -> Vec<(String, String)> {
    let key = PARTITION_KEY;
    [
        ("projection.enabled".to_string(), "true".to_string()),
        (format!("projection.{key}.type"), "date".into()),
        (format!("projection.{key}.format"), PARTITION_FORMAT.into()),
        (format!("projection.{key}.range"), format!("{first_day},NOW")),
        (format!("projection.{key}.interval"), "1".into()),
        (format!("projection.{key}.interval.unit"), "DAYS".into()),
        (
            "storage.location.template".into(),
            format!("{root}{key}=${{{key}}}/"),
        ),
        ("parquet.compression".into(), "ZSTD".into()),
    ]
    .into()
}

/// The dataset as the deployment needs it (`cdk/contracts/dataset.json`): the layout, the columns
/// with their Athena types, the partition key and the table properties, with `{root}` (the
/// dataset's LOCATION, `s3://bucket/prefix/evaluations/`) and `{first_day}` left for the deployment.
pub fn dataset_contract() -> anyhow::Result<serde_json::Value> {
    use crate::layout::{DATASET_DIR, SNAPSHOT_FILE, STAGING_DIR, SUMMARY_FILE};
    let columns = schema()
        .fields()
        .iter()
        .map(|field| {
            let kind = athena_type(field.data_type())
                .with_context(|| format!("no Athena type for column {}", field.name()))?;
            Ok(serde_json::json!({"name": field.name(), "athena_type": kind}))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let properties: serde_json::Map<String, serde_json::Value> = table_properties("{root}", "{first_day}")
        .into_iter()
        .map(|(key, value)| (key, value.into()))
        .collect();
    Ok(serde_json::json!({
        "layout": {
            "prefix": format!("{DATASET_DIR}/"),
            "partition_key": PARTITION_KEY,
            "partition_format": PARTITION_FORMAT,
            "file": SNAPSHOT_FILE,
            "summary": SUMMARY_FILE,
            // The runs' checkpoints, under `prefix` (the bucket's lifecycle rule expires them).
            "staging": format!("{STAGING_DIR}/"),
        },
        "columns": columns,
        "partition_keys": [{"name": PARTITION_KEY, "athena_type": "string"}],
        "storage": {
            "input_format": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
            "output_format": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
            "serde": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
        },
        "table_properties": properties,
    }))
}
