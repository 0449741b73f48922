//! JSON bodies of the API and their conversions to and from core types, one module per
//! topic; everything is re-exported here, so paths are `botstore_api::wire::X`.
//!
//! Values: a JSON value travels inline as `value`; any other content type travels as
//! `value_base64` (standard alphabet, padded) with its `content_type`. Namespaces travel
//! as strings, `tenant-a/users/u42` (segments never hold `/`, so this is unambiguous).
//! Durations (TTLs) are strings such as `30s`, `15m`, `24h`, `30d`.
//!
//! * [`value`]: the one representation of a value on the wire, [`ValueIn`] and [`ValueOut`]
//!   (every type that carries a value converts through them);
//! * [`items`]: items, pages, get-many, namespace TTLs;
//! * [`mutations`]: [`MutationIn`], the batch's tagged mutations, and how they are read;
//! * [`batch`]: mutations to and from core types, batch bodies and outcomes;
//! * [`streams`], [`leases`], [`changes`] (the change feed), [`admin`] (stats, compaction,
//!   tokens, health).

use botstore::{Namespace, Ttl};
use std::time::Duration;

pub mod admin;
pub mod batch;
pub mod changes;
pub mod int;
pub mod items;
pub mod leases;
pub mod mutations;
pub mod streams;
pub mod value;

pub use admin::*;
pub use batch::*;
pub use changes::*;
pub use items::*;
pub use leases::*;
pub use mutations::*;
pub use streams::*;
pub use value::*;

/// A request body had a shape the API does not accept. Maps to `malformed-request`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct WireError(pub String);

fn err<T>(s: impl Into<String>) -> Result<T, WireError> {
    Err(WireError(s.into()))
}

/// Parse a TTL string: `never`, or a duration (`30s`, `15m`, `24h`, `30d`).
pub fn parse_ttl(s: Option<&str>) -> Result<Ttl, botstore::Error> {
    match s {
        None => Ok(Ttl::Default),
        Some("never") => Ok(Ttl::Never),
        Some(d) => botstore::parse_duration(d).map(Ttl::After),
    }
}

/// A duration as the API writes it: whole seconds when exact, else milliseconds.
pub fn format_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

fn ns_string(ns: &Namespace) -> String {
    ns.to_string()
}

/// A wire error or a core rule (a TTL that does not parse).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConvertError {
    #[error(transparent)]
    Wire(#[from] WireError),
    #[error(transparent)]
    Core(#[from] botstore::Error),
}

fn duration(s: &str) -> Result<Duration, ConvertError> {
    Ok(botstore::parse_duration(s)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use botstore::{Fence, Item, Mutation, PatchOp, Precondition, TrimTo, Value, Version};
    use serde_json::json;

    #[test]
    fn null_is_a_value_and_absence_is_an_error() {
        let v: ValueIn = serde_json::from_value(json!({"value": null})).unwrap();
        assert_eq!(v.into_value().unwrap().data, b"null");
        let v: ValueIn = serde_json::from_value(json!({})).unwrap();
        assert!(v.into_value().is_err());
    }

    #[test]
    fn mutations_round_trip_through_the_wire() {
        let ns = Namespace::new(["t", "u"]);
        let ms = vec![
            Mutation::put(ns.clone(), "k", Value::json(&json!({"a": [1, null]})))
                .when(Precondition::IfAbsent),
            Mutation::Put {
                ns: ns.clone(),
                key: "b".into(),
                value: Value::bytes("image/png", vec![0, 255, 1]),
                precondition: Precondition::IfVersion(Version(9)),
                ttl: Ttl::After(Duration::from_secs(30)),
                subject: Some("u42".into()),
                fence: Some(Fence {
                    ns: ns.clone(),
                    name: "l".into(),
                    token: 3,
                }),
            },
            Mutation::delete(ns.clone(), "k"),
            Mutation::Patch {
                ns: ns.clone(),
                key: "k".into(),
                patch: PatchOp::Merge(json!({"a": null})),
                precondition: Precondition::Any,
                fence: None,
            },
            Mutation::Append {
                ns: ns.clone(),
                stream: "s".into(),
                entries: vec![Value::json(&json!("hi"))],
                expected_last: Some(0),
            },
            Mutation::Trim {
                ns: ns.clone(),
                stream: "s".into(),
                to: TrimTo::KeepLast(5),
            },
            Mutation::SetNamespaceTtl {
                prefix: ns.clone(),
                ttl: Some(Duration::from_millis(1500)),
            },
        ];
        for m in ms {
            let w = MutationIn::from_mutation(&m).unwrap();
            let text = serde_json::to_string(&w).unwrap();
            let back: MutationIn = serde_json::from_str(&text).unwrap();
            assert_eq!(back.into_mutation().unwrap(), m, "{text}");
        }
    }

    #[test]
    fn json_text_is_kept_exactly_in_batches_and_appends() {
        let body = r#"{"mutations": [
            {"op": "put", "ns": "a", "key": "k", "value": {"z":1, "a":1.50, "n":123456789012345678901}},
            {"op": "append", "ns": "a", "stream": "s", "entries": [{"value": [1.0, {"b":2,"a":1}]}]}
        ]}"#;
        let b: BatchRequest = serde_json::from_str(body).unwrap();
        let ms: Vec<Mutation> = b
            .mutations
            .into_iter()
            .map(|m| m.into_mutation().unwrap())
            .collect();
        match &ms[0] {
            Mutation::Put { value, .. } => assert_eq!(
                std::str::from_utf8(&value.data).unwrap(),
                r#"{"z":1, "a":1.50, "n":123456789012345678901}"#
            ),
            m => panic!("{m:?}"),
        }
        match &ms[1] {
            Mutation::Append { entries, .. } => {
                assert_eq!(entries[0].data, br#"[1.0, {"b":2,"a":1}]"#)
            }
            m => panic!("{m:?}"),
        }
    }

    #[test]
    fn fields_of_another_op_and_missing_fields_are_refused() {
        for bad in [
            json!({"op": "put", "ns": "a", "key": "k", "value": 1, "holder": "x"}),
            json!({"op": "delete", "ns": "a"}),
            json!({"op": "frobnicate", "ns": "a"}),
            json!({"ns": "a", "key": "k", "value": 1}),
        ] {
            assert!(
                serde_json::from_value::<MutationIn>(bad.clone()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn unknown_fields_and_double_values_are_refused() {
        let r: Result<MutationIn, _> = serde_json::from_value(
            json!({"op": "put", "ns": "a", "key": "k", "value": 1, "vaule": 2}),
        );
        assert!(r.is_err());
        let m: MutationIn = serde_json::from_value(
            json!({"op": "put", "ns": "a", "key": "k", "value": 1, "value_base64": "AA=="}),
        )
        .unwrap();
        assert!(m.into_mutation().is_err());
    }

    #[test]
    fn items_round_trip_json_and_bytes() {
        for value in [
            Value::json(&json!({"x": 1})),
            Value::bytes("a/b", vec![1, 2, 3]),
        ] {
            let item = Item {
                ns: Namespace::new(["a"]),
                key: "k".into(),
                value,
                version: Version(5),
                created_at: 1,
                updated_at: 2,
                expires_at: Some(3),
                subject: None,
            };
            let text = serde_json::to_string(&ItemOut::from_item(&item)).unwrap();
            let back: ItemOut = serde_json::from_str(&text).unwrap();
            assert_eq!(back.into_item().unwrap(), item);
        }
    }
}
