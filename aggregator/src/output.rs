//! Where a snapshot goes and how it is published: `<prefix>/evaluations/dt=YYYY-MM-DD/part-00000.parquet`
//! on S3 or in a local directory, with the run summary beside it (`_summary.json`, which Athena skips
//! because of the leading underscore).
//!
//! Atomicity comes from one object per snapshot under a fixed name. On S3 it is a multipart upload:
//! no object exists until CompleteMultipartUpload, which replaces an earlier snapshot of the day in
//! one step; a failure aborts the upload, leaving nothing new under `evaluations/`. Locally the file
//! is staged outside `evaluations/` and renamed over the target (atomic on one filesystem).

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use aws_sdk_s3::Client as S3Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use jiff::civil::Date;

/// S3 multipart parts must be at least 5 MiB except the last; 8 MiB keeps memory small and parts
/// few (10,000 parts × 8 MiB = 78 GiB, far beyond any snapshot).
pub const PART_BYTES: usize = 8 * 1024 * 1024;

const SNAPSHOT_FILE: &str = "part-00000.parquet";
const SUMMARY_FILE: &str = "_summary.json";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Local(PathBuf),
    S3 { bucket: String, prefix: String },
}

impl Output {
    /// `s3://bucket[/prefix]` or a directory.
    pub fn parse(text: &str) -> anyhow::Result<Output> {
        if let Some(rest) = text.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                bail!("{text}: no bucket name after s3://");
            }
            return Ok(Output::S3 {
                bucket: bucket.to_string(),
                prefix: prefix.trim_matches('/').to_string(),
            });
        }
        if text.is_empty() || text.contains("://") {
            bail!("{text:?}: expected s3://bucket/prefix or a local directory");
        }
        Ok(Output::Local(PathBuf::from(text)))
    }

    /// The key (or relative path) of a file in the day's partition.
    fn partition_key(prefix: &str, date: Date, file: &str) -> String {
        let partition = format!("evaluations/dt={date}/{file}");
        if prefix.is_empty() {
            partition
        } else {
            format!("{prefix}/{partition}")
        }
    }

    /// Where the day's snapshot is, for messages and the summary.
    pub fn snapshot_location(&self, date: Date) -> String {
        match self {
            Output::Local(root) => root
                .join(Self::partition_key("", date, SNAPSHOT_FILE))
                .display()
                .to_string(),
            Output::S3 { bucket, prefix } => {
                format!(
                    "s3://{bucket}/{}",
                    Self::partition_key(prefix, date, SNAPSHOT_FILE)
                )
            }
        }
    }

    /// Starts writing the day's snapshot; nothing is visible under `evaluations/` until
    /// [`Upload::commit`].
    pub async fn begin(&self, s3: Option<&S3Client>, date: Date, run_id: &str) -> anyhow::Result<Upload> {
        match self {
            Output::Local(root) => {
                let staging = root.join(format!(".staging-{run_id}"));
                std::fs::create_dir_all(&staging)
                    .with_context(|| format!("creating {}", staging.display()))?;
                let path = staging.join(SNAPSHOT_FILE);
                let file =
                    std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
                Ok(Upload::Local {
                    staging,
                    file,
                    target: root.join(Self::partition_key("", date, SNAPSHOT_FILE)),
                })
            }
            Output::S3 { bucket, prefix } => {
                let client = s3.context("an S3 output needs an S3 client")?.clone();
                let key = Self::partition_key(prefix, date, SNAPSHOT_FILE);
                let created = client
                    .create_multipart_upload()
                    .bucket(bucket)
                    .key(&key)
                    .content_type("application/vnd.apache.parquet")
                    .send()
                    .await
                    .map_err(|e| s3_failure("starting the upload of", bucket, &key, &e))?;
                let upload_id = created
                    .upload_id()
                    .context("CreateMultipartUpload returned no upload id")?;
                Ok(Upload::S3 {
                    client,
                    bucket: bucket.clone(),
                    key,
                    upload_id: upload_id.to_string(),
                    parts: Vec::new(),
                })
            }
        }
    }

    /// Writes the run summary beside the day's snapshot (after the snapshot is in place).
    pub async fn put_summary(&self, s3: Option<&S3Client>, date: Date, json: &str) -> anyhow::Result<()> {
        match self {
            Output::Local(root) => {
                let target = root.join(Self::partition_key("", date, SUMMARY_FILE));
                let staging = target.with_file_name(".summary.tmp");
                let write = || -> std::io::Result<()> {
                    let mut file = std::fs::File::create(&staging)?;
                    file.write_all(json.as_bytes())?;
                    file.sync_all()?;
                    std::fs::rename(&staging, &target)
                };
                write().with_context(|| format!("writing {}", target.display()))
            }
            Output::S3 { bucket, prefix } => {
                let key = Self::partition_key(prefix, date, SUMMARY_FILE);
                s3.context("an S3 output needs an S3 client")?
                    .put_object()
                    .bucket(bucket)
                    .key(&key)
                    .content_type("application/json")
                    .body(ByteStream::from(json.as_bytes().to_vec()))
                    .send()
                    .await
                    .map_err(|e| s3_failure("writing", bucket, &key, &e))?;
                Ok(())
            }
        }
    }
}

/// A snapshot being written.
pub enum Upload {
    Local {
        staging: PathBuf,
        file: std::fs::File,
        target: PathBuf,
    },
    S3 {
        client: S3Client,
        bucket: String,
        key: String,
        upload_id: String,
        parts: Vec<CompletedPart>,
    },
}

impl Upload {
    /// Appends bytes (one multipart part on S3: at least [`PART_BYTES`] except the last).
    pub async fn write(&mut self, bytes: Vec<u8>) -> anyhow::Result<()> {
        match self {
            Upload::Local { file, staging, .. } => file
                .write_all(&bytes)
                .with_context(|| format!("writing the snapshot in {}", staging.display())),
            Upload::S3 {
                client,
                bucket,
                key,
                upload_id,
                parts,
            } => {
                let number = i32::try_from(parts.len() + 1).context("too many parts")?;
                let uploaded = client
                    .upload_part()
                    .bucket(bucket.as_str())
                    .key(key.as_str())
                    .upload_id(upload_id.as_str())
                    .part_number(number)
                    .body(ByteStream::from(bytes))
                    .send()
                    .await
                    .map_err(|e| s3_failure(&format!("uploading part {number} of"), bucket, key, &e))?;
                parts.push(
                    CompletedPart::builder()
                        .part_number(number)
                        .set_e_tag(uploaded.e_tag().map(str::to_string))
                        .set_checksum_crc32(uploaded.checksum_crc32().map(str::to_string))
                        .build(),
                );
                Ok(())
            }
        }
    }

    /// Makes the snapshot visible, replacing the day's earlier one in one step.
    pub async fn commit(self) -> anyhow::Result<()> {
        match self {
            Upload::Local {
                staging,
                file,
                target,
            } => {
                file.sync_all().context("flushing the snapshot")?;
                drop(file);
                let parent = target.parent().context("snapshot directory")?;
                std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
                let staged = staging.join(SNAPSHOT_FILE);
                std::fs::rename(&staged, &target)
                    .with_context(|| format!("publishing {}", target.display()))?;
                std::fs::remove_dir_all(&staging).with_context(|| format!("removing {}", staging.display()))
            }
            Upload::S3 {
                client,
                bucket,
                key,
                upload_id,
                parts,
            } => {
                let completed = client
                    .complete_multipart_upload()
                    .bucket(&bucket)
                    .key(&key)
                    .upload_id(&upload_id)
                    .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
                    .send()
                    .await;
                if let Err(error) = completed {
                    let failure = s3_failure("completing", &bucket, &key, &error);
                    abort_s3(&client, &bucket, &key, &upload_id).await;
                    return Err(failure);
                }
                Ok(())
            }
        }
    }

    /// Throws the unfinished snapshot away (best effort: an S3 lifecycle rule on incomplete
    /// multipart uploads is the backstop, see the CDK stack).
    pub async fn abort(self) {
        match self {
            Upload::Local { staging, file, .. } => {
                drop(file);
                if let Err(error) = std::fs::remove_dir_all(&staging) {
                    tracing::warn!(path = %staging.display(), %error, "could not remove the staging directory");
                }
            }
            Upload::S3 {
                client,
                bucket,
                key,
                upload_id,
                ..
            } => abort_s3(&client, &bucket, &key, &upload_id).await,
        }
    }
}

/// An S3 call's failure as one line: what was being done, to which object, and the service's error.
fn s3_failure<E>(
    doing: &str,
    bucket: &str,
    key: &str,
    error: &aws_sdk_s3::error::SdkError<E>,
) -> anyhow::Error
where
    E: std::error::Error + aws_sdk_s3::error::ProvideErrorMetadata + 'static,
{
    anyhow::anyhow!("{doing} s3://{bucket}/{key}: {}", rule::aws::error_text(error))
}

async fn abort_s3(client: &S3Client, bucket: &str, key: &str, upload_id: &str) {
    if let Err(error) = client
        .abort_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(upload_id)
        .send()
        .await
    {
        tracing::warn!(
            upload = %format!("s3://{bucket}/{key}"),
            error = %rule::aws::error_text(&error),
            "could not abort the multipart upload"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_parse_into_their_partition_layout() {
        let date = jiff::civil::date(2026, 11, 23);
        let s3 = Output::parse("s3://reports/lambda/runtime/").expect("s3");
        assert_eq!(
            s3.snapshot_location(date),
            "s3://reports/lambda/runtime/evaluations/dt=2026-11-23/part-00000.parquet"
        );
        let bare = Output::parse("s3://reports").expect("bucket only");
        assert_eq!(
            bare.snapshot_location(date),
            "s3://reports/evaluations/dt=2026-11-23/part-00000.parquet"
        );
        assert!(Output::parse("s3:///prefix").is_err());
        assert!(Output::parse("https://example.com/x").is_err());
        assert!(Output::parse("").is_err());
        assert_eq!(
            Output::parse("out").expect("dir"),
            Output::Local(PathBuf::from("out"))
        );
    }
}
