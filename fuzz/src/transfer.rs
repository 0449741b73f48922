//! `transfer_stream`: the record transfer decoder (`botstore_backup::transfer`), which
//! reads what a server sends `botstore --remote URL backup create`. Its bytes come over
//! the network, so anything it cannot read must be an error, never a panic; a stream it
//! takes as complete must be one (no prefix of it is), and what it reads must write back
//! to a stream that reads the same.

use botstore::codec::Table;
use botstore_backup::format::{encode_record, Record};
use botstore_backup::transfer::{TransferSource, TransferWriter};
use botstore_backup::{RecordSource, SourceHeader, SourceKind, StoreCounts};

/// Header and records (each as `format::encode_record` writes it), or `None`.
fn read(data: &[u8]) -> Option<(SourceHeader, Vec<Vec<u8>>)> {
    let mut src = TransferSource::open(data).ok()?;
    let mut recs = Vec::new();
    src.records(&mut |r| {
        let mut b = Vec::new();
        encode_record(&mut b, r);
        recs.push(b);
        Ok(())
    })
    .ok()?;
    Some((src.header().clone(), recs))
}

/// A stream of `recs` (each one encoded record) under `h`.
pub fn write(h: &SourceHeader, recs: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    let Ok(mut w) = TransferWriter::start(&mut out, h) else {
        return out;
    };
    for b in recs {
        if let Ok(Some((r, _))) = botstore_backup::format::decode_record(b) {
            w.record(&mut out, &r);
        }
    }
    w.finish(&mut out);
    out
}

pub fn check(data: &[u8]) {
    let Some((h, recs)) = read(data) else {
        return;
    };
    assert!(h.check().is_ok(), "an accepted header is consistent: {h:?}");
    assert!(
        read(&data[..data.len() - 1]).is_none(),
        "a complete stream minus its last byte was taken as complete"
    );
    let again = write(&h, &recs);
    assert_eq!(read(&again), Some((h, recs)), "written back, it reads the same");
}

/// Valid streams for the seed corpus.
pub fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let header = |kind, since_lsn, lsn| SourceHeader {
        kind,
        since_lsn,
        lsn,
        time: 1_700_000_000_000,
        counts: StoreCounts {
            items: 2,
            streams: 1,
            entries: 3,
            leases: Some(1),
        },
        value_bytes: 99,
    };
    let enc = |r: Record| {
        let mut b = Vec::new();
        encode_record(&mut b, &r);
        b
    };
    let full = vec![
        enc(Record::Put(Table::Items, b"t\0\x01k", b"item record")),
        enc(Record::Put(Table::Streams, b"t\0\x01s", b"meta")),
        enc(Record::Put(Table::Entries, b"t\0\x01s\0\0\0\0\0\0\0\0\x01", b"e")),
        enc(Record::Put(Table::Meta, b"last_lsn", &7u64.to_be_bytes())),
    ];
    let delta = vec![
        enc(Record::DeleteRange(Table::Entries, b"t\0\x01s\0", b"t\0\x01s\x01")),
        enc(Record::Delete(Table::Items, b"t\0\x01k")),
        enc(Record::Put(Table::Leases, b"t\0\x01l", b"lease")),
        enc(Record::Put(Table::Meta, b"last_lsn", &9u64.to_be_bytes())),
    ];
    let mut failed = Vec::new();
    if let Ok(mut w) = TransferWriter::start(&mut failed, &header(SourceKind::Full, None, 7)) {
        w.record(&mut failed, &Record::Put(Table::Items, b"t\0\x01k", b"v"));
    }
    TransferWriter::fail(&mut failed, "the store failed");
    vec![
        ("full", write(&header(SourceKind::Full, None, 7), &full)),
        ("delta", write(&header(SourceKind::Delta, Some(7), 9), &delta)),
        ("unchanged", write(&header(SourceKind::Unchanged, Some(9), 9), &[])),
        ("failed", failed),
    ]
}
