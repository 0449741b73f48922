//! The record transfer: what a [`RecordSource`] serves, as one byte stream, so that a
//! server can hand a consistent read view's records to a client that makes the backup
//! (`POST /v1/admin/backup/records`; the repository and its key stay with the client).
//!
//! ```text
//! stream  := magic "BSRT" | version u8 (1) | varint(header length) | header JSON
//!            | record* | end
//! record  := as in a snapshot's record stream (format::encode_record; op 1, 2 or 3)
//! end     := 0x00 | varint(records) | varint(record bytes) | BLAKE3(record bytes) [32]
//!          | 0xFF | varint(length) | UTF-8 message      (the server failed: an error)
//! ```
//!
//! Nothing may follow `end`. A stream that stops anywhere before a complete `end` (a cut
//! connection, a killed server) or whose counts or hash disagree is refused, so a
//! backup never takes a partial stream for a complete one. Layout: BACKUP-FORMAT.md.

use crate::format::{decode_record, encode_record, get_varint, put_varint, Record};
use crate::source::{RecordSource, SourceHeader};
use crate::{Error, Result};
use std::io::Read;

pub const MAGIC: &[u8; 4] = b"BSRT";
pub const VERSION: u8 = 1;
/// The op byte of the end marker.
pub const END: u8 = 0x00;
/// The op byte of a failure: the server could not finish the stream.
pub const FAILED: u8 = 0xFF;
/// The largest header a reader takes.
pub const MAX_HEADER: usize = 64 << 10;
/// The largest record (or failure message) a reader takes: far above any value limit.
pub const MAX_RECORD: usize = 256 << 20;
/// A writer hands out its bytes in pieces of about this size.
pub const PIECE: usize = 256 << 10;

/// Writes a transfer stream into a buffer the caller sends on.
pub struct TransferWriter {
    hash: blake3::Hasher,
    records: u64,
    bytes: u64,
}

impl TransferWriter {
    /// Start a stream: magic, version and header.
    pub fn start(out: &mut Vec<u8>, h: &SourceHeader) -> Result<TransferWriter> {
        let json = serde_json::to_vec(h).map_err(|e| Error::Io(format!("header: {e}")))?;
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        put_varint(out, json.len() as u64);
        out.extend_from_slice(&json);
        Ok(TransferWriter {
            hash: blake3::Hasher::new(),
            records: 0,
            bytes: 0,
        })
    }

    pub fn record(&mut self, out: &mut Vec<u8>, r: &Record) {
        let at = out.len();
        encode_record(out, r);
        self.hash.update(&out[at..]);
        self.records += 1;
        self.bytes += (out.len() - at) as u64;
    }

    /// The end marker: the stream is complete.
    pub fn finish(self, out: &mut Vec<u8>) {
        out.push(END);
        put_varint(out, self.records);
        put_varint(out, self.bytes);
        out.extend_from_slice(self.hash.finalize().as_bytes());
    }

    /// A failure instead of the end marker.
    pub fn fail(out: &mut Vec<u8>, message: &str) {
        out.push(FAILED);
        put_varint(out, message.len() as u64);
        out.extend_from_slice(message.as_bytes());
    }
}

/// Serve `src` as a transfer stream: `send` gets pieces of about [`PIECE`] bytes, the
/// last one holding the end marker, or a failure if `src` fails (the error is returned
/// too). An error of `send` (the reader went away) stops the source.
pub fn serve(
    src: &mut dyn RecordSource,
    send: &mut dyn FnMut(Vec<u8>) -> Result<()>,
) -> Result<()> {
    let mut buf = Vec::with_capacity(PIECE + (64 << 10));
    let mut w = TransferWriter::start(&mut buf, src.header())?;
    let mut send_failed = false;
    let r = src.records(&mut |r| {
        w.record(&mut buf, r);
        if buf.len() >= PIECE {
            let piece = std::mem::replace(&mut buf, Vec::with_capacity(PIECE + (64 << 10)));
            if let Err(e) = send(piece) {
                send_failed = true;
                return Err(e);
            }
        }
        Ok(())
    });
    match r {
        Ok(()) => {
            w.finish(&mut buf);
            send(buf)
        }
        Err(e) if send_failed => Err(e),
        Err(e) => {
            TransferWriter::fail(&mut buf, &e.to_string());
            let _ = send(buf);
            Err(e)
        }
    }
}

/// A transfer stream read back: a [`RecordSource`] for [`crate::create::Plan::write`].
pub struct TransferSource<R> {
    input: R,
    buf: Vec<u8>,
    /// Where the unread part of `buf` starts.
    at: usize,
    eof: bool,
    header: SourceHeader,
    /// The records were read to a valid end marker.
    done: bool,
}

fn cut(what: &str) -> Error {
    Error::Io(format!(
        "the record stream was cut {what}: it ended without its end marker (the connection \
         closed or the server stopped); nothing was taken from it"
    ))
}

impl<R: Read> TransferSource<R> {
    /// Read the stream's magic, version and header.
    pub fn open(input: R) -> Result<TransferSource<R>> {
        let mut t = TransferSource {
            input,
            buf: Vec::with_capacity(PIECE),
            at: 0,
            eof: false,
            header: SourceHeader {
                kind: crate::source::SourceKind::Full,
                since_lsn: None,
                lsn: 0,
                time: 0,
                counts: Default::default(),
                value_bytes: 0,
            },
            done: false,
        };
        while t.available() < 5 {
            if !t.fill()? {
                return Err(cut("in its first bytes"));
            }
        }
        let head = &t.buf[t.at..t.at + 5];
        if &head[..4] != MAGIC {
            return Err(Error::Corrupt(
                "not a botstore record stream (bad magic)".into(),
            ));
        }
        if head[4] != VERSION {
            return Err(Error::Corrupt(format!(
                "record stream version {} is not known here (this build reads {VERSION})",
                head[4]
            )));
        }
        t.at += 5;
        let len = t.varint("header length")?;
        let len = usize::try_from(len)
            .ok()
            .filter(|&n| n <= MAX_HEADER)
            .ok_or_else(|| Error::Corrupt(format!("record stream header of {len} bytes")))?;
        t.need(len, "in its header")?;
        let header: SourceHeader = serde_json::from_slice(&t.buf[t.at..t.at + len])
            .map_err(|e| Error::Corrupt(format!("record stream header: {e}")))?;
        header.check()?;
        t.at += len;
        t.header = header;
        Ok(t)
    }

    fn available(&self) -> usize {
        self.buf.len() - self.at
    }

    /// Read more input; false at its end.
    fn fill(&mut self) -> Result<bool> {
        if self.eof {
            return Ok(false);
        }
        if self.at > 0 && self.at >= self.buf.len() / 2 {
            self.buf.drain(..self.at);
            self.at = 0;
        }
        let old = self.buf.len();
        self.buf.resize(old + (64 << 10), 0);
        let n = loop {
            match self.input.read(&mut self.buf[old..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.buf.truncate(old);
                    return Err(Error::Io(format!("reading the record stream: {e}")));
                }
            }
        };
        self.buf.truncate(old + n);
        if n == 0 {
            self.eof = true;
        }
        Ok(n > 0)
    }

    /// Make sure `n` unread bytes are buffered.
    fn need(&mut self, n: usize, what: &str) -> Result<()> {
        while self.available() < n {
            if !self.fill()? {
                return Err(cut(what));
            }
        }
        Ok(())
    }

    fn varint(&mut self, what: &str) -> Result<u64> {
        loop {
            if let Some((v, used)) = get_varint(&self.buf[self.at..]) {
                self.at += used;
                return Ok(v);
            }
            if self.available() >= 10 {
                return Err(Error::Corrupt(format!(
                    "record stream: bad varint ({what})"
                )));
            }
            if !self.fill()? {
                return Err(cut(&format!("in its {what}")));
            }
        }
    }

    /// The end marker (its op byte already read): counts and hash must agree, and
    /// nothing may follow.
    fn end(&mut self, records: u64, bytes: u64, hash: blake3::Hash) -> Result<()> {
        let n = self.varint("end marker")?;
        let b = self.varint("end marker")?;
        self.need(32, "in its end marker")?;
        let h = &self.buf[self.at..self.at + 32];
        if n != records || b != bytes || h != hash.as_bytes() {
            return Err(Error::Corrupt(format!(
                "record stream: its end marker says {n} records of {b} bytes, {} were \
                 received ({records} records, {bytes} bytes)",
                if h == hash.as_bytes() {
                    "but"
                } else {
                    "with another hash, but"
                }
            )));
        }
        self.at += 32;
        if self.available() > 0 || self.fill()? {
            return Err(Error::Corrupt(
                "record stream: bytes after its end marker".into(),
            ));
        }
        Ok(())
    }

    /// The failure message (its op byte already read).
    fn failure(&mut self) -> Error {
        let msg = match self.varint("failure message") {
            Ok(n) if n as usize <= MAX_RECORD => {
                match self.need(n as usize, "in its failure message") {
                    Ok(()) => String::from_utf8_lossy(&self.buf[self.at..self.at + n as usize])
                        .into_owned(),
                    Err(e) => return e,
                }
            }
            Ok(n) => return Error::Corrupt(format!("record stream: failure of {n} bytes")),
            Err(e) => return e,
        };
        Error::Io(format!(
            "the server could not finish the record stream: {msg}"
        ))
    }
}

impl<R: Read> RecordSource for TransferSource<R> {
    fn header(&self) -> &SourceHeader {
        &self.header
    }

    fn records(&mut self, f: &mut dyn FnMut(&Record) -> Result<()>) -> Result<()> {
        if self.done {
            return Err(Error::Invalid("the record stream was read already".into()));
        }
        let mut hash = blake3::Hasher::new();
        let (mut records, mut bytes) = (0u64, 0u64);
        loop {
            if self.available() == 0 && !self.fill()? {
                return Err(cut(&format!("after {records} records")));
            }
            match self.buf[self.at] {
                END => {
                    self.at += 1;
                    self.end(records, bytes, hash.finalize())?;
                    self.done = true;
                    return Ok(());
                }
                FAILED => {
                    self.at += 1;
                    return Err(self.failure());
                }
                _ => {}
            }
            match decode_record(&self.buf[self.at..])? {
                Some((r, used)) => {
                    hash.update(&self.buf[self.at..self.at + used]);
                    records += 1;
                    bytes += used as u64;
                    f(&r)?;
                    self.at += used;
                }
                None => {
                    if self.available() > MAX_RECORD {
                        return Err(Error::Corrupt(format!(
                            "record stream: a record of more than {MAX_RECORD} bytes"
                        )));
                    }
                    if !self.fill()? {
                        return Err(cut(&format!("inside record {}", records + 1)));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::SourceKind;
    use botstore::codec::Table;

    fn header() -> SourceHeader {
        SourceHeader {
            kind: SourceKind::Delta,
            since_lsn: Some(3),
            lsn: 9,
            time: 1,
            counts: Default::default(),
            value_bytes: 0,
        }
    }

    fn stream(recs: &[Record]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut w = TransferWriter::start(&mut out, &header()).unwrap();
        for r in recs {
            w.record(&mut out, r);
        }
        w.finish(&mut out);
        out
    }

    fn read(b: &[u8]) -> Result<(SourceHeader, Vec<Vec<u8>>)> {
        let mut t = TransferSource::open(b)?;
        let mut got = Vec::new();
        t.records(&mut |r| {
            let mut v = Vec::new();
            encode_record(&mut v, r);
            got.push(v);
            Ok(())
        })?;
        Ok((t.header().clone(), got))
    }

    #[test]
    fn round_trip_and_every_cut_is_refused() {
        let recs = [
            Record::Put(Table::Items, b"k", b"value"),
            Record::Delete(Table::Leases, b"l"),
            Record::DeleteRange(Table::Entries, b"a", b"b"),
        ];
        let b = stream(&recs);
        let (h, got) = read(&b).unwrap();
        assert_eq!(h, header());
        assert_eq!(got.len(), 3);
        for n in 0..b.len() {
            let e = read(&b[..n]).unwrap_err();
            assert!(e.to_string().contains("cut"), "cut at {n}: {e}");
        }
        let mut longer = b.clone();
        longer.push(0);
        assert!(read(&longer).is_err());
        // A record dropped from the middle: the end marker disagrees.
        let mut short = Vec::new();
        let mut w = TransferWriter::start(&mut short, &header()).unwrap();
        w.record(&mut short, &recs[0]);
        w.finish(&mut Vec::new());
        let mut w2 = TransferWriter::start(&mut Vec::new(), &header()).unwrap();
        w2.record(&mut Vec::new(), &recs[0]);
        w2.record(&mut Vec::new(), &recs[1]);
        w2.finish(&mut short);
        assert!(read(&short).unwrap_err().to_string().contains("end marker"));
    }

    #[test]
    fn a_failure_is_an_error_with_its_message() {
        let mut out = Vec::new();
        let mut w = TransferWriter::start(&mut out, &header()).unwrap();
        w.record(&mut out, &Record::Put(Table::Items, b"k", b"v"));
        TransferWriter::fail(&mut out, "disk on fire");
        let e = read(&out).unwrap_err();
        assert!(e.to_string().contains("disk on fire"), "{e}");
    }
}
