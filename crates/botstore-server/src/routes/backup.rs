//! `POST /v1/admin/backup/records` (admin): the primary records of one consistent read
//! view as a record transfer stream (`botstore_backup::transfer`), full or the delta
//! since a parent snapshot's LSN. `botstore --remote URL backup create` feeds it into a
//! repository on the client's side: the repository and its key never reach the server.

use crate::auth::Caller;
use crate::extract::JsonBody;
use crate::problem::ApiError;
use crate::state::Shared;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use botstore_api::wire::BackupRecordsRequest;
use botstore_api::ProblemType;
use botstore_backup::{transfer, Error as BackupError, RecordSource, ViewSource};

/// Pieces in flight between the reading thread and the connection.
const IN_FLIGHT: usize = 4;

fn problem(e: BackupError) -> ApiError {
    match e {
        BackupError::Store(e) => ApiError::from(e),
        other => {
            tracing::error!(error = %other, "backup records failed");
            ApiError::new(ProblemType::Storage, other.to_string())
        }
    }
}

pub async fn records(
    State(s): State<Shared>,
    caller: Caller,
    JsonBody(req): JsonBody<BackupRecordsRequest>,
) -> Result<Response, ApiError> {
    caller.need_admin()?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(IN_FLIGHT);
    let (opened_tx, opened_rx) = tokio::sync::oneshot::channel();
    let store = s.store.clone();
    // The view is read on a blocking thread for as long as the client takes the stream;
    // a client that goes away stops it (the send fails).
    tokio::task::spawn_blocking(move || {
        let mut src = match ViewSource::open(&store, req.since_lsn) {
            Ok(src) => {
                let _ = opened_tx.send(Ok(src.header().clone()));
                src
            }
            Err(e) => {
                let _ = opened_tx.send(Err(e));
                return;
            }
        };
        let r = transfer::serve(&mut src, &mut |piece| {
            tx.blocking_send(Bytes::from(piece))
                .map_err(|_| BackupError::Cancelled)
        });
        match r {
            Ok(()) => {}
            Err(BackupError::Cancelled) => {
                tracing::info!("backup records: the client went away before the end")
            }
            Err(e) => tracing::error!(error = %e, "backup records: the stream failed"),
        }
    });
    let header = match opened_rx.await {
        Ok(Ok(h)) => h,
        Ok(Err(e)) => return Err(problem(e)),
        Err(_) => {
            return Err(ApiError::new(
                ProblemType::Storage,
                "the backup reader stopped before it started",
            ))
        }
    };
    tracing::info!(
        lsn = header.lsn,
        kind = ?header.kind,
        since_lsn = ?header.since_lsn,
        by = ?caller.0.token_id,
        "backup records"
    );
    let stream = futures::stream::poll_fn(move |cx| {
        rx.poll_recv(cx).map(|o| o.map(Ok::<_, std::io::Error>))
    });
    Ok((
        [(header::CONTENT_TYPE, "application/octet-stream")],
        Body::from_stream(stream),
    )
        .into_response())
}
