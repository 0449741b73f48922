//! `backup follow`: continuous archiving. Every tick, the change records committed since
//! the last shipped LSN are read from one read view and stored as a segment
//! ([`crate::segment`]); with the snapshots they give point-in-time restore
//! ([`crate::pitr`]).
//!
//! Where it starts: after the last segment of the source, or after its latest snapshot if
//! that is newer; with neither, it takes a full snapshot first. When the store's change
//! feed no longer holds the LSN after the last shipped one (retention removed it), the
//! changes in between are lost to the archive: that is reported as a gap, and a new full
//! snapshot is taken so that restores are possible again from there.

use crate::create::{create, snapshots, CreateOptions, CreateSummary};
use crate::crypto::Repo;
use crate::segment::{self, SegmentManifest, SegmentWriter};
use crate::{Error, Result};
use botstore::codec::{self, Table};
use botstore::kv::KvRead;
use botstore::Store;
use std::ops::Bound;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A segment holds at most this many bytes of change records; a tick with more writes
/// several segments.
pub const SEGMENT_MAX_BYTES: usize = 8 << 20;

/// Counters of a follower, for metrics (all monotonic or "last" values).
#[derive(Debug, Default)]
pub struct FollowStats {
    /// ms since the epoch of the last tick that brought the repository up to date.
    pub last_success_ms: AtomicU64,
    /// Duration of the last successful shipment (segment or snapshot), in microseconds.
    pub last_duration_us: AtomicU64,
    pub bytes_added_total: AtomicU64,
    pub failures_total: AtomicU64,
    pub segments_total: AtomicU64,
    pub snapshots_total: AtomicU64,
    /// The last LSN the repository holds (by segment or snapshot).
    pub last_lsn: AtomicU64,
}

/// What a follower did; given to [`FollowOptions::on_event`].
#[derive(Debug)]
pub enum FollowEvent<'a> {
    /// A snapshot, and why (`"first"`, `"gap"`, `"periodic"`).
    Snapshot(&'a CreateSummary, &'static str),
    Segment(&'a SegmentManifest, u64),
    /// The change feed starts at `first_available` (`None`: it is empty) but the archive
    /// ends at `shipped`: changes `shipped+1 .. first_available` cannot be archived.
    Gap {
        shipped: u64,
        first_available: Option<u64>,
        store_lsn: u64,
    },
    /// A tick failed; the next one tries again.
    Failed(&'a Error),
}

pub struct FollowOptions<'a> {
    pub source: String,
    /// How often segments are cut.
    pub every: Duration,
    /// Take a snapshot (a delta when possible) this often; `None`: only when needed.
    pub snapshot_every: Option<Duration>,
    /// On a gap, take a new full snapshot (else stop with an error).
    pub snapshot_on_gap: bool,
    pub stats: Option<&'a FollowStats>,
    pub on_event: Option<&'a (dyn Fn(&FollowEvent) + Sync)>,
}

impl<'a> FollowOptions<'a> {
    pub fn new(source: impl Into<String>) -> Self {
        FollowOptions {
            source: source.into(),
            every: Duration::from_secs(1),
            snapshot_every: None,
            snapshot_on_gap: true,
            stats: None,
            on_event: None,
        }
    }
}

fn last_lsn(view: &dyn KvRead) -> Result<u64> {
    Ok(botstore::read::last_lsn(view)?)
}

fn first_change(view: &dyn KvRead) -> Result<Option<u64>> {
    Ok(botstore::read::first_change_lsn(view)?)
}

/// A follower's state between ticks.
pub struct Follower<'a> {
    repo: &'a Repo,
    store: &'a Store,
    opts: &'a FollowOptions<'a>,
    folder: String,
    writer: SegmentWriter<'a>,
    /// The last LSN in the repository; `None` until the first tick found out.
    shipped: Option<u64>,
    last_snapshot: Instant,
}

impl<'a> Follower<'a> {
    pub fn new(repo: &'a Repo, store: &'a Store, opts: &'a FollowOptions<'a>) -> Self {
        Follower {
            repo,
            store,
            opts,
            folder: segment::folder(repo, &opts.source),
            writer: SegmentWriter::new(repo),
            shipped: None,
            last_snapshot: Instant::now(),
        }
    }

    fn event(&self, e: &FollowEvent) {
        if let Some(f) = self.opts.on_event {
            f(e);
        }
    }

    fn snapshot(&mut self, full: bool, why: &'static str) -> Result<u64> {
        let started = Instant::now();
        let s = create(
            self.repo,
            self.store,
            &CreateOptions {
                full,
                ..CreateOptions::new(self.opts.source.clone())
            },
        )?;
        self.last_snapshot = Instant::now();
        // Nothing changed since the latest snapshot: none was written, nothing to report.
        if s.kind == "unchanged" {
            return Ok(s.lsn);
        }
        if let Some(st) = self.opts.stats {
            st.snapshots_total.fetch_add(1, Ordering::Relaxed);
            st.bytes_added_total
                .fetch_add(s.bytes_added, Ordering::Relaxed);
            st.last_duration_us
                .store(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        }
        self.event(&FollowEvent::Snapshot(&s, why));
        Ok(s.lsn)
    }

    /// Where the archive of this source ends (segments or snapshots); `None`: nothing yet.
    fn archived(&self) -> Result<Option<u64>> {
        let seg = segment::list(self.repo, &self.folder)?
            .last()
            .map(|(_, last, _)| *last);
        let snap = snapshots(self.repo)?
            .iter()
            .filter(|m| m.source == self.opts.source)
            .map(|m| m.lsn)
            .max();
        Ok(seg.max(snap))
    }

    /// One tick: ship what was committed since the last one. Returns the last LSN shipped.
    pub fn tick(&mut self) -> Result<u64> {
        let shipped = match self.shipped {
            Some(s) => s,
            None => match self.archived()? {
                Some(s) => s,
                None => self.snapshot(true, "first")?,
            },
        };
        self.shipped = Some(shipped);
        if let Some(every) = self.opts.snapshot_every {
            if self.last_snapshot.elapsed() >= every {
                // Segments first, so that the chain stays contiguous; the snapshot then
                // only shortens restores.
                let s = self.ship(shipped)?;
                self.shipped = Some(s);
                self.snapshot(false, "periodic")?;
                return Ok(s);
            }
        }
        let s = self.ship(shipped)?;
        self.shipped = Some(s);
        Ok(s)
    }

    fn ship(&mut self, shipped: u64) -> Result<u64> {
        let view = self.store.backend().read()?;
        let view: &dyn KvRead = &*view;
        let codecs = &**self.store.codecs();
        let time = crate::now_ms();
        let lsn = last_lsn(view)?;
        if lsn <= shipped {
            return Ok(shipped);
        }
        let first = first_change(view)?;
        if first.is_none_or(|f| f > shipped + 1) {
            self.event(&FollowEvent::Gap {
                shipped,
                first_available: first,
                store_lsn: lsn,
            });
            if !self.opts.snapshot_on_gap {
                return Err(Error::Invalid(gap_message(shipped, first, lsn)));
            }
            return self.snapshot(true, "gap");
        }
        let mut from = shipped + 1;
        let mut err = None;
        let mut content = Vec::new();
        let (mut first_time, mut last_time, mut n) = (0i64, 0i64, 0u64);
        let start = from.to_be_bytes();
        let end = lsn.to_be_bytes();
        view.scan(
            Table::Changes,
            (Bound::Included(&start[..]), Bound::Included(&end[..])),
            false,
            &mut |k, v| {
                let l = codec::be64(k)?;
                let at = codec::change_time(v)?;
                if n == 0 {
                    first_time = at;
                }
                last_time = at;
                n += 1;
                match codec::decode_change_record(codecs, l, v)? {
                    codec::ChangeRecord::Whole(_) => segment::encode_change(&mut content, l, v),
                    // A segment is read without the store: a put that refers to its item's
                    // version goes in whole, its value read now.
                    codec::ChangeRecord::PutRef { .. } | codec::ChangeRecord::AppendRef { .. } => {
                        let c = botstore::feed::read_change(view, codecs, l, v)?;
                        let whole = codec::encode_change(codecs, c.at, &c.kind)?;
                        segment::encode_change(&mut content, l, &whole);
                    }
                }
                if content.len() >= SEGMENT_MAX_BYTES && l < lsn {
                    let r = self.put_segment(from, l, first_time, last_time, n, time, &content);
                    content.clear();
                    n = 0;
                    from = l + 1;
                    if let Err(e) = r {
                        err = Some(e);
                        return Ok(false);
                    }
                }
                Ok(true)
            },
        )?;
        if let Some(e) = err {
            return Err(e);
        }
        self.put_segment(from, lsn, first_time, last_time, n, time, &content)?;
        Ok(lsn)
    }

    #[allow(clippy::too_many_arguments)]
    fn put_segment(
        &mut self,
        first: u64,
        last: u64,
        first_time: i64,
        last_time: i64,
        changes: u64,
        time: i64,
        content: &[u8],
    ) -> Result<()> {
        let started = Instant::now();
        let mut m = SegmentManifest {
            first_lsn: first,
            last_lsn: last,
            first_time,
            last_time,
            time,
            changes,
            stream_bytes: 0,
            source: self.opts.source.clone(),
            digest: String::new(),
            chunks: Vec::new(),
            run: String::new(),
        };
        let added = self.writer.write(&self.folder, &mut m, content)?;
        self.shipped = Some(last);
        if let Some(st) = self.opts.stats {
            st.segments_total.fetch_add(1, Ordering::Relaxed);
            st.bytes_added_total.fetch_add(added, Ordering::Relaxed);
            st.last_duration_us
                .store(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        }
        self.event(&FollowEvent::Segment(&m, added));
        Ok(())
    }
}

/// The message for a gap in the archive.
pub fn gap_message(shipped: u64, first: Option<u64>, lsn: u64) -> String {
    let avail = match first {
        Some(f) => format!("starts at lsn {f}"),
        None => "is empty".to_string(),
    };
    format!(
        "gap in the archive: the last shipped lsn is {shipped} but the store's change feed {avail} \
         (store at lsn {lsn}); changes {} .. {} are lost to point-in-time restore. Take a new full \
         snapshot (`botstore backup create --full`) and keep `backup follow` running (or raise the \
         change-feed retention)",
        shipped + 1,
        first.map_or(lsn, |f| f.saturating_sub(1))
    )
}

/// Ship segments every `opts.every` until `stop` is set, then ship once more (so the last
/// segment holds every change committed before the stop) and return the last LSN shipped.
/// A failing tick is reported ([`FollowEvent::Failed`], `failures_total`) and retried at
/// the next one; the final tick's error is returned.
pub fn follow(repo: &Repo, store: &Store, opts: &FollowOptions, stop: &AtomicBool) -> Result<u64> {
    let mut f = Follower::new(repo, store, opts);
    loop {
        let stopping = stop.load(Ordering::SeqCst);
        match f.tick() {
            Ok(lsn) => {
                if let Some(st) = opts.stats {
                    st.last_success_ms
                        .store(crate::now_ms().max(0) as u64, Ordering::Relaxed);
                    st.last_lsn.store(lsn, Ordering::Relaxed);
                }
                if stopping {
                    return Ok(lsn);
                }
            }
            Err(e) => {
                if let Some(st) = opts.stats {
                    st.failures_total.fetch_add(1, Ordering::Relaxed);
                }
                f.event(&FollowEvent::Failed(&e));
                if stopping {
                    return Err(e);
                }
            }
        }
        let until = Instant::now() + opts.every;
        while Instant::now() < until && !stop.load(Ordering::SeqCst) {
            std::thread::sleep((until - Instant::now()).min(Duration::from_millis(20)));
        }
    }
}
