//! `botstore backup` under faults, with the real binary: SIGKILL during create and prune,
//! a flipped byte in a pack, a wrong password, a full disk (issue 4, point 8).

// Test code: helpers outside #[test] fns unwrap too; a panic is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const PW: &str = "s3cret";

fn cmd(dir: &Path, data: &str, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_botstore"));
    c.current_dir(dir)
        .env_remove("BOTSTORE_DATA")
        .env_remove("BOTSTORE_BACKUP_REPO")
        .env("BOTSTORE_BACKUP_PASSWORD", PW)
        .args(["--durability", "relaxed", "--data", data])
        .args(args);
    c
}

fn bs(dir: &Path, args: &[&str]) -> Output {
    cmd(dir, "data", args).output().unwrap()
}

#[track_caller]
fn ok(o: Output) -> String {
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "stderr: {}\nstdout: {out}",
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

/// `n` items of about `size` bytes of poorly compressible text, imported into `data`.
fn populate(dir: &Path, data: &str, n: u64, size: usize, salt: u64) {
    let file = dir.join(format!("import-{salt}.jsonl"));
    let mut f = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
    for i in 0..n {
        let mut x = (i + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ salt;
        let mut s = String::with_capacity(size + 16);
        while s.len() < size {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            s.push_str(&format!("{x:x} "));
        }
        writeln!(
            f,
            "{}",
            serde_json::json!({"ns": ["tenant", format!("t{}", i % 5)], "key": format!("k{i:07}"), "value": {"i": i, "s": s}})
        )
        .unwrap();
    }
    f.flush().unwrap();
    drop(f);
    ok(cmd(dir, data, &["import", file.to_str().unwrap()])
        .output()
        .unwrap());
    std::fs::remove_file(file).unwrap();
}

fn init(dir: &Path, repo: &str) {
    ok(bs(
        dir,
        &[
            "backup",
            "init",
            "--repo",
            repo,
            "--kdf-memory-mib",
            "1",
            "--kdf-iterations",
            "1",
        ],
    ));
}

#[track_caller]
fn verifies(dir: &Path, repo: &str) {
    ok(bs(
        dir,
        &["backup", "verify", "--read-data", "--repo", repo],
    ));
}

/// Start `args`, SIGKILL it after `after` (if it is still running); whether it finished.
fn kill_after(dir: &Path, args: &[&str], after: Duration) -> bool {
    let mut child = cmd(dir, "data", args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(after);
    let finished = child.try_wait().unwrap().is_some();
    if !finished {
        child.kill().unwrap(); // SIGKILL
    }
    child.wait().unwrap();
    finished
}

fn export(dir: &Path, data: &str) -> String {
    ok(cmd(dir, data, &["export"]).output().unwrap())
}

#[test]
fn sigkill_during_create_and_prune_leaves_a_repository_that_verifies() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    populate(dir, "data", 12_000, 1500, 1);
    init(dir, "repo");
    let mut killed = 0;
    for ms in [30, 150, 400, 900, 1600, 2500] {
        if !kill_after(
            dir,
            &["backup", "create", "--full", "--repo", "repo"],
            Duration::from_millis(ms),
        ) {
            killed += 1;
        }
        verifies(dir, "repo");
    }
    assert!(killed >= 2, "only {killed} creates were killed mid-way");
    // The next create succeeds (reuse of a killed run's packs: the crate test
    // an_interrupted_backup_leaves_a_valid_repository_and_is_reused).
    ok(bs(dir, &["backup", "create", "--repo", "repo"]));
    verifies(dir, "repo");

    // Rewrite most data, snapshot again, forget the first: prune then has work to do.
    populate(dir, "data", 12_000, 1500, 2);
    ok(bs(dir, &["backup", "create", "--full", "--repo", "repo"]));
    populate(dir, "data", 200, 1500, 3);
    ok(bs(dir, &["backup", "create", "--repo", "repo"]));
    let f = ok(bs(
        dir,
        &["backup", "forget", "--keep-last", "1", "--repo", "repo"],
    ));
    assert!(f.contains("parent of"), "{f}");
    for ms in [30, 100, 250, 500] {
        kill_after(
            dir,
            &["backup", "prune", "--repack-below", "100", "--repo", "repo"],
            Duration::from_millis(ms),
        );
        verifies(dir, "repo");
    }
    let p = ok(bs(dir, &["--json", "backup", "prune", "--repo", "repo"]));
    let p: serde_json::Value = serde_json::from_str(&p).unwrap();
    assert_eq!(p["dry_run"], false);
    verifies(dir, "repo");
    ok(bs(dir, &["backup", "create", "--repo", "repo"]));
    verifies(dir, "repo");
    ok(bs(
        dir,
        &["backup", "restore", "--repo", "repo", "--to", "restored"],
    ));
    assert_eq!(export(dir, "data"), export(dir, "restored"));
}

#[test]
fn a_flipped_byte_is_named_by_verify_and_refused_by_restore() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    populate(dir, "data", 2000, 800, 1);
    init(dir, "repo");
    ok(bs(dir, &["backup", "create", "--repo", "repo"]));
    let packs: Vec<_> = walk(&dir.join("repo/packs"));
    let pack = &packs[0];
    let mut b = std::fs::read(pack).unwrap();
    let at = b.len() / 2;
    b[at] ^= 0x20;
    std::fs::write(pack, b).unwrap();
    let pack_id = pack.file_name().unwrap().to_string_lossy().into_owned();
    let v = bs(dir, &["backup", "verify", "--read-data", "--repo", "repo"]);
    assert!(!v.status.success());
    let text = String::from_utf8_lossy(&v.stdout);
    assert!(
        text.contains(&pack_id) && text.contains("problem: chunk"),
        "{text}"
    );
    let r = bs(
        dir,
        &["backup", "restore", "--repo", "repo", "--to", "restored"],
    );
    assert!(!r.status.success());
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        err.contains(&pack_id) && err.contains("authentication failed"),
        "{err}"
    );
    assert!(!dir.join("restored/store.redb").exists());
}

#[test]
fn a_wrong_password_is_a_clear_error_with_exit_2() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    populate(dir, "data", 10, 100, 1);
    init(dir, "repo");
    for args in [
        &["backup", "create", "--repo", "repo"][..],
        &["backup", "ls", "--repo", "repo"][..],
        &["backup", "prune", "--repo", "repo"][..],
    ] {
        let o = cmd(dir, "data", args)
            .env("BOTSTORE_BACKUP_PASSWORD", "wrong")
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("wrong password or key file for the repository at repo"),
            "{err}"
        );
    }
}

fn walk(p: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(p).unwrap().flatten() {
        if e.file_type().unwrap().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out.sort();
    out
}

/// Unmounts on drop.
struct Mount(std::path::PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_is_a_clear_error_and_corrupts_nothing() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let small = dir.join("small");
    std::fs::create_dir(&small).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=8m", "tmpfs"])
        .arg(&small)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!(
            "SKIPPED: cannot mount an 8 MiB tmpfs here (needs root or CAP_SYS_ADMIN); the full-disk case was not run"
        );
        return;
    }
    let _m = Mount(small.clone());
    // About 30 MB of poorly compressible values: more than the 8 MiB file system holds.
    populate(dir, "data", 20_000, 1500, 1);
    init(dir, "small/repo");
    // A first, small snapshot that fits, to check it survives.
    populate(dir, "tiny", 50, 200, 9);
    ok(
        cmd(dir, "tiny", &["backup", "create", "--repo", "small/repo"])
            .output()
            .unwrap(),
    );
    let before = export(dir, "data");
    let o = bs(dir, &["backup", "create", "--repo", "small/repo"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("No space left on device"), "{err}");
    assert!(
        err.contains("small/repo"),
        "the error names the path: {err}"
    );
    verifies(dir, "small/repo");
    let ls = ok(bs(dir, &["backup", "ls", "--repo", "small/repo"]));
    assert_eq!(ls.lines().count(), 1, "{ls}");
    assert_eq!(export(dir, "data"), before, "the source store changed");
    // Prune frees what the failed run wrote; the small snapshot still restores.
    ok(bs(dir, &["backup", "prune", "--repo", "small/repo"]));
    verifies(dir, "small/repo");
    ok(bs(
        dir,
        &[
            "backup",
            "restore",
            "--repo",
            "small/repo",
            "--to",
            "restored",
        ],
    ));
    assert_eq!(export(dir, "tiny"), export(dir, "restored"));
}

/// Every file under `dir` (recursively).
fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files(&p));
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Run `backup follow` until `repo/<folder>` holds an object (at most 60 s), then SIGKILL it.
fn follow_until(dir: &Path, folder: &str) {
    let mut child = cmd(
        dir,
        "data",
        &["backup", "follow", "--repo", "repo", "--every", "100ms"],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let t = std::time::Instant::now();
    while files(&dir.join("repo").join(folder)).is_empty() {
        assert!(t.elapsed() < Duration::from_secs(60), "no {folder} written");
        assert!(child.try_wait().unwrap().is_none(), "follow stopped");
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn segments_are_listed_and_a_missing_segment_chunk_is_named_by_verify() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    populate(dir, "data", 40, 300, 1);
    init(dir, "repo");
    // The first follow takes a full snapshot; the second ships the changes after it.
    follow_until(dir, "snapshots");
    let snapshot_packs = files(&dir.join("repo/packs"));
    populate(dir, "data", 20, 300, 2);
    follow_until(dir, "segments");
    let ls = ok(bs(dir, &["backup", "ls", "--repo", "repo"]));
    assert!(
        ls.contains("segments  lsn ") && ls.contains(" changes, "),
        "{ls}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&ok(bs(dir, &["--json", "backup", "ls", "--repo", "repo"]))).unwrap();
    let segs: Vec<_> = json
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "segment")
        .collect();
    assert!(!segs.is_empty(), "{json}");
    assert!(segs[0]["last_lsn"].as_u64() >= segs[0]["first_lsn"].as_u64());
    let v = ok(bs(
        dir,
        &["backup", "verify", "--repo", "repo", "--read-data"],
    ));
    assert!(
        v.contains("no problems") && !v.contains(" 0 segments"),
        "{v}"
    );
    // Delete a pack only segments use: verify names the segment and the chunk.
    let pack = files(&dir.join("repo/packs"))
        .into_iter()
        .find(|p| !snapshot_packs.contains(p))
        .expect("a segment pack");
    std::fs::remove_file(&pack).unwrap();
    let o = bs(dir, &["backup", "verify", "--repo", "repo"]);
    assert_eq!(o.status.code(), Some(4));
    let out = String::from_utf8_lossy(&o.stdout);
    let name = pack.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        out.contains("problem: segment segments/")
            && out.contains(": chunk ")
            && out.contains(&name)
            && out.contains("does not exist"),
        "{out}"
    );
}
