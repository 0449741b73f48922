//! Scans (ordering, paging, key prefix and range, recursive) and namespace listing.

use super::*;
use crate::{Namespace, Rule, Scan, Ttl};
use serde_json::json;
use std::collections::HashSet;
use std::time::Duration;

fn keys(items: &[crate::Item]) -> Vec<String> {
    items.iter().map(|i| i.key.clone()).collect()
}

fn paths(items: &[crate::Item]) -> Vec<String> {
    items
        .iter()
        .map(|i| format!("{}:{}", i.ns, i.key))
        .collect()
}

fn scan(n: &Namespace) -> Scan {
    Scan {
        ns: n.clone(),
        limit: 1000,
        ..Default::default()
    }
}

/// Items come back in key (byte) order; paging with limit + cursor covers every item exactly
/// once, also while items are added and removed between pages.
pub async fn scan_order_and_paging(make: &dyn MakeStore) {
    let env = Env::new(make).await;
    let s = &env.store;
    let n = ns(&["t", "scan"]);
    // Inserted out of order; byte order puts "B" < "a" < "a0" < "b" < "é".
    let mut want: Vec<String> = (0..23).map(|i| format!("k{:02}", (i * 7) % 23)).collect();
    want.extend(["a", "B", "a0", "b", "é", "k", "k0"].map(String::from));
    for k in &want {
        s.put(&n, k, jv(json!(k))).await.unwrap();
    }
    want.sort();
    // Neighbours that must not show up.
    s.put(&ns(&["t"]), "k01", jv(json!(0))).await.unwrap();
    s.put(&ns(&["t", "scan", "child"]), "k01", jv(json!(0)))
        .await
        .unwrap();
    s.put(&ns(&["t", "scanner"]), "k01", jv(json!(0)))
        .await
        .unwrap();

    let all = s.scan(&scan(&n)).await.unwrap();
    assert_eq!(keys(&all.items), want);
    assert_eq!(all.cursor, None, "everything fit: no cursor");
    for it in &all.items {
        assert_eq!(it.ns, n);
        assert_eq!(it.value.to_json().unwrap(), json!(it.key));
        assert_eq!(Some(it), s.get(&n, &it.key).await.unwrap().as_ref());
    }
    for limit in [1, 2, 3, 7, 29, 30, 31] {
        let mut req = Scan { limit, ..scan(&n) };
        let mut got = Vec::new();
        let mut pages = 0;
        loop {
            let p = s.scan(&req).await.unwrap();
            pages += 1;
            assert!(p.items.len() <= limit);
            got.extend(keys(&p.items));
            match p.cursor {
                Some(c) => {
                    assert_eq!(p.items.len(), limit, "only full pages have a cursor");
                    req.cursor = Some(c);
                }
                None => break,
            }
        }
        assert_eq!(
            got, want,
            "limit {limit}: every item exactly once, in order"
        );
        assert_eq!(
            pages,
            want.len().div_ceil(limit),
            "limit {limit}: page count"
        );
    }
    // Writes between pages: the cursor is a position, not a snapshot.
    let p1 = s
        .scan(&Scan {
            limit: 5,
            ..scan(&n)
        })
        .await
        .unwrap();
    let last = p1.items.last().unwrap().key.clone();
    assert!(s.delete(&n, &last, crate::Precondition::Any).await.unwrap());
    s.put(&n, "A", jv(json!(0))).await.unwrap(); // before the cursor: not seen
    s.put(&n, "zzz", jv(json!(0))).await.unwrap(); // after: seen
    let rest = scan_all(
        s,
        Scan {
            cursor: p1.cursor.clone(),
            ..scan(&n)
        },
        4,
    )
    .await;
    let mut want_rest: Vec<String> = want[5..].to_vec();
    want_rest.push("zzz".into());
    want_rest.sort();
    assert_eq!(keys(&rest), want_rest);
    // An empty namespace.
    let e = s.scan(&scan(&ns(&["t", "empty"]))).await.unwrap();
    assert!(e.items.is_empty() && e.cursor.is_none());
}

/// Key prefix, start (inclusive) and end (exclusive), alone and together, with paging.
pub async fn scan_key_prefix_and_range(make: &dyn MakeStore) {
    let env = Env::new(make).await;
    let s = &env.store;
    let n = ns(&["t", "range"]);
    let all = [
        "group:1", "group:2", "user", "user:", "user:1", "user:10", "user:2", "user:3", "usera",
        "userb", "v",
    ];
    for k in all {
        s.put(&n, k, jv(json!(k))).await.unwrap();
    }
    s.put(&ns(&["t", "range", "sub"]), "user:4", jv(json!(0)))
        .await
        .unwrap();
    let opt = |x: &str| Some(x.to_string());
    let cases: Vec<(Scan, Vec<&str>)> = vec![
        (
            Scan {
                key_prefix: opt("user:"),
                ..scan(&n)
            },
            vec!["user:", "user:1", "user:10", "user:2", "user:3"],
        ),
        (
            Scan {
                key_prefix: opt("user"),
                ..scan(&n)
            },
            vec![
                "user", "user:", "user:1", "user:10", "user:2", "user:3", "usera", "userb",
            ],
        ),
        (
            Scan {
                key_prefix: opt("nope"),
                ..scan(&n)
            },
            vec![],
        ),
        (
            Scan {
                start: opt("user:1"),
                end: opt("user:3"),
                ..scan(&n)
            },
            vec!["user:1", "user:10", "user:2"],
        ),
        (
            Scan {
                start: opt("user:2"),
                ..scan(&n)
            },
            vec!["user:2", "user:3", "usera", "userb", "v"],
        ),
        (
            Scan {
                end: opt("user"),
                ..scan(&n)
            },
            vec!["group:1", "group:2"],
        ),
        (
            Scan {
                start: opt("user:0"),
                end: opt("user:0"),
                ..scan(&n)
            },
            vec![],
        ),
        (
            Scan {
                start: opt("z"),
                end: opt("a"),
                ..scan(&n)
            },
            vec![],
        ),
        (
            Scan {
                key_prefix: opt("user:"),
                start: opt("user:10"),
                end: opt("user:3"),
                ..scan(&n)
            },
            vec!["user:10", "user:2"],
        ),
        (
            Scan {
                key_prefix: opt("user:"),
                start: opt("a"),
                end: opt("z"),
                ..scan(&n)
            },
            vec!["user:", "user:1", "user:10", "user:2", "user:3"],
        ),
        (
            Scan {
                key_prefix: opt("user:"),
                start: opt("user:2x"),
                ..scan(&n)
            },
            vec!["user:3"],
        ),
    ];
    for (req, want) in cases {
        let got = s.scan(&req).await.unwrap();
        assert_eq!(keys(&got.items), want, "{req:?}");
        assert_eq!(got.cursor, None);
        for limit in [1, 2] {
            let paged = scan_all(s, req.clone(), limit).await;
            assert_eq!(keys(&paged), want, "{req:?} paged by {limit}");
        }
    }
}

/// A recursive scan covers a namespace and every namespace below it, ordered by namespace
/// then key (a namespace's own items before its children's), and pages across namespaces.
pub async fn scan_recursive(make: &dyn MakeStore) {
    let env = Env::new(make).await;
    let s = &env.store;
    let layout: [(&[&str], &[&str]); 7] = [
        (&["t"], &["z", "a"]),
        (&["t", "a"], &["k2", "k1"]),
        (&["t", "a", "b"], &["k"]),
        (&["t", "a", "b", "c"], &["k"]),
        (&["t", "ab"], &["k"]),
        (&["t", "b"], &["k"]),
        (&["tx"], &["k"]),
    ];
    for (n, ks) in layout {
        for k in ks {
            s.put(&ns(n), k, jv(json!(k))).await.unwrap();
        }
    }
    s.append(&ns(&["t", "a"]), "stream-only", vec![jv(json!(1))], None)
        .await
        .unwrap();
    let rec = |n: Namespace| Scan {
        ns: n,
        recursive: true,
        limit: 1000,
        ..Default::default()
    };
    let got = scan_all(s, rec(ns(&["t", "a"])), 1000).await;
    assert_eq!(
        paths(&got),
        ["t/a:k1", "t/a:k2", "t/a/b:k", "t/a/b/c:k"],
        "t/ab is not under t/a"
    );
    let all_t = [
        "t:a",
        "t:z",
        "t/a:k1",
        "t/a:k2",
        "t/a/b:k",
        "t/a/b/c:k",
        "t/ab:k",
        "t/b:k",
    ];
    for limit in [1, 2, 3, 1000] {
        assert_eq!(
            paths(&scan_all(s, rec(ns(&["t"])), limit).await),
            all_t,
            "limit {limit}"
        );
    }
    let everything = scan_all(s, rec(Namespace::root()), 3).await;
    let mut want: Vec<&str> = all_t.to_vec();
    want.push("tx:k");
    assert_eq!(paths(&everything), want, "the root covers everything");
    assert!(scan_all(s, rec(ns(&["nothing"])), 10).await.is_empty());
    // Key filters need one namespace.
    assert_invalid(
        s.scan(&Scan {
            key_prefix: Some("k".into()),
            ..rec(ns(&["t"]))
        })
        .await,
        Rule::Range,
    );
    // A non-recursive scan of the root is not allowed: items live in real namespaces.
    assert_invalid(
        s.scan(&scan(&Namespace::root())).await,
        Rule::NamespaceEmpty,
    );
}

/// Expired items are skipped without using up the page.
pub async fn scan_skips_expired(make: &dyn MakeStore) {
    let env = Env::new(make).await;
    let s = &env.store;
    let n = ns(&["t", "exp"]);
    for i in 0..10 {
        let ttl = if i % 2 == 0 {
            Ttl::After(Duration::from_secs(5))
        } else {
            Ttl::Never
        };
        s.apply(crate::Mutation::Put {
            ns: n.clone(),
            key: format!("k{i}"),
            value: jv(json!(i)),
            precondition: crate::Precondition::Any,
            ttl,
            subject: None,
            fence: None,
        })
        .await
        .unwrap();
    }
    assert_eq!(scan_all(s, scan(&n), 3).await.len(), 10);
    env.advance(5_000);
    let odd = ["k1", "k3", "k5", "k7", "k9"];
    for limit in [1, 2, 5, 100] {
        assert_eq!(keys(&scan_all(s, scan(&n), limit).await), odd);
    }
    let p = s
        .scan(&Scan {
            limit: 5,
            ..scan(&n)
        })
        .await
        .unwrap();
    assert_eq!(keys(&p.items), odd);
    assert_eq!(p.cursor, None, "only expired items follow: no cursor");
}

/// Cursors that were not issued by this scan are refused with Rule::Cursor.
pub async fn scan_invalid_cursor(make: &dyn MakeStore) {
    let env = Env::new(make).await;
    let s = &env.store;
    let (a, b) = (ns(&["t", "a"]), ns(&["t", "b"]));
    for k in ["1", "2", "3"] {
        s.put(&a, k, jv(json!(1))).await.unwrap();
        s.put(&b, k, jv(json!(1))).await.unwrap();
    }
    let pa = s
        .scan(&Scan {
            limit: 1,
            ..scan(&a)
        })
        .await
        .unwrap();
    let ca = pa.cursor.expect("a cursor");
    for bad in ["!!!", "not base64 at all", "%%%%", "\u{1F980}"] {
        assert_invalid(
            s.scan(&Scan {
                cursor: Some(bad.into()),
                ..scan(&a)
            })
            .await,
            Rule::Cursor,
        );
    }
    // A cursor of namespace a used on namespace b.
    assert_invalid(
        s.scan(&Scan {
            cursor: Some(ca.clone()),
            ..scan(&b)
        })
        .await,
        Rule::Cursor,
    );
    assert_invalid(
        s.list_namespaces(&ns(&["zzz"]), None, 10, Some(&ca)).await,
        Rule::Cursor,
    );
    assert_invalid(
        s.list_namespaces(&Namespace::root(), None, 10, Some("!!!"))
            .await,
        Rule::Cursor,
    );
    // The right cursor still works.
    let p = s
        .scan(&Scan {
            cursor: Some(ca),
            ..scan(&a)
        })
        .await
        .unwrap();
    assert_eq!(keys(&p.items), ["2", "3"]);
}

async fn all_namespaces(
    s: &Subject,
    prefix: &Namespace,
    depth: Option<usize>,
    limit: usize,
) -> Vec<String> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    let mut seen = HashSet::new();
    loop {
        let p = s
            .list_namespaces(prefix, depth, limit, cursor.as_deref())
            .await
            .unwrap();
        assert!(p.items.len() <= limit);
        for n in p.items {
            assert!(seen.insert(n.clone()), "{n} listed twice (limit {limit})");
            out.push(n.to_string());
        }
        match p.cursor {
            Some(c) => cursor = Some(c),
            None => return out,
        }
    }
}

/// Namespaces holding items or streams are listed under a prefix, in order; emptied ones
/// disappear.
pub async fn list_namespaces_prefix(make: &dyn MakeStore) {
    let env = Env::new(make).await;
    let s = &env.store;
    for n in [
        &["t", "a"][..],
        &["t", "a", "x"],
        &["t", "b"],
        &["tb"],
        &["u", "v"],
    ] {
        s.put(&ns(n), "k", jv(json!(1))).await.unwrap();
    }
    s.append(&ns(&["t", "s"]), "stream", vec![jv(json!(1))], None)
        .await
        .unwrap();
    s.acquire_lease(&ns(&["t", "lease-only"]), "l", "me", Duration::from_secs(5))
        .await
        .unwrap();
    let list = |p: &[&str]| {
        let p = ns(p);
        async move { all_namespaces(s, &p, None, 100).await }
    };
    assert_eq!(list(&["t"]).await, ["t/a", "t/a/x", "t/b", "t/s"]);
    assert_eq!(list(&[]).await, ["t/a", "t/a/x", "t/b", "t/s", "tb", "u/v"]);
    assert_eq!(list(&["t", "a"]).await, ["t/a", "t/a/x"]);
    assert_eq!(list(&["t", "a", "x"]).await, ["t/a/x"]);
    assert!(list(&["v"]).await.is_empty());
    assert!(list(&["t", "c"]).await.is_empty());
    // A namespace whose last item goes away is no longer listed.
    assert!(s
        .delete(&ns(&["t", "b"]), "k", crate::Precondition::Any)
        .await
        .unwrap());
    assert!(s.delete_stream(&ns(&["t", "s"]), "stream").await.unwrap());
    assert_eq!(list(&["t"]).await, ["t/a", "t/a/x"]);
}

/// max_depth truncates namespaces to that many segments and de-duplicates them; paging with
/// any limit gives the same list as one page.
pub async fn list_namespaces_depth_and_paging(make: &dyn MakeStore) {
    let env = Env::new(make).await;
    let s = &env.store;
    for n in [
        &["t", "a"][..],
        &["t", "a", "x"],
        &["t", "a", "x", "1"],
        &["t", "a", "y"],
        &["t", "b", "y", "z"],
        &["t", "b", "z"],
        &["t", "c"],
        &["t", "c", "d"],
        &["u"],
        &["u", "v", "w"],
    ] {
        s.put(&ns(n), "k", jv(json!(1))).await.unwrap();
    }
    let t = ns(&["t"]);
    let full = [
        "t/a", "t/a/x", "t/a/x/1", "t/a/y", "t/b/y/z", "t/b/z", "t/c", "t/c/d",
    ];
    let cases: Vec<(Namespace, Option<usize>, Vec<&str>)> = vec![
        (t.clone(), None, full.to_vec()),
        (t.clone(), Some(10), full.to_vec()),
        (t.clone(), Some(2), vec!["t/a", "t/b", "t/c"]),
        (
            t.clone(),
            Some(3),
            vec!["t/a", "t/a/x", "t/a/y", "t/b/y", "t/b/z", "t/c", "t/c/d"],
        ),
        (t.clone(), Some(1), vec!["t"]),
        (Namespace::root(), Some(1), vec!["t", "u"]),
        (
            Namespace::root(),
            Some(2),
            vec!["t/a", "t/b", "t/c", "u", "u/v"],
        ),
        (
            Namespace::root(),
            None,
            vec![
                "t/a", "t/a/x", "t/a/x/1", "t/a/y", "t/b/y/z", "t/b/z", "t/c", "t/c/d", "u",
                "u/v/w",
            ],
        ),
        (ns(&["t", "a"]), Some(3), vec!["t/a", "t/a/x", "t/a/y"]),
    ];
    for (prefix, depth, want) in cases {
        for limit in [1, 2, 3, 100] {
            assert_eq!(
                all_namespaces(s, &prefix, depth, limit).await,
                want,
                "prefix {prefix:?}, max_depth {depth:?}, limit {limit}"
            );
        }
    }
}
