//! Damaged records through the real `botstore` binary: `get` and `export` fail loudly
//! naming the record, `verify` lists it, `export --skip-damaged` writes the rest.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Run;
use std::path::Path;
use std::process::{Command, Stdio};

fn bs(data: &Path, args: &[&str]) -> Run {
    let o = Command::new(env!("CARGO_BIN_EXE_botstore"))
        .env_remove("BOTSTORE_DATA")
        .arg("--data")
        .arg(data)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run botstore");
    Run {
        code: o.status.code().expect("exit code"),
        stdout: o.stdout,
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

#[test]
fn a_flipped_bit_in_a_value_is_reported_not_served() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    for i in 0..50 {
        let v = format!(
            "{{\"n\":{i},\"text\":\"marker-{i:03}-{}\"}}",
            "x".repeat(100)
        );
        bs(&data, &["put", "t/u", &format!("k{i:03}"), &v]).ok();
    }
    bs(&data, &["verify"]).ok();

    // Flip one bit inside the value of t/u k007.
    let path = data.join("store.redb");
    let mut file = std::fs::read(&path).unwrap();
    let at = file
        .windows(10)
        .position(|w| w == b"marker-007")
        .expect("the value is in the file");
    file[at + 3] ^= 0x04;
    std::fs::write(&path, &file).unwrap();

    bs(&data, &["get", "t/u", "k007"]).fails(4, "damaged record");
    let r = bs(&data, &["get", "t/u", "k007"]);
    assert!(r.stderr.contains("t/u/k007"), "{}", r.stderr);
    assert!(r.stderr.contains("store.redb"), "{}", r.stderr);
    assert!(!r.out().contains("marker"), "no bytes of it are printed");
    bs(&data, &["get", "t/u", "k008"]).ok();

    bs(&data, &["export"]).fails(4, "t/u/k007");

    let r = bs(&data, &["verify"]).fails(4, "1 damaged records");
    assert!(r.out().contains("damaged: items t/u/k007"), "{}", r.out());
    let j = bs(&data, &["--json", "verify"]);
    assert_eq!(j.code, 4);
    let j = j.json();
    assert_eq!(j["clean"], false);
    assert_eq!(j["damaged"][0]["address"], "t/u/k007");

    let r = bs(&data, &["export", "--skip-damaged"]).ok();
    let lines: Vec<_> = r.out().lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 49, "every intact item is exported");
    assert!(!r.out().contains("marker-007") && r.out().contains("marker-008"));
    assert!(
        r.stderr.contains("skipped 1 damaged records"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("t/u/k007"), "{}", r.stderr);
}
