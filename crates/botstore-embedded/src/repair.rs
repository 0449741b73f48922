//! `botstore repair`: what a damaged journal holds, the choices, and carrying one out.
//!
//! [`inspect`] reads the data folder (nothing is changed) and reports the damage open
//! refused. Each [`Choice`] has a [`Plan`] that says exactly what it keeps and what it
//! loses. [`repair`] carries one out: the original journal is kept as
//! `wal.log.damaged-<unix time>`, the kept frames are applied to `store.redb` in one
//! durable commit that also starts the next journal generation (a checkpoint), and the
//! journal is emptied, so the store opens again.
//!
//! Why skipping damaged frames is safe only with a rebuild: frames hold whole records,
//! never deltas, so a frame after the damage writes its records completely and does not
//! need the lost frame to be applied first. But two tables are derived from the others:
//! the per-namespace counters and the expiry index. A frame written after the lost one
//! carries counters that count the lost frame's effects, and the lost frame may have
//! removed expiry entries. `--skip-damaged` therefore rebuilds both from the items and
//! stream metadata after applying the frames. What no rebuild can restore: the writes of
//! the lost LSNs themselves (listed in the report), conditions that later writes checked
//! against them (a write that required a lost version is kept), a stream whose lost
//! frame appended entries that a later frame's metadata counts, and the change feed's
//! records of the lost LSNs (the feed has a gap there).

use crate::journal::checks::{describe_damage, lsns};
use crate::journal::replay::{self, Damage, Expect, Owner, Scan};
use crate::journal::{self, Frame};
use crate::tables;
use botstore::codec::Table;
use botstore::restore::DerivedBuilder;
use botstore::{Error, Result};
use redb::{Database, ReadableDatabase, ReadableTable};
use std::path::{Path, PathBuf};

/// What to do about damage in the middle of the journal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choice {
    /// Keep the frames before the damage, drop the bad frame and everything after it.
    CutAtDamage,
    /// Drop only the bad bytes, keep the valid frames after them (then rebuild the
    /// derived tables).
    SkipDamaged,
}

impl Choice {
    pub fn flag(self) -> &'static str {
        match self {
            Choice::CutAtDamage => "--cut-at-damage",
            Choice::SkipDamaged => "--skip-damaged",
        }
    }
}

/// A data folder as repair finds it.
#[derive(Debug)]
pub struct Inspection {
    pub dir: PathBuf,
    pub journal: PathBuf,
    pub scan: Scan,
    pub generation: u64,
    pub store_id: Option<u64>,
    /// The last LSN store.redb holds (the LSN before the journal's first frame after a
    /// crash).
    pub base_lsn: Option<u64>,
}

/// What a choice keeps and loses.
#[derive(Debug, PartialEq)]
pub struct Plan {
    pub choice: Choice,
    /// Frames applied (prefix, plus the following frames for a skip).
    pub kept_frames: usize,
    pub kept_writes: usize,
    /// Frames known to be lost (valid frames dropped, or the bad frame when its header is
    /// readable); `None` when the number is unknown (the bad frame's header is damaged).
    pub lost_frames: Option<usize>,
    /// Key/value writes lost, when known (a damaged frame's body cannot be counted).
    pub lost_writes: Option<usize>,
    /// LSN ranges lost (first, last); a range starting at `None` is open below (the bad
    /// frame is the journal's first and store.redb does not say where it began).
    pub lost_lsns: Vec<(Option<u64>, u64)>,
    /// Why this choice cannot be carried out, if it cannot.
    pub refused: Option<String>,
    /// What else the user must know.
    pub notes: Vec<String>,
}

impl Plan {
    pub fn describe(&self) -> String {
        let mut s = format!(
            "{}: keeps {} frame(s) ({} records); loses ",
            self.choice.flag(),
            self.kept_frames,
            self.kept_writes
        );
        s += &match self.lost_frames {
            Some(n) => format!("{n} frame(s)"),
            None => "an unknown number of frames (the bad frame's header is damaged)".into(),
        };
        s += &match self.lost_writes {
            Some(n) => format!(", {n} key/value records"),
            None => ", records uncounted (a damaged frame cannot be read)".into(),
        };
        let ranges: Vec<String> = self
            .lost_lsns
            .iter()
            .map(|(a, b)| match a {
                Some(a) => lsns(*a, *b),
                None => format!("up to {b}"),
            })
            .collect();
        if !ranges.is_empty() {
            s += &format!(", LSNs {}", ranges.join(", "));
        }
        if let Some(r) = &self.refused {
            s += &format!("\n  not possible: {r}");
        }
        for n in &self.notes {
            s += &format!("\n  note: {n}");
        }
        s
    }
}

/// Read the folder and scan its journal; changes nothing.
pub fn inspect(dir: &Path) -> Result<Inspection> {
    let path = dir.join("store.redb");
    let journal_path = dir.join("wal.log");
    if !path.exists() {
        return Err(Error::Storage(if journal_path.exists() {
            format!(
                "{} is missing beside {}: repair cannot rebuild a store from its journal \
                 alone; put store.redb back or restore a backup",
                path.display(),
                journal_path.display()
            )
        } else {
            format!(
                "{} is not a botstore data folder (no store.redb)",
                dir.display()
            )
        }));
    }
    let bytes = journal::read_file(&crate::io::FileLayer::Plain, &journal_path)?;
    let db = open_db(&path, dir)?;
    let r = db.begin_read().map_err(Error::storage)?;
    let (generation, store_id, base_lsn) = (
        tables::journal_generation(&r)?,
        tables::store_id(&r)?,
        tables::last_lsn(&r)?,
    );
    let scan = replay::scan(
        &bytes,
        &Expect {
            generation,
            owner: store_id.map_or(Owner::Legacy, Owner::Id),
        },
    );
    Ok(Inspection {
        dir: dir.to_path_buf(),
        journal: journal_path,
        scan,
        generation,
        store_id,
        base_lsn,
    })
}

fn open_db(path: &Path, dir: &Path) -> Result<Database> {
    Database::builder().open(path).map_err(|e| match e {
        redb::DatabaseError::DatabaseAlreadyOpen => Error::Storage(format!(
            "data folder {} is in use by another botstore process: stop it first",
            dir.display()
        )),
        e => Error::Storage(format!("cannot open {}: {e}", path.display())),
    })
}

impl Inspection {
    /// True when open would accept the folder as it is.
    pub fn is_clean(&self) -> bool {
        self.scan.is_clean()
    }

    /// A report of what was found (several lines).
    pub fn report(&self) -> String {
        let s = &self.scan;
        let mut out = format!(
            "journal {}: {} bytes, generation {}, {} frame(s) to replay ({} records)",
            self.journal.display(),
            s.file_len,
            self.generation,
            s.frames.len(),
            s.spans.iter().map(|x| x.writes).sum::<usize>()
        );
        if let (Some(a), Some(b)) = (s.spans.first(), s.spans.last()) {
            out += &format!(", LSNs {}", lsns(a.first_lsn, b.last_lsn));
        }
        if let Some(t) = s.torn {
            out += &format!(
                "\ntorn tail at offset {}: {} bytes (an unacknowledged write; open drops it)",
                t.offset, t.bytes
            );
        }
        if let Some(d) = &s.damage {
            out += &format!("\n{}", describe_damage(d));
        }
        if let Some(e) = journal::checks::refusal(s, &self.journal, &self.dir) {
            if !s.foreign.is_empty() || !s.newer.is_empty() {
                out += &format!("\n{e}");
            }
        }
        out
    }

    /// What `choice` would keep and lose; `None` without damage.
    pub fn plan(&self, choice: Choice) -> Option<Plan> {
        let d = self.scan.damage.as_ref()?;
        let prefix_writes: usize = self.scan.spans.iter().map(|s| s.writes).sum();
        // The LSN the bad frame began at: after the prefix, or after what redb holds.
        let start = match self.scan.spans.last() {
            Some(s) => s.last_lsn.checked_add(1),
            None => self.base_lsn.and_then(|l| l.checked_add(1)),
        };
        let bad = bad_region(d, start);
        let mut notes = Vec::new();
        if !self.scan.foreign.is_empty() || !self.scan.newer.is_empty() {
            notes.push(
                "the journal also holds frames of another store or a newer generation; \
                 they are not applied"
                    .into(),
            );
        }
        Some(match choice {
            Choice::CutAtDamage => {
                let mut lost_lsns = Vec::new();
                let end = d.following_lsns().map(|(_, b)| b);
                if let Some(end) = end {
                    lost_lsns.push((start, end));
                }
                Plan {
                    choice,
                    kept_frames: self.scan.frames.len(),
                    kept_writes: prefix_writes,
                    lost_frames: bad.frames.map(|n| n + d.following.len()),
                    lost_writes: None,
                    lost_lsns,
                    refused: None,
                    notes: {
                        notes.push(format!(
                            "the {} valid frame(s) after the damage hold {} records that are \
                             lost too",
                            d.following.len(),
                            d.following_writes()
                        ));
                        notes
                    },
                }
            }
            Choice::SkipDamaged => {
                let refused = skip_refusal(d, start);
                notes.push(
                    "the namespace counters and the expiry index are rebuilt from the items \
                     and streams"
                        .into(),
                );
                notes.push(
                    "later writes that were conditional on a lost write are kept; the change \
                     feed has no records of the lost LSNs (take a full backup afterwards)"
                        .into(),
                );
                Plan {
                    choice,
                    kept_frames: self.scan.frames.len() + d.following.len(),
                    kept_writes: prefix_writes + d.following_writes(),
                    lost_frames: bad.frames,
                    lost_writes: None,
                    lost_lsns: bad.lsns,
                    refused,
                    notes,
                }
            }
        })
    }
}

/// What the damaged bytes between the prefix and the frames after it held.
struct BadRegion {
    /// Frames in the damaged bytes, when the bad frame's header tells (it claims a length
    /// that ends exactly where the next valid frame begins).
    frames: Option<usize>,
    /// LSNs missing between the prefix and each following frame, and between them.
    lsns: Vec<(Option<u64>, u64)>,
}

fn bad_region(d: &Damage, start: Option<u64>) -> BadRegion {
    let mut lsns = Vec::new();
    let mut next = start;
    let mut known = true;
    for s in &d.following_spans {
        match next {
            Some(n) if s.first_lsn > n => lsns.push((Some(n), s.first_lsn - 1)),
            Some(_) => {}
            None => {
                if s.first_lsn > 1 {
                    lsns.push((None, s.first_lsn - 1));
                }
                known = false;
            }
        }
        next = s.last_lsn.checked_add(1);
    }
    // One bad frame exactly when its claimed LSNs fill the gap before the next frame.
    let frames = match (d.claimed, lsns.first()) {
        (Some((a, b)), Some((Some(x), y))) if known && a == *x && b == *y && lsns.len() == 1 => {
            Some(1)
        }
        _ if lsns.is_empty() && d.following_spans.first().map(|s| s.offset) == Some(d.offset) => {
            Some(0)
        }
        _ => None,
    };
    BadRegion { frames, lsns }
}

/// Why the frames after the damage cannot be kept on their own, if they cannot.
fn skip_refusal(d: &Damage, start: Option<u64>) -> Option<String> {
    let mut prev: Option<u64> = start.and_then(|s| s.checked_sub(1));
    if let Some(off) = d.undecodable.first() {
        return Some(format!(
            "the frame at offset {off} has a valid checksum but a body this build does not \
             understand"
        ));
    }
    for s in &d.following_spans {
        if let Some(p) = prev {
            if s.first_lsn <= p {
                return Some(format!(
                    "the frame at offset {} repeats LSNs up to {p} (LSN {} again): the frames \
                     after the damage do not continue the log, so which of them hold the \
                     acknowledged writes is unknown",
                    s.offset, s.first_lsn
                ));
            }
        }
        prev = Some(s.last_lsn);
    }
    None
}

/// What [`repair`] did.
#[derive(Debug)]
pub struct Repaired {
    pub plan: Plan,
    /// Where the original journal was kept.
    pub kept_as: PathBuf,
}

/// Carry out `choice` on the folder. Fails, changing nothing, when there is no damage or
/// the choice is not possible.
pub fn repair(dir: &Path, choice: Choice) -> Result<Repaired> {
    let ins = inspect(dir)?;
    let Some(plan) = ins.plan(choice) else {
        return Err(Error::Storage(format!(
            "the journal of {} has no damage to repair{}",
            dir.display(),
            if ins.is_clean() {
                ""
            } else {
                " (it belongs to another store or a newer state: see `botstore repair`)"
            }
        )));
    };
    if !ins.scan.foreign.is_empty() || !ins.scan.newer.is_empty() {
        return Err(Error::Storage(format!(
            "not repaired: the journal belongs to another store or a newer state of this one \
             ({} frame(s) of another store, {} of a newer generation); neither choice applies",
            ins.scan.foreign.len(),
            ins.scan.newer.len()
        )));
    }
    if let Some(r) = &plan.refused {
        return Err(Error::Storage(format!(
            "{} is not possible: {r}",
            choice.flag()
        )));
    }
    let Some(d) = ins.scan.damage else {
        return Err(Error::Corrupt("damage vanished between scans".into()));
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |t| t.as_secs());
    let kept_as = dir.join(format!("wal.log.damaged-{now}"));
    let io = |what: &str, e: std::io::Error| Error::Storage(format!("{what}: {e}"));
    std::fs::copy(&ins.journal, &kept_as).map_err(|e| {
        io(
            &format!("cannot copy the journal to {}", kept_as.display()),
            e,
        )
    })?;
    std::fs::File::open(&kept_as)
        .and_then(|f| f.sync_all())
        .map_err(|e| io("cannot flush the journal's copy", e))?;
    let mut frames: Vec<&Frame> = ins.scan.frames.iter().collect();
    if choice == Choice::SkipDamaged {
        frames.extend(d.following.iter());
    }
    let db = open_db(&dir.join("store.redb"), dir)?;
    let mut txn = db.begin_write().map_err(Error::storage)?;
    txn.set_durability(redb::Durability::Immediate)
        .map_err(Error::storage)?;
    txn.set_quick_repair(true);
    tables::create_all(&txn)?;
    for f in &frames {
        tables::apply_writes(
            &txn,
            f.writes
                .iter()
                .map(|(t, k, v)| (*t, k.as_slice(), v.as_deref())),
        )?;
    }
    // A store written before record checks is sealed here, as its next open would.
    tables::seal_unchecked_records(&txn, &format!("store.redb in {}", dir.display()))?;
    if choice == Choice::SkipDamaged {
        rebuild_derived(&txn, &format!("store.redb in {}", dir.display()))?;
    }
    tables::set_journal_generation(&txn, ins.generation + 1)?;
    tables::set_store_id(&txn, ins.store_id.unwrap_or_else(tables::new_store_id))?;
    txn.commit().map_err(Error::storage)?;
    drop(db);
    // Every frame in the journal is now of an older generation; empty it all the same, so
    // no stale frame outlives the repair.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&ins.journal)
        .and_then(|f| {
            f.set_len(0)?;
            f.sync_all()
        })
        .map_err(|e| io("cannot empty the journal", e))?;
    Ok(Repaired { plan, kept_as })
}

/// Recompute the namespace counters and the expiry index from the items and streams.
fn rebuild_derived(txn: &redb::WriteTransaction, origin: &str) -> Result<()> {
    use botstore::record_check::{open, sealed};
    let mut b = DerivedBuilder::new();
    let mut expiry = Vec::new();
    {
        let items = txn
            .open_table(tables::def(Table::Items))
            .map_err(tables::table_error)?;
        for e in items.iter().map_err(Error::storage)? {
            let (k, v) = e.map_err(Error::storage)?;
            let body = open(Table::Items, k.value(), v.value(), origin)?;
            if let Some(x) = b.item(k.value(), body)? {
                expiry.push(x);
            }
        }
        let streams = txn
            .open_table(tables::def(Table::Streams))
            .map_err(tables::table_error)?;
        for e in streams.iter().map_err(Error::storage)? {
            let (k, v) = e.map_err(Error::storage)?;
            b.stream(
                k.value(),
                open(Table::Streams, k.value(), v.value(), origin)?,
            )?;
        }
    }
    for (t, records) in [
        (Table::Expiry, expiry),
        (Table::Namespaces, b.namespace_records().collect()),
    ] {
        let mut tab = txn
            .open_table(tables::def(t))
            .map_err(tables::table_error)?;
        tab.retain(|_, _| false).map_err(Error::storage)?;
        for (k, v) in records {
            tab.insert(k.as_slice(), sealed(t, &k, &v).as_slice())
                .map_err(Error::storage)?;
        }
    }
    Ok(())
}
