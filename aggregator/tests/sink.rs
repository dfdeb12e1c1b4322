//! The Parquet snapshot read back with the parquet crate's own reader: schema, values, one snapshot
//! per day, nothing left behind.

use std::collections::BTreeMap;

use aggregator::output::Output;
use aggregator::row::{AccountDetails, EvaluationRecord, FunctionDetails, RunContext};
use aggregator::sink::Encoder;
use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Int32Type, TimestampMillisecondType};
use jiff::civil::date;
use lifecycle::{Catalog, Policy};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

fn rows(count: usize, run_id: &str) -> Vec<aggregator::row::Row> {
    let catalog = Catalog::builtin().expect("catalog");
    let policy = Policy::default();
    let run = RunContext::new(&catalog, &policy, date(2026, 11, 23), run_id)
        .collected_at("2026-11-23T06:00:00Z".parse().expect("time"));
    let account = AccountDetails {
        name: Some("payments".into()),
        ou_path: Some("Root/Workloads".into()),
        tags: BTreeMap::from([("cost-center".into(), "42".into())]).into(),
    };
    (0..count)
        .map(|i| {
            let record = EvaluationRecord {
                account_id: "111122223333".into(),
                region: "eu-west-1".into(),
                rule_name: "lambda-runtime-lifecycle".into(),
                resource_type: "AWS::Lambda::Function".into(),
                resource_id: format!("fn-{i}"),
                compliance_type: if i % 2 == 0 { "NON_COMPLIANT" } else { "COMPLIANT" }.into(),
                annotation: Some("annotation".into()),
                result_recorded_time: Some("2026-11-22T10:00:00Z".parse().expect("time")),
                config_rule_invoked_time: None,
            };
            let function = FunctionDetails {
                function_arn: Some(format!("arn:aws:lambda:eu-west-1:111122223333:function:fn-{i}")),
                runtime: Some(if i % 2 == 0 { "python3.8" } else { "python3.13" }.into()),
                package_type: Some("Zip".into()),
                architectures: vec!["arm64".into()],
                code_last_modified: None,
                layers: Vec::new(),
                tags: if i % 3 == 0 {
                    BTreeMap::from([("team".into(), "a".into())])
                } else {
                    BTreeMap::new()
                },
            };
            run.row(&record, Some(&function), Some(&account))
        })
        .collect()
}

/// Encodes `rows` into the day's snapshot under `root`, taking the bytes out in small parts (as the
/// S3 path does in 8 MiB parts) so that their concatenation is what gets checked. `fail` aborts
/// instead of committing.
fn write_local_snapshot(
    rows: Vec<aggregator::row::Row>,
    root: &std::path::Path,
    day: jiff::civil::Date,
    run_id: &str,
    fail: bool,
) -> usize {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let output = Output::Local(root.to_path_buf());
        let mut upload = output.begin(None, day, run_id).await.expect("begin");
        let mut encoder = Encoder::new().expect("encoder");
        for row in rows {
            encoder.push(row).expect("push");
            if let Some(part) = encoder.take(64 * 1024) {
                upload.write(part).await.expect("part");
            }
        }
        let (last, written) = encoder.finish().expect("finish");
        upload.write(last).await.expect("last part");
        if fail {
            upload.abort().await;
        } else {
            upload.commit().await.expect("commit");
        }
        written
    })
}

#[test]
fn snapshot_round_trips_and_replaces_the_day() {
    let root = std::env::temp_dir().join(format!("aggregator-sink-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    // More than one batch, to cover the streaming path.
    let written = write_local_snapshot(rows(40_000, "run-1"), &root, date(2026, 11, 23), "run-1", false);
    assert_eq!(written, 40_000);
    let file = root.join("evaluations/dt=2026-11-23/part-00000.parquet");
    let reader =
        ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&file).expect("file")).expect("reader");
    assert_eq!(reader.schema().fields(), aggregator::schema::schema().fields());
    let mut count = 0;
    let mut first = None;
    for batch in reader.build().expect("batches") {
        let batch = batch.expect("batch");
        count += batch.num_rows();
        first.get_or_insert(batch);
    }
    assert_eq!(count, 40_000);
    let batch = first.expect("a batch");
    let column = |name: &str| batch.column_by_name(name).expect(name).clone();
    assert_eq!(column("resource_id").as_string::<i32>().value(0), "fn-0");
    assert_eq!(column("phase").as_string::<i32>().value(0), "deprecated");
    assert_eq!(column("phase").as_string::<i32>().value(1), "supported");
    assert_eq!(column("successor").as_string::<i32>().value(0), "python3.12");
    // 2024-10-14 is day 20010 since 1970-01-01.
    assert_eq!(
        column("deprecation_date").as_primitive::<Date32Type>().value(0),
        20010
    );
    assert_eq!(column("days_to_fail").as_primitive::<Int32Type>().value(0), -770);
    assert_eq!(
        column("result_recorded_time")
            .as_primitive::<TimestampMillisecondType>()
            .value(0),
        1_795_341_600_000
    );
    assert!(column("config_rule_invoked_time").is_null(0));
    let tags = column("function_tags");
    let tags = tags.as_map();
    assert_eq!(tags.value(0).column(0).as_string::<i32>().value(0), "team");
    assert_eq!(arrow_array::Array::len(&tags.value(1)), 0);
    let architectures = column("architectures");
    assert_eq!(
        architectures
            .as_list::<i32>()
            .value(0)
            .as_string::<i32>()
            .value(0),
        "arm64"
    );

    // A failed run changes nothing; a rerun of the same day replaces the snapshot, nothing beside it.
    write_local_snapshot(rows(5, "run-x"), &root, date(2026, 11, 23), "run-x", true);
    let reader =
        ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&file).expect("file")).expect("reader");
    assert_eq!(reader.metadata().file_metadata().num_rows(), 40_000);
    write_local_snapshot(rows(3, "run-2"), &root, date(2026, 11, 23), "run-2", false);
    let reader =
        ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&file).expect("file")).expect("reader");
    assert_eq!(reader.metadata().file_metadata().num_rows(), 3);
    let mut left: Vec<String> = std::fs::read_dir(&root)
        .expect("root")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["evaluations"]);
    let days: Vec<_> = std::fs::read_dir(root.join("evaluations"))
        .expect("dir")
        .collect();
    assert_eq!(days.len(), 1);
    std::fs::remove_dir_all(&root).ok();
}
