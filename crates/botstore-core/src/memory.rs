//! The memory backend: persistent ordered maps (imbl), so a read view is an O(1) snapshot
//! and reads never wait for the writer. Nothing survives the process.

use crate::backend::{Backend, CompactReport, Space, WriteGroup};
use crate::codec::Table;
use crate::error::{Error, Result};
use crate::kv::KvRead;
use imbl::OrdMap;
use std::ops::Bound;
use std::sync::{Arc, Mutex, RwLock};

type Map = OrdMap<Vec<u8>, Vec<u8>>;

#[derive(Clone, Default)]
struct State {
    tables: [Map; Table::ALL.len()],
}

fn idx(t: Table) -> usize {
    t as usize - 1
}

/// An in-memory backend.
#[derive(Default)]
pub struct MemoryBackend {
    current: RwLock<Arc<State>>,
    writer: Mutex<()>,
}

impl MemoryBackend {
    /// An empty memory backend.
    pub fn new() -> Self {
        Self::default()
    }

    fn snapshot(&self) -> Result<Arc<State>> {
        self.current
            .read()
            .map(|g| Arc::clone(&g))
            .map_err(|_| Error::Closed("memory backend lock poisoned".into()))
    }
}

struct MemView(Arc<State>);

impl KvRead for MemView {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.0.tables[idx(table)].get(key).cloned())
    }

    fn scan(
        &self,
        table: Table,
        range: (Bound<&[u8]>, Bound<&[u8]>),
        reverse: bool,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> Result<bool>,
    ) -> Result<()> {
        let m = &self.0.tables[idx(table)];
        let it = m.range::<_, [u8]>(range);
        crate::kv::visit_in_order(it, reverse, |(k, v)| visit(k, v))
    }
}

impl Backend for MemoryBackend {
    fn name(&self) -> &'static str {
        "memory"
    }
    fn read(&self) -> Result<Box<dyn KvRead + '_>> {
        Ok(Box::new(MemView(self.snapshot()?)))
    }
    fn write(&self, group: WriteGroup) -> Result<()> {
        let _w = self
            .writer
            .lock()
            .map_err(|_| Error::Closed("memory backend lock poisoned".into()))?;
        let mut next = (*self.snapshot()?).clone();
        for ((t, k), v) in group.writes {
            match v {
                Some(v) => {
                    next.tables[idx(t)].insert(k, v);
                }
                None => {
                    next.tables[idx(t)].remove(&k);
                }
            }
        }
        *self
            .current
            .write()
            .map_err(|_| Error::Closed("memory backend lock poisoned".into()))? = Arc::new(next);
        Ok(())
    }
    fn space(&self) -> Result<Space> {
        Ok(Space { disk_bytes: None })
    }
    fn compact(&self) -> Result<CompactReport> {
        Ok(CompactReport::default())
    }
    fn sync(&self) -> Result<()> {
        Ok(())
    }
}
