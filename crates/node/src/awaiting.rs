//! Reports from partners signed by a key their author's statements do not (yet) let sign,
//! held for a while because the statements may be on their way (an organisation that hands its
//! key over tells its partners, and publishes with the new key, at about the same time). Plain
//! code with no I/O: the caller passes the time, and stores or refuses what comes out.

use std::collections::VecDeque;
use std::time::Duration;

use cairn_core::OrgPublicKey;
use cairn_net::PassedReport;

/// How long a report waits for its author's statements before it is refused.
pub const WAIT: Duration = Duration::from_secs(60);

/// Most reports held at once, from all partners together.
pub const MAX_REPORTS: usize = 512;

/// Most envelope bytes held at once, from all partners together.
pub const MAX_BYTES: usize = 32 << 20;

/// A report let go without its statements: refuse it, and say why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GivenUp<N> {
    /// The partner node that sent it.
    pub node: N,
    /// Why it was held (the verification error), for the log and the operator.
    pub line: String,
    /// Whether it was let go because too many others were held, not because it waited
    /// [`WAIT`].
    pub crowded: bool,
}

#[derive(Debug)]
struct Held<N> {
    node: N,
    author: OrgPublicKey,
    report: PassedReport,
    line: String,
    since: Duration,
}

/// The reports held for their authors' statements, oldest first.
#[derive(Debug)]
pub struct AwaitingStatements<N> {
    held: VecDeque<Held<N>>,
    bytes: usize,
    wait: Duration,
    max_reports: usize,
    max_bytes: usize,
}

impl<N> Default for AwaitingStatements<N> {
    fn default() -> Self {
        AwaitingStatements::new(WAIT, MAX_REPORTS, MAX_BYTES)
    }
}

impl<N> AwaitingStatements<N> {
    /// Holds reports for at most `wait`, at most `max_reports` and `max_bytes` of them at once.
    pub fn new(wait: Duration, max_reports: usize, max_bytes: usize) -> AwaitingStatements<N> {
        AwaitingStatements {
            held: VecDeque::new(),
            bytes: 0,
            wait,
            max_reports: max_reports.max(1),
            max_bytes,
        }
    }

    /// How many reports are held.
    pub fn len(&self) -> usize {
        self.held.len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// Holds a report `node` sent at `now`, by `author`, that failed with `line`. Returns the
    /// reports let go to make room, the oldest first (the new one itself when it alone is over
    /// the byte bound).
    pub fn hold(
        &mut self,
        node: N,
        author: OrgPublicKey,
        report: PassedReport,
        line: String,
        now: Duration,
    ) -> Vec<GivenUp<N>> {
        let size = report.envelope.len();
        if size > self.max_bytes {
            return vec![GivenUp {
                node,
                line,
                crowded: true,
            }];
        }
        let mut let_go = Vec::new();
        while self.held.len() >= self.max_reports || self.bytes + size > self.max_bytes {
            let Some(oldest) = self.held.pop_front() else {
                break;
            };
            self.bytes -= oldest.report.envelope.len();
            let_go.push(GivenUp {
                node: oldest.node,
                line: oldest.line,
                crowded: true,
            });
        }
        self.bytes += size;
        self.held.push_back(Held {
            node,
            author,
            report,
            line,
            since: now,
        });
        let_go
    }

    /// Lets go of every report by `author` (new statements of its organisation arrived), in the
    /// order they came, with the node that sent each: check them again.
    pub fn release(&mut self, author: &OrgPublicKey) -> Vec<(N, PassedReport)> {
        let mut released = Vec::new();
        let mut kept = VecDeque::with_capacity(self.held.len());
        for held in self.held.drain(..) {
            if held.author == *author {
                self.bytes -= held.report.envelope.len();
                released.push((held.node, held.report));
            } else {
                kept.push_back(held);
            }
        }
        self.held = kept;
        released
    }

    /// Lets go of the reports that waited [`WAIT`] by `now`: refuse them.
    pub fn expire(&mut self, now: Duration) -> Vec<GivenUp<N>> {
        let mut given_up = Vec::new();
        while self
            .held
            .front()
            .is_some_and(|h| now.saturating_sub(h.since) >= self.wait)
        {
            let Some(held) = self.held.pop_front() else {
                break;
            };
            self.bytes -= held.report.envelope.len();
            given_up.push(GivenUp {
                node: held.node,
                line: held.line,
                crowded: false,
            });
        }
        given_up
    }

    /// Lets go of what `node` sent (it was cut off or forgotten), without refusing it.
    pub fn forget(&mut self, node: &N)
    where
        N: PartialEq,
    {
        let bytes = &mut self.bytes;
        self.held.retain(|h| {
            let keep = h.node != *node;
            if !keep {
                *bytes -= h.report.envelope.len();
            }
            keep
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng, rngs::StdRng};

    fn org(n: u8) -> OrgPublicKey {
        cairn_core::OrgKey::generate(&mut StdRng::seed_from_u64(u64::from(n))).public()
    }

    fn report(size: usize, tag: u8) -> PassedReport {
        PassedReport {
            envelope: vec![tag; size],
            hop: 0,
        }
    }

    fn at(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    #[test]
    fn statements_release_their_authors_reports_in_order_and_only_theirs() {
        let (a, b) = (org(1), org(2));
        let mut held = AwaitingStatements::new(at(1_000), 10, 1_000);
        assert!(
            held.hold(1u8, a, report(10, 1), "x".into(), at(0))
                .is_empty()
        );
        assert!(
            held.hold(2u8, b, report(10, 2), "y".into(), at(1))
                .is_empty()
        );
        assert!(
            held.hold(3u8, a, report(10, 3), "z".into(), at(2))
                .is_empty()
        );
        let released = held.release(&a);
        assert_eq!(
            released
                .iter()
                .map(|(n, r)| (*n, r.envelope[0]))
                .collect::<Vec<_>>(),
            vec![(1, 1), (3, 3)]
        );
        assert_eq!(held.len(), 1);
        assert!(held.release(&a).is_empty());
        assert_eq!(held.release(&b).len(), 1);
        assert!(held.is_empty());
    }

    #[test]
    fn a_report_waits_so_long_and_then_is_refused_with_its_reason() {
        let a = org(1);
        let mut held = AwaitingStatements::new(at(1_000), 10, 1_000);
        held.hold(7u8, a, report(10, 1), "signed by key k".into(), at(0));
        held.hold(7u8, a, report(10, 2), "signed by key l".into(), at(500));
        assert!(held.expire(at(999)).is_empty());
        assert_eq!(
            held.expire(at(1_000)),
            vec![GivenUp {
                node: 7,
                line: "signed by key k".into(),
                crowded: false
            }]
        );
        assert_eq!(held.expire(at(1_500)).len(), 1);
        assert!(held.is_empty());
    }

    #[test]
    fn the_oldest_are_let_go_to_keep_within_both_bounds() {
        let a = org(1);
        let mut held = AwaitingStatements::new(at(1_000), 3, 100);
        for tag in 0..3 {
            assert!(
                held.hold(0u8, a, report(30, tag), tag.to_string(), at(0))
                    .is_empty()
            );
        }
        // A fourth report: over the count.
        let gone = held.hold(0u8, a, report(30, 3), "3".into(), at(0));
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].line, "0");
        assert!(gone[0].crowded);
        // A large one: over the bytes, so two go.
        let gone = held.hold(0u8, a, report(70, 4), "4".into(), at(0));
        assert_eq!(
            gone.iter().map(|g| g.line.as_str()).collect::<Vec<_>>(),
            ["1", "2"]
        );
        // One over the bytes on its own is not held at all.
        let gone = held.hold(0u8, a, report(101, 5), "5".into(), at(0));
        assert_eq!(gone[0].line, "5");
        assert_eq!(held.len(), 2);
    }

    #[test]
    fn randomized_holds_keep_the_bounds_and_account_for_every_report() {
        let authors = [org(1), org(2), org(3)];
        for seed in 0..50 {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut held = AwaitingStatements::new(at(100), 8, 400);
            let (mut put, mut out) = (0usize, 0usize);
            let mut now = 0;
            for _ in 0..300 {
                now += rng.gen_range(0..20);
                match rng.gen_range(0..10) {
                    0 => {
                        let author = authors[rng.gen_range(0..authors.len())];
                        out += held.release(&author).len();
                    }
                    1 => out += held.expire(at(now)).len(),
                    2 => {
                        let node = rng.gen_range(0..3u8);
                        let before = held.len();
                        held.forget(&node);
                        out += before - held.len();
                    }
                    _ => {
                        let author = authors[rng.gen_range(0..authors.len())];
                        let size = rng.gen_range(1..150);
                        put += 1;
                        out += held
                            .hold(
                                rng.gen_range(0..3u8),
                                author,
                                report(size, 0),
                                String::new(),
                                at(now),
                            )
                            .len();
                    }
                }
                assert!(held.len() <= 8);
                let bytes: usize = held.held.iter().map(|h| h.report.envelope.len()).sum();
                assert_eq!(bytes, held.bytes);
                assert!(bytes <= 400);
                assert_eq!(put, out + held.len());
            }
        }
    }
}
