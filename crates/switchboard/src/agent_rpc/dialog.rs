//! One call as an agent connection sees it: the agent's requests for it,
//! run one at a time in arrival order.
//!
//! A request is *running* from the moment its command is in the call's
//! queue until the call's `Done` for it. While one runs, the next waits here
//! (at most [`CALL_REQUEST_QUEUE`]); `hangup` and `:requestCancel` skip the
//! line, since their point is to interrupt what runs. Commands go out with
//! `try_send`: a call whose own queue is full makes the agent hear 429, never
//! stalls the connection, and a call that is gone makes it hear 487.
//!
//! Latency is kept with the request it belongs to: from the request's
//! arrival to its final answer, for every request the call accepted. A
//! refusal on arrival (429, 487, 404) is not a sample of its op.

use std::collections::VecDeque;
use std::time::Instant;

use agent_rpc::{AgentOp, AudioFormat, Request, Response};
use call_control::{Command, Failure, Output, RequestId};
use tokio::sync::mpsc::error::TrySendError;

use super::mapping::{self, Outgoing};
use crate::control::CallHandle;
use crate::http::metrics::commands::AgentTimes;

/// Agent requests that may wait behind a running one, per call.
pub(super) const CALL_REQUEST_QUEUE: usize = 16;

/// One call taken by the connection's agent.
#[derive(Debug)]
pub(super) struct Dialog {
    /// The `did` the agent names this call by.
    did: String,
    call: CallHandle,
    next_id: RequestId,
    /// The in-order request whose `Done` the queue waits for.
    running: Option<RequestId>,
    queue: VecDeque<Waiting>,
    /// Everything sent to the call and not yet `Done`: the running request,
    /// hangups and stops. A handful at most, so a list.
    in_flight: Vec<InFlight>,
    /// Where the requests' latencies are recorded.
    times: &'static AgentTimes,
}

/// When a request arrived, and the latency series of its op.
#[derive(Debug, Clone, Copy)]
struct Timer {
    slot: usize,
    since: Instant,
}

#[derive(Debug)]
struct Waiting {
    request: Request,
    op: AgentOp,
    timer: Timer,
}

#[derive(Debug)]
struct InFlight {
    id: RequestId,
    request: Request,
    kind: Kind,
    /// `:requestCancel`s naming this request, answered 200 right after it
    /// ends, so the agent hears the cancelled request's 487 first.
    cancels: Vec<(Request, Timer)>,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    /// An agent's op, rendered (and timed) when done.
    Op(AudioFormat, Timer),
    /// The `Stop` behind a `:requestCancel`; its own `Done` says nothing
    /// the target's `Done` does not.
    Stop,
}

impl Dialog {
    /// A call the agent has just taken; its requests' latencies go to `times`.
    pub(super) fn new(did: String, call: CallHandle, times: &'static AgentTimes) -> Dialog {
        Dialog {
            did,
            call,
            next_id: 1,
            running: None,
            queue: VecDeque::new(),
            in_flight: Vec::new(),
            times,
        }
    }

    /// The agent's name for the call.
    pub(super) fn did(&self) -> &str {
        &self.did
    }

    /// The call's command queue.
    pub(super) fn call(&self) -> &CallHandle {
        &self.call
    }

    /// A fresh id for a command to this call.
    pub(super) fn next_request_id(&mut self) -> RequestId {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Takes an agent's request for this call, arrived at `now` (`op` is
    /// already parsed and known; unknown ops never get here).
    pub(super) fn request(
        &mut self,
        request: Request,
        op: AgentOp,
        now: Instant,
        out: &mut Vec<Outgoing>,
    ) {
        let timer = Timer {
            slot: self.times.slot(op.name()),
            since: now,
        };
        match op {
            AgentOp::RequestCancel => self.cancel(request, timer, out),
            AgentOp::Hangup => {
                self.start(request, &op, timer, out);
            }
            op if self.running.is_none() => {
                self.start_in_order(request, op, timer, out);
            }
            _ if self.queue.len() >= CALL_REQUEST_QUEUE => {
                out.push(Outgoing::Response(Response::too_many_requests(&request)));
            }
            op => {
                out.push(Outgoing::Response(mapping::queued(&request)));
                self.queue.push_back(Waiting { request, op, timer });
            }
        }
    }

    /// The call finished request `id`.
    pub(super) fn done(
        &mut self,
        id: RequestId,
        result: Result<Output, Failure>,
        out: &mut Vec<Outgoing>,
    ) {
        let Some(position) = self.in_flight.iter().position(|f| f.id == id) else {
            tracing::debug!(did = %self.did, id, "Done for no request of ours");
            return;
        };
        let finished = self.in_flight.swap_remove(position);
        if let Kind::Op(format, timer) = finished.kind {
            mapping::completion(&finished.request, result, format, out);
            self.observe(timer);
            for (cancel, timer) in &finished.cancels {
                out.push(Outgoing::Response(Response::ok(cancel)));
                self.observe(*timer);
            }
        }
        if self.running == Some(id) {
            self.running = None;
            self.start_next(out);
        }
    }

    /// The call is over: every request still open ends with 487.
    pub(super) fn end(self, out: &mut Vec<Outgoing>) {
        for finished in &self.in_flight {
            if let Kind::Op(_, timer) = finished.kind {
                out.push(Outgoing::Response(Response::request_terminated(
                    &finished.request,
                )));
                self.observe(timer);
                for (cancel, timer) in &finished.cancels {
                    out.push(Outgoing::Response(Response::ok(cancel)));
                    self.observe(*timer);
                }
            }
        }
        for waiting in &self.queue {
            out.push(Outgoing::Response(Response::request_terminated(
                &waiting.request,
            )));
            self.observe(waiting.timer);
        }
    }

    /// Records the latency of a request answered now.
    fn observe(&self, timer: Timer) {
        let elapsed = Instant::now().saturating_duration_since(timer.since);
        self.times.observe(timer.slot, elapsed);
    }

    /// Starts `request`; `false` when the call refused it at once.
    fn start_in_order(
        &mut self,
        request: Request,
        op: AgentOp,
        timer: Timer,
        out: &mut Vec<Outgoing>,
    ) -> bool {
        let started = self.start(request, &op, timer, out);
        self.running = started;
        started.is_some()
    }

    /// Starts queued requests until one runs or none is left (a request the
    /// call refuses once its turn comes is answered, after its wait, and
    /// the next one goes).
    fn start_next(&mut self, out: &mut Vec<Outgoing>) {
        while self.running.is_none() {
            let Some(Waiting { request, op, timer }) = self.queue.pop_front() else {
                return;
            };
            if !self.start_in_order(request, op, timer, out) {
                self.observe(timer);
            }
        }
    }

    /// Sends `op`'s command to the call; the id it runs under, or `None`
    /// when it was answered at once.
    fn start(
        &mut self,
        request: Request,
        op: &AgentOp,
        timer: Timer,
        out: &mut Vec<Outgoing>,
    ) -> Option<RequestId> {
        let Some(command) = mapping::command(op) else {
            out.push(Outgoing::Response(Response::unknown_op(&request)));
            return None;
        };
        let id = self.send(command, &request, out)?;
        if let Some(provisional) = mapping::provisional(op, &request) {
            out.push(Outgoing::Response(provisional));
        }
        self.in_flight.push(InFlight {
            id,
            request,
            kind: Kind::Op(mapping::audio_format(op), timer),
            cancels: Vec::new(),
        });
        Some(id)
    }

    /// `try_send`s a command, answering `request` 429 or 487 when it cannot go.
    fn send(
        &mut self,
        command: Command,
        request: &Request,
        out: &mut Vec<Outgoing>,
    ) -> Option<RequestId> {
        let id = self.next_request_id();
        match self
            .call
            .commands
            .try_send(call_control::Request { id, command })
        {
            Ok(()) => Some(id),
            Err(TrySendError::Full(_)) => {
                out.push(Outgoing::Response(Response::too_many_requests(request)));
                None
            }
            Err(TrySendError::Closed(_)) => {
                out.push(Outgoing::Response(Response::request_terminated(request)));
                None
            }
        }
    }

    /// `:requestCancel`: its id names the request to cancel. A running one
    /// is stopped (its `Done` answers both); a queued one never starts.
    fn cancel(&mut self, cancel: Request, timer: Timer, out: &mut Vec<Outgoing>) {
        let running = self
            .in_flight
            .iter()
            .position(|f| matches!(f.kind, Kind::Op(..)) && f.request.id == cancel.id);
        if let Some(position) = running {
            let target = self.in_flight[position].id;
            let stopping = !self.in_flight[position].cancels.is_empty();
            if !stopping {
                let Some(stop) = self.send(Command::Stop { target }, &cancel, out) else {
                    return;
                };
                self.in_flight.push(InFlight {
                    id: stop,
                    request: cancel.clone(),
                    kind: Kind::Stop,
                    cancels: Vec::new(),
                });
            }
            self.in_flight[position].cancels.push((cancel, timer));
            return;
        }
        if let Some(position) = self.queue.iter().position(|w| w.request.id == cancel.id) {
            if let Some(waiting) = self.queue.remove(position) {
                out.push(Outgoing::Response(Response::request_terminated(
                    &waiting.request,
                )));
                self.observe(waiting.timer);
            }
            out.push(Outgoing::Response(Response::ok(&cancel)));
            self.observe(timer);
            return;
        }
        out.push(Outgoing::Response(mapping::no_such_request(&cancel)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::metrics::commands::AGENT_OPS;
    use agent_rpc::Play;
    use tokio::sync::mpsc;

    /// Latencies of the tests that do not look at them.
    static UNREAD: AgentTimes = AgentTimes::new(&AGENT_OPS);

    fn dialog(capacity: usize) -> (Dialog, mpsc::Receiver<call_control::Request>) {
        timed_dialog(capacity, &UNREAD)
    }

    fn timed_dialog(
        capacity: usize,
        times: &'static AgentTimes,
    ) -> (Dialog, mpsc::Receiver<call_control::Request>) {
        let (commands, receiver) = mpsc::channel(capacity);
        let call = CallHandle { key: 7, commands };
        (Dialog::new("c__1".into(), call, times), receiver)
    }

    fn agent(id: &str, op: &AgentOp) -> Request {
        op.to_request(id, "c__1")
    }

    fn play() -> AgentOp {
        AgentOp::Play(Play {
            uri: "file://a.wav".into(),
        })
    }

    fn codes(out: &mut Vec<Outgoing>) -> Vec<(String, u16)> {
        out.drain(..)
            .filter_map(|o| match o {
                Outgoing::Response(r) => Some((r.id, r.code)),
                _ => None,
            })
            .collect()
    }

    fn submit(dialog: &mut Dialog, id: &str, op: AgentOp, out: &mut Vec<Outgoing>) {
        dialog.request(agent(id, &op), op, Instant::now(), out);
    }

    #[test]
    fn second_request_waits_for_the_first() {
        let (mut dialog, mut commands) = dialog(8);
        let mut out = Vec::new();
        submit(&mut dialog, "p", play(), &mut out);
        submit(&mut dialog, "a", AgentOp::Answer, &mut out);
        assert_eq!(codes(&mut out), [("p".into(), 183), ("a".into(), 100)]);
        let first = commands.try_recv().expect("play sent");
        assert!(matches!(first.command, Command::Play(_)));
        assert!(commands.try_recv().is_err(), "answer waits");
        dialog.done(first.id, Ok(Output::None), &mut out);
        assert_eq!(codes(&mut out), [("p".into(), 200)]);
        let second = commands.try_recv().expect("answer sent after Done");
        assert_eq!(second.command, Command::Answer { headers: vec![] });
    }

    #[test]
    fn hangup_skips_the_line() {
        let (mut dialog, mut commands) = dialog(8);
        let mut out = Vec::new();
        submit(&mut dialog, "p", play(), &mut out);
        submit(&mut dialog, "h", AgentOp::Hangup, &mut out);
        let _play = commands.try_recv().expect("play");
        let hangup = commands.try_recv().expect("hangup at once");
        assert_eq!(hangup.command, Command::Hangup { headers: vec![] });
        dialog.done(hangup.id, Ok(Output::None), &mut out);
        assert_eq!(codes(&mut out), [("p".into(), 183), ("h".into(), 200)]);
    }

    #[test]
    fn cancel_of_running_request_stops_it() {
        let (mut dialog, mut commands) = dialog(8);
        let mut out = Vec::new();
        submit(&mut dialog, "p", play(), &mut out);
        let play = commands.try_recv().expect("play");
        submit(&mut dialog, "p", AgentOp::RequestCancel, &mut out);
        let stop = commands.try_recv().expect("stop");
        assert_eq!(stop.command, Command::Stop { target: play.id });
        dialog.done(stop.id, Ok(Output::None), &mut out);
        dialog.done(play.id, Err(Failure::Stopped), &mut out);
        let answered: Vec<(u16, String)> = out
            .drain(..)
            .filter_map(|o| match o {
                Outgoing::Response(r) => Some((r.code, r.reason)),
                _ => None,
            })
            .collect();
        assert_eq!(
            answered,
            [
                (183, "Playback In Progress".into()),
                (487, "Request terminated".into()),
                (200, "OK".into())
            ]
        );
    }

    #[test]
    fn cancel_of_queued_request_removes_it() {
        let (mut dialog, mut commands) = dialog(8);
        let mut out = Vec::new();
        submit(&mut dialog, "p", play(), &mut out);
        submit(&mut dialog, "a", AgentOp::Answer, &mut out);
        submit(&mut dialog, "a", AgentOp::RequestCancel, &mut out);
        submit(&mut dialog, "zz", AgentOp::RequestCancel, &mut out);
        assert_eq!(
            codes(&mut out),
            [
                ("p".into(), 183),
                ("a".into(), 100),
                ("a".into(), 487),
                ("a".into(), 200),
                ("zz".into(), 404)
            ]
        );
        let play = commands.try_recv().expect("play");
        dialog.done(play.id, Ok(Output::None), &mut out);
        assert!(
            commands.try_recv().is_err(),
            "cancelled answer never starts"
        );
    }

    #[test]
    fn queue_is_bounded() {
        let (mut dialog, _commands) = dialog(64);
        let mut out = Vec::new();
        submit(&mut dialog, "p", play(), &mut out);
        for i in 0..CALL_REQUEST_QUEUE {
            submit(&mut dialog, &format!("q{i}"), AgentOp::Ring, &mut out);
        }
        out.clear();
        submit(&mut dialog, "over", AgentOp::Ring, &mut out);
        assert_eq!(codes(&mut out), [("over".into(), 429)]);
    }

    #[test]
    fn full_or_gone_call_is_429_or_487() {
        let (mut dialog, commands) = dialog(1);
        let mut out = Vec::new();
        submit(&mut dialog, "h1", AgentOp::Hangup, &mut out);
        submit(&mut dialog, "h2", AgentOp::Hangup, &mut out);
        drop(commands);
        submit(&mut dialog, "h3", AgentOp::Hangup, &mut out);
        assert_eq!(codes(&mut out), [("h2".into(), 429), ("h3".into(), 487)]);
    }

    #[test]
    fn refused_request_lets_the_next_one_start() {
        let (mut dialog, mut commands) = dialog(1);
        let mut out = Vec::new();
        submit(&mut dialog, "p", play(), &mut out);
        submit(&mut dialog, "a", AgentOp::Answer, &mut out);
        submit(&mut dialog, "r", AgentOp::Ring, &mut out);
        let play = commands.try_recv().expect("play");
        // Fill the call's queue so the answer is refused when its turn comes.
        dialog
            .call
            .commands
            .try_send(call_control::Request {
                id: 99,
                command: Command::Echo,
            })
            .expect("room for one");
        out.clear();
        dialog.done(play.id, Ok(Output::None), &mut out);
        assert_eq!(
            codes(&mut out),
            [("p".into(), 200), ("a".into(), 429), ("r".into(), 429)]
        );
    }

    #[test]
    fn end_answers_everything_open() {
        let (mut dialog, _commands) = dialog(8);
        let mut out = Vec::new();
        submit(&mut dialog, "p", play(), &mut out);
        submit(&mut dialog, "a", AgentOp::Answer, &mut out);
        out.clear();
        dialog.end(&mut out);
        assert_eq!(codes(&mut out), [("p".into(), 487), ("a".into(), 487)]);
    }

    #[test]
    fn every_answered_request_is_timed_once_and_refusals_on_arrival_never() {
        static TIMES: AgentTimes = AgentTimes::new(&AGENT_OPS);
        let (mut dialog, mut commands) = timed_dialog(2, &TIMES);
        let mut out = Vec::new();
        submit(&mut dialog, "p", play(), &mut out);
        submit(&mut dialog, "r", AgentOp::Ring, &mut out);
        submit(&mut dialog, "p", AgentOp::RequestCancel, &mut out);
        // The call's queue (2) now holds the play and the stop: refused.
        submit(&mut dialog, "h", AgentOp::Hangup, &mut out);
        let play = commands.try_recv().expect("play");
        let stop = commands.try_recv().expect("stop");
        dialog.done(stop.id, Ok(Output::None), &mut out);
        dialog.done(play.id, Err(Failure::Stopped), &mut out);
        assert_eq!(TIMES.count("play"), 1);
        assert_eq!(TIMES.count(":requestCancel"), 1, "answered with the play");
        assert_eq!(TIMES.count("hangup"), 0, "429 on arrival");
        assert_eq!(TIMES.count("ring"), 0, "started, not yet done");
        dialog.end(&mut out);
        assert_eq!(TIMES.count("ring"), 1, "487 when the call ended");
    }
}
