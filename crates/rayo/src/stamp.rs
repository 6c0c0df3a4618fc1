//! XEP-0203 `<delay stamp>` on events, with the XEP-0082 timestamp written
//! from a `SystemTime` (UTC, millisecond precision) without a date crate.

use std::time::{SystemTime, UNIX_EPOCH};

use xmpp::Element;

use crate::ns;

/// `<delay xmlns='urn:xmpp:delay' stamp='…'/>` for an event that happened at `at`.
pub fn delay_element(at: SystemTime) -> Element {
    Element::new("delay", ns::DELAY).attr("stamp", timestamp(at))
}

/// `at` as `YYYY-MM-DDThh:mm:ss.sssZ` (RFC 3339 / XEP-0082, UTC). Times
/// before 1970 are written as the epoch: a server clock never reads them.
pub fn timestamp(at: SystemTime) -> String {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (year, month, day) = civil_date(secs / 86_400);
    let of_day = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60,
        since.subsec_millis()
    )
}

/// Proleptic Gregorian (year, month, day) of the day `days` after
/// 1970-01-01. Counts in 400-year cycles of 146,097 days from 0000-03-01,
/// so that the leap day falls at the end of each counted year.
fn civil_date(days: u64) -> (u64, u64, u64) {
    // Days from 0000-03-01 to 1970-01-01.
    let shifted = days + 719_468;
    let cycle = shifted / 146_097;
    let day_of_cycle = shifted % 146_097;
    // Years into the cycle: every 4th year is long, except the 100th, but
    // the 400th is (it is the last day of the cycle, day 146,096).
    let year_of_cycle =
        (day_of_cycle - day_of_cycle / 1460 + day_of_cycle / 36_524 - day_of_cycle / 146_096) / 365;
    let day_of_year =
        day_of_cycle - (365 * year_of_cycle + year_of_cycle / 4 - year_of_cycle / 100);
    // Months from March, whose lengths repeat 31,30,31,30,31 (153 days / 5).
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = cycle * 400 + year_of_cycle + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64, millis: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(millis)
    }

    #[test]
    fn known_instants() {
        assert_eq!(timestamp(at(0, 0)), "1970-01-01T00:00:00.000Z");
        assert_eq!(timestamp(at(951_782_400, 5)), "2000-02-29T00:00:00.005Z");
        assert_eq!(
            timestamp(at(1_704_067_199, 999)),
            "2023-12-31T23:59:59.999Z"
        );
        assert_eq!(timestamp(at(1_704_067_200, 0)), "2024-01-01T00:00:00.000Z");
        assert_eq!(timestamp(at(4_107_542_400, 0)), "2100-03-01T00:00:00.000Z");
        assert_eq!(
            timestamp(UNIX_EPOCH - Duration::from_secs(5)),
            "1970-01-01T00:00:00.000Z"
        );
    }

    #[test]
    fn every_day_follows_the_previous_one() {
        // Walk 1970..2400 day by day and check the calendar step by step.
        let leap =
            |y: u64| (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400);
        let mut expected = (1970, 1, 1);
        for days in 0..157_000 {
            assert_eq!(civil_date(days), expected, "day {days}");
            let (y, m, d) = expected;
            let length = match m {
                2 if leap(y) => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            expected = if d < length {
                (y, m, d + 1)
            } else if m < 12 {
                (y, m + 1, 1)
            } else {
                (y + 1, 1, 1)
            };
        }
    }

    #[test]
    fn delay_element_shape() {
        assert_eq!(
            delay_element(at(0, 0)).to_xml("jabber:client"),
            "<delay xmlns='urn:xmpp:delay' stamp='1970-01-01T00:00:00.000Z'/>"
        );
    }
}
