//! `verify`: walk every record of the store in --data and print every damaged one with its
//! address (`botstore::verify`). Exit code 0 when nothing is damaged, 4 otherwise.

use crate::cli::{Cli, VerifyArgs};
use crate::exit::Failure;
use botstore::{ErrorKind, StoreOptions, VerifyOptions};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::time::Duration;

pub async fn verify(cli: &Cli, a: &VerifyArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    // --remote is refused before this (`commands::refuse_remote_options`).
    let store = super::open_local(cli, &cli.data, StoreOptions::default())?;
    let bar = spinner(cli.json);
    let opts = VerifyOptions {
        records_per_second: a.rate,
    };
    let report = tokio::task::block_in_place(|| store.verify(&opts, &mut |n| bar.set_position(n)));
    bar.finish_and_clear();
    let report = report?;
    if cli.json {
        let damage: Vec<_> = report
            .damage
            .iter()
            .map(|d| {
                serde_json::json!({
                    "table": d.table.name(), "address": d.address, "problem": d.problem
                })
            })
            .collect();
        let tables: serde_json::Map<_, _> = report
            .records
            .iter()
            .map(|(t, n)| (t.name().to_string(), serde_json::json!(n)))
            .collect();
        serde_json::to_writer(
            &mut *out,
            &serde_json::json!({
                "origin": report.origin,
                "records": report.total_records(),
                "bytes": report.bytes,
                "tables": tables,
                "damaged": damage,
                "clean": report.is_clean(),
            }),
        )?;
        writeln!(out)?;
    } else {
        for d in &report.damage {
            writeln!(out, "damaged: {d}")?;
        }
        writeln!(
            out,
            "checked {} records ({:.1} MiB) in {}: {}",
            report.total_records(),
            report.bytes as f64 / (1 << 20) as f64,
            report.origin,
            match report.damage.len() {
                0 => "no damage".to_string(),
                1 => "1 damaged record".to_string(),
                n => format!("{n} damaged records"),
            }
        )?;
    }
    if !report.is_clean() {
        out.flush()?;
        return Err(Failure::new(
            ErrorKind::Internal,
            format!(
                "{} damaged records in {}; restore them from a backup (`botstore backup \
                 restore`), or export what is intact with `botstore export --skip-damaged`",
                report.damage.len(),
                report.origin
            ),
        )
        .into());
    }
    Ok(())
}

fn spinner(quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()).with_style(
        ProgressStyle::with_template(
            "{spinner} {elapsed_precise} {pos} records checked ({per_sec})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}
