//! The connection core, the same on every target: request ids, matching responses to callers,
//! the in-flight allowance, and failing everything outstanding when the connection closes.
//!
//! A transport gives the core a way to send text ([`Transport`]) and feeds it what arrives
//! ([`Core::on_message`], [`Core::on_close`]); the native transport (tokio-tungstenite) and the
//! browser's WebSocket differ only there.

use crate::error::{Error, Result};
use bridge_protocol::json::{self, ResponseError};
use bridge_protocol::{Id, Rpc};
use futures_channel::oneshot;
use serde_json::value::RawValue;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Sends a text message to the daemon. Sending is synchronous (queued), so requests leave in the
/// order they were made.
pub(crate) trait Transport: Send + Sync {
    /// Queues one message; fails once the connection is closed.
    fn send(&self, text: String) -> Result<()>;
    /// Closes the connection (politely, with a close frame).
    fn close(&self);
}

/// Delivers one response to its caller: decodes the result as the method's type.
type Completer = Box<dyn FnOnce(Result<&RawValue>) + Send>;

struct State {
    pending: HashMap<u64, Completer>,
    closed: bool,
}

/// One connection to a daemon.
pub(crate) struct Core {
    next_id: AtomicU64,
    state: Mutex<State>,
    transport: Box<dyn Transport>,
    /// Permits for blocking methods: as many as the daemon allows in flight (set after `hello`).
    inflight: Arc<Semaphore>,
}

impl Core {
    pub(crate) fn new(transport: Box<dyn Transport>) -> Self {
        Core {
            next_id: AtomicU64::new(1),
            state: Mutex::new(State { pending: HashMap::new(), closed: false }),
            transport,
            inflight: Arc::new(Semaphore::new(0)),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poison| poison.into_inner())
    }

    /// Opens the in-flight allowance the daemon reported in `hello`.
    pub(crate) fn open_inflight(&self, permits: usize) {
        self.inflight.add_permits(permits);
    }

    /// Calls a method and waits for its result.
    pub(crate) async fn call<R: Rpc>(&self, params: &R::Params) -> Result<R::Result> {
        let permit = self.permit::<R>().await?;
        let rx = self.start::<R>(params, permit)?;
        rx.await.unwrap_or(Err(Error::Closed))
    }

    /// Waits for an in-flight permit if the method may block.
    pub(crate) async fn permit<R: Rpc>(&self) -> Result<Option<OwnedSemaphorePermit>> {
        if !R::METHOD.may_block() {
            return Ok(None);
        }
        self.inflight.clone().acquire_owned().await.map(Some).map_err(|_| Error::Closed)
    }

    /// Sends a request now and returns where its result will arrive. The permit, if any, is held
    /// until the response comes (the daemon counts the request until then too).
    pub(crate) fn start<R: Rpc>(
        &self,
        params: &R::Params,
        permit: Option<OwnedSemaphorePermit>,
    ) -> Result<oneshot::Receiver<Result<R::Result>>> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        let completer: Completer = Box::new(move |outcome| {
            drop(permit);
            let result = outcome.and_then(|raw| {
                json::decode_result::<R::Result>(R::METHOD, raw).map_err(|e| Error::Response(e.to_string()))
            });
            let _ = tx.send(result);
        });
        {
            let mut state = self.state();
            if state.closed {
                return Err(Error::Closed);
            }
            state.pending.insert(id, completer);
        }
        let text = json::encode_request(Some(&Id::Num(id)), R::METHOD, params);
        if let Err(e) = self.transport.send(text) {
            self.state().pending.remove(&id);
            return Err(e);
        }
        Ok(rx)
    }

    /// Sends a request whose result nobody waits for (`settimeout`, the `close` of a dropped
    /// socket); a failure is logged.
    pub(crate) fn fire<R: Rpc>(&self, params: &R::Params) {
        match self.start::<R>(params, None) {
            Ok(rx) => drop(rx),
            Err(e) => tracing::debug!(method = %R::METHOD, error = %e, "request not sent"),
        }
    }

    /// Handles one message from the daemon.
    pub(crate) fn on_message(&self, text: &str) {
        let response = match json::decode_response(text) {
            Ok(r) => r,
            Err(ResponseError::Malformed | ResponseError::WrongResultType(_)) => {
                tracing::warn!("a malformed message from the daemon was dropped");
                return;
            }
        };
        let Some(Id::Num(id)) = response.id else {
            if let Err(e) = response.outcome {
                tracing::warn!(error = %e, "the daemon reported an error about an unreadable request");
            }
            return;
        };
        let completer = self.state().pending.remove(&id);
        match completer {
            Some(complete) => complete(response.outcome.map_err(Error::from_rpc)),
            None => tracing::debug!(id, "a response nobody waits for"),
        }
    }

    /// Fails everything outstanding: the connection is gone.
    pub(crate) fn on_close(&self) {
        let pending = {
            let mut state = self.state();
            state.closed = true;
            std::mem::take(&mut state.pending)
        };
        self.inflight.close();
        for complete in pending.into_values() {
            complete(Err(Error::Closed));
        }
    }

    /// Whether the connection is closed.
    pub(crate) fn is_closed(&self) -> bool {
        self.state().closed
    }

    /// Closes the connection.
    pub(crate) fn close(&self) {
        self.transport.close();
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        self.transport.close();
    }
}
