//! STIX 2.1 objects carried in a report exactly as their source sent them: what Cairn reads of
//! each one (type, id, version, spec version, revocation, markings), the STIX timestamp, and
//! the TLP label an object's markings give it. The rule that a report is at least as strict as
//! everything it carries is checked here, for reports written here and received alike.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::model::Tlp;

/// The TLP 2.0 extension definition (FIRST / OASIS).
pub const TLP2_EXTENSION: &str = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d";

/// Most STIX objects one report may carry.
pub const MAX_OBJECTS: usize = 10_000;

/// The STIX id of the TLP 2.0 marking-definition for a label.
pub fn tlp_marking_id(tlp: Tlp) -> &'static str {
    match tlp {
        Tlp::Clear => "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
        Tlp::Green => "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
        Tlp::Amber => "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
        Tlp::AmberStrict => "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
        Tlp::Red => "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
    }
}

/// The TLP label a well-known marking-definition id stands for: the five TLP 2.0 ids, and the
/// four TLP 1.0 ids built into STIX 2.1 (WHITE is read as CLEAR).
pub fn tlp_of_marking_id(id: &str) -> Option<Tlp> {
    if let Some(tlp) = Tlp::ALL.iter().find(|t| tlp_marking_id(**t) == id) {
        return Some(*tlp);
    }
    match id {
        "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9" => Some(Tlp::Clear),
        "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da" => Some(Tlp::Green),
        "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82" => Some(Tlp::Amber),
        "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed" => Some(Tlp::Red),
        _ => None,
    }
}

/// A STIX timestamp: an instant in UTC, and how many fractional digits it was written with,
/// so that it is written back as it came. Two timestamps are equal when they name the same
/// instant, whatever their digits.
#[derive(Debug, Clone, Copy)]
pub struct StixTime {
    nanos: i128,
    digits: u8,
}

/// The earliest and latest instants a STIX timestamp can write (years 0000 to 9999), in
/// nanoseconds since 1970.
const EARLIEST_NANOS: i128 = -62_167_219_200_000_000_000;
const LATEST_NANOS: i128 = 253_402_300_799_999_999_999;

impl StixTime {
    /// A time in milliseconds since 1970, written with three digits. Times outside the years
    /// 0000-9999 (which a report's author controls) are brought to the nearest end, so every
    /// `StixTime` can be written.
    pub fn from_millis(ms: i64) -> StixTime {
        StixTime::clamped(i128::from(ms) * 1_000_000, 3)
    }

    /// A time in microseconds since 1970, written with six digits (brought into the years
    /// 0000-9999 as [`StixTime::from_millis`] does).
    pub fn from_micros(us: i64) -> StixTime {
        StixTime::clamped(i128::from(us) * 1_000, 6)
    }

    fn clamped(nanos: i128, digits: u8) -> StixTime {
        StixTime {
            nanos: nanos.clamp(EARLIEST_NANOS, LATEST_NANOS),
            digits,
        }
    }

    /// Nanoseconds since 1970.
    pub fn nanos(&self) -> i128 {
        self.nanos
    }

    /// Microseconds since 1970 (rounded down).
    pub fn micros(&self) -> i64 {
        i64::try_from(self.nanos.div_euclid(1_000)).unwrap_or(i64::MAX)
    }

    /// Reads an RFC 3339 timestamp (STIX writes `2016-05-12T08:17:27.000Z`).
    pub fn parse(text: &str) -> Option<StixTime> {
        let t = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .ok()?;
        let digits = text.split_once('.').map_or(0, |(_, rest)| {
            rest.bytes().take_while(u8::is_ascii_digit).count()
        });
        Some(StixTime {
            nanos: t.unix_timestamp_nanos(),
            digits: u8::try_from(digits.min(9)).unwrap_or(9),
        })
    }
}

impl PartialEq for StixTime {
    fn eq(&self, other: &Self) -> bool {
        self.nanos == other.nanos
    }
}
impl Eq for StixTime {}
impl PartialOrd for StixTime {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for StixTime {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.nanos.cmp(&other.nanos)
    }
}
impl std::hash::Hash for StixTime {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.nanos.hash(state);
    }
}

impl fmt::Display for StixTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t =
            time::OffsetDateTime::from_unix_timestamp_nanos(self.nanos).map_err(|_| fmt::Error)?;
        if let Ok(year @ 0..=9999) = u32::try_from(t.year()) {
            // Written digit by digit: servers write thousands of versions per page.
            let mut text = *b"0000-00-00T00:00:00.000000000Z";
            let mut put = |at: usize, width: usize, mut value: u32| {
                for place in (at..at + width).rev() {
                    text[place] = b'0' + (value % 10) as u8;
                    value /= 10;
                }
            };
            put(0, 4, year);
            put(5, 2, u32::from(u8::from(t.month())));
            put(8, 2, u32::from(t.day()));
            put(11, 2, u32::from(t.hour()));
            put(14, 2, u32::from(t.minute()));
            put(17, 2, u32::from(t.second()));
            let digits = usize::from(self.digits.min(9));
            put(20, 9, t.nanosecond());
            let end = if digits == 0 { 19 } else { 20 + digits };
            text[end] = b'Z';
            let written = std::str::from_utf8(&text[..=end]).map_err(|_| fmt::Error)?;
            return f.write_str(written);
        }
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )?;
        if self.digits > 0 {
            let digits = u32::from(self.digits.min(9));
            let fraction = t.nanosecond() / 10u32.pow(9 - digits);
            write!(f, ".{fraction:0width$}", width = digits as usize)?;
        }
        f.write_str("Z")
    }
}

/// What Cairn reads of a carried STIX object; everything else is carried untouched.
#[derive(Debug, Default)]
struct Header<'a> {
    kind: Option<Cow<'a, str>>,
    id: Option<Cow<'a, str>>,
    spec_version: Option<Cow<'a, str>>,
    created: Option<Cow<'a, str>>,
    modified: Option<Cow<'a, str>>,
    revoked: Option<bool>,
    object_marking_refs: Vec<Cow<'a, str>>,
    granular_markings: Vec<GranularMarking<'a>>,
    definition_type: Option<Cow<'a, str>>,
    definition: Option<&'a RawValue>,
    extensions: Option<HashMap<Cow<'a, str>, &'a RawValue>>,
}

/// Properties of a carried object that a caller reads in the same pass as its header: each
/// property the header does not use is offered to it, in the order the object gives them.
pub trait OtherProperties<'de>: Default {
    /// Reads (or skips) the value of the property `key` from `map`.
    fn read_value<A: serde::de::MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
    ) -> Result<(), A::Error>;
}

/// No other properties: the header alone.
impl<'de> OtherProperties<'de> for () {
    fn read_value<A: serde::de::MapAccess<'de>>(
        &mut self,
        _key: &str,
        map: &mut A,
    ) -> Result<(), A::Error> {
        map.next_value::<serde::de::IgnoredAny>().map(drop)
    }
}

/// A string, borrowed from the JSON text when it has no escapes.
struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> serde::de::Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: serde::de::Error>(
                self,
                v: &'de str,
            ) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(TextVisitor)
    }
}

/// The header properties, each with its own bit, to tell one given twice.
const HEADER_KEYS: [&str; 11] = [
    "type",
    "id",
    "spec_version",
    "created",
    "modified",
    "revoked",
    "object_marking_refs",
    "granular_markings",
    "definition_type",
    "definition",
    "extensions",
];

/// A header and the other properties a caller reads, from one pass over an object's JSON.
struct HeaderWith<'a, O> {
    header: Header<'a>,
    other: O,
}

impl<'de: 'a, 'a, O: OtherProperties<'de>> Deserialize<'de> for HeaderWith<'a, O> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct HeaderVisitor<O>(std::marker::PhantomData<O>);
        impl<'de, O: OtherProperties<'de>> serde::de::Visitor<'de> for HeaderVisitor<O> {
            type Value = HeaderWith<'de, O>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut h = Header::default();
                let mut other = O::default();
                // A header property given twice is refused: a reader that took the first and
                // one that took the last would see two different objects.
                let mut seen = 0u16;
                let text = |t: Option<Text<'de>>| t.map(|t| t.0);
                while let Some(key) = map.next_key::<Text<'de>>()? {
                    let Some(k) = HEADER_KEYS.iter().position(|k| *k == key.0) else {
                        other.read_value(&key.0, &mut map)?;
                        continue;
                    };
                    if seen & (1 << k) != 0 {
                        return Err(serde::de::Error::duplicate_field(HEADER_KEYS[k]));
                    }
                    seen |= 1 << k;
                    // In the order of HEADER_KEYS.
                    match k {
                        0 => h.kind = text(map.next_value()?),
                        1 => h.id = text(map.next_value()?),
                        2 => h.spec_version = text(map.next_value()?),
                        3 => h.created = text(map.next_value()?),
                        4 => h.modified = text(map.next_value()?),
                        5 => h.revoked = map.next_value()?,
                        6 => {
                            let refs: Vec<Text<'de>> = map.next_value()?;
                            h.object_marking_refs = refs.into_iter().map(|t| t.0).collect();
                        }
                        7 => h.granular_markings = map.next_value()?,
                        8 => h.definition_type = text(map.next_value()?),
                        9 => h.definition = map.next_value()?,
                        _ => h.extensions = map.next_value()?,
                    }
                }
                Ok(HeaderWith { header: h, other })
            }
        }
        deserializer.deserialize_map(HeaderVisitor(std::marker::PhantomData))
    }
}

#[derive(Debug, Deserialize)]
struct GranularMarking<'a> {
    #[serde(borrow)]
    marking_ref: Option<Cow<'a, str>>,
}

/// A carried object's identity, version and markings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectHeader<'a> {
    /// The STIX type.
    pub kind: Cow<'a, str>,
    /// The STIX id (`type--UUID`).
    pub id: Cow<'a, str>,
    /// `spec_version`, when given (SCOs may leave it out).
    pub spec_version: Option<Cow<'a, str>>,
    /// `created`, when given.
    pub created: Option<StixTime>,
    /// `modified`, when given.
    pub modified: Option<StixTime>,
    /// Whether this version revokes the object.
    pub revoked: bool,
    /// Every marking-definition id it refers to: `object_marking_refs`, then the
    /// `marking_ref`s of its granular markings.
    pub markings: Vec<Cow<'a, str>>,
    /// For a TLP marking-definition: the label it defines.
    pub defines_tlp: Option<Tlp>,
    /// Its `extensions`: each key and the JSON text of what it holds.
    pub extensions: Vec<(Cow<'a, str>, &'a str)>,
}

impl ObjectHeader<'_> {
    /// The object's version: `modified`, else `created`; SCOs have neither.
    pub fn version(&self) -> Option<StixTime> {
        self.modified.or(self.created)
    }

    /// The strictest TLP label among its markings: well-known TLP ids, or the ids `defined`
    /// names. `None` when it carries no TLP marking.
    pub fn tlp(&self, defined: &dyn Fn(&str) -> Option<Tlp>) -> Option<Tlp> {
        self.markings
            .iter()
            .filter_map(|m| tlp_of_marking_id(m).or_else(|| defined(m)))
            .max()
    }

    /// Its type, id and version.
    pub fn object_version(&self) -> ObjectVersion {
        ObjectVersion {
            kind: self.kind.to_string(),
            id: self.id.to_string(),
            version: self.version(),
        }
    }

    /// The JSON text of one of its extensions, by key (an extension-definition id).
    pub fn extension(&self, key: &str) -> Option<&str> {
        self.extensions
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, raw)| *raw)
    }

    /// The UUID part of its id.
    pub fn uuid(&self) -> &str {
        &self.id[self.kind.len() + 2..]
    }
}

/// Whether `text` is shaped as a UUID (8-4-4-4-12 hexadecimal digits).
pub fn is_uuid(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// Whether `kind` is a STIX type name: 3 to 250 characters, lower-case ASCII letters, digits
/// and hyphens.
fn is_type_name(kind: &str) -> bool {
    (3..=250).contains(&kind.len())
        && kind
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Reads what Cairn needs of one STIX object's JSON text; says what is wrong when the text is
/// not a STIX object Cairn can carry.
pub fn read_header(json: &str) -> Result<ObjectHeader<'_>, String> {
    read_header_with::<()>(json).map(|(header, ())| header)
}

/// [`read_header`], and the other properties `O` reads, in one pass over the object's JSON.
pub fn read_header_with<'a, O: OtherProperties<'a>>(
    json: &'a str,
) -> Result<(ObjectHeader<'a>, O), String> {
    let HeaderWith { header, other } = serde_json::from_str::<HeaderWith<'a, O>>(json)
        .map_err(|e| format!("not a STIX object: {e}"))?;
    check_header(header).map(|header| (header, other))
}

/// The header's properties checked: what is wrong with them, else the object's header.
fn check_header(h: Header<'_>) -> Result<ObjectHeader<'_>, String> {
    let kind = h.kind.ok_or("it has no \"type\"")?;
    if !is_type_name(&kind) {
        return Err(format!(
            "{kind:?} is not a STIX type (3-250 lower-case letters, digits and hyphens)"
        ));
    }
    let id = h.id.ok_or_else(|| format!("the {kind} has no \"id\""))?;
    let uuid_ok = id
        .strip_prefix(&*kind)
        .and_then(|rest| rest.strip_prefix("--"))
        .is_some_and(is_uuid);
    if !uuid_ok {
        return Err(format!(
            "its id {id:?} is not its type {kind:?}, \"--\" and a UUID"
        ));
    }
    let time_of = |field: &str, text: Option<Cow<'_, str>>| -> Result<Option<StixTime>, String> {
        text.map(|t| {
            StixTime::parse(&t).ok_or_else(|| {
                format!("{id} {field}: {t:?} is not a STIX timestamp (2016-05-12T08:17:27.000Z)")
            })
        })
        .transpose()
    };
    let created = time_of("created", h.created)?;
    let modified = time_of("modified", h.modified)?;
    if let (Some(c), Some(m)) = (created, modified)
        && m < c
    {
        return Err(format!("{id}: modified is earlier than created"));
    }
    let mut markings = h.object_marking_refs;
    markings.extend(
        h.granular_markings
            .into_iter()
            .filter_map(|g| g.marking_ref),
    );
    for m in &markings {
        if !m.starts_with("marking-definition--") {
            return Err(format!(
                "{id}: {m:?} in its markings is not a marking-definition id"
            ));
        }
    }
    let defines_tlp = if kind == "marking-definition" {
        defined_tlp(
            h.definition_type.as_deref(),
            h.definition,
            h.extensions.as_ref(),
        )
        .map_err(|e| format!("{id}: {e}"))?
    } else {
        None
    };
    Ok(ObjectHeader {
        kind,
        id,
        spec_version: h.spec_version,
        created,
        modified,
        revoked: h.revoked.unwrap_or(false),
        markings,
        defines_tlp,
        extensions: h
            .extensions
            .into_iter()
            .flatten()
            .map(|(key, raw)| (key, raw.get()))
            .collect(),
    })
}

/// The TLP label a marking-definition defines: TLP 2.0 through its extension, TLP 1.0 through
/// `definition_type: "tlp"`. A TLP definition with a label Cairn does not know is an error:
/// a marking must never be read as weaker than it is.
fn defined_tlp(
    definition_type: Option<&str>,
    definition: Option<&RawValue>,
    extensions: Option<&HashMap<Cow<'_, str>, &RawValue>>,
) -> Result<Option<Tlp>, String> {
    #[derive(Deserialize)]
    struct Tlp2<'a> {
        #[serde(borrow)]
        tlp_2_0: Option<Cow<'a, str>>,
    }
    #[derive(Deserialize)]
    struct Tlp1<'a> {
        #[serde(borrow)]
        tlp: Option<Cow<'a, str>>,
    }
    let label = |text: &str| -> Result<Tlp, String> {
        if text.eq_ignore_ascii_case("white") {
            return Ok(Tlp::Clear);
        }
        text.to_ascii_lowercase()
            .parse::<Tlp>()
            .map_err(|_| format!("{text:?} is not a TLP label"))
    };
    if let Some(raw) = extensions.and_then(|e| e.get(TLP2_EXTENSION)) {
        let ext: Tlp2<'_> = serde_json::from_str(raw.get())
            .map_err(|e| format!("its TLP 2.0 extension is malformed: {e}"))?;
        if let Some(text) = ext.tlp_2_0 {
            return label(&text).map(Some);
        }
    }
    if definition_type == Some("tlp") {
        let definition = definition.ok_or("a TLP marking without a definition")?;
        let d: Tlp1<'_> = serde_json::from_str(definition.get())
            .map_err(|e| format!("its TLP definition is malformed: {e}"))?;
        let text = d.tlp.ok_or("a TLP marking without a label")?;
        return label(&text).map(Some);
    }
    Ok(None)
}

/// The strictest TLP label carried by `objects` (JSON texts), reading marking-definitions
/// carried among them as well as the well-known ids; the position and reason of the first
/// object that is not one Cairn can carry.
pub fn strictest_tlp(objects: &[String]) -> Result<Option<Tlp>, (usize, String)> {
    read_carried(objects).map(|(tlp, _)| tlp)
}

/// [`strictest_tlp`], with the type, id and version of every object, in order: what
/// validating a report reads of what it carries.
pub(crate) fn read_carried(
    objects: &[String],
) -> Result<(Option<Tlp>, Vec<ObjectVersion>), (usize, String)> {
    let headers = objects
        .iter()
        .enumerate()
        .map(|(i, o)| read_header(o).map_err(|e| (i, e)))
        .collect::<Result<Vec<_>, _>>()?;
    let read = CarriedRead::of(&headers);
    Ok((read.strictest, read.versions))
}

/// What checking a report reads of the objects it carries (their strictest TLP marking, and
/// each one's type, id and version), taken from headers its caller already read: an import
/// reads every object's header to place it, and signing the report it made need not read
/// them again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CarriedRead {
    strictest: Option<Tlp>,
    versions: Vec<ObjectVersion>,
}

impl CarriedRead {
    /// From the headers of exactly the objects a report carries, in their order.
    pub fn of(headers: &[ObjectHeader<'_>]) -> CarriedRead {
        Self::of_each(headers.iter())
    }

    /// [`CarriedRead::of`], from borrowed headers.
    pub fn of_each<'h, 'a: 'h>(
        headers: impl Iterator<Item = &'h ObjectHeader<'a>> + Clone,
    ) -> CarriedRead {
        let defined: HashMap<&str, Tlp> = headers
            .clone()
            .filter_map(|h| h.defines_tlp.map(|t| (&*h.id, t)))
            .collect();
        let lookup = |id: &str| defined.get(id).copied();
        CarriedRead {
            strictest: headers.clone().filter_map(|h| h.tlp(&lookup)).max(),
            versions: headers.map(ObjectHeader::object_version).collect(),
        }
    }

    /// How many objects.
    pub fn len(&self) -> usize {
        self.versions.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.versions.is_empty()
    }

    pub(crate) fn into_parts(self) -> (Option<Tlp>, Vec<ObjectVersion>) {
        (self.strictest, self.versions)
    }
}

/// The type, id and version of each object of a report checked before (objects that do not
/// read as STIX objects, which a checked report does not carry, are left out).
pub(crate) fn object_versions_of(objects: &[String]) -> Vec<ObjectVersion> {
    objects
        .iter()
        .filter_map(|json| read_header(json).ok())
        .map(|h| h.object_version())
        .collect()
}

/// A carried object without its content: type, id and version. What an index of objects
/// needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectVersion {
    /// The STIX type.
    pub kind: String,
    /// The STIX id.
    pub id: String,
    /// The version (`modified`, else `created`); `None` for objects without one (SCOs).
    pub version: Option<StixTime>,
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Written digit by digit, a timestamp reads as the `time` crate writes its parts, and
        /// parses back to the same instant and digits.
        #[test]
        fn timestamps_are_written_as_their_parts_say(
            nanos in EARLIEST_NANOS..=LATEST_NANOS,
            digits in 0u8..=9,
        ) {
            let cut = 10i128.pow(9 - u32::from(digits));
            let nanos = nanos - nanos.rem_euclid(cut);
            let time = StixTime { nanos, digits };
            let t = time::OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap();
            let mut expected = format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
                t.year(), u8::from(t.month()), t.day(), t.hour(), t.minute(), t.second()
            );
            if digits > 0 {
                let fraction = t.nanosecond() / 10u32.pow(9 - u32::from(digits));
                expected.push_str(&format!(".{fraction:0width$}", width = usize::from(digits)));
            }
            expected.push('Z');
            proptest::prop_assert_eq!(time.to_string(), expected.clone());
            let back = StixTime::parse(&expected).unwrap();
            proptest::prop_assert_eq!(back, time);
            proptest::prop_assert_eq!(back.to_string(), expected);
        }
    }

    #[test]
    fn timestamps_keep_their_digits_and_compare_by_instant() {
        for text in [
            "2016-05-12T08:17:27Z",
            "2016-05-12T08:17:27.000Z",
            "2017-05-31T21:32:58.226477Z",
            "2018-11-01T23:24:48.456Z",
            "2018-11-01T23:24:48.123456789Z",
            "0042-03-04T05:06:07.5Z",
            "1999-12-31T23:59:59.01Z",
            "2024-02-29T00:00:00.0000007Z",
        ] {
            assert_eq!(StixTime::parse(text).unwrap().to_string(), text);
        }
        assert_eq!(
            StixTime::parse("2018-11-01T23:24:48.456Z"),
            StixTime::parse("2018-11-01T23:24:48.456000Z")
        );
        assert!(
            StixTime::parse("2018-11-01T23:24:48.456Z")
                < StixTime::parse("2018-11-01T23:24:48.457Z")
        );
        assert_eq!(
            StixTime::from_micros(1).to_string(),
            "1970-01-01T00:00:00.000001Z"
        );
        // A time no timestamp can write (a report's author chose it) is written at the end of
        // the range, never a failure.
        assert_eq!(
            StixTime::from_millis(i64::MAX).to_string(),
            "9999-12-31T23:59:59.999Z"
        );
        assert_eq!(
            StixTime::from_micros(i64::MIN).to_string(),
            "0000-01-01T00:00:00.000000Z"
        );
        assert!(StixTime::parse("yesterday").is_none());
    }

    #[test]
    fn headers_name_what_is_wrong() {
        let ok = r#"{"type":"indicator","id":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","created":"2016-04-06T20:03:48.000Z","modified":"2016-04-06T20:03:48.000Z","object_marking_refs":["marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"],"granular_markings":[{"marking_ref":"marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed","selectors":["description"]},{"lang":"fr","selectors":["name"]}]}"#;
        let h = read_header(ok).unwrap();
        assert_eq!(h.kind, "indicator");
        assert_eq!(
            h.tlp(&|_| None),
            Some(Tlp::Red),
            "granular RED is the strictest"
        );
        for (bad, says) in [
            ("[]", "not a STIX object"),
            (r#"{"id":"x--1"}"#, "no \"type\""),
            (
                r#"{"type":"indicator","id":"malware--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"}"#,
                "is not its type",
            ),
            (
                r#"{"type":"indicator","id":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","modified":"soon"}"#,
                "not a STIX timestamp",
            ),
            (
                r#"{"type":"indicator","id":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","object_marking_refs":"marking-definition--x"}"#,
                "not a STIX object",
            ),
            (
                r#"{"type":"indicator","id":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","object_marking_refs":["identity--x"]}"#,
                "not a marking-definition id",
            ),
            (
                r#"{"type":"indicator","id":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","object_marking_refs":null}"#,
                "not a STIX object",
            ),
            (
                r#"{"type":"indicator","id":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","object_marking_refs":[],"object_marking_refs":["marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"]}"#,
                "duplicate field `object_marking_refs`",
            ),
            (
                r#"{"type":"indicator","id":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","\u0069d":"indicator--9e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"}"#,
                "duplicate field `id`",
            ),
            (
                r#"{"type":"marking-definition","id":"marking-definition--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","definition_type":"tlp","definition":{"tlp":"purple"}}"#,
                "not a TLP label",
            ),
        ] {
            let e = read_header(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn other_properties_are_read_in_the_same_pass() {
        /// Counts the properties offered and keeps "name".
        #[derive(Default)]
        struct Named {
            offered: usize,
            name: Option<String>,
        }
        impl<'de> OtherProperties<'de> for Named {
            fn read_value<A: serde::de::MapAccess<'de>>(
                &mut self,
                key: &str,
                map: &mut A,
            ) -> Result<(), A::Error> {
                self.offered += 1;
                if key == "name" {
                    self.name = map.next_value()?;
                } else {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
                Ok(())
            }
        }
        let json = r#"{"type":"malware","name":"Emotet","id":"malware--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","is_family":true,"created":"2016-04-06T20:03:48.000Z","x_custom":{"a":[1,{"type":"x"}]}}"#;
        let (header, named) = read_header_with::<Named>(json).unwrap();
        assert_eq!(header, read_header(json).unwrap());
        assert_eq!(header.id, "malware--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f");
        assert_eq!(named.offered, 3, "name, is_family and x_custom");
        assert_eq!(named.name.as_deref(), Some("Emotet"));
        // A key written with escapes is the same key.
        let escaped = json.replace(r#""created""#, r#""cr\u0065ated""#);
        assert_eq!(read_header(&escaped).unwrap(), header);
    }

    #[test]
    fn carried_definitions_count_and_the_strictest_wins() {
        let custom = "marking-definition--11111111-2222-4333-8444-555555555555";
        let objects = vec![
            format!(
                r#"{{"type":"marking-definition","id":"{custom}","created":"2017-01-20T00:00:00.000Z","definition_type":"tlp","definition":{{"tlp":"amber"}}}}"#
            ),
            format!(
                r#"{{"type":"campaign","id":"campaign--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","created":"2016-04-06T20:03:48.000Z","modified":"2016-04-06T20:03:48.000Z","object_marking_refs":["{}","{custom}"]}}"#,
                tlp_marking_id(Tlp::Green)
            ),
        ];
        assert_eq!(strictest_tlp(&objects), Ok(Some(Tlp::Amber)));
        assert_eq!(strictest_tlp(&objects[1..]), Ok(Some(Tlp::Green)));
        assert_eq!(strictest_tlp(&[]), Ok(None));
    }
}
