//! `botstore backup` with part of the repository damaged, with the real binary: an intact
//! snapshot still restores, `verify` says which snapshots are restorable, and a damaged
//! `config` is reported as damage, not as a wrong password (issue 11, point 6).

// Test code: helpers outside #[test] fns unwrap too; a panic is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const PW: &str = "s3cret";

fn cmd(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_botstore"));
    c.current_dir(dir)
        .env_remove("BOTSTORE_DATA")
        .env_remove("BOTSTORE_BACKUP_REPO")
        .env("BOTSTORE_BACKUP_PASSWORD", PW)
        .args(["--durability", "relaxed", "--data", "data"])
        .args(args);
    c
}

fn bs(dir: &Path, args: &[&str]) -> Output {
    cmd(dir, args).output().unwrap()
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

/// `n` items of poorly compressible text; `salt` changes their values.
fn populate(dir: &Path, keys: impl Iterator<Item = u64>, salt: u64) {
    let file = dir.join(format!("import-{salt}.jsonl"));
    let mut f = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
    for i in keys {
        let mut x = (i + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ salt;
        let mut s = String::new();
        while s.len() < 300 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            s.push_str(&format!("{x:x} "));
        }
        let line = serde_json::json!({"ns": ["tenant", format!("t{}", i % 5)],
            "key": format!("k{i:07}"), "value": {"i": i, "s": s}});
        writeln!(f, "{line}").unwrap();
    }
    f.flush().unwrap();
    drop(f);
    ok(bs(dir, &["import", file.to_str().unwrap()]));
}

fn init(dir: &Path) {
    ok(bs(
        dir,
        &[
            "backup",
            "init",
            "--repo",
            "repo",
            "--kdf-memory-mib",
            "1",
            "--kdf-iterations",
            "1",
        ],
    ));
}

fn packs(dir: &Path) -> BTreeSet<PathBuf> {
    fn walk(p: &Path, out: &mut BTreeSet<PathBuf>) {
        for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                walk(&e.path(), out);
            } else {
                out.insert(e.path());
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(&dir.join("repo/packs"), &mut out);
    out
}

fn snapshot_ids(dir: &Path) -> Vec<String> {
    let ls = ok(bs(dir, &["--json", "backup", "ls", "--repo", "repo"]));
    let v: serde_json::Value = serde_json::from_str(&ls).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .filter(|s| s["kind"] != "segment")
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn damage_to_the_delta_leaves_the_full_snapshot_restorable_and_verify_says_which() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    populate(dir, 0..2000, 1);
    init(dir);
    ok(bs(dir, &["backup", "create", "--repo", "repo"]));
    let at_full = ok(bs(dir, &["export"]));
    populate(dir, (0..2000).step_by(41), 2);
    let before = packs(dir);
    ok(bs(dir, &["backup", "create", "--repo", "repo"]));
    let delta_packs: Vec<_> = packs(dir).difference(&before).cloned().collect();
    assert!(!delta_packs.is_empty());
    let ids = snapshot_ids(dir);
    let [full, delta] = [ids[0].clone(), ids[1].clone()];
    let mut b = std::fs::read(&delta_packs[0]).unwrap();
    let at = b.len() / 2;
    b[at] ^= 0x04;
    std::fs::write(&delta_packs[0], &b).unwrap();

    let o = bs(dir, &["backup", "verify", "--read-data", "--repo", "repo"]);
    assert_eq!(o.status.code(), Some(4));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains(&format!("snapshot {full}  full  lsn ")),
        "{text}"
    );
    let full_line = text.lines().find(|l| l.contains(&full)).unwrap();
    assert!(full_line.ends_with(": restorable"), "{text}");
    let delta_line = text
        .lines()
        .find(|l| l.starts_with(&format!("snapshot {delta}")))
        .unwrap();
    assert!(
        delta_line.contains("NOT restorable: chunk ")
            && delta_line.contains("authentication failed"),
        "{text}"
    );
    assert!(text.contains("1 of 2 snapshots restorable"), "{text}");

    let o = bs(dir, &["backup", "restore", "--repo", "repo", "--to", "r1"]);
    assert!(!o.status.success());
    ok(bs(
        dir,
        &[
            "backup",
            "restore",
            "--repo",
            "repo",
            "--to",
            "r2",
            "--snapshot",
            &full,
        ],
    ));
    let restored = ok(Command::new(env!("CARGO_BIN_EXE_botstore"))
        .current_dir(dir)
        .env_remove("BOTSTORE_DATA")
        .args(["--data", "r2", "export"])
        .output()
        .unwrap());
    assert!(
        restored == at_full,
        "the restore differs from the store at the full backup"
    );
}

#[test]
fn a_damaged_config_is_damage_and_a_wrong_password_is_a_wrong_password() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    populate(dir, 0..10, 1);
    init(dir);
    let config = std::fs::read(dir.join("repo/config")).unwrap();
    let o = cmd(dir, &["backup", "ls", "--repo", "repo"])
        .env("BOTSTORE_BACKUP_PASSWORD", "wrong")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("wrong password or key file"), "{err}");
    assert!(!err.contains("damaged"), "{err}");
    // One flipped byte inside the salt: before the checksum, a "wrong password".
    let text = String::from_utf8_lossy(&config).into_owned();
    let at = text.find("\"salt\": \"").unwrap() + 12;
    let mut c = config.clone();
    c[at] ^= 0x01;
    std::fs::write(dir.join("repo/config"), &c).unwrap();
    for pw in [PW, "wrong"] {
        let o = cmd(dir, &["backup", "ls", "--repo", "repo"])
            .env("BOTSTORE_BACKUP_PASSWORD", pw)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(4), "{pw}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("repository config is damaged: ") && err.contains("checksum"),
            "{err}"
        );
        assert!(!err.contains("wrong password"), "{err}");
    }
    // Cut short: damage too.
    std::fs::write(dir.join("repo/config"), &config[..config.len() - 10]).unwrap();
    let o = bs(dir, &["backup", "create", "--repo", "repo"]);
    assert_eq!(o.status.code(), Some(4));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("repository config is damaged: "), "{err}");
}
