//! `cairn site build DIR`: the node's public advisories as a static web site (an index, a page
//! per advisory, the Atom feed, a style sheet) to publish anywhere. Only what the public feed
//! shows is written (`cairn_api::public`): current TLP:CLEAR advisories left unrestricted by
//! their authors, never a disclosure or an indicator. Pages are plain, accessible HTML: a
//! language, landmarks, a skip link, headings in order, readable without scripts. With
//! `--observance`, the organisation's own observance figures too (`observance.html`: what
//! `cairn observance --mine --min-count K` gives, cells under K left out), as SVG bar charts
//! and a table.

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use cairn_api::chart::horizontal_bars;
use cairn_api::observance::{ObservanceQuery, ObservanceView};
use cairn_api::public::{PublicAdvisory, public_advisories};
use html_escape::{encode_double_quoted_attribute as attribute, encode_text as text};

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

const STYLE: &str = "svg.chart{max-width:640px}\ntable{border-collapse:collapse}th,td{border:1px solid #999;padding:.2rem .5rem;text-align:left}\nfigure{margin:1rem 0}\nbody{font-family:system-ui,sans-serif;line-height:1.5;max-width:46rem;margin:0 auto;padding:1rem;color:#111;background:#fff}\na{color:#0645ad}\na:focus{outline:3px solid #111;outline-offset:2px}\n.skip{position:absolute;left:-999px}.skip:focus{left:1rem;top:1rem;background:#fff;padding:.5rem}\n.tlp{display:inline-block;background:#fff;color:#111;border:2px solid #111;padding:0 .4rem;font-weight:bold}\ndl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem}\nfooter{margin-top:2rem;font-size:.9rem;color:#333}\n";

/// A page of the site, in English; an advisory's own title and summary carry its language.
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
    if let Some(language) = &a.language {
        row("Language", language.clone());
    }
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

/// "Principle 3" from "principle 3".
fn capitalised(words: &str) -> String {
    let mut chars = words.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The observance page: per quarter, a chart of the published counts by principle and norm, then every
/// published cell in a table.
fn observance_page(organisation: &str, trends: &ObservanceView) -> String {
    let mut body = format!(
        "<p><a href=\"index.html\">All advisories</a></p>\n<h1>{org}: Paris Call observance</h1>\n<p>Incident reports {org} wrote, counted by the Paris Call principle or UN GGE norm they concern, region, sector and quarter ({reports} reports). A report counts once in every combination of its principles and norms, regions and sectors. Counts under {k} are left out ({suppressed} left out), so that no small count points at one victim.</p>\n",
        org = text(organisation),
        reports = trends.reports,
        k = trends.min_count,
        suppressed = trends.suppressed,
    );
    if trends.cells.is_empty() {
        body.push_str("<p>No counts to publish yet.</p>\n");
        return body;
    }
    for (quarter, bars) in cairn_api::observance::quarter_bars(trends) {
        let _ = write!(
            body,
            "<h2>{q}</h2>\n<figure>\n{}<figcaption>{q}: reports by principle and norm, over all regions and sectors</figcaption>\n</figure>\n",
            horizontal_bars(
                &format!("chart-{quarter}"),
                &format!("{quarter}: reports by Paris Call principle and UN GGE norm"),
                "Horizontal bars, one per principle or norm; the count is written beside each bar and in the table below.",
                &bars
            ),
            q = text(&quarter),
        );
    }
    body.push_str("<h2>Every published count</h2>\n<table>\n<thead><tr><th scope=\"col\">Quarter</th><th scope=\"col\">Principle or norm</th><th scope=\"col\">Region</th><th scope=\"col\">Sector</th><th scope=\"col\">Reports</th></tr></thead>\n<tbody>\n");
    for c in &trends.cells {
        let _ = writeln!(
            body,
            "<tr><td>{}</td><td>{}: {}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            text(&c.quarter),
            capitalised(&c.measure()),
            text(&c.name),
            text(&c.region),
            text(&c.sector),
            c.count
        );
    }
    body.push_str("</tbody>\n</table>\n");
    body
}

/// Writes the site of `advisories` into `dir` (created if missing; the files it writes are
/// replaced, nothing else is touched), with the observance page when `trends` are given.
/// Returns the number of pages written.
pub fn write_site(
    dir: &Path,
    organisation: &str,
    feed: &str,
    advisories: &[PublicAdvisory],
    trends: Option<&ObservanceView>,
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
    let mut written = 1;
    if let Some(trends) = trends {
        index.push_str(
            "<p><a href=\"observance.html\">Paris Call observance: our figures</a></p>\n",
        );
        write(
            &dir.join("observance.html"),
            &page(
                &format!("{organisation}: Paris Call observance"),
                &observance_page(organisation, trends),
                "style.css",
            ),
        )?;
        written += 1;
    }
    if advisories.is_empty() {
        index.push_str("<p>No public advisories yet.</p>\n");
    } else {
        index.push_str("<ul>\n");
    }
    for a in advisories {
        let lang = a
            .language
            .as_ref()
            .map(|l| format!(" lang=\"{}\"", attribute(l)))
            .unwrap_or_default();
        let _ = writeln!(
            index,
            "<li><a href=\"advisories/{}.html\"{lang}>{}</a> <span>({}, {})</span></li>",
            a.id,
            text(&a.title),
            text(&view::short_time(a.created_ms)),
            text(&a.author)
        );
        // The advisory's own words carry its language (the page around them is English).
        let body = format!(
            "<p><a href=\"../index.html\">All advisories</a></p>\n<h1{lang}>{}</h1>\n<p><span class=\"tlp\">TLP:CLEAR</span></p>\n{}<h2>Summary</h2>\n<p{lang}>{}</p>\n",
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
    Ok(advisories.len() + written)
}

/// `cairn site build DIR [--observance [--min-count K]]`.
pub fn build(home: &Home, dir: &Path, observance: Option<u64>) -> Result<ExitCode> {
    let config = home.config()?;
    let us = home.organisation()?;
    let advisories = advisories_of(home)?;
    let feed = cairn_api::public::feed(&advisories, &us, &config.node.organisation, now_ms());
    let trends = match observance {
        Some(min_count) => Some(crate::observance_cmd::trends(
            home,
            &ObservanceQuery {
                mine: true,
                min_count: Some(min_count.max(1)),
                ..ObservanceQuery::default()
            },
        )?),
        None => None,
    };
    let pages = write_site(
        dir,
        &config.node.organisation,
        &feed,
        &advisories,
        trends.as_ref(),
    )?;
    println!(
        "Wrote {pages} pages ({} advisories{}) and the Atom feed into {}: only current TLP:CLEAR advisories left unrestricted by their authors, without disclosures or indicators.",
        advisories.len(),
        if trends.is_some() {
            ", and the observance figures"
        } else {
            ""
        },
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}
