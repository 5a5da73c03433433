//! A cancel-all of every symbol on the cluster backend (SPEC §13): it travels in its scope's
//! own stream ([`crate::cluster::log::scope_of`]) and is a barrier for every stream of the
//! scope, as the embedded outbox's. Every stream of one (fund, strategy) sits in one partition
//! ([`crate::cluster::partitions`]), so one replica holds the barrier and the streams it bars.
//!
//! - A stream of the scope, before each order's OMS call, reads the scope's first cancel-all
//!   not yet settled: one that arrived before the order holds the order back until it is
//!   final (the drain stops; the cancel-all's drain pokes the scope's streams once it is); one
//!   that arrived after an order not yet sent cancels it before delivery. Modifications that
//!   arrived before it go first, in their turn.
//! - The cancel-all itself waits until every stream of its scope has settled what arrived
//!   before it (the OMS calls in flight answered, the queued orders cancelled), then goes to
//!   the OMS.
//!
//! The read after an order's sequence is known is what makes it exact: a cancel-all appended
//! later has a later sequence, so none can slip in between the read and the call.

use super::{Deliverer, Holder, Stopped};
use crate::cluster::log::{decode, is_scope, scope_of, subjects_matching};
use crate::cluster::{ClusterUnavailable, keys};

/// How often a cancel-all waiting for its scope looks again.
const SCOPE_POLL: std::time::Duration = std::time::Duration::from_millis(50);

impl Deliverer {
    /// The first message after `subject`'s mark, as (sequence, `kind key`), if any.
    async fn first_unsettled(
        &self,
        subject: &str,
        holder: &Holder<'_>,
    ) -> Result<Option<(u64, String)>, Stopped> {
        let ((mark, _), _) = self
            .mark_for(&keys::token(subject), holder)
            .await
            .map_err(Stopped::Unavailable)?;
        let first = self
            .read_after(subject, mark)
            .await
            .map_err(Stopped::Unavailable)?;
        Ok(first.map(|message| {
            let by = decode(&message.payload).map_or_else(
                |_| format!("the cancel-all at {}", message.sequence),
                |intent| format!("{} {}", intent.kind().as_str(), intent.idempotency_key()),
            );
            (message.sequence, by)
        }))
    }

    /// The first cancel-all of every symbol of `subject`'s scope not yet settled, as
    /// (sequence, `cancel_all key`); none for the scope's own stream.
    pub(super) async fn barrier(
        &self,
        subject: &str,
        holder: &Holder<'_>,
    ) -> Result<Option<(u64, String)>, Stopped> {
        if is_scope(subject) {
            return Ok(None);
        }
        self.first_unsettled(&scope_of(subject), holder).await
    }

    /// The streams of the scope `scope` (its own included), as the log lists them.
    pub async fn scope_streams(&self, scope: &str) -> Result<Vec<String>, ClusterUnavailable> {
        let filter = match scope.rsplit_once('.') {
            Some((head, _)) => format!("{head}.*"),
            None => scope.to_owned(),
        };
        subjects_matching(&self.stream, filter).await
    }

    /// Waits until every stream of the scope `scope` has settled what arrived before `seq`
    /// (poking those that have not, so their holder, this replica, gets to them), while
    /// `holder` holds.
    pub(super) async fn clear_scope(
        &self,
        scope: &str,
        seq: u64,
        holder: &mut Holder<'_>,
    ) -> Result<(), Stopped> {
        loop {
            let streams = self
                .scope_streams(scope)
                .await
                .map_err(Stopped::Unavailable)?;
            let mut waiting = false;
            for stream in streams.iter().filter(|s| s.as_str() != scope) {
                if let Some((first, _)) = self.first_unsettled(stream, holder).await?
                    && first < seq
                {
                    waiting = true;
                    self.poke(stream);
                }
            }
            if !waiting {
                return Ok(());
            }
            self.keep(holder).await?;
            tokio::time::sleep(SCOPE_POLL).await;
        }
    }

    /// Has `subject` drained (by the dispatcher that set [`Deliverer::poke_with`]).
    pub(super) fn poke(&self, subject: &str) {
        if let Some(poke) = self.poker.get() {
            poke(subject);
        }
    }

    /// How this deliverer has a stream drained: the dispatcher's poke.
    pub fn poke_with(&self, poke: super::Poke) {
        let _ = self.poker.set(poke);
    }
}
