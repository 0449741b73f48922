//! Whether a data folder is open in another process, asked without opening it: what a
//! server checks before it binds its port or writes anything (`botstore serve` on a
//! folder another server holds must fail at once, and say why, rather than on the port
//! the other one listens on, or after it created files).

use botstore::{Error, Result};
use std::path::Path;

/// The message of a data folder another process holds (the same as `open`'s).
pub(crate) fn in_use_error(dir: &Path) -> Error {
    Error::Storage(format!(
        "data folder {} is in use by another botstore process",
        dir.display()
    ))
}

/// `Err` (the error `open` would give) when another process has the store in `dir`
/// open; `Ok` when it does not, or when there is no store there yet. Creates nothing,
/// writes nothing: a read-only look at `store.redb` (redb refuses it while an exclusive
/// writer holds the file's lock, and never changes the file). Any other trouble with the
/// file is left for `open` to report.
pub fn check_not_in_use(dir: &Path) -> Result<()> {
    let path = dir.join("store.redb");
    if !path.is_file() {
        return Ok(());
    }
    // redb answers some damage with a panic (see `tables::guard`); that is open's to report.
    let opened = std::panic::catch_unwind(|| redb::Builder::new().open_read_only(&path));
    match opened {
        Ok(Err(redb::DatabaseError::DatabaseAlreadyOpen)) => Err(in_use_error(dir)),
        Ok(Ok(db)) => {
            drop(db);
            Ok(())
        }
        Ok(Err(_)) | Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EmbeddedBackend, EmbeddedOptions};

    #[test]
    fn a_folder_held_by_a_store_is_in_use_and_a_free_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        assert!(check_not_in_use(&data).is_ok(), "no folder yet");
        assert!(!data.exists(), "the check created nothing");
        let store = EmbeddedBackend::open(&data, EmbeddedOptions::default()).unwrap();
        let before: Vec<_> = std::fs::read_dir(&data)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        let e = check_not_in_use(&data).unwrap_err();
        assert!(
            e.to_string()
                .contains("is in use by another botstore process"),
            "{e}"
        );
        let after: Vec<_> = std::fs::read_dir(&data)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        assert_eq!(before, after);
        drop(store);
        check_not_in_use(&data).unwrap();
        // The store opens again after the check (the check held nothing).
        drop(EmbeddedBackend::open(&data, EmbeddedOptions::default()).unwrap());
    }
}
