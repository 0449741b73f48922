//! `export [--ns PREFIX]`: every item, then every stream entry, as JSON Lines on stdout
//! (format: [`crate::jsonl`]). Pages through the store, so memory stays constant.

use super::{parse_ns, Ctx};
use crate::cli::ExportArgs;
use crate::jsonl;
use botstore::{Direction, Scan};
use std::io::{IsTerminal, Write};

const PAGE: usize = 1000;

pub async fn export(ctx: &Ctx, a: ExportArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let store = &ctx.db;
    let prefix = parse_ns(&a.ns);
    let (mut items, mut entries) = (0u64, 0u64);

    let mut cursor = None;
    loop {
        let page = store
            .scan(&Scan {
                ns: prefix.clone(),
                recursive: true,
                cursor,
                limit: PAGE,
                ..Scan::default()
            })
            .await?;
        let now = store.now();
        for item in &page.items {
            items += jsonl::write_item(out, item, now)? as u64;
        }
        match page.cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }

    let mut cursor: Option<String> = None;
    loop {
        let streams = store.list_streams(&prefix, PAGE, cursor.as_deref()).await?;
        for (ns, stream) in &streams.items {
            let mut from = None;
            loop {
                let page = store
                    .read_stream(ns, stream, from, Direction::Forward, PAGE)
                    .await?;
                for e in &page {
                    jsonl::write_entry(out, ns, stream, &e.value)?;
                }
                entries += page.len() as u64;
                match page.last() {
                    Some(last) if page.len() == PAGE => from = Some(last.seq + 1),
                    _ => break,
                }
            }
        }
        match streams.cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }

    if !ctx.json && std::io::stderr().is_terminal() {
        eprintln!("exported {items} items and {entries} stream entries");
    }
    Ok(())
}
