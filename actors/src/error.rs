//! What goes wrong inside a running campaign's actors, as one typed error.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use lineage_events::StoreError;

/// Why an actor could not do its work. Every variant stops the campaign: nothing may act on a
/// decision that is not recorded, so the process ends and what was committed stays.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ActorError {
    /// The log could not be read or written (the store failed, or its contents are damaged).
    /// Tell the user; once the store is reachable again, `lineage resume` continues from what
    /// was committed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A message could not reach its actor: the actor system is shutting down. Tell the user
    /// when it is the first failure (resume continues); during a shutdown, log it.
    #[error(transparent)]
    Mailbox(#[from] actix::MailboxError),
    /// An actor panicked while deciding (a bug). Tell the user; what it had not recorded is
    /// decided again after `lineage resume`.
    #[error("the {actor} failed: {message}")]
    Panicked {
        /// Which actor (`researcher`, `analyst`, ...).
        actor: String,
        /// The panic's message, if it had one.
        message: String,
    },
}

impl ActorError {
    /// The answer to a `Record` sent to the recorder: delivered and committed, or why not.
    pub fn recorded<T>(answer: Result<Result<T, ActorError>, actix::MailboxError>) -> Result<T, ActorError> {
        answer.map_err(ActorError::from).and_then(|committed| committed)
    }
}

/// The first fatal error of a campaign, kept for whoever waits for the campaign to end; later
/// ones are consequences of the first (the system is already stopping) and are dropped. So is a
/// message that finds the system gone after the campaign stopped on purpose (paused or
/// finished): work that was in flight then, whose decision resume makes again.
#[derive(Clone, Debug, Default)]
pub struct FirstFailure {
    first: Arc<Mutex<Option<ActorError>>>,
    closing: Arc<AtomicBool>,
}

impl FirstFailure {
    /// Keeps `error` if it is the first; says whether it was.
    pub fn set(&self, error: ActorError) -> bool {
        if matches!(error, ActorError::Mailbox(_)) && self.closing.load(Ordering::SeqCst) {
            tracing::debug!("after the campaign stopped: {error}");
            return false;
        }
        let mut slot = self.first.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if slot.is_some() {
            return false;
        }
        *slot = Some(error);
        true
    }

    /// Takes the first error out, if there was one.
    pub fn take(&self) -> Option<ActorError> {
        self.first.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take()
    }

    /// The campaign is being stopped on purpose (a pause or the finish is recorded): from now on
    /// a message that cannot reach its actor is no failure.
    pub fn closing(&self) {
        self.closing.store(true, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_failure_is_kept_and_printed_as_before() {
        let failure = FirstFailure::default();
        assert!(failure.set(ActorError::Panicked { actor: "analyst".into(), message: "boom".into() }));
        assert!(!failure.set(ActorError::Mailbox(actix::MailboxError::Closed)), "only the first counts");
        let first = failure.take().expect("kept");
        assert_eq!(first.to_string(), "the analyst failed: boom");
        assert!(failure.take().is_none());
    }

    #[test]
    fn after_a_deliberate_stop_a_closed_mailbox_is_no_failure() {
        let failure = FirstFailure::default();
        failure.closing();
        assert!(!failure.set(ActorError::Mailbox(actix::MailboxError::Closed)), "work in flight at a pause");
        assert!(failure.take().is_none());
        assert!(failure.set(ActorError::Panicked { actor: "analyst".into(), message: "boom".into() }));
    }

    #[test]
    fn a_record_answer_flattens_to_the_first_error() {
        assert!(ActorError::recorded(Ok(Ok(()))).is_ok());
        let closed = ActorError::recorded::<()>(Err(actix::MailboxError::Closed));
        assert!(matches!(closed, Err(ActorError::Mailbox(actix::MailboxError::Closed))));
        let store = ActorError::recorded::<()>(Ok(Err(ActorError::Panicked {
            actor: "x".into(),
            message: String::new(),
        })));
        assert!(matches!(store, Err(ActorError::Panicked { .. })));
    }
}
