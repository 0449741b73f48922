//! `put`, `get`, `del`, `ls`, `ns`.

use super::{parse_ns, read_stdin, Ctx};
use crate::cli::{DelArgs, ItemArgs, LsArgs, NsArgs, PutArgs};
use crate::exit::Failure;
use crate::output::{self, ItemOut};
use botstore::WriteOptions;
use botstore::{ErrorKind, Precondition, Rule, Scan, Ttl, Value};
use serde::Serialize;
use serde_json::json;
use std::io::Write;

pub async fn put(ctx: &Ctx, a: PutArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let ns = parse_ns(&a.ns);
    let data = match a.value {
        Some(v) => v.into_bytes(),
        None => read_stdin()?,
    };
    let value = if a.bytes {
        Value::bytes(a.content_type, data)
    } else {
        Value::json_text(data.trim_ascii())
    };
    let precondition = match (a.if_version, a.if_absent) {
        (Some(v), _) => Precondition::IfVersion(v),
        (None, true) => Precondition::IfAbsent,
        (None, false) => Precondition::Any,
    };
    let opts = WriteOptions {
        precondition,
        ttl: a.ttl.map_or(Ttl::Default, Ttl::After),
        subject: a.subject,
        fence: None,
    };
    let version = match ctx.db.put_with(&ns, &a.key, value, opts).await {
        Ok(v) => v,
        Err(
            e @ botstore::Error::InvalidInput {
                rule: Rule::Json, ..
            },
        ) => {
            return Err(anyhow::Error::from(e)
                .context("the value is not JSON (to store other bytes, use --bytes)"))
        }
        Err(e) => return Err(e.into()),
    };
    if ctx.json {
        output::json_doc(
            out,
            &json!({"ns": ns.segments(), "key": a.key, "version": version.0}),
        )
    } else {
        writeln!(out, "{version}")?;
        Ok(())
    }
}

pub async fn get(ctx: &Ctx, a: ItemArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let ns = parse_ns(&a.ns);
    let item = ctx.db.get(&ns, &a.key).await?.ok_or_else(|| {
        Failure::new(
            ErrorKind::NotFound,
            format!("not found: item {ns}/{}", a.key),
        )
    })?;
    if ctx.json {
        return output::json_doc(out, &ItemOut::new(&item)?);
    }
    out.write_all(&item.value.data)?;
    if item.value.is_json() && !item.value.data.ends_with(b"\n") {
        out.write_all(b"\n")?;
    }
    Ok(())
}

pub async fn del(ctx: &Ctx, a: DelArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let ns = parse_ns(&a.ns);
    let pre = a
        .if_version
        .map_or(Precondition::Any, Precondition::IfVersion);
    if !ctx.db.delete(&ns, &a.key, pre).await? {
        return Err(Failure::new(
            ErrorKind::NotFound,
            format!("not found: item {ns}/{} (nothing deleted)", a.key),
        )
        .into());
    }
    if ctx.json {
        output::json_doc(
            out,
            &json!({"ns": ns.segments(), "key": a.key, "deleted": true}),
        )
    } else {
        writeln!(out, "deleted")?;
        Ok(())
    }
}

pub async fn ls(ctx: &Ctx, a: LsArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let req = Scan {
        ns: parse_ns(&a.ns),
        recursive: a.recursive,
        key_prefix: a.prefix,
        start: a.start,
        end: a.end,
        cursor: a.cursor,
        limit: a.limit,
    };
    let page = ctx.db.scan(&req).await?;
    if ctx.json {
        let items = page
            .items
            .iter()
            .map(ItemOut::new)
            .collect::<anyhow::Result<Vec<_>>>()?;
        return output::json_doc(
            out,
            &ItemsPage {
                items,
                cursor: page.cursor,
            },
        );
    }
    for i in &page.items {
        if a.recursive {
            write!(out, "{}\t", i.ns)?;
        }
        writeln!(
            out,
            "{}\t{}\t{}",
            i.key,
            i.version,
            output::value_line(&i.value)
        )?;
    }
    if let Some(c) = page.cursor {
        eprintln!("next cursor: {c}");
    }
    Ok(())
}

/// `ls --json`.
#[derive(Serialize)]
struct ItemsPage<'a> {
    items: Vec<ItemOut<'a>>,
    cursor: Option<String>,
}

pub async fn ns(ctx: &Ctx, a: NsArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let prefix = parse_ns(&a.prefix);
    let depth = a.depth.map(|d| prefix.len() + d as usize);
    let page = ctx
        .db
        .list_namespaces(&prefix, depth, a.limit, a.cursor.as_deref())
        .await?;
    if ctx.json {
        let names: Vec<&[String]> = page.items.iter().map(|n| n.segments()).collect();
        return output::json_doc(out, &json!({"namespaces": names, "cursor": page.cursor}));
    }
    for n in &page.items {
        writeln!(out, "{n}")?;
    }
    if let Some(c) = page.cursor {
        eprintln!("next cursor: {c}");
    }
    Ok(())
}
