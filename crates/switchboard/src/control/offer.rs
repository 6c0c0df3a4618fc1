//! The offer of a new call to a pool's controllers: who is asked in which
//! order, how long each may think, and the single decision "taken" or
//! "declined".
//!
//! The rules, the same for every protocol:
//!
//! - **Sequential policies** (`RoundRobin`, `First`, `Random`) invite one
//!   controller at a time, each at most once. A controller that is
//!   unavailable (answers "busy", cannot be reached, goes away, or lets the
//!   offer timeout pass) hands the call to the next; a take or a final
//!   refusal ends the search.
//! - **`All`** invites every available controller at once; the first take
//!   (or final refusal) wins and every other invitation is withdrawn. The
//!   offer timeout, if any, bounds the whole offer.
//! - With nobody available the caller gets the endpoint's "no controller"
//!   code (480 by default); when every invited controller passed, the last
//!   busy answer's code, or that same code when they timed out or went away.
//! - **Late acceptance**: an invitation is decided under one lock shared by
//!   the whole offer, so a controller that takes a call after the driver
//!   moved on (timeout, another controller won, caller gone) learns it from
//!   [`Invitation::take`]'s [`Withdrawn`] and cleans up (an agent gets `bye`),
//!   never half-owns the call. [`Invitation::withdrawn`] tells a waiting one.

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use call_control::CallInfo;
use tokio::sync::{mpsc, Notify};
use tokio::time::Instant;

use super::pool::ControllerPool;
use super::{CallHandle, EventSink};

/// One controller of a pool (an agent connection, a Rayo client session),
/// numbered by the pool; unique within it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ControllerId(pub u64);

/// In which order a pool's controllers are asked to take a new call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OfferPolicy {
    /// One at a time, starting after the one asked last (agents).
    #[default]
    RoundRobin,
    /// Everyone available at once; the first to take it wins.
    All,
    /// One at a time, always from the first available.
    First,
    /// One at a time, in random order.
    Random,
}

/// How one pool's offers run; the pool says, the driver applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferTerms {
    /// Who is asked, in which order.
    pub policy: OfferPolicy,
    /// How long one controller may think (the whole offer with `All`);
    /// `None` waits until it answers or goes away.
    pub offer_timeout: Option<Duration>,
    /// How long a taken call may stay unanswered before the caller is
    /// released; carried to the call in its [`EventSink`].
    pub answer_timeout: Duration,
}

/// A new call looking for a controller.
#[derive(Debug, Clone)]
pub struct Offer {
    /// The controller endpoint the route chose.
    pub endpoint: String,
    /// What the controller is told about the call.
    pub info: CallInfo,
    /// How the controller reaches the call once it takes it.
    pub call: CallHandle,
}

/// How an offer ended.
#[derive(Debug)]
pub enum Offered {
    /// A controller took the call and hears from it through this sink,
    /// which carries the pool's answer timeout.
    Taken(EventSink),
    /// Nobody took it: the caller gets `code` (a controller's own refusal,
    /// or the "no controller" code when nobody was there or answered).
    Declined {
        /// SIP status for the caller.
        code: u16,
        /// Reason phrase; the standard one when `None`.
        reason: Option<String>,
    },
}

/// The offer no longer stands for this controller: it timed out, another
/// controller took the call, or the caller went away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the call is no longer offered to this controller")]
pub struct Withdrawn;

/// A call offered to one controller. Answer it with [`take`](Self::take),
/// [`pass`](Self::pass) or [`decline`](Self::decline); dropping it
/// unanswered counts as the controller going away (the offer moves on).
pub struct Invitation {
    /// The controller invited.
    pub controller: ControllerId,
    /// What the controller is told about the call (shared by every
    /// invitation of the offer).
    pub info: Arc<CallInfo>,
    /// How the controller reaches the call once it takes it.
    pub call: CallHandle,
    desk: Arc<Desk>,
}

impl fmt::Debug for Invitation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Invitation")
            .field("controller", &self.controller)
            .field("call", &self.call.key)
            .finish_non_exhaustive()
    }
}

impl Invitation {
    /// The controller takes the call and hears from it through `sink`;
    /// `Ok` lists every controller the offer reached, this one included
    /// (with `All`, the losers, who must be told the call is gone). On
    /// [`Withdrawn`] the offer moved on first: the controller must let go
    /// of the call (an agent gets `bye`, a Rayo client `<end>`).
    pub fn take(self, sink: EventSink) -> Result<Vec<ControllerId>, Withdrawn> {
        self.answer(Reply::Taken(sink))
    }

    /// The controller cannot take it now (busy): the offer moves on, and
    /// if nobody takes it the caller may hear `code`.
    pub fn pass(self, code: u16, reason: Option<String>) {
        let _ = self.answer(Reply::Unavailable { code, reason });
    }

    /// The controller refuses the call for good: the caller hears `code`.
    pub fn decline(self, code: u16, reason: Option<String>) {
        let _ = self.answer(Reply::Declined { code, reason });
    }

    /// Whether the offer no longer stands for this controller.
    pub fn is_withdrawn(&self) -> bool {
        self.desk.is_withdrawn(self.controller)
    }

    /// Resolves once the offer no longer stands for this controller (at
    /// once if it already does), so a controller can be told it lost.
    pub async fn withdrawn(&self) {
        loop {
            let changed = self.desk.changed.notified();
            if self.is_withdrawn() {
                return;
            }
            changed.await;
        }
    }

    fn answer(&self, reply: Reply) -> Result<Vec<ControllerId>, Withdrawn> {
        let mut state = self.desk.state();
        if !state.open || !state.outstanding.remove(&self.controller) {
            return Err(Withdrawn);
        }
        if matches!(reply, Reply::Taken(_) | Reply::Declined { .. }) {
            state.open = false;
        }
        // The driver holds the receiver until it closes the desk, which
        // happens under this lock: the send cannot fail while `open`.
        let _ = state.answers.send((self.controller, reply));
        let closed = !state.open;
        let reached = if closed {
            state.reached.clone()
        } else {
            Vec::new()
        };
        drop(state);
        if closed {
            self.desk.changed.notify_waiters();
        }
        Ok(reached)
    }
}

impl Drop for Invitation {
    fn drop(&mut self) {
        // Unanswered: the controller went away. A no-op once answered or
        // withdrawn, since the controller is then no longer outstanding.
        let _ = self.answer(Reply::Gone);
    }
}

/// What one controller said.
#[derive(Debug)]
enum Reply {
    Taken(EventSink),
    Unavailable { code: u16, reason: Option<String> },
    Declined { code: u16, reason: Option<String> },
    Gone,
}

/// One offer's shared state: every decision about it is made under `state`.
#[derive(Debug)]
struct Desk {
    state: Mutex<DeskState>,
    /// Woken when controllers are withdrawn or the offer closes.
    changed: Notify,
}

#[derive(Debug)]
struct DeskState {
    /// Nobody took or refused the call yet, and the driver still waits.
    open: bool,
    /// Controllers invited and not yet answered or withdrawn.
    outstanding: HashSet<ControllerId>,
    /// Every controller invited, in order.
    reached: Vec<ControllerId>,
    answers: mpsc::UnboundedSender<(ControllerId, Reply)>,
}

impl Desk {
    fn state(&self) -> MutexGuard<'_, DeskState> {
        // Every update leaves the state consistent; a poisoned one is usable.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn is_withdrawn(&self, controller: ControllerId) -> bool {
        let state = self.state();
        !state.open || !state.outstanding.contains(&controller)
    }

    /// Stops waiting for `controllers`; answers they already gave stay in
    /// the channel.
    fn withdraw(&self, controllers: &[ControllerId]) {
        let mut state = self.state();
        for controller in controllers {
            state.outstanding.remove(controller);
        }
        drop(state);
        self.changed.notify_waiters();
    }

    fn close(&self) {
        let mut state = self.state();
        state.open = false;
        state.outstanding.clear();
        drop(state);
        self.changed.notify_waiters();
    }
}

/// Closes the offer when the driver ends, however it ends (the call's task
/// drops the driver when the caller goes away).
struct Closing(Arc<Desk>);

impl Drop for Closing {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// One running offer, as the driver sees it.
struct Driver<'a> {
    pool: &'a dyn ControllerPool,
    terms: OfferTerms,
    offer: &'a Offer,
    info: Arc<CallInfo>,
    desk: Arc<Desk>,
    answers: mpsc::UnboundedReceiver<(ControllerId, Reply)>,
    reached: Vec<ControllerId>,
    /// What the caller hears if nobody takes the call.
    last: (u16, Option<String>),
    no_controller: u16,
}

/// How a reply moves the offer.
enum Step {
    Done(Offered),
    Next,
}

/// Offers `offer` to `pool`'s controllers by its terms; resolves when one
/// takes it or none will. Dropping the future withdraws the offer.
pub async fn run(pool: &dyn ControllerPool, offer: &Offer, no_controller: u16) -> Offered {
    let (answers_tx, answers) = mpsc::unbounded_channel();
    let desk = Arc::new(Desk {
        state: Mutex::new(DeskState {
            open: true,
            outstanding: HashSet::new(),
            reached: Vec::new(),
            answers: answers_tx,
        }),
        changed: Notify::new(),
    });
    let _closing = Closing(desk.clone());
    let mut driver = Driver {
        pool,
        terms: pool.terms(),
        offer,
        info: Arc::new(offer.info.clone()),
        desk,
        answers,
        reached: Vec::new(),
        last: (no_controller, None),
        no_controller,
    };
    let offered = match driver.terms.policy {
        OfferPolicy::All => driver.all().await,
        _ => driver.sequential().await,
    };
    if driver.reached.is_empty() {
        tracing::debug!(endpoint = %offer.endpoint, "no controller available");
    }
    offered
}

impl Driver<'_> {
    async fn sequential(&mut self) -> Offered {
        let mut rng = fastrand::Rng::new();
        while let Some(controller) = self.next(&mut rng) {
            if !self.invite(controller) {
                continue;
            }
            let deadline = self.terms.offer_timeout.map(|t| Instant::now() + t);
            loop {
                let Some((from, reply)) = self.receive(deadline).await else {
                    tracing::info!(
                        endpoint = %self.offer.endpoint,
                        controller = controller.0,
                        "controller did not answer the offer in time; next"
                    );
                    self.last = (self.no_controller, None);
                    match self.give_up(&[controller]) {
                        Some(done) => return done,
                        None => break,
                    }
                };
                if from != controller {
                    continue; // cannot happen: earlier ones were withdrawn
                }
                match self.on_reply(from, reply) {
                    Step::Done(offered) => return offered,
                    Step::Next => break,
                }
            }
        }
        self.declined()
    }

    async fn all(&mut self) -> Offered {
        let available = self.pool.candidates();
        let mut waiting: Vec<ControllerId> = available
            .into_iter()
            .filter(|&controller| self.invite(controller))
            .collect();
        let deadline = self.terms.offer_timeout.map(|t| Instant::now() + t);
        while !waiting.is_empty() {
            let Some((from, reply)) = self.receive(deadline).await else {
                tracing::info!(endpoint = %self.offer.endpoint, "nobody took the offer in time");
                self.last = (self.no_controller, None);
                return self.give_up(&waiting).unwrap_or_else(|| self.declined());
            };
            waiting.retain(|&c| c != from);
            if let Step::Done(offered) = self.on_reply(from, reply) {
                return offered;
            }
        }
        self.declined()
    }

    /// The next controller to invite by a sequential policy.
    fn next(&self, rng: &mut fastrand::Rng) -> Option<ControllerId> {
        let tried = &self.reached;
        match self.terms.policy {
            OfferPolicy::RoundRobin => self.pool.rotate(tried),
            OfferPolicy::First | OfferPolicy::All => self
                .pool
                .candidates()
                .into_iter()
                .find(|c| !tried.contains(c)),
            OfferPolicy::Random => {
                let open: Vec<_> = self
                    .pool
                    .candidates()
                    .into_iter()
                    .filter(|c| !tried.contains(c))
                    .collect();
                (!open.is_empty()).then(|| open[rng.usize(..open.len())])
            }
        }
    }

    /// Hands `controller` an invitation; `false` when it cannot take one now.
    fn invite(&mut self, controller: ControllerId) -> bool {
        self.reached.push(controller);
        let mut state = self.desk.state();
        state.outstanding.insert(controller);
        state.reached.push(controller);
        drop(state);
        let invitation = Invitation {
            controller,
            info: self.info.clone(),
            call: self.offer.call.clone(),
            desk: self.desk.clone(),
        };
        match self.pool.invite(controller, invitation) {
            Ok(()) => true,
            Err(invitation) => {
                tracing::debug!(
                    endpoint = %self.offer.endpoint,
                    controller = controller.0,
                    "controller busy or closing; next"
                );
                // Withdrawn first, so dropping it reports nothing.
                self.desk.withdraw(&[controller]);
                drop(invitation);
                self.last = (self.no_controller, None);
                false
            }
        }
    }

    /// The next answer, or `None` at the deadline.
    async fn receive(&mut self, deadline: Option<Instant>) -> Option<(ControllerId, Reply)> {
        let answer = match deadline {
            Some(at) => tokio::time::timeout_at(at, self.answers.recv())
                .await
                .ok()?,
            None => self.answers.recv().await,
        };
        // The desk holds a sender while the driver runs; `None` is unreachable.
        Some(answer.unwrap_or((ControllerId(u64::MAX), Reply::Gone)))
    }

    /// Withdraws `controllers` at their deadline; an answer one of them gave
    /// just before still counts.
    fn give_up(&mut self, controllers: &[ControllerId]) -> Option<Offered> {
        self.desk.withdraw(controllers);
        while let Ok((from, reply)) = self.answers.try_recv() {
            if let Step::Done(offered) = self.on_reply(from, reply) {
                return Some(offered);
            }
        }
        None
    }

    fn on_reply(&mut self, from: ControllerId, reply: Reply) -> Step {
        let endpoint = &self.offer.endpoint;
        match reply {
            Reply::Taken(sink) => {
                tracing::info!(%endpoint, controller = from.0, "call taken by a controller");
                self.desk.close();
                Step::Done(Offered::Taken(
                    sink.with_answer_timeout(self.terms.answer_timeout),
                ))
            }
            Reply::Declined { code, reason } => {
                tracing::info!(%endpoint, code, ?reason, "call declined");
                self.desk.close();
                Step::Done(Offered::Declined { code, reason })
            }
            Reply::Unavailable { code, reason } => {
                self.last = (code, reason);
                Step::Next
            }
            Reply::Gone => {
                self.last = (self.no_controller, None);
                Step::Next
            }
        }
    }

    fn declined(&mut self) -> Offered {
        let (code, reason) = std::mem::replace(&mut self.last, (self.no_controller, None));
        tracing::info!(endpoint = %self.offer.endpoint, code, ?reason, "call declined");
        Offered::Declined { code, reason }
    }
}
