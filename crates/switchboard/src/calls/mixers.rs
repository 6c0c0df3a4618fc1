//! Mixers (conference rooms) by name: a mixer exists from the first call
//! that joins it to the last that leaves, as Rayo's implicit mixers do
//! (RAYO.md §2.9). The room's audio lives in the pacer thread
//! ([`crate::media::pacer::RoomId`]); this registry only says which calls
//! are in which room, so two calls joining `conf1` meet in the same one.
//!
//! Each mixer also has an actor ([`super::mixer`]) for the components that
//! run on it; the registry holds its inbox, so the actor ends when the last
//! member leaves and the entry goes. Its events reach whoever subscribed
//! ([`Mixers::subscribe`]: the Rayo service, the only protocol with mixers).
//!
//! The lock is held for a map update and never across an await. Names are
//! JID nodes, compared without case (nodeprep folds case); callers pass
//! them lowercased.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use call_control::{Event, Failure, Request};
use tokio::sync::{mpsc, watch};

use super::mixer::{MixerInput, MIXER_QUEUE};
use crate::media::pacer::RoomId;

/// One event of a mixer's components, for the subscriber.
#[derive(Debug, Clone, PartialEq)]
pub struct MixerNews {
    /// The mixer's name.
    pub mixer: String,
    /// What happened, as a call would report it for its components; the
    /// mixer's `Ended` follows the completions when its last member left.
    pub event: Event,
}

/// The mixers of the server; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Mixers {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug, Default)]
struct Inner {
    rooms: HashMap<String, Room>,
    next_id: u64,
    news: Option<mpsc::Sender<MixerNews>>,
}

#[derive(Debug)]
struct Room {
    id: RoomId,
    members: HashSet<Arc<str>>,
    /// The mixer actor's inbox.
    inbox: mpsc::Sender<MixerInput>,
    /// Whether the mixer's components want the participants' keys.
    digits: watch::Receiver<bool>,
}

/// Where a call entered a mixer.
#[derive(Debug)]
pub struct Entered {
    /// The room in the pacer.
    pub room: RoomId,
    /// Whether the mixer wants the member's keys (an input runs on it).
    pub digits: watch::Receiver<bool>,
    /// Set when the call created the mixer: what its actor needs.
    pub actor: Option<ActorStart>,
}

impl Entered {
    /// Whether the call is the mixer's first member (it was created now).
    pub fn created(&self) -> bool {
        self.actor.is_some()
    }
}

/// A new mixer's actor's ends of the registry's channels.
#[derive(Debug)]
pub struct ActorStart {
    /// Requests and keys.
    pub inbox: mpsc::Receiver<MixerInput>,
    /// Where it says whether it wants keys.
    pub digits: watch::Sender<bool>,
    /// Where its events go, if anyone subscribed.
    pub news: Option<mpsc::Sender<MixerNews>>,
}

impl Mixers {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Puts `call` in the mixer `name`, creating the mixer when it has no
    /// member. A call already in it is a `Conflict`.
    pub fn enter(&self, name: &str, call: &Arc<str>) -> Result<Entered, Failure> {
        let mut inner = self.lock();
        let key = name.to_lowercase();
        if let Some(room) = inner.rooms.get_mut(&key) {
            if !room.members.insert(call.clone()) {
                return Err(Failure::Conflict(format!(
                    "call {call} is in mixer {name} already"
                )));
            }
            return Ok(Entered {
                room: room.id,
                digits: room.digits.clone(),
                actor: None,
            });
        }
        inner.next_id += 1;
        let id = RoomId(inner.next_id);
        let (inbox_tx, inbox) = mpsc::channel(MIXER_QUEUE);
        let (digits_tx, digits) = watch::channel(false);
        inner.rooms.insert(
            key,
            Room {
                id,
                members: HashSet::from([call.clone()]),
                inbox: inbox_tx,
                digits: digits.clone(),
            },
        );
        Ok(Entered {
            room: id,
            digits,
            actor: Some(ActorStart {
                inbox,
                digits: digits_tx,
                news: inner.news.clone(),
            }),
        })
    }

    /// Sends every mixer's component events to `news` from now on.
    pub fn subscribe(&self, news: mpsc::Sender<MixerNews>) {
        self.lock().news = Some(news);
    }

    /// Hands a component request to the mixer `name`. `NotFound` when no
    /// such mixer exists; `Internal` when its queue is full.
    pub fn request(&self, name: &str, request: Request) -> Result<(), Failure> {
        let inner = self.lock();
        let room = inner
            .rooms
            .get(&name.to_lowercase())
            .ok_or_else(|| Failure::NotFound(format!("no mixer {name}")))?;
        room.inbox
            .try_send(MixerInput::Request(request))
            .map_err(|_| Failure::Internal(format!("mixer {name} is busy")))
    }

    /// A key a member of the mixer `name` pressed, for an input on the
    /// mixer; dropped when the mixer is gone or busy.
    pub fn digit(&self, name: &str, digit: char) {
        if let Some(room) = self.lock().rooms.get(&name.to_lowercase()) {
            let _ = room.inbox.try_send(MixerInput::Digit(digit));
        }
    }

    /// Takes `call` out of the mixer `name`; `true` when that left the
    /// mixer empty, so it is gone.
    pub fn leave(&self, name: &str, call: &str) -> bool {
        let mut inner = self.lock();
        let key = name.to_lowercase();
        let Some(room) = inner.rooms.get_mut(&key) else {
            return false;
        };
        room.members.remove(call);
        if room.members.is_empty() {
            inner.rooms.remove(&key);
            return true;
        }
        false
    }

    /// Whether a mixer of this name exists (has members).
    pub fn contains(&self, name: &str) -> bool {
        self.lock().rooms.contains_key(&name.to_lowercase())
    }

    /// The calls in the mixer `name`, in no particular order.
    pub fn members(&self, name: &str) -> Vec<Arc<str>> {
        self.lock()
            .rooms
            .get(&name.to_lowercase())
            .map(|r| r.members.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Mixers that exist now.
    pub fn len(&self) -> usize {
        self.lock().rooms.len()
    }

    /// Whether no mixer exists.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mixer_lives_from_first_join_to_last_leave() {
        let mixers = Mixers::default();
        let (a, b): (Arc<str>, Arc<str>) = ("a".into(), "b".into());
        let first = mixers.enter("Conf1", &a).expect("enter");
        assert!(first.created());
        let second = mixers.enter("conf1", &b).expect("enter");
        assert_eq!(second.room, first.room);
        assert!(!second.created());
        assert!(matches!(
            mixers.enter("conf1", &a),
            Err(Failure::Conflict(_))
        ));
        assert_eq!(mixers.members("CONF1").len(), 2);
        assert!(!mixers.leave("conf1", "a"));
        assert!(mixers.leave("conf1", "b"));
        assert!(!mixers.contains("conf1"));
        assert!(mixers.is_empty());
        // Created again: a new room, so a late command for the old one
        // cannot touch it.
        let again = mixers.enter("conf1", &a).expect("enter");
        assert!(again.created());
        assert_ne!(again.room, first.room);
        assert!(!mixers.leave("nope", "a"));
    }
}
