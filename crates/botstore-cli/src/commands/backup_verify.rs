//! `backup verify`: the repository checked, and for each snapshot whether it can still be
//! restored.

use super::{blocking, fail, open_repo, VerifyArgs};
use crate::exit::Failure;
use crate::output::{human_bytes, json_doc};
use crate::progress::bytes_bar;
use botstore::ErrorKind;
use std::io::Write;

pub async fn verify(a: &VerifyArgs, json: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    let repo = open_repo(&a.repo)?;
    let read_data = a.read_data;
    let bar = bytes_bar(None, json || !read_data);
    let b2 = bar.clone();
    let report = blocking(move || {
        let p = |done: u64, total: u64| {
            b2.set_length(total);
            b2.set_position(done);
        };
        botstore_backup::verify(&repo, read_data, Some(&p)).map_err(fail)
    })
    .await?;
    bar.finish_and_clear();
    if json {
        json_doc(out, &report)?;
    } else {
        for p in &report.problems {
            writeln!(out, "problem: {p}")?;
        }
        for line in verify_status(&report) {
            writeln!(out, "{line}")?;
        }
        writeln!(
            out,
            "{} snapshots, {} segments, {} indexes, {} packs, {} chunk references{}: {}",
            report.snapshots,
            report.segments,
            report.indexes,
            report.packs,
            report.chunks,
            if read_data {
                format!(
                    ", {} blobs read ({})",
                    report.chunks_read,
                    human_bytes(report.bytes_read)
                )
            } else {
                String::new()
            },
            if report.ok() {
                "no problems".to_string()
            } else {
                format!("{} problems", report.problems.len())
            }
        )?;
        writeln!(
            out,
            "{} of {} snapshots restorable{}",
            report.restorable,
            report.snapshots,
            if read_data {
                ""
            } else {
                " (blobs not read: --read-data also checks every blob)"
            }
        )?;
    }
    if !report.ok() {
        out.flush()?;
        return Err(Failure::new(
            ErrorKind::Internal,
            format!(
                "verify found {} problems; {} of {} snapshots restorable",
                report.problems.len(),
                report.restorable,
                report.snapshots
            ),
        )
        .into());
    }
    Ok(())
}

/// One line per snapshot: restorable, or what stops it.
fn verify_status(r: &botstore_backup::VerifyReport) -> Vec<String> {
    r.status
        .iter()
        .map(|s| {
            let what = match (&s.kind, s.lsn) {
                (Some(k), Some(l)) => format!("{k:<5} lsn {l}"),
                _ => "(manifest unreadable)".to_string(),
            };
            if s.restorable {
                format!("snapshot {}  {what}: restorable", s.id)
            } else {
                format!(
                    "snapshot {}  {what}: NOT restorable: {}",
                    s.id,
                    s.damage.join("; ")
                )
            }
        })
        .collect()
}
