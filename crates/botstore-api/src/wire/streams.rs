//! Streams: appends, trims, entries, stream lists and stream info.

use super::value::{carries_value_out, ValueIn, ValueOut};
use super::{err, WireError};
use botstore::{StreamEntry, StreamInfo, TrimTo};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where a trim cuts: exactly one field.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("oneOf" = [
    {"required": ["keep_last"], "properties": {"keep_last": {"type": "integer"}}},
    {"required": ["before"], "properties": {"before": {"type": "integer"}}},
    {"required": ["older_than"], "properties": {"older_than": {"type": "integer"}}}
]))]
pub struct TrimIn {
    /// Keep only the last N entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(deserialize_with = "crate::wire::int::opt_u64")]
    pub keep_last: Option<u64>,
    /// Remove every entry with a sequence below this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(deserialize_with = "crate::wire::int::opt_u64")]
    pub before: Option<u64>,
    /// Remove every entry appended before this time (ms since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(deserialize_with = "crate::wire::int::opt_i64")]
    pub older_than: Option<i64>,
}

impl TrimIn {
    pub fn into_trim(self) -> Result<TrimTo, WireError> {
        match (self.keep_last, self.before, self.older_than) {
            (Some(n), None, None) => Ok(TrimTo::KeepLast(n)),
            (None, Some(s), None) => Ok(TrimTo::Before(s)),
            (None, None, Some(t)) => Ok(TrimTo::OlderThan(t)),
            _ => err("give exactly one of keep_last, before and older_than"),
        }
    }
    pub fn from_trim(t: TrimTo) -> TrimIn {
        match t {
            TrimTo::KeepLast(n) => TrimIn {
                keep_last: Some(n),
                ..Default::default()
            },
            TrimTo::Before(s) => TrimIn {
                before: Some(s),
                ..Default::default()
            },
            TrimTo::OlderThan(t) => TrimIn {
                older_than: Some(t),
                ..Default::default()
            },
        }
    }
}

/// Body of a stream append.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AppendRequest {
    #[schemars(length(min = 1))]
    #[serde(deserialize_with = "crate::wire::value::value_list")]
    pub entries: Vec<ValueIn>,
    /// Only if this is the stream's last sequence (0: the stream is empty or new).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(deserialize_with = "crate::wire::int::opt_u64")]
    pub expected_last: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Appended {
    pub first_seq: u64,
    pub last_seq: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Trimmed {
    pub removed: u64,
}

carries_value_out! {
    #[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
    pub struct StreamEntryOut {
        pub seq: u64,
        /// Append time, ms since the epoch.
        pub at: i64,
    }
}

impl StreamEntryOut {
    pub fn from_entry(e: &StreamEntry) -> StreamEntryOut {
        let v = ValueOut::from_value(&e.value);
        StreamEntryOut {
            seq: e.seq,
            at: e.at,
            content_type: v.content_type,
            value: v.value,
            value_base64: v.value_base64,
        }
    }
    pub fn into_entry(self) -> Result<StreamEntry, WireError> {
        Ok(StreamEntry {
            seq: self.seq,
            at: self.at,
            value: ValueOut {
                content_type: self.content_type,
                value: self.value,
                value_base64: self.value_base64,
            }
            .into_value()?,
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct StreamEntries {
    pub entries: Vec<StreamEntryOut>,
}

/// A stream's address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StreamRef {
    pub ns: String,
    pub stream: String,
}

/// A page of streams under a prefix.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct StreamList {
    pub streams: Vec<StreamRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema)]
pub struct StreamInfoOut {
    pub len: u64,
    pub first_seq: u64,
    pub last_seq: u64,
    pub bytes: u64,
}

impl From<StreamInfo> for StreamInfoOut {
    fn from(i: StreamInfo) -> Self {
        StreamInfoOut {
            len: i.len,
            first_seq: i.first_seq,
            last_seq: i.last_seq,
            bytes: i.bytes,
        }
    }
}
impl From<StreamInfoOut> for StreamInfo {
    fn from(i: StreamInfoOut) -> Self {
        StreamInfo {
            len: i.len,
            first_seq: i.first_seq,
            last_seq: i.last_seq,
            bytes: i.bytes,
        }
    }
}
