//! `botstore repair`: report what a refused journal holds and, on request, repair it
//! (`botstore::repair`, embedded data folders only).

use crate::cli::Cli;
use crate::exit::Failure;
use botstore::repair::{self, Choice, Inspection, Plan};
use botstore::ErrorKind;
use clap::Args;
use serde_json::json;
use std::io::Write;

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("choice").args(["cut_at_damage", "skip_damaged"])))]
pub struct RepairArgs {
    #[command(flatten)]
    pub local_only: crate::cli::LocalOnly,
    /// Keep the frames before the damage; drop the bad frame and every frame after it.
    #[arg(long)]
    pub cut_at_damage: bool,
    /// Drop only the damaged bytes; keep the valid frames after them, then rebuild the
    /// namespace counters and the expiry index.
    #[arg(long)]
    pub skip_damaged: bool,
    /// Carry the choice out (without it, a choice only prints what it would do).
    #[arg(long, requires = "choice")]
    pub yes: bool,
}

fn plans(ins: &Inspection) -> Vec<Plan> {
    [Choice::CutAtDamage, Choice::SkipDamaged]
        .into_iter()
        .filter_map(|c| ins.plan(c))
        .collect()
}

fn plan_json(p: &Plan) -> serde_json::Value {
    json!({
        "choice": p.choice.flag(),
        "kept_frames": p.kept_frames,
        "kept_records": p.kept_writes,
        "lost_frames": p.lost_frames,
        "lost_records": p.lost_writes,
        "lost_lsns": p.lost_lsns.iter().map(|(a, b)| json!({"first": a, "last": b})).collect::<Vec<_>>(),
        "possible": p.refused.is_none(),
        "refused": p.refused,
        "notes": p.notes,
    })
}

pub fn run(cli: &Cli, a: &RepairArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    // --remote is refused before this (`commands::refuse_remote_options`).
    let dir = &cli.data;
    let ins = repair::inspect(dir)?;
    let choice = match (a.cut_at_damage, a.skip_damaged) {
        (true, _) => Some(Choice::CutAtDamage),
        (_, true) => Some(Choice::SkipDamaged),
        _ => None,
    };
    let plans = plans(&ins);
    if !(a.yes && choice.is_some()) {
        if cli.json {
            serde_json::to_writer_pretty(
                &mut *out,
                &json!({
                    "data": dir,
                    "clean": ins.is_clean(),
                    "report": ins.report(),
                    "choices": plans.iter().map(plan_json).collect::<Vec<_>>(),
                }),
            )?;
            writeln!(out)?;
        } else {
            writeln!(out, "{}", ins.report())?;
            if ins.is_clean() {
                writeln!(out, "nothing to repair: the store opens as it is")?;
            }
            if !plans.is_empty() {
                writeln!(out, "\nchoices (nothing is changed without --yes):")?;
                for p in plans
                    .iter()
                    .filter(|p| choice.is_none_or(|c| c == p.choice))
                {
                    writeln!(out, "  {}", p.describe().replace('\n', "\n  "))?;
                }
                writeln!(
                    out,
                    "\nboth keep the journal as wal.log.damaged-<unix time> and end with a \
                     checkpoint; run again with the choice and --yes"
                )?;
            }
        }
        if ins.is_clean() {
            return Ok(());
        }
        return Err(Failure::new(
            ErrorKind::Internal,
            format!("{} needs repair; nothing was changed", dir.display()),
        )
        .into());
    }
    let Some(choice) = choice else {
        return Ok(());
    };
    let done = repair::repair(dir, choice)?;
    if cli.json {
        serde_json::to_writer_pretty(
            &mut *out,
            &json!({
                "data": dir,
                "repaired": plan_json(&done.plan),
                "journal_kept_as": done.kept_as,
            }),
        )?;
        writeln!(out)?;
    } else {
        writeln!(out, "repaired {}", dir.display())?;
        writeln!(out, "  {}", done.plan.describe().replace('\n', "\n  "))?;
        writeln!(
            out,
            "the original journal is kept as {}",
            done.kept_as.display()
        )?;
    }
    Ok(())
}
