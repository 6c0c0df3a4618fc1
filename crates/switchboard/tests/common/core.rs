//! The server's core assembled in process (transports, SIP driver, pacer,
//! call context) with a test controller pool, for tests of call-control
//! features no adapter exposes yet (`dial_join.rs`, `pause_resume.rs`).
#![allow(dead_code)] // each test binary uses its own part

use std::net::SocketAddr;
use std::sync::{mpsc as std_mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use call_control::{Command, DialRequest, Event, Failure, Output, Request};
use switchboard::calls::{CallContext, CallKey, DialError, SIP_COMMAND_QUEUE};
use switchboard::config::{Config, TransportProtocol};
use switchboard::control::{
    CallHandle, ControllerId, ControllerKind, ControllerPool, Controllers, EventSink, Invitation,
    OfferPolicy, OfferTerms,
};
use switchboard::driver::Driver;
use switchboard::media::pacer::{Pacer, PacerConfig};
use switchboard::transport::Transports;
use testkit::ports::free_port;
use tokio::runtime::Runtime;
use tokio::sync::mpsc;

/// How long a test waits for an offer or an event.
pub const WAIT: Duration = Duration::from_secs(3);

/// Takes every offered call for the test.
#[derive(Debug)]
pub struct TestPool {
    pub invitations: Mutex<std_mpsc::Sender<Invitation>>,
}

impl ControllerPool for TestPool {
    fn terms(&self) -> OfferTerms {
        OfferTerms {
            policy: OfferPolicy::First,
            offer_timeout: None,
            answer_timeout: Duration::from_secs(30),
        }
    }

    fn candidates(&self) -> Vec<ControllerId> {
        vec![ControllerId(1)]
    }

    fn invite(&self, _: ControllerId, invitation: Invitation) -> Result<(), Invitation> {
        let sender = self.invitations.lock().unwrap_or_else(|p| p.into_inner());
        sender.send(invitation).map_err(|e| e.0)
    }
}

/// The server's core in process, and the test's controller.
pub struct Core {
    pub rt: Runtime,
    pub ctx: Arc<CallContext>,
    pub sip: SocketAddr,
    pub invitations: std_mpsc::Receiver<Invitation>,
    pub events_tx: mpsc::Sender<(CallKey, Event)>,
    pub events: mpsc::Receiver<(CallKey, Event)>,
    /// Events of other calls read while waiting for one call's.
    pub pending: Vec<(CallKey, Event)>,
    pub next_request: u64,
    _pacer: Pacer,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Core {
    /// A core on a free SIP port whose config is `yaml(sip_port,
    /// first_rtp_port)`, with `rtp_ports` free ports from that one up.
    /// A core that offers every call from 127.0.0.0/8 to the test, with 20
    /// RTP ports, prompts from `dir` and recordings into `dir/rec`.
    pub fn with_media_dir(dir: &std::path::Path) -> Core {
        Core::start(20, |port, rtp| {
            format!(
                r#"
transports:
  udp: {{ transport: udp, bind: 127.0.0.1, port: {port} }}
endpoints:
  local:
    match: {{ type: ip, values: ["127.0.0.0/8"] }}
    route: incoming
  app: {{ match: {{ type: agent }} }}
routes:
  incoming:
    - {{ id: "", match: any, endpoint: app }}
media:
  rtp_ports: {rtp}-{rtp_end}
  playback_dir: {dir}
  recordings_dir: {dir}/rec
agent_rpc:
  listen: 127.0.0.1:0
http:
  listen: 127.0.0.1:0
"#,
                rtp_end = rtp + 19,
                dir = dir.display(),
            )
        })
    }

    /// A core that offers every call from 127.0.0.0/8 to the test, with
    /// 200 RTP ports, and whose `default` route context (the one dials
    /// use) sends `5…` (stripped, with `X-Route: five`) to `far` and
    /// answers `4…` with 403.
    pub fn with_far_end(far: SocketAddr) -> Core {
        Core::start(200, |port, rtp| {
            format!(
                r#"
transports:
  udp: {{ transport: udp, bind: 127.0.0.1, port: {port} }}
endpoints:
  local:
    match: {{ type: ip, values: ["127.0.0.0/8"] }}
    route: incoming
  app: {{ match: {{ type: agent }} }}
  far: {{ uri: "sip:{far}" }}
routes:
  incoming:
    - {{ id: "", match: any, endpoint: app }}
  default:
    - {{ id: "5", match: prefix, endpoint: far, strip_prefix: true, sip_headers: {{ X-Route: five }} }}
    - {{ id: "4", match: prefix, hangup: {{ code: 403 }} }}
media:
  rtp_ports: {rtp}-{rtp_end}
agent_rpc:
  listen: 127.0.0.1:0
http:
  listen: 127.0.0.1:0
"#,
                rtp_end = rtp + 199,
            )
        })
    }

    pub fn start(rtp_ports: u16, yaml: impl FnOnce(u16, u16) -> String) -> Core {
        let port = free_port();
        let rtp = testkit::ports::free_ports(rtp_ports);
        let yaml = yaml(port, rtp);
        let config = Config::from_yaml(&yaml, "core.yaml").expect("valid test config");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let (invitations_tx, invitations) = std_mpsc::channel();
        let pool: Arc<dyn ControllerPool> = Arc::new(TestPool {
            invitations: Mutex::new(invitations_tx),
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ctx, pacer) = rt.block_on(async {
            let (tx, rx) = mpsc::channel(1024);
            let (failures_tx, failures_rx) = mpsc::channel(1024);
            let udp: Vec<(String, SocketAddr)> = config
                .transports
                .values()
                .filter(|t| t.protocol == TransportProtocol::Udp)
                .map(|t| (t.name.clone(), t.listen_addr()))
                .collect();
            let transports = Transports::bind(&udp, &[], (&config.sip).into(), tx, failures_tx)
                .await
                .expect("bind SIP");
            let stack = sip_stack::SipStack::new(switchboard::server::stack_config(&config));
            let admission = switchboard::admission::Admission::new(&config, Instant::now());
            let (commands_tx, commands_rx) = mpsc::channel(SIP_COMMAND_QUEUE);
            let pacer = Pacer::start(PacerConfig::default()).expect("pacer");
            let mut controllers = Controllers::new(&config);
            controllers.register(ControllerKind::Agent, |_| pool.clone());
            let ctx = Arc::new(
                switchboard::server::call_context(
                    &config,
                    commands_tx,
                    controllers,
                    pacer.handle(),
                )
                .expect("call context"),
            );
            let driver = Driver::new(
                stack,
                admission,
                transports,
                rx,
                failures_rx,
                commands_rx,
                ctx.clone(),
                Duration::ZERO,
            );
            tokio::spawn(driver.run(async move {
                let _ = stopped.await;
            }));
            (ctx, pacer)
        });
        let (events_tx, events) = mpsc::channel(4096);
        Core {
            rt,
            ctx,
            sip: SocketAddr::from(([127, 0, 0, 1], port)),
            invitations,
            events_tx,
            events,
            pending: Vec::new(),
            next_request: 1,
            _pacer: pacer,
            _stop: stop,
        }
    }

    pub fn dial(&mut self, request: DialRequest) -> Result<(Arc<str>, CallHandle), DialError> {
        let ctx = self.ctx.clone();
        let events = self.events_tx.clone();
        self.rt
            .block_on(async move { ctx.dial(request, events, "default").await })
            .map(|d| (d.id, d.handle))
    }

    /// Takes the next offered call; its events come to the test.
    pub fn take_offer(&mut self) -> CallHandle {
        let invitation = self.invitations.recv_timeout(WAIT).expect("an offer");
        let call = invitation.call.clone();
        let sink = EventSink::new(call.key, self.events_tx.clone());
        invitation.take(sink).expect("the offer stands");
        call
    }

    /// Sends `command` to `call`; returns the request id.
    pub fn command(&mut self, call: &CallHandle, command: Command) -> u64 {
        let id = self.next_request;
        self.next_request += 1;
        call.commands
            .try_send(Request { id, command })
            .expect("the call takes commands");
        id
    }

    /// The next event of `call`.
    pub fn event(&mut self, call: CallKey) -> Event {
        if let Some(i) = self.pending.iter().position(|(k, _)| *k == call) {
            return self.pending.remove(i).1;
        }
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let events = &mut self.events;
            let next = self
                .rt
                .block_on(async { tokio::time::timeout_at(deadline, events.recv()).await });
            match next {
                Ok(Some((key, event))) if key == call => return event,
                Ok(Some(other)) => self.pending.push(other),
                _ => panic!("no event from call {call} in time"),
            }
        }
    }

    /// The result of request `id` on `call`, skipping `skip`-matching events.
    pub fn done(&mut self, call: CallKey, id: u64) -> Result<Output, Failure> {
        loop {
            match self.event(call) {
                Event::Done { id: done, result } if done == id => return result,
                Event::Done { id: other, .. } => panic!("Done for {other}, not {id}"),
                _ => {}
            }
        }
    }
}
