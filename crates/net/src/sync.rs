//! Catch-up as plain code, with no I/O: for each trusted peer, which page to pull next, and
//! when a cursor may advance. A node numbers what it stores in arrival order; a peer pulls
//! "what I may see after cursor C" in pages, stores each page durably, and only then moves its
//! cursor. The next page is pulled while the previous ones are being stored (up to
//! `SyncConfig::pages_in_store` of them), so that the network and the signature checks overlap;
//! pages are stored in order and the cursor only ever covers pages that are stored. The task
//! that owns the network feeds events in and carries the actions out.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

/// Who a peer is to the sync logic (the network layer maps it to a connection).
pub type PeerKey = [u8; 32];

/// The most arrival numbers one page may cover: a serving node reads at most this many of its
/// stored reports for a page, so a page that claims to cover more skipped reports (or lies).
pub const MAX_PAGE_SPAN: u64 = 8192;

/// Settings of catch-up (the `[sync]` table of node.toml, later).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncConfig {
    /// Reports asked for per page.
    pub page_size: u32,
    /// First wait after a failed pull; doubles on each failure in a row.
    pub initial_backoff: Duration,
    /// Longest wait between retries.
    pub max_backoff: Duration,
    /// Pages received and waiting to be stored before the next pull waits too.
    pub pages_in_store: usize,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            page_size: 512,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(60),
            pages_in_store: 2,
        }
    }
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncEvent {
    /// A trusted peer is connected; `cursor` is the persisted position in its arrival order.
    Connected {
        /// The peer.
        peer: PeerKey,
        /// Where we are in its arrival order.
        cursor: u64,
    },
    /// The peer went away.
    Disconnected(PeerKey),
    /// The peer says it has reports we may see, up to arrival number `latest`.
    Notified {
        /// The peer.
        peer: PeerKey,
        /// Its newest arrival number we may see.
        latest: u64,
    },
    /// A page arrived: reports up to the peer's arrival number `through`, and whether more
    /// remain.
    Page {
        /// The peer.
        peer: PeerKey,
        /// The cursor the pull was made from (an answer to an abandoned pull is ignored).
        after: u64,
        /// The last arrival number the page covers (the next cursor).
        through: u64,
        /// Whether the peer has more after it.
        more: bool,
        /// The peer's newest arrival number when it served the page.
        head: u64,
        /// How many reports the page holds.
        reports: usize,
    },
    /// Time to ask the peer again even without a notification (a periodic safety net, or an
    /// embargo that may have ended).
    Poll(PeerKey),
    /// The reports of the page through `through` are stored durably (pages are stored in the
    /// order they arrived).
    Stored {
        /// The peer.
        peer: PeerKey,
        /// The page's last arrival number.
        through: u64,
    },
    /// A pull failed (timeout, refused, malformed answer), or storing a page failed: pulling
    /// starts again from the cursor after a backoff.
    Failed(PeerKey),
    /// The operator asked to catch up with the peer again from its first report (a cursor
    /// that was moved too far, by a fault or a dishonest answer).
    Restart(PeerKey),
    /// Time passed; retries that are due go out.
    Tick {
        /// Now, on a monotonic clock.
        now: Duration,
    },
}

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncAction {
    /// Ask the peer for up to `limit` reports after `cursor`.
    Pull {
        /// The peer.
        peer: PeerKey,
        /// Our position in its arrival order.
        cursor: u64,
        /// Page size.
        limit: u32,
    },
    /// Persist the new cursor (the page before it is stored durably).
    SaveCursor {
        /// The peer.
        peer: PeerKey,
        /// The new position.
        cursor: u64,
    },
    /// The page through `through` is accepted: check its reports and store them, in order
    /// after the pages accepted before it.
    StorePage {
        /// The peer.
        peer: PeerKey,
        /// The page's last arrival number.
        through: u64,
    },
    /// Start again from the beginning of the peer's arrival order: its newest arrival number
    /// is below our position in it (its store was restored or replaced, or an earlier answer
    /// moved our position too far). Pages not yet stored are dropped; the cursor is persisted
    /// even though it goes back.
    ResetCursor {
        /// The peer.
        peer: PeerKey,
        /// The new position.
        cursor: u64,
    },
    /// The peer sent something that cannot be right: say so to the operator.
    Problem {
        /// The peer.
        peer: PeerKey,
        /// What was wrong, in plain words.
        problem: String,
    },
}

#[derive(Debug, Clone)]
struct PeerSync {
    /// Durably stored up to here.
    cursor: u64,
    /// Where the next pull starts: the end of the last page received (stored or not).
    next: u64,
    /// A pull is out, made from this cursor.
    pulling: Option<u64>,
    /// Pages received and not yet stored, by their last arrival number, in order.
    storing: VecDeque<u64>,
    /// The peer has more than we have (a full page, a failure, or connecting said so).
    behind: bool,
    /// The newest arrival number the peer announced.
    announced: u64,
    /// What it had announced when the pull now out was made.
    announced_when_pulled: u64,
    /// Its newest arrival number, as its last accepted page gave it.
    head: u64,
    /// Pages in a row that held nothing yet said more follow (everything was withheld).
    empty_pages: u32,
    /// Past a run of empty pages, the next pull waits until then.
    paced_until: Option<Duration>,
    /// Failures in a row, and when the next try is due.
    failures: u32,
    retry_at: Option<Duration>,
}

/// Catch-up state for every connected peer.
#[derive(Debug, Clone)]
pub struct SyncState {
    config: SyncConfig,
    peers: BTreeMap<PeerKey, PeerSync>,
    now: Duration,
}

impl SyncState {
    /// No peers yet.
    pub fn new(config: SyncConfig) -> SyncState {
        SyncState {
            config,
            peers: BTreeMap::new(),
            now: Duration::ZERO,
        }
    }

    /// The cursor for a peer, if connected.
    pub fn cursor(&self, peer: &PeerKey) -> Option<u64> {
        self.peers.get(peer).map(|p| p.cursor)
    }

    /// A peer's newest arrival number as its last accepted page gave it (never what a
    /// notification alone claims), if connected.
    pub fn head(&self, peer: &PeerKey) -> Option<u64> {
        self.peers.get(peer).map(|p| p.head.max(p.cursor))
    }

    /// Whether a page answering a pull made from `after` is the one awaited (an answer to an
    /// abandoned pull is not, and must not be stored as if it were).
    pub fn expects(&self, peer: &PeerKey, after: u64) -> bool {
        self.peers
            .get(peer)
            .is_some_and(|p| p.pulling == Some(after))
    }

    /// The earliest time after now at which a `Tick` may start a pull that waits (a retry after
    /// a failure, or a paced run of empty pages), if any waits: a driver with no periodic tick
    /// wakes the state machine then.
    pub fn next_due(&self) -> Option<Duration> {
        self.peers
            .values()
            .filter(|p| p.pulling.is_none())
            .flat_map(|p| [p.retry_at, p.paced_until])
            .flatten()
            .filter(|at| *at > self.now)
            .min()
    }

    /// Feeds one event in; returns what to do, in order.
    pub fn handle(&mut self, event: SyncEvent) -> Vec<SyncAction> {
        let mut actions = Vec::new();
        match event {
            SyncEvent::Connected { peer, cursor } => {
                self.peers.insert(
                    peer,
                    PeerSync {
                        cursor,
                        next: cursor,
                        pulling: None,
                        storing: VecDeque::new(),
                        // Whatever happened while apart: ask once on connecting.
                        behind: true,
                        announced: 0,
                        announced_when_pulled: 0,
                        head: cursor,
                        empty_pages: 0,
                        paced_until: None,
                        failures: 0,
                        retry_at: None,
                    },
                );
            }
            SyncEvent::Disconnected(peer) => {
                self.peers.remove(&peer);
            }
            SyncEvent::Notified { peer, latest } => {
                if let Some(p) = self.peers.get_mut(&peer) {
                    p.announced = p.announced.max(latest);
                }
            }
            SyncEvent::Poll(peer) => {
                if let Some(p) = self.peers.get_mut(&peer) {
                    p.behind = true;
                }
            }
            SyncEvent::Page {
                peer,
                after,
                through,
                more,
                head,
                reports,
            } => {
                if let Some(p) = self.peers.get_mut(&peer)
                    && p.pulling == Some(after)
                {
                    p.pulling = None;
                    if head < p.cursor {
                        // Its arrival numbers no longer reach ours: start again from its
                        // first report (what we hold already is recognised and kept once).
                        actions.push(SyncAction::Problem {
                            peer,
                            problem: format!(
                                "its newest arrival number {head} is below our position {} in its arrivals: catching up again from its first report",
                                p.cursor
                            ),
                        });
                        p.cursor = 0;
                        p.next = 0;
                        p.head = head;
                        p.storing.clear();
                        p.behind = true;
                        p.announced = p.announced.min(head);
                        actions.push(SyncAction::ResetCursor { peer, cursor: 0 });
                    } else if let Some(problem) =
                        page_problem(after, through, more, head, reports, self.config.page_size)
                    {
                        // A failure of that peer, never a reason to move the cursor.
                        actions.push(SyncAction::Problem { peer, problem });
                        Self::fail(&self.config, self.now, p);
                    } else {
                        p.head = head;
                        if through > p.next {
                            p.storing.push_back(through);
                            p.next = through;
                            actions.push(SyncAction::StorePage { peer, through });
                        }
                        p.behind |= more;
                        // Reading past what it withholds is progress, but a peer can claim
                        // any number of such pages: past a few in a row, they are paced.
                        if more && reports == 0 {
                            p.empty_pages = p.empty_pages.saturating_add(1);
                            if p.empty_pages > EMPTY_PAGES_UNPACED {
                                p.paced_until = Some(self.now + self.config.initial_backoff);
                            }
                        } else {
                            p.empty_pages = 0;
                        }
                        if !more {
                            if p.announced <= head {
                                // The peer had seen everything announced so far and has
                                // nothing more for us now (what is left is held back, e.g. by
                                // an embargo): stop asking until something new is announced.
                                p.announced = p.announced.min(through);
                            } else if p.announced <= p.announced_when_pulled {
                                // It announced more than it now says it has, before this pull
                                // was made: not a race but a false announcement. Forget it,
                                // and wait before believing the next one.
                                actions.push(SyncAction::Problem {
                                    peer,
                                    problem: format!(
                                        "it announced arrival number {} but then gave {head} as its newest",
                                        p.announced
                                    ),
                                });
                                p.announced = through;
                                Self::back_off(&self.config, self.now, p);
                            }
                        }
                    }
                }
            }
            SyncEvent::Stored { peer, through } => {
                if let Some(p) = self.peers.get_mut(&peer)
                    && p.storing.front() == Some(&through)
                {
                    p.storing.pop_front();
                    p.failures = 0;
                    p.retry_at = None;
                    if through > p.cursor {
                        p.cursor = through;
                        actions.push(SyncAction::SaveCursor {
                            peer,
                            cursor: through,
                        });
                    }
                }
            }
            SyncEvent::Failed(peer) => {
                if let Some(p) = self.peers.get_mut(&peer) {
                    p.pulling = None;
                    Self::fail(&self.config, self.now, p);
                }
            }
            SyncEvent::Restart(peer) => {
                if let Some(p) = self.peers.get_mut(&peer) {
                    p.cursor = 0;
                    p.next = 0;
                    p.pulling = None;
                    p.storing.clear();
                    p.behind = true;
                    p.failures = 0;
                    p.retry_at = None;
                    p.empty_pages = 0;
                    p.paced_until = None;
                    actions.push(SyncAction::ResetCursor { peer, cursor: 0 });
                }
            }
            SyncEvent::Tick { now } => self.now = now,
        }
        self.pulls(&mut actions);
        actions
    }

    /// Backs off and forgets pages not yet stored: the next pull starts at the cursor.
    fn fail(config: &SyncConfig, now: Duration, p: &mut PeerSync) {
        Self::back_off(config, now, p);
        p.behind = true;
        p.storing.clear();
        p.next = p.cursor;
    }

    /// Waits longer before the next pull, doubling with each failure in a row.
    fn back_off(config: &SyncConfig, now: Duration, p: &mut PeerSync) {
        p.failures = p.failures.saturating_add(1);
        let factor = 1u32 << p.failures.saturating_sub(1).min(16);
        let wait = config
            .initial_backoff
            .saturating_mul(factor)
            .min(config.max_backoff);
        p.retry_at = Some(now + wait);
    }

    fn pulls(&mut self, actions: &mut Vec<SyncAction>) {
        for (peer, p) in &mut self.peers {
            let due = p.retry_at.is_none_or(|at| self.now >= at)
                && p.paced_until.is_none_or(|at| self.now >= at);
            let wanted = p.behind || p.announced > p.next;
            let room = p.storing.len() < self.config.pages_in_store.max(1);
            if wanted && p.pulling.is_none() && room && due {
                p.pulling = Some(p.next);
                p.announced_when_pulled = p.announced;
                p.behind = false;
                actions.push(SyncAction::Pull {
                    peer: *peer,
                    cursor: p.next,
                    limit: self.config.page_size,
                });
            }
        }
    }
}

/// Empty pages in a row pulled at once; later ones wait `SyncConfig::initial_backoff` each.
const EMPTY_PAGES_UNPACED: u32 = 16;

/// What is wrong with a page answering a pull after `after` with at most `limit` reports,
/// if anything: every number in it is checked against the pull and against the others.
pub fn page_problem(
    after: u64,
    through: u64,
    more: bool,
    head: u64,
    reports: usize,
    limit: u32,
) -> Option<String> {
    if reports > limit as usize {
        return Some(format!("it sent {reports} reports for a page of {limit}"));
    }
    if through < after {
        return Some(format!(
            "it answered a pull after arrival {after} with a page through {through}"
        ));
    }
    if through > head {
        return Some(format!(
            "it sent a page through arrival {through}, beyond its own newest ({head})"
        ));
    }
    if through - after > MAX_PAGE_SPAN {
        return Some(format!(
            "its page covers {} arrivals; a page covers at most {MAX_PAGE_SPAN}",
            through - after
        ));
    }
    if more && reports == 0 && through - after < MAX_PAGE_SPAN {
        // A serving node reads a whole span before it answers with nothing.
        return Some(format!(
            "its page after arrival {after} holds nothing and stops at {through}, yet says more follow"
        ));
    }
    if through == after && (more || reports > 0) {
        return Some(format!(
            "its page after arrival {after} covers nothing yet {}",
            if reports > 0 {
                "holds reports"
            } else {
                "says more follow"
            }
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: PeerKey = [1; 32];
    const B: PeerKey = [2; 32];

    fn state() -> SyncState {
        SyncState::new(SyncConfig::default())
    }

    fn pull(peer: PeerKey, cursor: u64) -> SyncAction {
        SyncAction::Pull {
            peer,
            cursor,
            limit: 512,
        }
    }

    fn save(peer: PeerKey, cursor: u64) -> SyncAction {
        SyncAction::SaveCursor { peer, cursor }
    }

    #[test]
    fn next_due_is_when_a_failed_pull_may_be_retried() {
        let mut s = state();
        assert_eq!(s.next_due(), None, "no peer");
        assert_eq!(
            s.handle(SyncEvent::Connected { peer: A, cursor: 0 }),
            vec![pull(A, 0)]
        );
        assert_eq!(s.next_due(), None, "a pull is out, nothing waits");
        assert!(s.handle(SyncEvent::Failed(A)).is_empty());
        let due = s.next_due().expect("the retry waits");
        assert_eq!(due, SyncConfig::default().initial_backoff);
        assert!(s.handle(SyncEvent::Tick { now: due / 2 }).is_empty());
        assert_eq!(s.next_due(), Some(due), "still waiting");
        assert_eq!(s.handle(SyncEvent::Tick { now: due }), vec![pull(A, 0)]);
        assert_eq!(s.next_due(), None, "the retry went out");
    }

    fn page(peer: PeerKey, after: u64, through: u64, more: bool, head: u64) -> SyncEvent {
        SyncEvent::Page {
            peer,
            after,
            through,
            more,
            head,
            reports: usize::from(through > after),
        }
    }

    /// The actions about pulling and cursors (what the tests below follow).
    fn moves(actions: Vec<SyncAction>) -> Vec<SyncAction> {
        actions
            .into_iter()
            .filter(|a| matches!(a, SyncAction::Pull { .. } | SyncAction::SaveCursor { .. }))
            .collect()
    }

    fn stored(peer: PeerKey, through: u64) -> SyncEvent {
        SyncEvent::Stored { peer, through }
    }

    #[test]
    fn connecting_pulls_from_the_saved_cursor_and_pages_until_done() {
        let mut s = state();
        assert_eq!(
            s.handle(SyncEvent::Connected {
                peer: A,
                cursor: 40
            }),
            vec![pull(A, 40)]
        );
        // A full page: the next one is pulled while this one is stored.
        assert_eq!(
            moves(s.handle(page(A, 40, 552, true, 700))),
            vec![pull(A, 552)]
        );
        assert_eq!(s.handle(stored(A, 552)), vec![save(A, 552)]);
        assert_eq!(moves(s.handle(page(A, 552, 600, false, 700))), vec![]);
        assert_eq!(s.handle(stored(A, 600)), vec![save(A, 600)]);
        assert_eq!(s.cursor(&A), Some(600));
    }

    #[test]
    fn pulling_ahead_stops_when_enough_pages_wait_to_be_stored() {
        let mut s = state();
        s.handle(SyncEvent::Connected { peer: A, cursor: 0 });
        assert_eq!(
            moves(s.handle(page(A, 0, 10, true, 100))),
            vec![pull(A, 10)]
        );
        // Two pages wait to be stored: no third pull until one is.
        assert_eq!(moves(s.handle(page(A, 10, 20, true, 100))), vec![]);
        assert_eq!(s.handle(stored(A, 10)), vec![save(A, 10), pull(A, 20)]);
        // Pages are stored in order: a store report for a later page first changes nothing.
        assert_eq!(s.handle(stored(A, 30)), vec![]);
        assert_eq!(s.cursor(&A), Some(10));
    }

    #[test]
    fn the_cursor_moves_only_after_storing() {
        let mut s = state();
        s.handle(SyncEvent::Connected { peer: A, cursor: 0 });
        s.handle(page(A, 0, 100, false, 100));
        // The store failed (or the node crashed): the cursor is still 0 and the next pull
        // asks again from 0.
        assert_eq!(s.cursor(&A), Some(0));
        s.handle(SyncEvent::Failed(A));
        assert_eq!(
            s.handle(SyncEvent::Tick {
                now: Duration::from_secs(1)
            }),
            vec![pull(A, 0)]
        );
        // The page stored late, after the reset, does not move the cursor past what is known
        // to be stored in order.
        assert_eq!(s.handle(stored(A, 100)), vec![]);
        assert_eq!(s.cursor(&A), Some(0));
    }

    #[test]
    fn an_answer_to_an_abandoned_pull_is_ignored() {
        let mut s = state();
        s.handle(SyncEvent::Connected { peer: A, cursor: 0 });
        s.handle(page(A, 0, 50, true, 100)); // pulls from 50
        s.handle(SyncEvent::Failed(A)); // storing page 0..50 failed: back to 0
        s.handle(SyncEvent::Tick {
            now: Duration::from_secs(1),
        }); // pulls from 0 again
        // The late answer to the pull from 50 must not be taken for the pull from 0.
        assert_eq!(moves(s.handle(page(A, 50, 100, false, 100))), vec![]);
        assert_eq!(
            moves(s.handle(page(A, 0, 40, true, 100))),
            vec![pull(A, 40)]
        );
    }

    #[test]
    fn notifications_while_pulling_ask_again_at_once() {
        let mut s = state();
        s.handle(SyncEvent::Connected { peer: A, cursor: 0 });
        assert_eq!(
            s.handle(SyncEvent::Notified {
                peer: A,
                latest: 10
            }),
            vec![]
        );
        // The notification said 10 while the page (served at head 5) covered 5: pull again
        // while page 5 is stored.
        assert_eq!(moves(s.handle(page(A, 0, 5, false, 5))), vec![pull(A, 5)]);
        assert_eq!(s.handle(stored(A, 5)), vec![save(A, 5)]);
        // A notification for what we already have asks for nothing.
        s.handle(page(A, 5, 10, false, 10));
        s.handle(stored(A, 10));
        assert_eq!(
            s.handle(SyncEvent::Notified {
                peer: A,
                latest: 10
            }),
            vec![]
        );
        // Peers are independent.
        s.handle(SyncEvent::Connected { peer: B, cursor: 0 });
        s.handle(page(B, 0, 3, false, 3));
        assert_eq!(s.handle(stored(B, 3)), vec![save(B, 3)]);
    }

    #[test]
    fn failures_back_off_exponentially_per_peer() {
        let mut s = state();
        s.handle(SyncEvent::Connected { peer: A, cursor: 0 });
        s.handle(SyncEvent::Failed(A));
        // 500 ms, then 1 s, then 2 s...
        assert_eq!(
            s.handle(SyncEvent::Tick {
                now: Duration::from_millis(400)
            }),
            vec![]
        );
        assert_eq!(
            s.handle(SyncEvent::Tick {
                now: Duration::from_millis(500)
            }),
            vec![pull(A, 0)]
        );
        s.handle(SyncEvent::Failed(A));
        assert_eq!(
            s.handle(SyncEvent::Tick {
                now: Duration::from_millis(1400)
            }),
            vec![]
        );
        assert_eq!(
            s.handle(SyncEvent::Tick {
                now: Duration::from_millis(1500)
            }),
            vec![pull(A, 0)]
        );
        // A stored page resets the backoff.
        s.handle(page(A, 0, 7, false, 7));
        s.handle(stored(A, 7));
        s.handle(SyncEvent::Failed(A));
        assert_eq!(
            s.handle(SyncEvent::Tick {
                now: Duration::from_millis(2000)
            }),
            vec![pull(A, 7)]
        );
    }

    #[test]
    fn a_page_that_goes_backwards_is_a_failure_not_a_rewind() {
        let mut s = state();
        s.handle(SyncEvent::Connected {
            peer: A,
            cursor: 50,
        });
        assert_eq!(moves(s.handle(page(A, 50, 20, false, 100))), vec![]);
        assert_eq!(s.cursor(&A), Some(50));
        assert_eq!(
            s.handle(SyncEvent::Tick {
                now: Duration::from_secs(1)
            }),
            vec![pull(A, 50)]
        );
        // Stored events for old pages never move the cursor back either.
        s.handle(stored(A, 10));
        assert_eq!(s.cursor(&A), Some(50));
    }

    #[test]
    fn a_page_beyond_the_peers_own_head_is_a_failure() {
        let mut s = state();
        s.handle(SyncEvent::Connected { peer: A, cursor: 0 });
        s.handle(page(A, 0, 11, false, 10));
        s.handle(stored(A, 11));
        assert_eq!(s.cursor(&A), Some(0));
    }

    #[test]
    fn a_page_that_holds_reports_back_stops_the_asking_until_something_new() {
        let mut s = state();
        s.handle(SyncEvent::Connected { peer: A, cursor: 0 });
        // The peer announced 10 but serves through 4 only: 5 is embargoed for us.
        s.handle(SyncEvent::Notified {
            peer: A,
            latest: 10,
        });
        assert_eq!(
            moves(s.handle(page(A, 0, 4, false, 10))),
            vec![],
            "no pull loop"
        );
        assert_eq!(s.handle(stored(A, 4)), vec![save(A, 4)]);
        // A poll (or a notification of something newer) asks again.
        assert_eq!(s.handle(SyncEvent::Poll(A)), vec![pull(A, 4)]);
    }

    fn problems(actions: &[SyncAction]) -> usize {
        actions
            .iter()
            .filter(|a| matches!(a, SyncAction::Problem { .. }))
            .count()
    }

    #[test]
    fn a_false_announcement_is_forgotten_not_pulled_for_ever() {
        let mut s = state();
        s.handle(SyncEvent::Connected { peer: A, cursor: 0 });
        // Announced while the first pull is out: it may be a race, so it is asked once more.
        s.handle(SyncEvent::Notified {
            peer: A,
            latest: u64::MAX,
        });
        assert_eq!(moves(s.handle(page(A, 0, 5, false, 5))), vec![pull(A, 5)]);
        // Asked after the announcement, the peer says its newest is 5: the announcement was
        // false. It is reported and forgotten, and the peer is not asked again at once.
        let answer = s.handle(page(A, 5, 5, false, 5));
        assert_eq!(problems(&answer), 1);
        assert_eq!(moves(answer), vec![]);
        let mut pulls = 0;
        for ms in (0..60_000).step_by(10) {
            pulls += moves(s.handle(SyncEvent::Tick {
                now: Duration::from_millis(ms),
            }))
            .len();
        }
        assert_eq!(pulls, 0, "a false announcement makes no more pulls");
        assert_eq!(s.head(&A), Some(5));
        // A true announcement later is followed at once.
        s.handle(SyncEvent::Tick {
            now: Duration::from_secs(61),
        });
        assert_eq!(
            moves(s.handle(SyncEvent::Notified { peer: A, latest: 9 })),
            vec![pull(A, 5)]
        );
    }

    #[test]
    fn pages_that_cannot_be_right_are_failures() {
        let cases = [
            // More promised, nothing covered.
            SyncEvent::Page {
                peer: A,
                after: 0,
                through: 0,
                more: true,
                head: 100,
                reports: 0,
            },
            // More promised after an empty page that stopped short of a span.
            SyncEvent::Page {
                peer: A,
                after: 0,
                through: 10,
                more: true,
                head: 100,
                reports: 0,
            },
            // Beyond what one page may cover.
            SyncEvent::Page {
                peer: A,
                after: 0,
                through: MAX_PAGE_SPAN + 1,
                more: false,
                head: u64::MAX,
                reports: 1,
            },
            // More reports than asked for.
            SyncEvent::Page {
                peer: A,
                after: 0,
                through: 600,
                more: false,
                head: 600,
                reports: 513,
            },
            // Reports in a page that covers nothing.
            SyncEvent::Page {
                peer: A,
                after: 0,
                through: 0,
                more: false,
                head: 0,
                reports: 1,
            },
        ];
        for case in cases {
            let mut s = state();
            s.handle(SyncEvent::Connected { peer: A, cursor: 0 });
            let actions = s.handle(case.clone());
            assert_eq!(problems(&actions), 1, "{case:?}");
            assert!(
                !actions
                    .iter()
                    .any(|a| matches!(a, SyncAction::StorePage { .. })),
                "{case:?} is not stored"
            );
            assert_eq!(moves(actions), vec![], "{case:?}: backs off");
            assert_eq!(s.cursor(&A), Some(0));
        }
    }

    #[test]
    fn a_head_below_the_cursor_starts_catching_up_again_from_the_first_report() {
        let mut s = state();
        s.handle(SyncEvent::Connected {
            peer: A,
            cursor: 1_000_000,
        });
        let actions = s.handle(page(A, 1_000_000, 1_000_000, false, 500));
        assert_eq!(problems(&actions), 1);
        assert!(actions.contains(&SyncAction::ResetCursor { peer: A, cursor: 0 }));
        assert_eq!(moves(actions), vec![pull(A, 0)]);
        assert_eq!(s.cursor(&A), Some(0));
        assert_eq!(moves(s.handle(page(A, 0, 500, false, 500))), vec![]);
        assert_eq!(moves(s.handle(stored(A, 500))), vec![save(A, 500)]);
    }

    #[test]
    fn an_operator_restart_pulls_from_the_first_report_and_ignores_older_answers() {
        let mut s = state();
        s.handle(SyncEvent::Connected {
            peer: A,
            cursor: 700,
        });
        let actions = s.handle(SyncEvent::Restart(A));
        assert!(actions.contains(&SyncAction::ResetCursor { peer: A, cursor: 0 }));
        assert_eq!(moves(actions), vec![pull(A, 0)]);
        // The answer to the pull from 700 made before the restart is not awaited any more.
        assert!(!s.expects(&A, 700));
        assert_eq!(moves(s.handle(page(A, 0, 300, false, 900))), vec![]);
        assert_eq!(moves(s.handle(stored(A, 300))), vec![save(A, 300)]);
        // A restart for a peer not connected changes nothing here.
        assert_eq!(s.handle(SyncEvent::Restart(B)), vec![]);
    }

    #[test]
    fn long_runs_of_empty_pages_are_paced() {
        let mut s = state();
        s.handle(SyncEvent::Connected { peer: A, cursor: 0 });
        let mut after = 0;
        let mut now = Duration::ZERO;
        let mut pulls = 0;
        // A peer that claims an endless store of which we may see nothing.
        for _ in 0..200 {
            let through = after + MAX_PAGE_SPAN;
            let answer = s.handle(SyncEvent::Page {
                peer: A,
                after,
                through,
                more: true,
                head: u64::MAX,
                reports: 0,
            });
            assert_eq!(problems(&answer), 0);
            let mut next = moves(answer);
            next.extend(moves(s.handle(stored(A, through))));
            next.retain(|a| matches!(a, SyncAction::Pull { .. }));
            while next.is_empty() {
                now += Duration::from_millis(10);
                next = moves(s.handle(SyncEvent::Tick { now }));
            }
            assert_eq!(next, vec![pull(A, through)]);
            pulls += 1;
            after = through;
        }
        assert_eq!(pulls, 200);
        // Sixteen at once, then one per initial backoff.
        let paced = SyncConfig::default().initial_backoff * (200 - EMPTY_PAGES_UNPACED);
        assert!(now >= paced, "{now:?} < {paced:?}");
    }

    #[test]
    fn disconnected_peers_are_forgotten() {
        let mut s = state();
        s.handle(SyncEvent::Connected { peer: A, cursor: 7 });
        s.handle(SyncEvent::Disconnected(A));
        assert_eq!(s.cursor(&A), None);
        assert_eq!(
            s.handle(SyncEvent::Notified {
                peer: A,
                latest: 99
            }),
            vec![]
        );
    }

    /// A peer with `log` reports serves pages; pulls fail, stores fail, answers to abandoned
    /// pulls arrive late, and notifications come at random. The cursor never goes back, never
    /// passes what was stored in order, and reaches the end once the failures stop.
    #[test]
    fn random_failures_never_lose_or_skip_reports() {
        use rand::{Rng, SeedableRng};
        for seed in 0..300u64 {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let config = SyncConfig {
                page_size: rng.gen_range(1..20),
                pages_in_store: rng.gen_range(1..4),
                ..SyncConfig::default()
            };
            let mut s = SyncState::new(config);
            let mut log: u64 = rng.gen_range(0..200);
            // What the test has stored, contiguously from 0.
            let mut stored_through = 0u64;
            let mut now = Duration::ZERO;
            let mut pending = s.handle(SyncEvent::Connected { peer: A, cursor: 0 });
            let mut in_flight: Option<(u64, u32)> = None;
            let mut late: Vec<SyncEvent> = Vec::new();
            // Pages received and not yet stored: (after, through).
            let mut to_store: VecDeque<(u64, u64)> = VecDeque::new();
            let mut saved = 0u64;
            for step in 0..200_000 {
                let calm = step > 5_000;
                if calm && s.cursor(&A) == Some(log) && in_flight.is_none() {
                    break;
                }
                for action in std::mem::take(&mut pending) {
                    match action {
                        SyncAction::Pull { cursor, limit, .. } => {
                            assert!(in_flight.is_none(), "seed {seed}: two pulls at once");
                            assert!(cursor >= stored_through || cursor == s.cursor(&A).unwrap());
                            in_flight = Some((cursor, limit));
                        }
                        SyncAction::SaveCursor { cursor, .. } => {
                            assert!(
                                cursor <= stored_through,
                                "seed {seed}: cursor {cursor} passed the store {stored_through}"
                            );
                            assert!(cursor >= saved, "seed {seed}: saved cursor went back");
                            saved = cursor;
                        }
                        SyncAction::StorePage { .. } => {}
                        // An answer that turns up after its pull timed out can carry an older
                        // head than an announcement made since: taken for a false one, it is
                        // only a wait (here, before the calm).
                        SyncAction::Problem { .. } if !calm => {}
                        SyncAction::ResetCursor { .. } | SyncAction::Problem { .. } => {
                            panic!(
                                "seed {seed}: an honest peer was taken for a faulty one: {action:?}"
                            )
                        }
                    }
                }
                // Once calm, the peer answers and the store stores, in order.
                let choice = match (calm, in_flight.is_some(), to_store.is_empty()) {
                    (false, _, _) => rng.gen_range(0..5),
                    (true, true, _) => 0,
                    (true, false, false) => 1,
                    (true, false, true) => 4,
                };
                let event = if choice == 0 && in_flight.is_some() {
                    let (after, limit) = in_flight.take().unwrap_or_default();
                    if !calm && rng.gen_bool(0.15) {
                        SyncEvent::Failed(A)
                    } else {
                        let through = (after + u64::from(limit)).min(log);
                        let answer = page(A, after, through, through < log, log);
                        if !calm && rng.gen_bool(0.1) {
                            // The pull times out; its answer turns up much later.
                            late.push(answer);
                            SyncEvent::Failed(A)
                        } else {
                            if through > after {
                                to_store.push_back((after, through));
                            }
                            answer
                        }
                    }
                } else if choice == 1 && !to_store.is_empty() {
                    let (after, through) = to_store.pop_front().unwrap_or_default();
                    if !calm && rng.gen_bool(0.15) {
                        to_store.clear();
                        SyncEvent::Failed(A)
                    } else {
                        // Stored durably; contiguous only if it starts where the store ends.
                        if after <= stored_through {
                            stored_through = stored_through.max(through);
                        }
                        stored(A, through)
                    }
                } else if choice == 2 && !late.is_empty() && !calm {
                    let answer = late.remove(0);
                    if let SyncEvent::Page { after, through, .. } = answer
                        && s.expects(&A, after)
                    {
                        // It answers the pull now out (same cursor): that one is abandoned.
                        in_flight = None;
                        if through > after {
                            to_store.push_back((after, through));
                        }
                    }
                    answer
                } else if choice == 3 && !calm {
                    log += rng.gen_range(0..5);
                    SyncEvent::Notified {
                        peer: A,
                        latest: log,
                    }
                } else {
                    now += Duration::from_millis(250);
                    SyncEvent::Tick { now }
                };
                if let SyncEvent::Failed(_) = event {
                    // The node drops whatever that peer's pages were doing.
                    to_store.clear();
                    in_flight = None;
                }
                let before = s.cursor(&A).unwrap_or(0);
                pending.extend(s.handle(event));
                assert!(
                    s.cursor(&A).unwrap_or(0) >= before,
                    "seed {seed}: cursor went back"
                );
                assert!(
                    s.cursor(&A).unwrap_or(0) <= stored_through,
                    "seed {seed}: cursor passed what is stored"
                );
            }
            assert_eq!(
                s.cursor(&A),
                Some(log),
                "seed {seed}: did not catch up: {:?} in_flight {in_flight:?} to_store {to_store:?} stored {stored_through}",
                s.peers.get(&A)
            );
        }
    }
}
