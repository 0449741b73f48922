//! Streams: append (with an expected last sequence), trim and delete, and the stream meta
//! record that counts entries and bytes.

use super::*;

/// The input rules of the stream mutations (see [`Limits::check_mutation`]): checked by the
/// store before anything is written.
pub(super) fn check(l: &Limits, m: &Mutation) -> Result<()> {
    match m {
        Mutation::Append {
            ns,
            stream,
            entries,
            ..
        } => {
            l.check_namespace(ns)?;
            l.check_key(stream)?;
            if entries.is_empty() {
                return Err(Error::invalid(
                    Rule::BatchSize,
                    "append needs at least one entry",
                ));
            }
            entries.iter().try_for_each(|e| l.check_value(e))
        }
        Mutation::Trim { ns, stream, .. } | Mutation::DeleteStream { ns, stream } => {
            l.check_namespace(ns)?;
            l.check_key(stream)
        }
        _ => Err(misrouted(m)),
    }
}

impl Applier<'_> {
    pub(super) fn stream_mutation(&mut self, m: &Mutation, b: &Batch) -> Result<Outcome> {
        let now = b.now;
        match m {
            Mutation::Append {
                ns,
                stream,
                entries,
                expected_last,
            } => {
                let sk = codec::named_key(ns, stream);
                let existing = self.stream_info(&sk)?;
                let (mut info, mut stored) = existing.unwrap_or((
                    StreamInfo {
                        first_seq: 1,
                        ..Default::default()
                    },
                    0,
                ));
                let stored_before = stored;
                if let Some(exp) = expected_last {
                    if *exp != info.last_seq {
                        return Err(Error::SequenceMismatch {
                            expected: *exp,
                            current: info.last_seq,
                        });
                    }
                }
                let first = info.last_seq + 1;
                let lsn = self.next_lsn();
                let mut bytes = 0u64;
                for v in entries {
                    info.last_seq += 1;
                    let ek = codec::entry_key(&sk, info.last_seq);
                    let rec = codec::encode_entry_with(self.codecs, &ek, now, Some(lsn), v)?;
                    stored += codec::entry_sealed_value(&rec)?.len() as u64;
                    self.tx.put(Table::Entries, ek, rec);
                    bytes += v.data.len() as u64;
                }
                let n = entries.len() as u64;
                info.len += n;
                info.bytes += bytes;
                self.tx.put(
                    Table::Streams,
                    sk,
                    codec::encode_stream_record(&info, stored),
                );
                let new_stream = existing.is_none();
                self.stats(ns, |s, st| {
                    s.streams += new_stream as u64;
                    s.stream_entries += n;
                    s.stream_bytes += bytes;
                    st.entries += stored - stored_before;
                })?;
                // The entries carry the LSN; the change refers to them (crate::feed).
                self.tx.put(
                    Table::Changes,
                    lsn.to_be_bytes().to_vec(),
                    codec::encode_append_ref(now, ns, stream, first, entries.len() as u32),
                );
                Ok(Outcome::Appended {
                    first_seq: first,
                    last_seq: info.last_seq,
                })
            }
            Mutation::Trim { ns, stream, to } => {
                let sk = codec::named_key(ns, stream);
                let (mut info, mut stored) = self
                    .stream_info(&sk)?
                    .ok_or_else(|| Error::not_found(format!("stream {ns}/{stream}")))?;
                let end = info.last_seq + 1;
                let cut = match *to {
                    TrimTo::KeepLast(n) => end.saturating_sub(n).max(info.first_seq),
                    TrimTo::Before(s) => s.clamp(info.first_seq, end),
                    TrimTo::OlderThan(t) => {
                        let mut s = info.first_seq;
                        while s < end {
                            let ek = codec::entry_key(&sk, s);
                            match self.tx.get(Table::Entries, &ek)? {
                                Some(b)
                                    if codec::decode_entry_with(self.codecs, &ek, s, &b)?.at
                                        < t =>
                                {
                                    s += 1
                                }
                                _ => break,
                            }
                        }
                        s
                    }
                };
                let removed = self.remove_entries(ns, &sk, &mut info, &mut stored, cut)?;
                if removed > 0 {
                    self.tx.put(
                        Table::Streams,
                        sk,
                        codec::encode_stream_record(&info, stored),
                    );
                    let lsn = self.next_lsn();
                    self.change(
                        lsn,
                        now,
                        &ChangeKind::Trim {
                            ns: ns.clone(),
                            stream: stream.clone(),
                            first_kept: cut,
                            deleted_stream: false,
                        },
                    )?;
                }
                Ok(Outcome::Trimmed { removed })
            }
            Mutation::DeleteStream { ns, stream } => {
                let sk = codec::named_key(ns, stream);
                let Some((mut info, mut stored)) = self.stream_info(&sk)? else {
                    return Ok(Outcome::Deleted { existed: false });
                };
                let end = info.last_seq + 1;
                self.remove_entries(ns, &sk, &mut info, &mut stored, end)?;
                self.tx.delete(Table::Streams, sk);
                self.stats(ns, |s, _| s.streams = s.streams.saturating_sub(1))?;
                let lsn = self.next_lsn();
                self.change(
                    lsn,
                    now,
                    &ChangeKind::Trim {
                        ns: ns.clone(),
                        stream: stream.clone(),
                        first_kept: end,
                        deleted_stream: true,
                    },
                )?;
                Ok(Outcome::Deleted { existed: true })
            }
            _ => Err(misrouted(m)),
        }
    }

    /// A stream's meta and the stored bytes of its entries.
    pub(super) fn stream_info(&self, sk: &[u8]) -> Result<Option<(StreamInfo, u64)>> {
        self.tx
            .get(Table::Streams, sk)?
            .map(|b| {
                Ok((
                    codec::decode_stream_info(&b)?,
                    codec::decode_stream_stored(&b)?,
                ))
            })
            .transpose()
    }

    /// Delete entries `info.first_seq .. cut`, updating `info` and the namespace counters.
    pub(super) fn remove_entries(
        &mut self,
        ns: &Namespace,
        sk: &[u8],
        info: &mut StreamInfo,
        stored: &mut u64,
        cut: u64,
    ) -> Result<u64> {
        let mut removed = 0;
        let mut bytes = 0;
        let mut gone = 0;
        for s in info.first_seq..cut {
            let ek = codec::entry_key(sk, s);
            if let Some(b) = self.tx.get(Table::Entries, &ek)? {
                bytes += codec::decode_entry_with(self.codecs, &ek, s, &b)?
                    .value
                    .data
                    .len() as u64;
                gone += codec::entry_sealed_value(&b)?.len() as u64;
                removed += 1;
                // The feed may still refer to it (crate::feed).
                if let Some(lsn) = codec::entry_lsn(&b)? {
                    if lsn >= self.feed_floor()? {
                        self.tx.put(
                            Table::History,
                            codec::entry_history_key(lsn, s),
                            codec::encode_history(&ek, &b),
                        );
                    }
                }
                self.tx.delete(Table::Entries, ek);
            }
        }
        info.first_seq = info.first_seq.max(cut);
        info.len = info.len.saturating_sub(removed);
        info.bytes = info.bytes.saturating_sub(bytes);
        *stored = stored.saturating_sub(gone);
        self.stats(ns, |s, st| {
            s.stream_entries = s.stream_entries.saturating_sub(removed);
            s.stream_bytes = s.stream_bytes.saturating_sub(bytes);
            st.entries = st.entries.saturating_sub(gone);
        })?;
        Ok(removed)
    }
}
