//! The controller pool of a Rayo endpoint (`match: { type: rayo }`): its
//! candidates are the Rayo clients available for offers, and an invitation
//! goes to the adapter's queue tagged with the client's full JID.
//!
//! The offer driver names controllers by [`ControllerId`]; [`ClientIds`]
//! numbers full JIDs for it. A number is never reused: a client that goes
//! away and comes back under the same JID gets a new one, so an invitation
//! meant for its old session cannot reach the new one.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::mpsc;
use xmpp::FullJid;

use crate::control::{
    ControllerId, ControllerPool, Invitation, OfferPolicy, OfferTerms, DEFAULT_ANSWER_TIMEOUT,
};

/// Invitations that may wait for the adapter's loop.
pub const INVITATION_QUEUE: usize = 1024;

/// Numbers for the full JIDs of available clients; shared by the pools and
/// the adapter, which forgets a client when it is no longer available.
#[derive(Debug, Clone, Default)]
pub struct ClientIds {
    inner: Arc<Mutex<ClientIdsInner>>,
}

#[derive(Debug, Default)]
struct ClientIdsInner {
    by_jid: HashMap<FullJid, ControllerId>,
    by_id: HashMap<ControllerId, FullJid>,
    next: u64,
}

impl ClientIds {
    fn lock(&self) -> MutexGuard<'_, ClientIdsInner> {
        // Every update leaves the maps consistent; a poisoned lock is usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The number of `jid`, given one if it has none.
    pub fn id(&self, jid: &FullJid) -> ControllerId {
        let mut inner = self.lock();
        if let Some(id) = inner.by_jid.get(jid) {
            return *id;
        }
        inner.next += 1;
        let id = ControllerId(inner.next);
        inner.by_jid.insert(jid.clone(), id);
        inner.by_id.insert(id, jid.clone());
        id
    }

    /// The client numbered `id`, while it is known.
    pub fn jid(&self, id: ControllerId) -> Option<FullJid> {
        self.lock().by_id.get(&id).cloned()
    }

    /// Forgets `jid` (it is no longer available); a later invitation to
    /// its old number finds nobody.
    pub fn forget(&self, jid: &FullJid) {
        let mut inner = self.lock();
        if let Some(id) = inner.by_jid.remove(jid) {
            inner.by_id.remove(&id);
        }
    }
}

/// Who is available for offers right now (the hub's presence registry),
/// longest available first; with `users`, only those usernames.
pub type Availability = Arc<dyn Fn(Option<&[String]>) -> Vec<FullJid> + Send + Sync>;

/// The pool of one Rayo endpoint.
#[derive(Clone)]
pub struct RayoPool {
    /// The endpoint's name, for logs.
    endpoint: String,
    /// Usernames allowed to take its calls; everyone when `None`.
    users: Option<Vec<String>>,
    terms: OfferTerms,
    available: Availability,
    ids: ClientIds,
    invitations: mpsc::Sender<(FullJid, Invitation)>,
}

impl fmt::Debug for RayoPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RayoPool")
            .field("endpoint", &self.endpoint)
            .field("users", &self.users)
            .field("terms", &self.terms)
            .finish_non_exhaustive()
    }
}

impl RayoPool {
    /// A pool for `endpoint` offering by `policy` (`rayo.offer_policy`)
    /// with `offer_timeout` per client for `first` and `random`.
    pub fn new(
        endpoint: &str,
        users: Option<Vec<String>>,
        policy: OfferPolicy,
        offer_timeout: Duration,
        available: Availability,
        ids: ClientIds,
        invitations: mpsc::Sender<(FullJid, Invitation)>,
    ) -> RayoPool {
        // `all` waits for the first command however long it takes (the
        // answer timeout still bounds a taken call); the staged policies
        // move on after the offer timeout.
        let offer_timeout = match policy {
            OfferPolicy::All => None,
            _ => Some(offer_timeout).filter(|t| !t.is_zero()),
        };
        RayoPool {
            endpoint: endpoint.to_owned(),
            users,
            terms: OfferTerms {
                policy,
                offer_timeout,
                answer_timeout: DEFAULT_ANSWER_TIMEOUT,
            },
            available,
            ids,
            invitations,
        }
    }
}

impl ControllerPool for RayoPool {
    fn terms(&self) -> OfferTerms {
        self.terms.clone()
    }

    fn candidates(&self) -> Vec<ControllerId> {
        (self.available)(self.users.as_deref())
            .iter()
            .map(|jid| self.ids.id(jid))
            .collect()
    }

    fn invite(&self, controller: ControllerId, invitation: Invitation) -> Result<(), Invitation> {
        let Some(jid) = self.ids.jid(controller) else {
            return Err(invitation);
        };
        self.invitations
            .try_send((jid, invitation))
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full((_, i))
                | mpsc::error::TrySendError::Closed((_, i)) => {
                    tracing::debug!(endpoint = %self.endpoint, "Rayo adapter busy; offer moves on");
                    i
                }
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jid(s: &str) -> FullJid {
        FullJid::parse(s).expect("test JID")
    }

    #[test]
    fn ids_are_stable_and_never_reused() {
        let ids = ClientIds::default();
        let a = jid("usera@rayo.test/1");
        let first = ids.id(&a);
        assert_eq!(ids.id(&a), first);
        assert_eq!(ids.jid(first), Some(a.clone()));
        ids.forget(&a);
        assert_eq!(ids.jid(first), None);
        assert_ne!(ids.id(&a), first);
    }

    #[test]
    fn candidates_follow_availability_and_users() {
        let (tx, _rx) = mpsc::channel(4);
        let available: Availability = Arc::new(|users: Option<&[String]>| {
            let all = [jid("usera@rayo.test/1"), jid("userb@rayo.test/1")];
            all.into_iter()
                .filter(|j| users.is_none_or(|u| u.iter().any(|u| Some(u.as_str()) == j.node())))
                .collect()
        });
        let ids = ClientIds::default();
        let pool = RayoPool::new(
            "app",
            Some(vec!["userb".into()]),
            OfferPolicy::First,
            Duration::from_millis(5000),
            available,
            ids.clone(),
            tx,
        );
        let candidates = pool.candidates();
        assert_eq!(candidates.len(), 1);
        assert_eq!(ids.jid(candidates[0]), Some(jid("userb@rayo.test/1")));
        assert_eq!(pool.terms().offer_timeout, Some(Duration::from_secs(5)));
    }
}
