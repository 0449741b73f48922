//! Streams: append, expected_last, reads both ways, trims, info, delete.

use super::*;
use crate::{Direction, Error, Namespace, Rule, StreamEntry, StreamInfo, TrimTo, Value};
use serde_json::json;

fn seqs(es: &[StreamEntry]) -> Vec<u64> {
    es.iter().map(|e| e.seq).collect()
}

/// Append one and many; read forward and backward from any sequence with a limit.
pub async fn stream_append_and_read(make: &dyn MakeStore) {
    let env = Env::new(make).await;
    let s = &env.store;
    let n = ns(&["t", "chat"]);
    assert_eq!(
        s.append(&n, "msgs", vec![jv(json!({"i": 1}))], None)
            .await
            .unwrap(),
        (1, 1)
    );
    env.advance(10);
    assert_eq!(
        s.append(
            &n,
            "msgs",
            vec![
                jv(json!({"i": 2})),
                Value::bytes("text/plain", "three"),
                jv(json!({"i": 4}))
            ],
            None
        )
        .await
        .unwrap(),
        (2, 4)
    );
    env.advance(10);
    assert_eq!(
        s.append(&n, "msgs", vec![jv(json!({"i": 5}))], None)
            .await
            .unwrap(),
        (5, 5)
    );
    // Another stream and another namespace have their own sequences.
    assert_eq!(
        s.append(&n, "other", vec![jv(json!(0))], None)
            .await
            .unwrap(),
        (1, 1)
    );
    assert_eq!(
        s.append(&ns(&["t", "chat2"]), "msgs", vec![jv(json!(0))], None)
            .await
            .unwrap(),
        (1, 1)
    );

    let all = s
        .read_stream(&n, "msgs", None, Direction::Forward, 100)
        .await
        .unwrap();
    assert_eq!(seqs(&all), [1, 2, 3, 4, 5]);
    assert_eq!(
        all.iter().map(|e| e.at).collect::<Vec<_>>(),
        [T0, T0 + 10, T0 + 10, T0 + 10, T0 + 20],
        "entries carry their append time"
    );
    assert_eq!(all[0].value, jv(json!({"i": 1})));
    assert_eq!(all[2].value, Value::bytes("text/plain", "three"));
    assert_eq!(all[3].value.to_json().unwrap(), json!({"i": 4}));

    let nr = &n;
    let read = |from, dir, limit| async move {
        seqs(&s.read_stream(nr, "msgs", from, dir, limit).await.unwrap())
    };
    use Direction::{Backward, Forward};
    assert_eq!(read(Some(3), Forward, 100).await, [3, 4, 5]);
    assert_eq!(read(Some(3), Forward, 1).await, [3]);
    assert_eq!(read(Some(2), Forward, 2).await, [2, 3]);
    assert_eq!(read(None, Forward, 2).await, [1, 2]);
    assert_eq!(read(Some(0), Forward, 100).await, [1, 2, 3, 4, 5]);
    assert!(read(Some(6), Forward, 100).await.is_empty());
    assert_eq!(read(None, Backward, 2).await, [5, 4]);
    assert_eq!(read(None, Backward, 100).await, [5, 4, 3, 2, 1]);
    assert_eq!(read(Some(3), Backward, 100).await, [3, 2, 1]);
    assert_eq!(read(Some(3), Backward, 2).await, [3, 2]);
    assert_eq!(read(Some(99), Backward, 2).await, [5, 4]);
    assert!(read(Some(0), Backward, 100).await.is_empty());
    assert!(s
        .read_stream(&n, "missing", None, Forward, 10)
        .await
        .unwrap()
        .is_empty());
    // Paging forward by the last sequence seen covers everything once.
    let mut from = Some(1);
    let mut paged = Vec::new();
    while let Some(f) = from {
        let page = read(Some(f), Forward, 2).await;
        from = page.last().map(|l| l + 1);
        paged.extend(page);
    }
    assert_eq!(paged, [1, 2, 3, 4, 5]);
}

/// expected_last: appends only when it is the stream's last sequence; a mismatch changes
/// nothing and reports the current last sequence.
pub async fn stream_expected_last(make: &dyn MakeStore) {
    let env = Env::new(make).await;
    let s = &env.store;
    let n = ns(&["t", "seq"]);
    // A new stream's last sequence is 0.
    assert_eq!(
        s.append(&n, "s", vec![jv(json!(1))], Some(0)).await,
        Ok((1, 1))
    );
    assert_eq!(
        s.append(&n, "s", vec![jv(json!(2)), jv(json!(3))], Some(1))
            .await,
        Ok((2, 3))
    );
    let before = env.last_lsn().await;
    for wrong in [0, 1, 2, 4, 100] {
        assert_eq!(
            s.append(&n, "s", vec![jv(json!("x"))], Some(wrong)).await,
            Err(Error::SequenceMismatch {
                expected: wrong,
                current: 3
            })
        );
    }
    assert_eq!(
        s.append(&n, "new", vec![jv(json!("x"))], Some(5)).await,
        Err(Error::SequenceMismatch {
            expected: 5,
            current: 0
        })
    );
    assert_eq!(env.last_lsn().await, before, "mismatches write nothing");
    assert_eq!(s.stream_info(&n, "new").await.unwrap(), None);
    assert_eq!(s.stream_info(&n, "s").await.unwrap().unwrap().last_seq, 3);
    assert_eq!(
        s.append(&n, "s", vec![jv(json!(4))], Some(3)).await,
        Ok((4, 4))
    );
    // After a trim, expected_last is still the last sequence, not the length.
    s.trim(&n, "s", TrimTo::KeepLast(1)).await.unwrap();
    assert_eq!(
        s.append(&n, "s", vec![jv(json!(5))], Some(1)).await,
        Err(Error::SequenceMismatch {
            expected: 1,
            current: 4
        })
    );
    assert_eq!(
        s.append(&n, "s", vec![jv(json!(5))], Some(4)).await,
        Ok((5, 5))
    );
}

/// Trim by KeepLast, Before and OlderThan; removed counts; sequences continue after a trim.
pub async fn stream_trim(make: &dyn MakeStore) {
    let env = Env::new(make).await;
    let s = &env.store;
    let n = ns(&["t", "trim"]);
    // 10 entries, at T0 + 100 * seq.
    for i in 1..=10u64 {
        env.advance(100);
        s.append(&n, "s", vec![jv(json!(i))], None).await.unwrap();
    }
    let info = |first, last, len| StreamInfo {
        len,
        first_seq: first,
        last_seq: last,
        bytes: (first..=last).map(|i| i.to_string().len() as u64).sum(),
    };
    let cur = || async { s.stream_info(&n, "s").await.unwrap().unwrap() };
    let read = || async {
        seqs(
            &s.read_stream(&n, "s", None, Direction::Forward, 100)
                .await
                .unwrap(),
        )
    };
    assert_eq!(cur().await, info(1, 10, 10));
    assert_eq!(s.trim(&n, "s", TrimTo::KeepLast(20)).await, Ok(0));
    assert_eq!(s.trim(&n, "s", TrimTo::KeepLast(8)).await, Ok(2));
    assert_eq!(read().await, (3..=10).collect::<Vec<_>>());
    assert_eq!(cur().await, info(3, 10, 8));
    assert_eq!(s.trim(&n, "s", TrimTo::Before(2)).await, Ok(0));
    assert_eq!(s.trim(&n, "s", TrimTo::Before(5)).await, Ok(2));
    assert_eq!(cur().await, info(5, 10, 6));
    // OlderThan: entry i was appended at T0 + 100 i; strictly older ones go.
    assert_eq!(
        s.trim(&n, "s", TrimTo::OlderThan(T0 + 700)).await,
        Ok(2),
        "entries 5 and 6"
    );
    assert_eq!(read().await, [7, 8, 9, 10]);
    assert_eq!(s.trim(&n, "s", TrimTo::OlderThan(T0)).await, Ok(0));
    let l = env.last_lsn().await;
    assert_eq!(s.trim(&n, "s", TrimTo::Before(7)).await, Ok(0));
    assert_eq!(
        env.last_lsn().await,
        l,
        "a trim that removes nothing writes nothing"
    );
    // Reading from a trimmed sequence starts at the first kept one.
    assert_eq!(
        seqs(
            &s.read_stream(&n, "s", Some(1), Direction::Forward, 2)
                .await
                .unwrap()
        ),
        [7, 8]
    );
    // Trim everything: an empty stream that keeps counting.
    assert_eq!(s.trim(&n, "s", TrimTo::KeepLast(0)).await, Ok(4));
    let empty = cur().await;
    assert_eq!(
        (empty.len, empty.first_seq, empty.last_seq, empty.bytes),
        (0, 11, 10, 0)
    );
    assert!(read().await.is_empty());
    assert_eq!(s.trim(&n, "s", TrimTo::Before(100)).await, Ok(0));
    assert_eq!(
        s.append(&n, "s", vec![jv(json!(11))], Some(10)).await,
        Ok((11, 11))
    );
    assert_eq!(cur().await, info(11, 11, 1));
    // A stream that does not exist.
    assert!(matches!(
        s.trim(&n, "missing", TrimTo::KeepLast(1)).await,
        Err(Error::NotFound { .. })
    ));
    // Counters follow.
    let st = ns_stats(s, &n).await;
    assert_eq!((st.streams, st.stream_entries, st.stream_bytes), (1, 1, 2));
}

/// stream_info reports length and bounds; delete_stream removes entries and info.
pub async fn stream_info_and_delete(make: &dyn MakeStore) {
    let env = Env::new(make).await;
    let s = &env.store;
    let n = ns(&["t", "info"]);
    assert_eq!(s.stream_info(&n, "s").await.unwrap(), None);
    s.append(
        &n,
        "s",
        vec![jv(json!("ab")), Value::bytes("x/y", vec![0u8; 10])],
        None,
    )
    .await
    .unwrap();
    s.append(&n, "t", vec![jv(json!(1))], None).await.unwrap();
    assert_eq!(
        s.stream_info(&n, "s").await.unwrap(),
        Some(StreamInfo {
            len: 2,
            first_seq: 1,
            last_seq: 2,
            bytes: 4 + 10
        })
    );
    let st = ns_stats(s, &n).await;
    assert_eq!((st.streams, st.stream_entries, st.stream_bytes), (2, 3, 15));

    assert!(s.delete_stream(&n, "s").await.unwrap());
    assert_eq!(s.stream_info(&n, "s").await.unwrap(), None);
    assert!(s
        .read_stream(&n, "s", None, Direction::Forward, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(!s.delete_stream(&n, "s").await.unwrap(), "already gone");
    let st = ns_stats(s, &n).await;
    assert_eq!((st.streams, st.stream_entries, st.stream_bytes), (1, 1, 1));
    assert_eq!(
        s.stream_info(&n, "t").await.unwrap().unwrap().len,
        1,
        "other streams are untouched"
    );
    // A stream of the same name starts again.
    assert_eq!(
        s.append(&n, "s", vec![jv(json!(1))], None).await.unwrap(),
        (1, 1)
    );
    assert!(s.delete_stream(&n, "s").await.unwrap());
    assert!(s.delete_stream(&n, "t").await.unwrap());
    assert_eq!(ns_stats(s, &n).await, Default::default());
    assert!(s
        .list_namespaces(&n, None, 10, None)
        .await
        .unwrap()
        .items
        .is_empty());
}

/// `list_streams`: every stream under a prefix at every depth, in order, paged with
/// cursors that refuse another prefix; deleted streams disappear.
pub async fn stream_listing(make: &dyn MakeStore) {
    let env = Env::new(make).await;
    let s = &env.store;
    let a = ns(&["t", "a"]);
    let deep = ns(&["t", "a", "deep"]);
    let other = ns(&["u"]);
    for (n, name) in [(&a, "s2"), (&a, "s1"), (&deep, "x"), (&other, "o")] {
        s.append(n, name, vec![jv(json!(1))], None).await.unwrap();
    }
    let all = s.list_streams(&ns(&["t"]), 10, None).await.unwrap();
    assert_eq!(
        all.items,
        vec![
            (a.clone(), "s1".to_string()),
            (a.clone(), "s2".to_string()),
            (deep.clone(), "x".to_string()),
        ]
    );
    assert_eq!(all.cursor, None);
    let p1 = s.list_streams(&ns(&["t"]), 2, None).await.unwrap();
    assert_eq!(p1.items.len(), 2);
    let c = p1.cursor.expect("more to come");
    let p2 = s.list_streams(&ns(&["t"]), 2, Some(&c)).await.unwrap();
    assert_eq!(p2.items, vec![(deep.clone(), "x".to_string())]);
    assert_eq!(p2.cursor, None);
    let err = s.list_streams(&other, 2, Some(&c)).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidInput {
                rule: Rule::Cursor,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        s.list_streams(&Namespace::root(), 10, None)
            .await
            .unwrap()
            .items
            .len(),
        4
    );
    s.delete_stream(&a, "s1").await.unwrap();
    assert_eq!(s.list_streams(&a, 10, None).await.unwrap().items.len(), 2);
}
