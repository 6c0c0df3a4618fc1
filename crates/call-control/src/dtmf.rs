//! DTMF collection as a sans-IO state machine: digits and time in, a result out.

use std::time::Instant;

use crate::{CollectDtmf, Output};

/// Why a collection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtmfEnd {
    /// The termination digit arrived.
    Terminator,
    /// `max_digits` were collected.
    MaxDigits,
    /// The wall-clock limit passed.
    Timeout,
}

/// Collects digits for one [`CollectDtmf`] request.
#[derive(Debug, Clone)]
pub struct DtmfCollector {
    options: CollectDtmf,
    deadline: Instant,
    digits: String,
}

impl DtmfCollector {
    /// Starts collecting at `now`.
    pub fn new(options: CollectDtmf, now: Instant) -> DtmfCollector {
        DtmfCollector {
            options,
            deadline: now + options.timeout,
            digits: String::new(),
        }
    }

    /// When [`DtmfCollector::expire`] should be called.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Adds a digit; `Some` when it completes the collection. A digit at or
    /// after the deadline completes it as a timeout without being added.
    pub fn digit(&mut self, digit: char, now: Instant) -> Option<Output> {
        if now >= self.deadline {
            return self.expire(now);
        }
        self.digits.push(digit);
        let end = if Some(digit) == self.options.termination {
            DtmfEnd::Terminator
        } else if self
            .options
            .max_digits
            .is_some_and(|max| self.digits.chars().count() >= max)
        {
            DtmfEnd::MaxDigits
        } else {
            return None;
        };
        Some(self.finish(end))
    }

    /// `Some` (a timeout with the digits so far) once the deadline has passed.
    pub fn expire(&mut self, now: Instant) -> Option<Output> {
        (now >= self.deadline).then(|| self.finish(DtmfEnd::Timeout))
    }

    /// The digits so far, ending the collection (a stop or hangup).
    pub fn digits(&self) -> &str {
        &self.digits
    }

    fn finish(&mut self, end: DtmfEnd) -> Output {
        Output::Dtmf {
            digits: std::mem::take(&mut self.digits),
            end,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn options(termination: Option<char>, max_digits: Option<usize>) -> CollectDtmf {
        CollectDtmf {
            timeout: Duration::from_secs(5),
            termination,
            max_digits,
        }
    }

    fn dtmf(digits: &str, end: DtmfEnd) -> Option<Output> {
        Some(Output::Dtmf {
            digits: digits.into(),
            end,
        })
    }

    #[test]
    fn terminator_ends_collection_and_is_included() {
        let t0 = Instant::now();
        let mut c = DtmfCollector::new(options(Some('#'), None), t0);
        for d in ['1', '2', '3', '4'] {
            assert_eq!(c.digit(d, t0 + Duration::from_secs(1)), None);
        }
        assert_eq!(
            c.digit('#', t0 + Duration::from_secs(2)),
            dtmf("1234#", DtmfEnd::Terminator)
        );
    }

    #[test]
    fn max_digits_counts_digits() {
        let t0 = Instant::now();
        let mut c = DtmfCollector::new(options(None, Some(2)), t0);
        assert_eq!(c.digit('*', t0), None);
        assert_eq!(c.digit('9', t0), dtmf("*9", DtmfEnd::MaxDigits));
    }

    #[test]
    fn deadline_is_wall_clock_and_late_digits_are_not_added() {
        let t0 = Instant::now();
        let mut c = DtmfCollector::new(options(Some('#'), None), t0);
        assert_eq!(c.deadline(), t0 + Duration::from_secs(5));
        assert_eq!(c.digit('7', t0 + Duration::from_secs(4)), None);
        assert_eq!(c.expire(t0 + Duration::from_millis(4999)), None);
        assert_eq!(
            c.digit('#', t0 + Duration::from_secs(5)),
            dtmf("7", DtmfEnd::Timeout)
        );
        let mut empty = DtmfCollector::new(options(None, None), t0);
        assert_eq!(
            empty.expire(t0 + Duration::from_secs(6)),
            dtmf("", DtmfEnd::Timeout)
        );
    }
}
