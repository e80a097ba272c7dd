//! `subscriptions/listen` (2026-07-28): the one way a stateless client hears of changes.
//!
//! In 2026-07-28 a server sends no notification it was not asked for. [`Client::listen`]
//! opens a long-lived `subscriptions/listen` request naming what the client wants (list
//! changes, updates of some resources); the server acknowledges the part it will honour, then
//! sends those notifications on the request's stream until either side ends it. They arrive
//! at the [`on_notification`](crate::ClientBuilder::on_notification) callback like any other.
//!
//! [`Client::listen`]: crate::Client::listen

use rune_proto::Id;
use rune_proto::model::ListenFilter;
use tokio::task::JoinHandle;

use crate::error::Error;

/// An open `subscriptions/listen` stream. Dropping it (or [`close`](Self::close)) ends the
/// subscription: `notifications/cancelled` on a stream transport, the response closed on HTTP.
#[derive(Debug)]
pub struct Subscription {
    pub(crate) id: Id,
    pub(crate) acknowledged: ListenFilter,
    pub(crate) task: Option<JoinHandle<Result<(), Error>>>,
}

impl Subscription {
    /// The id of the `subscriptions/listen` request, which the server puts in every
    /// notification of this stream (`_meta["io.modelcontextprotocol/subscriptionId"]`).
    pub fn id(&self) -> &Id {
        &self.id
    }

    /// What the server agreed to send: the part of the filter it honours.
    pub fn acknowledged(&self) -> &ListenFilter {
        &self.acknowledged
    }

    /// Waits until the subscription ends: `Ok` when the server ended it (its result, or its
    /// `notifications/cancelled`), `Err` when the connection closed or the server answered
    /// with an error. Returns at once once it has ended.
    pub async fn ended(&mut self) -> Result<(), Error> {
        let Some(task) = self.task.as_mut() else {
            return Ok(());
        };
        let out = match task.await {
            Ok(r) => r,
            Err(e) => Err(Error::protocol(format!(
                "the subscription's task failed: {e}"
            ))),
        };
        self.task = None;
        out
    }

    /// Ends the subscription.
    pub fn close(self) {}
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
