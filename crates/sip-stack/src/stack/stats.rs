//! Message counters for metrics: what the stack received and sent, by
//! method and status code, and how many of its transmissions were
//! retransmissions. Plain integers the stack bumps as it goes; the driver
//! copies them out with [`SipStack::stats`](crate::SipStack::stats).

use sip::Method;

/// The methods counted by name; anything else counts as `other`.
static COUNTED_METHODS: [Method; 14] = [
    Method::Invite,
    Method::Ack,
    Method::Bye,
    Method::Cancel,
    Method::Options,
    Method::Register,
    Method::Info,
    Method::Update,
    Method::Prack,
    Method::Subscribe,
    Method::Notify,
    Method::Refer,
    Method::Message,
    Method::Publish,
];

/// Messages per method: one slot per counted method (INVITE … PUBLISH) plus `other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MethodCounts([u64; COUNTED_METHODS.len() + 1]);

impl MethodCounts {
    /// Counts one message of `method`.
    pub(crate) fn add(&mut self, method: &Method) {
        self.0[method_slot(method)] += 1;
    }

    /// Messages of `method` (every extension method shares one count).
    pub fn get(&self, method: &Method) -> u64 {
        self.0[method_slot(method)]
    }

    /// Every slot as (label, count): method names upper-case, then `other`.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        COUNTED_METHODS
            .iter()
            .map(Method::as_str)
            .chain(["other"])
            .zip(self.0.iter().copied())
    }

    /// The sum over every method.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }
}

fn method_slot(method: &Method) -> usize {
    COUNTED_METHODS
        .iter()
        .position(|m| m == method)
        .unwrap_or(COUNTED_METHODS.len())
}

/// The status codes counted on their own: the ones a SIP server commonly
/// sends or meets. Any other code counts under its class (`1xx` … `6xx`),
/// so the label set stays bounded whatever a peer sends.
const COUNTED_CODES: [u16; 28] = [
    100, 180, 181, 182, 183, 200, 202, 301, 302, 400, 401, 403, 404, 405, 407, 408, 415, 480, 481,
    482, 483, 486, 487, 488, 500, 501, 503, 603,
];

/// The class labels of codes outside [`COUNTED_CODES`].
const CLASSES: [&str; 6] = ["1xx", "2xx", "3xx", "4xx", "5xx", "6xx"];

/// Responses per status code: one slot per commonly met code, then one
/// per class for the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusCounts([u64; COUNTED_CODES.len() + CLASSES.len()]);

impl Default for StatusCounts {
    fn default() -> StatusCounts {
        StatusCounts([0; COUNTED_CODES.len() + CLASSES.len()])
    }
}

impl StatusCounts {
    /// Counts one response with `status`; public for a driver that sends
    /// responses of its own (the 400 to a message its transport could not
    /// parse, which never reaches the stack).
    pub fn add(&mut self, status: u16) {
        self.0[status_slot(status)] += 1;
    }

    /// Responses with `status` (for an uncounted code: its whole class).
    pub fn get(&self, status: u16) -> u64 {
        self.0[status_slot(status)]
    }

    /// Every slot as (label, count): codes as digits, then `1xx` … `6xx`
    /// for the codes not listed on their own.
    pub fn iter(&self) -> impl Iterator<Item = (String, u64)> + '_ {
        COUNTED_CODES
            .iter()
            .map(u16::to_string)
            .chain(CLASSES.iter().map(|c| (*c).to_owned()))
            .zip(self.0.iter().copied())
    }

    /// The sum over every code.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }
}

impl std::ops::AddAssign<&StatusCounts> for StatusCounts {
    /// Adds `other`'s counts, code by code (the stack's responses and a
    /// driver's own).
    fn add_assign(&mut self, other: &StatusCounts) {
        for (mine, theirs) in self.0.iter_mut().zip(other.0) {
            *mine += theirs;
        }
    }
}

fn status_slot(status: u16) -> usize {
    match COUNTED_CODES.binary_search(&status) {
        Ok(slot) => slot,
        Err(_) => {
            let class = usize::from(status / 100).clamp(1, CLASSES.len());
            COUNTED_CODES.len() + class - 1
        }
    }
}

/// A copy of the stack's counters (see the module doc). Counters only grow;
/// `transactions` and `dialogs` are what is alive at the copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StackStats {
    /// Requests received, retransmissions included.
    pub requests_received: MethodCounts,
    /// Requests sent, retransmissions included.
    pub requests_sent: MethodCounts,
    /// Responses received, retransmissions included.
    pub responses_received: StatusCounts,
    /// Responses sent, retransmissions included.
    pub responses_sent: StatusCounts,
    /// Transmissions that repeated an earlier one: timer retransmissions of
    /// requests and final responses, responses repeated for a retransmitted
    /// request, ACKs repeated for a retransmitted final response.
    pub retransmissions_sent: u64,
    /// Transactions alive, client and server.
    pub transactions: u64,
    /// Dialogs alive.
    pub dialogs: u64,
}

impl StackStats {
    /// Counts one transmission, classified by its start line: a response
    /// by its code, a request by its method. Reads only the first bytes.
    pub(crate) fn count_sent(&mut self, bytes: &[u8]) {
        if let Some(rest) = bytes.strip_prefix(b"SIP/2.0 ") {
            let status = rest
                .get(..3)
                .and_then(|digits| std::str::from_utf8(digits).ok())
                .and_then(|digits| digits.parse().ok())
                .unwrap_or(0);
            self.responses_sent.add(status);
        } else {
            let token = bytes
                .iter()
                .position(|&b| b == b' ')
                .and_then(|end| std::str::from_utf8(&bytes[..end]).ok())
                .unwrap_or("");
            self.requests_sent.add(&Method::from_token(token));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_codes_count_on_their_own_and_others_by_class() {
        let mut counts = StatusCounts::default();
        for status in [200, 200, 486, 299, 699, 0, 999] {
            counts.add(status);
        }
        assert_eq!(counts.get(200), 2);
        assert_eq!(counts.get(486), 1);
        assert_eq!(counts.get(299), 1, "the 2xx class");
        assert_eq!(counts.get(250), 1, "the same 2xx class");
        assert_eq!(counts.get(600), 2, "699 and 999 clamp into 6xx");
        assert_eq!(counts.get(100), 0);
        assert_eq!(counts.get(150), 1, "0 clamps into 1xx");
        assert_eq!(counts.total(), 7);
        assert!(COUNTED_CODES.windows(2).all(|w| w[0] < w[1]), "sorted");
    }

    #[test]
    fn extension_methods_share_the_other_slot() {
        let mut counts = MethodCounts::default();
        counts.add(&Method::Invite);
        counts.add(&Method::Extension("FOO".into()));
        counts.add(&Method::Extension("BAR".into()));
        assert_eq!(counts.get(&Method::Invite), 1);
        assert_eq!(counts.get(&Method::Extension("X".into())), 2);
        let other = counts.iter().find(|(label, _)| *label == "other");
        assert_eq!(other, Some(("other", 2)));
        assert_eq!(counts.total(), 3);
    }

    #[test]
    fn sent_bytes_are_classified_by_their_start_line() {
        let mut stats = StackStats::default();
        stats.count_sent(b"SIP/2.0 180 Ringing\r\n\r\n");
        stats.count_sent(b"BYE sip:a@b SIP/2.0\r\n\r\n");
        stats.count_sent(b"garbage");
        assert_eq!(stats.responses_sent.get(180), 1);
        assert_eq!(stats.requests_sent.get(&Method::Bye), 1);
        assert_eq!(stats.requests_sent.total(), 2, "garbage counts as other");
    }
}
