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
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier};
use jiff::Timestamp;
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
        Ok(self
            .get_bytes(s3, relative)
            .await?
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned()))
    }

    /// The object (or file) at `relative` under the prefix, or None when there is none.
    pub async fn get_bytes(&self, s3: Option<&S3Client>, relative: &str) -> anyhow::Result<Option<Vec<u8>>> {
        match self {
            Output::Local(root) => {
                let target = root.join(relative);
                match std::fs::read(&target) {
                    Ok(bytes) => Ok(Some(bytes)),
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
                        Ok(Some(bytes.to_vec()))
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

    /// Every object (or file) under `relative_dir` (ending with `/`), as paths relative to the prefix
    /// with their last modification (S3: ListObjectsV2, one per page of 1,000). A directory that does
    /// not exist lists nothing.
    pub async fn list(&self, s3: Option<&S3Client>, relative_dir: &str) -> anyhow::Result<Vec<Stored>> {
        match self {
            Output::Local(root) => {
                let mut found = Vec::new();
                let mut pending = vec![root.join(relative_dir)];
                while let Some(dir) = pending.pop() {
                    let entries = match std::fs::read_dir(&dir) {
                        Ok(entries) => entries,
                        Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
                        Err(error) => {
                            return Err(error).with_context(|| format!("listing {}", dir.display()));
                        }
                    };
                    for entry in entries {
                        let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
                        let path = entry.path();
                        let metadata = entry
                            .metadata()
                            .with_context(|| format!("reading {}", path.display()))?;
                        if metadata.is_dir() {
                            pending.push(path);
                            continue;
                        }
                        let relative = path
                            .strip_prefix(root)
                            .ok()
                            .and_then(|p| p.to_str())
                            .map(|p| p.replace(std::path::MAIN_SEPARATOR, "/"))
                            .with_context(|| format!("{} is not a UTF-8 path", path.display()))?;
                        let modified = metadata.modified().ok().and_then(|m| Timestamp::try_from(m).ok());
                        found.push(Stored { relative, modified });
                    }
                }
                found.sort_by(|a, b| a.relative.cmp(&b.relative));
                Ok(found)
            }
            Output::S3(location) => {
                let client = s3.context("an S3 output needs an S3 client")?;
                let (bucket, prefix) = (&location.bucket, location.key(relative_dir));
                let strip = location.key("");
                let mut found = Vec::new();
                let mut token: Option<String> = None;
                loop {
                    let page = client
                        .list_objects_v2()
                        .bucket(bucket)
                        .prefix(&prefix)
                        .set_continuation_token(token.take())
                        .send()
                        .await
                        .map_err(|e| s3_failure("listing", bucket, &prefix, &e))?;
                    for object in page.contents() {
                        let Some(relative) = object.key().and_then(|k| k.strip_prefix(&strip)) else {
                            continue;
                        };
                        let modified = object
                            .last_modified()
                            .and_then(|t| Timestamp::new(t.secs(), t.subsec_nanos() as i32).ok());
                        found.push(Stored {
                            relative: relative.to_string(),
                            modified,
                        });
                    }
                    match page.next_continuation_token() {
                        Some(next) if page.is_truncated() == Some(true) => token = Some(next.to_string()),
                        _ => break,
                    }
                }
                Ok(found)
            }
        }
    }

    /// Removes objects (or files) by their paths relative to the prefix: S3 DeleteObjects, up to 1,000
    /// keys a call; locally, the files and then the directories left empty between
    /// them and the prefix's `evaluations/` folder. A path already gone is not an error.
    pub async fn delete(&self, s3: Option<&S3Client>, relatives: &[String]) -> anyhow::Result<()> {
        match self {
            Output::Local(root) => {
                let mut dirs = std::collections::BTreeSet::new();
                for relative in relatives {
                    let target = root.join(relative);
                    match std::fs::remove_file(&target) {
                        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                            return Err(error).with_context(|| format!("removing {}", target.display()));
                        }
                        _ => {}
                    }
                    let mut parent = target.parent();
                    while let Some(dir) = parent {
                        if !dir.starts_with(root.join(crate::layout::DATASET_DIR))
                            || dir == root.join(crate::layout::DATASET_DIR)
                        {
                            break;
                        }
                        dirs.insert(dir.to_path_buf());
                        parent = dir.parent();
                    }
                }
                // Deepest first; a directory still holding something (another run's) stays.
                for dir in dirs.iter().rev() {
                    let _ = std::fs::remove_dir(dir);
                }
                Ok(())
            }
            Output::S3(location) => {
                let client = s3.context("an S3 output needs an S3 client")?;
                let bucket = &location.bucket;
                for batch in relatives.chunks(1000) {
                    let objects = batch
                        .iter()
                        .map(|relative| ObjectIdentifier::builder().key(location.key(relative)).build())
                        .collect::<Result<Vec<_>, _>>()
                        .context("naming the objects to delete")?;
                    let deleted = client
                        .delete_objects()
                        .bucket(bucket)
                        .delete(
                            Delete::builder()
                                .set_objects(Some(objects))
                                .quiet(true)
                                .build()
                                .context("the objects to delete")?,
                        )
                        .send()
                        .await
                        .map_err(|e| {
                            s3_failure("removing objects under", bucket, &location.key(&batch[0]), &e)
                        })?;
                    if let Some(error) = deleted.errors().first() {
                        bail!(
                            "removing s3://{bucket}/{}: {} ({} of {} objects not removed)",
                            error.key().unwrap_or_default(),
                            error.message().or(error.code()).unwrap_or("unknown error"),
                            deleted.errors().len(),
                            batch.len()
                        );
                    }
                }
                Ok(())
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
        self.put_bytes(s3, relative, json.as_bytes().to_vec(), "application/json")
            .await
    }

    /// Writes the object (or file) at `relative` under the prefix; locally through a hidden staging
    /// file renamed into place, so that a reader never sees half of it.
    pub async fn put_bytes(
        &self,
        s3: Option<&S3Client>,
        relative: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> anyhow::Result<()> {
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
                    file.write_all(&bytes)?;
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
                    .content_type(content_type)
                    .body(ByteStream::from(bytes))
                    .send()
                    .await
                    .map_err(|e| s3_failure("writing", bucket, &key, &e))?;
                Ok(())
            }
        }
    }
}

/// An object (or file) under the output's prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// Its path relative to the prefix, `/`-separated.
    pub relative: String,
    pub modified: Option<Timestamp>,
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
