//! The seam between XMPP sessions and the Rayo adapter.
//!
//! Sessions hand every stanza they route (IQs the stream does not answer
//! itself, presence to other JIDs) and every availability change to the
//! hub's bounded, ordered event channel, as [`HubEvent`]s. The adapter
//! (or, until it exists, [`refuse_all`]) reads them and answers through
//! [`RayoHub::send`], which never waits: each session has a bounded
//! outbound queue, and a session whose queue is full is a slow reader and
//! is disconnected, so no call ever waits on a client.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{mpsc, Notify};
use xmpp::{iq_error, Element, ErrorType, FullJid, StanzaCondition, StreamError};

use super::presence::Availability;
use crate::config::RayoConfig;
use crate::http::metrics::queues::QueueLoad;

/// Events queued from sessions to the adapter; past it sessions stop
/// reading their sockets until the adapter catches up.
pub const EVENT_QUEUE: usize = 4096;
/// Items queued toward one client's socket; past it the client is a slow
/// reader and is disconnected.
pub const OUTBOUND_QUEUE: usize = 512;

/// What sessions tell the adapter, in the order it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HubEvent {
    /// A stanza for the adapter, `from` stamped to the session's full JID.
    /// Every IQ `get`/`set` here must be answered exactly once.
    Stanza {
        /// The session that sent it.
        from: FullJid,
        /// The stanza.
        stanza: Element,
    },
    /// `jid` became available for offers (true) or stopped being (false:
    /// `dnd`, `unavailable`, stream closed or replaced); outstanding
    /// offers to it fail over.
    Availability {
        /// The session.
        jid: FullJid,
        /// Whether it may now be offered calls.
        available: bool,
    },
    /// `jid`'s stream ended (after its `Availability` false, if it was
    /// available) and no newer session holds the JID: the adapter hangs up
    /// its calls after a grace period.
    Closed {
        /// The session that ended.
        jid: FullJid,
    },
}

/// Why [`RayoHub::send`] did not queue a stanza.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Undeliverable {
    /// No session holds that full JID (any more).
    #[error("no session bound to that JID")]
    NotBound,
    /// The client's queue was full: it is being disconnected.
    #[error("the client reads too slowly and is disconnected")]
    SlowReader,
}

/// What a session's writer carries, in order.
#[derive(Debug)]
pub(crate) enum Outbound {
    /// Bytes the stream machine produced.
    Bytes(String),
    /// A stanza from the adapter.
    Stanza(Element),
    /// Flush, shut the socket down and stop.
    Close,
}

// Requests to a session from outside its task (0: none).
/// Another session bound the same full JID: end with `conflict`.
pub(crate) const CONTROL_CONFLICT: u8 = 1;
/// The client does not read: drop the connection at once.
pub(crate) const CONTROL_KILL: u8 = 2;

/// How the hub reaches into one session's task.
#[derive(Debug, Default)]
pub(crate) struct SessionControl {
    request: AtomicU8,
    pub(crate) wake: Notify,
}

impl SessionControl {
    /// Asks the session to end; a kill overrides a conflict.
    pub(crate) fn request(&self, what: u8) {
        self.request.fetch_max(what, Ordering::AcqRel);
        self.wake.notify_one();
    }

    /// What was asked, if anything.
    pub(crate) fn requested(&self) -> u8 {
        self.request.load(Ordering::Acquire)
    }
}

/// One bound session as the hub sees it.
#[derive(Debug, Clone)]
pub(crate) struct SessionHandle {
    /// Tells this session from a later one bound to the same JID.
    pub(crate) id: u64,
    pub(crate) queue: mpsc::Sender<Outbound>,
    pub(crate) control: Arc<SessionControl>,
}

#[derive(Debug, Default)]
struct Sessions {
    handles: HashMap<FullJid, SessionHandle>,
    availability: Availability,
}

/// The Rayo users and their passwords, as the XMPP server checks them at
/// login; a reload replaces them for logins from then on.
#[derive(Clone, Default)]
pub struct RayoUsers(Arc<std::sync::RwLock<HashMap<String, String>>>);

impl RayoUsers {
    fn of(config: &RayoConfig) -> HashMap<String, String> {
        config
            .users
            .iter()
            .map(|u| (u.username.clone(), u.password.clone()))
            .collect()
    }
}

impl std::fmt::Debug for RayoUsers {
    /// Names the count only: passwords stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let count = self.0.read().map_or(0, |users| users.len());
        write!(f, "RayoUsers({count})")
    }
}

impl xmpp::Credentials for RayoUsers {
    fn password(&self, username: &str) -> Option<String> {
        // Replaced whole, never left half-written: a poisoned map is usable.
        self.0
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(username)
            .cloned()
    }
}

#[derive(Debug)]
struct HubInner {
    users: RayoUsers,
    domain: String,
    plain_presence_available: bool,
    sessions: Mutex<Sessions>,
    events: mpsc::Sender<HubEvent>,
}

/// Bound Rayo sessions: where stanzas go to clients and where the adapter
/// learns who is available. Cheap to clone.
#[derive(Debug, Clone)]
pub struct RayoHub {
    inner: Arc<HubInner>,
}

impl RayoHub {
    /// A hub for `config`, and the event channel the adapter reads.
    pub fn new(config: &RayoConfig) -> (RayoHub, mpsc::Receiver<HubEvent>) {
        let (events, receiver) = mpsc::channel(EVENT_QUEUE);
        let hub = RayoHub {
            inner: Arc::new(HubInner {
                users: RayoUsers(Arc::new(std::sync::RwLock::new(RayoUsers::of(config)))),
                domain: config.domain.clone(),
                plain_presence_available: config.plain_presence_available,
                sessions: Mutex::new(Sessions::default()),
                events,
            }),
        };
        (hub, receiver)
    }

    /// The users who may log in, as the XMPP server asks for them.
    pub fn users(&self) -> RayoUsers {
        self.inner.users.clone()
    }

    /// Takes a reloaded `rayo.users`: logins from now on check them;
    /// sessions already bound stay.
    pub fn set_users(&self, config: &RayoConfig) {
        *self
            .inner
            .users
            .0
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = RayoUsers::of(config);
    }

    /// The XMPP domain served.
    pub fn domain(&self) -> &str {
        &self.inner.domain
    }

    /// Whether a plain `<presence/>` makes a session available.
    pub fn plain_presence_available(&self) -> bool {
        self.inner.plain_presence_available
    }

    /// Queues `stanza` to the session bound to `to`, without waiting. A
    /// full queue disconnects that client ([`Undeliverable::SlowReader`]).
    pub fn send(&self, to: &FullJid, stanza: Element) -> Result<(), Undeliverable> {
        let handle = self
            .sessions()
            .handles
            .get(to)
            .cloned()
            .ok_or(Undeliverable::NotBound)?;
        match handle.queue.try_send(Outbound::Stanza(stanza)) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => {
                handle.control.request(CONTROL_KILL);
                Err(Undeliverable::SlowReader)
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(Undeliverable::NotBound),
        }
    }

    /// Available sessions, longest available first; with `users`, only
    /// those logged in as one of them.
    pub fn available(&self, users: Option<&[String]>) -> Vec<FullJid> {
        self.sessions().availability.available(users)
    }

    /// Whether `jid` is bound and available for offers.
    pub fn is_available(&self, jid: &FullJid) -> bool {
        self.sessions().availability.is_available(jid)
    }

    /// Number of bound sessions.
    pub fn bound(&self) -> usize {
        self.sessions().handles.len()
    }

    /// For metrics: the queue of clients' stanzas to the Rayo service, and
    /// the bound sessions' outbound queues (summed, with the fullest).
    pub fn queue_loads(&self) -> (QueueLoad, QueueLoad) {
        let mut events = QueueLoad::default();
        events.add(&self.inner.events);
        let mut streams = QueueLoad::default();
        for handle in self.sessions().handles.values() {
            streams.add(&handle.queue);
        }
        (events, streams)
    }

    fn sessions(&self) -> MutexGuard<'_, Sessions> {
        // Nothing panics while holding the lock; a poisoned one is still consistent.
        self.inner
            .sessions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Registers a newly bound session; a session already bound to `jid`
    /// is told to end with `conflict` (and stops being available).
    pub(crate) async fn bind(&self, jid: &FullJid, handle: SessionHandle) {
        let (replaced, was_available) = {
            let mut sessions = self.sessions();
            let replaced = sessions.handles.insert(jid.clone(), handle);
            (replaced, sessions.availability.bind(jid))
        };
        if let Some(old) = replaced {
            tracing::info!(%jid, "a new session took this JID: the old one ends with conflict");
            old.control.request(CONTROL_CONFLICT);
        }
        if was_available {
            self.event(HubEvent::Availability {
                jid: jid.clone(),
                available: false,
            })
            .await;
        }
    }

    /// Forgets session `id` (only if `jid` still names it, not a newer one).
    pub(crate) async fn unbind(&self, jid: &FullJid, id: u64) {
        let was_available = {
            let mut sessions = self.sessions();
            if sessions.handles.get(jid).is_none_or(|h| h.id != id) {
                return;
            }
            sessions.handles.remove(jid);
            crate::transport::shrink_after_storm(&mut sessions.handles);
            sessions.availability.unbind(jid)
        };
        if was_available {
            self.event(HubEvent::Availability {
                jid: jid.clone(),
                available: false,
            })
            .await;
        }
        self.event(HubEvent::Closed { jid: jid.clone() }).await;
    }

    /// Session `id` announced its availability.
    pub(crate) async fn set_available(&self, jid: &FullJid, id: u64, available: bool) {
        let changed = {
            let mut sessions = self.sessions();
            sessions.handles.get(jid).is_some_and(|h| h.id == id)
                && sessions.availability.set(jid, available)
        };
        if changed {
            tracing::debug!(%jid, available, "Rayo client availability");
            self.event(HubEvent::Availability {
                jid: jid.clone(),
                available,
            })
            .await;
        }
    }

    /// Hands a routed stanza to the adapter (waits while its queue is full).
    pub(crate) async fn route(&self, from: &FullJid, stanza: Element) {
        self.event(HubEvent::Stanza {
            from: from.clone(),
            stanza,
        })
        .await;
    }

    /// Queues an event for the adapter, in order.
    async fn event(&self, event: HubEvent) {
        // Only fails once the adapter has stopped: nobody is listening then.
        let _ = self.inner.events.send(event).await;
    }
}

/// The stand-in adapter until call control over Rayo exists: every IQ
/// `get`/`set` that reaches the hub is answered `service-unavailable`
/// (cancel), so no IQ is left unanswered; everything else is dropped.
pub async fn refuse_all(hub: RayoHub, mut events: mpsc::Receiver<HubEvent>) {
    while let Some(event) = events.recv().await {
        let HubEvent::Stanza { from, stanza } = event else {
            continue;
        };
        if stanza.name() == "iq" && matches!(stanza.get_attr("type"), Some("get" | "set")) {
            let reply = iq_error(
                &stanza,
                StanzaCondition::ServiceUnavailable,
                ErrorType::Cancel,
                None,
            );
            if let Err(error) = hub.send(&from, reply) {
                tracing::debug!(%from, %error, "IQ error not delivered");
            }
        }
    }
}

/// The stream error a session ends with for a control request.
pub(crate) fn control_error(request: u8) -> Option<StreamError> {
    match request {
        CONTROL_CONFLICT => Some(StreamError::Conflict),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> RayoConfig {
        crate::config::Config::from_yaml("rayo: { domain: rayo.test }\n", "t.yaml")
            .expect("config")
            .rayo
            .expect("rayo")
    }

    #[tokio::test]
    async fn reloaded_users_hold_for_the_next_login() {
        use xmpp::Credentials;
        let first = crate::config::Config::from_yaml(
            "rayo: { domain: rayo.test, users: [ { username: usera, password: \"1\" } ] }\n",
            "t.yaml",
        )
        .expect("config");
        let (hub, _events) = RayoHub::new(first.rayo.as_ref().expect("rayo"));
        let users = hub.users();
        assert_eq!(users.password("usera").as_deref(), Some("1"));
        let second = crate::config::Config::from_yaml(
            "rayo: { domain: rayo.test, users: [ { username: userb, password: \"2\" } ] }\n",
            "t.yaml",
        )
        .expect("config");
        hub.set_users(second.rayo.as_ref().expect("rayo"));
        assert_eq!(users.password("usera"), None);
        assert_eq!(users.password("userb").as_deref(), Some("2"));
        assert_eq!(format!("{users:?}"), "RayoUsers(1)", "no password shown");
    }

    fn handle(id: u64, capacity: usize) -> (SessionHandle, mpsc::Receiver<Outbound>) {
        let (queue, rx) = mpsc::channel(capacity);
        let handle = SessionHandle {
            id,
            queue,
            control: Arc::new(SessionControl::default()),
        };
        (handle, rx)
    }

    #[tokio::test]
    async fn a_second_bind_replaces_the_first_with_conflict() {
        let (hub, mut events) = RayoHub::new(&config());
        let jid = FullJid::parse("usera@rayo.test/r").expect("jid");
        let (first, _rx1) = handle(1, 4);
        let (second, mut rx2) = handle(2, 4);
        hub.bind(&jid, first.clone()).await;
        hub.set_available(&jid, 1, true).await;
        hub.bind(&jid, second).await;
        assert_eq!(first.control.requested(), CONTROL_CONFLICT);
        assert!(!hub.is_available(&jid));
        // The old session's end does not unbind the new one.
        hub.unbind(&jid, 1).await;
        assert_eq!(hub.bound(), 1);
        hub.send(&jid, Element::new("message", "jabber:client"))
            .expect("queued to the new session");
        assert!(matches!(rx2.try_recv(), Ok(Outbound::Stanza(_))));
        let mut seen = Vec::new();
        while let Ok(event) = events.try_recv() {
            seen.push(event);
        }
        assert_eq!(
            seen,
            vec![
                HubEvent::Availability {
                    jid: jid.clone(),
                    available: true
                },
                HubEvent::Availability {
                    jid,
                    available: false
                },
            ]
        );
    }

    #[tokio::test]
    async fn a_full_queue_kills_the_session_without_waiting() {
        let (hub, _events) = RayoHub::new(&config());
        let jid = FullJid::parse("usera@rayo.test/r").expect("jid");
        let (session, _rx) = handle(1, 1);
        hub.bind(&jid, session.clone()).await;
        let stanza = Element::new("message", "jabber:client");
        assert_eq!(hub.send(&jid, stanza.clone()), Ok(()));
        assert_eq!(
            hub.send(&jid, stanza.clone()),
            Err(Undeliverable::SlowReader)
        );
        assert_eq!(session.control.requested(), CONTROL_KILL);
        let other = FullJid::parse("usera@rayo.test/other").expect("jid");
        assert_eq!(hub.send(&other, stanza), Err(Undeliverable::NotBound));
    }
}
