//! What importing a file from another tool produces, whatever its format: report drafts for
//! this node's organisation to sign, and an account of what was merged or skipped and why.

use std::collections::HashSet;

use cairn_core::{Indicator, IndicatorDraft, IndicatorType, OrgPublicKey, ReportDraft, Scope, Tlp};

/// Why a file cannot be imported at all. Nothing of it is imported then.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    /// Not JSON.
    #[error("not JSON: {0}")]
    NotJson(String),
    /// JSON, but neither a STIX 2.1 bundle nor MISP events.
    #[error("{0}")]
    UnknownFormat(String),
    /// A STIX bundle or MISP event that breaks its format.
    #[error("{place}: {reason}")]
    Malformed {
        /// Where (`objects[3].created`, `Event.Attribute[2]`).
        place: String,
        /// What is wrong.
        reason: String,
    },
}

/// The formats Cairn imports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceFormat {
    /// A STIX 2.1 bundle.
    Stix,
    /// MISP event JSON (one event, a list, or a `response` collection).
    Misp,
}

impl std::fmt::Display for SourceFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SourceFormat::Stix => "STIX 2.1",
            SourceFormat::Misp => "MISP event JSON",
        })
    }
}

/// A report made from the source, ready to sign.
#[derive(Debug, Clone)]
pub struct ImportedReport {
    /// The source object's id (STIX id, MISP event UUID), or for indicators grouped into one
    /// report, `group-` and a digest of their ids and versions; also carried as a tag
    /// (`stix:ID`, `misp:UUID`) so a second import of the same source can be recognised. The
    /// report is signed with randomness derived from it, so the same source always gives the
    /// same report.
    pub source_id: String,
    /// Every source object the report was made from: the object itself, or a STIX report and
    /// the indicators it refers to, or the indicators grouped into it.
    pub sources: Vec<String>,
    /// The draft.
    pub draft: ReportDraft,
    /// What was changed on the way in (a default TLP, a title shortened).
    pub notes: Vec<String>,
    /// What the import read of the objects the draft carries, when it read each of them:
    /// signing does not read them again.
    pub carried: Option<cairn_core::stix::CarriedRead>,
}

impl ImportedReport {
    /// Signs the draft as [`ReportDraft::sign_imported`] does (the same source always gives
    /// the same signed report), without reading again what the import read.
    pub fn sign<'k>(
        &self,
        signer: impl Into<cairn_core::ReportSigner<'k>>,
    ) -> Result<cairn_core::VerifiedReport, cairn_core::InvalidReport> {
        self.draft
            .sign_imported_read(signer, &self.source_id, self.carried.clone())
    }

    /// What the report was made from, for messages: the source object's id, or for grouped
    /// objects the group's id, how many objects and the first of them.
    pub fn what(&self) -> String {
        match &self.sources[..] {
            [] | [_] => self.source_id.clone(),
            [first, rest @ ..] => format!("{} ({first} and {} more)", self.source_id, rest.len()),
        }
    }
}

/// Something in the source that was not imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// What (`indicator--…`, `Attribute regkey|value`).
    pub what: String,
    /// Why.
    pub why: String,
}

/// What a source file becomes.
#[derive(Debug, Clone)]
pub struct Imported {
    /// Its format.
    pub format: SourceFormat,
    /// How many objects (STIX) or events (MISP) it holds.
    pub objects: usize,
    /// The reports to sign and store.
    pub reports: Vec<ImportedReport>,
    /// Observables folded into one because they were the same.
    pub merged: usize,
    /// What was left out, and why.
    pub skipped: Vec<Skipped>,
    /// For sources read object by object (STIX): what became of each object, in the source's
    /// order.
    pub accounts: Vec<Account>,
}

/// What became of one source object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Its id (or, for something that is not an object, where it is: `objects[3]`).
    pub id: String,
    /// Its version (`modified`, else `created`), as the source wrote it; SCOs have none.
    pub version: Option<String>,
    /// What became of it.
    pub fate: Fate,
}

/// What an import does with one source object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    /// Carried in `reports[report]`; `new_version` when this node held other versions of it.
    Carried {
        /// Index into [`Imported::reports`].
        report: usize,
        /// Whether this node already held other versions of the object.
        new_version: bool,
    },
    /// Not carried again: this version is held already, or came earlier in the source.
    Duplicate(String),
    /// Not carried, and why.
    Refused(String),
}

/// What became of a report made by an import, once signed and stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportFate {
    /// Stored now, as this Cairn report.
    Stored(cairn_core::ReportId),
    /// Stored before (the same source signs into the same report).
    AlreadyStored(cairn_core::ReportId),
    /// Not stored, and why.
    Failed(String),
}

/// What an import did with one source object, in the terms users read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Carried in a report stored now.
    Imported,
    /// Carried as a new version of an object held before.
    Updated,
    /// Held already: not carried again.
    Duplicate,
    /// Not carried.
    Refused,
}

/// One source object's outcome, with what it was and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ObjectOutcome {
    /// Its id (or where it was in the source).
    pub id: String,
    /// Its version, as the source wrote it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// What became of it.
    pub outcome: Outcome,
    /// The Cairn report carrying it, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<String>,
    /// Why, in words.
    pub message: String,
}

/// What became of each source object, given what became of each report (`reports[i]` for
/// `Imported::reports[i]`).
pub fn settle(accounts: &[Account], reports: &[ReportFate]) -> Vec<ObjectOutcome> {
    // Each report's id is written out once, however many objects it carries.
    let named: Vec<Option<String>> = reports
        .iter()
        .map(|fate| match fate {
            ReportFate::Stored(id) | ReportFate::AlreadyStored(id) => Some(id.to_string()),
            ReportFate::Failed(_) => None,
        })
        .collect();
    accounts
        .iter()
        .map(|account| {
            let (outcome, message, report) = match &account.fate {
                Fate::Carried {
                    report,
                    new_version,
                } => match (reports.get(*report), named.get(*report).cloned().flatten()) {
                    (Some(ReportFate::Stored(_)), Some(id)) if *new_version => (
                        Outcome::Updated,
                        format!("a new version, carried in Cairn report {id}"),
                        Some(id),
                    ),
                    (Some(ReportFate::Stored(_)), Some(id)) => (
                        Outcome::Imported,
                        format!("carried in Cairn report {id}"),
                        Some(id),
                    ),
                    (Some(ReportFate::AlreadyStored(_)), Some(id)) => (
                        Outcome::Duplicate,
                        format!("already held, carried in Cairn report {id}"),
                        Some(id),
                    ),
                    (Some(ReportFate::Failed(why)), _) => (Outcome::Refused, why.clone(), None),
                    _ => (Outcome::Refused, "its report was not stored".into(), None),
                },
                Fate::Duplicate(why) => (Outcome::Duplicate, format!("already held: {why}"), None),
                Fate::Refused(why) => (Outcome::Refused, why.clone(), None),
            };
            ObjectOutcome {
                id: account.id.clone(),
                version: account.version.clone(),
                outcome,
                report,
                message,
            }
        })
        .collect()
}

/// What this node already holds of an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    /// Nothing.
    No,
    /// Other versions of it.
    OtherVersions,
    /// This very version.
    ThisVersion,
}

/// Import settings (the `[import]` table of node.toml).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ImportConfig {
    /// The TLP label of imported objects and events that carry no TLP marking of their own.
    pub default_tlp: Tlp,
}

impl Default for ImportConfig {
    fn default() -> Self {
        ImportConfig {
            default_tlp: Tlp::Amber,
        }
    }
}

/// How an import maps what it reads.
pub struct ImportOptions<'a> {
    /// The TLP of objects that carry no TLP marking (the node's `[import] default_tlp`).
    pub default_tlp: Tlp,
    /// What this node already holds of an object, by id and version (`None` for objects
    /// without one, such as SCOs).
    pub held: &'a dyn Fn(&str, Option<cairn_core::stix::StixTime>) -> Held,
    /// The report this node holds that a sighting is a sighting of: for a STIX sighting the
    /// one it names (a sighting exported by Cairn names it), else the one this node exports an
    /// object of that id from; for a MISP event's sightings, the report this node holds (or
    /// serves in its MISP feed) as that event. A sighting of a report held becomes a Cairn
    /// sighting of it, signed by this organisation; any other is carried as it came.
    pub sighted: &'a dyn Fn(&SightedRef<'_>) -> Option<cairn_core::VerifiedReport>,
}

/// What a sighting in a source says it is a sighting of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SightedRef<'a> {
    /// A STIX sighting's `sighting_of_ref`, and the Cairn report it names when Cairn exported
    /// it.
    Stix {
        /// Its `sighting_of_ref`.
        stix_id: &'a str,
        /// The Cairn report it names, when Cairn exported it.
        report: Option<cairn_core::ReportId>,
    },
    /// A MISP event, by its uuid (lower case): its attributes' sightings.
    MispEvent(&'a str),
}

impl Default for ImportOptions<'_> {
    fn default() -> Self {
        ImportOptions {
            default_tlp: Tlp::Amber,
            held: &|_, _| Held::No,
            sighted: &|_| None,
        }
    }
}

/// Reads a file's text as STIX 2.1 (a bundle, a list of objects or one object) or MISP event
/// JSON, whichever it is. `us` is this node's organisation, the only recipient of TLP:RED
/// reports imported here.
pub fn import(
    text: &str,
    us: &OrgPublicKey,
    options: &ImportOptions<'_>,
) -> Result<Imported, ImportError> {
    if crate::stix::is_stix(text.as_bytes())? {
        return crate::stix::import_bundle(text.as_bytes(), us, options);
    }
    if crate::misp::looks_like_misp(text) {
        return crate::misp::import_events(text, us, options);
    }
    // Neither: say what it is.
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| ImportError::NotJson(e.to_string()))?;
    let found = match &value {
        serde_json::Value::Object(map) => {
            let keys: Vec<&str> = map.keys().take(6).map(String::as_str).collect();
            format!("an object with keys {}", keys.join(", "))
        }
        serde_json::Value::Array(items) => format!("a list of {} items", items.len()),
        other => format!("a JSON {}", json_kind(other)),
    };
    Err(ImportError::UnknownFormat(format!(
        "neither STIX 2.1 (a bundle, a list of objects or one object with \"type\" and \"id\") nor MISP event JSON (\"Event\", \"response\" or an event with \"Attribute\"): found {found}"
    )))
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "list",
        serde_json::Value::Object(_) => "object",
    }
}

/// Collects observables for one report, folding duplicates.
#[derive(Debug, Default, Clone)]
pub(crate) struct Observables {
    pub(crate) list: Vec<IndicatorDraft>,
    pub(crate) merged: usize,
    seen: HashSet<(IndicatorType, String)>,
}

impl Observables {
    /// Adds a value of a type, in canonical form; an invalid one is returned as the reason.
    pub(crate) fn add(
        &mut self,
        kind: IndicatorType,
        value: &str,
        description: &str,
    ) -> Result<(), String> {
        let indicator = Indicator::new(kind, value.trim(), fit_description(description))
            .map_err(|e| format!("{kind} {value:?}: {e}"))?;
        if !self.seen.insert((indicator.kind, indicator.value.clone())) {
            self.merged += 1;
            return Ok(());
        }
        self.list.push(IndicatorDraft::from(indicator));
        Ok(())
    }

    /// Adds hashes the source says are of one file, and ties them together by a file number
    /// (those already here too); an invalid one is left out and returned among the reasons.
    /// They stay untied when fewer than two are valid, when two are of one algorithm, or when
    /// some are already tied to another file or, beside them, to a hash of an algorithm given
    /// here with another value: a source that says two things is not taken at its word.
    pub(crate) fn add_file(
        &mut self,
        hashes: &[(IndicatorType, String)],
        description: &str,
    ) -> Vec<String> {
        let mut problems = Vec::new();
        let mut members: Vec<Indicator> = Vec::new();
        for (kind, value) in hashes {
            match Indicator::new(*kind, value.trim(), fit_description(description)) {
                Ok(i)
                    if !members
                        .iter()
                        .any(|m| m.kind == i.kind && m.value == i.value) =>
                {
                    members.push(i)
                }
                Ok(_) => {}
                Err(e) => problems.push(format!("{kind} {value:?}: {e}")),
            }
        }
        self.tie_file(members);
        problems
    }

    /// Adds canonical hashes of one file and ties them together (see [`Observables::add_file`]).
    fn tie_file(&mut self, members: Vec<Indicator>) {
        let file = self.file_for(&members);
        for member in members {
            if self.seen.insert((member.kind, member.value.clone())) {
                let mut draft = IndicatorDraft::from(member);
                draft.file = file;
                self.list.push(draft);
            } else {
                self.merged += 1;
                if file != 0
                    && let Some(held) = self
                        .list
                        .iter_mut()
                        .find(|d| d.kind == member.kind && d.value == member.value)
                {
                    held.file = file;
                }
            }
        }
    }

    /// The file number canonical hashes `members` may share: one already given to some of
    /// them, or a new one; 0 when they are not to be tied (see [`Observables::add_file`]).
    fn file_for(&self, members: &[Indicator]) -> u32 {
        if members.len() < 2
            || members
                .iter()
                .any(|m| !cairn_core::correlation::is_hash(m.kind))
            || members
                .iter()
                .enumerate()
                .any(|(n, m)| members[..n].iter().any(|o| o.kind == m.kind))
        {
            return 0;
        }
        let mut held_files: Vec<u32> = members
            .iter()
            .filter_map(|m| {
                self.list
                    .iter()
                    .find(|d| d.kind == m.kind && d.value == m.value)
                    .map(|d| d.file)
            })
            .collect();
        held_files.sort_unstable();
        held_files.dedup();
        match held_files.as_slice() {
            [] | [0] => self.list.iter().map(|d| d.file).max().unwrap_or(0) + 1,
            [file] | [0, file] => {
                // Joining file `file`: no other hash of an algorithm given here.
                let clash = self.list.iter().any(|d| {
                    d.file == *file
                        && members
                            .iter()
                            .any(|m| m.kind == d.kind && m.value != d.value)
                });
                if clash { 0 } else { *file }
            }
            _ => 0,
        }
    }

    /// Adds the observables of `other`, folding those already here; its files keep their
    /// hashes together under numbers of this collection.
    pub(crate) fn extend(&mut self, other: Observables) {
        self.merged += other.merged;
        let mut files: Vec<u32> = other
            .list
            .iter()
            .map(|d| d.file)
            .filter(|f| *f != 0)
            .collect();
        files.sort_unstable();
        files.dedup();
        for file in files {
            let members: Vec<Indicator> = other
                .list
                .iter()
                .filter(|d| d.file == file)
                .map(|d| {
                    let (valid_from_ms, valid_until_ms) = d.validity_ms();
                    Indicator {
                        kind: d.kind,
                        value: d.value.clone(),
                        description: d.description.clone(),
                        file: 0,
                        valid_from_ms,
                        valid_until_ms,
                    }
                })
                .collect();
            self.tie_file(members);
        }
        for indicator in other.list.into_iter().filter(|d| d.file == 0) {
            if self.seen.insert((indicator.kind, indicator.value.clone())) {
                self.list.push(indicator);
            } else {
                self.merged += 1;
            }
        }
    }

    /// About how many bytes these observables take in a signed report.
    pub(crate) fn encoded_len(&self) -> usize {
        self.list
            .iter()
            .map(|i| i.value.len() + i.description.len() + 8)
            .sum()
    }
}

/// An observable's description within Cairn's limit.
pub(crate) fn fit_description(description: &str) -> &str {
    cut(description, cairn_core::indicator::MAX_DESCRIPTION_LEN)
}

/// At most the first `max` bytes of `text`, cut at a character boundary.
pub(crate) fn cut(text: &str, max: usize) -> &str {
    let mut end = max.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// When a source says its content was made, if that is not in the future: a date ahead of
/// the clock (year 9999 in a sample bundle) would hold the report back from partners until
/// then. `None` (the report is then dated when signed) is noted.
pub(crate) fn fit_created(
    created: Option<time::OffsetDateTime>,
    notes: &mut Vec<String>,
) -> Option<time::OffsetDateTime> {
    let created = created.filter(|t| t.unix_timestamp() > 0)?;
    if created > time::OffsetDateTime::now_utc() + cairn_core::draft::MAX_CLOCK_AHEAD {
        notes.push(format!(
            "the source dates it {created}, in the future: the report is dated when it is signed"
        ));
        return None;
    }
    Some(created)
}

/// A title within Cairn's limit.
pub(crate) fn fit_title(title: &str, notes: &mut Vec<String>) -> String {
    let title = title.trim();
    let max = cairn_core::limits::MAX_TITLE_CHARS;
    if title.chars().count() <= max {
        return title.to_string();
    }
    notes.push(format!("title shortened to {max} characters"));
    title.chars().take(max - 1).chain(['…']).collect()
}

/// A summary within Cairn's limit.
pub(crate) fn fit_summary(summary: &str, notes: &mut Vec<String>) -> String {
    let max = cairn_core::limits::MAX_SUMMARY_BYTES;
    if summary.len() <= max {
        return summary.to_string();
    }
    notes.push(format!("summary shortened to {max} bytes"));
    cut(summary, max).to_string()
}

/// Labels Cairn accepts (at most 64, each at most 64 characters, no control characters).
pub(crate) fn fit_labels(labels: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for label in labels {
        let label = cairn_core::report::normalise_label(&label);
        if label.is_empty()
            || label.chars().count() > cairn_core::limits::MAX_LABEL_CHARS
            || label.chars().any(char::is_control)
            || out.contains(&label)
        {
            continue;
        }
        out.push(label);
        if out.len() == cairn_core::limits::MAX_LABELS - 1 {
            break;
        }
    }
    out
}

/// Applies the source's TLP label to a draft: TLP:RED goes to this organisation only (the
/// source's recipients are not Cairn organisations); no label means `default`, noted.
pub(crate) fn apply_tlp(
    draft: &mut ReportDraft,
    tlp: Option<Tlp>,
    default: Tlp,
    us: &OrgPublicKey,
    notes: &mut Vec<String>,
) {
    let tlp = tlp.unwrap_or_else(|| {
        notes.push(format!(
            "no TLP marking: imported as {}",
            default.official()
        ));
        default
    });
    draft.tlp = Some(tlp);
    if tlp == Tlp::Red {
        draft.recipients = vec![*us];
        draft.scope = Some(Scope::Organisation);
        notes.push(
            "TLP:RED: kept inside this organisation (its source's recipients are not known here)"
                .into(),
        );
    }
}
