//! Every controlled call by the id its controller sees, so a controller can
//! name a call it does not hold (a join's target) and a dialer can choose
//! the id of the call it creates.
//!
//! Ids are lowercase: generated ones are 32 hex digits; chosen ones are
//! lowercased and must be non-empty tokens of `[a-z0-9._-]` (a Rayo call
//! URI's local part). An entry lives exactly as long as its
//! [`Registration`], which the call holds: when the call task ends, its
//! entry goes. The registry holds at most `capacity` calls, the server's
//! call limit.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::mpsc;

use super::join::PeerMessage;
use super::CallKey;
use crate::control::CallHandle;

/// Longest id a dialer may choose.
pub const MAX_ID_LEN: usize = 128;

/// Why a call could not be registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// The chosen id names a live call.
    #[error("call id {0:?} is in use")]
    Conflict(String),
    /// The chosen id is empty, too long, or has characters ids cannot have.
    #[error("call id {0:?} is not a valid id")]
    BadId(String),
    /// The server holds as many calls as it may.
    #[error("too many calls")]
    AtCapacity,
}

/// How one registered call is reached: by its controller's commands and by
/// other calls (joins).
#[derive(Debug, Clone)]
pub struct RegisteredCall {
    /// The id controllers see.
    pub id: Arc<str>,
    /// The call's command queue.
    pub handle: CallHandle,
    /// Messages from other calls (join, unjoin).
    pub(crate) peer: mpsc::Sender<PeerMessage>,
}

/// Calls by id; cheap to clone (shared).
#[derive(Debug, Clone)]
pub struct CallRegistry {
    inner: Arc<Mutex<Tables>>,
    capacity: usize,
}

#[derive(Debug, Default)]
struct Tables {
    by_id: HashMap<Arc<str>, RegisteredCall>,
    by_key: HashMap<CallKey, Arc<str>>,
}

/// A call's place in the registry; dropping it removes the entry.
#[derive(Debug)]
pub struct Registration {
    registry: CallRegistry,
    id: Arc<str>,
    key: CallKey,
}

impl Registration {
    /// The registered id.
    pub fn id(&self) -> &Arc<str> {
        &self.id
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut tables = self.registry.tables();
        if tables
            .by_id
            .get(&self.id)
            .is_some_and(|c| c.handle.key == self.key)
        {
            tables.by_id.remove(&self.id);
        }
        if tables.by_key.get(&self.key) == Some(&self.id) {
            tables.by_key.remove(&self.key);
        }
    }
}

impl CallRegistry {
    /// An empty registry for at most `capacity` calls.
    pub fn new(capacity: usize) -> CallRegistry {
        CallRegistry {
            inner: Arc::default(),
            capacity,
        }
    }

    fn tables(&self) -> MutexGuard<'_, Tables> {
        // Every update leaves the tables consistent; a poisoned lock is usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Checks a dialer's chosen id and gives it in its registry spelling
    /// (lowercase); `None` picks a fresh one.
    pub fn normalize(chosen: Option<&str>) -> Result<String, RegistryError> {
        let Some(chosen) = chosen else {
            return Ok(format!(
                "{:016x}{:016x}",
                fastrand::u64(..),
                fastrand::u64(..)
            ));
        };
        let id = chosen.to_ascii_lowercase();
        let valid = !id.is_empty()
            && id.len() <= MAX_ID_LEN
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if valid {
            Ok(id)
        } else {
            Err(RegistryError::BadId(chosen.to_string()))
        }
    }

    /// Whether a call with `id` (any case) is registered now.
    pub fn contains(&self, id: &str) -> bool {
        self.tables()
            .by_id
            .contains_key(id.to_ascii_lowercase().as_str())
    }

    /// Registers a call under `id` (already normalized, see
    /// [`normalize`](Self::normalize)).
    pub(crate) fn register(
        &self,
        id: String,
        handle: CallHandle,
        peer: mpsc::Sender<PeerMessage>,
    ) -> Result<Registration, RegistryError> {
        let mut tables = self.tables();
        if tables.by_id.contains_key(id.as_str()) {
            return Err(RegistryError::Conflict(id));
        }
        if tables.by_id.len() >= self.capacity {
            return Err(RegistryError::AtCapacity);
        }
        let id: Arc<str> = Arc::from(id);
        let key = handle.key;
        tables.by_key.insert(key, id.clone());
        tables.by_id.insert(
            id.clone(),
            RegisteredCall {
                id: id.clone(),
                handle,
                peer,
            },
        );
        drop(tables);
        Ok(Registration {
            registry: self.clone(),
            id,
            key,
        })
    }

    /// The call registered as `id` (any case).
    pub fn get(&self, id: &str) -> Option<RegisteredCall> {
        self.tables()
            .by_id
            .get(id.to_ascii_lowercase().as_str())
            .cloned()
    }

    /// The id of the call with `key` (an offered call's, for the adapter
    /// that shows it to its clients).
    pub fn id_of(&self, key: CallKey) -> Option<Arc<str>> {
        self.tables().by_key.get(&key).cloned()
    }

    /// Registered calls.
    pub fn len(&self) -> usize {
        self.tables().by_id.len()
    }

    /// Whether no call is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most calls the registry holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handle(key: CallKey) -> (CallHandle, mpsc::Sender<PeerMessage>) {
        let (commands, _) = mpsc::channel(1);
        let (peer, _) = mpsc::channel(1);
        (CallHandle { key, commands }, peer)
    }

    #[test]
    fn chosen_ids_are_lowercased_and_checked() {
        assert_eq!(
            CallRegistry::normalize(Some("AbC-1.x_y")).unwrap(),
            "abc-1.x_y"
        );
        assert!(matches!(
            CallRegistry::normalize(Some("")),
            Err(RegistryError::BadId(_))
        ));
        assert!(matches!(
            CallRegistry::normalize(Some("a@b")),
            Err(RegistryError::BadId(_))
        ));
        let generated = CallRegistry::normalize(None).unwrap();
        assert_eq!(generated.len(), 32);
        assert_eq!(generated, generated.to_ascii_lowercase());
    }

    #[test]
    fn an_id_in_use_conflicts_until_its_call_ends() {
        let registry = CallRegistry::new(10);
        let (h, p) = handle(1);
        let first = registry.register("abc".into(), h, p).unwrap();
        let (h, p) = handle(2);
        assert_eq!(
            registry.register("abc".into(), h, p).unwrap_err(),
            RegistryError::Conflict("abc".into())
        );
        assert_eq!(registry.get("ABC").map(|c| c.handle.key), Some(1));
        assert_eq!(registry.id_of(1).as_deref(), Some("abc"));
        drop(first);
        assert!(registry.get("abc").is_none());
        assert!(registry.id_of(1).is_none());
        let (h, p) = handle(2);
        assert!(registry.register("abc".into(), h, p).is_ok());
    }

    #[test]
    fn the_registry_is_bounded() {
        let registry = CallRegistry::new(1);
        let (h, p) = handle(1);
        let _one = registry.register("one".into(), h, p).unwrap();
        let (h, p) = handle(2);
        assert_eq!(
            registry.register("two".into(), h, p).unwrap_err(),
            RegistryError::AtCapacity
        );
        assert_eq!(registry.len(), 1);
    }
}
