//! PromQL parse throughput over the compliance query list.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// The compliance queries with their placeholders filled with one value each.
fn queries() -> Vec<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/promql-tests/compliance/promql-test-queries.yml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let fill = [
        ("{{.arithBinOp}}", "+"),
        ("{{.compBinOp}}", ">"),
        ("{{.binOp}}", "*"),
        ("{{.clampFunc}}", "clamp_min"),
        ("{{.dateFunc}}", "hour"),
        ("{{.extrapolatedRateFunc}}", "rate"),
        ("{{.instantRateFunc}}", "irate"),
        ("{{.offset}}", "5m"),
        ("{{.quantile}}", "0.9"),
        ("{{.range}}", "5m"),
        ("{{.simpleAggrOp}}", "sum"),
        ("{{.simpleTimeAggrOp}}", "avg"),
        ("{{.simpleMathFunc}}", "abs"),
        ("{{.topBottomOp}}", "topk"),
    ];
    text.lines()
        .filter_map(|l| l.trim().trim_start_matches("- ").strip_prefix("query:"))
        .map(|q| {
            let q = q.trim();
            let mut q = q
                .strip_prefix('\'')
                .and_then(|r| r.strip_suffix('\''))
                .unwrap_or(q)
                .replace("''", "'");
            for (k, v) in fill {
                q = q.replace(k, v);
            }
            q
        })
        .filter(|q| strata_promql::parse(q).is_ok())
        .collect()
}

fn bench(c: &mut Criterion) {
    let qs = queries();
    let bytes: usize = qs.iter().map(String::len).sum();
    let mut g = c.benchmark_group("promql_parse");
    g.throughput(Throughput::Elements(qs.len() as u64));
    g.bench_function(
        format!("compliance_{}_queries_{bytes}_bytes", qs.len()),
        |b| {
            b.iter(|| {
                for q in &qs {
                    std::hint::black_box(strata_promql::parse(q).unwrap());
                }
            })
        },
    );
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
