//! Faults under the engine (issue 11, point 5): random operations against the embedded store
//! opened on the fault-injecting file layer (`botstore_embedded::faults`) and against a
//! small model of what was acknowledged, with faults switched on and off at random points,
//! simulated power losses (unsynced writes dropped, all or some) and reopens. Asserted on
//! every run:
//!
//! * no read returns bytes that were never written to that key: a `get` or `scan` returns
//!   exactly an acknowledged value, or one of the values of writes that failed ambiguously
//!   (see below), or fails with a typed storage error while a fault is active or has fired;
//! * an acknowledged write survives every crash and reopen: after it, the key reads as that
//!   value (or a later one), or the open or the read fails loudly;
//! * when the faults clear, a clean reopen (and, for faults that do not damage stored bytes,
//!   the open itself) succeeds, reads match the model, and new writes work, are read back
//!   exactly, and survive a power loss.
//!
//! What is assumed of a failed write: an error from a write while faults are active (or
//! after one fired in this open, since the writer then stops until a reopen) is ambiguous:
//! the write may or may not have happened, so the key may read as its old or its new value
//! from then on (a journal frame can be on disk even though its `fdatasync` failed, and a
//! flush failure is reported on the write that finds it, after that write was journaled).
//! A failed write may also take effect later, until the next open, unless a later
//! acknowledged write to the same key supersedes it (frames replay in order); an
//! acknowledged delete of a key the store saw absent writes nothing and supersedes nothing.
//! Errors must be storage errors (`Storage`, `NoSpace`, `ReadOnly`, `Closed`, `Corrupt`),
//! never a semantic one. Without faults, no operation may fail.
//!
//! `Durability::Relaxed` runs too (`relaxed_*`), with process crashes only: a power loss
//! may lose its last `max_loss` of acknowledged writes by design.
//!
//! Bit flips are a separate test (`flips_*`), on `store.redb` (on read and on write): a
//! damaged record must read as `Error::Corrupt`, never as other bytes, and writing over it
//! fails loudly until it is restored. Flips in the journal are the journal damage tests'
//! (`journal_damage.rs`): a flipped middle frame refuses the open; a flipped *last* frame
//! looks exactly like a torn write (the normal end of a crash) and is dropped with a
//! warning, a limit of any write-ahead log that checks frames one by one
//! (docs/ARCHITECTURE.md).
//!
//! Cases: `FAULT_CASES` (default 200 per test); `FAULT_SEED` fixes the fault plan's seed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod flips;
mod harness;

use botstore::Store;
use botstore_embedded::fault_injection::{Faults, Loss};
use botstore_embedded::EmbeddedBackend;
use harness::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

fn cases() -> u32 {
    std::env::var("FAULT_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
}

fn run(flips: bool, relaxed: bool, cases: u32) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 256,
        ..Config::default()
    });
    let fixed: Option<u64> = std::env::var("FAULT_SEED")
        .ok()
        .and_then(|v| v.parse().ok());
    let strategy = (any::<u64>(), plan(flips, relaxed));
    let r = runner.run(&strategy, |(seed, (cache, steps))| {
        let seed = fixed.unwrap_or(seed);
        rt.block_on(run_case(seed, flips, cache, relaxed, &steps))
            .map_err(|e| TestCaseError::fail(format!("seed {seed}: {e}")))
    });
    eprintln!("fault runs: {TALLY:?}");
    if let Err(e) = r {
        panic!("fault model check failed: {e}");
    }
}

/// EIO, ENOSPC and torn writes on the journal and `store.redb`, crashes and reopens.
#[test]
fn io_errors_torn_and_lost_writes_never_lie() {
    run(false, false, cases());
}

/// The same with `Durability::Relaxed` (the journal flushed by the upkeep thread, within
/// 2 ms), with process crashes: nothing acknowledged may be lost.
#[test]
fn relaxed_durability_under_io_errors_loses_nothing_written() {
    run(false, true, cases() / 2);
}

/// Bit flips in `store.redb`, on read and on write, while the store runs. This found that
/// redb panics on damaged pages (index out of range in `tree_store/table_tree_base.rs`,
/// ...): the engine turns those panics into `Error::Corrupt` (`tables::guard` around reads,
/// commits, opens, the writer and upkeep). redb also panics where nothing can catch it
/// (in a destructor while it unwinds, which aborts the process) and refuses to open a file
/// damaged this way ("Primary is corrupted despite 2-phase commit"): both are loud. So each
/// case runs in its own process, and a case that dies is followed by a check of the folder
/// it left, as after a crash (`flips.rs`). Damage at rest: `tests/bit_flips.rs`.
#[test]
fn flips_in_store_redb_are_never_served_as_genuine() {
    let first = std::env::var("FAULT_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
            now.map_or(0, |d| d.as_nanos() as u64 % (1 << 48))
        });
    eprintln!(
        "flip cases from {first} (FAULT_SEED={first} runs the same plans; where faults fire \
         also depends on the engine's background threads)"
    );
    flips::run_in_children(first, u64::from(cases()) / 2);
}

/// One case of the test above in a child process; nothing unless the parent set it up.
#[test]
fn flip_case_in_a_child_process() {
    flips::child();
}

/// The layer with no rules is transparent: the engine's own crash recovery, through it.
#[test]
fn no_faults_no_errors_and_nothing_acknowledged_is_lost() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let steps: Vec<Step> = (0..60)
        .flat_map(|i| {
            let mut v = vec![Step::Put {
                ns: i % 2,
                key: i % KEYS,
                len: 50 + (i as u16 * 97) % 2500,
            }];
            if i % 7 == 3 {
                v.push(Step::Crash(Loss::All));
            }
            if i % 11 == 5 {
                v.push(Step::Checkpoint);
            }
            v
        })
        .collect();
    rt.block_on(run_case(1, false, 0, false, &steps)).unwrap();
}

/// Found by the relaxed run in CI: a full disk during the open after a crash leaves the
/// store read-only; once space is freed it takes writes again by itself, so a write right
/// after the fault clears may wait for that, never fail for good.
#[test]
fn a_full_disk_at_open_then_space_freed_takes_writes_again() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let steps = vec![
        Step::FaultOn {
            fault: botstore_embedded::fault_injection::Fault::NoSpace,
            file: None,
            percent: 1,
            times: None,
        },
        Step::Crash(Loss::None),
        Step::FaultOff,
        Step::Put {
            ns: 0,
            key: 0,
            len: 1,
        },
    ];
    rt.block_on(run_case(2415479491508498906, false, 0, true, &steps))
        .unwrap();
}

/// The store's own model check (botstore-core's conformance model) passes with every file
/// operation going through the fault layer, its plan empty: the layer changes nothing.
#[test]
fn the_conformance_model_passes_through_the_layer() {
    botstore::conformance::model_check(|opts| async move {
        let dir = tempfile::tempdir().unwrap();
        let faults = Faults::new(7);
        let b = EmbeddedBackend::open(dir.path(), options(&faults, 1 << 20, false)).unwrap();
        Store::with_options(botstore::conformance::keep_alive(b, dir), opts)
    });
}

/// The two cases below were found in CI runs of the model checks, once the harness waited
/// for writes to resume after each `FaultOff`: a full disk failed an explicit checkpoint
/// (`Store::sync`), which blocked writes, but only a failed *write* woke the upkeep thread
/// for its retries, so it slept until its next timed checkpoint (an hour here) and writes
/// stayed refused without traffic. Timing decides whether they fail without the fix.
use botstore_embedded::fault_injection::Fault;
use botstore_embedded::io::FileKind;

#[test]
fn found_in_ci_a_full_disk_fails_a_checkpoint_relaxed() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let steps = vec![
        Step::Delete { ns: 1, key: 1 },
        Step::Get { ns: 0, key: 1 },
        Step::Put {
            ns: 1,
            key: 3,
            len: 822,
        },
        Step::Get { ns: 0, key: 1 },
        Step::Delete { ns: 1, key: 1 },
        Step::Get { ns: 1, key: 3 },
        Step::Scan { ns: 0 },
        Step::FaultOn {
            fault: Fault::NoSpace,
            file: Some(FileKind::Database),
            percent: 40,
            times: None,
        },
        Step::Put {
            ns: 1,
            key: 0,
            len: 407,
        },
        Step::Delete { ns: 1, key: 2 },
        Step::FaultOff,
        Step::Checkpoint,
        Step::Put {
            ns: 1,
            key: 0,
            len: 2761,
        },
        Step::Put {
            ns: 1,
            key: 3,
            len: 2913,
        },
        Step::Get { ns: 0, key: 2 },
        Step::Put {
            ns: 1,
            key: 1,
            len: 1233,
        },
        Step::Scan { ns: 1 },
        Step::FaultOff,
    ];
    rt.block_on(run_case(12521533892041852326, false, 0, true, &steps))
        .unwrap();
}

#[test]
fn found_in_ci_a_full_disk_fails_a_checkpoint() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let steps = vec![
        Step::Get { ns: 1, key: 0 },
        Step::Get { ns: 0, key: 0 },
        Step::Delete { ns: 0, key: 2 },
        Step::Put {
            ns: 1,
            key: 2,
            len: 2780,
        },
        Step::Put {
            ns: 0,
            key: 3,
            len: 1504,
        },
        Step::Get { ns: 0, key: 3 },
        Step::Put {
            ns: 0,
            key: 2,
            len: 2000,
        },
        Step::Put {
            ns: 0,
            key: 2,
            len: 460,
        },
        Step::Put {
            ns: 1,
            key: 3,
            len: 1724,
        },
        Step::FaultOff,
        Step::Put {
            ns: 0,
            key: 1,
            len: 485,
        },
        Step::Reopen,
        Step::Put {
            ns: 0,
            key: 0,
            len: 983,
        },
        Step::Get { ns: 1, key: 1 },
        Step::Put {
            ns: 0,
            key: 2,
            len: 1294,
        },
        Step::FaultOn {
            fault: Fault::NoSpace,
            file: Some(FileKind::Database),
            percent: 100,
            times: None,
        },
        Step::Put {
            ns: 1,
            key: 2,
            len: 1355,
        },
        Step::Put {
            ns: 1,
            key: 2,
            len: 1491,
        },
        Step::Delete { ns: 1, key: 2 },
        Step::Put {
            ns: 1,
            key: 3,
            len: 2661,
        },
        Step::Get { ns: 1, key: 2 },
        Step::Put {
            ns: 1,
            key: 0,
            len: 2697,
        },
        Step::Checkpoint,
        Step::FaultOff,
        Step::Reopen,
        Step::Get { ns: 0, key: 1 },
    ];
    rt.block_on(run_case(4793046867552648608, false, 1048576, false, &steps))
        .unwrap();
}
