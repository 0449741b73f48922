use botstore::{Namespace, Precondition, Value};
use botstore_embedded::{open_store, EmbeddedOptions};

#[tokio::test(flavor = "multi_thread")]
async fn data_survives_reopen_and_versions_keep_growing() {
    let dir = tempfile::tempdir().unwrap();
    let ns = Namespace::new(["t", "u1"]);
    let v1 = {
        let s = open_store(dir.path(), EmbeddedOptions::default(), Default::default()).unwrap();
        let v = s
            .put(&ns, "k", Value::json(&serde_json::json!({"a": 1})))
            .await
            .unwrap();
        s.append(
            &ns,
            "log",
            vec![Value::json_text("1"), Value::json_text("2")],
            None,
        )
        .await
        .unwrap();
        v
    };
    let s = open_store(dir.path(), EmbeddedOptions::default(), Default::default()).unwrap();
    let it = s.get(&ns, "k").await.unwrap().unwrap();
    assert_eq!(it.version, v1);
    assert_eq!(it.value.to_json().unwrap(), serde_json::json!({"a": 1}));
    let v2 = s
        .put_if(&ns, "k", Value::json_text("2"), Precondition::IfVersion(v1))
        .await
        .unwrap();
    assert!(v2 > v1);
    assert_eq!(s.stream_info(&ns, "log").await.unwrap().unwrap().len, 2);
}

/// An open that only reads commits nothing: the journal generation stays (so `store.redb`
/// holds the same records and the next write's version follows on), and a clean close
/// leaves `wal.log` empty. (redb itself still rewrites its header and allocator state at
/// close, so the file's bytes are not all the same.)
#[tokio::test(flavor = "multi_thread")]
async fn an_open_that_only_reads_commits_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let ns = Namespace::new(["t", "u1"]);
    {
        let s = open_store(dir.path(), EmbeddedOptions::default(), Default::default()).unwrap();
        for i in 0..50 {
            s.put(&ns, &format!("k{i}"), Value::json_text("1"))
                .await
                .unwrap();
        }
        s.close().unwrap();
    }
    let wal = dir.path().join("wal.log");
    assert_eq!(std::fs::metadata(&wal).unwrap().len(), 0);
    // The journal generation the last commit recorded, read from the closed file.
    let db = dir.path().join("store.redb");
    let generation = || {
        use redb::ReadableDatabase;
        let d = redb::Database::open(&db).unwrap();
        let r = d.begin_read().unwrap();
        botstore_embedded::tables::journal_generation(&r).unwrap()
    };
    let g = generation();
    for _ in 0..2 {
        let s = open_store(dir.path(), EmbeddedOptions::default(), Default::default()).unwrap();
        assert!(s.get(&ns, "k7").await.unwrap().is_some());
        assert_eq!(s.changes(0, 100).await.unwrap().len(), 50);
        s.close().unwrap();
        assert_eq!(std::fs::metadata(&wal).unwrap().len(), 0);
    }
    assert_eq!(generation(), g, "an open with nothing to replay committed");
    // The next write goes on from there, and survives a reopen.
    let s = open_store(dir.path(), EmbeddedOptions::default(), Default::default()).unwrap();
    let v = s.put(&ns, "k", Value::json_text("2")).await.unwrap();
    assert_eq!(v.0, 51);
    s.close().unwrap();
    drop(s);
    assert!(generation() > g, "a close after a write checkpoints");
    let s = open_store(dir.path(), EmbeddedOptions::default(), Default::default()).unwrap();
    assert_eq!(s.get(&ns, "k").await.unwrap().unwrap().version, v);
}
