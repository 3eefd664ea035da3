//! How reports look to people (tables, detail views) and to scripts (JSON).

use std::fmt::Write as _;

use cairn_core::model::paris_call_principle;
use cairn_core::{OrgPublicKey, Report, RevealedDisclosure, VerifiedReport};
use cairn_store::{Provenance, ReportStatus, StoredReport};

/// Milliseconds since the Unix epoch as RFC 3339 text (UTC).
pub use cairn_core::when::rfc3339;

/// Milliseconds since the Unix epoch as `YYYY-MM-DD HH:MM` (UTC), for tables.
pub fn short_time(ms: i64) -> String {
    let text = rfc3339(ms);
    text.get(..16).map_or(text.clone(), |t| t.replace('T', " "))
}

/// Parses a time filter: RFC 3339, a date (`2026-11-01`), or an age (`7d`, `12h`, `30m`).
/// `end_of_day` makes a bare date mean its last millisecond.
pub fn parse_time(text: &str, now_ms: i64, end_of_day: bool) -> anyhow::Result<i64> {
    Ok(cairn_core::when::parse(text, now_ms, end_of_day)?)
}

/// Who wrote a report, as people read it.
pub fn author_label(author: &OrgPublicKey, us: &OrgPublicKey) -> String {
    if author == us {
        "this org".to_string()
    } else {
        author.short()
    }
}

fn status_text(status: &ReportStatus) -> String {
    match status {
        ReportStatus::Current => "current".into(),
        ReportStatus::SupersededBy(id) => format!("superseded by {id}"),
        ReportStatus::Retracted(id) => format!("retracted by {id}"),
    }
}

fn provenance_text(p: &Provenance) -> String {
    match p {
        Provenance::Local => "published on this node".into(),
        Provenance::Import => "imported from a file".into(),
        Provenance::Peer { org, hop } => format!("received from organisation {org} at hop {hop}"),
    }
}

fn distribution_text(r: &Report) -> String {
    let scope = match r.distribution.scope {
        cairn_core::Scope::Community => {
            format!("community, up to {} hop(s)", r.distribution.hop_limit)
        }
        scope => scope.to_string(),
    };
    match &r.distribution.community {
        Some(community) => format!("{scope}, within community {community}"),
        None => scope,
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let cut: String = text.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

/// A table of reports, one line each.
pub fn table(reports: &[StoredReport], us: &OrgPublicKey) -> String {
    table_with_status(reports, &[], us)
}

/// [`table`], with each report's standing among its versions (in the same order) marked after
/// its title when it is not the current one: retracted, or superseded.
pub fn table_with_status(
    reports: &[StoredReport],
    statuses: &[ReportStatus],
    us: &OrgPublicKey,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<12}  {:<16}  {:<13}  {:<16}  {:<8}  {:<12}  TITLE",
        "ID", "CREATED (UTC)", "KIND", "TLP", "SEVERITY", "AUTHOR"
    );
    for (i, stored) in reports.iter().enumerate() {
        let r = stored.report.report();
        let mark = match statuses.get(i) {
            Some(ReportStatus::Retracted(by)) => format!("  [retracted by {}]", by.short()),
            Some(ReportStatus::SupersededBy(by)) => format!("  [superseded by {}]", by.short()),
            Some(ReportStatus::Current) | None => String::new(),
        };
        let _ = writeln!(
            out,
            "{:<12}  {:<16}  {:<13}  {:<16}  {:<8}  {:<12}  {}{mark}",
            stored.report.id().short(),
            short_time(r.created_ms),
            r.kind.as_str(),
            r.tlp.official(),
            r.severity.map_or("-", |s| s.as_str()),
            author_label(&stored.report.author(), us),
            truncate(&r.title, 70),
        );
    }
    out
}

/// Everything about one report, for people.
pub fn detail(
    report: &VerifiedReport,
    stored: Option<(&StoredReport, &ReportStatus)>,
    us: &OrgPublicKey,
) -> String {
    let r = report.report();
    let mut out = String::new();
    line(&mut out, "Report", &report.id().to_string());
    line(&mut out, "Title", &r.title);
    line(&mut out, "Kind", r.kind.as_str());
    line(
        &mut out,
        "Author",
        &format!(
            "{}{}",
            report.author(),
            if report.author() == *us {
                " (this organisation)"
            } else {
                ""
            }
        ),
    );
    line(&mut out, "Created", &rfc3339(r.created_ms));
    line(&mut out, "TLP", r.tlp.official());
    line(&mut out, "Distribution", &distribution_text(r));
    if !r.recipients.is_empty() {
        let names: Vec<String> = r.recipients.iter().map(|k| k.to_string()).collect();
        line(&mut out, "Recipients", &names.join("\n              "));
    }
    line(
        &mut out,
        "Severity",
        r.severity.map_or("not stated", |s| s.as_str()),
    );
    line(&mut out, "Confidence", &format!("{}/100", r.confidence));
    if !r.tags.is_empty() {
        line(&mut out, "Tags", &r.tags.join(", "));
    }
    if !r.sectors.is_empty() {
        line(&mut out, "Sectors", &r.sectors.join(", "));
    }
    if !r.regions.is_empty() {
        line(&mut out, "Regions", &r.regions.join(", "));
    }
    if !r.paris_call_principles.is_empty() {
        let names: Vec<String> = r
            .paris_call_principles
            .iter()
            .map(|p| format!("{p}. {}", paris_call_principle(*p).unwrap_or("?")))
            .collect();
        line(&mut out, "Paris Call", &names.join("; "));
    }
    if let Some(coding) = &r.coding {
        worded_lines(&mut out, coding.in_words());
    }
    if let Some(entry) = &r.directory_entry {
        worded_lines(&mut out, entry.in_words());
    }
    if let Some(sighting) = &r.sighting {
        worded_lines(&mut out, sighting.in_words());
    }
    if let Some(old) = r.supersedes {
        line(&mut out, "Supersedes", &old.to_string());
    }
    if let Some(target) = r.retracts {
        line(&mut out, "Retracts", &target.to_string());
    }
    if let Some((stored, status)) = stored {
        line(&mut out, "Status", &status_text(status));
        line(
            &mut out,
            "Stored",
            &format!(
                "#{} at {}, {}",
                stored.seq,
                rfc3339(stored.received_ms),
                provenance_text(&stored.provenance)
            ),
        );
    }
    if !r.summary.is_empty() {
        let _ = writeln!(out, "\n{}", r.summary);
    }
    if !r.indicators.is_empty() {
        let _ = writeln!(out, "\nIndicators ({}):", r.indicators.len());
        for i in &r.indicators {
            let mut note = if i.description.is_empty() {
                String::new()
            } else {
                format!("  ({})", i.description)
            };
            if let Some(window) = validity_window(i) {
                note.push_str(&format!("  [{window}]"));
            }
            let _ = writeln!(out, "  {:<7} {}{}", i.kind.as_str(), i.value, note);
        }
    }
    let total = r.disclosure_digests.len();
    if total > 0 {
        let _ = writeln!(
            out,
            "\nSelective disclosures: {} of {total} present, {} withheld",
            report.disclosures().len(),
            report.withheld()
        );
        for d in report.disclosures() {
            let _ = writeln!(out, "  {:<15} {}", d.field.as_str(), d.value);
        }
        if report.withheld() > 0 {
            let _ = writeln!(
                out,
                "  ({} withheld by whoever passed this copy on; the signature still covers their digests)",
                report.withheld()
            );
        }
    }
    out
}

/// One report as JSON for scripts.
#[derive(serde::Serialize)]
pub struct ReportJson<'a> {
    id: String,
    author: String,
    created: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seq: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    received: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    provenance: Option<String>,
    #[serde(flatten)]
    report: &'a Report,
    disclosures: &'a [RevealedDisclosure],
    withheld_disclosures: usize,
}

impl<'a> ReportJson<'a> {
    /// The JSON view of a report, with its place in the store when known.
    pub fn new(report: &'a VerifiedReport, stored: Option<(&StoredReport, &ReportStatus)>) -> Self {
        ReportJson {
            id: report.id().to_string(),
            author: report.author().to_string(),
            created: rfc3339(report.report().created_ms),
            status: stored.map(|(_, s)| status_text(s)),
            seq: stored.map(|(s, _)| s.seq),
            received: stored.map(|(s, _)| rfc3339(s.received_ms)),
            provenance: stored.map(|(s, _)| provenance_text(&s.provenance)),
            report: report.report(),
            disclosures: report.disclosures(),
            withheld_disclosures: report.withheld(),
        }
    }
}

/// One labelled line of `report show`.
fn line(out: &mut String, label: &str, value: &str) {
    let _ = writeln!(out, "{label:<14}{value}");
}

/// The lines of `report show` for parts given in words (`in_words`): short lists on one line,
/// longer ones an item a line.
fn worded_lines(out: &mut String, parts: Vec<(&'static str, Vec<String>)>) {
    for (label, items) in parts {
        let short = items.iter().map(|i| i.len() + 2).sum::<usize>() <= 60;
        let separator = if short {
            ", ".to_string()
        } else {
            format!("\n{:14}", "")
        };
        line(out, label, &items.join(&separator));
    }
}

/// The validity window its author gave an indicator, in words (`valid from ... until ...`);
/// none when not said.
pub fn validity_window(i: &cairn_core::Indicator) -> Option<String> {
    let day = |ms: i64| cairn_core::when::rfc3339(ms);
    match (i.valid_from_ms, i.valid_until_ms) {
        (0, 0) => None,
        (from, 0) => Some(format!("valid from {}", day(from))),
        (0, until) => Some(format!("valid until {}", day(until))),
        (from, until) => Some(format!("valid from {} until {}", day(from), day(until))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_filters_accept_three_forms() {
        let now = 1_763_900_000_000;
        assert_eq!(
            parse_time("2026-11-01", now, false).unwrap(),
            1_793_491_200_000
        );
        assert_eq!(
            parse_time("2026-11-01", now, true).unwrap(),
            1_793_491_200_000 + 86_399_999
        );
        assert_eq!(
            parse_time("2026-11-01T00:00:00Z", now, false).unwrap(),
            1_793_491_200_000
        );
        assert_eq!(parse_time("2d", now, false).unwrap(), now - 2 * 86_400_000);
        let err = parse_time("yesterday", now, false).unwrap_err().to_string();
        assert!(err.contains("\"yesterday\" is not a time"), "{err}");
    }

    #[test]
    fn long_titles_are_cut_with_an_ellipsis() {
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
    }
}
