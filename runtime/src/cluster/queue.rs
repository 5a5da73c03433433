//! The orders waiting per stream on the cluster backend, for the admin page: for each subject
//! of the order log, the messages past its delivered mark (bucket `{prefix}_progress`), the
//! order being delivered included, as the embedded store counts the records not final.
//!
//! Read when the page loads, not kept: per stream its mark and its last message's sequence
//! (two reads, sixteen streams at a time), and for a stream whose last message is past its
//! mark the exact count from a consumer filtered on it from the mark (created, its pending
//! count read, deleted; memory storage, one copy, gone on its own after a minute if the delete
//! is lost). At most [`MOST_STREAMS`] streams are looked at per load.

use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, pull};
use async_nats::jetstream::kv;
use async_nats::jetstream::stream::{RawMessageErrorKind, Stream};
use futures_util::StreamExt;

use super::log::{OrderLog, subjects_matching};
use super::{ClusterUnavailable, keys};

/// The most streams one page load looks at (the rest are counted, not read).
pub const MOST_STREAMS: usize = 1_000;

/// Streams read at once.
const AT_ONCE: usize = 16;

/// The streams with orders waiting, each with how many, and how many streams the log holds.
pub async fn queued_by_stream(
    log: &OrderLog,
    progress: &kv::Store,
) -> Result<(Vec<(String, usize)>, usize), ClusterUnavailable> {
    let stream = log
        .cluster()
        .jetstream
        .get_stream(log.stream())
        .await
        .map_err(|e| ClusterUnavailable(format!("stream {}: {e}", log.stream())))?;
    let subjects = subjects_matching(&stream, log.every_subject()).await?;
    let streams = subjects.len();
    let counted: Vec<Result<(String, usize), ClusterUnavailable>> =
        futures_util::stream::iter(subjects.into_iter().take(MOST_STREAMS))
            .map(|subject| {
                let stream = &stream;
                async move {
                    let waiting = waiting(stream, progress, &subject).await?;
                    Ok((subject, waiting))
                }
            })
            .buffer_unordered(AT_ONCE)
            .collect()
            .await;
    let mut queued = Vec::new();
    for counted in counted {
        let (subject, waiting) = counted?;
        if waiting > 0 {
            queued.push((log.stream_of_subject(&subject), waiting));
        }
    }
    queued.sort();
    Ok((queued, streams))
}

/// The messages of `subject` past its delivered mark.
async fn waiting(
    stream: &Stream,
    progress: &kv::Store,
    subject: &str,
) -> Result<usize, ClusterUnavailable> {
    let unavailable = |e: &dyn std::fmt::Display| ClusterUnavailable(format!("{subject}: {e}"));
    let mark: u64 = progress
        .get(keys::token(subject))
        .await
        .map_err(|e| unavailable(&e))?
        .and_then(|v| std::str::from_utf8(&v).ok()?.parse().ok())
        .unwrap_or(0);
    let last = match stream.get_last_raw_message_by_subject(subject).await {
        Ok(message) => message.sequence,
        Err(e) if e.kind() == RawMessageErrorKind::NoMessageFound => return Ok(0),
        Err(e) => return Err(unavailable(&e)),
    };
    if last <= mark {
        return Ok(0);
    }
    let consumer = stream
        .create_consumer(pull::Config {
            filter_subject: subject.to_owned(),
            deliver_policy: DeliverPolicy::ByStartSequence {
                start_sequence: mark + 1,
            },
            ack_policy: AckPolicy::None,
            inactive_threshold: Duration::from_secs(60),
            memory_storage: true,
            num_replicas: 1,
            ..Default::default()
        })
        .await
        .map_err(|e| unavailable(&e))?;
    let info = consumer.cached_info();
    let pending = usize::try_from(info.num_pending).unwrap_or(usize::MAX);
    if let Err(e) = stream.delete_consumer(&info.name).await {
        tracing::debug!(target: "mts1b::cluster", subject, error = %e, "counting consumer not deleted; it lapses on its own");
    }
    Ok(pending)
}
