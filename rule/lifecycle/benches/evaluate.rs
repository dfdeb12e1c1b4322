//! One Config invocation event, parsed and evaluated (offline), as the Lambda does per change.

use criterion::{Criterion, criterion_group, criterion_main};
use jiff::civil::date;
use lifecycle::{Catalog, Invocation, evaluate_offline};

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/events/{name}", env!("CARGO_MANIFEST_DIR"))).expect("fixture")
}

fn bench(c: &mut Criterion) {
    let catalog = Catalog::builtin().expect("catalog");
    let today = date(2026, 11, 23);
    let change = fixture("change-python38.json");
    let exempt = fixture("change-exempt.json");

    c.bench_function("evaluate_event/change_notification", |b| {
        b.iter(|| {
            let invocation = Invocation::parse(std::hint::black_box(&change)).expect("event");
            evaluate_offline(&invocation, &catalog, today).expect("evaluations")
        })
    });
    c.bench_function("evaluate_event/exempt_with_parameters", |b| {
        b.iter(|| {
            let invocation = Invocation::parse(std::hint::black_box(&exempt)).expect("event");
            evaluate_offline(&invocation, &catalog, today).expect("evaluations")
        })
    });
    // Done once per Lambda container (and per replacement catalog): parse and validate the catalog.
    c.bench_function("catalog/load_builtin", |b| {
        b.iter(|| Catalog::builtin().expect("catalog"))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
