//! Where a snapshot goes and how it is published: `<prefix>/evaluations/dt=YYYY-MM-DD/part-00000.parquet`
//! on S3 or in a local directory, with the run summary beside it (`_summary.json`, which Athena skips
//! because of the leading underscore).
//!
//! Atomicity comes from one object per snapshot under a fixed name. On S3 it is a multipart upload:
//! no object exists until CompleteMultipartUpload, which replaces an earlier snapshot of the day in
//! one step; a failure aborts the upload, leaving nothing new under `evaluations/`. Locally the file
//! is staged outside `evaluations/` and renamed over the target (atomic on one filesystem); the staging
//! directory is removed whether the rename succeeds or not.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use aws_sdk_s3::Client as S3Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use jiff::civil::Date;

use crate::layout::{S3Location, SNAPSHOT_FILE, SUMMARY_FILE, cache_path, partition_path};

/// S3 multipart parts must be at least 5 MiB except the last; 8 MiB keeps memory small and parts
/// few (10,000 parts × 8 MiB = 78 GiB, far beyond any snapshot).
pub const PART_BYTES: usize = 8 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Local(PathBuf),
    S3(S3Location),
}

impl Output {
    /// `s3://bucket[/prefix]` or a directory.
    pub fn parse(text: &str) -> anyhow::Result<Output> {
        if text.starts_with("s3://") {
            return S3Location::parse(text).map(Output::S3);
        }
        if text.is_empty() || text.contains("://") {
            bail!("{text:?}: expected s3://bucket/prefix or a local directory");
        }
        Ok(Output::Local(PathBuf::from(text)))
    }

    /// Where the day's snapshot is, for messages and the summary.
    pub fn snapshot_location(&self, date: Date) -> String {
        let relative = partition_path(date, SNAPSHOT_FILE);
        match self {
            Output::Local(root) => root.join(relative).display().to_string(),
            Output::S3(location) => format!("s3://{}/{}", location.bucket, location.key(&relative)),
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
                    target: root.join(partition_path(date, SNAPSHOT_FILE)),
                })
            }
            Output::S3(location) => {
                let client = s3.context("an S3 output needs an S3 client")?.clone();
                let key = location.key(&partition_path(date, SNAPSHOT_FILE));
                let bucket = location.bucket.clone();
                let created = client
                    .create_multipart_upload()
                    .bucket(&bucket)
                    .key(&key)
                    .content_type("application/vnd.apache.parquet")
                    .send()
                    .await
                    .map_err(|e| s3_failure("starting the upload of", &bucket, &key, &e))?;
                let upload_id = created
                    .upload_id()
                    .context("CreateMultipartUpload returned no upload id")?
                    .to_string();
                Ok(Upload::S3(S3Upload {
                    client,
                    bucket,
                    key,
                    upload_id,
                    parts: Vec::new(),
                }))
            }
        }
    }

    /// The day's `_summary.json` as it is now, or None when there is none.
    pub async fn get_summary(&self, s3: Option<&S3Client>, date: Date) -> anyhow::Result<Option<String>> {
        self.get_text(s3, &partition_path(date, SUMMARY_FILE)).await
    }

    /// The account cache ([`crate::organization`]), or None when there is none.
    pub async fn get_cache(&self, s3: Option<&S3Client>) -> anyhow::Result<Option<String>> {
        self.get_text(s3, &cache_path()).await
    }

    /// Writes the account cache (after the snapshot is published).
    pub async fn put_cache(&self, s3: Option<&S3Client>, json: &str) -> anyhow::Result<()> {
        self.put_text(s3, &cache_path(), json).await
    }

    async fn get_text(&self, s3: Option<&S3Client>, relative: &str) -> anyhow::Result<Option<String>> {
        match self {
            Output::Local(root) => {
                let target = root.join(relative);
                match std::fs::read_to_string(&target) {
                    Ok(text) => Ok(Some(text)),
                    Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(error) => Err(error).with_context(|| format!("reading {}", target.display())),
                }
            }
            Output::S3(location) => {
                let (bucket, key) = (&location.bucket, location.key(relative));
                let got = s3
                    .context("an S3 output needs an S3 client")?
                    .get_object()
                    .bucket(bucket)
                    .key(&key)
                    .send()
                    .await;
                match got {
                    Ok(object) => {
                        let bytes = object
                            .body
                            .collect()
                            .await
                            .with_context(|| format!("reading s3://{bucket}/{key}"))?
                            .into_bytes();
                        Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
                    }
                    Err(error)
                        if error.as_service_error().is_some_and(
                            aws_sdk_s3::operation::get_object::GetObjectError::is_no_such_key,
                        ) =>
                    {
                        Ok(None)
                    }
                    Err(error) => Err(s3_failure("reading", bucket, &key, &error)),
                }
            }
        }
    }

    /// Whether the day's snapshot exists.
    pub async fn snapshot_exists(&self, s3: Option<&S3Client>, date: Date) -> anyhow::Result<bool> {
        match self {
            Output::Local(root) => Ok(root.join(partition_path(date, SNAPSHOT_FILE)).exists()),
            Output::S3(location) => {
                let (bucket, key) = (
                    &location.bucket,
                    location.key(&partition_path(date, SNAPSHOT_FILE)),
                );
                let head = s3
                    .context("an S3 output needs an S3 client")?
                    .head_object()
                    .bucket(bucket)
                    .key(&key)
                    .send()
                    .await;
                match head {
                    Ok(_) => Ok(true),
                    Err(error)
                        if error.as_service_error().is_some_and(
                            aws_sdk_s3::operation::head_object::HeadObjectError::is_not_found,
                        ) =>
                    {
                        Ok(false)
                    }
                    Err(error) => Err(s3_failure("looking for", bucket, &key, &error)),
                }
            }
        }
    }

    /// Removes the day's `_summary.json` (restoring "no summary" after a failed publication).
    pub async fn delete_summary(&self, s3: Option<&S3Client>, date: Date) -> anyhow::Result<()> {
        match self {
            Output::Local(root) => {
                let target = root.join(partition_path(date, SUMMARY_FILE));
                match std::fs::remove_file(&target) {
                    Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                        Err(error).with_context(|| format!("removing {}", target.display()))
                    }
                    _ => Ok(()),
                }
            }
            Output::S3(location) => {
                let (bucket, key) = (
                    &location.bucket,
                    location.key(&partition_path(date, SUMMARY_FILE)),
                );
                s3.context("an S3 output needs an S3 client")?
                    .delete_object()
                    .bucket(bucket)
                    .key(&key)
                    .send()
                    .await
                    .map_err(|e| s3_failure("removing", bucket, &key, &e))?;
                Ok(())
            }
        }
    }

    /// Writes the run summary beside the day's snapshot (before the snapshot is published: see
    /// [`crate::run`]).
    pub async fn put_summary(&self, s3: Option<&S3Client>, date: Date, json: &str) -> anyhow::Result<()> {
        self.put_text(s3, &partition_path(date, SUMMARY_FILE), json).await
    }

    async fn put_text(&self, s3: Option<&S3Client>, relative: &str, json: &str) -> anyhow::Result<()> {
        match self {
            Output::Local(root) => {
                let target = root.join(relative);
                let staging = target.with_extension("tmp");
                let staging = staging.with_file_name(format!(
                    ".{}",
                    staging.file_name().and_then(|n| n.to_str()).unwrap_or("text.tmp")
                ));
                let write = || -> std::io::Result<()> {
                    if let Some(parent) = target.parent() {
                        std::fs::create_dir_all(parent)?;
                    }
                    let mut file = std::fs::File::create(&staging)?;
                    file.write_all(json.as_bytes())?;
                    file.sync_all()?;
                    std::fs::rename(&staging, &target)
                };
                let written = write();
                if written.is_err() {
                    // Nothing half-written stays behind.
                    let _ = std::fs::remove_file(&staging);
                }
                written.with_context(|| format!("writing {}", target.display()))
            }
            Output::S3(location) => {
                let (bucket, key) = (&location.bucket, location.key(relative));
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
    S3(S3Upload),
}

/// An S3 multipart upload in progress.
pub struct S3Upload {
    client: S3Client,
    bucket: String,
    key: String,
    upload_id: String,
    parts: Vec<CompletedPart>,
}

impl S3Upload {
    async fn write(&mut self, bytes: Vec<u8>) -> anyhow::Result<()> {
        let number = i32::try_from(self.parts.len() + 1).context("too many parts")?;
        let uploaded = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(&self.upload_id)
            .part_number(number)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| self.failure(&format!("uploading part {number} of"), &e))?;
        self.parts.push(
            CompletedPart::builder()
                .part_number(number)
                .set_e_tag(uploaded.e_tag().map(str::to_string))
                .set_checksum_crc32(uploaded.checksum_crc32().map(str::to_string))
                .build(),
        );
        Ok(())
    }

    async fn commit(mut self) -> anyhow::Result<()> {
        let parts = std::mem::take(&mut self.parts);
        let completed = self
            .client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(&self.upload_id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
            .send()
            .await;
        if let Err(error) = completed {
            let failure = self.failure("completing", &error);
            self.abort().await;
            return Err(failure);
        }
        Ok(())
    }

    async fn abort(self) {
        if let Err(error) = self
            .client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(&self.upload_id)
            .send()
            .await
        {
            tracing::warn!(
                upload = %format!("s3://{}/{}", self.bucket, self.key),
                error = %awsbase::error_text(&error),
                "could not abort the multipart upload"
            );
        }
    }

    fn failure<E>(&self, doing: &str, error: &aws_sdk_s3::error::SdkError<E>) -> anyhow::Error
    where
        E: std::error::Error + aws_sdk_s3::error::ProvideErrorMetadata + 'static,
    {
        s3_failure(doing, &self.bucket, &self.key, error)
    }
}

impl Upload {
    /// Appends bytes (one multipart part on S3: at least [`PART_BYTES`] except the last).
    pub async fn write(&mut self, bytes: Vec<u8>) -> anyhow::Result<()> {
        match self {
            Upload::Local { file, staging, .. } => file
                .write_all(&bytes)
                .with_context(|| format!("writing the snapshot in {}", staging.display())),
            Upload::S3(upload) => upload.write(bytes).await,
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
                let publish = || -> anyhow::Result<()> {
                    file.sync_all().context("flushing the snapshot")?;
                    drop(file);
                    let parent = target.parent().context("snapshot directory")?;
                    std::fs::create_dir_all(parent)
                        .with_context(|| format!("creating {}", parent.display()))?;
                    let staged = staging.join(SNAPSHOT_FILE);
                    std::fs::rename(&staged, &target)
                        .with_context(|| format!("publishing {}", target.display()))
                };
                let published = publish();
                // Published or not, the staging directory goes: nothing is left half-written.
                let removed = std::fs::remove_dir_all(&staging);
                published?;
                removed.with_context(|| format!("removing {}", staging.display()))
            }
            Upload::S3(upload) => upload.commit().await,
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
            Upload::S3(upload) => upload.abort().await,
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
    anyhow::anyhow!("{doing} s3://{bucket}/{key}: {}", awsbase::error_text(error))
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
        assert!(
            Output::parse("s3://Bad_Bucket/x").is_err(),
            "as strict as ddl --location"
        );
        assert!(Output::parse("https://example.com/x").is_err());
        assert!(Output::parse("").is_err());
        assert_eq!(
            Output::parse("out").expect("dir"),
            Output::Local(PathBuf::from("out"))
        );
    }
}
