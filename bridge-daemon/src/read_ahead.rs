//! Read-ahead, the daemon's side: `recv` requests a client sends ahead (`"ahead": true`), before
//! the program asks, so a loop of `recv`s costs no round trip per chunk (the client's side is
//! `wasm_client`'s `read_ahead` module; `docs/protocol.md`, "read-ahead", is the contract).
//!
//! A receive sent ahead is in one of three states:
//!
//! - **waiting**: queued in its socket's read lane, or waiting there for data. It holds no
//!   in-flight place (`max_inflight`), but the session is busy (not idle) while one waits. At most
//!   [`MAX_RECV_AHEAD`] wait per socket; one more is `EAGAIN`.
//! - **answered**: it got data, EOF or an error, and answers as any `recv`.
//! - **gave way**: a later request naming its socket ([`gives_way_to`]) arrived while it waited;
//!   it answers `EAGAIN` having read nothing, so no byte is lost or reordered, and the request
//!   behind it runs as if nothing had been sent ahead.
//!
//! | type | owns |
//! |---|---|
//! | [`Aheads`] | one socket's waiting receives and the signal that makes them give way |
//! | [`AheadRecv`] | one receive sent ahead, from its arrival until it answers |
//! | [`gives_way_to`] | which sockets a request makes give way |

use crate::error::{OpError, OpResult};
use crate::lock;
use bridge_protocol::errno::code::EAGAIN;
pub(crate) use bridge_protocol::params::MAX_RECV_AHEAD;
use bridge_protocol::params::*;
use bridge_protocol::{Call, Fd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

/// A socket's receives sent ahead that are waiting.
#[derive(Clone, Debug, Default)]
pub(crate) struct Aheads(Arc<Mutex<Waiting>>);

#[derive(Debug, Default)]
struct Waiting {
    count: usize,
    /// Cancelled to make them give way; the ones sent after that get a new one.
    give_way: Option<CancellationToken>,
}

impl Aheads {
    /// A receive sent ahead arrives: at most [`MAX_RECV_AHEAD`] wait at a time per socket (so a
    /// page cannot pile them up behind a waiting call), counted in the session's `reading` while
    /// they last.
    pub(crate) fn begin(&self, reading: &Arc<AtomicUsize>) -> OpResult<AheadRecv> {
        let mut waiting = lock(&self.0);
        if waiting.count >= MAX_RECV_AHEAD {
            return Err(OpError::refused(
                EAGAIN,
                format!("this socket already has {MAX_RECV_AHEAD} recvs sent ahead, the most it may"),
            ));
        }
        waiting.count += 1;
        let token = waiting.give_way.get_or_insert_with(CancellationToken::new).clone();
        reading.fetch_add(1, Ordering::Relaxed);
        Ok(AheadRecv { token, aheads: self.clone(), reading: Arc::clone(reading) })
    }

    /// Makes the waiting receives, if any, give way to a later request.
    pub(crate) fn give_way(&self) {
        if let Some(token) = lock(&self.0).give_way.take() {
            token.cancel();
        }
    }
}

/// A receive sent ahead, from its arrival until it has answered.
pub(crate) struct AheadRecv {
    token: CancellationToken,
    aheads: Aheads,
    reading: Arc<AtomicUsize>,
}

impl AheadRecv {
    /// Runs the receive until it has data (or fails), or until a later request on the socket
    /// makes it give way: then it fails with `EAGAIN`. Waiting for data reads nothing, so giving
    /// way loses no byte.
    pub(crate) async fn run<T>(self, recv: impl Future<Output = OpResult<T>>) -> OpResult<T> {
        let gave_way = || OpError::refused(EAGAIN, "the recv sent ahead gave way to a later request on its socket");
        if self.token.is_cancelled() {
            return Err(gave_way());
        }
        tokio::select! {
            biased;
            got = recv => got,
            () = self.token.cancelled() => Err(gave_way()),
        }
    }
}

impl Drop for AheadRecv {
    fn drop(&mut self) {
        let mut waiting = lock(&self.aheads.0);
        waiting.count -= 1;
        if waiting.count == 0 {
            waiting.give_way = None;
        }
        self.reading.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The sockets whose receives sent ahead give way to `call`: every socket a request names, except
/// for a send (the write lane's calls neither read nor change how reads behave) and another
/// receive sent ahead.
pub(crate) fn gives_way_to(call: &Call) -> Vec<Fd> {
    match call {
        Call::Send(_) | Call::Sendall(_) | Call::Sendto(_) => Vec::new(),
        Call::Recv(p) if p.ahead => Vec::new(),
        Call::Select(p) => p.rlist.iter().chain(&p.wlist).chain(&p.xlist).copied().collect(),
        Call::Accept(FdParams { fd })
        | Call::Close(FdParams { fd })
        | Call::Getsockname(FdParams { fd })
        | Call::Getpeername(FdParams { fd })
        | Call::Bind(AddressParams { fd, .. })
        | Call::Connect(AddressParams { fd, .. })
        | Call::Listen(ListenParams { fd, .. })
        | Call::Recv(RecvParams { fd, .. })
        | Call::Recvfrom(RecvParams { fd, .. })
        | Call::Shutdown(ShutdownParams { fd, .. })
        | Call::Setsockopt(SetsockoptParams { fd, .. })
        | Call::Getsockopt(GetsockoptParams { fd, .. })
        | Call::Settimeout(SettimeoutParams { fd, .. })
        | Call::Setblocking(SetblockingParams { fd, .. }) => vec![*fd],
        Call::Hello(_)
        | Call::Socket(_)
        | Call::Getaddrinfo(_)
        | Call::Gethostbyname(_)
        | Call::Gethostname(_)
        | Call::Network(_)
        | Call::AddHost(_)
        | Call::SetLink(_)
        | Call::Packets(_)
        | Call::Pcap(_)
        | Call::Netstat(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bridge_protocol::Payload;

    #[tokio::test]
    async fn a_waiting_receive_gives_way_and_the_next_one_waits_again() {
        let aheads = Aheads::default();
        let reading = Arc::new(AtomicUsize::new(0));
        let first = aheads.begin(&reading).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(reading.load(Ordering::Relaxed), 1);
        aheads.give_way();
        let got = first.run(std::future::pending::<OpResult<()>>()).await;
        assert!(matches!(got, Err(OpError::Os(e)) if e.errno == Some(EAGAIN)));
        assert_eq!(reading.load(Ordering::Relaxed), 0, "an answered receive is no longer counted");
        // One sent after the give-way waits again, and answers with its data.
        let second = aheads.begin(&reading).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(second.run(async { Ok(7) }).await.ok(), Some(7));
    }

    #[test]
    fn at_most_max_recv_ahead_wait_per_socket() {
        let aheads = Aheads::default();
        let reading = Arc::new(AtomicUsize::new(0));
        let held: Vec<_> = (0..MAX_RECV_AHEAD).map(|_| aheads.begin(&reading)).collect();
        assert!(held.iter().all(Result::is_ok));
        assert!(matches!(aheads.begin(&reading), Err(OpError::Os(e)) if e.errno == Some(EAGAIN)));
        drop(held);
        assert!(aheads.begin(&reading).is_ok());
    }

    #[test]
    fn sends_and_receives_ahead_do_not_make_receives_give_way() {
        let send = Call::Send(SendParams { fd: 3, data: Payload(vec![1]), flags: 0 });
        assert!(gives_way_to(&send).is_empty());
        let ahead = Call::Recv(RecvParams { fd: 3, bufsize: 1, flags: 0, ahead: true });
        assert!(gives_way_to(&ahead).is_empty());
        let recv = Call::Recv(RecvParams { fd: 3, bufsize: 1, flags: 0, ahead: false });
        assert_eq!(gives_way_to(&recv), [3]);
        let select = Call::Select(SelectParams { rlist: vec![3], wlist: vec![4], xlist: vec![3], timeout: None });
        assert_eq!(gives_way_to(&select), [3, 4, 3]);
    }
}
