//! Patches: RFC 7396 merge patch, RFC 6902 JSON Patch, failures.

use super::*;
use crate::{Error, Limits, Mutation, PatchOp, Precondition, Rule, Ttl, Value};
use serde_json::json;
use std::time::Duration;

/// Every example of RFC 7396 appendix A, plus creation of a missing item from `{}`.
pub async fn merge_patch_rfc7396(make: &dyn MakeStore) {
    let env = Env::new(make).await;
    let s = &env.store;
    let n = ns(&["t", "merge"]);
    let cases = [
        (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
        (
            json!({"a": "b"}),
            json!({"b": "c"}),
            json!({"a": "b", "b": "c"}),
        ),
        (json!({"a": "b"}), json!({"a": null}), json!({})),
        (
            json!({"a": "b", "b": "c"}),
            json!({"a": null}),
            json!({"b": "c"}),
        ),
        (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
        (json!({"a": "c"}), json!({"a": ["b"]}), json!({"a": ["b"]})),
        (
            json!({"a": {"b": "c"}}),
            json!({"a": {"b": "d", "c": null}}),
            json!({"a": {"b": "d"}}),
        ),
        (
            json!({"a": [{"b": "c"}]}),
            json!({"a": [1]}),
            json!({"a": [1]}),
        ),
        (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
        (json!({"a": "b"}), json!(["c"]), json!(["c"])),
        (json!({"a": "foo"}), json!(null), json!(null)),
        (json!({"a": "foo"}), json!("bar"), json!("bar")),
        (
            json!({"e": null}),
            json!({"a": 1}),
            json!({"e": null, "a": 1}),
        ),
        (
            json!([1, 2]),
            json!({"a": "b", "c": null}),
            json!({"a": "b"}),
        ),
        (
            json!({}),
            json!({"a": {"bb": {"ccc": null}}}),
            json!({"a": {"bb": {}}}),
        ),
    ];
    for (i, (orig, patch, want)) in cases.into_iter().enumerate() {
        let k = format!("case{i}");
        let v0 = s.put(&n, &k, jv(orig.clone())).await.unwrap();
        let v = s
            .patch(&n, &k, PatchOp::Merge(patch.clone()), Precondition::Any)
            .await
            .unwrap();
        assert!(v > v0);
        let it = s.get(&n, &k).await.unwrap().unwrap();
        assert_eq!(it.version, v);
        assert!(it.value.is_json());
        assert_eq!(
            it.value.to_json().unwrap(),
            want,
            "merge {patch} into {orig}"
        );
    }
    // A missing item is created from {}.
    s.patch(
        &n,
        "fresh",
        PatchOp::Merge(json!({"a": 1, "b": null, "c": {"d": null}})),
        Precondition::Any,
    )
    .await
    .unwrap();
    let it = s.get(&n, "fresh").await.unwrap().unwrap();
    assert_eq!(it.value.to_json().unwrap(), json!({"a": 1, "c": {}}));
    assert_eq!((it.created_at, it.updated_at), (T0, T0));
}

/// JSON Patch operations: add, remove, replace, move, copy, test.
pub async fn json_patch_rfc6902(make: &dyn MakeStore) {
    let env = Env::new(make).await;
    let s = &env.store;
    let n = ns(&["t", "jp"]);
    let cases = [
        (
            json!({"foo": "bar"}),
            json!([{"op": "add", "path": "/baz", "value": "qux"}]),
            json!({"foo": "bar", "baz": "qux"}),
        ),
        (
            json!({"foo": ["bar", "baz"]}),
            json!([{"op": "add", "path": "/foo/1", "value": "qux"}]),
            json!({"foo": ["bar", "qux", "baz"]}),
        ),
        (
            json!({"baz": "qux", "foo": "bar"}),
            json!([{"op": "remove", "path": "/baz"}]),
            json!({"foo": "bar"}),
        ),
        (
            json!({"baz": "qux", "foo": "bar"}),
            json!([{"op": "replace", "path": "/baz", "value": "boo"}]),
            json!({"baz": "boo", "foo": "bar"}),
        ),
        (
            json!({"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}}),
            json!([{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}]),
            json!({"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}}),
        ),
        (
            json!({"a": {"b": [1, 2]}}),
            json!([{"op": "copy", "from": "/a/b", "path": "/c"}]),
            json!({"a": {"b": [1, 2]}, "c": [1, 2]}),
        ),
        (
            json!({"baz": "qux", "foo": ["a", 2, "c"]}),
            json!([
                {"op": "test", "path": "/baz", "value": "qux"},
                {"op": "test", "path": "/foo/1", "value": 2},
                {"op": "add", "path": "/foo/-", "value": "d"}
            ]),
            json!({"baz": "qux", "foo": ["a", 2, "c", "d"]}),
        ),
        (
            json!({"a~b": 1, "c/d": 2}),
            json!([
                {"op": "replace", "path": "/a~0b", "value": 10},
                {"op": "remove", "path": "/c~1d"}
            ]),
            json!({"a~b": 10}),
        ),
        (
            json!(1),
            json!([{"op": "replace", "path": "", "value": {"x": 1}}]),
            json!({"x": 1}),
        ),
    ];
    for (i, (orig, patch, want)) in cases.into_iter().enumerate() {
        let k = format!("case{i}");
        s.put(&n, &k, jv(orig)).await.unwrap();
        let v = s
            .patch(&n, &k, json_patch(patch.clone()), Precondition::Any)
            .await
            .unwrap_or_else(|e| panic!("patch {patch}: {e}"));
        let it = s.get(&n, &k).await.unwrap().unwrap();
        assert_eq!(it.version, v);
        assert_eq!(it.value.to_json().unwrap(), want, "patch {patch}");
    }
}

/// Failing patches change nothing: a failing `test` (even after earlier operations that
/// succeeded), a missing path, a missing item, a non-JSON item, a result too large.
pub async fn patch_failures_change_nothing(make: &dyn MakeStore) {
    let env = Env::with(make, |o| {
        o.limits = Limits {
            max_value_size: 64,
            ..Limits::default()
        }
    })
    .await;
    let s = &env.store;
    let n = ns(&["t", "jpfail"]);
    // An item with a TTL and a subject, to see that nothing about it changes.
    let v = s
        .apply(Mutation::Put {
            ns: n.clone(),
            key: "k".into(),
            value: jv(json!({"a": 1, "list": [1]})),
            precondition: Precondition::Any,
            ttl: Ttl::After(Duration::from_secs(3600)),
            subject: Some("subj".into()),
            fence: None,
        })
        .await
        .unwrap()
        .version()
        .unwrap();
    s.put(&n, "bytes", Value::bytes("text/plain", "plain"))
        .await
        .unwrap();
    let item = s.get(&n, "k").await.unwrap().unwrap();
    let bytes_item = s.get(&n, "bytes").await.unwrap().unwrap();
    let before = env.last_lsn().await;
    env.advance(1000);

    let failing = [
        json!([{"op": "test", "path": "/a", "value": 2}]),
        json!([
            {"op": "add", "path": "/b", "value": 1},
            {"op": "replace", "path": "/a", "value": 5},
            {"op": "test", "path": "/a", "value": 1}
        ]),
        json!([{"op": "remove", "path": "/missing"}]),
        json!([{"op": "replace", "path": "/x/y", "value": 1}]),
        json!([{"op": "add", "path": "/list/5", "value": 1}]),
        json!([
            {"op": "add", "path": "/list/-", "value": 2},
            {"op": "move", "from": "/nope", "path": "/a"}
        ]),
        // A move of a child over its parent, then a failure: undoing the move would
        // move the parent into itself (json-patch's undo panics on it; found by the
        // store_ops fuzz target).
        json!([
            {"op": "add", "path": "/o", "value": {"x": 1}},
            {"op": "move", "from": "/o/x", "path": "/o"},
            {"op": "test", "path": "/a", "value": 2}
        ]),
    ];
    for p in failing {
        match s
            .patch(&n, "k", json_patch(p.clone()), Precondition::Any)
            .await
        {
            Err(Error::PatchFailed(_)) => {}
            other => panic!("patch {p} should fail with PatchFailed, got {other:?}"),
        }
    }
    // A JSON Patch on a missing item is NotFound (a merge patch would create it).
    assert!(matches!(
        s.patch(
            &n,
            "missing",
            json_patch(json!([{"op": "add", "path": "/a", "value": 1}])),
            Precondition::Any
        )
        .await,
        Err(Error::NotFound { .. })
    ));
    // Patches of a non-JSON item fail, both kinds.
    assert!(matches!(
        s.patch(
            &n,
            "bytes",
            PatchOp::Merge(json!({"a": 1})),
            Precondition::Any
        )
        .await,
        Err(Error::PatchFailed(_))
    ));
    assert!(matches!(
        s.patch(
            &n,
            "bytes",
            json_patch(json!([{"op": "add", "path": "/a", "value": 1}])),
            Precondition::Any
        )
        .await,
        Err(Error::PatchFailed(_))
    ));
    // A patch whose result is larger than a value may be.
    assert_invalid(
        s.patch(
            &n,
            "k",
            PatchOp::Merge(json!({"big": "x".repeat(100)})),
            Precondition::Any,
        )
        .await,
        Rule::ValueSize,
    );
    assert_eq!(env.last_lsn().await, before, "failed patches assign no LSN");
    assert_eq!(s.get(&n, "k").await.unwrap().unwrap(), item);
    assert_eq!(s.get(&n, "bytes").await.unwrap().unwrap(), bytes_item);
    assert_eq!(s.get(&n, "missing").await.unwrap(), None);

    // A successful patch keeps created_at, expires_at and the subject.
    let v2 = s
        .patch(
            &n,
            "k",
            PatchOp::Merge(json!({"a": 2})),
            Precondition::IfVersion(v),
        )
        .await
        .unwrap();
    let it = s.get(&n, "k").await.unwrap().unwrap();
    assert_eq!(it.version, v2);
    assert_eq!(it.created_at, item.created_at);
    assert_eq!(it.updated_at, T0 + 1000);
    assert_eq!(it.expires_at, item.expires_at, "a patch keeps the TTL");
    assert_eq!(it.subject.as_deref(), Some("subj"));
}
