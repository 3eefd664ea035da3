//! A trusted partner turned hostile, built from Cairn's own network crate: it answers the
//! node's pulls with numbers that cannot be right and announces arrivals it does not have. The
//! node must neither pull for ever nor let such an answer move its position for good.

use std::time::{Duration, Instant};

use cairn_net::{NetEvent, Page, Request, Responder, Response};
use cairn_tests::federation::{Federation, up_to};
use rand::SeedableRng;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const VICTIM: usize = 0;
const ATTACKER: usize = 1;

/// The attacker's side: its network task and what it receives.
struct Attacker {
    net: cairn_net::NetHandle,
    events: mpsc::Receiver<NetEvent>,
    certificate: Vec<u8>,
    victim: cairn_net::NodeAddress,
    /// The clock it says it reads in its introductions (ms; 0: not said).
    clock_ms: i64,
}

impl Attacker {
    /// Waits for the victim's next pull (answering introductions meanwhile); `None` if none
    /// comes within `limit`.
    async fn next_pull(&mut self, limit: Duration) -> Option<(u64, Responder)> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let event = tokio::time::timeout_at(deadline, self.events.recv())
                .await
                .ok()??;
            match event {
                NetEvent::Connected(_) => {
                    // Introduce ourselves too, as a real node does.
                    let net = self.net.clone();
                    let (victim, certificate) = (self.victim.clone(), self.certificate.clone());
                    let clock_ms = self.clock_ms;
                    tokio::spawn(async move {
                        // No key statements: a node of a Cairn from before them.
                        let hello = Request::Hello {
                            certificate,
                            statements: Vec::new(),
                            clock_ms,
                        };
                        let _ = net.request(&victim, hello).await;
                    });
                }
                NetEvent::Request { request, reply, .. } => match request {
                    Request::Hello { .. } => reply.respond(Response::Hello {
                        certificate: self.certificate.clone(),
                        statements: Vec::new(),
                        clock_ms: self.clock_ms,
                    }),
                    Request::Statements { .. } => reply.respond(Response::Ack),
                    Request::Pull { after, .. } => return Some((after, reply)),
                    Request::Notify { .. } => reply.respond(Response::Ack),
                    Request::Fetch { .. } => reply.respond(Response::Fetched(None)),
                },
                _ => {}
            }
        }
    }

    /// Counts the victim's pulls during `window`, answering each with `page(after)`.
    async fn count_pulls(&mut self, window: Duration, page: impl Fn(u64) -> Page) -> usize {
        let end = Instant::now() + window;
        let mut pulls = 0;
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            let Some((after, reply)) = self.next_pull(left).await else {
                break;
            };
            pulls += 1;
            reply.respond(Response::Page(page(after)));
        }
        pulls
    }

    async fn notify(&self, head: u64) {
        let answer = self
            .net
            .request(
                &self.victim,
                Request::Notify {
                    head,
                    again: Vec::new(),
                },
            )
            .await;
        assert!(matches!(answer, Ok(Response::Ack)), "{answer:?}");
    }
}

fn page(through: u64, more: bool, head: u64) -> Page {
    Page {
        reports: Vec::new(),
        through,
        more,
        head,
    }
}

/// Starts the victim's node and the attacker's network task, trusted by the victim.
async fn setup() -> (Federation, Attacker, CancellationToken) {
    let mut fed = Federation::new(&["victim", "attacker"], 12);
    fed.trust(
        VICTIM,
        ATTACKER,
        up_to(cairn_core::Tlp::Red),
        up_to(cairn_core::Tlp::Red),
    );
    let stop = CancellationToken::new();
    let victim = fed.members[VICTIM].peer_id.clone();
    let (net, events) = fed
        .start_network_only(ATTACKER, &[VICTIM], stop.clone())
        .await;
    fed.start(VICTIM).await;
    let attacker = Attacker {
        net,
        events,
        certificate: fed.members[ATTACKER].certificate.to_bytes().to_vec(),
        victim,
        clock_ms: 0,
    };
    (fed, attacker, stop)
}

async fn status(fed: &Federation) -> cairn_node::PeerStatus {
    let peers = fed.node(VICTIM).peers().await.expect("peers");
    peers
        .into_iter()
        .find(|p| p.peer_id == fed.members[ATTACKER].peer_id.to_string())
        .expect("the attacker is listed")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn false_announcements_and_stalled_pages_do_not_make_the_node_pull_for_ever() {
    let (fed, mut attacker, stop) = setup().await;
    // The first pull, on connecting: nothing yet.
    let (after, reply) = attacker
        .next_pull(Duration::from_secs(20))
        .await
        .expect("the node pulls on connecting");
    assert_eq!(after, 0);
    reply.respond(Response::Page(page(0, false, 0)));

    // "I have reports up to 2^64 - 1", then pages that hold nothing and end at 0.
    attacker.notify(u64::MAX).await;
    let pulls = attacker
        .count_pulls(Duration::from_secs(3), |_| page(0, false, 0))
        .await;
    assert!(
        pulls <= 3,
        "{pulls} pulls in 3 s after a false announcement"
    );
    let seen = status(&fed).await;
    assert!(seen.behind() < 10, "behind = {}", seen.behind());
    let problem = seen.last_error.unwrap_or_default();
    assert!(problem.contains("announced"), "{problem}");

    // Pages that say more follow but move nothing.
    attacker.notify(7).await;
    let pulls = attacker
        .count_pulls(Duration::from_secs(3), |after| page(after, true, 100))
        .await;
    assert!(
        pulls <= 4,
        "{pulls} pulls in 3 s of pages that move nothing"
    );
    let problem = status(&fed).await.last_error.unwrap_or_default();
    assert!(problem.contains("says more follow"), "{problem}");
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_whose_clock_is_hours_off_is_shown_with_the_skew() {
    let (fed, mut attacker, stop) = setup().await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    attacker.clock_ms = now + 3 * 3_600_000 + 30 * 60_000 + 30_000;
    // Its introductions say its clock; the node still serves it, and says what is wrong.
    let (_, reply) = attacker
        .next_pull(Duration::from_secs(20))
        .await
        .expect("the node pulls on connecting");
    reply.respond(Response::Page(page(0, false, 0)));
    let start = Instant::now();
    loop {
        let problem = status(&fed).await.last_error.unwrap_or_default();
        if problem.starts_with("clock skew: its clock is 3 h 30 min ahead of this node's") {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{problem:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(status(&fed).await.connected);
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_cannot_move_the_position_for_good() {
    let (fed, mut attacker, stop) = setup().await;
    let attacker_node = fed.members[ATTACKER].peer_id.clone();
    let (_, reply) = attacker
        .next_pull(Duration::from_secs(20))
        .await
        .expect("the node pulls on connecting");
    // A page that claims to cover a million arrivals at once is refused.
    reply.respond(Response::Page(page(1_000_000, false, 1_000_000)));
    let (after, reply) = attacker
        .next_pull(Duration::from_secs(10))
        .await
        .expect("the node pulls again after backing off");
    assert_eq!(after, 0, "the refused page did not move the position");
    // A page within bounds moves it.
    reply.respond(Response::Page(page(5_000, false, 5_000)));
    let start = Instant::now();
    while status(&fed).await.cursor != 5_000 {
        assert!(start.elapsed() < Duration::from_secs(10), "not stored");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Later the partner's newest arrival is below our position (its store was replaced, or
    // the earlier answer was false): the node starts again from its first report.
    attacker.notify(6_000).await;
    let (after, reply) = attacker
        .next_pull(Duration::from_secs(10))
        .await
        .expect("announced: pulled");
    assert_eq!(after, 5_000);
    reply.respond(Response::Page(page(5_000, false, 10)));
    let (after, reply) = attacker
        .next_pull(Duration::from_secs(10))
        .await
        .expect("pulled from the start");
    assert_eq!(after, 0);
    reply.respond(Response::Page(page(10, false, 10)));
    let start = Instant::now();
    while status(&fed).await.cursor != 10 {
        assert!(start.elapsed() < Duration::from_secs(10), "not caught up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        status(&fed)
            .await
            .last_error
            .unwrap_or_default()
            .contains("catching up again"),
    );

    // The operator can ask for the same at any time.
    let was = fed
        .node(VICTIM)
        .catch_up_again(attacker_node.clone())
        .await
        .expect("a partner node");
    assert_eq!(was, 10);
    let (after, reply) = attacker
        .next_pull(Duration::from_secs(10))
        .await
        .expect("pulled from the start");
    assert_eq!(after, 0);
    reply.respond(Response::Page(page(10, false, 10)));
    let stranger_key = cairn_core::NodeKey::generate(&mut rand::rngs::StdRng::seed_from_u64(99));
    let stranger = cairn_net::peer_id_of(&stranger_key.public_bytes()).expect("a node key");
    let refused = fed.node(VICTIM).catch_up_again(stranger).await;
    assert!(
        matches!(refused, Err(cairn_node::NodeError::UnknownNode(_))),
        "{refused:?}"
    );
    stop.cancel();
}

/// Keeps `count` connections that never say anything open to `port` on [::1], opening a new
/// one as soon as the node closes one, until `stop`.
fn hold_idle_connections(
    port: u16,
    count: usize,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    use std::io::Read;
    let mut open: Vec<std::net::TcpStream> = Vec::new();
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        open.retain_mut(|s| {
            let _ = s.set_nonblocking(true);
            let mut byte = [0u8; 1];
            !matches!(s.read(&mut byte), Ok(0))
        });
        while open.len() < count {
            match std::net::TcpStream::connect(("::1", port)) {
                Ok(s) => open.push(s),
                Err(_) => break,
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_from_one_address_cannot_keep_a_partner_out() {
    if std::net::TcpListener::bind(("::1", 0)).is_err() {
        eprintln!("no IPv6 loopback on this machine: the attacker needs an address of its own");
        return;
    }
    let mut fed = Federation::new(&["cert", "bank"], 13);
    fed.trust(
        0,
        1,
        up_to(cairn_core::Tlp::Red),
        up_to(cairn_core::Tlp::Red),
    );
    fed.handshake_timeout_secs = 2;
    fed.members[0].also_listen = vec!["/ip6/::1/tcp/0".into()];
    let cert = fed.start(0).await;
    let port: u16 = cert
        .listen_addresses()
        .iter()
        .find(|a| a.starts_with("/ip6/"))
        .and_then(|a| a.rsplit('/').next()?.parse().ok())
        .expect("listening on [::1]");
    // From [::1], more idle connections than the node has handshake slots, re-opened as fast
    // as the node closes them, for the whole test; the bank dials from 127.0.0.1.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let attacker = std::thread::spawn({
        let stop = stop.clone();
        move || hold_idle_connections(port, 64, stop)
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    fed.start(1).await;
    // Without a limit per address, the attacker's connections fill every handshake slot and
    // the bank gets in only by luck, tens of seconds later.
    fed.wait_connected(Duration::from_secs(10)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    attacker.join().expect("the attacker thread");
    fed.stop(1).await;
    fed.stop(0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_partner_is_refused_and_reported() {
    let (fed, mut attacker, stop) = setup().await;
    let (_, reply) = attacker
        .next_pull(Duration::from_secs(20))
        .await
        .expect("the node pulls on connecting");
    reply.respond(Response::Page(page(0, false, 0)));
    // Notifications as fast as it can send them: 16 loops, each sending the next as soon as
    // the last is answered.
    let loops: Vec<_> = (0..16)
        .map(|_| {
            let net = attacker.net.clone();
            let victim = attacker.victim.clone();
            tokio::spawn(async move {
                let (mut acked, mut limited) = (0u32, 0u32);
                for _ in 0..200 {
                    match net
                        .request(
                            &victim,
                            Request::Notify {
                                head: 0,
                                again: Vec::new(),
                            },
                        )
                        .await
                    {
                        Ok(Response::Ack) => acked += 1,
                        Ok(Response::Refused(why)) if why.contains("rate-limited") => limited += 1,
                        // Disconnected: held off.
                        _ => break,
                    }
                }
                (acked, limited)
            })
        })
        .collect();
    let (mut acked, mut limited) = (0, 0);
    for one in loops {
        let (a, l) = one.await.expect("the task");
        acked += a;
        limited += l;
    }
    assert!(acked >= 100, "the first ones are served ({acked})");
    // Each loop has one request in flight: its answer may be cut off by the disconnection.
    let hold_off_after = cairn_net::rate::RateLimit::default().hold_off_after;
    assert!(
        u64::from(limited) + 16 >= hold_off_after,
        "the flood is refused ({acked} served, {limited} refused)"
    );
    // It went on after that many refusals: disconnected and held off.
    let problem = status(&fed).await.last_error.unwrap_or_default();
    assert!(
        problem.contains("refusals: disconnected for 30 s"),
        "{problem}"
    );
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_sent_at_once_are_served_in_turn() {
    let (mut fed, mut attacker, stop) = setup().await;
    let (_, reply) = attacker
        .next_pull(Duration::from_secs(20))
        .await
        .expect("the node pulls on connecting");
    reply.respond(Response::Page(page(0, false, 0)));
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut ids = Vec::new();
    for n in 0..4u64 {
        let mut draft = cairn_core::sample::indicator_report(&mut rng, n);
        draft.tlp = Some(cairn_core::Tlp::Green);
        ids.push(fed.publish_draft(VICTIM, &draft).await.id());
    }
    // As many fetches at once as a node may have admitted: one is served, the others wait
    // their turn, and every one is answered with its report.
    let fetches: Vec<_> = ids
        .iter()
        .map(|id| {
            let (net, victim, id) = (attacker.net.clone(), attacker.victim.clone(), *id);
            tokio::spawn(async move {
                let answer = net
                    .request(
                        &victim,
                        Request::Fetch {
                            report_id: *id.as_bytes(),
                        },
                    )
                    .await;
                (id, answer)
            })
        })
        .collect();
    for fetch in fetches {
        let (id, answer) = fetch.await.expect("the task");
        match answer {
            Ok(Response::Fetched(Some(passed))) => {
                let report = cairn_core::verify(&passed.envelope).expect("a signed report");
                assert_eq!(report.id(), id);
            }
            other => panic!("fetch of {id} answered {other:?}"),
        }
    }
    stop.cancel();
}
