//! Notifications to partner nodes, paced as plain code with no I/O: a partner node gets at most
//! [`Pace::per_second`] notices a second after a first [`Pace::burst`], so that a node
//! publishing as fast as its store takes reports stays well inside the request budget its
//! partners grant it (`[network.rate_limit]`, 200 a second by default) and is never refused or
//! held off by them. News that comes while a node's notices wait for their turn is gathered
//! into its next notice (the newest head, every report offered again): nothing is lost, and a
//! report published on a quiet link is announced at once.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use cairn_net::rate::TokenBucket;
use cairn_net::{MAX_OFFERED, Offered};

/// How fast notices may go to one partner node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    /// Notices that may go at once after a quiet spell.
    pub burst: u32,
    /// Notices a second after that.
    pub per_second: u32,
}

impl Default for Pace {
    /// Half the request budget a partner grants by default (`burst` 400, `per_second` 200),
    /// leaving the rest for pulls, fetches and introductions.
    fn default() -> Self {
        Pace {
            burst: 100,
            per_second: 100,
        }
    }
}

/// Most reports offered again waiting for one partner node; beyond, the oldest are dropped
/// (the partner would drop them too: it queues at most 256) and the next poll finds nothing
/// missing, since they are reports it holds already.
pub const MAX_OFFERS_WAITING: usize = 1024;

/// A notice to send now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice<N> {
    /// To which node.
    pub node: N,
    /// Our newest arrival number.
    pub head: u64,
    /// Reports offered again (at most [`MAX_OFFERED`]).
    pub again: Vec<Offered>,
}

/// What waits for one node.
#[derive(Debug)]
struct Link {
    /// Notices it may be sent.
    bucket: TokenBucket,
    /// Our newest head.
    head: u64,
    /// Whether there is news for the node since its last notice. A notice with a head the
    /// node heard before is news too: an embargo ended, and its pulls stopped short of it.
    news: bool,
    /// Reports offered again, not yet sent.
    again: VecDeque<Offered>,
}

impl Link {
    fn new(pace: Pace, now: Duration) -> Link {
        Link {
            bucket: TokenBucket::new(pace.burst, pace.per_second, now),
            head: 0,
            news: false,
            again: VecDeque::new(),
        }
    }

    fn waiting(&self) -> bool {
        self.news || !self.again.is_empty()
    }
}

/// The notices waiting for each partner node.
#[derive(Debug)]
pub struct Notices<N> {
    pace: Pace,
    /// In order of node, so that what is due goes out in the same order in every run (the
    /// federation simulator replays runs exactly).
    links: BTreeMap<N, Link>,
}

impl<N: Clone + Ord> Default for Notices<N> {
    fn default() -> Self {
        Notices::new(Pace::default())
    }
}

impl<N: Clone + Ord> Notices<N> {
    /// No notices yet, paced by `pace`.
    pub fn new(pace: Pace) -> Notices<N> {
        Notices {
            pace,
            links: BTreeMap::new(),
        }
    }

    /// Our head moved to `head`, or we offer reports again (`again`): the notice for `node`
    /// carries them. Returns the notice if it may go now.
    pub fn news(
        &mut self,
        node: &N,
        head: u64,
        again: Vec<Offered>,
        now: Duration,
    ) -> Option<Notice<N>> {
        let pace = self.pace;
        let link = self
            .links
            .entry(node.clone())
            .or_insert_with(|| Link::new(pace, now));
        link.head = link.head.max(head);
        link.news = true;
        for offered in again {
            link.again.retain(|o| o.report_id != offered.report_id);
            link.again.push_back(offered);
        }
        while link.again.len() > MAX_OFFERS_WAITING {
            link.again.pop_front();
        }
        self.ready(node, now)
    }

    /// The node disconnected: what waited for it is dropped (it hears our head when it
    /// connects again and pulls).
    pub fn forget(&mut self, node: &N) {
        self.links.remove(node);
    }

    /// The notices whose turn has come by `now`.
    pub fn due(&mut self, now: Duration) -> Vec<Notice<N>> {
        let nodes: Vec<N> = self
            .links
            .iter()
            .filter(|(_, link)| link.waiting())
            .map(|(node, _)| node.clone())
            .collect();
        nodes
            .iter()
            .filter_map(|node| self.ready(node, now))
            .collect()
    }

    /// When the next waiting notice may go (for a timer); `None` when nothing waits.
    pub fn next_due(&self) -> Option<Duration> {
        self.links
            .values()
            .filter(|link| link.waiting())
            .map(|link| link.bucket.next_token_at())
            .min()
    }

    /// How many nodes have news waiting for their turn.
    pub fn waiting(&self) -> usize {
        self.links.values().filter(|link| link.waiting()).count()
    }

    fn ready(&mut self, node: &N, now: Duration) -> Option<Notice<N>> {
        let link = self.links.get_mut(node)?;
        if !link.waiting() || !link.bucket.take(now) {
            return None;
        }
        let take = link.again.len().min(MAX_OFFERED);
        let again: Vec<Offered> = link.again.drain(..take).collect();
        // Our newest head goes with every notice; offers left over go with the next.
        link.news = false;
        Some(Notice {
            node: node.clone(),
            head: link.head,
            again,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn pace(burst: u32, per_second: u32) -> Pace {
        Pace { burst, per_second }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn offer(n: u8) -> Offered {
        Offered {
            report_id: [n; 32],
            hop: 0,
            disclosures: 0,
        }
    }

    #[test]
    fn news_goes_at_once_while_the_burst_lasts_and_each_node_has_its_own() {
        let pace = pace(2, 100);
        let mut notices = Notices::new(pace);
        let sent = notices.news(&"a", 5, vec![], ms(0)).expect("at once");
        assert_eq!((sent.head, sent.again.len()), (5, 0));
        assert!(notices.news(&"a", 6, vec![], ms(1)).is_some());
        assert_eq!(
            notices.news(&"a", 7, vec![offer(1)], ms(2)),
            None,
            "burst spent"
        );
        assert_eq!(notices.news(&"a", 8, vec![], ms(3)), None);
        // Another node is not held up by the first.
        assert!(notices.news(&"b", 8, vec![], ms(3)).is_some());
        assert_eq!(notices.waiting(), 1);
        let next = notices.due(ms(12));
        assert_eq!(
            next.len(),
            1,
            "a token is back 10 ms after the burst was spent"
        );
        assert_eq!(
            next[0].head, 8,
            "everything that came meanwhile, in one notice"
        );
        assert_eq!(next[0].again, vec![offer(1)]);
        assert!(notices.due(ms(100)).is_empty(), "nothing left");
        assert_eq!(notices.next_due(), None);
    }

    #[test]
    fn past_the_burst_notices_go_at_the_sustained_rate_and_a_timer_says_when() {
        let pace = pace(3, 100);
        let mut notices = Notices::new(pace);
        for head in 1..=3 {
            assert!(notices.news(&"a", head, vec![], ms(0)).is_some());
        }
        assert_eq!(
            notices.news(&"a", 4, vec![], ms(0)),
            None,
            "the burst is spent"
        );
        assert_eq!(notices.next_due(), Some(ms(10) + Duration::from_micros(1)));
        assert!(notices.due(ms(9)).is_empty());
        let due = notices.due(ms(10));
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].head, 4);
    }

    #[test]
    fn offers_go_64_at_a_time_once_each_and_the_oldest_go_when_too_many_wait() {
        let one = pace(1, 100);
        let mut notices = Notices::new(one);
        notices.news(&"a", 1, vec![], ms(0));
        let many: Vec<Offered> = (0..100u8).map(offer).collect();
        notices.news(&"a", 1, many.clone(), ms(1));
        notices.news(&"a", 1, vec![offer(3)], ms(1));
        let first = notices.due(ms(10)).pop().unwrap();
        assert_eq!(first.again.len(), MAX_OFFERED);
        let second = notices.due(ms(20)).pop().unwrap();
        assert_eq!(second.again.len(), 100 - MAX_OFFERED);
        assert_eq!(
            second.again.last(),
            Some(&offer(3)),
            "offered again: once, last"
        );
        assert_eq!(
            second.head, 1,
            "the same head: the partner ignores a head it passed"
        );

        let mut notices = Notices::new(one);
        notices.news(&"a", 1, vec![], ms(0));
        let lots: Vec<Offered> = (0..MAX_OFFERS_WAITING as u32 + 10)
            .map(|n| Offered {
                report_id: {
                    let mut id = [0u8; 32];
                    id[..4].copy_from_slice(&n.to_be_bytes());
                    id
                },
                hop: 0,
                disclosures: 0,
            })
            .collect();
        notices.news(&"a", 1, lots.clone(), ms(1));
        let next = notices.due(ms(10)).pop().unwrap();
        assert_eq!(next.again[0], lots[10], "the oldest ten were dropped");
    }

    /// Random news and timer runs against what must hold: never more notices in any span than
    /// the pace allows, and once news stops and the timer has run, each node was last told the
    /// newest head it had news of, after its last news (news with a head it heard before
    /// included: an embargo ended), and every offer went exactly once.
    #[test]
    fn randomized_against_the_pace_and_what_each_node_must_hear() {
        let pace = pace(5, 50);
        for seed in 0..300u64 {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut notices: Notices<u8> = Notices::new(pace);
            let mut now = Duration::ZERO;
            let mut head = 0u64;
            let mut sent_at: HashMap<u8, Vec<Duration>> = HashMap::new();
            let mut told: HashMap<u8, u64> = HashMap::new();
            let mut newest: HashMap<u8, u64> = HashMap::new();
            let mut offers_sent: HashMap<u8, Vec<[u8; 32]>> = HashMap::new();
            let mut offers_made: HashMap<u8, Vec<[u8; 32]>> = HashMap::new();
            let mut next_offer = 0u8;
            let mut news_at: HashMap<u8, Duration> = HashMap::new();
            let mut record = |notice: Notice<u8>, now: Duration| {
                sent_at.entry(notice.node).or_default().push(now);
                let t = told.entry(notice.node).or_default();
                assert!(notice.head >= *t, "seed {seed}: a head went backwards");
                *t = notice.head;
                offers_sent
                    .entry(notice.node)
                    .or_default()
                    .extend(notice.again.iter().map(|o| o.report_id));
            };
            for _ in 0..400 {
                now += Duration::from_micros(rng.gen_range(0..8_000));
                let node = rng.gen_range(0..3u8);
                if rng.gen_bool(0.7) {
                    if rng.gen_bool(0.7) {
                        head += 1;
                    }
                    news_at.insert(node, now);
                    let mut again = Vec::new();
                    if rng.gen_bool(0.2) {
                        next_offer += 1;
                        again.push(offer(next_offer));
                        offers_made.entry(node).or_default().push([next_offer; 32]);
                    }
                    newest.insert(node, head);
                    if let Some(n) = notices.news(&node, head, again, now) {
                        record(n, now);
                    }
                } else {
                    for n in notices.due(now) {
                        record(n, now);
                    }
                }
            }
            // News stops: run the timer until nothing waits.
            while let Some(at) = notices.next_due() {
                assert!(at >= now || notices.waiting() > 0);
                now = now.max(at);
                let due = notices.due(now);
                assert!(!due.is_empty(), "seed {seed}: the timer woke for nothing");
                for n in due {
                    record(n, now);
                }
            }
            assert_eq!(notices.waiting(), 0, "seed {seed}: notices left waiting");
            for (node, head) in &newest {
                assert_eq!(told.get(node), Some(head), "seed {seed}: node {node}");
                let last_notice = sent_at[node].last().copied();
                assert!(
                    last_notice >= news_at.get(node).copied(),
                    "seed {seed}: node {node} had news after its last notice"
                );
            }
            for (node, made) in &offers_made {
                let mut sent = offers_sent.get(node).cloned().unwrap_or_default();
                sent.sort();
                assert_eq!(&sent, made, "seed {seed}: offers to node {node}");
            }
            for (node, times) in &sent_at {
                // In any span of t seconds: at most burst + t * per_second notices.
                for (i, start) in times.iter().enumerate() {
                    for (j, end) in times.iter().enumerate().skip(i) {
                        let span = end.saturating_sub(*start).as_secs_f64();
                        let allowed =
                            f64::from(pace.burst) + span * f64::from(pace.per_second) + 1e-6;
                        assert!(
                            (j - i + 1) as f64 <= allowed,
                            "seed {seed}: node {node} got {} notices in {span} s",
                            j - i + 1
                        );
                    }
                }
            }
        }
    }
}
