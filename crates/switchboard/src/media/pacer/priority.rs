//! How the pacer thread is scheduled: real-time priority and an optional
//! core of its own.
//!
//! With every frame sent from one thread, pacing is that thread's wake-up
//! latency. Under the default time-sharing policy a busy core (the async
//! runtime's workers handling signalling and received RTP) makes the
//! woken pacer wait for the running task's slice, and can preempt it in
//! the middle of its walk: both land directly in every stream's
//! inter-arrival time. `SCHED_FIFO` lets the pacer run the moment its
//! sleep ends and finish its walk unpreempted, which is what Asterisk's
//! `-p` and FreeSWITCH's `-rp` do for their media threads.
//!
//! A real-time thread that never sleeps would starve its core, so the
//! pacer gives the priority back ([`Watchdog`]) when its walk keeps
//! taking most of the tick: then it cannot keep up anyway, and the rest of
//! the server must not pay for it.

use std::io;
use std::time::Duration;

/// How the pacer thread asks to be scheduled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scheduling {
    /// Ask for `SCHED_FIFO` at the lowest real-time priority (1: above every
    /// normal thread, below any other real-time one); without the permission
    /// (`CAP_SYS_NICE` or `RLIMIT_RTPRIO`) it runs as a normal thread.
    pub realtime: bool,
    /// Pin the thread to this CPU.
    pub cpu: Option<usize>,
}

/// What applying a [`Scheduling`] achieved, for the start-up log.
#[derive(Debug, Default)]
pub struct Applied {
    /// Whether the thread runs with `SCHED_FIFO`.
    pub realtime: bool,
    /// Why real-time priority was asked for and not had.
    pub realtime_error: Option<io::Error>,
    /// Why pinning to the CPU failed.
    pub cpu_error: Option<io::Error>,
}

/// Applies `scheduling` to the calling thread.
pub fn apply(scheduling: Scheduling) -> Applied {
    let mut applied = Applied::default();
    if let Some(cpu) = scheduling.cpu {
        applied.cpu_error = pin_to(cpu).err();
    }
    if scheduling.realtime {
        match set_policy(true) {
            Ok(()) => applied.realtime = true,
            Err(error) => applied.realtime_error = Some(error),
        }
    }
    applied
}

/// Gives real-time priority back (time-sharing, nice 0).
pub fn drop_realtime() -> io::Result<()> {
    set_policy(false)
}

fn set_policy(realtime: bool) -> io::Result<()> {
    use thread_priority::{
        set_thread_priority_and_policy, thread_native_id, NormalThreadSchedulePolicy,
        RealtimeThreadSchedulePolicy, ThreadPriority, ThreadSchedulePolicy,
    };
    let policy = if realtime {
        ThreadSchedulePolicy::Realtime(RealtimeThreadSchedulePolicy::Fifo)
    } else {
        ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Other)
    };
    set_thread_priority_and_policy(thread_native_id(), ThreadPriority::Min, policy)
        .map_err(|error| io::Error::other(format!("{error:?}")))
}

#[cfg(target_os = "linux")]
fn pin_to(cpu: usize) -> io::Result<()> {
    use rustix::thread::{sched_setaffinity, CpuSet};
    if cpu >= CpuSet::MAX_CPU {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("no CPU {cpu}"),
        ));
    }
    let mut set = CpuSet::new();
    set.set(cpu);
    sched_setaffinity(None, &set).map_err(io::Error::from)
}

#[cfg(not(target_os = "linux"))]
fn pin_to(_cpu: usize) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "pinning threads is only supported on Linux",
    ))
}

/// Ticks in a row whose walk took more than [`Watchdog::BUSY`] of the tick
/// before real-time priority is given back.
const BUSY_TICKS: u32 = 50;

/// Watches a real-time pacer's walks and says when to give the priority
/// back: after [`BUSY_TICKS`] ticks in a row (one second) whose walk took
/// more than three quarters of the tick.
#[derive(Debug, Default)]
pub struct Watchdog {
    busy_in_a_row: u32,
}

impl Watchdog {
    /// The share of a tick a walk may take without counting as busy.
    pub const BUSY: Duration = Duration::from_millis(15);

    /// Records one tick's walk; `true` once the pacer should drop real-time.
    pub fn walked(&mut self, walk: Duration) -> bool {
        if walk > Self::BUSY {
            self.busy_in_a_row += 1;
        } else {
            self.busy_in_a_row = 0;
        }
        self.busy_in_a_row >= BUSY_TICKS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watchdog_fires_after_a_second_of_busy_walks_in_a_row() {
        let mut watchdog = Watchdog::default();
        let busy = Duration::from_millis(16);
        for _ in 0..BUSY_TICKS - 1 {
            assert!(!watchdog.walked(busy));
        }
        // One quick tick starts the count again.
        assert!(!watchdog.walked(Duration::from_millis(2)));
        for _ in 0..BUSY_TICKS - 1 {
            assert!(!watchdog.walked(busy));
        }
        assert!(watchdog.walked(busy));
    }

    /// The calling thread's scheduling policy, from /proc (1 = SCHED_FIFO).
    fn policy() -> Option<u32> {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
        let fields = stat.rsplit_once(')')?.1;
        // Field 41 of stat(5); the text after ')' starts at field 3.
        fields.split_whitespace().nth(41 - 3)?.parse().ok()
    }

    #[test]
    fn realtime_is_had_or_refused_and_given_back() {
        let (applied, during, after) = std::thread::spawn(|| {
            let applied = apply(Scheduling {
                realtime: true,
                cpu: None,
            });
            let during = policy();
            let dropped = drop_realtime().map(|()| policy());
            (applied, during, dropped)
        })
        .join()
        .expect("thread");
        if applied.realtime {
            assert_eq!(during, Some(1), "SCHED_FIFO while real-time");
            assert_eq!(after.expect("given back"), Some(0), "SCHED_OTHER after");
        } else {
            assert!(applied.realtime_error.is_some());
            assert_eq!(during, Some(0));
        }
    }

    #[test]
    fn normal_scheduling_asks_for_nothing() {
        let applied = apply(Scheduling::default());
        assert!(!applied.realtime);
        assert!(applied.realtime_error.is_none() && applied.cpu_error.is_none());
    }

    #[test]
    fn a_cpu_that_does_not_exist_is_an_error_not_a_panic() {
        let applied = std::thread::spawn(|| {
            apply(Scheduling {
                realtime: false,
                cpu: Some(100_000),
            })
        })
        .join()
        .expect("thread");
        assert!(applied.cpu_error.is_some());
    }
}
