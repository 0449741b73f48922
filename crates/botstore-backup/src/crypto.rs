//! Keys. A repository has one random 32-byte master key, stored in the `config` object
//! wrapped (XChaCha20-Poly1305) under a key-encryption key derived from a password
//! (argon2id) or read from a key file. Subkeys come from the master key with
//! `blake3::derive_key`: one keys the BLAKE3 hash that names chunks, one the AEAD that seals
//! blobs, indexes and manifests.

use crate::repo::Repository;
use crate::{hex, unhex, Error, Result};
use chacha20poly1305::aead::{Aead, AeadInPlace, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Repository format version written by this build.
pub const FORMAT_VERSION: u32 = 1;
pub const NONCE_LEN: usize = 24;
pub const TAG_LEN: usize = 16;

const CTX_CHUNK_ID: &str = "botstore backup v1 chunk id";
const CTX_DATA: &str = "botstore backup v1 data";
const CTX_KEY_FILE: &str = "botstore backup v1 key file";

/// argon2id cost parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_kib: u32,
    pub t: u32,
    pub p: u32,
}

impl Default for KdfParams {
    /// 64 MiB, 3 passes, 1 lane (about a quarter of a second on the reference machine).
    fn default() -> Self {
        KdfParams {
            m_kib: 64 * 1024,
            t: 3,
            p: 1,
        }
    }
}

/// What unlocks a repository.
#[derive(Clone)]
pub enum Secret {
    Password(Vec<u8>),
    /// 32 raw bytes.
    KeyFile([u8; 32]),
}

impl Secret {
    /// A key file holds 32 raw bytes or their hex (64 characters, whitespace ignored).
    pub fn from_key_file(path: &Path) -> Result<Secret> {
        let b = std::fs::read(path)
            .map_err(|e| Error::Invalid(format!("cannot read key file {}: {e}", path.display())))?;
        if let Ok(k) = <[u8; 32]>::try_from(&b[..]) {
            return Ok(Secret::KeyFile(k));
        }
        let text = String::from_utf8_lossy(&b);
        match unhex(text.trim()).and_then(|v| <[u8; 32]>::try_from(v).ok()) {
            Some(k) => Ok(Secret::KeyFile(k)),
            None => Err(Error::Invalid(format!(
                "key file {} must hold 32 raw bytes or 64 hex characters",
                path.display()
            ))),
        }
    }

    /// A password file: its first line (a trailing newline is not part of the password).
    pub fn from_password_file(path: &Path) -> Result<Secret> {
        let b = std::fs::read(path).map_err(|e| {
            Error::Invalid(format!("cannot read password file {}: {e}", path.display()))
        })?;
        let line = b.split(|&c| c == b'\n').next().unwrap_or(&[]);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return Err(Error::Invalid(format!(
                "password file {} is empty",
                path.display()
            )));
        }
        Ok(Secret::Password(line.to_vec()))
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct KeySlot {
    /// `password` (argon2id) or `key-file`.
    kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kdf: Option<KdfParams>,
    /// hex; argon2id salt (16 bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    salt: Option<String>,
    /// hex; the nonce of the wrapped key.
    nonce: String,
    /// hex; the master key sealed with the key-encryption key, AAD = the repository id.
    wrapped: String,
}

/// The `config` object (JSON, not encrypted: it holds only public parameters and the
/// wrapped key).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Config {
    pub format: u32,
    /// hex, 16 random bytes.
    pub id: String,
    pub created: i64,
    /// `argon2id` for passwords.
    pub kdf_algorithm: String,
    keys: Vec<KeySlot>,
    /// hex BLAKE3 (unkeyed) of the config's canonical JSON without this field, so that
    /// damage to the config is told apart from a wrong secret. Absent in configs written
    /// before it existed (still read, without that distinction).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
}

impl Config {
    /// The checksum of the config's values: BLAKE3 of its compact JSON with no `checksum`
    /// field (fields in declaration order), so formatting does not matter but every value
    /// does.
    fn compute_checksum(&self) -> Result<String> {
        let mut c = self.clone();
        c.checksum = None;
        let body = serde_json::to_vec(&c).map_err(|e| Error::Invalid(format!("config: {e}")))?;
        Ok(hex(blake3::hash(&body).as_bytes()))
    }
}

/// What can be done about a damaged config, for its messages.
const CONFIG_ADVICE: &str = "the config holds the wrapped repository key and never changes \
     after `backup init`: put back a copy of it (from another copy of the repository, or a \
     backup of the repository folder); without one, the snapshots cannot be decrypted";

fn damaged(store: &dyn Repository, why: impl std::fmt::Display) -> Error {
    Error::ConfigDamaged(format!(
        "{}/config: {why}; {CONFIG_ADVICE}",
        store.describe()
    ))
}

/// An open repository: the object store and its keys.
pub struct Repo {
    pub store: Box<dyn Repository>,
    pub config: Config,
    id_key: [u8; 32],
    data: XChaCha20Poly1305,
}

fn kek(secret: &Secret, slot_kdf: Option<KdfParams>, salt: &[u8]) -> Result<[u8; 32]> {
    match secret {
        Secret::KeyFile(k) => Ok(blake3::derive_key(CTX_KEY_FILE, k)),
        Secret::Password(pw) => {
            let p = slot_kdf.unwrap_or_default();
            let params = argon2::Params::new(p.m_kib, p.t, p.p, Some(32))
                .map_err(|e| Error::Invalid(format!("bad argon2 parameters: {e}")))?;
            let a =
                argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
            let mut out = [0u8; 32];
            a.hash_password_into(pw, salt, &mut out)
                .map_err(|e| Error::Invalid(format!("argon2: {e}")))?;
            Ok(out)
        }
    }
}

fn slot_kind(s: &Secret) -> &'static str {
    match s {
        Secret::Password(_) => "password",
        Secret::KeyFile(_) => "key-file",
    }
}

impl Repo {
    /// Create a repository: refuses one that already has a `config`.
    pub fn init(store: Box<dyn Repository>, secret: &Secret, kdf: KdfParams) -> Result<Repo> {
        if store.exists("config")? {
            return Err(Error::Invalid(format!(
                "{} already holds a repository",
                store.describe()
            )));
        }
        let id = crate::random::<16>();
        let master = crate::random::<32>();
        let salt = crate::random::<16>();
        let is_pw = matches!(secret, Secret::Password(_));
        let k = kek(secret, Some(kdf), &salt)?;
        let nonce = crate::random::<NONCE_LEN>();
        let wrapped = XChaCha20Poly1305::new(Key::from_slice(&k))
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: &master,
                    aad: &id,
                },
            )
            .map_err(|_| Error::Invalid("cannot wrap the key".into()))?;
        let config = Config {
            format: FORMAT_VERSION,
            id: hex(&id),
            created: crate::now_ms(),
            kdf_algorithm: "argon2id".into(),
            keys: vec![KeySlot {
                kind: slot_kind(secret).into(),
                kdf: is_pw.then_some(kdf),
                salt: is_pw.then(|| hex(&salt)),
                nonce: hex(&nonce),
                wrapped: hex(&wrapped),
            }],
            checksum: None,
        };
        let config = Config {
            checksum: Some(config.compute_checksum()?),
            ..config
        };
        let text = serde_json::to_vec_pretty(&config)
            .map_err(|e| Error::Invalid(format!("config: {e}")))?;
        store.put("config", &text)?;
        Ok(Repo::with_master(store, config, &master))
    }

    /// Open a repository; a secret that unwraps no key slot is [`Error::WrongKey`].
    pub fn open(store: Box<dyn Repository>, secret: &Secret) -> Result<Repo> {
        let raw = match store.get("config") {
            Ok(r) => r,
            Err(Error::NotFound(_)) => {
                return Err(Error::NotARepository(format!(
                    "{} has no config object (run `botstore backup init`)",
                    store.describe()
                )))
            }
            Err(e) => return Err(e),
        };
        let config: Config = match serde_json::from_slice(&raw) {
            Ok(c) => c,
            Err(e) if raw.is_empty() => return Err(damaged(&*store, format!("empty ({e})"))),
            Err(e) => return Err(damaged(&*store, format!("cannot parse it: {e}"))),
        };
        // A config that fails its checksum cannot be trusted to say anything, not even
        // its format; but a newer format may checksum fields this build does not know.
        let sum_ok = match &config.checksum {
            Some(sum) => Some(*sum == config.compute_checksum()?),
            None => None,
        };
        if config.format != FORMAT_VERSION {
            if sum_ok == Some(false) {
                return Err(damaged(
                    &*store,
                    format!(
                        "its checksum does not match its content and it names format {}, \
                         which this build does not read (written by a newer version, or damaged)",
                        config.format
                    ),
                ));
            }
            return Err(Error::NotARepository(format!(
                "{}: repository format {} is not supported (this build reads {FORMAT_VERSION})",
                store.describe(),
                config.format
            )));
        }
        if sum_ok == Some(false) {
            return Err(damaged(
                &*store,
                "its checksum does not match its content (a field was altered)",
            ));
        }
        let id = unhex(&config.id)
            .filter(|i| i.len() == 16)
            .ok_or_else(|| damaged(&*store, "the repository id is not 16 bytes of hex"))?;
        for (n, slot) in config.keys.iter().enumerate() {
            if slot.kind != slot_kind(secret) {
                continue;
            }
            let bad = |what: &str| damaged(&*store, format!("key slot {}: {what}", n + 1));
            let salt = match slot.salt.as_deref() {
                Some(s) => unhex(s)
                    .filter(|s| s.len() == 16)
                    .ok_or_else(|| bad("the salt is not 16 bytes of hex"))?,
                None if slot.kind == "password" => return Err(bad("no salt")),
                None => Vec::new(),
            };
            let nonce = unhex(&slot.nonce)
                .filter(|n| n.len() == NONCE_LEN)
                .ok_or_else(|| bad("the nonce is not 24 bytes of hex"))?;
            let wrapped = unhex(&slot.wrapped)
                .filter(|w| w.len() == 32 + TAG_LEN)
                .ok_or_else(|| bad("the wrapped key is not 48 bytes of hex"))?;
            let k = kek(secret, slot.kdf, &salt)?;
            if let Ok(master) = XChaCha20Poly1305::new(Key::from_slice(&k)).decrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: &wrapped,
                    aad: &id,
                },
            ) {
                let master: [u8; 32] = master
                    .try_into()
                    .map_err(|_| bad("the wrapped key is not 32 bytes"))?;
                return Ok(Repo::with_master(store, config, &master));
            }
        }
        if config.keys.is_empty() {
            return Err(damaged(&*store, "it holds no key slot"));
        }
        if sum_ok.is_none() {
            // Written before configs had a checksum: damage to a key slot and a wrong
            // secret look the same, so say both.
            return Err(Error::WrongKey(format!(
                "{} (or its config is damaged: it has no checksum, being written by an older \
                 version, so the two cannot be told apart)",
                store.describe()
            )));
        }
        Err(Error::WrongKey(store.describe()))
    }

    fn with_master(store: Box<dyn Repository>, config: Config, master: &[u8; 32]) -> Repo {
        let data_key = blake3::derive_key(CTX_DATA, master);
        Repo {
            store,
            config,
            id_key: blake3::derive_key(CTX_CHUNK_ID, master),
            data: XChaCha20Poly1305::new(Key::from_slice(&data_key)),
        }
    }

    /// The id of a chunk: BLAKE3 keyed with the chunk-id subkey.
    pub fn chunk_id(&self, plain: &[u8]) -> [u8; 32] {
        *blake3::keyed_hash(&self.id_key, plain).as_bytes()
    }

    /// A keyed hasher (record digests).
    pub fn hasher(&self) -> blake3::Hasher {
        blake3::Hasher::new_keyed(&self.id_key)
    }

    /// `nonce || ciphertext || tag` of `msg` (consumed) with `aad`.
    pub fn seal(&self, aad: &[u8], mut msg: Vec<u8>) -> Vec<u8> {
        let nonce = crate::random::<NONCE_LEN>();
        msg.reserve(TAG_LEN);
        // Encrypting into a Vec cannot fail for lengths under 256 GiB.
        let _ = self
            .data
            .encrypt_in_place(XNonce::from_slice(&nonce), aad, &mut msg);
        let mut out = Vec::with_capacity(NONCE_LEN + msg.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&msg);
        out
    }

    /// Open what [`Repo::seal`] made; `None` when it was altered (or the AAD differs).
    pub fn open_sealed(&self, aad: &[u8], blob: &[u8]) -> Option<Vec<u8>> {
        if blob.len() < NONCE_LEN + TAG_LEN {
            return None;
        }
        let (nonce, ct) = blob.split_at(NONCE_LEN);
        let mut buf = ct.to_vec();
        self.data
            .decrypt_in_place(XNonce::from_slice(nonce), aad, &mut buf)
            .ok()?;
        Some(buf)
    }

    /// Seal and store a metadata object (index, manifest): zstd, then the AEAD with the
    /// object's folder as AAD.
    pub fn put_object(&self, name: &str, plain: &[u8]) -> Result<u64> {
        let z = zstd::bulk::compress(plain, 3).map_err(|e| Error::Io(format!("zstd: {e}")))?;
        let sealed = self.seal(aad_of(name), z);
        self.store.put(name, &sealed)?;
        Ok(sealed.len() as u64)
    }

    /// Read a metadata object written by [`Repo::put_object`].
    pub fn get_object(&self, name: &str) -> Result<Vec<u8>> {
        let sealed = self.store.get(name)?;
        let z = self.open_sealed(aad_of(name), &sealed).ok_or_else(|| {
            Error::Corrupt(format!(
                "{name}: authentication failed (altered or damaged)"
            ))
        })?;
        zstd::stream::decode_all(&z[..])
            .map_err(|e| Error::Corrupt(format!("{name}: cannot decompress: {e}")))
    }
}

/// AAD of a metadata object: its folder (`index`, `snapshots`), so one kind cannot be
/// passed off as the other.
fn aad_of(name: &str) -> &[u8] {
    name.split('/').next().unwrap_or("").as_bytes()
}
