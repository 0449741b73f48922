//! `stream append`, `stream read`, `stream trim`.

use super::{parse_ns, Ctx};
use crate::cli::{AppendArgs, ReadArgs, TrimArgs};
use crate::exit::Failure;
use crate::output::{self, EntryOut};
use anyhow::Context;
use botstore::{Direction, ErrorKind, TrimTo, Value};
use serde::Serialize;
use serde_json::json;
use std::io::{self, BufRead, Write};

pub async fn append(ctx: &Ctx, a: AppendArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let ns = parse_ns(&a.ns);
    let entries: Vec<Value> = if a.values.is_empty() {
        let mut entries = Vec::new();
        let mut line = Vec::new();
        let mut stdin = io::stdin().lock();
        loop {
            line.clear();
            if stdin
                .read_until(b'\n', &mut line)
                .context("reading stdin")?
                == 0
            {
                break;
            }
            let text = line.trim_ascii();
            if !text.is_empty() {
                entries.push(Value::json_text(text));
            }
        }
        entries
    } else {
        a.values
            .iter()
            .map(|v| Value::json_text(v.trim()))
            .collect()
    };
    let (first, last) = ctx
        .db
        .append(&ns, &a.stream, entries, a.expect_last)
        .await?;
    if ctx.json {
        output::json_doc(out, &json!({"first_seq": first, "last_seq": last}))
    } else {
        writeln!(out, "appended {first}..{last}")?;
        Ok(())
    }
}

pub async fn read(ctx: &Ctx, a: ReadArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let ns = parse_ns(&a.ns);
    let Some(info) = ctx.db.stream_info(&ns, &a.stream).await? else {
        return Err(Failure::new(
            ErrorKind::NotFound,
            format!("not found: stream {ns}/{}", a.stream),
        )
        .into());
    };
    let dir = if a.backward {
        Direction::Backward
    } else {
        Direction::Forward
    };
    let entries = ctx
        .db
        .read_stream(&ns, &a.stream, a.from, dir, a.limit)
        .await?;
    // Where the next page starts, when there is one.
    let next = match entries.last() {
        Some(e) if entries.len() == a.limit => match dir {
            Direction::Forward => (e.seq < info.last_seq).then(|| e.seq + 1),
            Direction::Backward => (e.seq > info.first_seq).then(|| e.seq - 1),
        },
        _ => None,
    };
    if ctx.json {
        let list = entries
            .iter()
            .map(EntryOut::new)
            .collect::<anyhow::Result<Vec<_>>>()?;
        return output::json_doc(
            out,
            &EntriesPage {
                entries: list,
                next_from: next,
            },
        );
    }
    for e in &entries {
        writeln!(
            out,
            "{}\t{}\t{}",
            e.seq,
            output::human_time(e.at),
            output::value_line(&e.value)
        )?;
    }
    if let Some(n) = next {
        eprintln!("next: --from {n}");
    }
    Ok(())
}

/// `stream read --json`.
#[derive(Serialize)]
struct EntriesPage<'a> {
    entries: Vec<EntryOut<'a>>,
    /// `--from` for the next page (None: no more).
    next_from: Option<u64>,
}

pub async fn trim(ctx: &Ctx, a: TrimArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let ns = parse_ns(&a.ns);
    let to = match (a.keep_last, a.before, a.older_than) {
        (Some(n), _, _) => TrimTo::KeepLast(n),
        (_, Some(s), _) => TrimTo::Before(s),
        (_, _, Some(d)) => TrimTo::OlderThan(
            ctx.db
                .now()
                .saturating_sub(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        ),
        (None, None, None) => {
            return Err(
                Failure::invalid("say where to cut: --keep-last, --before or --older-than").into(),
            )
        }
    };
    let removed = ctx.db.trim(&ns, &a.stream, to).await?;
    if ctx.json {
        output::json_doc(out, &json!({"removed": removed}))
    } else {
        writeln!(out, "removed {removed}")?;
        Ok(())
    }
}
