//! A value on the wire: JSON inline as `value` (its exact text), any other content type as
//! `value_base64` (standard alphabet, padded) with its `content_type`. [`ValueIn`] is the
//! request form, [`ValueOut`] the response form; every type that carries a value (items,
//! stream entries, put mutations, changes) converts through them, so the rules live here
//! once.
//!
//! Response types that carry a value ([`ValueOut`] itself, items, stream entries) declare
//! its fields with one macro, `carries_value_out!`, rather than `#[serde(flatten)]` a
//! `ValueOut`: a flattened field is buffered by serde, and a `RawValue` cannot be read
//! back from that buffer (serde-rs/serde#2213), which would cost the exact JSON text. The
//! put mutation carries [`ValueIn`]'s fields for the same reason.

use super::{err, WireError};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use botstore::{Value, JSON};
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;

/// `Some(v)` for any present value, `null` included (plain `Option` would read `null`
/// as absent, and `null` is a JSON value a caller may store).
pub(super) fn present<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<serde_json::Value>, D::Error> {
    serde_json::Value::deserialize(d).map(Some)
}
pub(super) fn present_raw<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Box<RawValue>>, D::Error> {
    Box::<RawValue>::deserialize(d).map(Some)
}

/// A value given in a request body. JSON travels as text and is stored exactly as sent
/// (never parsed into a tree and re-printed: key order, number formats and big integers
/// survive).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend(
    "oneOf" = [
        {"required": ["value"], "properties": {"content_type": {"enum": ["application/json", null]}}},
        {"required": ["value_base64"], "properties": {"value_base64": {"type": "string"}}}
    ],
    "not" = {"required": ["value", "value_base64"], "properties": {"value_base64": {"type": "string"}}}
))]
pub struct ValueIn {
    /// A JSON value (content type `application/json`).
    #[serde(
        default,
        deserialize_with = "present_raw",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<serde_json::Value>")]
    pub value: Option<Box<RawValue>>,
    /// Bytes of any other content type, base64 (standard alphabet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = crate::schema::BASE64))]
    pub value_base64: Option<String>,
    /// Content type of `value_base64` (default `application/octet-stream`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::opt_content_type_schema")]
    pub content_type: Option<String>,
}

/// JSON text as a raw value, if it is JSON (`None`: send it as base64 instead).
fn raw_json(v: &Value) -> Option<Box<RawValue>> {
    if !v.is_json() {
        return None;
    }
    let text = std::str::from_utf8(&v.data).ok()?;
    // Whitespace around the value would not survive as a raw value; such (rare) values
    // travel as base64 so that the bytes stay exact.
    if text.trim() != text {
        return None;
    }
    RawValue::from_string(text.to_owned()).ok()
}

impl ValueIn {
    pub fn from_value(v: &Value) -> ValueIn {
        if let Some(raw) = raw_json(v) {
            return ValueIn {
                value: Some(raw),
                ..Default::default()
            };
        }
        ValueIn {
            value: None,
            value_base64: Some(STANDARD.encode(&v.data)),
            content_type: Some(v.content_type.clone()),
        }
    }

    pub fn into_value(self) -> Result<Value, WireError> {
        match (self.value, self.value_base64) {
            (Some(_), Some(_)) => err("give either value or value_base64, not both"),
            (None, None) => err("a value is required: value (JSON) or value_base64"),
            (Some(j), None) => {
                if self.content_type.as_deref().is_some_and(|c| c != JSON) {
                    return err("value holds JSON; use value_base64 for other content types");
                }
                Ok(Value {
                    content_type: JSON.into(),
                    data: j.get().as_bytes().to_vec(),
                })
            }
            (None, Some(b)) => Ok(Value {
                content_type: self
                    .content_type
                    .unwrap_or_else(|| "application/octet-stream".into()),
                data: STANDARD
                    .decode(b.as_bytes())
                    .map_err(|e| WireError(format!("value_base64: {e}")))?,
            }),
        }
    }
}

/// Declares a response type that carries a value: its own fields, then the fields of
/// [`ValueOut`] (`content_type`, then `value` for JSON or `value_base64`) with the same
/// serde and schema attributes, written once here. Convert through [`ValueOut`]:
/// `ValueOut::from_value` to fill them, a `ValueOut` of them and `into_value` to read.
macro_rules! carries_value_out {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$fmeta:meta])* pub $field:ident: $ty:ty, )*
        }
    ) => {
        $(#[$meta])*
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
            pub content_type: String,
            #[serde(
                default,
                deserialize_with = "crate::wire::value::present_raw",
                skip_serializing_if = "Option::is_none"
            )]
            #[schemars(with = "Option<serde_json::Value>")]
            pub value: Option<Box<serde_json::value::RawValue>>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub value_base64: Option<String>,
        }
    };
}
pub(crate) use carries_value_out;

carries_value_out! {
    /// A value in a response body: `value` for JSON, `value_base64` otherwise.
    #[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
    pub struct ValueOut {}
}

impl ValueOut {
    pub fn from_value(v: &Value) -> ValueOut {
        if v.is_json() {
            if let Ok(text) = std::str::from_utf8(&v.data) {
                if let Ok(raw) = RawValue::from_string(text.to_owned()) {
                    return ValueOut {
                        content_type: JSON.into(),
                        value: Some(raw),
                        value_base64: None,
                    };
                }
            }
        }
        ValueOut {
            content_type: v.content_type.clone(),
            value: None,
            value_base64: Some(STANDARD.encode(&v.data)),
        }
    }

    pub fn into_value(self) -> Result<Value, WireError> {
        match (self.value, self.value_base64) {
            (Some(raw), None) => Ok(Value {
                content_type: self.content_type,
                data: raw.get().as_bytes().to_vec(),
            }),
            (None, Some(b)) => Ok(Value {
                content_type: self.content_type,
                data: STANDARD
                    .decode(b.as_bytes())
                    .map_err(|e| WireError(format!("value_base64: {e}")))?,
            }),
            _ => err("a value needs exactly one of value and value_base64"),
        }
    }
}

/// A list of values, each a JSON object: serde's derived structs also take a positional
/// array (`[null, null]`), which the schema does not allow and a client never means.
pub fn value_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<ValueIn>, D::Error> {
    let v: Vec<MapOnly> = serde::Deserialize::deserialize(d)?;
    Ok(v.into_iter().map(|m| m.0).collect())
}

pub fn opt_value_list<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<ValueIn>>, D::Error> {
    let v: Option<Vec<MapOnly>> = serde::Deserialize::deserialize(d)?;
    Ok(v.map(|v| v.into_iter().map(|m| m.0).collect()))
}

struct MapOnly(ValueIn);

impl<'de> serde::Deserialize<'de> for MapOnly {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = MapOnly;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a value object: {\"value\": ...} or {\"value_base64\": ...}")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, a: A) -> Result<MapOnly, A::Error> {
                ValueIn::deserialize(serde::de::value::MapAccessDeserializer::new(a)).map(MapOnly)
            }
        }
        d.deserialize_map(V)
    }
}
