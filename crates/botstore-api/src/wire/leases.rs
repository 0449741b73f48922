//! Leases: a lease as returned, and the bodies of acquire, renew and release.

use super::ns_string;
use botstore::{Lease, Namespace};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LeaseOut {
    pub ns: String,
    pub name: String,
    pub holder: String,
    /// The fencing token.
    #[serde(deserialize_with = "crate::wire::int::u64")]
    pub token: u64,
    pub expires_at: i64,
}

impl LeaseOut {
    pub fn from_lease(l: &Lease) -> LeaseOut {
        LeaseOut {
            ns: ns_string(&l.ns),
            name: l.name.clone(),
            holder: l.holder.clone(),
            token: l.token,
            expires_at: l.expires_at,
        }
    }
    pub fn into_lease(self) -> Lease {
        Lease {
            ns: Namespace::parse(&self.ns),
            name: self.name,
            holder: self.holder,
            token: self.token,
            expires_at: self.expires_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LeaseAcquireRequest {
    #[schemars(schema_with = "crate::schema::name_schema")]
    pub holder: String,
    #[schemars(schema_with = "crate::schema::duration_schema")]
    pub ttl: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LeaseRenewRequest {
    #[serde(deserialize_with = "crate::wire::int::u64")]
    pub token: u64,
    #[schemars(schema_with = "crate::schema::duration_schema")]
    pub ttl: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LeaseReleaseRequest {
    #[serde(deserialize_with = "crate::wire::int::u64")]
    pub token: u64,
}
