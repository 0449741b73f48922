//! Bit flips in `store.redb` while the store runs, each case in its own process.
//!
//! redb panics on pages it finds damaged; the engine turns those panics into
//! `Error::Corrupt` (`tables::guard`). But with flips written into redb's own pages while it
//! writes them, redb can also panic in a destructor while it unwinds from the first panic,
//! and Rust aborts the process there: nothing can catch that. For a store, a process that
//! dies is a loud failure, like a crash; what it must not do is lie. So each case runs in a
//! child process (this test binary, re-run on [`CHILD_CASE`]), which writes what each key
//! may read as to a file before and after every step. The parent then sorts each outcome:
//!
//! * the case ran to its end: the child checked every read against the model itself;
//! * the child was killed by a signal (redb's abort), or a panic escaped the engine's guard:
//!   loud. The parent then opens the data folder left behind, in another child
//!   ([`CHILD_CHECK`]), with no faults, and requires every key to read as a value it may
//!   hold, or fail loudly (`Corrupt`, or an open refused), exactly as after a crash;
//! * the model was violated (bytes never written, an acknowledged write gone without an
//!   error), in the case or in the check: the test fails, naming the case to re-run.

use crate::harness::*;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Names the case (a u64) a child runs; unset, the child test does nothing.
pub const CHILD_CASE: &str = "BOTSTORE_FLIP_CASE";
/// The folder a child works in: `data/` is the store, `model` what each key may read as.
pub const CHILD_DIR: &str = "BOTSTORE_FLIP_DIR";
/// Set (to a folder as [`CHILD_DIR`]): the child checks a store a dead child left behind.
pub const CHILD_CHECK: &str = "BOTSTORE_FLIP_CHECK";
/// The name of the test a child runs (main.rs).
pub const CHILD_TEST: &str = "flip_case_in_a_child_process";

const OK: &str = "FLIP CHILD OK";
const FAILED: &str = "FLIP CHILD FAILED";

/// The steps and the cache size of case `case`, the same in every process.
pub fn case_plan(case: u64) -> (usize, Vec<Step>) {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&case.to_le_bytes());
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed),
    );
    plan(true, false).new_tree(&mut runner).unwrap().current()
}

/// The child's side: run the case or the check named by the environment, print the
/// verdict, and fail the test on a violation. Does nothing in a normal test run.
pub fn child() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return;
    };
    let dir = PathBuf::from(dir);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let r = if std::env::var(CHILD_CHECK).is_ok() {
        let mut h = Harness::in_dir(dir.join("data"), 0, true, 1 << 20, false);
        h.model = read_model(&dir.join("model"));
        let r = rt.block_on(h.open());
        h.shut();
        match r {
            Err(e) if e.contains("SKIP") => Ok(()),
            r => r,
        }
    } else {
        let case: u64 = std::env::var(CHILD_CASE).unwrap().parse().unwrap();
        let (cache, steps) = case_plan(case);
        let mut h = Harness::in_dir(dir.join("data"), case, true, cache, false);
        h.model_file = Some(dir.join("model"));
        let r = rt.block_on(run_steps(&mut h, &steps));
        r.map_err(|e| format!("{e}\n  steps: {steps:?}"))
    };
    match r {
        Ok(()) => println!("{OK} {TALLY:?}"),
        Err(e) => {
            println!("{FAILED}: {e}");
            panic!("the model was violated: {e}");
        }
    }
}

/// What became of one child.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// It printed its verdict: the model held; how many faults fired, and how many reads
    /// answered "absent" under a flip on read (the harness's `absent_under_read_flips`).
    Held(usize, usize),
    /// It died loudly: a signal (the abort), or a panic out of the engine.
    Died(String),
    /// The model was violated, or the harness itself broke.
    Violated(String),
}

fn spawn(dir: &Path, case: u64, check: bool) -> Output {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([CHILD_TEST, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR, dir)
        .env(CHILD_CASE, case.to_string())
        .env("RUST_BACKTRACE", "0");
    if check {
        cmd.env(CHILD_CHECK, "1");
    }
    cmd.output().unwrap()
}

fn outcome(out: &Output) -> Outcome {
    use std::os::unix::process::ExitStatusExt;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if let Some(at) = stdout.find(FAILED) {
        return Outcome::Violated(stdout[at..].to_string());
    }
    if let (true, Some(at)) = (out.status.success(), stdout.find(OK)) {
        let field = |name: &str| -> usize {
            stdout[at..]
                .split(&format!("{name}: "))
                .nth(1)
                .and_then(|r| r.split([',', ' ']).next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0)
        };
        return Outcome::Held(field("fired"), field("absent_under_read_flips"));
    }
    let first_panic = stderr
        .lines()
        .find(|l| l.contains("panicked at"))
        .map(|l| {
            format!(
                "{l} {}",
                stderr.lines().skip_while(|x| *x != l).nth(1).unwrap_or("")
            )
        })
        .unwrap_or_default();
    // A panic in the harness is a broken test, not the engine failing loudly.
    if first_panic.contains("tests/faults/") {
        return Outcome::Violated(format!("the harness panicked: {first_panic}"));
    }
    match out.status.signal() {
        Some(sig) => Outcome::Died(format!("signal {sig}; {first_panic}")),
        None if !first_panic.is_empty() => Outcome::Died(format!("panic: {first_panic}")),
        None => Outcome::Violated(format!(
            "the child ended with {:?} and no verdict:\n{stdout}\n{stderr}",
            out.status
        )),
    }
}

/// The parent's side: run `cases` cases from `first`, each in a child, and sort them.
pub fn run_in_children(first: u64, cases: u64) {
    let mut held = 0;
    let mut fired = 0;
    let mut absent = 0;
    let mut died = Vec::new();
    let mut violated = Vec::new();
    for case in first..first + cases {
        let dir = tempfile::tempdir().unwrap();
        match outcome(&spawn(dir.path(), case, false)) {
            Outcome::Held(f, a) => {
                held += 1;
                fired += f;
                absent += a;
            }
            Outcome::Violated(e) => violated.push(format!("case {case}: {e}")),
            Outcome::Died(why) => {
                // The folder it left is checked like the folder of a crashed process.
                match outcome(&spawn(dir.path(), case, true)) {
                    Outcome::Violated(e) => {
                        violated.push(format!("case {case}, after it died ({why}): {e}"))
                    }
                    check => died.push(format!("case {case}: {why}; the reopen: {check:?}")),
                }
            }
        }
    }
    eprintln!(
        "flip cases: {held} ran to the end ({fired} flips; {absent} reads answered absent \
         under a flip on read), {} died loudly, {} violated the model",
        died.len(),
        violated.len()
    );
    for d in &died {
        eprintln!("  died: {d}");
    }
    assert!(
        violated.is_empty(),
        "re-run one with {CHILD_DIR}=<empty folder> {CHILD_CASE}=<case> cargo test -p \
         botstore-embedded --features faults --test faults {CHILD_TEST} -- --nocapture:\n{}",
        violated.join("\n")
    );
}
