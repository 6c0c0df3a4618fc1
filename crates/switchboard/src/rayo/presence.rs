//! Which bound Rayo clients may be offered calls; sans-IO.
//!
//! The rule (RAYO.md §1.2, §6.4): a freshly bound session is unavailable.
//! Its last type-less presence sent to the domain (or undirected) decides:
//! `<show>chat</show>` makes it available; `dnd`, `away` and `xa` make it
//! unavailable; no `<show>` at all counts as available only with
//! `rayo.plain_presence_available` (mod_rayo's behaviour, which Blather's
//! initial `<presence/>` would otherwise trip). `type='unavailable'` and
//! the stream's end make it unavailable; other types (subscribe, probe,
//! error) change nothing. Presence to any other JID is not about
//! availability and is routed like any stanza.

use std::collections::HashMap;

use xmpp::{Element, FullJid, Jid};

/// What a presence stanza is, for the session that received it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresenceKind {
    /// About the sender's availability: `Some(available)`, or None when it
    /// changes nothing (subscription types, probes, errors).
    Availability(Option<bool>),
    /// Addressed to another entity (a call, a component): route it.
    Routed,
}

/// Classifies `presence` (a stanza from a bound session) for `domain`.
pub fn classify(presence: &Element, domain: &str, plain_available: bool) -> PresenceKind {
    if let Some(to) = presence.get_attr("to") {
        let to_domain = Jid::parse(to)
            .is_ok_and(|to| to.node().is_none() && to.is_bare() && to.domain() == domain);
        if !to_domain {
            return PresenceKind::Routed;
        }
    }
    match presence.get_attr("type") {
        None => {}
        Some("unavailable") => return PresenceKind::Availability(Some(false)),
        Some(_) => return PresenceKind::Availability(None),
    }
    let show = presence
        .get_child("show", "jabber:client")
        .map(|s| s.text_content());
    let available = match show.as_deref().map(str::trim) {
        Some("chat") => true,
        Some("dnd" | "away" | "xa") => false,
        // An empty `<show/>` is no show at all.
        Some("") | None => plain_available,
        // An unknown show value is a protocol error; it changes nothing.
        Some(_) => return PresenceKind::Availability(None),
    };
    PresenceKind::Availability(Some(available))
}

/// Bound sessions and their availability, in the order they became
/// available (what `first` offers walk).
#[derive(Debug, Default)]
pub struct Availability {
    /// Bound JIDs; `Some(n)` when available, `n` ordering availability.
    sessions: HashMap<FullJid, Option<u64>>,
    next: u64,
}

impl Availability {
    /// A session was bound (unavailable until it says otherwise); a
    /// session already holding the JID is replaced, and if it was
    /// available that availability ends (returns true).
    pub fn bind(&mut self, jid: &FullJid) -> bool {
        self.sessions.insert(jid.clone(), None).flatten().is_some()
    }

    /// The session ended; returns true when it was available.
    pub fn unbind(&mut self, jid: &FullJid) -> bool {
        self.sessions.remove(jid).flatten().is_some()
    }

    /// Sets `jid`'s availability; returns true when it changed. Unknown
    /// (unbound) JIDs are ignored. Becoming available again puts the JID
    /// last in order.
    pub fn set(&mut self, jid: &FullJid, available: bool) -> bool {
        let Some(slot) = self.sessions.get_mut(jid) else {
            return false;
        };
        if slot.is_some() == available {
            return false;
        }
        *slot = if available {
            self.next += 1;
            Some(self.next)
        } else {
            None
        };
        true
    }

    /// Whether `jid` is bound and available.
    pub fn is_available(&self, jid: &FullJid) -> bool {
        self.sessions.get(jid).is_some_and(Option::is_some)
    }

    /// Available JIDs, longest available first; with `users`, only JIDs
    /// whose node is one of them (an endpoint's `users:` restriction).
    pub fn available(&self, users: Option<&[String]>) -> Vec<FullJid> {
        let mut list: Vec<(u64, &FullJid)> = self
            .sessions
            .iter()
            .filter_map(|(jid, since)| since.map(|s| (s, jid)))
            .filter(|(_, jid)| {
                users.is_none_or(|users| users.iter().any(|u| Some(u.as_str()) == jid.node()))
            })
            .collect();
        list.sort_unstable_by_key(|(since, _)| *since);
        list.into_iter().map(|(_, jid)| jid.clone()).collect()
    }

    /// Number of bound sessions.
    pub fn bound(&self) -> usize {
        self.sessions.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOMAIN: &str = "rayo.test";

    fn presence(to: Option<&str>, kind: Option<&str>, show: Option<&str>) -> Element {
        let mut p = Element::new("presence", "jabber:client");
        if let Some(to) = to {
            p.set_attr("to", to);
        }
        if let Some(kind) = kind {
            p.set_attr("type", kind);
        }
        if let Some(show) = show {
            p.push(Element::new("show", "jabber:client").text(show));
        }
        p
    }

    fn jid(text: &str) -> FullJid {
        FullJid::parse(text).expect("full jid")
    }

    #[test]
    fn chat_to_the_domain_is_available_and_dnd_away_xa_unavailable_are_not() {
        let c = |p: &Element| classify(p, DOMAIN, false);
        let avail = PresenceKind::Availability;
        assert_eq!(
            c(&presence(Some(DOMAIN), None, Some("chat"))),
            avail(Some(true))
        );
        assert_eq!(c(&presence(None, None, Some("chat"))), avail(Some(true)));
        for show in ["dnd", "away", "xa"] {
            assert_eq!(
                c(&presence(Some(DOMAIN), None, Some(show))),
                avail(Some(false))
            );
        }
        assert_eq!(
            c(&presence(Some(DOMAIN), Some("unavailable"), Some("chat"))),
            avail(Some(false))
        );
        assert_eq!(
            c(&presence(Some(DOMAIN), Some("subscribe"), None)),
            avail(None)
        );
        assert_eq!(c(&presence(None, None, Some("bogus"))), avail(None));
    }

    #[test]
    fn plain_presence_counts_only_when_configured() {
        let plain = presence(None, None, None);
        assert_eq!(
            classify(&plain, DOMAIN, false),
            PresenceKind::Availability(Some(false))
        );
        assert_eq!(
            classify(&plain, DOMAIN, true),
            PresenceKind::Availability(Some(true))
        );
        let empty_show = presence(Some(DOMAIN), None, Some(""));
        assert_eq!(
            classify(&empty_show, DOMAIN, true),
            PresenceKind::Availability(Some(true))
        );
    }

    #[test]
    fn presence_to_other_jids_is_routed() {
        for to in [
            "c1@rayo.test",
            "c1@rayo.test/comp",
            "other.test",
            "rayo.test/res",
        ] {
            assert_eq!(
                classify(&presence(Some(to), None, Some("chat")), DOMAIN, true),
                PresenceKind::Routed,
                "{to}"
            );
        }
    }

    #[test]
    fn availability_follows_bind_set_and_unbind_in_order() {
        let mut a = Availability::default();
        let (x, y) = (jid("usera@rayo.test/x"), jid("userb@rayo.test/y"));
        a.bind(&x);
        a.bind(&y);
        assert!(a.available(None).is_empty(), "bound is not available");
        assert!(a.set(&y, true));
        assert!(a.set(&x, true));
        assert!(!a.set(&x, true), "no change");
        assert_eq!(a.available(None), vec![y.clone(), x.clone()]);
        assert_eq!(a.available(Some(&["usera".to_owned()])), vec![x.clone()]);
        assert!(a.set(&y, false));
        assert!(a.set(&y, true));
        assert_eq!(
            a.available(None),
            vec![x.clone(), y.clone()],
            "y is last again"
        );
        assert!(a.unbind(&x));
        assert!(!a.is_available(&x));
        assert!(!a.set(&x, true), "unbound JIDs are ignored");
        assert!(a.bind(&y), "a rebind ends the old availability");
        assert!(!a.is_available(&y));
        assert_eq!(a.bound(), 1);
    }
}
