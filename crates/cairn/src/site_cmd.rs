//! `cairn site build DIR`: the node's public advisories as a static web site (an index, a page
//! per advisory, the Atom feed, a style sheet) to publish anywhere. Only what the public feed
//! shows is written (`cairn_api::public`): current TLP:CLEAR advisories left unrestricted by
//! their authors, never a disclosure or an indicator. Pages are plain, accessible HTML: a
//! language, landmarks, a skip link, headings in order, readable without scripts.

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use cairn_api::public::{PublicAdvisory, public_advisories};
use html_escape::encode_text as text;

use crate::control::{ControlRequest, ControlResponse, ask, is_running};
use crate::home::{Home, now_ms};
use crate::view;

/// The public advisories, from the running node or from a stopped node's store.
pub fn advisories_of(home: &Home) -> Result<Vec<PublicAdvisory>> {
    let socket = home.control_socket_path();
    if is_running(&socket) {
        return match ask(&socket, &ControlRequest::PublicAdvisories)? {
            ControlResponse::PublicAdvisories(list) => Ok(list),
            _ => bail!("the running node answered something unexpected"),
        };
    }
    let store = home.open_store()?;
    advisories_in(home, &store)
}

/// The public advisories in `store`, their authors named as node.toml names them.
pub fn advisories_in(home: &Home, store: &cairn_store::Store) -> Result<Vec<PublicAdvisory>> {
    let config = home.config()?;
    let us = home.organisation()?;
    let names = crate::stix_export::names(&config, &us);
    Ok(public_advisories(store, &|org| names.get(org).cloned())?)
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;line-height:1.5;max-width:46rem;margin:0 auto;padding:1rem;color:#111;background:#fff}\na{color:#0645ad}\na:focus{outline:3px solid #111;outline-offset:2px}\n.skip{position:absolute;left:-999px}.skip:focus{left:1rem;top:1rem;background:#fff;padding:.5rem}\n.tlp{display:inline-block;background:#fff;color:#111;border:2px solid #111;padding:0 .4rem;font-weight:bold}\ndl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem}\nfooter{margin-top:2rem;font-size:.9rem;color:#333}\n";

fn page(title: &str, body: &str, css: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n<link rel=\"stylesheet\" href=\"{css}\">\n</head>\n<body>\n<a class=\"skip\" href=\"#main\">Skip to the content</a>\n<main id=\"main\">\n{body}</main>\n<footer><p>Published with Cairn. <span class=\"tlp\">TLP:CLEAR</span>: anyone may read and pass these on.</p></footer>\n</body>\n</html>\n",
        text(title)
    )
}

fn details(a: &PublicAdvisory) -> String {
    let mut out = String::from("<dl>\n");
    let mut row = |name: &str, value: String| {
        let _ = writeln!(out, "<dt>{name}</dt><dd>{}</dd>", text(&value));
    };
    row("Published", view::rfc3339(a.created_ms));
    row("By", a.author.clone());
    if let Some(s) = &a.severity {
        row("Severity", s.clone());
    }
    if !a.sectors.is_empty() {
        row("Sectors", a.sectors.join(", "));
    }
    if !a.regions.is_empty() {
        row("Regions", a.regions.join(", "));
    }
    if !a.principles.is_empty() {
        let named: Vec<String> = a
            .principles
            .iter()
            .map(|p| {
                cairn_core::model::paris_call_principle(*p)
                    .map_or_else(|| p.to_string(), |name| format!("{p} ({name})"))
            })
            .collect();
        row("Paris Call principles", named.join(", "));
    }
    out.push_str("</dl>\n");
    out
}

/// Writes the site of `advisories` into `dir` (created if missing; the files it writes are
/// replaced, nothing else is touched). Returns the number of pages written.
pub fn write_site(
    dir: &Path,
    organisation: &str,
    feed: &str,
    advisories: &[PublicAdvisory],
) -> Result<usize> {
    let pages = dir.join("advisories");
    std::fs::create_dir_all(&pages)
        .with_context(|| format!("cannot create {}", pages.display()))?;
    let write = |path: &Path, content: &str| {
        std::fs::write(path, content).with_context(|| format!("cannot write {}", path.display()))
    };
    write(&dir.join("style.css"), STYLE)?;
    write(&dir.join("advisories.atom"), feed)?;
    let mut index = format!(
        "<h1>{}: public advisories</h1>\n<p>Advisories shared through Cairn that anyone may read and pass on. <a href=\"advisories.atom\">Subscribe to the feed</a>.</p>\n",
        text(organisation)
    );
    if advisories.is_empty() {
        index.push_str("<p>No public advisories yet.</p>\n");
    } else {
        index.push_str("<ul>\n");
    }
    for a in advisories {
        let _ = writeln!(
            index,
            "<li><a href=\"advisories/{}.html\">{}</a> <span>({}, {})</span></li>",
            a.id,
            text(&a.title),
            text(&view::short_time(a.created_ms)),
            text(&a.author)
        );
        let body = format!(
            "<p><a href=\"../index.html\">All advisories</a></p>\n<h1>{}</h1>\n<p><span class=\"tlp\">TLP:CLEAR</span></p>\n{}<h2>Summary</h2>\n<p>{}</p>\n",
            text(&a.title),
            details(a),
            text(&a.summary).replace('\n', "<br>\n")
        );
        write(
            &pages.join(format!("{}.html", a.id)),
            &page(&a.title, &body, "../style.css"),
        )?;
    }
    if !advisories.is_empty() {
        index.push_str("</ul>\n");
    }
    write(
        &dir.join("index.html"),
        &page(
            &format!("{organisation}: public advisories"),
            &index,
            "style.css",
        ),
    )?;
    Ok(advisories.len() + 1)
}

/// `cairn site build DIR`.
pub fn build(home: &Home, dir: &Path) -> Result<ExitCode> {
    let config = home.config()?;
    let us = home.organisation()?;
    let advisories = advisories_of(home)?;
    let feed = cairn_api::public::feed(&advisories, &us, &config.node.organisation, now_ms());
    let pages = write_site(dir, &config.node.organisation, &feed, &advisories)?;
    println!(
        "Wrote {pages} pages ({} advisories) and the Atom feed into {}: only current TLP:CLEAR advisories left unrestricted by their authors, without disclosures or indicators.",
        advisories.len(),
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}
