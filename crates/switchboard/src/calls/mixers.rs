//! Mixers (conference rooms) by name: a mixer exists from the first call
//! that joins it to the last that leaves, as Rayo's implicit mixers do
//! (RAYO.md §2.9). The room's audio lives in the pacer thread
//! ([`crate::media::pacer::RoomId`]); this registry only says which calls
//! are in which room, so two calls joining `conf1` meet in the same one.
//!
//! The lock is held for a map update and never across an await. Names are
//! JID nodes, compared without case (nodeprep folds case), and the registry
//! keeps the spelling of the first join.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use call_control::Failure;

use crate::media::pacer::RoomId;

/// The mixers of the server; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Mixers {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug, Default)]
struct Inner {
    rooms: HashMap<String, Room>,
    next_id: u64,
}

#[derive(Debug)]
struct Room {
    id: RoomId,
    members: HashSet<Arc<str>>,
}

/// Where a call entered a mixer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entered {
    /// The room in the pacer.
    pub room: RoomId,
    /// Whether the call is the mixer's first member (it was created now).
    pub created: bool,
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
                created: false,
            });
        }
        inner.next_id += 1;
        let id = RoomId(inner.next_id);
        inner.rooms.insert(
            key,
            Room {
                id,
                members: HashSet::from([call.clone()]),
            },
        );
        Ok(Entered {
            room: id,
            created: true,
        })
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
        assert!(first.created);
        let second = mixers.enter("conf1", &b).expect("enter");
        assert_eq!(second.room, first.room);
        assert!(!second.created);
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
        assert!(again.created);
        assert_ne!(again.room, first.room);
        assert!(!mixers.leave("nope", "a"));
    }
}
