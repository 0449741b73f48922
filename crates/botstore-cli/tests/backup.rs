//! `botstore backup`: the real binary, end to end (init, create, delta, ls, verify,
//! restore, drill, and the errors people meet: wrong password, busy target, damage).

// Test code: helpers outside #[test] fns unwrap too; a panic is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value as Json;
use std::path::Path;
use std::process::{Command, Output};

fn bs(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_botstore"))
        .current_dir(dir)
        .env_remove("BOTSTORE_DATA")
        .env_remove("BOTSTORE_BACKUP_REPO")
        .env("BOTSTORE_BACKUP_PASSWORD", "s3cret")
        .args(["--durability", "relaxed"])
        .args(if args.contains(&"--data") {
            &[][..]
        } else {
            &["--data", "data"][..]
        })
        .args(args)
        .output()
        .unwrap()
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

#[test]
fn backup_round_trip_through_the_cli() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    for i in 0..20 {
        ok(bs(
            dir,
            &[
                "put",
                "t/users",
                &format!("u{i}"),
                &format!("{{\"n\":{i}}}"),
            ],
        ));
    }
    ok(bs(
        dir,
        &["stream", "append", "t/conv", "c1", "{\"m\":1}", "{\"m\":2}"],
    ));
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
    let full: Json = serde_json::from_str(&ok(bs(
        dir,
        &["--json", "backup", "create", "--repo", "repo"],
    )))
    .unwrap();
    assert_eq!(full["kind"], "full");
    ok(bs(dir, &["put", "t/users", "u3", "{\"n\":333}"]));
    ok(bs(dir, &["del", "t/users", "u4"]));
    let delta: Json = serde_json::from_str(&ok(bs(
        dir,
        &["--json", "backup", "create", "--repo", "repo"],
    )))
    .unwrap();
    assert_eq!(delta["kind"], "delta");
    assert_eq!(delta["parent"], full["snapshot"]);
    let human = ok(bs(dir, &["backup", "create", "--repo", "repo", "--full"]));
    // A store this small gets no ratio or rate (they would measure fixed costs).
    assert!(
        human.contains("(full) at lsn 23: 19 items, 1 stream (2 entries), 0 leases; ")
            && human.contains(" of records in 1 chunk (1 new), ")
            && !human.contains("dedup")
            && !human.contains("MiB/s"),
        "{human}"
    );
    let ls: Json =
        serde_json::from_str(&ok(bs(dir, &["--json", "backup", "ls", "--repo", "repo"]))).unwrap();
    assert_eq!(ls.as_array().unwrap().len(), 3);
    assert!(ok(bs(
        dir,
        &["backup", "verify", "--repo", "repo", "--read-data"]
    ))
    .contains("no problems"));
    // Restore the delta (its chain) and read from the new folder.
    let snap = delta["snapshot"].as_str().unwrap();
    ok(bs(
        dir,
        &[
            "backup",
            "restore",
            "--repo",
            "repo",
            "--to",
            "back",
            "--snapshot",
            snap,
        ],
    ));
    let got = ok(bs(dir, &["--data", "back", "get", "t/users", "u3"]));
    assert_eq!(got.trim(), "{\"n\":333}");
    assert_eq!(
        bs(dir, &["--data", "back", "get", "t/users", "u4"])
            .status
            .code(),
        Some(1)
    );
    assert_eq!(
        ok(bs(
            dir,
            &["--data", "back", "stream", "read", "t/conv", "c1"]
        ))
        .lines()
        .count(),
        2
    );
    assert!(ok(bs(dir, &["backup", "drill", "--repo", "repo"])).contains("drill ok"));
    // A non-empty target needs --force.
    let o = bs(
        dir,
        &["backup", "restore", "--repo", "repo", "--to", "back"],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--force"));
    // A wrong password says so.
    let o = Command::new(env!("CARGO_BIN_EXE_botstore"))
        .current_dir(dir)
        .env("BOTSTORE_BACKUP_PASSWORD", "nope")
        .args(["backup", "ls", "--repo", "repo"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("wrong password"));
    // A damaged pack: verify names the blob and fails; restore refuses.
    let packs = dir.join("repo/packs");
    let sub = std::fs::read_dir(&packs)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let pack = std::fs::read_dir(&sub)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut b = std::fs::read(&pack).unwrap();
    let at = b.len() / 2;
    b[at] ^= 1;
    std::fs::write(&pack, &b).unwrap();
    let o = bs(dir, &["backup", "verify", "--repo", "repo", "--read-data"]);
    assert_eq!(o.status.code(), Some(4));
    let name = pack.file_name().unwrap().to_string_lossy().into_owned();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("problem: chunk ") && stdout.contains(&name),
        "{stdout}"
    );
}
