//! The Athena DDL against the one schema: every column, in order, with the Athena type a reader of
//! the Parquet files needs (written out here independently of the code's own mapping).

use std::process::Command;

fn ddl(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_aggregator"))
        .arg("ddl")
        .args(args)
        .output()
        .expect("run aggregator")
}

#[test]
fn ddl_columns_match_the_schema() {
    let output = ddl(&[
        "--location",
        "s3://org-reports/lambda/",
        "--first-day",
        "2026-11-01",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).expect("utf-8");
    let body = text
        .split_once("(\n")
        .and_then(|(_, rest)| rest.split_once("\n)"))
        .map(|(cols, _)| cols)
        .expect("columns");
    let columns: Vec<(String, String)> = body
        .lines()
        .map(|line| {
            let line = line.trim().trim_end_matches(',');
            let (name, kind) = line.split_once(' ').expect("name type");
            (name.trim_matches('`').to_string(), kind.to_string())
        })
        .collect();
    let expected = [
        ("account_id", "string"),
        ("account_name", "string"),
        ("ou_path", "string"),
        ("account_tags", "map<string,string>"),
        ("region", "string"),
        ("rule_name", "string"),
        ("resource_type", "string"),
        ("resource_id", "string"),
        ("function_arn", "string"),
        ("compliance_type", "string"),
        ("annotation", "string"),
        ("result_recorded_time", "timestamp"),
        ("config_rule_invoked_time", "timestamp"),
        ("runtime", "string"),
        ("runtime_family", "string"),
        ("package_type", "string"),
        ("architectures", "array<string>"),
        ("code_last_modified", "timestamp"),
        ("function_tags", "map<string,string>"),
        ("phase", "string"),
        ("deprecation_date", "date"),
        ("block_create_date", "date"),
        ("block_update_date", "date"),
        ("days_to_fail", "int"),
        ("successor", "string"),
        ("latest_runtime", "string"),
        ("exempt_until", "date"),
        ("qualifier", "string"),
        ("aliases", "array<string>"),
        ("blocking_layers", "array<string>"),
        ("invocations_30d", "bigint"),
        ("last_invoked_date", "date"),
        ("run_id", "string"),
        ("collected_at", "timestamp"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(n, k)| (n.to_string(), k.to_string()))
        .collect();
    assert_eq!(columns, expected);
    let schema = aggregator::schema::schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(
        names,
        expected.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>()
    );
    for property in [
        "PARTITIONED BY (`dt` string)",
        "STORED AS PARQUET",
        "LOCATION 's3://org-reports/lambda/evaluations/'",
        "'projection.enabled'='true'",
        "'projection.dt.type'='date'",
        "'projection.dt.format'='yyyy-MM-dd'",
        "'projection.dt.range'='2026-11-01,NOW'",
        "'projection.dt.interval.unit'='DAYS'",
        "'storage.location.template'='s3://org-reports/lambda/evaluations/dt=${dt}/'",
    ] {
        assert!(text.contains(property), "missing {property}:\n{text}");
    }
}

#[test]
fn bad_locations_and_names_are_refused() {
    for args in [
        vec!["--location", "org-reports/lambda"],
        vec!["--location", "s3://Bad_Bucket/x"],
        vec!["--location", "s3://ok-bucket/it's"],
        vec!["--location", "s3://ok-bucket/x", "--table", "Drop Table"],
        vec!["--location", "s3://ok-bucket/x", "--first-day", "2026-02-30"],
    ] {
        let output = ddl(&args);
        assert!(!output.status.success(), "{args:?}");
        assert!(!output.stderr.is_empty());
    }
}
