//! `POST /v1/admin/backup/records`: a read view's records as a byte stream, for a backup
//! the caller writes into its own repository (`botstore --remote URL backup create`).
//! The bytes are a record transfer stream (docs/BACKUP-FORMAT.md); the client does not
//! decode them, `botstore_backup::transfer` does.

use crate::client::{content_type, Client};
use crate::error::ClientError;
use botstore_api::wire::BackupRecordsRequest;
use reqwest::{Method, Response};
use std::time::Duration;

/// How long a record stream may take in all: a large store takes long to stream, so the
/// client's request timeout does not apply; [`RecordStream::chunk`] callers bound the
/// wait for each piece instead.
const STREAM_LIMIT: Duration = Duration::from_secs(7 * 24 * 3600);

/// The body of a record stream, piece by piece.
pub struct RecordStream {
    resp: Response,
    client: Client,
}

impl RecordStream {
    /// The next piece; `None` at the end of the body (whether the stream is complete is
    /// for its decoder to say: a cut connection may look like an end).
    pub async fn chunk(&mut self) -> Result<Option<Vec<u8>>, ClientError> {
        match self.resp.chunk().await {
            Ok(c) => Ok(c.map(Vec::from)),
            Err(e) => Err(self.client.transport(&e)),
        }
    }
}

impl Client {
    /// Ask for the records of one read view (admin): all of them, or with `since_lsn`
    /// those changed since that LSN. Errors before the stream starts are the server's
    /// problems (403 for a token without admin).
    pub async fn backup_records(
        &self,
        since_lsn: Option<u64>,
    ) -> Result<RecordStream, ClientError> {
        let rb = Client::with_json(
            self.request(Method::POST, "/v1/admin/backup/records", &[]),
            &BackupRecordsRequest { since_lsn },
        )?
        .timeout(STREAM_LIMIT);
        let resp = self.send(rb).await?;
        if content_type(resp.headers()) != Some("application/octet-stream") {
            return Err(self.protocol(format!(
                "/v1/admin/backup/records answered {:?}, not application/octet-stream",
                content_type(resp.headers())
            )));
        }
        Ok(RecordStream {
            resp,
            client: self.clone(),
        })
    }
}
