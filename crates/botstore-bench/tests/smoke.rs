//! A short run of every workload against a temporary store: each returns operations and
//! sane percentiles.

use botstore_bench::{run, BenchConfig, Durability, Workload};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_workload_runs_and_reports_sane_figures() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = BenchConfig {
        workloads: Workload::ALL.to_vec(),
        duration: Duration::from_millis(200),
        warmup: Duration::from_millis(20),
        anchor_duration: Duration::from_millis(200),
        keys: Some(200),
        memory_items: 2_000,
        writers: None,
        readers: None,
        baseline: Some(botstore_bench::Baseline::Redb),
        data_dir: Some(dir.path().to_path_buf()),
        durability: Durability::Relaxed {
            max_loss: Duration::from_millis(5),
        },
        ..BenchConfig::default()
    };
    // Relaxed: the smoke test checks the machinery, not the disk; no anchor row then.
    let reports = run(&cfg).await.unwrap();
    let names: Vec<&str> = reports.iter().map(|r| r.workload.as_str()).collect();
    for want in [
        "state",
        "transcript-append",
        "transcript-tail",
        "checkpoint-write",
        "checkpoint-read",
        "get",
        "put-batch",
        "put",
        "put-concurrent",
        "memory",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    assert_eq!(names.iter().filter(|n| **n == "get").count(), 2);
    for r in &reports {
        assert!(r.ops > 0, "{}: no ops", r.workload);
        assert!(r.ops_per_sec > 0.0, "{}", r.workload);
        assert!(
            0.0 < r.p50_us
                && r.p50_us <= r.p99_us
                && r.p99_us <= r.p999_us
                && r.p999_us <= r.max_us,
            "{}: percentiles {} {} {} {}",
            r.workload,
            r.p50_us,
            r.p99_us,
            r.p999_us,
            r.max_us
        );
        if r.workload != "memory" {
            assert!(r.baseline_ops_per_sec.unwrap() > 0.0, "{}", r.workload);
            assert!(r.ratio.unwrap() > 0.0, "{}", r.workload);
        }
    }
    let m = reports.iter().find(|r| r.workload == "memory").unwrap();
    let mem = m.memory.as_ref().unwrap();
    assert_eq!(mem.items, 2_000);
    assert!(mem.rss_mib > 0.0 && mem.hwm_mib >= mem.rss_mib);
    let table = botstore_bench::render_table(&reports);
    assert!(table.contains("transcript-tail") && table.contains("VmRSS"));
    // Everything was cleaned up.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_runs_add_the_fsync_anchor() {
    let cfg = BenchConfig {
        workloads: vec![Workload::Put],
        duration: Duration::from_millis(200),
        warmup: Duration::ZERO,
        anchor_duration: Duration::from_millis(200),
        ..BenchConfig::default()
    };
    let reports = run(&cfg).await.unwrap();
    assert_eq!(reports[0].workload, "fsync-anchor");
    assert!(reports[0].ops > 0);
    assert!(reports[0].extra["prealloc_ops_per_sec"] > 0.0);
    let put = &reports[1];
    assert_eq!(put.workload, "put");
    assert!(put.anchor_ratio.unwrap() > 0.0);
    assert!(put.extra["writer_fsyncs_per_sec"] > 0.0);
}
