//! Resumable runs (issue 13), end to end: the real aggregator binary against a synthetic organization
//! on the local AWS (tests/localaws/localaws/synthetic_org.py: 12 accounts × 16 regions, 16 inventory
//! shards), killed with SIGKILL once about half of its shards are checkpointed, then started again for
//! the same date. The calls are counted by the local AWS itself (`GET /_localaws/stats`), not by the
//! aggregator.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use e2e::LocalAws;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::{Value, json};

const RULE: &str = "lambda-runtime-lifecycle";
const AGGREGATOR: &str = "synthetic-org";
const BUCKET: &str = "runtime-reports";
const ACCOUNTS: usize = 12;
const REGIONS: usize = 16;
/// 150 functions a pair: 18 inventory pages a shard, so that a shard is most of a run's calls.
const FUNCTIONS: usize = ACCOUNTS * REGIONS * 150;

fn synthetic_org(aws: &LocalAws) {
    aws.control(
        "POST",
        "/_localaws/synthetic-org",
        Some(json!({
            "Accounts": ACCOUNTS,
            "Regions": REGIONS,
            "Functions": FUNCTIONS,
            "OtherRules": 0,
            "OrganizationalUnits": 2,
            "AggregatorName": AGGREGATOR,
            "Rule": RULE,
            "Seed": 13,
        })),
    )
    .expect("synthetic organization");
}

/// Every call the local AWS has answered, by `service:Operation`.
fn calls(aws: &LocalAws) -> BTreeMap<String, u64> {
    let stats = aws.control("GET", "/_localaws/stats", None).expect("stats");
    serde_json::from_value(stats["Calls"].clone()).expect("Calls")
}

fn total_since(aws: &LocalAws, before: &BTreeMap<String, u64>) -> (u64, BTreeMap<String, u64>) {
    let delta: BTreeMap<String, u64> = calls(aws)
        .into_iter()
        .map(|(k, v)| {
            let was = before.get(&k).copied().unwrap_or(0);
            (k, v - was)
        })
        .filter(|(_, v)| *v > 0)
        .collect();
    (delta.values().sum(), delta)
}

/// `aggregator run` against the synthetic organization, its output wherever `output` says; the
/// deployed rule's parameters are read from Config. `config_rate` paces the Config calls, so that a
/// run lasts long enough to be killed midway.
fn aggregator(aws: &LocalAws, output: &str, config_rate: &str) -> Command {
    // AGGREGATOR_BIN as for the Python suites (`cargo xtask test`): a build's own binary where a target
    // directory is shared between checkouts; else Cargo's.
    let binary =
        std::env::var_os("AGGREGATOR_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_aggregator").into());
    let mut command = Command::new(binary);
    e2e::loopback_env(
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default()),
        aws.endpoint(),
    )
    .args(["run", "--config-aggregator", AGGREGATOR, "--rule", RULE])
    .args(["--output", output])
    .args(["--config-calls-per-second", config_rate])
    .args(["--organizations-calls-per-second", "100"])
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    command
}

fn finish(child: Child) -> (i32, Value, String) {
    let output = child.wait_with_output().expect("aggregator runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let summary = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    (output.status.code().unwrap_or(-1), summary, stderr)
}

/// Every key under `prefix/evaluations/`.
async fn keys(s3: &aws_sdk_s3::Client, prefix: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut pages = s3
        .list_objects_v2()
        .bucket(BUCKET)
        .prefix(format!("{prefix}/evaluations/"))
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.expect("list");
        keys.extend(page.contents().iter().filter_map(|o| o.key().map(str::to_string)));
    }
    keys
}

/// Every row of a snapshot as one line per row, every column but `run_id` and `collected_at` (the two
/// that differ between runs by design), sorted: the rows of two runs compare as sets, whatever order
/// the shards finished in. Also the `run_id`s seen.
fn rows<R: parquet::file::reader::ChunkReader + 'static>(
    parquet: R,
) -> (Vec<String>, std::collections::BTreeSet<String>) {
    let reader = ParquetRecordBatchReaderBuilder::try_new(parquet)
        .expect("parquet")
        .build()
        .expect("reader");
    let mut lines = Vec::new();
    let mut run_ids = std::collections::BTreeSet::new();
    for batch in reader {
        let batch = batch.expect("batch");
        let schema = batch.schema();
        for i in 0..batch.num_rows() {
            let mut line = String::new();
            for (field, column) in schema.fields().iter().zip(batch.columns()) {
                let value = format!("{:?}", column.slice(i, 1));
                match field.name().as_str() {
                    "collected_at" => {}
                    "run_id" => {
                        run_ids.insert(value);
                    }
                    name => line.push_str(&format!("{name}={value};")),
                }
            }
            lines.push(line);
        }
    }
    lines.sort();
    (lines, run_ids)
}

async fn snapshot(s3: &aws_sdk_s3::Client, key: &str) -> (Vec<String>, std::collections::BTreeSet<String>) {
    let object = s3
        .get_object()
        .bucket(BUCKET)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{key}: {e:?}"));
    rows(object.body.collect().await.expect("body").into_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_run_resumes_its_finished_shards_and_publishes_one_snapshot() {
    let aws = LocalAws::shared();
    let _serial = aws.lock().await;
    synthetic_org(aws);
    let admin = aws.sdk_config(None, 3).await;
    let s3 = LocalAws::s3_client(&admin);
    s3.create_bucket().bucket(BUCKET).send().await.expect("bucket");

    // 1. The uninterrupted run, on a fresh output: the calls to beat and the rows to match.
    let before = calls(aws);
    let child = aggregator(aws, &format!("s3://{BUCKET}/whole"), "200")
        .spawn()
        .expect("spawn");
    let (code, whole, stderr) = finish(child);
    assert_eq!(code, 0, "{stderr}\n{whole:#}");
    let (whole_calls, whole_by_operation) = total_since(aws, &before);
    eprintln!("uninterrupted: {whole_calls} calls {whole_by_operation:?}");
    assert_eq!(whole["inventory_shards"], REGIONS, "{whole:#}");
    assert_eq!(whole["shards_resumed"], 0, "{whole:#}");
    let date = whole["snapshot_date"].as_str().expect("date").to_string();
    let part = |prefix: &str| format!("{prefix}/evaluations/dt={date}/part-00000.parquet");
    let summary_key = |prefix: &str| format!("{prefix}/evaluations/dt={date}/_summary.json");
    let cache_key = |prefix: &str| format!("{prefix}/evaluations/_cache/organization.json");
    assert_eq!(
        keys(&s3, "whole").await,
        vec![cache_key("whole"), summary_key("whole"), part("whole")],
        "the snapshot, its summary and the account cache; no checkpoint left"
    );
    let (whole_rows, _) = snapshot(&s3, &part("whole")).await;
    assert_eq!(whole_rows.len() as u64, whole["rows"].as_u64().expect("rows"));
    assert!(whole_rows.len() > 1000, "{}", whole_rows.len());

    // A checkpoint of another run of the same date (other parameters, say): never read, removed when
    // this date publishes.
    let foreign = format!(
        "resumed/evaluations/_staging/dt={date}/run-0000000000000000/shard-0000000000000000.json.zst"
    );
    s3.put_object()
        .bucket(BUCKET)
        .key(&foreign)
        .body(ByteStream::from_static(b"not a checkpoint"))
        .send()
        .await
        .expect("foreign checkpoint");

    // 2. The same run, killed once half of its shards are checkpointed. Paced so that it cannot finish
    // between the look and the kill (about 24 Config calls a shard, 8 shards at a time).
    let staging = format!("resumed/evaluations/_staging/dt={date}/run-");
    let mut child = aggregator(aws, &format!("s3://{BUCKET}/resumed"), "40")
        .spawn()
        .expect("spawn");
    let started = Instant::now();
    let done = loop {
        let done = keys(&s3, "resumed")
            .await
            .iter()
            .filter(|k| k.starts_with(&staging) && k.contains("/shard-") && **k != foreign)
            .count();
        if done >= REGIONS / 2 {
            break done;
        }
        if let Some(status) = child.try_wait().expect("wait") {
            panic!("the run ended ({status}) before half of its shards were checkpointed ({done})");
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no progress: {done} shards"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    child.kill().expect("SIGKILL");
    let killed = child.wait().expect("reaped");
    assert!(!killed.success(), "killed, not finished: {killed}");
    let left = keys(&s3, "resumed").await;
    eprintln!(
        "killed after {:?} with {done} shards checkpointed: {left:#?}",
        started.elapsed()
    );
    assert!(
        left.iter().all(|k| k.contains("/_staging/")),
        "a killed run publishes nothing: {left:?}"
    );
    let checkpointed = left
        .iter()
        .filter(|k| k.contains("/shard-") && **k != foreign)
        .count();
    assert!(
        checkpointed < REGIONS,
        "killed midway: {checkpointed} of {REGIONS} shards"
    );
    assert!(
        left.iter().any(|k| k.ends_with("/organization.json.zst")),
        "the organization as the killed run refreshed it: {left:?}"
    );

    // 3. Started again for the same date: only the shards not checkpointed are gathered.
    let before = calls(aws);
    let child = aggregator(aws, &format!("s3://{BUCKET}/resumed"), "200")
        .spawn()
        .expect("spawn");
    let (code, resumed, stderr) = finish(child);
    assert_eq!(code, 0, "{stderr}\n{resumed:#}");
    let (resumed_calls, resumed_by_operation) = total_since(aws, &before);
    eprintln!(
        "resumed: {resumed_calls} calls ({:.1} % of {whole_calls}) {resumed_by_operation:?}",
        100.0 * resumed_calls as f64 / whole_calls as f64
    );
    assert_eq!(resumed["shards_resumed"], checkpointed, "{resumed:#}");
    assert_eq!(resumed["inventory_shards"], REGIONS, "{resumed:#}");
    assert!(
        resumed_calls as f64 <= 0.55 * whole_calls as f64,
        "{resumed_calls} calls resumed against {whole_calls} uninterrupted"
    );
    // Neither Organizations (the killed run's refresh is resumed) nor the resumed shards' inventory.
    assert!(
        resumed_by_operation
            .keys()
            .all(|k| !k.starts_with("organizations:")),
        "{resumed_by_operation:?}"
    );
    // Both runs ask once whether ResourceCompliance items are recorded (one query before the shards).
    let probe = |summary: &Value| u64::from(summary["resource_compliance"] != "not needed");
    assert_eq!(probe(&resumed), probe(&whole), "{resumed:#}");
    assert_eq!(
        (resumed_by_operation["config:SelectAggregateResourceConfig"] - probe(&resumed)) * REGIONS as u64,
        (whole_by_operation["config:SelectAggregateResourceConfig"] - probe(&whole))
            * (REGIONS - checkpointed) as u64,
        "the inventory of the shards left only (every shard has as many pages)"
    );
    assert_eq!(
        resumed["organization_cache"]["accounts"], whole["organization_cache"]["accounts"],
        "{resumed:#}"
    );
    assert!(
        resumed["organization_cache"]["note"]
            .as_str()
            .is_some_and(|n| n.contains("interrupted run")),
        "{resumed:#}"
    );

    // One snapshot, equal to the uninterrupted run's; no checkpoint left, the foreign one included.
    assert_eq!(
        keys(&s3, "resumed").await,
        vec![cache_key("resumed"), summary_key("resumed"), part("resumed")],
        "exactly one snapshot, and nothing left in staging"
    );
    let (resumed_rows, run_ids) = snapshot(&s3, &part("resumed")).await;
    assert_eq!(resumed_rows.len(), whole_rows.len());
    assert!(
        resumed_rows == whole_rows,
        "the rows differ from the uninterrupted run's"
    );
    assert_eq!(
        run_ids.len(),
        1,
        "one run id across resumed and gathered shards: {run_ids:?}"
    );
    assert!(
        run_ids
            .iter()
            .all(|id| id.contains(resumed["run_id"].as_str().expect("run id"))),
        "{run_ids:?}"
    );
    for field in [
        "rows",
        "compliance",
        "accounts",
        "regions",
        "triples",
        "functions_not_evaluated",
        "gaps",
    ] {
        assert_eq!(resumed[field], whole[field], "{field}");
    }

    // 4. Again for the same date: nothing to resume, every shard gathered.
    let child = aggregator(aws, &format!("s3://{BUCKET}/resumed"), "200")
        .spawn()
        .expect("spawn");
    let (code, again, stderr) = finish(child);
    assert_eq!(code, 0, "{stderr}\n{again:#}");
    assert_eq!(again["shards_resumed"], 0, "{again:#}");
    assert!(
        keys(&s3, "resumed")
            .await
            .iter()
            .all(|k| !k.contains("/_staging/"))
    );
}

/// A local output: the checkpoints are files under `DIR/evaluations/_staging/`; a run that publishes
/// removes its date's and other dates' older than a day, and leaves a recent other date's alone (a
/// backfill may be running).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_run_resumes_and_cleans_its_staging() {
    let aws = LocalAws::shared();
    let _serial = aws.lock().await;
    synthetic_org(aws);
    let dir = std::env::temp_dir().join(format!("aggregator-resume-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let output = dir.display().to_string();

    let child = aggregator(aws, &output, "200").spawn().expect("spawn");
    let (code, whole, stderr) = finish(child);
    assert_eq!(code, 0, "{stderr}\n{whole:#}");
    let date = whole["snapshot_date"].as_str().expect("date").to_string();
    let snapshot = dir.join(format!("evaluations/dt={date}/part-00000.parquet"));
    let whole_rows = rows(std::fs::File::open(&snapshot).expect("snapshot")).0;
    assert!(
        !dir.join("evaluations/_staging").exists(),
        "nothing left in staging"
    );

    let staging = dir.join("evaluations/_staging");
    let plant = |relative: &str, age_hours: u64| {
        let path = staging.join(relative);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("dir");
        std::fs::write(&path, b"x").expect("plant");
        let file = std::fs::File::options().write(true).open(&path).expect("open");
        file.set_modified(std::time::SystemTime::now() - Duration::from_secs(age_hours * 3600))
            .expect("mtime");
    };
    plant(
        "dt=2020-01-01/run-0000000000000000/shard-0000000000000000.json.zst",
        72,
    );
    plant("dt=2020-01-02/run-0000000000000000/organization.json.zst", 1);
    plant(
        &format!("dt={date}/run-0000000000000000/shard-0000000000000000.json.zst"),
        0,
    );

    let mut child = aggregator(aws, &output, "40").spawn().expect("spawn");
    let mine = |dir: &std::path::Path| -> usize {
        std::fs::read_dir(dir.join(format!("evaluations/_staging/dt={date}")))
            .into_iter()
            .flatten()
            .flatten()
            .filter(|run| !run.file_name().to_string_lossy().ends_with("0000000000000000"))
            .flat_map(|run| std::fs::read_dir(run.path()).into_iter().flatten().flatten())
            .filter(|f| f.file_name().to_string_lossy().starts_with("shard-"))
            .count()
    };
    let started = Instant::now();
    while mine(&dir) < REGIONS / 2 {
        assert!(child.try_wait().expect("wait").is_none(), "ended before half");
        assert!(started.elapsed() < Duration::from_secs(120), "no progress");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    let checkpointed = mine(&dir);

    let child = aggregator(aws, &output, "200").spawn().expect("spawn");
    let (code, resumed, stderr) = finish(child);
    assert_eq!(code, 0, "{stderr}\n{resumed:#}");
    assert_eq!(resumed["shards_resumed"], checkpointed, "{resumed:#}");
    assert!((REGIONS / 2..REGIONS).contains(&checkpointed), "{checkpointed}");
    let resumed_rows = rows(std::fs::File::open(&snapshot).expect("snapshot")).0;
    assert!(
        resumed_rows == whole_rows,
        "the rows differ from the uninterrupted run's"
    );
    let mut left = Vec::new();
    let mut pending = vec![staging.clone()];
    while let Some(path) = pending.pop() {
        for entry in std::fs::read_dir(&path).expect("dir").flatten() {
            if entry.path().is_dir() {
                pending.push(entry.path());
            } else {
                left.push(
                    entry
                        .path()
                        .strip_prefix(&staging)
                        .expect("under")
                        .display()
                        .to_string(),
                );
            }
        }
    }
    assert_eq!(
        left,
        vec!["dt=2020-01-02/run-0000000000000000/organization.json.zst".to_string()],
        "only another date's recent checkpoint stays"
    );
    assert!(
        !staging.join(format!("dt={date}")).exists(),
        "the date's directories go with their checkpoints"
    );
    std::fs::remove_dir_all(&dir).expect("clean up");
}
