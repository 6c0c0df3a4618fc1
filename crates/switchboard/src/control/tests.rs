//! The offer driver against a scripted pool, in paused virtual time: each
//! policy, fail-over, the offer timeout, late acceptance, everyone gone.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use call_control::CallInfo;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::offer::run;
use super::*;

const TIMEOUT: Duration = Duration::from_secs(5);
const ANSWER: Duration = Duration::from_secs(60);

/// A pool whose invitations land in a test's inbox.
#[derive(Debug)]
struct ScriptedPool {
    terms: OfferTerms,
    live: Mutex<Vec<ControllerId>>,
    rotation: Mutex<Rotation>,
    /// Controllers whose queue is full: the invitation comes back.
    full: Mutex<HashSet<ControllerId>>,
    inbox: mpsc::UnboundedSender<Invitation>,
}

impl ControllerPool for ScriptedPool {
    fn terms(&self) -> OfferTerms {
        self.terms.clone()
    }

    fn candidates(&self) -> Vec<ControllerId> {
        self.live.lock().expect("test lock").clone()
    }

    fn rotate(&self, tried: &[ControllerId]) -> Option<ControllerId> {
        let live = self.candidates();
        let index = self
            .rotation
            .lock()
            .expect("test lock")
            .next(&live, |c| tried.contains(c))?;
        Some(live[index])
    }

    fn invite(&self, controller: ControllerId, invitation: Invitation) -> Result<(), Invitation> {
        if self.full.lock().expect("test lock").contains(&controller) {
            return Err(invitation);
        }
        self.inbox.send(invitation).map_err(|e| e.0)
    }
}

fn scripted(
    policy: OfferPolicy,
    live: &[u64],
) -> (Arc<ScriptedPool>, mpsc::UnboundedReceiver<Invitation>) {
    let (inbox, invitations) = mpsc::unbounded_channel();
    let pool = ScriptedPool {
        terms: OfferTerms {
            policy,
            offer_timeout: Some(TIMEOUT),
            answer_timeout: ANSWER,
        },
        live: Mutex::new(live.iter().copied().map(ControllerId).collect()),
        rotation: Mutex::new(Rotation::default()),
        full: Mutex::new(HashSet::new()),
        inbox,
    };
    (Arc::new(pool), invitations)
}

fn offer_to(pool: &Arc<ScriptedPool>) -> JoinHandle<Offered> {
    let (commands, _) = mpsc::channel(1);
    let offer = Offer {
        endpoint: "bot".into(),
        info: CallInfo::default(),
        call: CallHandle { key: 7, commands },
    };
    let pool = pool.clone();
    tokio::spawn(async move { run(pool.as_ref(), &offer, 480).await })
}

fn sink() -> EventSink {
    let (events, _) = mpsc::channel(1);
    EventSink::new(7, events)
}

async fn next(invitations: &mut mpsc::UnboundedReceiver<Invitation>) -> Invitation {
    invitations.recv().await.expect("an invitation")
}

async fn taken(offer: JoinHandle<Offered>) -> EventSink {
    match offer.await.expect("driver ran") {
        Offered::Taken(sink) => sink,
        other => panic!("not taken: {other:?}"),
    }
}

async fn declined(offer: JoinHandle<Offered>) -> (u16, Option<String>) {
    match offer.await.expect("driver ran") {
        Offered::Declined { code, reason } => (code, reason),
        other => panic!("not declined: {other:?}"),
    }
}

fn ids(list: &[u64]) -> Vec<ControllerId> {
    list.iter().copied().map(ControllerId).collect()
}

#[tokio::test(start_paused = true)]
async fn nobody_available_is_the_no_controller_code() {
    let (pool, _invitations) = scripted(OfferPolicy::RoundRobin, &[]);
    assert_eq!(declined(offer_to(&pool)).await, (480, None));
    let (pool, _invitations) = scripted(OfferPolicy::All, &[]);
    assert_eq!(declined(offer_to(&pool)).await, (480, None));
}

#[tokio::test(start_paused = true)]
async fn round_robin_fails_over_on_busy_and_starts_after_the_last_asked() {
    let (pool, mut invitations) = scripted(OfferPolicy::RoundRobin, &[1, 2, 3]);
    let offer = offer_to(&pool);
    let first = next(&mut invitations).await;
    assert_eq!(first.controller, ControllerId(1));
    first.pass(503, Some("Busy".into()));
    let second = next(&mut invitations).await;
    assert_eq!(second.controller, ControllerId(2));
    let reached = second.take(sink()).expect("still offered");
    assert_eq!(reached, ids(&[1, 2]));
    assert_eq!(taken(offer).await.answer_timeout(), ANSWER, "the pool's");

    let offer = offer_to(&pool);
    let third = next(&mut invitations).await;
    assert_eq!(third.controller, ControllerId(3), "the rotation goes on");
    assert_eq!(third.take(sink()), Ok(ids(&[3])));
    taken(offer).await;
}

#[tokio::test(start_paused = true)]
async fn a_final_refusal_ends_the_search() {
    let (pool, mut invitations) = scripted(OfferPolicy::RoundRobin, &[1, 2]);
    let offer = offer_to(&pool);
    next(&mut invitations)
        .await
        .decline(486, Some("Busy Here".into()));
    assert_eq!(declined(offer).await, (486, Some("Busy Here".into())));
    assert!(invitations.try_recv().is_err(), "nobody else was asked");
}

#[tokio::test(start_paused = true)]
async fn the_timeout_moves_on_and_a_late_take_is_refused() {
    let (pool, mut invitations) = scripted(OfferPolicy::RoundRobin, &[1, 2]);
    let start = Instant::now();
    let offer = offer_to(&pool);
    let slow = next(&mut invitations).await;
    let second = next(&mut invitations).await;
    assert_eq!(
        start.elapsed(),
        TIMEOUT,
        "the next one is asked at the timeout"
    );
    assert!(slow.is_withdrawn());
    assert_eq!(slow.take(sink()), Err(Withdrawn), "late acceptance is told");
    assert_eq!(second.take(sink()), Ok(ids(&[1, 2])));
    taken(offer).await;
}

#[tokio::test(start_paused = true)]
async fn everyone_gone_or_silent_declines_with_the_last_busy_code_or_480() {
    let (pool, mut invitations) = scripted(OfferPolicy::RoundRobin, &[1, 2]);
    let offer = offer_to(&pool);
    drop(next(&mut invitations).await); // went away
    let _silent = next(&mut invitations).await;
    assert_eq!(declined(offer).await, (480, None));

    let (pool, mut invitations) = scripted(OfferPolicy::RoundRobin, &[1, 2]);
    let offer = offer_to(&pool);
    drop(next(&mut invitations).await);
    next(&mut invitations).await.pass(503, None);
    assert_eq!(declined(offer).await, (503, None));
}

#[tokio::test(start_paused = true)]
async fn a_controller_that_cannot_take_invitations_is_skipped() {
    let (pool, mut invitations) = scripted(OfferPolicy::RoundRobin, &[1, 2]);
    pool.full.lock().expect("test lock").insert(ControllerId(1));
    let offer = offer_to(&pool);
    let second = next(&mut invitations).await;
    assert_eq!(second.controller, ControllerId(2));
    second.pass(503, None);
    assert_eq!(declined(offer).await, (503, None));
}

#[tokio::test(start_paused = true)]
async fn first_always_starts_from_the_first_available() {
    let (pool, mut invitations) = scripted(OfferPolicy::First, &[1, 2]);
    for _ in 0..2 {
        let offer = offer_to(&pool);
        let first = next(&mut invitations).await;
        assert_eq!(first.controller, ControllerId(1));
        first.pass(503, None);
        let reached = next(&mut invitations).await.take(sink());
        assert_eq!(reached, Ok(ids(&[1, 2])));
        taken(offer).await;
    }
}

#[tokio::test(start_paused = true)]
async fn random_asks_each_available_controller_once() {
    let (pool, mut invitations) = scripted(OfferPolicy::Random, &[1, 2, 3, 4]);
    let offer = offer_to(&pool);
    let mut asked = Vec::new();
    for _ in 0..4 {
        let invitation = next(&mut invitations).await;
        asked.push(invitation.controller);
        invitation.pass(503, None);
    }
    assert_eq!(declined(offer).await, (503, None));
    asked.sort();
    assert_eq!(asked, ids(&[1, 2, 3, 4]));
}

#[tokio::test(start_paused = true)]
async fn all_asks_everyone_at_once_and_the_first_take_wins() {
    let (pool, mut invitations) = scripted(OfferPolicy::All, &[1, 2, 3]);
    let offer = offer_to(&pool);
    let first = next(&mut invitations).await;
    let second = next(&mut invitations).await;
    let third = next(&mut invitations).await;
    assert_eq!(third.controller, ControllerId(3));
    let reached = second.take(sink());
    assert_eq!(reached, Ok(ids(&[1, 2, 3])), "who else saw the offer");
    // The losers learn it, whether they wait or try to take it late.
    first.withdrawn().await;
    assert_eq!(third.take(sink()), Err(Withdrawn));
    taken(offer).await;
}

#[tokio::test(start_paused = true)]
async fn all_declines_when_everyone_passed_or_the_timeout_passed() {
    let (pool, mut invitations) = scripted(OfferPolicy::All, &[1, 2]);
    let offer = offer_to(&pool);
    drop(next(&mut invitations).await);
    next(&mut invitations).await.pass(503, None);
    assert_eq!(declined(offer).await, (503, None));

    let (pool, mut invitations) = scripted(OfferPolicy::All, &[1, 2]);
    let offer = offer_to(&pool);
    let first = next(&mut invitations).await;
    let _second = next(&mut invitations).await;
    assert_eq!(declined(offer).await, (480, None));
    assert_eq!(first.take(sink()), Err(Withdrawn));
}

#[tokio::test(start_paused = true)]
async fn the_caller_going_away_withdraws_the_offer() {
    let (pool, mut invitations) = scripted(OfferPolicy::All, &[1]);
    let offer = offer_to(&pool);
    let invitation = next(&mut invitations).await;
    assert!(!invitation.is_withdrawn());
    offer.abort();
    invitation.withdrawn().await;
    assert_eq!(invitation.take(sink()), Err(Withdrawn));
}

#[test]
fn rotation_survives_removal() {
    let mut rotation = Rotation::default();
    let mut live = vec![1, 2, 3];
    let none = |_: &u64| false;
    assert_eq!(rotation.next(&live, none), Some(0));
    assert_eq!(rotation.next(&live, none), Some(1));
    live.remove(0);
    rotation.removed(0);
    assert_eq!(rotation.next(&live, none).map(|i| live[i]), Some(3));
    assert_eq!(rotation.next(&live, |&c| c == 2), Some(1));
    assert_eq!(rotation.next(&live, |_| true), None);
}

#[tokio::test(start_paused = true)]
async fn the_registry_offers_through_the_endpoint_pool_or_declines_with_its_code() {
    let yaml = "endpoints:\n  bot: { match: { type: agent } }\n  \
                app: { match: { type: rayo }, no_controller_code: 503 }\n";
    let config = crate::config::Config::from_yaml(yaml, "t.yaml").expect("valid config");
    let (pool, mut invitations) = scripted(OfferPolicy::All, &[1]);
    let mut controllers = Controllers::new(&config);
    controllers.register(ControllerKind::Agent, |_| {
        pool.clone() as Arc<dyn ControllerPool>
    });
    let offer = |endpoint: &str| {
        let (commands, _) = mpsc::channel(1);
        tokio::spawn(controllers.offer(Offer {
            endpoint: endpoint.into(),
            info: CallInfo::default(),
            call: CallHandle { key: 7, commands },
        }))
    };
    let to_bot = offer("bot");
    next(&mut invitations).await.take(sink()).expect("offered");
    taken(to_bot).await;
    assert_eq!(
        declined(offer("app")).await,
        (503, None),
        "no Rayo pool yet"
    );
}
