//! Ordered lanes: the operations of one direction of one socket run one after another, in the order
//! the requests arrived, while other lanes and sockets run alongside.
//!
//! Each socket has a read lane (`accept`, `recv`, `recvfrom`) and a write lane (`send`, `sendall`,
//! `sendto`, `connect`), so a pending `recv` never holds up a `send`, and pipelined `send`s never
//! reorder. A lane has no task while it is idle: a job that cannot finish at once starts one, which
//! runs jobs until the queue is empty. The queue is bounded by the session's in-flight limit, since
//! every job holds one of its permits.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

/// A queued operation; it sends its own response.
pub(crate) type Job = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// One ordered lane.
#[derive(Default)]
pub(crate) struct Lane {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Job>,
    running: bool,
}

impl std::fmt::Debug for Lane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("Lane").field("queued", &state.queue.len()).field("running", &state.running).finish()
    }
}

impl Lane {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poison| poison.into_inner())
    }

    /// Runs a job after the lane's earlier jobs. When the lane is idle the job is first polled here,
    /// in the caller's task: an operation that can complete at once (a `send` with room in the
    /// kernel's buffer, a `recv` with data waiting) does so without another task being woken. A job
    /// that has to wait goes on in a task of the lane's own.
    pub(crate) async fn run(self: &Arc<Self>, mut job: Job) {
        {
            let mut state = self.lock();
            if state.running {
                state.queue.push_back(job);
                return;
            }
            state.running = true;
        }
        if futures_util::poll!(job.as_mut()).is_ready() {
            let mut state = self.lock();
            if state.queue.is_empty() {
                state.running = false;
                return;
            }
            drop(state);
            tokio::spawn(Arc::clone(self).drain());
            return;
        }
        self.lock().queue.push_front(job);
        tokio::spawn(Arc::clone(self).drain());
    }

    async fn drain(self: Arc<Self>) {
        loop {
            let job = {
                let mut state = self.lock();
                match state.queue.pop_front() {
                    Some(job) => job,
                    None => {
                        state.running = false;
                        return;
                    }
                }
            };
            job.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn jobs_run_in_order_and_lanes_in_parallel() {
        let order = Arc::new(Mutex::new(Vec::new()));
        let slow = Arc::new(Lane::default());
        let fast = Arc::new(Lane::default());
        let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
        let (done_tx, mut done_rx) = tokio::sync::mpsc::channel(8);
        slow.run(Box::pin(async move {
            let _ = release_rx.await;
        }))
        .await;
        for i in 0..5 {
            let order = order.clone();
            let done = done_tx.clone();
            let delay = Duration::from_millis(5 - i);
            fast.run(Box::pin(async move {
                tokio::time::sleep(delay).await;
                order.lock().unwrap_or_else(|p| p.into_inner()).push(i);
                let _ = done.send(()).await;
            }))
            .await;
        }
        // The fast lane finishes all five while the slow lane is still blocked.
        for _ in 0..5 {
            assert!(done_rx.recv().await.is_some());
        }
        assert_eq!(*order.lock().unwrap_or_else(|p| p.into_inner()), [0, 1, 2, 3, 4]);
        let _ = release_tx.send(());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_job_that_can_finish_at_once_runs_in_the_callers_task() {
        let lane = Arc::new(Lane::default());
        let here = std::thread::current().id();
        let (tx, rx) = tokio::sync::oneshot::channel();
        lane.run(Box::pin(async move {
            let _ = tx.send(std::thread::current().id());
        }))
        .await;
        assert_eq!(rx.await.ok(), Some(here));
        assert!(!lane.lock().running, "the lane is idle again");
    }
}
