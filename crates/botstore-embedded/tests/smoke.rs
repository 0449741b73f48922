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
