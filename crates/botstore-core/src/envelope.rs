//! The value envelope: a small versioned header in front of every stored value, with room
//! for codec flags (compression, dictionary, encryption key, nonce, authentication tag) so
//! those features arrive without a migration. Byte layout: `docs/FORMAT.md`.

use crate::error::{Error, Result};

/// Envelope format version written by this build.
pub const ENVELOPE_VERSION: u8 = 1;

/// Flag bits of the envelope header.
pub mod flags {
    /// Payload is zstd-compressed.
    pub const ZSTD: u8 = 0b0000_0001;
    /// A `u32` dictionary id follows the fixed header.
    pub const DICT: u8 = 0b0000_0010;
    /// Payload is AEAD-encrypted: key id, nonce and tag follow.
    pub const ENCRYPTED: u8 = 0b0000_0100;
    /// Every flag this build knows how to decode.
    pub const SUPPORTED: u8 = 0;
}

/// Decoded envelope header.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Header {
    /// The [`flags`] bits: which codecs sealed the payload.
    pub flags: u8,
    /// The compression dictionary's id (with [`flags::DICT`]).
    pub dict_id: Option<u32>,
    /// The encryption key's id (with [`flags::ENCRYPTED`]).
    pub key_id: Option<u32>,
    /// The AEAD nonce (with [`flags::ENCRYPTED`]; at most 255 bytes).
    pub nonce: Vec<u8>,
    /// The AEAD authentication tag (with [`flags::ENCRYPTED`]; at most 255 bytes).
    pub tag: Vec<u8>,
}

/// Wrap a plain payload (no codec) into an envelope.
pub fn seal_plain(payload: &[u8], out: &mut Vec<u8>) {
    out.reserve(4 + payload.len());
    out.push(ENVELOPE_VERSION);
    out.push(0);
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(payload);
}

/// Write an envelope with a full header (used by codec layers).
pub fn seal(header: &Header, payload: &[u8], out: &mut Vec<u8>) -> Result<()> {
    let start = out.len();
    out.push(ENVELOPE_VERSION);
    out.push(header.flags);
    out.extend_from_slice(&[0, 0]);
    if header.flags & flags::DICT != 0 {
        out.extend_from_slice(&header.dict_id.unwrap_or(0).to_le_bytes());
    }
    if header.flags & flags::ENCRYPTED != 0 {
        if header.nonce.len() > 255 || header.tag.len() > 255 {
            return Err(Error::Corrupt("nonce or tag longer than 255 bytes".into()));
        }
        out.extend_from_slice(&header.key_id.unwrap_or(0).to_le_bytes());
        out.push(header.nonce.len() as u8);
        out.extend_from_slice(&header.nonce);
        out.push(header.tag.len() as u8);
        out.extend_from_slice(&header.tag);
    }
    let hlen = out.len() - start;
    let hlen16 =
        u16::try_from(hlen).map_err(|_| Error::Corrupt("envelope header too long".into()))?;
    out[start + 2..start + 4].copy_from_slice(&hlen16.to_le_bytes());
    out.extend_from_slice(payload);
    Ok(())
}

/// Split an envelope into its header and payload, checking the header is well-formed.
pub fn open(bytes: &[u8]) -> Result<(Header, &[u8])> {
    let bad = |why: &str| Error::Corrupt(format!("envelope: {why}"));
    if bytes.len() < 4 {
        return Err(bad("shorter than its 4-byte header"));
    }
    if bytes[0] != ENVELOPE_VERSION {
        return Err(bad(&format!("unknown format version {}", bytes[0])));
    }
    let fl = bytes[1];
    let hlen = u16::from_le_bytes([bytes[2], bytes[3]]) as usize;
    if hlen < 4 || hlen > bytes.len() {
        return Err(bad("header length out of range"));
    }
    let mut h = Header {
        flags: fl,
        ..Header::default()
    };
    let mut p = 4;
    let mut take = |n: usize| -> Result<&[u8]> {
        if p + n > hlen {
            return Err(bad("header fields overrun the header length"));
        }
        let s = &bytes[p..p + n];
        p += n;
        Ok(s)
    };
    if fl & flags::DICT != 0 {
        h.dict_id = Some(u32::from_le_bytes(
            take(4)?.try_into().map_err(|_| bad("dict id"))?,
        ));
    }
    if fl & flags::ENCRYPTED != 0 {
        h.key_id = Some(u32::from_le_bytes(
            take(4)?.try_into().map_err(|_| bad("key id"))?,
        ));
        let n = take(1)?[0] as usize;
        h.nonce = take(n)?.to_vec();
        let t = take(1)?[0] as usize;
        h.tag = take(t)?.to_vec();
    }
    Ok((h, &bytes[hlen..]))
}

/// Open an envelope that this build can read without a codec layer: no flags set.
pub fn open_plain(bytes: &[u8]) -> Result<&[u8]> {
    let (h, payload) = open(bytes)?;
    if h.flags & !flags::SUPPORTED != 0 {
        return Err(Error::Corrupt(format!(
            "envelope uses codec flags {:#04x}, which need a codec layer this store was not opened with",
            h.flags
        )));
    }
    Ok(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pins the byte layout documented in docs/FORMAT.md.
    #[test]
    fn plain_envelope_layout_is_pinned() {
        let mut out = Vec::new();
        seal_plain(b"{}", &mut out);
        assert_eq!(out, vec![0x01, 0x00, 0x04, 0x00, b'{', b'}']);
        assert_eq!(open_plain(&out).unwrap(), b"{}");
    }

    #[test]
    fn full_header_round_trips_and_is_pinned() {
        let h = Header {
            flags: flags::ZSTD | flags::DICT | flags::ENCRYPTED,
            dict_id: Some(7),
            key_id: Some(9),
            nonce: vec![0xAA; 3],
            tag: vec![0xBB; 2],
        };
        let mut out = Vec::new();
        seal(&h, b"xy", &mut out).unwrap();
        assert_eq!(
            out,
            vec![
                1, 0x07, 19, 0, // version, flags, header length 19
                7, 0, 0, 0, // dict id
                9, 0, 0, 0, // key id
                3, 0xAA, 0xAA, 0xAA, // nonce
                2, 0xBB, 0xBB, // tag
                b'x', b'y'
            ]
        );
        let (h2, p) = open(&out).unwrap();
        assert_eq!(h2, h);
        assert_eq!(p, b"xy");
        assert!(open_plain(&out).is_err(), "codec flags need a codec layer");
    }

    #[test]
    fn garbage_is_a_typed_error() {
        for bad in [
            &b""[..],
            &[2, 0, 4, 0],
            &[1, 0, 200, 0],
            &[1, 2, 4, 0],
            &[1, 0, 3, 0],
        ] {
            assert!(matches!(open_plain(bad), Err(Error::Corrupt(_))), "{bad:?}");
        }
    }
}
