//! Group commit: one thread applies queued operations in batches, so concurrent callers share
//! one transaction and one fsync instead of queueing for one each.
//!
//! A caller hands over an operation and awaits its result; the thread takes every operation
//! waiting at that moment (up to a cap), applies them together, and answers each. Under load the
//! batch grows by itself (operations pile up while the previous fsync runs); alone, an operation
//! is applied at once, in a batch of one. The durable store and the paper OMS's journal use it.

use std::sync::mpsc;

use tokio::sync::oneshot;

struct Pending<Op, Out> {
    op: Op,
    reply: oneshot::Sender<Out>,
}

/// The sending side of a group-commit thread. The thread ends once every handle is dropped and
/// the operations already handed over are applied.
pub struct GroupCommit<Op, Out> {
    tx: mpsc::Sender<Pending<Op, Out>>,
}

/// The group-commit thread is gone (it panicked): nothing handed to it since was applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the {0} writer thread has stopped")]
pub struct Stopped(pub &'static str);

/// Waits for one operation, then takes every other one already waiting, up to `max` in all.
/// `None` once every sender is gone.
fn next_batch<T>(rx: &mpsc::Receiver<T>, max: usize) -> Option<Vec<T>> {
    let mut batch = vec![rx.recv().ok()?];
    while batch.len() < max {
        match rx.try_recv() {
            Ok(next) => batch.push(next),
            Err(_) => break,
        }
    }
    Some(batch)
}

impl<Op: Send + 'static, Out: Send + 'static> GroupCommit<Op, Out> {
    /// Starts the thread `name`. `apply` gets up to `max_batch` operations in arrival order and
    /// returns one result per operation, in the same order.
    pub fn spawn(
        name: &'static str,
        max_batch: usize,
        mut apply: impl FnMut(Vec<Op>) -> Vec<Out> + Send + 'static,
    ) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel::<Pending<Op, Out>>();
        std::thread::Builder::new()
            .name(format!("mts1b-{name}"))
            .spawn(move || {
                while let Some(batch) = next_batch(&rx, max_batch) {
                    let (ops, replies): (Vec<Op>, Vec<_>) =
                        batch.into_iter().map(|p| (p.op, p.reply)).unzip();
                    // A result the caller no longer waits for is dropped (it stopped listening;
                    // the operation is applied all the same).
                    for (reply, out) in replies.into_iter().zip(apply(ops)) {
                        let _ = reply.send(out);
                    }
                }
            })?;
        Ok(Self { tx })
    }

    /// Hands `op` to the thread and waits for its result. `name` says which thread in the error.
    pub async fn run(&self, name: &'static str, op: Op) -> Result<Out, Stopped> {
        let (reply, result) = oneshot::channel();
        self.tx
            .send(Pending { op, reply })
            .map_err(|_| Stopped(name))?;
        result.await.map_err(|_| Stopped(name))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn a_batch_takes_what_is_waiting_up_to_the_cap() {
        let (tx, rx) = mpsc::channel();
        for i in 0..40 {
            tx.send(i).unwrap();
        }
        let sizes: Vec<usize> = (0..3).map(|_| next_batch(&rx, 16).unwrap().len()).collect();
        assert_eq!(sizes, [16, 16, 8]);
        drop(tx);
        assert_eq!(next_batch(&rx, 16), None);
    }

    #[test]
    fn a_batch_keeps_arrival_order() {
        let (tx, rx) = mpsc::channel();
        for i in 0..5 {
            tx.send(i).unwrap();
        }
        assert_eq!(next_batch(&rx, 3), Some(vec![0, 1, 2]));
        assert_eq!(next_batch(&rx, 3), Some(vec![3, 4]));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_caller_gets_the_result_of_its_own_operation() {
        let commit = Arc::new(
            GroupCommit::spawn("test", 16, |ops: Vec<u32>| {
                ops.into_iter().map(|op| op * 10).collect()
            })
            .unwrap(),
        );
        let calls: Vec<_> = (0..100u32)
            .map(|i| {
                let commit = commit.clone();
                tokio::spawn(async move { (i, commit.run("test", i).await) })
            })
            .collect();
        for call in calls {
            let (i, out) = call.await.unwrap();
            assert_eq!(out, Ok(i * 10));
        }
    }

    #[tokio::test]
    async fn a_dead_thread_is_an_error_not_a_hang() {
        let commit =
            GroupCommit::spawn("doomed", 4, |_: Vec<u32>| -> Vec<u32> { panic!("boom") }).unwrap();
        assert_eq!(commit.run("doomed", 1).await, Err(Stopped("doomed")));
        assert_eq!(commit.run("doomed", 2).await, Err(Stopped("doomed")));
    }
}
