//! The native half of the `botstore` Python package: `Store` (the embedded engine in
//! this process) and `RemoteStore` (a `botstore serve` over HTTP), one set of methods
//! (`StoreBase`), each blocking (GIL released) and as an asyncio coroutine.
//!
//! Layout: `db` (one enum over both stores, each operation written once), `store` (the
//! Python classes), `types` (what reads return, what batches take), `convert` (Python
//! arguments into core types), `errors` (core errors as `botstore.errors` exceptions).

mod aio;
mod convert;
mod errors;
mod store;
mod types;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<store::StoreBase>()?;
    m.add_class::<store::Store>()?;
    m.add_class::<store::RemoteStore>()?;
    m.add_class::<types::PyItem>()?;
    m.add_class::<types::PyPage>()?;
    m.add_class::<types::PyStreamEntry>()?;
    m.add_class::<types::PyStreamInfo>()?;
    m.add_class::<types::PyLease>()?;
    m.add_class::<types::PyPut>()?;
    m.add_class::<types::PyDelete>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
