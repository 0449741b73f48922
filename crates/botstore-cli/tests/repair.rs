//! `botstore repair` on a data folder whose journal is damaged in a middle frame: the store
//! refuses to open, repair reports the choices and changes nothing without --yes, then
//! skips the damaged frame; what survives is what the report said.

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
        .unwrap();
    Run {
        code: o.status.code().unwrap_or(-1),
        stdout: o.stdout,
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// 10 acknowledged puts still only in the journal: the folder is copied while the store
/// is open, before a checkpoint (what a SIGKILL leaves).
fn crash_image(live: &Path, img: &Path) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let s = botstore::open(live.to_str().unwrap(), botstore::OpenOptions::default()).unwrap();
        let ns = botstore::Namespace::new(["t"]);
        for i in 0..10 {
            s.put(
                &ns,
                &format!("k{i}"),
                botstore::Value::json_text(i.to_string()),
            )
            .await
            .unwrap();
        }
        std::fs::create_dir_all(img).unwrap();
        for f in ["store.redb", "wal.log"] {
            std::fs::copy(live.join(f), img.join(f)).unwrap();
        }
        s.close().unwrap();
    });
}

/// Offset of frame `n` (version 2 frames: a 44-byte header, body_len at bytes 4..8).
fn frame_offset(wal: &[u8], n: usize) -> usize {
    let mut o = 0;
    for _ in 0..n {
        assert_eq!(&wal[o..o + 4], b"BSJ3");
        o += 44 + u32::from_le_bytes(wal[o + 4..o + 8].try_into().unwrap()) as usize;
    }
    o
}

#[test]
fn repair_reports_then_skips_the_damaged_frame() {
    let root = tempfile::tempdir().unwrap();
    let (live, img) = (root.path().join("live"), root.path().join("img"));
    crash_image(&live, &img);
    let wal_path = img.join("wal.log");
    let mut wal = std::fs::read(&wal_path).unwrap();
    let at = frame_offset(&wal, 5) + 50;
    wal[at] ^= 0x01;
    std::fs::write(&wal_path, &wal).unwrap();

    bs(&img, &["get", "t", "k0"]).fails(4, "botstore repair --data");

    let r = bs(&img, &["repair"]).fails(4, "needs repair");
    let out = r.out();
    for part in [
        "frame 5",
        "4 valid frame(s)",
        "--cut-at-damage",
        "--skip-damaged",
    ] {
        assert!(out.contains(part), "{part:?} missing: {out}");
    }
    let r = bs(&img, &["repair", "--json"]).fails(4, "needs repair");
    let j = r.json();
    assert_eq!(j["clean"], false);
    assert_eq!(j["choices"][0]["lost_frames"], 5);
    assert_eq!(j["choices"][1]["kept_frames"], 9);
    assert_eq!(j["choices"][1]["lost_lsns"][0]["first"], 6);

    // A choice without --yes changes nothing.
    bs(&img, &["repair", "--skip-damaged"]).fails(4, "needs repair");
    assert_eq!(std::fs::read(&wal_path).unwrap(), wal);
    // --yes needs a choice.
    assert_eq!(bs(&img, &["repair", "--yes"]).code, 2);

    let r = bs(&img, &["repair", "--skip-damaged", "--yes"]).ok();
    assert!(r.out().contains("repaired"), "{}", r.out());
    let kept: Vec<_> = std::fs::read_dir(&img)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("wal.log.damaged-")
        })
        .collect();
    assert_eq!(kept.len(), 1);
    assert_eq!(std::fs::read(kept[0].path()).unwrap(), wal);

    let r = bs(&img, &["repair"]).ok();
    assert!(r.out().contains("nothing to repair"), "{}", r.out());
    bs(&img, &["get", "t", "k5"]).fails(1, "");
    for k in ["k0", "k4", "k6", "k9"] {
        bs(&img, &["get", "t", k]).ok();
    }
}
