//! Fault injection under the engine (feature `faults`, for tests): a [`Faults`] plan that
//! every operation on the engine's files goes through when the store is opened with
//! [`crate::io::FileLayer::Faulty`], modelled on redb's own fuzzing backend.
//!
//! * **Rules** ([`Rule`]) fire at chosen or random points: by file, by kind of operation,
//!   from an operation count on, with a chance per operation drawn from a seeded generator,
//!   a limited number of times. A test adds and clears rules while the store runs.
//! * **Faults** ([`Fault`]): EIO and ENOSPC (the real OS error codes, so the engine cannot
//!   tell them from real ones), torn writes (a prefix of the write lands, then EIO), bit
//!   flips in what a read returns (transient) or in what a write stores (persistent).
//! * **Lost writes**: every write and length change since a file's last successful sync is
//!   logged with the bytes it replaced. [`Faults::crash`] simulates a power loss: it drops
//!   all of them, or a random subset (a disk may persist unsynced writes in any order),
//!   and kills the "process": every handle opened before the crash fails from then on, so
//!   nothing the old store does afterwards reaches the files. A successful sync is what
//!   makes writes durable; syncs are not passed to the disk (durability is simulated), which
//!   keeps tests fast.
//!
//! Operations are serialised on the plan's lock; this is test code, not fast code.

use crate::io::FileKind;
use std::collections::HashMap;
use std::fs::{File, Metadata, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// Kinds of file operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Read,
    Write,
    Sync,
    SetLen,
}

/// What a rule does when it fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The operation fails with EIO and does nothing.
    Eio,
    /// The operation fails with ENOSPC and does nothing.
    NoSpace,
    /// A write stores a random prefix of its bytes (possibly none), then fails with EIO.
    Torn,
    /// A read returns its bytes with one bit flipped (the file is unchanged).
    FlipOnRead,
    /// A write stores its bytes with one bit flipped and reports success.
    FlipOnWrite,
}

impl Fault {
    fn applies_to(self, op: Op) -> bool {
        match self {
            Fault::Eio | Fault::NoSpace => true,
            Fault::Torn | Fault::FlipOnWrite => op == Op::Write,
            Fault::FlipOnRead => op == Op::Read,
        }
    }
}

/// When a fault fires.
#[derive(Clone, Debug)]
pub struct Rule {
    pub fault: Fault,
    /// Only this file (`None`: both).
    pub file: Option<FileKind>,
    /// Only this kind of operation (`None`: every kind the fault applies to).
    pub op: Option<Op>,
    /// Only from this operation count on (counted over all files since the plan was made).
    pub after_op: u64,
    /// Chance per matching operation, 0.0 to 1.0.
    pub chance: f64,
    /// Fire at most this many times (`None`: no limit).
    pub times: Option<u32>,
}

impl Rule {
    /// `fault` on every matching operation of every file, from now on.
    pub fn always(fault: Fault) -> Rule {
        Rule {
            fault,
            file: None,
            op: None,
            after_op: 0,
            chance: 1.0,
            times: None,
        }
    }
}

/// How many unsynced writes a crash loses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loss {
    /// Everything since each file's last sync.
    All,
    /// Each unsynced write independently, with even odds.
    Random,
    /// Nothing (a process crash: the page cache survives).
    None,
}

/// One write (or length change) since its file's last sync, with what it replaced.
#[derive(Debug)]
enum Pending {
    Write {
        off: u64,
        old: Vec<u8>,
        old_len: u64,
        new: Vec<u8>,
    },
    SetLen {
        old_len: u64,
        old_tail: Vec<u8>,
        new_len: u64,
    },
}

#[derive(Debug, Default)]
struct State {
    epoch: u64,
    ops: u64,
    rng: u64,
    rules: Vec<(Rule, u32)>,
    pending: HashMap<PathBuf, Vec<Pending>>,
    fired: Vec<String>,
}

impl State {
    /// splitmix64.
    fn next(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Count the operation and pick the fault that fires on it, if any.
    fn decide(&mut self, kind: FileKind, op: Op) -> Option<Fault> {
        self.ops += 1;
        let n = self.ops;
        for i in 0..self.rules.len() {
            let (rule, count) = &self.rules[i];
            let matches = rule.fault.applies_to(op)
                && rule.file.is_none_or(|f| f == kind)
                && rule.op.is_none_or(|o| o == op)
                && n >= rule.after_op
                && rule.times.is_none_or(|t| *count < t);
            if !matches {
                continue;
            }
            let chance = rule.chance;
            if chance >= 1.0 || self.unit() < chance {
                self.rules[i].1 += 1;
                let fault = self.rules[i].0.fault;
                self.fired
                    .push(format!("op {n}: {fault:?} on {kind:?} {op:?}"));
                return Some(fault);
            }
        }
        None
    }
}

/// A fault plan shared by the files it wraps and the test that drives it.
#[derive(Default)]
pub struct Faults {
    state: Mutex<State>,
}

impl std::fmt::Debug for Faults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the logged bytes: options that hold a plan are printed in failure messages.
        let s = self.lock();
        f.debug_struct("Faults")
            .field("ops", &s.ops)
            .field("rules", &s.rules)
            .field("fired", &s.fired.len())
            .finish()
    }
}

/// The real OS error (`raw_os_error` and `kind` as the kernel's): the engine cannot tell
/// an injected fault from a real one. What fired is in [`Faults::fired`].
fn os_error(code: i32) -> io::Error {
    io::Error::from_raw_os_error(code)
}

const EIO: i32 = 5;
const ENOSPC: i32 = 28;

impl Faults {
    /// A plan without rules; `seed` drives every random choice.
    pub fn new(seed: u64) -> Arc<Faults> {
        Arc::new(Faults {
            state: Mutex::new(State {
                rng: seed,
                ..State::default()
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent state (each step is complete).
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Add a rule (rules are tried in the order they were added).
    pub fn add(&self, rule: Rule) {
        self.lock().rules.push((rule, 0));
    }

    /// Remove every rule: no fault fires from now on.
    pub fn clear(&self) {
        self.lock().rules.clear();
    }

    /// Operations seen so far.
    pub fn ops(&self) -> u64 {
        self.lock().ops
    }

    /// Every fault that fired, in order (for failure messages).
    pub fn fired(&self) -> Vec<String> {
        self.lock().fired.clone()
    }

    /// Simulate a power loss: drop the unsynced writes `loss` says, and make every handle
    /// opened before now fail. Returns how many unsynced writes were dropped.
    pub fn crash(&self, loss: Loss) -> io::Result<usize> {
        let mut s = self.lock();
        s.epoch += 1;
        let pending = std::mem::take(&mut s.pending);
        let mut dropped = 0;
        for (path, log) in pending {
            let file = OpenOptions::new().read(true).write(true).open(&path)?;
            if loss == Loss::None {
                continue;
            }
            // Back to the state at the last sync, newest first...
            for p in log.iter().rev() {
                match p {
                    Pending::Write {
                        off, old, old_len, ..
                    } => {
                        file.write_all_at(old, *off)?;
                        file.set_len(*old_len)?;
                    }
                    Pending::SetLen {
                        old_len,
                        old_tail,
                        new_len,
                    } => {
                        file.set_len(*old_len)?;
                        file.write_all_at(old_tail, *new_len)?;
                    }
                }
            }
            // ...then the writes that did reach the disk, in order.
            for p in &log {
                if loss == Loss::All || s.below(2) == 0 {
                    dropped += 1;
                    continue;
                }
                match p {
                    Pending::Write { off, new, .. } => file.write_all_at(new, *off)?,
                    Pending::SetLen { new_len, .. } => file.set_len(*new_len)?,
                }
            }
        }
        Ok(dropped)
    }

    /// Wrap an opened file.
    pub fn wrap(self: &Arc<Self>, file: File, path: &Path, kind: FileKind) -> FaultyFile {
        FaultyFile {
            file,
            path: path.to_path_buf(),
            kind,
            epoch: self.lock().epoch,
            faults: Arc::clone(self),
        }
    }
}

/// A file whose operations go through a [`Faults`] plan.
pub struct FaultyFile {
    file: File,
    path: PathBuf,
    kind: FileKind,
    epoch: u64,
    faults: Arc<Faults>,
}

impl std::fmt::Debug for FaultyFile {
    // Without the plan: printing it takes its lock, which an operation may hold.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultyFile")
            .field("path", &self.path)
            .field("kind", &self.kind)
            .field("epoch", &self.epoch)
            .finish()
    }
}

impl FaultyFile {
    /// The plan's lock, failing when this handle belongs to a crashed "process".
    fn enter(&self) -> io::Result<MutexGuard<'_, State>> {
        let s = self.faults.lock();
        if s.epoch != self.epoch {
            return Err(os_error(EIO));
        }
        Ok(s)
    }

    fn fail(&self, fault: Fault) -> io::Error {
        os_error(if fault == Fault::NoSpace { ENOSPC } else { EIO })
    }

    /// Write `data` at `off`, logging what it replaces until the next sync.
    fn logged_write(&self, s: &mut State, data: &[u8], off: u64) -> io::Result<()> {
        let old_len = self.file.metadata()?.len();
        let keep = old_len.saturating_sub(off).min(data.len() as u64) as usize;
        let mut old = vec![0u8; keep];
        self.file.read_exact_at(&mut old, off)?;
        s.pending
            .entry(self.path.clone())
            .or_default()
            .push(Pending::Write {
                off,
                old,
                old_len,
                new: data.to_vec(),
            });
        self.file.write_all_at(data, off)
    }

    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let mut s = self.enter()?;
        match s.decide(self.kind, Op::Read) {
            Some(Fault::FlipOnRead) => {
                let n = self.file.read_at(buf, offset)?;
                if n > 0 {
                    let bit = s.below(n as u64 * 8);
                    buf[(bit / 8) as usize] ^= 1 << (bit % 8);
                }
                Ok(n)
            }
            Some(f) => Err(self.fail(f)),
            None => self.file.read_at(buf, offset),
        }
    }

    /// Writes all of `buf` or fails (never a short write).
    pub fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        let mut s = self.enter()?;
        match s.decide(self.kind, Op::Write) {
            None => self.logged_write(&mut s, buf, offset)?,
            Some(Fault::FlipOnWrite) if !buf.is_empty() => {
                let mut copy = buf.to_vec();
                let bit = s.below(copy.len() as u64 * 8);
                copy[(bit / 8) as usize] ^= 1 << (bit % 8);
                self.logged_write(&mut s, &copy, offset)?;
            }
            Some(Fault::FlipOnWrite) => {}
            Some(Fault::Torn) => {
                let n = s.below(buf.len() as u64) as usize;
                self.logged_write(&mut s, &buf[..n], offset)?;
                return Err(self.fail(Fault::Torn));
            }
            Some(f) => return Err(self.fail(f)),
        }
        Ok(buf.len())
    }

    /// A successful sync makes every write since the last one durable (nothing is sent to
    /// the disk: durability is what the plan says it is).
    pub fn sync_data(&self) -> io::Result<()> {
        let mut s = self.enter()?;
        if let Some(f) = s.decide(self.kind, Op::Sync) {
            return Err(self.fail(f));
        }
        s.pending.remove(&self.path);
        Ok(())
    }

    pub fn set_len(&self, len: u64) -> io::Result<()> {
        let mut s = self.enter()?;
        if let Some(f) = s.decide(self.kind, Op::SetLen) {
            return Err(self.fail(f));
        }
        let old_len = self.file.metadata()?.len();
        let mut old_tail = vec![0u8; old_len.saturating_sub(len) as usize];
        self.file.read_exact_at(&mut old_tail, len.min(old_len))?;
        s.pending
            .entry(self.path.clone())
            .or_default()
            .push(Pending::SetLen {
                old_len,
                old_tail,
                new_len: len,
            });
        self.file.set_len(len)
    }

    pub fn metadata(&self) -> io::Result<Metadata> {
        let _s = self.enter()?;
        self.file.metadata()
    }
}

/// redb's storage on a [`FaultyFile`].
#[derive(Debug)]
pub struct FaultyBackend(pub FaultyFile);

impl redb::StorageBackend for FaultyBackend {
    fn len(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        let mut done = 0;
        while done < out.len() {
            match self.0.read_at(&mut out[done..], offset + done as u64)? {
                0 => return Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
                n => done += n,
            }
        }
        Ok(())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.0.sync_data()
    }

    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.0.write_at(data, offset).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (tempfile::TempDir, Arc<Faults>, FaultyFile, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let faults = Faults::new(1);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .unwrap();
        let f = faults.wrap(file, &path, FileKind::Journal);
        (dir, faults, f, path)
    }

    #[test]
    fn a_crash_drops_what_was_not_synced_and_kills_old_handles() {
        let (_dir, faults, f, path) = setup();
        f.write_at(b"hello world", 0).unwrap();
        f.sync_data().unwrap();
        f.write_at(b"HELLO", 0).unwrap();
        f.write_at(b"!!", 11).unwrap();
        f.set_len(20).unwrap();
        assert_eq!(faults.crash(Loss::All).unwrap(), 3);
        assert_eq!(std::fs::read(&path).unwrap(), b"hello world");
        let e = f.write_at(b"x", 0).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(EIO));
        assert!(f.sync_data().is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"hello world");
    }

    #[test]
    fn a_random_loss_keeps_a_subset_in_order() {
        for seed in 0..20 {
            let (_dir, faults, f, path) = setup();
            *faults.lock() = State {
                rng: seed,
                ..State::default()
            };
            let f = faults.wrap(f.file, &path, FileKind::Journal);
            f.write_at(b"aaaa", 0).unwrap();
            f.write_at(b"bb", 1).unwrap();
            let dropped = faults.crash(Loss::Random).unwrap();
            let got = std::fs::read(&path).unwrap();
            let want: &[&[u8]] = match dropped {
                0 => &[b"abba"],
                1 => &[b"aaaa", b"\0bb"],
                _ => &[b""],
            };
            assert!(want.contains(&got.as_slice()), "{dropped} {got:?}");
        }
    }

    #[test]
    fn rules_fire_by_file_op_and_count() {
        let (_dir, faults, f, _path) = setup();
        faults.add(Rule {
            fault: Fault::NoSpace,
            file: Some(FileKind::Journal),
            op: Some(Op::Write),
            after_op: 3,
            chance: 1.0,
            times: Some(1),
        });
        f.write_at(b"a", 0).unwrap(); // op 1
        f.sync_data().unwrap(); // op 2
        let e = f.write_at(b"b", 1).unwrap_err(); // op 3
        assert_eq!(e.raw_os_error(), Some(ENOSPC));
        f.write_at(b"b", 1).unwrap(); // fired once already
        faults.add(Rule::always(Fault::Torn));
        assert!(f.write_at(b"cccc", 2).is_err());
        faults.clear();
        f.write_at(b"d", 6).unwrap();
        assert_eq!(faults.fired().len(), 2);
        assert_eq!(faults.ops(), 6);
    }

    #[test]
    fn flips_change_one_bit() {
        let (_dir, faults, f, path) = setup();
        faults.add(Rule::always(Fault::FlipOnWrite));
        f.write_at(&[0u8; 8], 0).unwrap();
        let stored = std::fs::read(&path).unwrap();
        assert_eq!(stored.iter().map(|b| b.count_ones()).sum::<u32>(), 1);
        faults.clear();
        faults.add(Rule::always(Fault::FlipOnRead));
        let mut buf = [0u8; 8];
        assert_eq!(f.read_at(&mut buf, 0).unwrap(), 8);
        let diff: u32 = buf
            .iter()
            .zip(&stored)
            .map(|(a, b)| (a ^ b).count_ones())
            .sum();
        assert_eq!(diff, 1);
        assert_eq!(std::fs::read(&path).unwrap(), stored);
    }
}
