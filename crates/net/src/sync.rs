//! Catch-up as plain code, with no I/O: for each trusted peer, which page to pull next, and
//! when a cursor may advance. A node numbers what it stores in arrival order; a peer pulls
//! "what I may see after cursor C" in pages, stores each page durably, and only then moves its
//! cursor. The task that owns the network feeds events in and carries the actions out.

use std::collections::BTreeMap;
use std::time::Duration;

/// Who a peer is to the sync logic (the network layer maps it to a connection).
pub type PeerKey = [u8; 32];

/// Settings of catch-up (the `[sync]` table of node.toml, later).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncConfig {
    /// Reports asked for per page.
    pub page_size: u32,
    /// First wait after a failed pull; doubles on each failure in a row.
    pub initial_backoff: Duration,
    /// Longest wait between retries.
    pub max_backoff: Duration,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            page_size: 512,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(60),
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
        /// The last arrival number the page covers (the next cursor).
        through: u64,
        /// Whether the peer has more after it.
        more: bool,
        /// The peer's newest arrival number when it served the page.
        head: u64,
    },
    /// Time to ask the peer again even without a notification (a periodic safety net, or an
    /// embargo that may have ended).
    Poll(PeerKey),
    /// The reports of the page through `through` are stored durably.
    Stored {
        /// The peer.
        peer: PeerKey,
        /// The page's last arrival number.
        through: u64,
    },
    /// A pull failed (timeout, refused, malformed answer).
    Failed(PeerKey),
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
}

#[derive(Debug, Clone)]
struct PeerSync {
    /// Durably stored up to here.
    cursor: u64,
    /// A pull is out, or a page is being stored.
    busy: bool,
    /// The peer has more than we have (a full page, a failure, or connecting said so).
    behind: bool,
    /// The newest arrival number the peer announced.
    announced: u64,
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

    /// Feeds one event in; returns what to do, in order.
    pub fn handle(&mut self, event: SyncEvent) -> Vec<SyncAction> {
        let mut actions = Vec::new();
        match event {
            SyncEvent::Connected { peer, cursor } => {
                self.peers.insert(
                    peer,
                    PeerSync {
                        cursor,
                        busy: false,
                        // Whatever happened while apart: ask once on connecting.
                        behind: true,
                        announced: 0,
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
            SyncEvent::Page {
                peer,
                through,
                more,
                head,
            } => {
                if let Some(p) = self.peers.get_mut(&peer) {
                    // Stays busy until the page is stored; an answer that goes backwards is
                    // a failure of that peer, not a reason to move the cursor back.
                    if through < p.cursor || through > head {
                        p.busy = false;
                        Self::fail(&self.config, self.now, p);
                    } else {
                        p.behind |= more;
                        // The peer had seen everything announced so far and has nothing more
                        // for us now (what is left is held back, e.g. by an embargo): stop
                        // asking until something new is announced.
                        if !more && p.announced <= head {
                            p.announced = p.announced.min(through);
                        }
                    }
                }
            }
            SyncEvent::Poll(peer) => {
                if let Some(p) = self.peers.get_mut(&peer) {
                    p.behind = true;
                }
            }
            SyncEvent::Stored { peer, through } => {
                if let Some(p) = self.peers.get_mut(&peer) {
                    p.busy = false;
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
                    p.busy = false;
                    Self::fail(&self.config, self.now, p);
                }
            }
            SyncEvent::Tick { now } => self.now = now,
        }
        self.pulls(&mut actions);
        actions
    }

    fn fail(config: &SyncConfig, now: Duration, p: &mut PeerSync) {
        p.failures = p.failures.saturating_add(1);
        let factor = 1u32 << p.failures.saturating_sub(1).min(16);
        let wait = config
            .initial_backoff
            .saturating_mul(factor)
            .min(config.max_backoff);
        p.retry_at = Some(now + wait);
        p.behind = true;
    }

    fn pulls(&mut self, actions: &mut Vec<SyncAction>) {
        for (peer, p) in &mut self.peers {
            let due = p.retry_at.is_none_or(|at| self.now >= at);
            let wanted = p.behind || p.announced > p.cursor;
            if wanted && !p.busy && due {
                p.busy = true;
                p.behind = false;
                actions.push(SyncAction::Pull {
                    peer: *peer,
                    cursor: p.cursor,
                    limit: self.config.page_size,
                });
            }
        }
    }
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
        // A full page: more to come, but only once this one is stored.
        assert_eq!(
            s.handle(SyncEvent::Page {
                peer: A,
                through: 552,
                more: true,
                head: 1_000,
            }),
            vec![]
        );
        assert_eq!(
            s.handle(SyncEvent::Stored {
                peer: A,
                through: 552
            }),
            vec![
                SyncAction::SaveCursor {
                    peer: A,
                    cursor: 552
                },
                pull(A, 552)
            ]
        );
        assert_eq!(
            s.handle(SyncEvent::Page {
                peer: A,
                through: 600,
                more: false,
                head: 1_000,
            }),
            vec![]
        );
        assert_eq!(
            s.handle(SyncEvent::Stored {
                peer: A,
                through: 600
            }),
            vec![SyncAction::SaveCursor {
                peer: A,
                cursor: 600
            }]
        );
        assert_eq!(s.cursor(&A), Some(600));
    }

    #[test]
    fn the_cursor_moves_only_after_storing() {
        let mut s = state();
        s.handle(SyncEvent::Connected { peer: A, cursor: 0 });
        s.handle(SyncEvent::Page {
            peer: A,
            through: 100,
            more: false,
            head: 1_000,
        });
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
    }

    #[test]
    fn notifications_while_busy_wait_for_the_current_page() {
        let mut s = state();
        s.handle(SyncEvent::Connected { peer: A, cursor: 0 });
        assert_eq!(
            s.handle(SyncEvent::Notified {
                peer: A,
                latest: 10
            }),
            vec![]
        );
        s.handle(SyncEvent::Page {
            peer: A,
            through: 5,
            more: false,
            head: 5,
        });
        // The notification said 10 while the page covered 5: pull again after storing.
        let actions = s.handle(SyncEvent::Stored {
            peer: A,
            through: 5,
        });
        assert_eq!(actions.last(), Some(&pull(A, 5)));
        // A notification for what we already have asks for nothing.
        s.handle(SyncEvent::Page {
            peer: A,
            through: 10,
            more: false,
            head: 1_000,
        });
        s.handle(SyncEvent::Stored {
            peer: A,
            through: 10,
        });
        assert_eq!(
            s.handle(SyncEvent::Notified {
                peer: A,
                latest: 10
            }),
            vec![]
        );
    }

    #[test]
    fn failures_back_off_exponentially_per_peer() {
        let mut s = state();
        s.handle(SyncEvent::Connected { peer: A, cursor: 0 });
        s.handle(SyncEvent::Connected { peer: B, cursor: 0 });
        assert_eq!(s.handle(SyncEvent::Failed(A)), vec![]);
        let at = |ms| SyncEvent::Tick {
            now: Duration::from_millis(ms),
        };
        assert_eq!(s.handle(at(499)), vec![]);
        assert_eq!(s.handle(at(500)), vec![pull(A, 0)]);
        s.handle(SyncEvent::Failed(A)); // second failure at 500 ms: wait 1 s
        assert_eq!(s.handle(at(1499)), vec![]);
        assert_eq!(s.handle(at(1500)), vec![pull(A, 0)]);
        // B is unaffected and still waits on its own first pull.
        s.handle(SyncEvent::Page {
            peer: B,
            through: 3,
            more: false,
            head: 1_000,
        });
        assert_eq!(
            s.handle(SyncEvent::Stored {
                peer: B,
                through: 3
            }),
            vec![SyncAction::SaveCursor { peer: B, cursor: 3 }]
        );
    }

    #[test]
    fn a_page_that_goes_backwards_is_a_failure_not_a_rewind() {
        let mut s = state();
        s.handle(SyncEvent::Connected {
            peer: A,
            cursor: 50,
        });
        assert_eq!(
            s.handle(SyncEvent::Page {
                peer: A,
                through: 20,
                more: false,
                head: 1_000,
            }),
            vec![]
        );
        assert_eq!(s.cursor(&A), Some(50));
        assert_eq!(
            s.handle(SyncEvent::Tick {
                now: Duration::from_secs(1)
            }),
            vec![pull(A, 50)]
        );
        // Stored events for old pages never move the cursor back either.
        s.handle(SyncEvent::Stored {
            peer: A,
            through: 10,
        });
        assert_eq!(s.cursor(&A), Some(50));
    }

    /// A peer with `log` reports serves pages; pulls fail, stores fail and notifications come
    /// at random. The cursor never goes back, never passes what was stored, and reaches the
    /// end once the failures stop.
    #[test]
    fn random_failures_never_lose_or_skip_reports() {
        use rand::{Rng, SeedableRng};
        for seed in 0..200u64 {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let config = SyncConfig {
                page_size: rng.gen_range(1..20),
                ..SyncConfig::default()
            };
            let mut s = SyncState::new(config);
            let mut log: u64 = rng.gen_range(0..200);
            let mut stored_through = 0u64;
            let mut now = Duration::ZERO;
            let mut pending = s.handle(SyncEvent::Connected { peer: A, cursor: 0 });
            let mut in_flight: Option<u64> = None;
            for step in 0..5_000 {
                let calm = step > 3_000;
                for action in std::mem::take(&mut pending) {
                    match action {
                        SyncAction::Pull { cursor, limit, .. } => {
                            assert!(in_flight.is_none(), "seed {seed}: two pulls at once");
                            assert_eq!(
                                cursor, stored_through,
                                "seed {seed}: pulled from elsewhere"
                            );
                            in_flight = Some(cursor + u64::from(limit));
                        }
                        SyncAction::SaveCursor { cursor, .. } => {
                            assert!(
                                cursor <= stored_through,
                                "seed {seed}: cursor passed the store"
                            );
                        }
                    }
                }
                let event = if let Some(end) = in_flight.take() {
                    if !calm && rng.gen_bool(0.2) {
                        SyncEvent::Failed(A)
                    } else {
                        let through = end.min(log);
                        let page = SyncEvent::Page {
                            peer: A,
                            through,
                            more: through < log,
                            head: log,
                        };
                        pending.extend(s.handle(page));
                        if !calm && rng.gen_bool(0.2) {
                            SyncEvent::Failed(A) // the store failed: nothing stored
                        } else {
                            stored_through = stored_through.max(through);
                            SyncEvent::Stored { peer: A, through }
                        }
                    }
                } else if !calm && rng.gen_bool(0.3) {
                    log += rng.gen_range(0..5);
                    SyncEvent::Notified {
                        peer: A,
                        latest: log,
                    }
                } else {
                    now += Duration::from_millis(250);
                    SyncEvent::Tick { now }
                };
                let before = s.cursor(&A).unwrap_or(0);
                pending.extend(s.handle(event));
                assert!(
                    s.cursor(&A).unwrap_or(0) >= before,
                    "seed {seed}: cursor went back"
                );
            }
            assert_eq!(s.cursor(&A), Some(log), "seed {seed}: did not catch up");
        }
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
}

#[cfg(test)]
mod held_back {
    use super::*;

    const A: PeerKey = [1; 32];

    #[test]
    fn a_page_that_holds_reports_back_stops_the_asking_until_something_new() {
        let mut s = SyncState::new(SyncConfig::default());
        s.handle(SyncEvent::Connected { peer: A, cursor: 0 });
        // The peer announced 10 but serves through 4 only: 5 is embargoed for us.
        s.handle(SyncEvent::Notified {
            peer: A,
            latest: 10,
        });
        s.handle(SyncEvent::Page {
            peer: A,
            through: 4,
            more: false,
            head: 10,
        });
        assert_eq!(
            s.handle(SyncEvent::Stored {
                peer: A,
                through: 4
            }),
            vec![SyncAction::SaveCursor { peer: A, cursor: 4 }],
            "no pull loop over held-back reports"
        );
        // A notification of something newer, or a poll, asks again.
        assert_eq!(
            s.handle(SyncEvent::Poll(A)),
            vec![SyncAction::Pull {
                peer: A,
                cursor: 4,
                limit: 512
            }]
        );
    }

    #[test]
    fn a_notification_newer_than_the_page_is_kept() {
        let mut s = SyncState::new(SyncConfig::default());
        s.handle(SyncEvent::Connected { peer: A, cursor: 0 });
        // Announced 12 while a page computed at head 10 was in flight.
        s.handle(SyncEvent::Notified {
            peer: A,
            latest: 12,
        });
        s.handle(SyncEvent::Page {
            peer: A,
            through: 10,
            more: false,
            head: 10,
        });
        assert_eq!(
            s.handle(SyncEvent::Stored {
                peer: A,
                through: 10
            }),
            vec![
                SyncAction::SaveCursor {
                    peer: A,
                    cursor: 10
                },
                SyncAction::Pull {
                    peer: A,
                    cursor: 10,
                    limit: 512
                }
            ]
        );
    }

    #[test]
    fn a_page_beyond_the_peers_own_head_is_a_failure() {
        let mut s = SyncState::new(SyncConfig::default());
        s.handle(SyncEvent::Connected { peer: A, cursor: 0 });
        s.handle(SyncEvent::Page {
            peer: A,
            through: 11,
            more: false,
            head: 10,
        });
        s.handle(SyncEvent::Stored {
            peer: A,
            through: 0,
        });
        assert_eq!(s.cursor(&A), Some(0));
    }
}
