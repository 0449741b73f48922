//! Items and their pages, get-many, single-item write and delete results, and namespace
//! default TTLs.

use super::value::{carries_value_out, ValueOut};
use super::{ns_string, WireError};
use botstore::{Item, Namespace, Version};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

carries_value_out! {
    /// An item with its metadata (scans, batch reads, the change feed).
    #[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
    pub struct ItemOut {
        pub ns: String,
        pub key: String,
        /// The version; its decimal form is the ETag.
        pub version: u64,
        /// Milliseconds since the Unix epoch.
        pub created_at: i64,
        pub updated_at: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub expires_at: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub subject: Option<String>,
    }
}

impl ItemOut {
    pub fn from_item(i: &Item) -> ItemOut {
        let v = ValueOut::from_value(&i.value);
        ItemOut {
            ns: ns_string(&i.ns),
            key: i.key.clone(),
            version: i.version.0,
            created_at: i.created_at,
            updated_at: i.updated_at,
            expires_at: i.expires_at,
            subject: i.subject.clone(),
            content_type: v.content_type,
            value: v.value,
            value_base64: v.value_base64,
        }
    }

    pub fn into_item(self) -> Result<Item, WireError> {
        let value = ValueOut {
            content_type: self.content_type,
            value: self.value,
            value_base64: self.value_base64,
        }
        .into_value()?;
        Ok(Item {
            ns: Namespace::parse(&self.ns),
            key: self.key,
            value,
            version: Version(self.version),
            created_at: self.created_at,
            updated_at: self.updated_at,
            expires_at: self.expires_at,
            subject: self.subject,
        })
    }
}

/// A page of items.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ItemPage {
    pub items: Vec<ItemOut>,
    /// Pass as `cursor` to continue; absent when there is no more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// Body of `POST /v1/get`: read many items in one request.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetManyRequest {
    pub keys: Vec<ItemRef>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemRef {
    #[schemars(schema_with = "crate::schema::namespace_schema")]
    pub ns: String,
    #[schemars(schema_with = "crate::schema::name_schema")]
    pub key: String,
}

/// The items of a get-many, in request order; `null` where an item does not exist.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct GetManyResponse {
    pub items: Vec<Option<ItemOut>>,
}

/// A page of namespaces.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct NamespacePage {
    pub namespaces: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// The result of a single-item write.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Written {
    pub version: u64,
}

/// The result of a single-item delete.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Deleted {
    /// False when there was nothing to delete.
    pub existed: bool,
}

// ------------------------------------------------------------------ namespace TTLs

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NamespaceTtlRequest {
    /// A duration; `null` or absent clears the default.
    #[serde(default)]
    #[schemars(schema_with = "crate::schema::opt_duration_schema")]
    pub ttl: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct NamespaceTtl {
    pub prefix: String,
    pub ttl_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct NamespaceTtls {
    pub ttls: Vec<NamespaceTtl>,
}
