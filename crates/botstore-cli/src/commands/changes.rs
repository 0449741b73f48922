//! `changes`: the change feed.

use super::Ctx;
use crate::cli::ChangesArgs;
use crate::output::{self, EntryOut, ItemOut};
use botstore::{Change, ChangeKind, Millis};
use serde::Serialize;
use std::io::Write;

pub async fn changes(ctx: &Ctx, a: ChangesArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let botstore::ChangePage {
        changes: list,
        next_since,
        ..
    } = ctx.db.changes(a.since, a.limit).await?;
    if ctx.json {
        let changes = list
            .iter()
            .map(change_out)
            .collect::<anyhow::Result<Vec<_>>>()?;
        return output::json_doc(
            out,
            &ChangesPage {
                changes,
                next_since,
            },
        );
    }
    for c in &list {
        writeln!(
            out,
            "{}\t{}\t{}",
            c.lsn,
            output::human_time(c.at),
            change_line(&c.kind)
        )?;
    }
    if list.len() == a.limit {
        eprintln!("next: --since {next_since}");
    }
    Ok(())
}

/// `changes --json`.
#[derive(Serialize)]
struct ChangesPage<'a> {
    changes: Vec<ChangeOut<'a>>,
    /// `--since` for the next page.
    next_since: u64,
}

/// A change as JSON: `lsn`, `at` (ms since the epoch), `kind` and the kind's fields.
#[derive(Serialize)]
struct ChangeOut<'a> {
    lsn: u64,
    at: Millis,
    #[serde(flatten)]
    kind: KindOut<'a>,
}

#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum KindOut<'a> {
    Put {
        item: ItemOut<'a>,
    },
    Delete {
        ns: &'a [String],
        key: &'a str,
    },
    Expire {
        ns: &'a [String],
        key: &'a str,
    },
    Append {
        ns: &'a [String],
        stream: &'a str,
        entries: Vec<EntryOut<'a>>,
    },
    Trim {
        ns: &'a [String],
        stream: &'a str,
        first_kept: u64,
        deleted_stream: bool,
    },
    Lease {
        ns: &'a [String],
        name: &'a str,
        released: bool,
    },
    NamespaceTtl {
        prefix: &'a [String],
        ttl_ms: Option<u64>,
    },
}

fn change_out(c: &Change) -> anyhow::Result<ChangeOut<'_>> {
    let kind = match &c.kind {
        ChangeKind::Put(item) => KindOut::Put {
            item: ItemOut::new(item)?,
        },
        ChangeKind::Delete { ns, key } => KindOut::Delete {
            ns: ns.segments(),
            key,
        },
        ChangeKind::Expire { ns, key } => KindOut::Expire {
            ns: ns.segments(),
            key,
        },
        ChangeKind::Append {
            ns,
            stream,
            entries,
        } => KindOut::Append {
            ns: ns.segments(),
            stream,
            entries: entries
                .iter()
                .map(EntryOut::new)
                .collect::<anyhow::Result<Vec<_>>>()?,
        },
        ChangeKind::Trim {
            ns,
            stream,
            first_kept,
            deleted_stream,
        } => KindOut::Trim {
            ns: ns.segments(),
            stream,
            first_kept: *first_kept,
            deleted_stream: *deleted_stream,
        },
        ChangeKind::Lease { ns, name, released } => KindOut::Lease {
            ns: ns.segments(),
            name,
            released: *released,
        },
        ChangeKind::NamespaceTtl { prefix, ttl_ms } => KindOut::NamespaceTtl {
            prefix: prefix.segments(),
            ttl_ms: *ttl_ms,
        },
    };
    Ok(ChangeOut {
        lsn: c.lsn,
        at: c.at,
        kind,
    })
}

/// A change on one line, for people.
fn change_line(k: &ChangeKind) -> String {
    match k {
        ChangeKind::Put(i) => format!(
            "put\t{}/{}\tv{}\t{}",
            i.ns,
            i.key,
            i.version,
            output::value_line(&i.value)
        ),
        ChangeKind::Delete { ns, key } => format!("delete\t{ns}/{key}"),
        ChangeKind::Expire { ns, key } => format!("expire\t{ns}/{key}"),
        ChangeKind::Append {
            ns,
            stream,
            entries,
        } => match (entries.first(), entries.last()) {
            (Some(f), Some(l)) => format!("append\t{ns}/{stream}\t{}..{}", f.seq, l.seq),
            _ => format!("append\t{ns}/{stream}"),
        },
        ChangeKind::Trim {
            ns,
            stream,
            first_kept,
            deleted_stream: true,
        } => format!("delete-stream\t{ns}/{stream}\t(up to {first_kept})"),
        ChangeKind::Trim {
            ns,
            stream,
            first_kept,
            ..
        } => format!("trim\t{ns}/{stream}\tfirst kept {first_kept}"),
        ChangeKind::Lease { ns, name, released } => format!(
            "lease\t{ns}/{name}\t{}",
            if *released { "released" } else { "held" }
        ),
        ChangeKind::NamespaceTtl { prefix, ttl_ms } => match ttl_ms {
            Some(ms) => format!("namespace-ttl\t{prefix}\t{ms} ms"),
            None => format!("namespace-ttl\t{prefix}\tcleared"),
        },
    }
}
