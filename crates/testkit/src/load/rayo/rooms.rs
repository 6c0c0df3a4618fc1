//! The mixer mode of the load client: which room each call joins
//! ([`RoomLayout`]), and [`Rooms`], the sans-IO bookkeeping of one
//! connection's calls in mixers — the `join` IQs and their refs, the
//! joined/unjoined presences from each call and from each mixer, the
//! speaker events, and every mixer's unavailable presence at the end.
//!
//! A call's room comes from its place in the caller's sequence (the SIP
//! Call-ID the offer carries back, see [`super::caller::call_index`]), so
//! the caller and this side agree on who is in which room and who speaks.

use std::collections::{HashMap, HashSet};

use xmpp::Element;

use super::room_report::RoomReport;
use super::stanza::NS_RAYO;

/// XEP-0115 entity capabilities.
const NS_CAPS: &str = "http://jabber.org/protocol/caps";
/// The caps node a mixer's first presence carries.
pub const MIXER_CAPS_NODE: &str = "urn:xmpp:rayo:mixer:1";
/// Distinct speaker tones: positions past this many reuse them.
pub const TONES: usize = 30;

/// How calls are spread over rooms: call `i` (in the caller's order) is in
/// room `i / size` at position `i % size`; the first `speakers` positions
/// of each room send a tone, the others silence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoomLayout {
    /// Rooms (`room-0` … `room-{rooms-1}`).
    pub rooms: usize,
    /// Participants per room.
    pub size: usize,
    /// Participants per room that send a tone.
    pub speakers: usize,
}

impl RoomLayout {
    /// Calls in all rooms.
    pub fn calls(&self) -> usize {
        self.rooms * self.size
    }

    /// The mixer name of call `index`.
    pub fn room_name(&self, index: usize) -> String {
        format!("room-{}", index / self.size.max(1))
    }

    /// Whether call `index` sends a tone.
    pub fn is_speaker(&self, index: usize) -> bool {
        index % self.size.max(1) < self.speakers
    }

    /// Speakers in each room.
    pub fn speakers_per_room(&self) -> usize {
        self.speakers.min(self.size)
    }

    /// The tone of call `index` (a speaker), Hz: 400, 500 … 3300 by position.
    pub fn tone_hz(&self, index: usize) -> u32 {
        400 + 100 * ((index % self.size.max(1)) % TONES) as u32
    }

    /// The distinct tones the speakers of a room send.
    pub fn room_tones(&self) -> Vec<u32> {
        (0..self.speakers_per_room().min(TONES))
            .map(|p| self.tone_hz(p))
            .collect()
    }
}

/// The mixer mode's plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MixerPlan {
    /// Who is in which room.
    pub layout: RoomLayout,
}

/// One call's progress through its room.
#[derive(Debug, Default)]
struct Member {
    index: Option<usize>,
    room: String,
    /// The join IQ got its result.
    joined: bool,
    call_joined: bool,
    mixer_joined: bool,
    call_unjoined: bool,
    mixer_unjoined: bool,
    speaking: bool,
}

/// What this connection knows of one mixer.
#[derive(Debug, Default)]
struct Mixer {
    /// Presences from it so far.
    presences: u64,
    gone: bool,
}

/// A mixer-related presence.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Event {
    /// `<joined|unjoined mixer-name>` from a call.
    Call { call: String, joined: bool },
    /// `<joined|unjoined call-uri>` from a mixer.
    Mixer {
        mixer: String,
        call: String,
        joined: bool,
    },
    /// `<started-speaking|stopped-speaking call-uri>` from a mixer.
    Speaking {
        mixer: String,
        call: String,
        started: bool,
    },
    /// `<presence type='unavailable'>` from a mixer.
    Gone { mixer: String },
}

/// The calls of one connection in their mixers; see the module doc.
pub struct Rooms {
    plan: MixerPlan,
    /// Offers seen (the room of a call without a usable Call-ID).
    offers: usize,
    members: HashMap<String, Member>,
    mixers: HashMap<String, Mixer>,
    /// Calls that started speaking at least once.
    announced: HashSet<String>,
    report: RoomReport,
}

impl Rooms {
    /// No call yet.
    pub fn new(plan: MixerPlan) -> Rooms {
        Rooms {
            plan,
            offers: 0,
            members: HashMap::new(),
            mixers: HashMap::new(),
            announced: HashSet::new(),
            report: RoomReport::default(),
        }
    }

    /// An offered call: its room, from its SIP Call-ID.
    pub fn on_offer(&mut self, call: &str, sip_call_id: Option<&str>) {
        let index = sip_call_id.and_then(super::caller::call_index);
        let room = self.plan.layout.room_name(index.unwrap_or(self.offers));
        self.offers += 1;
        let member = Member {
            index,
            room,
            ..Member::default()
        };
        self.members.insert(call.to_owned(), member);
    }

    /// The `join` for a call just answered (None for a call not offered
    /// here). Its mixer is known from now on: the server may send the
    /// mixer's presences before the join's result.
    pub fn join(&mut self, call: &str) -> Option<Element> {
        let member = self.members.get(call)?;
        self.report.joins_sent += 1;
        self.mixers.entry(member.room.clone()).or_default();
        Some(
            Element::new("join", NS_RAYO)
                .attr("mixer-name", member.room.as_str())
                .attr("direction", "duplex"),
        )
    }

    /// The join IQ's result after `us` µs, with its `<ref>` JID.
    pub fn on_join_result(&mut self, call: &str, reference: Option<String>, us: u64) {
        self.report.join_us.record(us);
        let Some(member) = self.members.get_mut(call) else {
            return;
        };
        member.joined = true;
        self.report.joined += 1;
        let node = reference.as_deref().and_then(|r| r.split_once('@'));
        if node.map(|(node, _)| node) != Some(member.room.as_str()) {
            self.report.wrong_refs += 1;
        }
    }

    /// The join IQ answered with an error: its mixer is forgotten unless
    /// another call is in it or it said something.
    pub fn on_join_error(&mut self, call: &str, condition: &str) {
        *self
            .report
            .join_errors
            .entry(condition.to_owned())
            .or_default() += 1;
        let Some(room) = self.members.get(call).map(|m| m.room.clone()) else {
            return;
        };
        let used = self.members.values().any(|m| m.room == room && m.joined);
        if !used && self.mixers.get(&room).is_some_and(|m| m.presences == 0) {
            self.mixers.remove(&room);
        }
    }

    /// Any presence: counts it when it is about a mixer.
    pub fn on_presence(&mut self, presence: &Element) {
        let Some(event) = self.classify(presence) else {
            return;
        };
        let report = &mut self.report;
        match event {
            Event::Call { call, joined } => {
                let Some(member) = self.members.get_mut(&call) else {
                    return;
                };
                report.before_result += u64::from(!member.joined);
                if joined {
                    report.call_joined += 1;
                    member.call_joined = true;
                } else {
                    report.call_unjoined += 1;
                    member.call_unjoined = true;
                }
            }
            Event::Mixer {
                mixer,
                call,
                joined,
            } => {
                if joined {
                    report.mixer_joined += 1;
                } else {
                    report.mixer_unjoined += 1;
                }
                let Some(member) = self.members.get_mut(&call) else {
                    report.mixer_events_others += 1;
                    return;
                };
                if member.room != mixer {
                    report.wrong_mixer += 1;
                }
                report.before_result += u64::from(!member.joined);
                if joined {
                    member.mixer_joined = true;
                } else {
                    member.mixer_unjoined = true;
                }
            }
            Event::Speaking {
                mixer: _,
                call,
                started,
            } => {
                if started {
                    report.started_speaking += 1;
                } else {
                    report.stopped_speaking += 1;
                }
                let Some(member) = self.members.get_mut(&call) else {
                    report.mixer_events_others += 1;
                    return;
                };
                if member.speaking == started {
                    report.speaking_repeats += 1;
                }
                member.speaking = started;
                if started && self.announced.insert(call) {
                    let speaker = member.index.map(|i| self.plan.layout.is_speaker(i));
                    if speaker == Some(false) {
                        report.false_speakers += 1;
                    }
                }
            }
            Event::Gone { mixer } => {
                if let Some(m) = self.mixers.get_mut(&mixer) {
                    if m.gone {
                        report.repeated_unavailable += 1;
                    }
                    m.gone = true;
                }
            }
        }
    }

    /// The call's `<end>`: a call in a mixer must have been told it left.
    pub fn on_end(&mut self, call: &str) {
        let Some(member) = self.members.remove(call) else {
            return;
        };
        if !member.joined {
            return;
        }
        let r = &mut self.report;
        r.missing_call_joined += u64::from(!member.call_joined);
        r.missing_mixer_joined += u64::from(!member.mixer_joined);
        r.missing_call_unjoined += u64::from(!member.call_unjoined);
        r.missing_mixer_unjoined += u64::from(!member.mixer_unjoined);
        if let Some(index) = member.index {
            if self.plan.layout.is_speaker(index) {
                r.speakers_expected += 1;
                r.speakers_announced += u64::from(self.announced.contains(call));
            }
        }
    }

    /// Mixers joined here that have not said they are gone.
    pub fn open_mixers(&self) -> usize {
        self.mixers.values().filter(|m| !m.gone).count()
    }

    /// What was counted so far.
    pub fn report(&self) -> &RoomReport {
        &self.report
    }

    /// The final counts: mixers still open, caps seen.
    pub fn into_report(mut self) -> RoomReport {
        self.report.rooms = self.mixers.len() as u64;
        self.report.rooms_gone = self.mixers.values().filter(|m| m.gone).count() as u64;
        self.report
    }

    /// What a presence says about mixers, and the caps check on a mixer's
    /// first presence.
    fn classify(&mut self, presence: &Element) -> Option<Event> {
        let from = presence.get_attr("from")?;
        let (node, _) = from.split_once('@')?;
        let is_mixer = !from.contains('/') && self.mixers.contains_key(node);
        if is_mixer {
            let mixer = self.mixers.get_mut(node)?;
            mixer.presences += 1;
            if mixer.presences == 1 {
                let caps = presence
                    .children()
                    .find(|c| c.is("c", NS_CAPS))
                    .and_then(|c| c.get_attr("node"));
                if caps != Some(MIXER_CAPS_NODE) {
                    self.report.missing_caps += 1;
                }
            }
        }
        let event = presence.children().find(|c| c.ns() == NS_RAYO);
        let call_of = |e: &Element| {
            let uri = e.get_attr("call-uri")?;
            let jid = uri.strip_prefix("xmpp:").unwrap_or(uri);
            Some(jid.split_once('/').map_or(jid, |(bare, _)| bare).to_owned())
        };
        let mixer = node.to_owned();
        match event.map(|e| (e.name(), e)) {
            None if is_mixer && presence.get_attr("type") == Some("unavailable") => {
                Some(Event::Gone { mixer })
            }
            Some((name @ ("joined" | "unjoined"), e)) if is_mixer => Some(Event::Mixer {
                mixer,
                call: call_of(e)?,
                joined: name == "joined",
            }),
            Some((name @ ("joined" | "unjoined"), e)) if e.get_attr("mixer-name").is_some() => {
                let call = from.split_once('/').map_or(from, |(bare, _)| bare);
                Some(Event::Call {
                    call: call.to_owned(),
                    joined: name == "joined",
                })
            }
            Some((name @ ("started-speaking" | "stopped-speaking"), e)) => Some(Event::Speaking {
                mixer,
                call: call_of(e)?,
                started: name == "started-speaking",
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::rayo::stanza::tests::parse;

    const LAYOUT: RoomLayout = RoomLayout {
        rooms: 2,
        size: 3,
        speakers: 1,
    };

    fn sip_id(index: usize) -> String {
        format!("rl-77-{index}@127.0.0.1")
    }

    #[test]
    fn the_layout_places_calls_by_their_order() {
        assert_eq!(LAYOUT.calls(), 6);
        assert_eq!(LAYOUT.room_name(2), "room-0");
        assert_eq!(LAYOUT.room_name(3), "room-1");
        assert!(LAYOUT.is_speaker(3) && !LAYOUT.is_speaker(4));
        assert_eq!(LAYOUT.tone_hz(4), 500);
        assert_eq!(LAYOUT.room_tones(), [400]);
    }

    #[test]
    fn a_call_joins_its_room_and_every_event_is_checked() {
        let mut rooms = Rooms::new(MixerPlan { layout: LAYOUT });
        // Call index 3: room-1, a speaker; index 4: room-1, silent.
        rooms.on_offer("a@d", Some(&sip_id(3)));
        rooms.on_offer("b@d", Some(&sip_id(4)));
        let join = rooms.join("a@d").expect("a join");
        assert_eq!(
            join.to_xml("jabber:client"),
            "<join xmlns='urn:xmpp:rayo:1' mixer-name='room-1' direction='duplex'/>"
        );
        rooms.join("b@d").expect("a join");
        // The mixer's first presence may come before the join's result.
        rooms.on_presence(&parse(
            "<presence from='room-1@d'><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' \
             node='urn:xmpp:rayo:mixer:1' ver='x'/><joined xmlns='urn:xmpp:rayo:1' call-uri='xmpp:a@d'/></presence>",
        ));
        assert_eq!(rooms.report().before_result, 1);
        rooms.on_join_result("a@d", Some("room-1@d".into()), 400);
        rooms.on_join_result("b@d", Some("room-0@d".into()), 600);
        let presences = [
            "<presence from='a@d'><joined xmlns='urn:xmpp:rayo:1' mixer-name='room-1'/></presence>",
            "<presence from='b@d'><joined xmlns='urn:xmpp:rayo:1' mixer-name='room-1'/></presence>",
            "<presence from='room-1@d'><joined xmlns='urn:xmpp:rayo:1' call-uri='xmpp:b@d'/></presence>",
            "<presence from='room-1@d'><started-speaking xmlns='urn:xmpp:rayo:1' call-uri='xmpp:a@d' call-id='a'/></presence>",
            "<presence from='room-1@d'><started-speaking xmlns='urn:xmpp:rayo:1' call-uri='xmpp:a@d' call-id='a'/></presence>",
            "<presence from='room-1@d'><started-speaking xmlns='urn:xmpp:rayo:1' call-uri='xmpp:b@d' call-id='b'/></presence>",
            "<presence from='room-1@d'><joined xmlns='urn:xmpp:rayo:1' call-uri='xmpp:z@d'/></presence>",
            "<presence from='a@d'><unjoined xmlns='urn:xmpp:rayo:1' mixer-name='room-1'/></presence>",
            "<presence from='room-1@d'><unjoined xmlns='urn:xmpp:rayo:1' call-uri='xmpp:a@d'/></presence>",
        ];
        for xml in presences {
            rooms.on_presence(&parse(xml));
        }
        rooms.on_end("a@d");
        // b was never told it left its room.
        rooms.on_end("b@d");
        assert_eq!(rooms.open_mixers(), 1);
        rooms.on_presence(&parse("<presence from='room-1@d' type='unavailable'/>"));
        assert_eq!(rooms.open_mixers(), 0);
        let report = rooms.into_report();
        assert_eq!((report.joins_sent, report.joined), (2, 2));
        assert_eq!(report.wrong_refs, 1, "b's ref names room-0");
        assert_eq!((report.call_joined, report.mixer_joined), (2, 3));
        assert_eq!(report.mixer_events_others, 1);
        assert_eq!((report.started_speaking, report.speaking_repeats), (3, 1));
        assert_eq!(report.false_speakers, 1);
        assert_eq!(
            (report.speakers_expected, report.speakers_announced),
            (1, 1)
        );
        assert_eq!(
            (report.missing_call_unjoined, report.missing_mixer_unjoined),
            (1, 1)
        );
        assert_eq!((report.missing_call_joined, report.missing_caps), (0, 0));
        assert_eq!((report.rooms, report.rooms_gone), (1, 1));
        // Wrong ref, repeat, false speaker, two missing unjoins.
        assert_eq!(report.failure_count(), 5);
    }

    #[test]
    fn a_mixer_without_caps_is_counted() {
        let mut rooms = Rooms::new(MixerPlan { layout: LAYOUT });
        rooms.on_offer("a@d", Some(&sip_id(0)));
        rooms.join("a@d");
        rooms.on_join_result("a@d", Some("room-0@d".into()), 1);
        rooms.on_presence(&parse(
            "<presence from='room-0@d'><joined xmlns='urn:xmpp:rayo:1' call-uri='xmpp:a@d'/></presence>",
        ));
        assert_eq!(rooms.report().missing_caps, 1);
        // An offer without a usable Call-ID takes the next place in order.
        rooms.on_offer("q@d", Some("elsewhere"));
        let join = rooms.join("q@d").expect("a join");
        assert_eq!(join.get_attr("mixer-name"), Some("room-0"));
        // A failed join forgets a mixer nobody is in; the first one never
        // said it was gone.
        rooms.on_offer("e@d", Some(&sip_id(3)));
        rooms.join("e@d");
        assert_eq!(rooms.open_mixers(), 2);
        rooms.on_join_error("e@d", "item-not-found");
        assert_eq!(rooms.open_mixers(), 1);
        let report = rooms.into_report();
        assert_eq!((report.rooms, report.rooms_gone), (1, 0));
        assert_eq!(report.failure_count(), 3);
    }
}
