//! The Monitor: a subscriber that folds the log like every other actor and hands each event,
//! with the state after it, to a callback — progress bars, a web page, a test.

use actix::prelude::*;
use lineage_events::RecordedEvent;
use lineage_replay::CampaignState;

use crate::messages::Committed;

/// Called with the state after each committed event.
pub type Observer = Box<dyn FnMut(&CampaignState, &RecordedEvent) + Send>;

/// The monitor actor.
pub struct Monitor {
    state: CampaignState,
    observer: Observer,
}

impl Monitor {
    /// A monitor calling `observer`.
    pub fn new(observer: Observer) -> Self {
        Self { state: CampaignState::default(), observer }
    }
}

impl Actor for Monitor {
    type Context = Context<Self>;
}

impl Handler<Committed> for Monitor {
    type Result = ();

    fn handle(&mut self, Committed(event, _): Committed, _: &mut Self::Context) {
        self.state.apply(&event);
        (self.observer)(&self.state, &event);
    }
}
