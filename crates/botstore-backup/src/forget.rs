//! `backup forget`: remove snapshots by a retention policy (restic's `--keep-*`
//! semantics), never one that a kept delta needs. Only manifests are removed; `prune`
//! then deletes the data no snapshot references.
//!
//! Per source (restic's snapshot group), newest first: `keep_last` keeps the N newest;
//! `keep_hourly` (daily, weekly, monthly, yearly) keeps the newest snapshot of each of
//! the last N hours (days, ISO weeks, months, years) that have one. Times are UTC. A
//! kept delta keeps its whole parent chain.

use crate::create::{chain, snapshots};
use crate::crypto::Repo;
use crate::format::Manifest;
use crate::{Error, Result};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeepPolicy {
    pub last: Option<u32>,
    pub hourly: Option<u32>,
    pub daily: Option<u32>,
    pub weekly: Option<u32>,
    pub monthly: Option<u32>,
    pub yearly: Option<u32>,
}

impl KeepPolicy {
    pub fn is_empty(&self) -> bool {
        [
            self.last,
            self.hourly,
            self.daily,
            self.weekly,
            self.monthly,
            self.yearly,
        ]
        .iter()
        .all(Option::is_none)
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Decision {
    pub id: String,
    pub time: i64,
    pub kind: String,
    pub source: String,
    /// Why it is kept (`last`, `hourly`, ..., `parent of <id>`); empty when forgotten.
    pub reasons: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ForgetReport {
    pub keep: Vec<Decision>,
    pub forget: Vec<Decision>,
    pub dry_run: bool,
}

/// Days since 1970-01-01 to (year, month, day) (proleptic Gregorian).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Days since 1970-01-01 of (year, 1, 1).
fn jan1(y: i64) -> i64 {
    let y = y - 1;
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let doy = 306; // March-based day of year of January 1st
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (ISO week-year, ISO week) of a day.
fn iso_week(days: i64) -> (i64, i64) {
    let wd = (days + 3).rem_euclid(7); // Monday = 0
    let thursday = days - wd + 3;
    let (y, _, _) = civil(thursday);
    (y, (thursday - jan1(y)) / 7 + 1)
}

/// The bucket of `time_ms` for each rule (restic's bucket functions).
fn buckets(time_ms: i64) -> [i64; 5] {
    let secs = time_ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let hour = secs.rem_euclid(86_400) / 3600;
    let (y, m, d) = civil(days);
    let (wy, w) = iso_week(days);
    let day = y * 10_000 + i64::from(m) * 100 + i64::from(d);
    [
        day * 100 + hour,
        day,
        wy * 100 + w,
        y * 100 + i64::from(m),
        y,
    ]
}

/// Which snapshots to keep: `(kept id -> reasons)`.
pub fn decide(all: &[Manifest], policy: &KeepPolicy) -> Result<BTreeMap<String, Vec<String>>> {
    if policy.is_empty() {
        return Err(Error::Invalid(
            "no policy given (--keep-last, --keep-hourly, --keep-daily, --keep-weekly, --keep-monthly or --keep-yearly): nothing would be kept".into(),
        ));
    }
    let mut keep: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut groups: BTreeMap<&str, Vec<&Manifest>> = BTreeMap::new();
    for m in all {
        groups.entry(&m.source).or_default().push(m);
    }
    const NAMES: [&str; 5] = ["hourly", "daily", "weekly", "monthly", "yearly"];
    for (_, mut group) in groups {
        group.sort_by(|a, b| (b.time, b.lsn, &b.id).cmp(&(a.time, a.lsn, &a.id)));
        let mut last_left = policy.last.unwrap_or(0);
        let mut left = [
            policy.hourly.unwrap_or(0),
            policy.daily.unwrap_or(0),
            policy.weekly.unwrap_or(0),
            policy.monthly.unwrap_or(0),
            policy.yearly.unwrap_or(0),
        ];
        let mut seen: [Option<i64>; 5] = [None; 5];
        for m in group {
            let mut reasons = Vec::new();
            if last_left > 0 {
                last_left -= 1;
                reasons.push("last".to_string());
            }
            for (i, b) in buckets(m.time).into_iter().enumerate() {
                if left[i] > 0 && seen[i] != Some(b) {
                    left[i] -= 1;
                    seen[i] = Some(b);
                    reasons.push(NAMES[i].to_string());
                }
            }
            if !reasons.is_empty() {
                keep.insert(m.id.clone(), reasons);
            }
        }
    }
    // A kept delta keeps its parent chain.
    let kept: Vec<String> = keep.keys().cloned().collect();
    for id in kept {
        let Some(m) = all.iter().find(|m| m.id == id) else {
            continue;
        };
        for p in chain(all, m)? {
            if p.id != id {
                let r = keep.entry(p.id.clone()).or_default();
                let why = format!("parent of {id}");
                if !r.contains(&why) {
                    r.push(why);
                }
            }
        }
    }
    Ok(keep)
}

/// Apply `policy`: remove the manifests of forgotten snapshots (newest first, so an
/// interrupted forget never leaves a delta without its parent), unless `dry_run`.
pub fn forget(repo: &Repo, policy: &KeepPolicy, dry_run: bool) -> Result<ForgetReport> {
    let all = snapshots(repo)?;
    let keep = decide(&all, policy)?;
    let decision = |m: &Manifest, reasons: Vec<String>| Decision {
        id: m.id.clone(),
        time: m.time,
        kind: m.kind.clone(),
        source: m.source.clone(),
        reasons,
    };
    let mut report = ForgetReport {
        keep: Vec::new(),
        forget: Vec::new(),
        dry_run,
    };
    for m in &all {
        match keep.get(&m.id) {
            Some(r) => report.keep.push(decision(m, r.clone())),
            None => report.forget.push(decision(m, Vec::new())),
        }
    }
    if !dry_run {
        let doomed: BTreeSet<(i64, String)> = report
            .forget
            .iter()
            .map(|d| (d.time, d.id.clone()))
            .collect();
        for (_, id) in doomed.iter().rev() {
            repo.store.delete(&format!("snapshots/{id}"))?;
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(id: &str, time: i64, parent: Option<&str>) -> Manifest {
        Manifest {
            id: id.into(),
            time,
            kind: if parent.is_some() { "delta" } else { "full" }.into(),
            parent: parent.map(Into::into),
            lsn: time as u64,
            items: 0,
            streams: 0,
            entries: 0,
            leases: None,
            value_bytes: 0,
            records: 0,
            stream_bytes: 0,
            changes: None,
            source: "s".into(),
            digest: String::new(),
            chunks: vec![],
            run: String::new(),
        }
    }

    #[test]
    fn calendar() {
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(civil(19_723), (2024, 1, 1));
        assert_eq!(jan1(2024), 19_723);
        assert_eq!(jan1(1970), 0);
        // 2021-01-03 is in ISO week 53 of 2020; 2024-12-30 in week 1 of 2025.
        assert_eq!(iso_week(18_630), (2020, 53));
        assert_eq!(iso_week(20_087), (2025, 1));
        assert_eq!(iso_week(19_723), (2024, 1));
    }

    #[test]
    fn restic_rules_and_parent_chains() {
        const H: i64 = 3_600_000;
        const D: i64 = 24 * H;
        let t0 = 19_723 * D; // 2024-01-01 00:00 UTC
        let all = vec![
            m("a", t0, None),
            m("b", t0 + H, Some("a")),
            m("c", t0 + D, None),
            m("d", t0 + D + H, Some("c")),
            m("e", t0 + D + 2 * H, Some("d")),
            m("f", t0 + 2 * D, None),
        ];
        let k = decide(
            &all,
            &KeepPolicy {
                last: Some(1),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(k.keys().collect::<Vec<_>>(), ["f"]);
        // The newest of each of the last 2 days: f and e; e needs d and c.
        let k = decide(
            &all,
            &KeepPolicy {
                daily: Some(2),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(k.keys().collect::<Vec<_>>(), ["c", "d", "e", "f"]);
        assert_eq!(k["d"], ["parent of e"]);
        let k = decide(
            &all,
            &KeepPolicy {
                hourly: Some(3),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(k.keys().collect::<Vec<_>>(), ["c", "d", "e", "f"]);
        let k = decide(
            &all,
            &KeepPolicy {
                daily: Some(10),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(k.keys().collect::<Vec<_>>(), ["a", "b", "c", "d", "e", "f"]);
        assert!(decide(&all, &KeepPolicy::default()).is_err());
    }
}
