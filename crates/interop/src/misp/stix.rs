//! The STIX 2.1 form of a MISP event, following the conventions of MISP's own converter
//! (misp-stix): ids made of the MISP uuids (`indicator--<attribute uuid>`), the event as a
//! `report` when published and a `grouping` otherwise, `misp:type`/`misp:category`/`misp:to_ids`
//! labels, the MISP category as a `misp-category` kill chain phase, attributes flagged for
//! detection (`to_ids`) as indicators with a pattern and the others as observed-data with
//! their cyber observables, galaxy clusters as attack patterns, malware, tools, intrusion sets,
//! threat actors or courses of action, object references as relationships, sightings as
//! sightings (false positives as opinions), event reports as notes. What STIX has no type for
//! is kept in `x-misp-attribute`, `x-misp-object` and `x-misp-galaxy-cluster` objects, so
//! nothing of the event is left out. Every object is marked with its TLP: the strictest of its
//! own `tlp:` tags and the event's (the event's default when it has none).

use std::collections::{BTreeMap, HashMap, HashSet};

use cairn_core::{IndicatorType, Tlp};
use serde_json::{Map, Value, json};

use crate::import::Observables;
use crate::stix::literal;

/// One STIX object of the event's form, with the observables Cairn's typed view takes from it.
pub(crate) struct FormObject {
    pub id: String,
    pub json: Value,
    pub observables: Observables,
}

/// Text of a JSON string or number.
pub(crate) fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A MISP boolean: `true`, `"1"`, `1`, `"true"`, `"True"`.
pub(crate) fn flag(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_i64() == Some(1),
        Value::String(s) => matches!(s.as_str(), "1" | "true" | "True"),
        _ => false,
    }
}

/// A list field of a MISP structure (absent or not a list: empty).
pub(crate) fn list<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// The TLP a MISP `tlp:` tag names: TLP 2.0 and 1.0 words; `None` for a tag that is not a TLP
/// tag. A `tlp:` tag Cairn does not know (`tlp:ex:chr`) reads as TLP:RED: a label that may
/// restrict is never read as permissive.
pub(crate) fn tlp_of_tag(name: &str) -> Option<Tlp> {
    let (namespace, value) = name.split_once(':')?;
    if !namespace.eq_ignore_ascii_case("tlp") {
        return None;
    }
    Some(
        value
            .trim()
            .trim_matches('"')
            .to_ascii_lowercase()
            .parse::<Tlp>()
            .unwrap_or(Tlp::Red),
    )
}

/// The strictest TLP among the `tlp:` tags of a MISP structure (event, attribute).
pub(crate) fn tagged_tlp(v: &Value) -> Option<Tlp> {
    list(v, "Tag")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .filter_map(tlp_of_tag)
        .max()
}

/// A MISP time (Unix seconds, as a string or number) as a STIX timestamp.
pub(crate) fn stix_time_of(seconds: i64) -> String {
    cairn_core::stix::StixTime::from_millis(seconds.saturating_mul(1000)).to_string()
}

/// Unix seconds from a MISP `timestamp`-like field.
pub(crate) fn seconds_of(v: &Value) -> Option<i64> {
    text_of(v)?.trim().parse().ok()
}

/// Where a MISP attribute type's value goes in STIX: the observable type, the property path
/// in a pattern, and how the observable object is written.
#[derive(Debug, Clone, Copy)]
enum Place {
    /// `<sco>:value`.
    Value(&'static str),
    /// `file:hashes.'<algorithm>'`.
    Hash(&'static str),
    /// `file:name`.
    FileName,
    /// `autonomous-system:number`.
    AsNumber,
    /// `mutex:name`.
    MutexName,
    /// `windows-registry-key:key`.
    RegistryKey,
}

impl Place {
    fn sco(self) -> &'static str {
        match self {
            Place::Value(kind) => kind,
            Place::Hash(_) | Place::FileName => "file",
            Place::AsNumber => "autonomous-system",
            Place::MutexName => "mutex",
            Place::RegistryKey => "windows-registry-key",
        }
    }

    /// The comparison that matches `value`; `None` when the value cannot be one.
    fn comparison(self, value: &str) -> Option<String> {
        Some(match self {
            Place::Value(kind) => format!("{kind}:value = {}", literal(value)),
            Place::Hash(algorithm) => format!("file:hashes.'{algorithm}' = {}", literal(value)),
            Place::FileName => format!("file:name = {}", literal(value)),
            Place::AsNumber => format!("autonomous-system:number = {}", as_number(value)?),
            Place::MutexName => format!("mutex:name = {}", literal(value)),
            Place::RegistryKey => format!("windows-registry-key:key = {}", literal(value)),
        })
    }

    /// The properties of the observable object that holds `value`.
    fn properties(self, value: &str, into: &mut Map<String, Value>) -> Option<()> {
        match self {
            Place::Value(_) => {
                into.insert("value".into(), json!(value));
            }
            Place::Hash(algorithm) => {
                let hashes = into
                    .entry("hashes")
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(hashes) = hashes {
                    hashes.insert(algorithm.into(), json!(value));
                }
            }
            Place::FileName => {
                into.insert("name".into(), json!(value));
            }
            Place::AsNumber => {
                into.insert("number".into(), json!(as_number(value)?));
            }
            Place::MutexName => {
                into.insert("name".into(), json!(value));
            }
            Place::RegistryKey => {
                into.insert("key".into(), json!(value));
            }
        }
        Some(())
    }
}

fn as_number(value: &str) -> Option<u64> {
    let v = value.trim();
    let v = v
        .strip_prefix("AS")
        .or_else(|| v.strip_prefix("as"))
        .unwrap_or(v);
    v.parse().ok()
}

/// Where one part of a MISP attribute type goes; `ip` types pick v4 or v6 by the value.
fn place_of(misp_type: &str, value: &str) -> Option<Place> {
    Some(match misp_type {
        "ip-src" | "ip-dst" | "ip" => {
            if value.contains(':') {
                Place::Value("ipv6-addr")
            } else {
                Place::Value("ipv4-addr")
            }
        }
        "domain" | "hostname" => Place::Value("domain-name"),
        "url" | "uri" | "link" => Place::Value("url"),
        "email" | "email-src" | "email-dst" | "email-reply-to" | "target-email" => {
            Place::Value("email-addr")
        }
        "mac-address" | "mac-eui-64" => Place::Value("mac-addr"),
        "md5" => Place::Hash("MD5"),
        "sha1" => Place::Hash("SHA-1"),
        "sha224" => Place::Hash("SHA224"),
        "sha256" => Place::Hash("SHA-256"),
        "sha384" => Place::Hash("SHA384"),
        "sha512" => Place::Hash("SHA-512"),
        "sha3-224" => Place::Hash("SHA3-224"),
        "sha3-256" => Place::Hash("SHA3-256"),
        "sha3-384" => Place::Hash("SHA3-384"),
        "sha3-512" => Place::Hash("SHA3-512"),
        "ssdeep" => Place::Hash("SSDEEP"),
        "tlsh" => Place::Hash("TLSH"),
        "imphash" => Place::Hash("IMPHASH"),
        "filename" => Place::FileName,
        "AS" => Place::AsNumber,
        "mutex" => Place::MutexName,
        "regkey" => Place::RegistryKey,
        _ => return None,
    })
}

/// The places of an attribute's value: one for `domain`, two for `filename|md5`; `None` when
/// some part has no STIX observable form.
fn places(misp_type: &str, value: &str) -> Option<Vec<(Place, String)>> {
    match misp_type.split_once('|') {
        None => Some(vec![(place_of(misp_type, value)?, value.to_string())]),
        Some((a, b)) => {
            let (va, vb) = value.split_once('|')?;
            // Only pairs that describe one observable (a file's name and hash).
            let pa = place_of(a, va)?;
            let pb = place_of(b, vb)?;
            (pa.sco() == pb.sco()).then(|| vec![(pa, va.to_string()), (pb, vb.to_string())])
        }
    }
}

/// The Cairn observable type of a MISP attribute type (for the typed view), and which part of
/// an `a|b` value holds it.
fn cairn_kind(misp_type: &str) -> Option<(IndicatorType, usize)> {
    let (first, second) = misp_type.split_once('|').unwrap_or((misp_type, ""));
    let of_part = |t: &str| -> Option<IndicatorType> {
        Some(match t {
            "ip-src" | "ip-dst" | "ip" => IndicatorType::Ipv4,
            "domain" | "hostname" => IndicatorType::Domain,
            "url" | "uri" | "link" => IndicatorType::Url,
            "email" | "email-src" | "email-dst" | "email-reply-to" => IndicatorType::Email,
            "md5" => IndicatorType::Md5,
            "sha1" => IndicatorType::Sha1,
            "sha256" => IndicatorType::Sha256,
            "sha512" => IndicatorType::Sha512,
            "vulnerability" => IndicatorType::Cve,
            "AS" => IndicatorType::Asn,
            _ => return None,
        })
    };
    if second.is_empty() {
        return of_part(first).map(|k| (k, 0));
    }
    match (of_part(first), of_part(second)) {
        (Some(k), _) => Some((k, 0)),
        (None, Some(k)) => Some((k, 1)),
        _ => None,
    }
}

/// Adds the Cairn observable an attribute flagged for detection gives, if Cairn has a type for
/// it; values Cairn cannot read stay in the carried objects only.
fn add_observable(misp_type: &str, value: &str, comment: &str, into: &mut Observables) {
    if let Some((kind, value)) = observable_of(misp_type, value) {
        let _ = into.add(kind, &value, comment);
    }
}

/// The Cairn type and value of an attribute, if Cairn has a type for it.
fn observable_of(misp_type: &str, value: &str) -> Option<(IndicatorType, String)> {
    let (kind, part) = cairn_kind(misp_type)?;
    let value = value.split('|').nth(part).unwrap_or(value).trim();
    let kind = match kind {
        IndicatorType::Ipv4 if value.contains('/') => IndicatorType::Cidr,
        IndicatorType::Ipv4 if value.contains(':') => IndicatorType::Ipv6,
        k => k,
    };
    let value = if kind == IndicatorType::Asn && !value.to_ascii_uppercase().starts_with("AS") {
        format!("AS{value}")
    } else {
        value.to_string()
    };
    Some((kind, value))
}

/// What kind of STIX object a galaxy's clusters become.
fn galaxy_kind(galaxy_type: &str) -> &'static str {
    let t = galaxy_type.to_ascii_lowercase();
    if t.contains("attack-pattern") {
        "attack-pattern"
    } else if t.contains("course-of-action") {
        "course-of-action"
    } else if t.contains("intrusion-set") {
        "intrusion-set"
    } else if t.contains("threat-actor") || t == "microsoft-activity-group" {
        "threat-actor"
    } else if t.contains("tool") || t == "rat" {
        "tool"
    } else if t.contains("malware")
        || matches!(
            t.as_str(),
            "android" | "banker" | "stealer" | "backdoor" | "ransomware" | "malpedia" | "botnet"
        )
    {
        "malware"
    } else if t == "branded-vulnerability" {
        "vulnerability"
    } else {
        "x-misp-galaxy-cluster"
    }
}

/// The most objects the event's report or grouping object refers to directly.
const MAX_REFS: usize = 4000;

/// Builds the STIX form of one event.
pub(crate) struct Former<'e> {
    event: &'e Value,
    event_tlp: Tlp,
    created_by: String,
    event_time: String,
    objects: Vec<FormObject>,
    /// STIX id per MISP uuid (attributes and objects), for references and sightings.
    by_uuid: HashMap<String, String>,
    placed: HashSet<String>,
    tlps: BTreeMap<Tlp, ()>,
    /// Notes for the import's account (what had no STIX form of its own).
    pub notes: Vec<String>,
}

/// A deterministic id for objects MISP gives no uuid of their own (relationships to galaxies,
/// an identity without a uuid).
fn derived_id(kind: &str, name: &str) -> String {
    crate::stix::derived_stix_id(kind, &format!("misp/{name}"))
}

impl<'e> Former<'e> {
    /// Starts the form of `event`, whose own TLP is `event_tlp` (its tag, else the default).
    pub(crate) fn new(event: &'e Value, event_tlp: Tlp, event_seconds: i64) -> Former<'e> {
        let org = &event["Orgc"];
        let org_name = org["name"].as_str().unwrap_or("MISP organisation");
        let created_by = match org["uuid"]
            .as_str()
            .filter(|u| cairn_core::stix::is_uuid(u))
        {
            Some(uuid) => format!("identity--{}", uuid.to_ascii_lowercase()),
            None => derived_id("identity", &format!("org/{org_name}")),
        };
        let mut former = Former {
            event,
            event_tlp,
            created_by,
            event_time: stix_time_of(event_seconds),
            objects: Vec::new(),
            by_uuid: HashMap::new(),
            placed: HashSet::new(),
            tlps: BTreeMap::new(),
            notes: Vec::new(),
        };
        let identity = json!({
            "type": "identity",
            "spec_version": "2.1",
            "id": former.created_by,
            "created": former.event_time,
            "modified": former.event_time,
            "name": org_name,
            "identity_class": "organization",
        });
        former.push(identity, None, Observables::default());
        former
    }

    /// Adds an object, marked with the strictest of the event's TLP and `own`.
    fn push(&mut self, mut json: Value, own: Option<Tlp>, observables: Observables) {
        let Some(id) = json["id"].as_str().map(str::to_string) else {
            return;
        };
        if !self.placed.insert(id.clone()) {
            return;
        }
        let tlp = own.map_or(self.event_tlp, |t| t.max(self.event_tlp));
        self.tlps.insert(tlp, ());
        if let Value::Object(map) = &mut json {
            map.insert(
                "object_marking_refs".into(),
                json!([cairn_core::stix::tlp_marking_id(tlp)]),
            );
        }
        self.objects.push(FormObject {
            id,
            json,
            observables,
        });
    }

    /// What every object made from an attribute or a MISP object starts with: its creator,
    /// times, labels and the comment as description.
    fn base(&self, time: &str, labels: Vec<String>, comment: &str) -> Value {
        let mut base = json!({
            "spec_version": "2.1",
            "created_by_ref": self.created_by,
            "created": time,
            "modified": time,
            "labels": labels,
        });
        if !comment.is_empty() {
            base["description"] = json!(comment);
        }
        base
    }

    /// A relationship of the event's creator.
    fn relationship(&self, id: String, time: &str, kind: &str, from: &str, to: &str) -> Value {
        json!({
            "type": "relationship",
            "spec_version": "2.1",
            "id": id,
            "created_by_ref": self.created_by,
            "created": time,
            "modified": time,
            "relationship_type": kind,
            "source_ref": from,
            "target_ref": to,
        })
    }

    fn time_of(&self, v: &Value) -> String {
        seconds_of(&v["timestamp"])
            .map(stix_time_of)
            .unwrap_or_else(|| self.event_time.clone())
    }

    /// Labels of a MISP structure's tags (not TLP tags: those are markings).
    fn tag_labels(v: &Value) -> impl Iterator<Item = String> + '_ {
        list(v, "Tag")
            .iter()
            .filter_map(|t| t["name"].as_str())
            .filter(|n| tlp_of_tag(n).is_none())
            .map(str::to_string)
    }

    /// Adds one attribute (of the event, or of an object when `in_object`), returning its STIX
    /// id.
    fn attribute(&mut self, a: &Value) -> Option<String> {
        let uuid = a["uuid"]
            .as_str()
            .filter(|u| cairn_core::stix::is_uuid(u))?
            .to_ascii_lowercase();
        let misp_type = a["type"].as_str().unwrap_or_default();
        let value = text_of(&a["value"]).unwrap_or_default();
        let category = a["category"].as_str().unwrap_or("Other");
        let to_ids = flag(&a["to_ids"]);
        let time = self.time_of(a);
        let own = tagged_tlp(a);
        let comment = a["comment"].as_str().unwrap_or_default();
        let mut labels = vec![
            format!("misp:type=\"{misp_type}\""),
            format!("misp:category=\"{category}\""),
        ];
        if to_ids {
            labels.push("misp:to_ids=\"True\"".into());
        }
        labels.extend(Self::tag_labels(a));
        let mut base = self.base(&time, labels, comment);
        let mut observables = Observables::default();
        let id = match (misp_type, places(misp_type, &value)) {
            ("vulnerability", _) => {
                base["type"] = json!("vulnerability");
                base["id"] = json!(format!("vulnerability--{uuid}"));
                base["name"] = json!(value);
                base["external_references"] = json!([{"source_name": "cve", "external_id": value}]);
                add_observable(misp_type, &value, comment, &mut observables);
                base["id"].as_str().map(str::to_string)
            }
            ("campaign-name", _) => {
                base["type"] = json!("campaign");
                base["id"] = json!(format!("campaign--{uuid}"));
                base["name"] = json!(value);
                base["id"].as_str().map(str::to_string)
            }
            ("threat-actor", _) => {
                base["type"] = json!("threat-actor");
                base["id"] = json!(format!("threat-actor--{uuid}"));
                base["name"] = json!(value);
                base["id"].as_str().map(str::to_string)
            }
            (_, Some(places)) if to_ids => {
                let comparisons: Option<Vec<String>> =
                    places.iter().map(|(p, v)| p.comparison(v)).collect();
                match comparisons {
                    Some(comparisons) => {
                        base["type"] = json!("indicator");
                        base["id"] = json!(format!("indicator--{uuid}"));
                        base["pattern"] = json!(format!("[{}]", comparisons.join(" AND ")));
                        base["pattern_type"] = json!("stix");
                        base["pattern_version"] = json!("2.1");
                        base["valid_from"] = json!(first_seen(a).unwrap_or(time));
                        base["kill_chain_phases"] =
                            json!([{"kill_chain_name": "misp-category", "phase_name": category}]);
                        add_observable(misp_type, &value, comment, &mut observables);
                        base["id"].as_str().map(str::to_string)
                    }
                    None => self.custom_attribute(&mut base, &uuid, a),
                }
            }
            (_, Some(places)) => {
                let sco_id = format!("{}--{uuid}", places[0].0.sco());
                let mut sco = Map::new();
                sco.insert("type".into(), json!(places[0].0.sco()));
                sco.insert("spec_version".into(), json!("2.1"));
                sco.insert("id".into(), json!(sco_id));
                let complete = places
                    .iter()
                    .all(|(p, v)| p.properties(v, &mut sco).is_some());
                if complete {
                    as_observed_data(&mut base, &uuid, a, &time, vec![sco_id]);
                    self.push(Value::Object(sco), own, Observables::default());
                    base["id"].as_str().map(str::to_string)
                } else {
                    self.custom_attribute(&mut base, &uuid, a)
                }
            }
            (_, None) => self.custom_attribute(&mut base, &uuid, a),
        }?;
        self.push(base, own, observables);
        self.by_uuid.insert(uuid, id.clone());
        self.attribute_galaxies(a, &id);
        Some(id)
    }

    /// An attribute STIX has no place for, as an `x-misp-attribute` object.
    fn custom_attribute(&mut self, base: &mut Value, uuid: &str, a: &Value) -> Option<String> {
        base["type"] = json!("x-misp-attribute");
        base["id"] = json!(format!("x-misp-attribute--{uuid}"));
        base["x_misp_type"] = a["type"].clone();
        base["x_misp_value"] = json!(text_of(&a["value"]).unwrap_or_default());
        base["x_misp_category"] = a["category"].clone();
        if let Some(comment) = a["comment"].as_str().filter(|c| !c.is_empty()) {
            base["x_misp_comment"] = json!(comment);
        }
        if let Some(map) = base.as_object_mut() {
            map.remove("description");
            map.retain(|_, v| !v.is_null());
        }
        base["id"].as_str().map(str::to_string)
    }

    /// The galaxy clusters an attribute or object is tagged with, linked to its STIX object.
    fn attribute_galaxies(&mut self, holder: &Value, from: &str) {
        let from_kind = from.split("--").next().unwrap_or_default().to_string();
        for galaxy in list(holder, "Galaxy") {
            for cluster in list(galaxy, "GalaxyCluster") {
                let Some(to) = self.cluster(galaxy, cluster) else {
                    continue;
                };
                let to_kind = to.split("--").next().unwrap_or_default();
                let relationship_type = match (from_kind.as_str(), to_kind) {
                    (
                        "indicator",
                        "attack-pattern" | "malware" | "tool" | "intrusion-set" | "threat-actor"
                        | "campaign",
                    ) => "indicates",
                    _ => "related-to",
                };
                let id = derived_id("relationship", &format!("{from}/{to}"));
                let rel = self.relationship(id, &self.event_time, relationship_type, from, &to);
                self.push(rel, tagged_tlp(holder), Observables::default());
            }
        }
    }

    /// Adds one galaxy cluster, returning its STIX id.
    fn cluster(&mut self, galaxy: &Value, cluster: &Value) -> Option<String> {
        let uuid = cluster["uuid"]
            .as_str()
            .filter(|u| cairn_core::stix::is_uuid(u))?
            .to_ascii_lowercase();
        let galaxy_type = galaxy["type"]
            .as_str()
            .or(cluster["type"].as_str())
            .unwrap_or("galaxy");
        let kind = galaxy_kind(galaxy_type);
        let id = format!("{kind}--{uuid}");
        if self.placed.contains(&id) {
            return Some(id);
        }
        let name = cluster["value"].as_str().unwrap_or("unnamed cluster");
        let description = [
            galaxy["description"].as_str(),
            cluster["description"].as_str(),
        ]
        .into_iter()
        .flatten()
        .filter(|d| !d.is_empty())
        .collect::<Vec<_>>()
        .join(" | ");
        let galaxy_name = galaxy["name"].as_str().unwrap_or(galaxy_type);
        let mut object = json!({
            "type": kind,
            "spec_version": "2.1",
            "id": id,
            "created": self.event_time,
            "modified": self.event_time,
            "name": name,
            "labels": [format!("misp:name=\"{galaxy_name}\"")],
        });
        if !description.is_empty() {
            object["description"] = json!(description);
        }
        let meta = &cluster["meta"];
        let synonyms: Vec<&str> = list(meta, "synonyms")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        match kind {
            "attack-pattern" | "malware" | "tool" => {
                object["kill_chain_phases"] =
                    json!([{"kill_chain_name": "misp-category", "phase_name": galaxy_type}]);
            }
            "x-misp-galaxy-cluster" => {
                object["x_misp_galaxy_type"] = json!(galaxy_type);
                if !meta.is_null() {
                    object["x_misp_meta"] = meta.clone();
                }
            }
            _ => {}
        }
        if kind == "malware" {
            object["is_family"] = json!(true);
        }
        if matches!(kind, "malware" | "tool" | "intrusion-set" | "threat-actor")
            && !synonyms.is_empty()
        {
            object["aliases"] = json!(synonyms);
        }
        let references: Vec<Value> = list(meta, "external_id")
            .iter()
            .filter_map(Value::as_str)
            .map(|external| {
                let source = if external.starts_with("CAPEC-") {
                    "capec"
                } else if external.starts_with("CVE-") {
                    "cve"
                } else {
                    "mitre-attack"
                };
                json!({"source_name": source, "external_id": external})
            })
            .chain(
                list(meta, "refs")
                    .iter()
                    .filter_map(Value::as_str)
                    .map(|url| json!({"source_name": "url", "url": url})),
            )
            .collect();
        if !references.is_empty() {
            object["external_references"] = json!(references);
        }
        if kind == "vulnerability" && object.get("external_references").is_none() {
            object["external_references"] = json!([{"source_name": "misp", "description": name}]);
        }
        self.push(object, None, Observables::default());
        Some(id)
    }

    /// Adds one MISP object: an indicator when an attribute is flagged for detection, else
    /// observed data, with what STIX has no place for in `x_misp_attributes`; an object none
    /// of whose attributes has an observable form is an `x-misp-object`.
    fn object(&mut self, o: &Value) -> Option<String> {
        let uuid = o["uuid"]
            .as_str()
            .filter(|u| cairn_core::stix::is_uuid(u))?
            .to_ascii_lowercase();
        let name = o["name"].as_str().unwrap_or("object");
        let meta_category = o["meta-category"].as_str().unwrap_or("misc");
        let attributes = list(o, "Attribute");
        let to_ids = attributes.iter().any(|a| flag(&a["to_ids"]));
        let time = self.time_of(o);
        let own = attributes.iter().filter_map(tagged_tlp).max();
        let mut labels = vec![
            format!("misp:name=\"{name}\""),
            format!("misp:meta-category=\"{meta_category}\""),
        ];
        if to_ids {
            labels.push("misp:to_ids=\"True\"".into());
        }
        // Comparisons per observable type, observables per type, and the rest.
        let mut comparisons: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
        let mut scos: BTreeMap<&'static str, Map<String, Value>> = BTreeMap::new();
        let mut rest: Vec<Value> = Vec::new();
        let mut observables = Observables::default();
        // The hashes flagged for detection of a file object's file.
        let mut file_hashes: Vec<(IndicatorType, String)> = Vec::new();
        for a in attributes {
            let misp_type = a["type"].as_str().unwrap_or_default();
            let value = text_of(&a["value"]).unwrap_or_default();
            let found = places(misp_type, &value).and_then(|places| {
                let cs: Option<Vec<String>> = places.iter().map(|(p, v)| p.comparison(v)).collect();
                cs.map(|cs| (places, cs))
            });
            // Two values for one property of one observable (two IPs) do not fit one object.
            let clash = found.as_ref().is_some_and(|(places, _)| {
                places.iter().any(|(p, _)| {
                    let key = match p {
                        Place::Value(_) => "value".to_string(),
                        Place::Hash(h) => format!("hashes.{h}"),
                        Place::FileName | Place::MutexName => "name".into(),
                        Place::AsNumber => "number".into(),
                        Place::RegistryKey => "key".into(),
                    };
                    scos.get(p.sco())
                        .is_some_and(|m| match key.split_once('.') {
                            Some((_, h)) => m.get("hashes").and_then(|x| x.get(h)).is_some(),
                            None => m.contains_key(&key),
                        })
                })
            });
            match found {
                Some((places, cs)) if !clash => {
                    let sco = places[0].0.sco();
                    comparisons.entry(sco).or_default().extend(cs);
                    let map = scos.entry(sco).or_default();
                    for (p, v) in &places {
                        let _ = p.properties(v, map);
                    }
                    if flag(&a["to_ids"]) {
                        let comment = a["comment"].as_str().unwrap_or_default();
                        add_observable(misp_type, &value, comment, &mut observables);
                        if name == "file"
                            && sco == "file"
                            && let Some(hash) = observable_of(misp_type, &value)
                                .filter(|(kind, _)| cairn_core::correlation::is_hash(*kind))
                        {
                            file_hashes.push(hash);
                        }
                    }
                }
                _ => rest.push(json!({
                    "type": misp_type,
                    "object_relation": a["object_relation"],
                    "value": value,
                    "to_ids": flag(&a["to_ids"]),
                })),
            }
        }
        // Already among the observables: this ties them together as one file's.
        observables.add_file(&file_hashes, "");
        let mut base = self.base(&time, labels, o["comment"].as_str().unwrap_or_default());
        if !rest.is_empty() && !comparisons.is_empty() {
            base["x_misp_attributes"] = json!(rest);
        }
        let id = if comparisons.is_empty() {
            base["type"] = json!("x-misp-object");
            base["id"] = json!(format!("x-misp-object--{uuid}"));
            base["x_misp_name"] = json!(name);
            base["x_misp_meta_category"] = json!(meta_category);
            base["x_misp_attributes"] = json!(rest);
            if let Some(map) = base.as_object_mut() {
                map.remove("description");
                if let Some(comment) = o["comment"].as_str().filter(|c| !c.is_empty()) {
                    map.insert("x_misp_comment".into(), json!(comment));
                }
            }
            format!("x-misp-object--{uuid}")
        } else if to_ids {
            let pattern = comparisons
                .values()
                .map(|cs| format!("[{}]", cs.join(" AND ")))
                .collect::<Vec<_>>()
                .join(" AND ");
            base["type"] = json!("indicator");
            base["id"] = json!(format!("indicator--{uuid}"));
            base["pattern"] = json!(pattern);
            base["pattern_type"] = json!("stix");
            base["pattern_version"] = json!("2.1");
            base["valid_from"] = json!(first_seen(o).unwrap_or_else(|| time.clone()));
            base["kill_chain_phases"] =
                json!([{"kill_chain_name": "misp-category", "phase_name": meta_category}]);
            format!("indicator--{uuid}")
        } else {
            let mut refs = Vec::new();
            for (n, (sco, mut map)) in scos.into_iter().enumerate() {
                let sco_id = if n == 0 {
                    format!("{sco}--{uuid}")
                } else {
                    derived_id(sco, &format!("{uuid}/{sco}"))
                };
                map.insert("type".into(), json!(sco));
                map.insert("spec_version".into(), json!("2.1"));
                map.insert("id".into(), json!(sco_id));
                self.push(Value::Object(map), own, Observables::default());
                refs.push(sco_id);
            }
            as_observed_data(&mut base, &uuid, o, &time, refs);
            format!("observed-data--{uuid}")
        };
        self.push(base, own, observables);
        for a in attributes {
            // References and sightings of an object's attribute land on the object.
            if let Some(a_uuid) = a["uuid"].as_str() {
                self.by_uuid.insert(a_uuid.to_ascii_lowercase(), id.clone());
            }
            self.attribute_galaxies(a, &id);
        }
        self.by_uuid.insert(uuid, id.clone());
        Some(id)
    }

    /// The object references of the event's objects, as relationships.
    fn references(&mut self, objects: &[Value]) {
        for o in objects {
            let Some(from) = o["uuid"]
                .as_str()
                .and_then(|u| self.by_uuid.get(&u.to_ascii_lowercase()))
                .cloned()
            else {
                continue;
            };
            for reference in list(o, "ObjectReference") {
                let target = reference["referenced_uuid"]
                    .as_str()
                    .map(str::to_ascii_lowercase)
                    .and_then(|u| self.by_uuid.get(&u).cloned())
                    .filter(|t| !t.is_empty());
                let Some(to) = target else {
                    self.notes.push(format!(
                        "object reference {} points outside the event: kept in the carried event only",
                        reference["uuid"].as_str().unwrap_or("without uuid")
                    ));
                    continue;
                };
                let given = reference["relationship_type"].as_str().unwrap_or_default();
                let relationship_type = relationship_type_of(given);
                let id = match reference["uuid"]
                    .as_str()
                    .filter(|u| cairn_core::stix::is_uuid(u))
                {
                    Some(u) => format!("relationship--{}", u.to_ascii_lowercase()),
                    None => derived_id("relationship", &format!("{from}/{to}/{relationship_type}")),
                };
                let time = self.time_of(reference);
                let mut rel = self.relationship(id, &time, &relationship_type, &from, &to);
                if given != relationship_type {
                    rel["x_misp_relationship_type"] = json!(given);
                }
                self.push(rel, tagged_tlp(o), Observables::default());
            }
        }
    }

    /// Sightings of the event's attributes: sightings, false positives as opinions,
    /// expirations as notes.
    fn sightings(&mut self) {
        let event = self.event;
        let mut all: Vec<&Value> = list(event, "Sighting").iter().collect();
        for a in list(event, "Attribute") {
            all.extend(list(a, "Sighting"));
        }
        for o in list(event, "Object") {
            for a in list(o, "Attribute") {
                all.extend(list(a, "Sighting"));
            }
        }
        for s in all {
            let Some(uuid) = s["uuid"].as_str().filter(|u| cairn_core::stix::is_uuid(u)) else {
                continue;
            };
            let uuid = uuid.to_ascii_lowercase();
            let Some(of) = s["attribute_uuid"]
                .as_str()
                .and_then(|u| self.by_uuid.get(&u.to_ascii_lowercase()))
                .filter(|t| !t.is_empty())
                .cloned()
            else {
                continue;
            };
            let when = seconds_of(&s["date_sighting"])
                .map(stix_time_of)
                .unwrap_or_else(|| self.event_time.clone());
            let org = &s["Organisation"];
            let org_name = org["name"].as_str().or(s["source"].as_str());
            let who = org_name.map(|name| {
                let id = match org["uuid"]
                    .as_str()
                    .filter(|u| cairn_core::stix::is_uuid(u))
                {
                    Some(u) => format!("identity--{}", u.to_ascii_lowercase()),
                    None => derived_id("identity", &format!("org/{name}")),
                };
                let identity = json!({
                    "type": "identity",
                    "spec_version": "2.1",
                    "id": id,
                    "created": self.event_time,
                    "modified": self.event_time,
                    "name": name,
                    "identity_class": "organization",
                });
                self.push(identity, None, Observables::default());
                (id, name.to_string())
            });
            let kind = text_of(&s["type"]).unwrap_or_else(|| "0".into());
            let object = match kind.as_str() {
                "1" => {
                    let mut o = json!({
                        "type": "opinion",
                        "spec_version": "2.1",
                        "id": format!("opinion--{uuid}"),
                        "created": when,
                        "modified": when,
                        "opinion": "strongly-disagree",
                        "explanation": "False positive (a MISP sighting of type 1)",
                        "object_refs": [of],
                        "labels": ["misp:sighting-type=\"false-positive\""],
                    });
                    if let Some((_, name)) = &who {
                        o["authors"] = json!([name]);
                    }
                    o
                }
                "2" => json!({
                    "type": "note",
                    "spec_version": "2.1",
                    "id": format!("note--{uuid}"),
                    "created": when,
                    "modified": when,
                    "abstract": "Expiration",
                    "content": "The attribute expired (a MISP sighting of type 2)",
                    "object_refs": [of],
                    "labels": ["misp:sighting-type=\"expiration\""],
                }),
                _ => {
                    let mut o = json!({
                        "type": "sighting",
                        "spec_version": "2.1",
                        "id": format!("sighting--{uuid}"),
                        "created": when,
                        "modified": when,
                        "first_seen": when,
                        "last_seen": when,
                        "count": 1,
                        "sighting_of_ref": of,
                    });
                    if let Some((id, _)) = &who {
                        o["where_sighted_refs"] = json!([id]);
                    }
                    o
                }
            };
            self.push(object, None, Observables::default());
        }
    }

    /// The event's reports (MISP "event reports"), as notes.
    fn event_reports(&mut self, about: &str) {
        for r in list(self.event, "EventReport") {
            let Some(uuid) = r["uuid"].as_str().filter(|u| cairn_core::stix::is_uuid(u)) else {
                continue;
            };
            let time = self.time_of(r);
            let note = json!({
                "type": "note",
                "spec_version": "2.1",
                "id": format!("note--{}", uuid.to_ascii_lowercase()),
                "created_by_ref": self.created_by,
                "created": time,
                "modified": time,
                "abstract": r["name"].as_str().unwrap_or("Event report"),
                "content": r["content"].as_str().unwrap_or_default(),
                "object_refs": [about],
            });
            self.push(note, None, Observables::default());
        }
    }

    /// The whole form: the organisation's identity, the event's report or grouping object,
    /// and everything it holds; the TLP marking-definitions the objects refer to come first.
    pub(crate) fn finish(mut self, event_uuid: &str) -> Vec<FormObject> {
        let event = self.event;
        for cluster_holder in list(event, "Galaxy") {
            for cluster in list(cluster_holder, "GalaxyCluster") {
                self.cluster(cluster_holder, cluster);
            }
        }
        for a in list(event, "Attribute") {
            if self.attribute(a).is_none() {
                self.notes.push(format!(
                    "attribute {} has no uuid: kept in the carried event only",
                    text_of(&a["value"]).unwrap_or_default()
                ));
            }
        }
        for o in list(event, "Object") {
            if self.object(o).is_none() {
                self.notes.push(format!(
                    "object {} has no uuid: kept in the carried event only",
                    o["name"].as_str().unwrap_or_default()
                ));
            }
        }
        self.references(list(event, "Object"));
        self.sightings();
        let published = flag(&event["published"]);
        let kind = if published { "report" } else { "grouping" };
        let about = format!("{kind}--{event_uuid}");
        self.event_reports(&about);
        let mut refs: Vec<String> = self
            .objects
            .iter()
            .skip(1) // the identity
            .map(|o| o.id.clone())
            .collect();
        if refs.is_empty() {
            let note = json!({
                "type": "note",
                "spec_version": "2.1",
                "id": format!("note--{event_uuid}"),
                "created_by_ref": self.created_by,
                "created": self.event_time,
                "modified": self.event_time,
                "content": "This MISP event is empty: it holds no attribute, object or galaxy.",
                "object_refs": [about],
            });
            self.push(note, None, Observables::default());
            refs.push(format!("note--{event_uuid}"));
        }
        // A large event's head would not fit one report: it refers to groupings of at most
        // `MAX_REFS` objects each instead.
        if refs.len() > MAX_REFS {
            let total = refs.len();
            let info = event["info"].as_str().unwrap_or("MISP event");
            let chunks: Vec<Vec<String>> = refs.chunks(MAX_REFS).map(<[String]>::to_vec).collect();
            refs = Vec::with_capacity(chunks.len());
            for (k, chunk) in chunks.into_iter().enumerate() {
                let id = derived_id("grouping", &format!("{event_uuid}/objects/{k}"));
                let first = k * MAX_REFS + 1;
                let grouping = json!({
                    "type": "grouping",
                    "spec_version": "2.1",
                    "id": id,
                    "created_by_ref": self.created_by,
                    "created": self.event_time,
                    "modified": self.event_time,
                    "name": format!("{info} (objects {first} to {} of {total})", first + chunk.len() - 1),
                    "context": "suspicious-activity",
                    "object_refs": chunk,
                });
                self.push(grouping, None, Observables::default());
                refs.push(id);
            }
        }
        let mut labels = vec!["Threat-Report".to_string()];
        labels.extend(Self::tag_labels(event));
        let mut head = json!({
            "type": kind,
            "spec_version": "2.1",
            "id": about,
            "created_by_ref": self.created_by,
            "created": self.event_time,
            "modified": self.event_time,
            "name": event["info"].as_str().unwrap_or("MISP event"),
            "object_refs": refs,
            "labels": labels,
        });
        if published {
            let when = seconds_of(&event["publish_timestamp"])
                .filter(|s| *s > 0)
                .map(stix_time_of)
                .unwrap_or_else(|| self.event_time.clone());
            head["published"] = json!(when);
        } else {
            head["context"] = json!("suspicious-activity");
        }
        self.push(head, None, Observables::default());
        let definitions: Vec<FormObject> = self
            .tlps
            .keys()
            .map(|tlp| {
                let json = crate::stix::tlp_marking(*tlp);
                FormObject {
                    id: cairn_core::stix::tlp_marking_id(*tlp).to_string(),
                    json,
                    observables: Observables::default(),
                }
            })
            .collect();
        definitions.into_iter().chain(self.objects).collect()
    }
}

/// A MISP relationship type as STIX writes one (3 to 250 lower-case letters, digits and
/// hyphens): `"targeted-by "` is `targeted-by`, `"Related To"` is `related-to`; what cannot be
/// made one is `related-to`.
fn relationship_type_of(given: &str) -> String {
    let mut out = String::with_capacity(given.len());
    for c in given.trim().chars().flat_map(char::to_lowercase) {
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() {
            c
        } else {
            '-'
        };
        if !(c == '-' && (out.is_empty() || out.ends_with('-'))) {
            out.push(c);
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    if (3..=250).contains(&out.len()) {
        out
    } else {
        "related-to".into()
    }
}

/// Makes `base` the observed data of a MISP attribute or object (`holder`, whose uuid is
/// `uuid`), seen once at its `first_seen`/`last_seen` (else `time`), of the observables `refs`.
/// Observed data has no description: a MISP comment goes in `x_misp_comment`.
fn as_observed_data(base: &mut Value, uuid: &str, holder: &Value, time: &str, refs: Vec<String>) {
    if let Some(map) = base.as_object_mut()
        && let Some(comment) = map.remove("description")
    {
        map.insert("x_misp_comment".into(), comment);
    }
    base["type"] = json!("observed-data");
    base["id"] = json!(format!("observed-data--{uuid}"));
    base["first_observed"] = json!(first_seen(holder).unwrap_or_else(|| time.to_string()));
    base["last_observed"] = json!(last_seen(holder).unwrap_or_else(|| time.to_string()));
    base["number_observed"] = json!(1);
    base["object_refs"] = json!(refs);
}

fn first_seen(v: &Value) -> Option<String> {
    v["first_seen"].as_str().and_then(normal_time)
}

fn last_seen(v: &Value) -> Option<String> {
    v["last_seen"].as_str().and_then(normal_time)
}

/// A MISP `first_seen`/`last_seen` (ISO 8601 with an offset and microseconds) as a STIX
/// timestamp.
fn normal_time(text: &str) -> Option<String> {
    let t =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    let nanos = t.unix_timestamp_nanos();
    Some(
        cairn_core::stix::StixTime::from_millis(i64::try_from(nanos / 1_000_000).ok()?).to_string(),
    )
}
