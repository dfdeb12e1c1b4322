//! `aggregator ddl`: the Athena table over the snapshots, with partition projection on `dt` so that
//! new days need no MSCK REPAIR or crawler.

use anyhow::{Context as _, bail};

use crate::schema::{athena_type, schema};

pub struct TableLocation {
    pub bucket: String,
    /// Without leading or trailing slashes; may be empty.
    pub prefix: String,
}

impl TableLocation {
    /// `s3://bucket/prefix` (the same prefix `aggregator run --output` writes under).
    pub fn parse(text: &str) -> anyhow::Result<TableLocation> {
        let rest = text
            .strip_prefix("s3://")
            .context("the location must be an s3://bucket/prefix URI")?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let valid_bucket = (3..=63).contains(&bucket.len())
            && bucket
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
        if !valid_bucket {
            bail!("{bucket:?} is not an S3 bucket name");
        }
        if prefix.contains('\'') {
            bail!("the prefix must not contain quotes");
        }
        Ok(TableLocation {
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
        })
    }

    fn evaluations(&self) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}/evaluations/", self.bucket)
        } else {
            format!("s3://{}/{}/evaluations/", self.bucket, self.prefix)
        }
    }
}

/// CREATE EXTERNAL TABLE for Athena, generated from the one schema.
pub fn create_table(
    database: &str,
    table: &str,
    location: &TableLocation,
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
    let root = location.evaluations();
    Ok(format!(
        "CREATE EXTERNAL TABLE IF NOT EXISTS `{database}`.`{table}` (\n{}\n)\n\
         PARTITIONED BY (`dt` string)\n\
         STORED AS PARQUET\n\
         LOCATION '{root}'\n\
         TBLPROPERTIES (\n\
         \x20 'projection.enabled'='true',\n\
         \x20 'projection.dt.type'='date',\n\
         \x20 'projection.dt.format'='yyyy-MM-dd',\n\
         \x20 'projection.dt.range'='{first_day},NOW',\n\
         \x20 'projection.dt.interval'='1',\n\
         \x20 'projection.dt.interval.unit'='DAYS',\n\
         \x20 'storage.location.template'='{root}dt=${{dt}}/',\n\
         \x20 'parquet.compression'='ZSTD'\n\
         );\n",
        columns.join(",\n")
    ))
}
