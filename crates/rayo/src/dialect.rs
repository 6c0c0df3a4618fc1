//! Which spelling of Rayo the server emits (RAYO.md §2.1, §6.1; issue 10's
//! `rayo.dialect`). Input always accepts both.

/// The dialect of emitted stanzas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Dialect {
    /// XEP-0327 as mod_rayo and Punchblock 2 / Adhearsion 3 speak it:
    /// `<ref uri>`, end reasons `hungup` / `hangup-command` / `rejected`,
    /// `type='unavailable'` on `<end>` and `<complete>`. The default.
    #[default]
    Xep,
    /// The wiki page's older spelling (rayo-server, Punchblock 1):
    /// `<ref id>`, end reasons `hangup` / `reject`, every event an
    /// available presence.
    Wiki,
}

/// What rendering an event needs besides the event: the dialect, the
/// service domain (for call URIs), and whether to add the legacy id
/// attributes next to the XEP ones (`id` on `<ref>`, `call-id` on
/// `<joined>`/`<unjoined>`), which XEP clients ignore.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventContext<'a> {
    /// Emitted dialect.
    pub dialect: Dialect,
    /// The service domain, as in call JIDs.
    pub domain: &'a str,
    /// Add the legacy id attributes in the XEP dialect too.
    pub legacy_ids: bool,
}

impl Dialect {
    /// Whether the presence carrying an `<end>` or a `<complete>` has
    /// `type='unavailable'` (the entity is gone): XEP yes, wiki no.
    pub fn final_presence_unavailable(self) -> bool {
        self == Dialect::Xep
    }
}
