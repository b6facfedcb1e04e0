//! Recording a test's run (`weir test --record`): each HTTP component answered by the cassette gets a
//! recorder that appends every exchange the client had with the real API, masked, in the order the
//! answers came; the run's exchanges are then written as the cassette.

use std::sync::{Arc, Mutex};

use super::{Exchange, Request, Response};
use crate::kernel::mock::{ExchangeRecorder, MockReply, MockRequest};

/// The exchanges of one test's run, across its components.
#[derive(Debug, Default)]
pub(crate) struct Recording {
    exchanges: Mutex<Vec<Exchange>>,
}

impl Recording {
    /// The recorder of `component`'s requests.
    pub(crate) fn recorder(self: &Arc<Self>, component: &str) -> Arc<dyn ExchangeRecorder> {
        Arc::new(ComponentRecorder { component: component.to_string(), recording: Arc::clone(self) })
    }

    /// Every exchange recorded so far, in order.
    pub(crate) fn exchanges(&self) -> Vec<Exchange> {
        self.exchanges.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Records the exchanges of one component.
#[derive(Debug)]
struct ComponentRecorder {
    component: String,
    recording: Arc<Recording>,
}

impl ExchangeRecorder for ComponentRecorder {
    fn record(&self, request: &MockRequest, reply: &MockReply) {
        let exchange = Exchange {
            component: self.component.clone(),
            request: Request::of(request),
            response: Response::of(reply),
        };
        self.recording.exchanges.lock().unwrap_or_else(|e| e.into_inner()).push(exchange);
    }
}
