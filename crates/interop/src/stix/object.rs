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

/// A STIX object: the properties Cairn reads. Nested properties that only markings and
/// vulnerabilities carry are kept as JSON text and read when needed.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct StixObject<'a> {
    #[serde(rename = "type", borrow)]
    pub(crate) kind: Scalar<'a>,
    #[serde(borrow)]
    pub(crate) id: Scalar<'a>,
    #[serde(borrow)]
    pub(crate) created: Scalar<'a>,
    #[serde(borrow)]
    pub(crate) modified: Scalar<'a>,
    #[serde(borrow)]
    pub(crate) published: Scalar<'a>,
    #[serde(borrow)]
    pub(crate) valid_from: Scalar<'a>,
    #[serde(borrow)]
    pub(crate) name: Scalar<'a>,
    #[serde(borrow)]
    pub(crate) description: Scalar<'a>,
    #[serde(borrow)]
    pub(crate) pattern: Scalar<'a>,
    #[serde(borrow)]
    pub(crate) pattern_type: Scalar<'a>,
    #[serde(borrow)]
    pub(crate) confidence: Scalar<'a>,
    #[serde(borrow)]
    pub(crate) labels: Texts<'a>,
    #[serde(borrow)]
    pub(crate) indicator_types: Texts<'a>,
    #[serde(borrow)]
    pub(crate) report_types: Texts<'a>,
    #[serde(borrow)]
    pub(crate) object_refs: Texts<'a>,
    #[serde(borrow)]
    pub(crate) object_marking_refs: Texts<'a>,
    #[serde(borrow)]
    pub(crate) definition_type: Scalar<'a>,
    #[serde(borrow)]
    pub(crate) definition: Option<&'a RawValue>,
    #[serde(borrow)]
    pub(crate) extensions: Option<&'a RawValue>,
    #[serde(borrow)]
    pub(crate) external_references: Option<&'a RawValue>,
}

impl StixObject<'_> {
    /// Its `type`, or "" when it has none.
    pub(crate) fn kind(&self) -> &str {
        self.kind.text().unwrap_or_default()
    }

    /// A nested property as a JSON value (null when absent or not JSON).
    pub(crate) fn nested(raw: Option<&RawValue>) -> serde_json::Value {
        raw.and_then(|r| serde_json::from_str(r.get()).ok())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_properties_read_as_absent_and_the_rest_is_kept() {
        let text = r#"{"type": "indicator", "id": "indicator--1", "name": 5,
            "confidence": 80, "labels": ["a", 1, "b\n"], "object_refs": "x",
            "description": {"nested": [1, 2]}, "pattern": "[x = 'a\"b']",
            "extensions": {"e": {"k": 1}}, "unknown": [true]}"#;
        let object: StixObject<'_> = serde_json::from_str(text).unwrap();
        assert_eq!(object.kind(), "indicator");
        assert_eq!(object.id.text(), Some("indicator--1"));
        assert_eq!(object.name.text(), None);
        assert_eq!(object.confidence.number(), Some(80));
        assert_eq!(object.labels.iter().collect::<Vec<_>>(), ["a", "b\n"]);
        assert!(object.object_refs.0.is_empty());
        assert_eq!(object.description.text(), None);
        assert_eq!(object.pattern.text(), Some("[x = 'a\"b']"));
        assert_eq!(
            StixObject::nested(object.extensions)["e"]["k"],
            serde_json::json!(1)
        );
        assert!(StixObject::nested(object.definition).is_null());
    }
}
