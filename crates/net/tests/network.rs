//! The network task on 127.0.0.1: trusted nodes connect and exchange requests, strangers are
//! refused, and a trusted node that goes away is redialled when it comes back.

use std::time::{Duration, Instant};

use cairn_net::{NetConfig, NetEvent, NetHandle, Request, Response, TrustedNode, peer_id_of};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

fn public_of(secret: [u8; 32]) -> [u8; 32] {
    let keypair = libp2p_identity::ed25519::Keypair::from(
        libp2p_identity::ed25519::SecretKey::try_from_bytes(secret).unwrap(),
    );
    keypair.public().to_bytes()
}

fn config(listen: &str) -> NetConfig {
    NetConfig {
        listen: vec![listen.to_string()],
        redial_initial_ms: 50,
        redial_max_secs: 1,
        request_timeout_secs: 5,
        ..NetConfig::default()
    }
}

/// Node A (configured with `a_config`, trusting nobody) and a stranger that trusts A and knows
/// its address; both answer everything. A, its PeerId and the stranger.
async fn a_and_a_stranger(
    a_config: NetConfig,
    a_secret: [u8; 32],
    stranger_secret: [u8; 32],
    stop: &CancellationToken,
) -> (
    cairn_net::NetHandle,
    cairn_net::NodeAddress,
    cairn_net::NetHandle,
) {
    let a_id = peer_id_of(&public_of(a_secret)).unwrap();
    let (a, a_events) = cairn_net::spawn(&a_config, a_secret, vec![], stop.clone())
        .await
        .unwrap();
    answer_everything(a_events);
    let a_address = a.listen_addresses().await[0].clone();
    let (stranger, stranger_events) = cairn_net::spawn(
        &config("/ip4/127.0.0.1/tcp/0"),
        stranger_secret,
        vec![TrustedNode {
            node: a_id.clone(),
            addresses: vec![a_address],
        }],
        stop.clone(),
    )
    .await
    .unwrap();
    answer_everything(stranger_events);
    (a, a_id, stranger)
}

/// Answers every request with an acknowledgement until the token is cancelled.
fn answer_everything(mut events: mpsc::Receiver<NetEvent>) {
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            if let NetEvent::Request { reply, .. } = event {
                reply.respond(Response::Ack);
            }
        }
    });
}

async fn wait_connected(handle: &NetHandle, to: &cairn_net::NodeAddress, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if handle.connections().await.iter().any(|c| c.node == *to) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_node_that_comes_back_is_redialled() {
    let (a_secret, b_secret) = ([1u8; 32], [2u8; 32]);
    let a_id = peer_id_of(&public_of(a_secret)).unwrap();
    let b_id = peer_id_of(&public_of(b_secret)).unwrap();

    // B first, on a port the system picks; it does not know where A is.
    let b_stop = CancellationToken::new();
    let (b, b_events) = cairn_net::spawn(
        &config("/ip4/127.0.0.1/tcp/0"),
        b_secret,
        vec![TrustedNode {
            node: a_id.clone(),
            addresses: vec![],
        }],
        b_stop.clone(),
    )
    .await
    .unwrap();
    answer_everything(b_events);
    let b_address = b.listen_addresses().await[0].clone();

    // A knows B's address and dials it.
    let a_stop = CancellationToken::new();
    let (a, a_events) = cairn_net::spawn(
        &config("/ip4/127.0.0.1/tcp/0"),
        a_secret,
        vec![TrustedNode {
            node: b_id.clone(),
            addresses: vec![b_address.clone()],
        }],
        a_stop.clone(),
    )
    .await
    .unwrap();
    answer_everything(a_events);
    assert!(wait_connected(&a, &b_id, Duration::from_secs(10)).await);
    assert_eq!(
        a.request(
            &b_id,
            Request::Notify {
                head: 1,
                again: Vec::new(),
            }
        )
        .await,
        Ok(Response::Ack)
    );

    // B goes away; A notices.
    b_stop.cancel();
    let start = Instant::now();
    while a.connections().await.iter().any(|c| c.node == b_id) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "A did not notice"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // B comes back on the same address: A redials it by itself.
    let b_stop = CancellationToken::new();
    let (b, b_events) = cairn_net::spawn(
        &config(&b_address),
        b_secret,
        vec![TrustedNode {
            node: a_id.clone(),
            addresses: vec![],
        }],
        b_stop.clone(),
    )
    .await
    .unwrap();
    answer_everything(b_events);
    assert!(
        wait_connected(&a, &b_id, Duration::from_secs(10)).await,
        "A did not redial B"
    );
    assert!(wait_connected(&b, &a_id, Duration::from_secs(10)).await);
    b_stop.cancel();
    a_stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_outside_the_trust_list_is_refused_both_ways() {
    let stranger_secret = [4u8; 32];
    let stop = CancellationToken::new();
    // A trusts nobody, and admits no unlisted node.
    let (a, a_id, stranger) = a_and_a_stranger(
        NetConfig {
            max_unlisted_nodes: 0,
            ..config("/ip4/127.0.0.1/tcp/0")
        },
        [3u8; 32],
        stranger_secret,
        &stop,
    )
    .await;
    let answer = stranger
        .request(
            &a_id,
            Request::Notify {
                head: 1,
                again: Vec::new(),
            },
        )
        .await;
    assert!(answer.is_err(), "{answer:?}");
    assert!(a.connections().await.is_empty());
    // A cannot send to a node it does not trust either.
    let stranger_id = peer_id_of(&public_of(stranger_secret)).unwrap();
    assert_eq!(
        a.request(
            &stranger_id,
            Request::Notify {
                head: 1,
                again: Vec::new(),
            }
        )
        .await,
        Err(cairn_net::RequestError::Unreachable)
    );
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_another_node_listens_on_is_an_error_at_start() {
    let stop = CancellationToken::new();
    let (first, events) = cairn_net::spawn(
        &config("/ip4/127.0.0.1/tcp/0"),
        [5u8; 32],
        vec![],
        stop.clone(),
    )
    .await
    .unwrap();
    answer_everything(events);
    let taken = first.listen_addresses().await[0].clone();
    let port = taken
        .rsplit('/')
        .find(|part| part.parse::<u16>().is_ok())
        .unwrap()
        .to_string();
    let second = cairn_net::spawn(
        &config(&format!("/ip4/127.0.0.1/tcp/{port}")),
        [6u8; 32],
        vec![],
        CancellationToken::new(),
    )
    .await;
    let error = match second {
        Ok(_) => panic!("a second node listened on port {port} too"),
        Err(e) => e.to_string(),
    };
    assert!(error.contains(&format!("port {port} is in use")), "{error}");
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unlisted_node_may_only_introduce_itself_and_only_for_a_while() {
    let stop = CancellationToken::new();
    let (a, a_id, stranger) = a_and_a_stranger(
        NetConfig {
            max_unlisted_nodes: 1,
            introduction_secs: 1,
            ..config("/ip4/127.0.0.1/tcp/0")
        },
        [5u8; 32],
        [6u8; 32],
        &stop,
    )
    .await;
    // Anything but an introduction is refused by the network layer itself.
    let answer = stranger
        .request(
            &a_id,
            Request::Notify {
                head: 1,
                again: Vec::new(),
            },
        )
        .await;
    match answer {
        Ok(Response::Refused(reason)) => assert!(reason.contains("introduce yourself"), "{reason}"),
        other => panic!("an unlisted node was answered: {other:?}"),
    }
    // An introduction reaches the node, which decides (here: it acknowledges, and does not
    // trust it).
    let hello = stranger
        .request(
            &a_id,
            Request::Hello {
                certificate: Vec::new(),
                statements: Vec::new(),
                clock_ms: 0,
            },
        )
        .await;
    assert_eq!(hello, Ok(Response::Ack));
    // Not trusted in time: disconnected.
    let start = std::time::Instant::now();
    while !a.connections().await.is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "an unlisted node stayed connected"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_that_keeps_dialling_after_a_refusal_is_refused_before_the_handshake() {
    let stop = CancellationToken::new();
    // A admits no unlisted node: every connection of the stranger is refused past its
    // handshake, until its address is paced.
    let (_a, a_id, stranger) = a_and_a_stranger(
        NetConfig {
            max_unlisted_nodes: 0,
            paced_handshakes_per_second: 2,
            ..config("/ip4/127.0.0.1/tcp/0")
        },
        [3u8; 32],
        [4u8; 32],
        &stop,
    )
    .await;
    // Fifty tries in about a second. A connection refused past its handshake closes under the
    // request; one refused before it never opens.
    let (mut past_handshake, mut before_handshake) = (0, 0);
    let start = Instant::now();
    for _ in 0..50 {
        let answer = stranger
            .request(
                &a_id,
                Request::Notify {
                    head: 1,
                    again: Vec::new(),
                },
            )
            .await;
        match answer {
            Err(cairn_net::RequestError::ConnectionClosed) => past_handshake += 1,
            Err(cairn_net::RequestError::Unreachable) => before_handshake += 1,
            other => panic!("a stranger was answered: {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let seconds = start.elapsed().as_secs_f64();
    // The first refusal, then two a second (the first two at once).
    let most = 3 + (2.0 * seconds).ceil() as usize;
    assert!(
        (1..=most).contains(&past_handshake),
        "{past_handshake} handshakes in {seconds:.1} s (at most {most}), {before_handshake} refused before"
    );
    assert_eq!(past_handshake + before_handshake, 50);
    stop.cancel();
}
