//! Answers on their way to the page. Each takes its share of the session's outbound byte
//! allowance (`Limits::outbound_bytes`) before it is queued, and gives it back once the WebSocket
//! holds it; a receive takes room for its answer before it reads, so data read from a socket and
//! not yet handed to the page is bounded. An answer that cannot be handed over within
//! `write_timeout` ends the session (the page has stopped reading).

use super::*;

/// A message for the writer, holding its share of the session's outbound byte allowance until the
/// writer has handed it to the WebSocket.
pub(super) struct Outbound {
    pub(super) message: Message,
    pub(super) _bytes: Option<OwnedSemaphorePermit>,
}

/// Awaits `fut` for at most `deadline`: `None` if it did not finish by then. A future that is ready
/// at once (an answer handed over with room to spare, the usual case) sets no timer.
async fn by_deadline<F: Future>(deadline: Duration, fut: F) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    if let std::task::Poll::Ready(value) = futures_util::poll!(fut.as_mut()) {
        return Some(value);
    }
    tokio::time::timeout(deadline, fut).await.ok()
}

/// The session's half of the WebSocket that writes, shared by the writer task and whoever answers
/// when the writer is idle.
pub(super) type SharedSink = Arc<tokio::sync::Mutex<Pin<Box<dyn Sink<Message, Error = WsError> + Send>>>>;

/// Writes queued messages, batching whatever is queued into one flush. Stops after a close frame,
/// or when a write does not finish within `write_timeout` (the page has stopped reading: `stalled`
/// is cancelled, and the session ends).
pub(super) async fn write_loop(
    sink: SharedSink,
    mut rx: mpsc::Receiver<Outbound>,
    deadline: Duration,
    stalled: CancellationToken,
) {
    let write = async {
        'outer: while let Some(first) = rx.recv().await {
            let mut sink = sink.lock().await;
            let mut next = Some(first);
            while let Some(out) = next.take() {
                let closing = matches!(out.message, Message::Close(_));
                // The byte allowance is returned once tungstenite holds the message (its own buffer
                // is bounded by max_write_buffer_size).
                match by_deadline(deadline, sink.feed(out.message)).await {
                    Some(Ok(())) if !closing => {}
                    Some(_) => break 'outer,
                    None => return Err(()),
                }
                next = rx.try_recv().ok();
            }
            match by_deadline(deadline, sink.flush()).await {
                Some(Ok(())) => {}
                Some(Err(_)) => break,
                None => return Err(()),
            }
        }
        Ok(())
    };
    if write.await.is_err() {
        stalled.cancel();
        return;
    }
    let _ = tokio::time::timeout(deadline, async { sink.lock().await.close().await }).await;
}

impl Session {
    /// The outbound room a receive of up to `n` bytes takes: its response's size at most.
    pub(super) fn room_for(&self, n: usize) -> Budget<'_> {
        let data = match self.codec {
            Codec::Json => bridge_protocol::Payload::base64_len(n),
            Codec::Msgpack => n,
        };
        let response = data + RESPONSE_ALLOWANCE;
        Budget { room: &self.out_bytes, permits: self.share(response) }
    }

    /// A message's share of the outbound allowance.
    pub(super) fn share(&self, len: usize) -> u32 {
        u32::try_from(len.clamp(1, self.shared.limits.outbound_bytes)).unwrap_or(u32::MAX)
    }

    pub(super) async fn send(&self, frame: Frame) {
        self.send_in(frame, None).await;
    }

    /// Queues a message for the writer, in `room` taken earlier if given (grown or trimmed to the
    /// message's share), else in room taken now. A message that cannot be handed over within
    /// `write_timeout` (the page has stopped reading) is dropped and the session ends.
    pub(super) async fn send_in(&self, frame: Frame, room: Option<OwnedSemaphorePermit>) {
        let deadline = self.shared.limits.write_timeout;
        if by_deadline(deadline, self.hand_over(frame, room)).await.is_none() {
            self.stalled.cancel();
        }
    }

    pub(super) async fn hand_over(&self, frame: Frame, room: Option<OwnedSemaphorePermit>) {
        crate::metrics::Metrics::add(&self.net().audit.metrics.bytes_out, frame.len());
        let share = self.share(frame.len());
        let bytes = match room {
            Some(mut room) => {
                let have = room.num_permits() as u32;
                if have > share {
                    drop(room.split((have - share) as usize));
                } else if have < share {
                    let Ok(more) = Arc::clone(&self.out_bytes).acquire_many_owned(share - have).await else { return };
                    room.merge(more);
                }
                room
            }
            None => {
                let Ok(bytes) = Arc::clone(&self.out_bytes).acquire_many_owned(share).await else { return };
                bytes
            }
        };
        let message = match frame {
            Frame::Text(text) => Message::text(text),
            Frame::Binary(bytes) => Message::binary(bytes),
        };
        // With nothing queued for the writer, write here: the answer leaves without waking another
        // task. Otherwise queue it behind the others.
        if self.out.capacity() == self.out.max_capacity()
            && let Ok(mut sink) = self.sink.try_lock()
        {
            let _ = sink.send(message).await;
            return;
        }
        // Fails only when the writer has gone, i.e. the session is closing.
        let _ = self.out.send(Outbound { message, _bytes: Some(bytes) }).await;
    }

    pub(super) async fn respond<R: Serialize + 'static>(&self, id: Option<Id>, result: OpResult<R>) {
        self.respond_in(id, result, None).await;
    }

    pub(super) async fn respond_in<R: Serialize + 'static>(
        &self,
        id: Option<Id>,
        result: OpResult<R>,
        room: Option<OwnedSemaphorePermit>,
    ) {
        let Some(id) = id else {
            if let Err(e) = result {
                tracing::debug!(error = %e, "a notification failed");
            }
            return;
        };
        let frame = match &result {
            Ok(value) => self.codec.encode_result(&id, value),
            Err(e) => self.codec.encode_error(Some(&id), &e.to_error_object()),
        };
        self.send_in(frame, room).await;
    }
}
