//! STIX objects as the importer reads them: only the properties Cairn uses, borrowed from the
//! JSON text where it can be. A property of an unexpected JSON type reads as absent, as a
//! missing one does, so one odd property never spoils the rest of a bundle.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// A JSON value that matters only when it is a string or a whole number.
#[derive(Debug, Default, Clone)]
pub(crate) enum Scalar<'a> {
    /// Absent, null, or of a type that does not matter here.
    #[default]
    Other,
    Text(Cow<'a, str>),
    Number(u64),
}

impl<'a> Scalar<'a> {
    /// The string, if it is one.
    pub(crate) fn text(&self) -> Option<&str> {
        match self {
            Scalar::Text(t) => Some(t),
            _ => None,
        }
    }

    /// The whole number, if it is one.
    pub(crate) fn number(&self) -> Option<u64> {
        match self {
            Scalar::Number(n) => Some(*n),
            _ => None,
        }
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Scalar::Text(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Scalar::Text(Cow::Owned(v.to_string())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Scalar::Text(Cow::Owned(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Scalar::Number(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(u64::try_from(v).map_or(Scalar::Other, Scalar::Number))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Scalar::Other)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Scalar::Other)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Other)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Other)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ScalarVisitor)
    }
}

/// A list of strings; other items in it, or anything but a list, are left out.
#[derive(Debug, Default, Clone)]
pub(crate) struct Texts<'a>(pub(crate) Vec<Cow<'a, str>>);

impl Texts<'_> {
    pub(crate) fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|t| t.as_ref())
    }
}

struct TextsVisitor;

impl<'de> Visitor<'de> for TextsVisitor {
    type Value = Texts<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(item) = seq.next_element::<Scalar<'de>>()? {
            if let Scalar::Text(t) = item {
                out.push(t);
            }
        }
        Ok(Texts(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Texts::default())
    }
    fn visit_borrowed_str<E: de::Error>(self, _: &'de str) -> Result<Self::Value, E> {
        Ok(Texts::default())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Texts::default())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Texts::default())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Texts::default())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Texts::default())
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Texts::default())
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Texts::default())
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Texts::default())
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Texts<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TextsVisitor)
    }
}

/// A STIX object: the properties Cairn reads besides its header
/// ([`cairn_core::stix::ObjectHeader`]), read in the same pass. Nested properties that only
/// vulnerabilities carry are kept as JSON text and read when needed.
#[derive(Debug, Default)]
pub(crate) struct StixObject<'a> {
    pub(crate) published: Scalar<'a>,
    pub(crate) valid_from: Scalar<'a>,
    pub(crate) valid_until: Scalar<'a>,
    pub(crate) name: Scalar<'a>,
    pub(crate) description: Scalar<'a>,
    pub(crate) pattern: Scalar<'a>,
    pub(crate) pattern_type: Scalar<'a>,
    pub(crate) confidence: Scalar<'a>,
    pub(crate) labels: Texts<'a>,
    pub(crate) report_types: Texts<'a>,
    pub(crate) external_references: Option<&'a RawValue>,
    /// The language of the text properties (RFC 5646).
    pub(crate) lang: Scalar<'a>,
    /// What a relationship or sighting connects.
    pub(crate) source_ref: Scalar<'a>,
    pub(crate) target_ref: Scalar<'a>,
    pub(crate) sighting_of_ref: Scalar<'a>,
    pub(crate) observed_data_refs: Texts<'a>,
    /// What a sighting says: how many times, when first and last.
    pub(crate) count: Scalar<'a>,
    pub(crate) first_seen: Scalar<'a>,
    pub(crate) last_seen: Scalar<'a>,
    /// OpenCTI's mark of a negative sighting (a false positive), kept as JSON text.
    pub(crate) x_opencti_negative: Option<&'a RawValue>,
    /// What a sighting exported by Cairn says besides (`SIGHTING_PROPERTY`), kept as JSON text.
    pub(crate) x_cairn_sighting: Option<&'a RawValue>,
    /// The properties of [`PROPERTIES`] read so far, a bit each.
    seen: u32,
}

/// The properties a [`StixObject`] reads. One given twice is refused, as the header's are: the
/// typed view must not read another value than a reader that takes the first one.
const PROPERTIES: [&str; 21] = [
    "published",
    "valid_from",
    "valid_until",
    "name",
    "description",
    "pattern",
    "pattern_type",
    "confidence",
    "source_ref",
    "target_ref",
    "sighting_of_ref",
    "labels",
    "report_types",
    "observed_data_refs",
    "external_references",
    "lang",
    "count",
    "first_seen",
    "last_seen",
    "x_opencti_negative",
    "x_cairn_sighting",
];

impl<'de> cairn_core::stix::OtherProperties<'de> for StixObject<'de> {
    fn read_value<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        let Some(bit) = PROPERTIES.iter().position(|p| *p == key) else {
            return map.next_value::<IgnoredAny>().map(drop);
        };
        if self.seen & (1 << bit) != 0 {
            return Err(de::Error::duplicate_field(PROPERTIES[bit]));
        }
        self.seen |= 1 << bit;
        let scalar = match key {
            "published" => &mut self.published,
            "valid_from" => &mut self.valid_from,
            "valid_until" => &mut self.valid_until,
            "name" => &mut self.name,
            "description" => &mut self.description,
            "pattern" => &mut self.pattern,
            "pattern_type" => &mut self.pattern_type,
            "confidence" => &mut self.confidence,
            "source_ref" => &mut self.source_ref,
            "target_ref" => &mut self.target_ref,
            "sighting_of_ref" => &mut self.sighting_of_ref,
            "lang" => &mut self.lang,
            "count" => &mut self.count,
            "first_seen" => &mut self.first_seen,
            "last_seen" => &mut self.last_seen,
            "x_opencti_negative" => {
                self.x_opencti_negative = Some(map.next_value()?);
                return Ok(());
            }
            "x_cairn_sighting" => {
                self.x_cairn_sighting = Some(map.next_value()?);
                return Ok(());
            }
            "labels" => {
                self.labels = map.next_value()?;
                return Ok(());
            }
            "report_types" => {
                self.report_types = map.next_value()?;
                return Ok(());
            }
            "observed_data_refs" => {
                self.observed_data_refs = map.next_value()?;
                return Ok(());
            }
            "external_references" => {
                // Kept as text only when it is valid JSON of any shape; read when needed.
                self.external_references = Some(map.next_value()?);
                return Ok(());
            }
            _ => return map.next_value::<IgnoredAny>().map(drop),
        };
        *scalar = map.next_value()?;
        Ok(())
    }
}

impl StixObject<'_> {
    /// A nested property as a JSON value (null when absent or not JSON).
    pub(crate) fn nested(raw: Option<&RawValue>) -> serde_json::Value {
        raw.and_then(|r| serde_json::from_str(r.get()).ok())
            .unwrap_or_default()
    }

    /// The ids a relationship or sighting connects.
    pub(crate) fn connects(&self) -> impl Iterator<Item = &str> {
        [&self.source_ref, &self.target_ref, &self.sighting_of_ref]
            .into_iter()
            .filter_map(Scalar::text)
            .chain(self.observed_data_refs.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_properties_read_as_absent_and_the_rest_is_kept() {
        let text = r#"{"type": "indicator", "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
            "name": 5, "confidence": 80, "labels": ["a", 1, "b\n"], "report_types": "x",
            "description": {"nested": [1, 2]}, "pattern": "[x = 'a\"b']",
            "external_references": [{"source_name": "cve", "external_id": "CVE-2021-44228"}],
            "extensions": {"e": {"k": 1}}, "unknown": [true], "source_ref": "x--1"}"#;
        let (header, object) = cairn_core::stix::read_header_with::<StixObject<'_>>(text).unwrap();
        assert_eq!(header.kind, "indicator");
        assert_eq!(object.name.text(), None);
        assert_eq!(object.confidence.number(), Some(80));
        assert_eq!(object.labels.iter().collect::<Vec<_>>(), ["a", "b\n"]);
        assert!(object.report_types.0.is_empty());
        assert_eq!(object.description.text(), None);
        assert_eq!(object.pattern.text(), Some("[x = 'a\"b']"));
        assert_eq!(
            StixObject::nested(object.external_references)[0]["external_id"],
            serde_json::json!("CVE-2021-44228")
        );
        assert_eq!(object.connects().collect::<Vec<_>>(), ["x--1"]);
    }

    #[test]
    fn a_property_of_the_typed_view_given_twice_is_refused() {
        let text = r#"{"type": "indicator", "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
            "pattern": "[ipv4-addr:value = '198.51.100.1']", "pattern_type": "stix",
            "pattern": "[ipv4-addr:value = '203.0.113.9']"}"#;
        let e = cairn_core::stix::read_header_with::<StixObject<'_>>(text).unwrap_err();
        assert!(e.contains("duplicate field `pattern`"), "{e}");
    }
}
