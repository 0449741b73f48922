//! What open refuses, and the errors that say why and what to do. Open calls these before
//! it changes anything on disk, so a refused open leaves the folder as it found it.

use super::replay::{Damage, Scan};
use botstore::Error;
use std::path::Path;

/// LSNs as `a..b` (or `a` when one).
pub fn lsns(first: u64, last: u64) -> String {
    if first == last {
        format!("{first}")
    } else {
        format!("{first}..{last}")
    }
}

/// One line on the damage: where, why, and what follows it.
pub fn describe_damage(d: &Damage) -> String {
    let follows = match d.following_lsns() {
        Some((a, b)) => format!(
            "{} valid frame(s) follow it (LSNs {}, {} records)",
            d.following.len(),
            lsns(a, b),
            d.following_writes()
        ),
        None => "no valid frame follows it".into(),
    };
    format!(
        "damaged at offset {} (frame {}: {}); {follows}",
        d.offset, d.frame, d.reason
    )
}

/// The error a refused open returns for `scan`, if it must refuse. A journal of another
/// store or of a newer generation explains any damage it seems to have, so those come first.
pub fn refusal(scan: &Scan, journal: &Path, dir: &Path) -> Option<Error> {
    let repair = format!(
        "run `botstore repair --data {}` to see the choices",
        dir.display()
    );
    if let Some((id, s)) = scan.foreign.first() {
        let whose = match id {
            Some(id) => format!("store id {id:016x}"),
            None => "a store written by an older build".into(),
        };
        return Some(Error::Corrupt(format!(
            "journal {} belongs to another store ({whose}; {} such frame(s), the first at \
             offset {}), not to the store.redb beside it. Nothing was changed: put back the \
             files that belong together, or move wal.log away to open store.redb without \
             it (its writes would be lost)",
            journal.display(),
            scan.foreign.len(),
            s.offset
        )));
    }
    if let Some(s) = scan.newer.first() {
        return Some(Error::Corrupt(format!(
            "journal {} holds {} frame(s) of generation {} (LSNs from {}), newer than the \
             last checkpoint store.redb knows: store.redb is older than its journal (copied \
             or restored from an earlier state?). Nothing was changed: put back the \
             store.redb that belongs to this journal",
            journal.display(),
            scan.newer.len(),
            s.generation,
            s.first_lsn
        )));
    }
    if let Some(d) = &scan.damage {
        return Some(Error::Corrupt(format!(
            "journal {} is {}; opening would lose them. Nothing was changed: {repair}",
            journal.display(),
            describe_damage(d)
        )));
    }
    None
}

/// The error for a journal with frames but no `store.redb`.
pub fn missing_database(scan: &Scan, journal: &Path, dir: &Path) -> Error {
    let frames = scan.frames.len()
        + scan.damage.as_ref().map_or(0, |d| d.following.len())
        + scan.newer.len()
        + scan.stale
        + scan.foreign.len();
    Error::Corrupt(format!(
        "{} is missing but journal {} holds {frames} frame(s) of writes: the store is \
         incomplete, not new. Nothing was changed: put back store.redb (or restore a \
         backup); to start an empty store here on purpose, move wal.log out of {}",
        dir.join("store.redb").display(),
        journal.display(),
        dir.display()
    ))
}
