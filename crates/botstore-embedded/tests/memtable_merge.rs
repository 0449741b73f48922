//! The memtable-over-redb view behaves like one map: random redb contents, a random overlay
//! of puts and deletes, scans in both directions over random ranges with random early stops,
//! compared with a plain BTreeMap that applied the same writes.

use botstore::codec::Table;
use botstore::kv::{KvRead, WriteSet};
use botstore_embedded::memtable::{MemTables, Overlay};
use botstore_embedded::tables::{self, RedbView};
use proptest::prelude::*;
use redb::{Database, ReadableDatabase};
use std::ops::Bound;
use std::sync::Arc;

fn key() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(0u8..6, 0..3)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn view_equals_the_merged_map(
        base in proptest::collection::btree_map(key(), key(), 0..20),
        overlay in proptest::collection::btree_map(key(), proptest::option::of(key()), 0..20),
        lo in proptest::option::of(key()),
        hi in proptest::option::of(key()),
        reverse in any::<bool>(),
        stop_after in 0usize..30,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(dir.path().join("t.redb")).unwrap();
        let txn = db.begin_write().unwrap();
        tables::create_all(&txn).unwrap();
        tables::apply_writes(&txn, base.iter().map(|(k, v)| (Table::Items, k.as_slice(), Some(v.as_slice())))).unwrap();
        txn.commit().unwrap();

        let mut mem = MemTables::default();
        let mut ws = WriteSet::new();
        for (k, v) in &overlay {
            ws.insert((Table::Items, k.clone()), v.clone());
        }
        mem.insert(ws);
        let view = Overlay { mem: Arc::new(mem), below: RedbView::new(db.begin_read().unwrap()) };

        let mut model = base.clone();
        for (k, v) in &overlay {
            match v {
                Some(v) => { model.insert(k.clone(), v.clone()); }
                None => { model.remove(k); }
            }
        }
        for (k, v) in &model {
            prop_assert_eq!(view.get(Table::Items, k).unwrap(), Some(v.clone()));
        }
        for k in overlay.keys() {
            prop_assert_eq!(view.get(Table::Items, k).unwrap(), model.get(k).cloned());
        }

        let lob = lo.as_deref().map_or(Bound::Unbounded, Bound::Included);
        let hib = hi.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
        if let (Some(l), Some(h)) = (&lo, &hi) {
            if l > h { return Ok(()); }
        }
        let mut want: Vec<(Vec<u8>, Vec<u8>)> = model.range::<[u8], _>((lob, hib)).map(|(k, v)| (k.clone(), v.clone())).collect();
        if reverse { want.reverse(); }
        want.truncate(stop_after);
        let mut got = Vec::new();
        view.scan(Table::Items, (lob, hib), reverse, &mut |k, v| {
            got.push((k.to_vec(), v.to_vec()));
            Ok(got.len() < stop_after)
        }).unwrap();
        if stop_after == 0 {
            // The visitor is called once and says stop.
            prop_assert!(got.len() <= 1);
        } else {
            prop_assert_eq!(got, want);
        }
    }
}
