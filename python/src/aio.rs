//! Results for asyncio, handed over without the GIL on runtime threads.
//!
//! A pending operation runs as a tokio task. When it finishes, the task pushes its
//! result on a queue of the event loop that awaits it and, if the queue was empty,
//! writes a byte to a pipe the loop watches (`loop.add_reader`; any Unix selector
//! loop, uvloop included). The loop's own thread, which
//! already holds the GIL, drains the queue and resolves the futures. Runtime threads
//! never take the GIL: under load, taking it there (as `call_soon_threadsafe` from a
//! runtime thread must) costs a GIL hand-off per result and stalls the loop.

use crate::errors::Outcome;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::IntoPyObjectExt;
use std::future::Future;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::{Arc, Mutex, OnceLock};

/// The runtime every store of this process shares, started on first use. Starting it
/// fails only when the process cannot start threads: then every operation raises
/// `RuntimeError` rather than the module panicking.
pub fn runtime() -> PyResult<&'static tokio::runtime::Runtime> {
    static RUNTIME: OnceLock<std::io::Result<tokio::runtime::Runtime>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .thread_name("botstore-py")
                .build()
        })
        .as_ref()
        .map_err(|e| {
            pyo3::exceptions::PyRuntimeError::new_err(format!(
                "cannot start the botstore runtime: {e}"
            ))
        })
}

type Resolve = Box<dyn FnOnce(Python<'_>) -> PyResult<Py<PyAny>> + Send>;

/// One loop's finished operations and the pipe that tells the loop about them.
struct LoopQueue {
    finished: Mutex<Vec<(Py<PyAny>, Resolve)>>,
    /// Read end (the loop watches it) and write end, both non-blocking.
    wake_read: OwnedFd,
    wake_write: OwnedFd,
}

impl LoopQueue {
    fn push(&self, future: Py<PyAny>, resolve: Resolve) {
        let was_empty = match self.finished.lock() {
            Ok(mut q) => {
                q.push((future, resolve));
                q.len() == 1
            }
            Err(_) => return,
        };
        if was_empty {
            let byte = 1u8;
            // SAFETY: writes one byte from a live u8 to a pipe this queue owns. A full
            // pipe (EAGAIN) already holds unread bytes, so the loop wakes anyway.
            unsafe {
                libc::write(self.wake_write.as_raw_fd(), (&byte as *const u8).cast(), 1);
            }
        }
    }
}

/// The callback a loop runs when the eventfd is readable: resolves every finished
/// future of that loop.
#[pyclass(frozen, module = "botstore._native")]
struct Drain {
    queue: Arc<LoopQueue>,
}

#[pymethods]
impl Drain {
    fn __call__(&self, py: Python<'_>) -> PyResult<()> {
        let mut buf = [0u8; 64];
        // SAFETY: reads at most `buf.len()` bytes into a live buffer from a non-blocking
        // pipe this queue owns; stops when it is empty (EAGAIN: a result <= 0).
        while unsafe {
            libc::read(
                self.queue.wake_read.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        } > 0
        {}
        let finished = match self.queue.finished.lock() {
            Ok(mut q) => std::mem::take(&mut *q),
            Err(_) => return Ok(()),
        };
        for (future, resolve) in finished {
            let future = future.bind(py);
            // A cancelled awaiter: the operation ran anyway; nobody wants the result.
            if future.call_method0("done")?.is_truthy()? {
                continue;
            }
            match resolve(py) {
                Ok(v) => future.call_method1("set_result", (v,))?,
                Err(e) => future.call_method1("set_exception", (e.into_value(py),))?,
            };
        }
        Ok(())
    }
}

/// The queue of the running loop, created (and its eventfd registered) on first use.
/// Kept in a `WeakKeyDictionary` by loop, so a loop's queue goes with the loop.
#[pyclass(frozen, module = "botstore._native")]
struct LoopEntry {
    queue: Arc<LoopQueue>,
}

static LOOPS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static GET_RUNNING_LOOP: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

fn running_loop_queue<'py>(py: Python<'py>) -> PyResult<(Bound<'py, PyAny>, Arc<LoopQueue>)> {
    let get_loop = GET_RUNNING_LOOP.get_or_try_init(py, || {
        Ok::<_, PyErr>(py.import("asyncio")?.getattr("get_running_loop")?.unbind())
    })?;
    let event_loop = get_loop.bind(py).call0()?;
    let loops = LOOPS
        .get_or_try_init(py, || {
            Ok::<_, PyErr>(
                py.import("weakref")?
                    .call_method0("WeakKeyDictionary")?
                    .unbind(),
            )
        })?
        .bind(py);
    if let Ok(entry) = loops
        .call_method1("get", (&event_loop,))?
        .cast::<LoopEntry>()
    {
        return Ok((event_loop, Arc::clone(&entry.get().queue)));
    }
    let (wake_read, wake_write) = nonblocking_pipe()?;
    let fd = wake_read.as_raw_fd();
    let queue = Arc::new(LoopQueue {
        finished: Mutex::new(Vec::new()),
        wake_read,
        wake_write,
    });
    event_loop.call_method1(
        "add_reader",
        (
            fd,
            Drain {
                queue: Arc::clone(&queue),
            },
        ),
    )?;
    loops.set_item(
        &event_loop,
        LoopEntry {
            queue: Arc::clone(&queue),
        },
    )?;
    Ok((event_loop, queue))
}

/// A pipe whose ends do not block and are closed on exec.
fn nonblocking_pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `pipe` writes two descriptors into the two-element array it is given.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both descriptors are new and owned by nothing else.
    let ends = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    for fd in [fds[0], fds[1]] {
        // SAFETY: fcntl on descriptors this function owns, with integer arguments only.
        let ok = unsafe {
            let fl = libc::fcntl(fd, libc::F_GETFL);
            fl >= 0
                && libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK) == 0
                && libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) == 0
        };
        if !ok {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(ends)
}

/// `fut`, still pending, as an asyncio future of the running loop.
pub fn pending<'py, T>(
    py: Python<'py>,
    fut: impl Future<Output = Outcome<T>> + Send + 'static,
) -> PyResult<Bound<'py, PyAny>>
where
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    let (event_loop, queue) = running_loop_queue(py)?;
    let future = event_loop.call_method0("create_future")?;
    let handle = future.clone().unbind();
    runtime()?.spawn(async move {
        let r = fut.await;
        let resolve: Resolve = Box::new(move |py| match r {
            Ok(v) => v.into_py_any(py),
            Err(f) => Err(f.into_pyerr(py)),
        });
        queue.push(handle, resolve);
    });
    Ok(future)
}
