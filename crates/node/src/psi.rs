//! Answering and asking private set intersection queries (docs/PSI.md): who may ask and how
//! much (`Allowances`, a pure ledger of values asked per partner and UTC day), the responder's
//! secret and tags per partner (`Responders`, made on a blocking thread and kept for the day),
//! and the requester's side (`ask`). The cryptography is `cairn_core::psi`; what a partner may
//! see is `exchange::psi_values`, the same decision as serving it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use cairn_core::psi::{PsiError, ResponderKey};
use cairn_core::{Indicator, OrgPublicKey};
use cairn_net::{NetHandle, NodeAddress, PsiAnswer, PsiQuery};
use cairn_policy::Partner;
use cairn_store::{ReadError, Store};

use crate::exchange::SharingRules;

const DAY_MS: i64 = 86_400_000;
/// Tags older than this are made again when reports arrived since.
const TAGS_FRESH_MS: i64 = 15 * 60 * 1000;

/// Values asked per partner organisation in the current UTC day.
#[derive(Debug, Default)]
pub(crate) struct Allowances {
    used: HashMap<OrgPublicKey, (i64, u64)>,
}

impl Allowances {
    /// Counts `asked` values against `org`'s allowance of `per_day` at `now_ms`, or says why
    /// the query is refused (0: none are offered to it).
    pub(crate) fn admit(
        &mut self,
        org: &OrgPublicKey,
        name: &str,
        per_day: u32,
        asked: usize,
        now_ms: i64,
    ) -> Result<(), String> {
        if per_day == 0 {
            return Err(format!(
                "this node does not answer private set intersection queries from {name}"
            ));
        }
        let day = now_ms.div_euclid(DAY_MS);
        let entry = self.used.entry(*org).or_insert((day, 0));
        if entry.0 != day {
            *entry = (day, 0);
        }
        let asked = asked as u64;
        let left = u64::from(per_day).saturating_sub(entry.1);
        if asked > left {
            return Err(format!(
                "{asked} values asked, {left} left of the {per_day} {name} may ask today (UTC)"
            ));
        }
        entry.1 += asked;
        Ok(())
    }
}

/// A responder's secret and tags for one partner.
struct Made {
    day: i64,
    key: ResponderKey,
    tags: Arc<Vec<u64>>,
    head: u64,
    made_ms: i64,
}

/// The responder's secret and tags per partner, kept for the UTC day (a new secret each day)
/// and made again when reports arrived and they are older than 15 minutes.
#[derive(Clone, Default)]
pub(crate) struct Responders {
    made: Arc<Mutex<HashMap<OrgPublicKey, Made>>>,
}

/// Why a query could not be answered here.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AnswerError {
    #[error(transparent)]
    Psi(#[from] PsiError),
    #[error(transparent)]
    Read(#[from] ReadError),
}

impl Responders {
    /// The answer to `blinded` from `partner`: run on a blocking thread.
    pub(crate) fn answer(
        &self,
        store: &Store,
        rules: &SharingRules,
        partner: &Partner,
        blinded: &[u8],
        now_ms: i64,
    ) -> Result<PsiAnswer, AnswerError> {
        let day = now_ms.div_euclid(DAY_MS);
        let head = store.last_seq()?;
        // What is kept for this partner, looked at under the lock; tags are made without it,
        // so that one partner's tags (seconds for a large store) never hold up another's answer.
        let kept = {
            let made = self.made.lock().unwrap_or_else(|e| e.into_inner());
            made.get(&partner.org).map(|m| {
                let fresh = m.day == day && (m.head == head || now_ms - m.made_ms < TAGS_FRESH_MS);
                (fresh, m.day, m.key.clone(), Arc::clone(&m.tags))
            })
        };
        let (key, tags) = match kept {
            Some((true, _, key, tags)) => (key, tags),
            kept => {
                // Today's secret is kept while the tags are made again; a new day, a new one.
                let key = match kept {
                    Some((_, kept_day, key, _)) if kept_day == day => key,
                    _ => ResponderKey::generate(&mut rand::rngs::OsRng),
                };
                let values = crate::exchange::psi_values(store, rules, partner, now_ms)?;
                let tags = Arc::new(key.tags(&values, &mut rand::rngs::OsRng)?);
                self.made.lock().unwrap_or_else(|e| e.into_inner()).insert(
                    partner.org,
                    Made {
                        day,
                        key: key.clone(),
                        tags: Arc::clone(&tags),
                        head,
                        made_ms: now_ms,
                    },
                );
                (key, tags)
            }
        };
        let evaluated = key.evaluate(blinded)?;
        Ok(PsiAnswer::Answered {
            evaluated,
            tags: tags.to_vec(),
        })
    }
}

/// Why asking a partner failed.
#[derive(Debug, thiserror::Error)]
pub enum PsiAskError {
    /// The values cannot be asked (none, too many).
    #[error(transparent)]
    Query(#[from] PsiError),
    /// No node of the partner is connected.
    #[error("no node of {0} is connected: try again once `cairn peers` shows one connected")]
    NotConnected(String),
    /// The partner is not in the trust list.
    #[error("{0} is not a partner in the trust list")]
    UnknownPartner(String),
    /// The partner's node did not answer.
    #[error("{node}: {error}")]
    Request {
        /// The node asked.
        node: NodeAddress,
        /// What went wrong.
        error: cairn_net::RequestError,
    },
    /// The partner's node refused, and why.
    #[error("{partner} refused: {reason}")]
    Refused {
        /// The partner.
        partner: String,
        /// What it said.
        reason: String,
    },
    /// The answer is malformed.
    #[error("{partner} answered something malformed: {error}")]
    BadAnswer {
        /// The partner.
        partner: String,
        /// What is wrong.
        error: PsiError,
    },
    /// The node stopped.
    #[error("the node has stopped")]
    Stopped,
}

/// Asks `node` of partner `name` which of `values` it holds that this organisation may see:
/// the blinding and the reading of the answer run on blocking threads.
pub(crate) async fn ask(
    net: &NetHandle,
    node: &NodeAddress,
    name: &str,
    values: Vec<Indicator>,
) -> Result<Vec<Indicator>, PsiAskError> {
    let (query, blinded) = tokio::task::spawn_blocking(move || {
        cairn_core::psi::start_query(&values, &mut rand::rngs::OsRng)
    })
    .await
    .map_err(|_| PsiAskError::Stopped)??;
    let answer = net
        .psi_query(node, PsiQuery { blinded })
        .await
        .map_err(|error| PsiAskError::Request {
            node: node.clone(),
            error,
        })?;
    match answer {
        PsiAnswer::Refused(reason) => Err(PsiAskError::Refused {
            partner: name.to_string(),
            reason,
        }),
        PsiAnswer::Answered { evaluated, tags } => {
            let partner = name.to_string();
            tokio::task::spawn_blocking(move || query.finish(&evaluated, &tags))
                .await
                .map_err(|_| PsiAskError::Stopped)?
                .map_err(|error| PsiAskError::BadAnswer { partner, error })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn a_partner_asks_within_its_daily_allowance_and_none_when_off() {
        let org = cairn_core::OrgKey::generate(&mut rand::rngs::StdRng::seed_from_u64(1)).public();
        let mut ledger = Allowances::default();
        let day = 20_000 * DAY_MS;
        assert!(
            ledger
                .admit(&org, "Bank", 0, 1, day)
                .unwrap_err()
                .contains("does not answer")
        );
        assert!(ledger.admit(&org, "Bank", 1000, 600, day).is_ok());
        let refused = ledger.admit(&org, "Bank", 1000, 600, day + 1).unwrap_err();
        assert!(refused.contains("400 left of the 1000"), "{refused}");
        assert!(ledger.admit(&org, "Bank", 1000, 400, day + 2).is_ok());
        // The next UTC day starts again.
        assert!(ledger.admit(&org, "Bank", 1000, 1000, day + DAY_MS).is_ok());
    }
}
