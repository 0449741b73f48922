//! Where a repository's objects live. A [`Repository`] stores named, immutable objects;
//! names are `/`-separated (`config`, `packs/ab/ab12..`, `index/..`, `snapshots/..`). Every
//! put is atomic: an object is either absent or complete.

use crate::{Error, Result};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

pub trait Repository: Send + Sync {
    /// Store `data` under `name` atomically (replacing an existing object).
    fn put(&self, name: &str, data: &[u8]) -> Result<()>;
    /// The whole object; [`Error::NotFound`] when absent.
    fn get(&self, name: &str) -> Result<Vec<u8>>;
    /// `len` bytes at `offset`; an object shorter than that is [`Error::Corrupt`].
    fn get_range(&self, name: &str, offset: u64, len: u64) -> Result<Vec<u8>> {
        let all = self.get(name)?;
        let end = offset.saturating_add(len);
        if end > all.len() as u64 {
            return Err(Error::Corrupt(format!(
                "{name} is {} bytes, expected at least {end}",
                all.len()
            )));
        }
        Ok(all[offset as usize..end as usize].to_vec())
    }
    /// Names that start with `prefix` (a folder such as `packs/`), sorted.
    fn list(&self, prefix: &str) -> Result<Vec<String>>;
    /// The size of an object (`None`: absent).
    fn size(&self, name: &str) -> Result<Option<u64>>;
    fn delete(&self, name: &str) -> Result<()>;
    fn exists(&self, name: &str) -> Result<bool> {
        Ok(self.size(name)?.is_some())
    }
    /// Where it is, for messages.
    fn describe(&self) -> String;
    /// Remove leftovers of interrupted writes (no writer may be running).
    fn clean_tmp(&self) -> Result<()> {
        Ok(())
    }
}

/// A repository in a local folder: one file per object.
pub struct LocalRepo {
    root: PathBuf,
}

const TMP_DIR: &str = "tmp";

fn io(what: &str, p: &Path, e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::NotFound {
        Error::NotFound(p.display().to_string())
    } else {
        Error::Io(format!("{what} {}: {e}", p.display()))
    }
}

fn sync_dir(p: &Path) -> Result<()> {
    std::fs::File::open(p)
        .and_then(|f| f.sync_all())
        .map_err(|e| io("cannot flush folder", p, e))
}

impl LocalRepo {
    /// A repository rooted at `root` (the folder need not exist yet).
    pub fn new(root: impl AsRef<Path>) -> LocalRepo {
        LocalRepo {
            root: root.as_ref().to_path_buf(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, name: &str) -> Result<PathBuf> {
        let ok = !name.is_empty()
            && name
                .split('/')
                .all(|s| !s.is_empty() && s != "." && s != ".." && !s.contains('\\'));
        if !ok {
            return Err(Error::Invalid(format!("bad object name {name:?}")));
        }
        Ok(self.root.join(name))
    }
}

impl Repository for LocalRepo {
    fn put(&self, name: &str, data: &[u8]) -> Result<()> {
        let path = self.path(name)?;
        let tmp_dir = self.root.join(TMP_DIR);
        std::fs::create_dir_all(&tmp_dir).map_err(|e| io("cannot create", &tmp_dir, e))?;
        let tmp = tmp_dir.join(format!("{}.tmp", crate::hex(&crate::random::<12>())));
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(data)?;
            f.sync_all()
        };
        if let Err(e) = write() {
            let _ = std::fs::remove_file(&tmp);
            return Err(io("cannot write", &tmp, e));
        }
        let parent = path.parent().unwrap_or(&self.root).to_path_buf();
        if !parent.exists() {
            std::fs::create_dir_all(&parent).map_err(|e| io("cannot create", &parent, e))?;
            if let Some(pp) = parent.parent() {
                sync_dir(pp)?;
            }
        }
        if let Err(e) = std::fs::rename(&tmp, &path) {
            let _ = std::fs::remove_file(&tmp);
            return Err(io("cannot rename into", &path, e));
        }
        sync_dir(&parent)
    }

    fn get(&self, name: &str) -> Result<Vec<u8>> {
        let p = self.path(name)?;
        std::fs::read(&p).map_err(|e| io("cannot read", &p, e))
    }

    fn get_range(&self, name: &str, offset: u64, len: u64) -> Result<Vec<u8>> {
        let p = self.path(name)?;
        let mut f = std::fs::File::open(&p).map_err(|e| io("cannot open", &p, e))?;
        f.seek(SeekFrom::Start(offset))
            .map_err(|e| io("cannot seek in", &p, e))?;
        let mut buf = vec![0u8; len as usize];
        f.read_exact(&mut buf).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                Error::Corrupt(format!("{name} is shorter than {}", offset + len))
            } else {
                io("cannot read", &p, e)
            }
        })?;
        Ok(buf)
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let mut stack = vec![self.root.clone()];
        while let Some(d) = stack.pop() {
            let rd = match std::fs::read_dir(&d) {
                Ok(rd) => rd,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io("cannot list", &d, e)),
            };
            for e in rd {
                let e = e.map_err(|e| io("cannot list", &d, e))?;
                let p = e.path();
                let Ok(rel) = p.strip_prefix(&self.root) else {
                    continue;
                };
                let rel = rel.to_string_lossy().replace('\\', "/");
                if rel == TMP_DIR {
                    continue;
                }
                let is_dir = e.file_type().map(|t| t.is_dir()).unwrap_or(false);
                if is_dir {
                    // Descend only into folders that can hold a match.
                    let dir = format!("{rel}/");
                    if dir.starts_with(prefix) || prefix.starts_with(&dir) {
                        stack.push(p);
                    }
                } else if rel.starts_with(prefix) {
                    out.push(rel);
                }
            }
        }
        out.sort();
        Ok(out)
    }

    fn size(&self, name: &str) -> Result<Option<u64>> {
        let p = self.path(name)?;
        match std::fs::metadata(&p) {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io("cannot stat", &p, e)),
        }
    }

    fn delete(&self, name: &str) -> Result<()> {
        let p = self.path(name)?;
        match std::fs::remove_file(&p) {
            Ok(()) => sync_dir(p.parent().unwrap_or(&self.root)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io("cannot delete", &p, e)),
        }
    }

    fn describe(&self) -> String {
        self.root.display().to_string()
    }

    fn clean_tmp(&self) -> Result<()> {
        let dir = self.root.join(TMP_DIR);
        let rd = match std::fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io("cannot list", &dir, e)),
        };
        for e in rd.flatten() {
            let p = e.path();
            if let Err(e) = std::fs::remove_file(&p) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    return Err(io("cannot delete", &p, e));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_get_list_delete() {
        let d = tempfile::tempdir().unwrap();
        let r = LocalRepo::new(d.path().join("repo"));
        r.put("config", b"c").unwrap();
        r.put("packs/ab/abcd", b"0123456789").unwrap();
        r.put("snapshots/s1", b"s").unwrap();
        assert_eq!(r.get("config").unwrap(), b"c");
        assert_eq!(r.get_range("packs/ab/abcd", 2, 3).unwrap(), b"234");
        assert!(matches!(
            r.get_range("packs/ab/abcd", 8, 3),
            Err(Error::Corrupt(_))
        ));
        assert_eq!(r.list("packs/").unwrap(), vec!["packs/ab/abcd"]);
        assert_eq!(r.list("snapshots/").unwrap(), vec!["snapshots/s1"]);
        assert!(r.exists("snapshots/s1").unwrap());
        r.delete("snapshots/s1").unwrap();
        assert!(!r.exists("snapshots/s1").unwrap());
        assert!(matches!(r.get("nope"), Err(Error::NotFound(_))));
        assert!(r.put("../x", b"").is_err());
    }
}
