//! Console sessions: a token presented once at sign-in becomes a random session id in an
//! HttpOnly, SameSite=Strict cookie (Secure over HTTPS); each session carries the token it was
//! opened with (checked again on every request, so a revoked token ends its sessions) and a
//! CSRF token that every form posts back.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use rand::RngCore as _;

/// The session cookie's name.
pub(crate) const SESSION_COOKIE: &str = "cairn_session";
/// The cookie that carries the sign-in form's CSRF token before there is a session.
pub(crate) const SIGN_IN_COOKIE: &str = "cairn_sign_in";
/// A session unused this long ends.
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// A session ends this long after sign-in, used or not.
pub(crate) const ABSOLUTE_TIMEOUT: Duration = Duration::from_secs(12 * 3600);
/// Sessions kept at most; signing in past this ends the least recently used.
const MAX_SESSIONS: usize = 1024;

/// A random value for an id or a CSRF token: 32 bytes, base64url without padding.
pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Compares two secrets in time that does not depend on where they differ.
pub(crate) fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// One signed-in browser.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    /// The API token signed in with (kept in memory only).
    pub(crate) token: String,
    /// What every form of this session posts back.
    pub(crate) csrf: String,
    signed_in: Instant,
    last_used: Instant,
}

/// The open sessions of this run (a restart signs everybody out).
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    open: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// Opens a session for `token`; returns its id.
    pub(crate) fn open(&self, token: &str, now: Instant) -> String {
        let id = random_token();
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.retain(|_, s| alive(s, now));
        if open.len() >= MAX_SESSIONS
            && let Some(oldest) = open
                .iter()
                .min_by_key(|(_, s)| s.last_used)
                .map(|(id, _)| id.clone())
        {
            open.remove(&oldest);
        }
        open.insert(
            id.clone(),
            Session {
                token: token.to_string(),
                csrf: random_token(),
                signed_in: now,
                last_used: now,
            },
        );
        id
    }

    /// The live session with this id, marked as used now.
    pub(crate) fn find(&self, id: &str, now: Instant) -> Option<Session> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let session = open.get_mut(id)?;
        if !alive(session, now) {
            open.remove(id);
            return None;
        }
        session.last_used = now;
        Some(session.clone())
    }

    /// The live session with this id, without counting this as use (a live stream asking
    /// whether to go on must not keep an unattended session open).
    pub(crate) fn peek(&self, id: &str, now: Instant) -> Option<Session> {
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.get(id).filter(|s| alive(s, now)).cloned()
    }

    /// Ends a session.
    pub(crate) fn close(&self, id: &str) {
        self.open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }
}

fn alive(session: &Session, now: Instant) -> bool {
    now.saturating_duration_since(session.last_used) < IDLE_TIMEOUT
        && now.saturating_duration_since(session.signed_in) < ABSOLUTE_TIMEOUT
}

/// A `Set-Cookie` value for the console's path, HttpOnly and SameSite=Strict, Secure when the
/// console is served over HTTPS; `max_age` 0 deletes it.
pub(crate) fn cookie(name: &str, value: &str, max_age: Option<u64>, https: bool) -> String {
    let mut cookie = format!("{name}={value}; Path=/ui; HttpOnly; SameSite=Strict");
    if let Some(age) = max_age {
        cookie.push_str(&format!("; Max-Age={age}"));
    }
    if https {
        cookie.push_str("; Secure");
    }
    cookie
}

/// The value of cookie `name` in a request's `Cookie` headers.
pub(crate) fn cookie_value<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_end_when_idle_or_old_and_when_closed() {
        let sessions = Sessions::default();
        let start = Instant::now();
        let id = sessions.open("cairn_token", start);
        let found = sessions.find(&id, start + Duration::from_secs(60)).unwrap();
        assert_eq!(found.token, "cairn_token");
        assert_ne!(found.csrf, id);
        // Used every 20 minutes it lives until the absolute limit.
        let mut at = start;
        while at + Duration::from_secs(20 * 60) < start + ABSOLUTE_TIMEOUT {
            at += Duration::from_secs(20 * 60);
            assert!(sessions.find(&id, at).is_some());
        }
        assert!(sessions.find(&id, start + ABSOLUTE_TIMEOUT).is_none());

        let idle = sessions.open("t", start);
        assert!(sessions.find(&idle, start + IDLE_TIMEOUT).is_none());
        // Looking without using does not keep a session alive.
        let watched = sessions.open("t", start);
        assert!(sessions.peek(&watched, start + IDLE_TIMEOUT / 2).is_some());
        assert!(sessions.peek(&watched, start + IDLE_TIMEOUT).is_none());
        let closed = sessions.open("t", start);
        sessions.close(&closed);
        assert!(sessions.find(&closed, start).is_none());
        assert!(sessions.find("not-a-session", start).is_none());
    }

    #[test]
    fn ids_are_random_and_secrets_compare_whole() {
        assert_ne!(random_token(), random_token());
        assert_eq!(random_token().len(), 43);
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "abcd"));
    }

    #[test]
    fn cookies_are_http_only_strict_and_secure_over_https() {
        assert_eq!(
            cookie(SESSION_COOKIE, "x", None, false),
            "cairn_session=x; Path=/ui; HttpOnly; SameSite=Strict"
        );
        assert_eq!(
            cookie(SESSION_COOKIE, "", Some(0), true),
            "cairn_session=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0; Secure"
        );
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(
            axum::http::header::COOKIE,
            "a=1; cairn_session=abc; b=2".parse().unwrap(),
        );
        assert_eq!(cookie_value(&headers, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie_value(&headers, "missing"), None);
    }
}
