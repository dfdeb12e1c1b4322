//! Deterministic synthetic rows shaped like a large organization's, for the encode benchmark
//! (`aggregator bench-encode`, run by `cargo xtask bench aggregator`).

use std::collections::BTreeMap;

use jiff::Timestamp;

use crate::row::{AccountDetails, EvaluationRecord, FunctionDetails, Row, RunContext};

const REGIONS: [&str; 4] = ["us-east-1", "eu-west-1", "ap-southeast-2", "eu-central-1"];

/// `count` rows over 1,000 accounts and four regions, cycling through the catalog's runtimes (and
/// images), generated one at a time so memory does not grow with `count`. `day` shifts the runtimes
/// and verdicts so that consecutive snapshots differ (for trend queries); some functions carry an
/// exemption tag ending within the next two months.
pub fn rows<'c>(context: &'c RunContext<'c>, count: usize, day: usize) -> impl Iterator<Item = Row> + 'c {
    let runtimes: Vec<String> = context.catalog.runtimes().map(|r| r.runtime.clone()).collect();
    let accounts: Vec<AccountDetails> = (0..1000)
        .map(|i| AccountDetails {
            name: Some(format!("workload-{i:04}")),
            ou_path: Some(format!("Root/Workloads/Unit-{}", i % 12)),
            tags: BTreeMap::from([
                ("cost-center".to_string(), format!("cc-{}", i % 40)),
                ("owner".to_string(), format!("team-{}@example.com", i % 90)),
            ]),
        })
        .collect();
    let base = Timestamp::from_second(1_763_800_000).unwrap_or(Timestamp::UNIX_EPOCH);
    (0..count).map(move |i| {
        let account_index = i % accounts.len();
        let account_id = format!("{:012}", 100_000_000_000u64 + account_index as u64);
        let region = REGIONS[(i / accounts.len()) % REGIONS.len()];
        let name = format!("service-{i:07}");
        let image = i % 23 == 0;
        let runtime = (!image).then(|| runtimes[(i + day * 7) % runtimes.len()].clone());
        let compliant = !(i + day).is_multiple_of(3);
        let recorded = base
            .checked_add(jiff::SignedDuration::from_secs((i % 86_400) as i64))
            .unwrap_or(base);
        // Code ages spread over about two years.
        let modified = base
            .checked_sub(jiff::SignedDuration::from_hours(((i * 37) % 17_520) as i64))
            .unwrap_or(base);
        let mut tags = BTreeMap::from([
            ("service".to_string(), format!("svc-{}", i % 500)),
            ("team".to_string(), format!("team-{}", i % 90)),
        ]);
        if i % 41 == 0 {
            let until = lifecycle::dates::add_days(context.snapshot_date, (i % 61) as i64 - 5);
            tags.insert(
                lifecycle::policy::DEFAULT_EXEMPTION_TAG.to_string(),
                until.to_string(),
            );
        }
        let record = EvaluationRecord {
            account_id: account_id.clone(),
            region: region.to_string(),
            rule_name: "OrgConfigRule-lambda-runtime-lifecycle-k3x9q2".into(),
            resource_type: lifecycle::event::LAMBDA_FUNCTION.into(),
            resource_id: name.clone(),
            compliance_type: if compliant { "COMPLIANT" } else { "NON_COMPLIANT" }.into(),
            annotation: (!compliant).then(|| {
                format!(
                    "{} is deprecated; upgrade to its successor",
                    runtime.as_deref().unwrap_or("image")
                )
            }),
            result_recorded_time: Some(recorded),
            config_rule_invoked_time: Some(recorded),
        };
        let function = FunctionDetails {
            function_arn: Some(format!("arn:aws:lambda:{region}:{account_id}:function:{name}")),
            runtime,
            package_type: Some(if image { "Image" } else { "Zip" }.into()),
            architectures: vec![if i % 2 == 0 { "arm64" } else { "x86_64" }.into()],
            code_last_modified: Some(modified),
            tags,
            layers: Vec::new(),
        };
        context.row(&record, Some(&function), Some(&accounts[account_index]))
    })
}
