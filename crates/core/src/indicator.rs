//! Typed observables (IOCs): validation and the canonical form every node stores and indexes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::model::IndicatorType;

/// Longest indicator value accepted, in bytes (long URLs are real; megabyte strings are not).
pub const MAX_VALUE_LEN: usize = 4096;
/// Longest indicator description, in bytes.
pub const MAX_DESCRIPTION_LEN: usize = 1024;

/// An observable with a validated, canonical value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Indicator {
    /// What the value is.
    #[serde(rename = "type")]
    pub kind: IndicatorType,
    /// The value in canonical form.
    pub value: String,
    /// Optional free text.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// For a hash, the number of the file it is a hash of within its report (the report's
    /// other hashes with this number are of the same file); 0 when not said.
    #[serde(skip_serializing_if = "is_zero")]
    pub file: u32,
    /// From when its author holds it good for detection (ms since the Unix epoch); 0: from
    /// its report's creation.
    #[serde(
        rename = "valid_from",
        skip_serializing_if = "is_unset",
        serialize_with = "as_rfc3339"
    )]
    pub valid_from_ms: i64,
    /// From when it is no longer to be used (ms since the Unix epoch); 0: not said.
    #[serde(
        rename = "valid_until",
        skip_serializing_if = "is_unset",
        serialize_with = "as_rfc3339"
    )]
    pub valid_until_ms: i64,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn is_unset(ms: &i64) -> bool {
    *ms == 0
}

fn as_rfc3339<S: serde::Serializer>(ms: &i64, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&crate::when::rfc3339(*ms))
}

/// Earliest validity time accepted: 1990-01-01T00:00:00Z, before any indicator was shared.
pub const EARLIEST_VALID_MS: i64 = 631_152_000_000;
/// Latest validity time accepted: 9999-12-31T23:59:59.999Z, the last STIX timestamp.
pub const LATEST_VALID_MS: i64 = 253_402_300_799_999;

/// Whether a validity window is one a node accepts: each time unset (0) or within
/// [`EARLIEST_VALID_MS`]..=[`LATEST_VALID_MS`], and the end after the start (the report's
/// `created_ms` when no start is said). On error, the field (`valid_from`, `valid_until`) and
/// what is wrong.
pub fn check_validity(
    valid_from_ms: i64,
    valid_until_ms: i64,
    created_ms: i64,
) -> Result<(), (&'static str, String)> {
    for (field, ms) in [
        ("valid_from", valid_from_ms),
        ("valid_until", valid_until_ms),
    ] {
        if ms != 0 && !(EARLIEST_VALID_MS..=LATEST_VALID_MS).contains(&ms) {
            return Err((
                field,
                format!(
                    "{ms} ms ({}) is outside 1990-01-01 to 9999-12-31",
                    crate::when::rfc3339(ms)
                ),
            ));
        }
    }
    if valid_until_ms != 0 {
        let (start, name) = if valid_from_ms != 0 {
            (valid_from_ms, "valid_from")
        } else {
            (created_ms, "the report's creation")
        };
        if valid_until_ms <= start {
            return Err((
                "valid_until",
                format!(
                    "{} is not after {name} {}",
                    crate::when::rfc3339(valid_until_ms),
                    crate::when::rfc3339(start)
                ),
            ));
        }
    }
    Ok(())
}

/// Why a value is not a valid observable of its type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} indicator {value:?}: {reason}")]
pub struct InvalidIndicator {
    /// The declared type.
    pub kind: IndicatorType,
    /// The value as given (cut to 80 characters).
    pub value: String,
    /// What is wrong with it.
    pub reason: String,
}

impl Indicator {
    /// Validates `value` as an observable of type `kind` and puts it in canonical form.
    pub fn new(
        kind: IndicatorType,
        value: &str,
        description: &str,
    ) -> Result<Indicator, InvalidIndicator> {
        let value = canonical(kind, value)?;
        if description.len() > MAX_DESCRIPTION_LEN {
            return Err(invalid(
                kind,
                &value,
                format!("description is longer than {MAX_DESCRIPTION_LEN} bytes"),
            ));
        }
        Ok(Indicator {
            kind,
            value,
            description: description.to_string(),
            file: 0,
            valid_from_ms: 0,
            valid_until_ms: 0,
        })
    }

    /// This hash as one of file number `file` of its report.
    pub fn of_file(mut self, file: u32) -> Indicator {
        self.file = file;
        self
    }

    /// The same observable without what the author said around it (description, file number,
    /// validity): what is compared across reports.
    pub fn bare(&self) -> Indicator {
        Indicator {
            kind: self.kind,
            value: self.value.clone(),
            description: String::new(),
            file: 0,
            valid_from_ms: 0,
            valid_until_ms: 0,
        }
    }

    /// Parses `type:value` as analysts write it, e.g. `ipv4:203.0.113.7` or `sha256:9f86...`.
    pub fn parse_typed(text: &str) -> Result<Indicator, ParseTypedError> {
        let (kind, value) = text
            .split_once(':')
            .ok_or_else(|| ParseTypedError::MissingType(text.to_string()))?;
        let kind: IndicatorType = kind.parse().map_err(ParseTypedError::UnknownType)?;
        Ok(Indicator::new(kind, value, "")?)
    }
}

/// Why a `type:value` indicator could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseTypedError {
    /// No `type:` prefix.
    #[error("indicator {0:?} has no type: write it as TYPE:VALUE, e.g. ipv4:203.0.113.7")]
    MissingType(String),
    /// The prefix is not a known type.
    #[error(transparent)]
    UnknownType(crate::model::UnknownLabel),
    /// The value is not valid for its type.
    #[error(transparent)]
    Invalid(#[from] InvalidIndicator),
}

fn invalid(kind: IndicatorType, value: &str, reason: impl Into<String>) -> InvalidIndicator {
    let shown: String = value.chars().take(80).collect();
    InvalidIndicator {
        kind,
        value: shown,
        reason: reason.into(),
    }
}

/// Returns the canonical form of `value` as an observable of type `kind`, or why it is not one.
pub fn canonical(kind: IndicatorType, value: &str) -> Result<String, InvalidIndicator> {
    let err = |reason: &str| invalid(kind, value, reason);
    if value.is_empty() {
        return Err(err("the value is empty"));
    }
    if value.len() > MAX_VALUE_LEN {
        return Err(err("the value is longer than 4096 bytes"));
    }
    if value.trim() != value {
        return Err(err("the value has leading or trailing white space"));
    }
    match kind {
        IndicatorType::Ipv4 => value
            .parse::<Ipv4Addr>()
            .map(|a| a.to_string())
            .map_err(|_| err("not an IPv4 address (four decimal octets, e.g. 203.0.113.7)")),
        IndicatorType::Ipv6 => value
            .parse::<Ipv6Addr>()
            .map(|a| a.to_string())
            .map_err(|_| err("not an IPv6 address")),
        IndicatorType::Cidr => canonical_cidr(value).map_err(|reason| err(&reason)),
        IndicatorType::Domain => canonical_domain(value).map_err(|reason| err(&reason)),
        IndicatorType::Url => canonical_url(value).map_err(|reason| err(&reason)),
        IndicatorType::Email => canonical_email(value).map_err(|reason| err(&reason)),
        IndicatorType::Md5 => canonical_hex(value, 32).map_err(|reason| err(&reason)),
        IndicatorType::Sha1 => canonical_hex(value, 40).map_err(|reason| err(&reason)),
        IndicatorType::Sha256 => canonical_hex(value, 64).map_err(|reason| err(&reason)),
        IndicatorType::Sha512 => canonical_hex(value, 128).map_err(|reason| err(&reason)),
        IndicatorType::Cve => canonical_cve(value).map_err(|reason| err(&reason)),
        IndicatorType::Asn => canonical_asn(value).map_err(|reason| err(&reason)),
    }
}

/// Every canonical form `value` has under some indicator type: what a search for it must match.
pub fn search_forms(value: &str) -> Vec<String> {
    let mut forms: Vec<String> = IndicatorType::ALL
        .iter()
        .filter_map(|kind| canonical(*kind, value.trim()).ok())
        .collect();
    if forms.is_empty() {
        forms.push(value.trim().to_string());
    }
    forms.sort();
    forms.dedup();
    forms
}

fn canonical_cidr(value: &str) -> Result<String, String> {
    let (addr, prefix) = value
        .split_once('/')
        .ok_or("not in CIDR notation (ADDRESS/PREFIX, e.g. 198.51.100.0/24)")?;
    let addr: IpAddr = addr
        .parse()
        .map_err(|_| format!("{addr:?} is not an IPv4 or IPv6 address"))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix: u32 = prefix
        .parse()
        .ok()
        .filter(|p| *p <= max)
        .ok_or_else(|| format!("prefix length {prefix:?} is not a number from 0 to {max}"))?;
    let network = match addr {
        IpAddr::V4(a) => {
            let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask))
        }
        IpAddr::V6(a) => {
            let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask))
        }
    };
    if network != addr {
        return Err(format!(
            "host bits are set after the /{prefix} prefix (did you mean {network}/{prefix}?)"
        ));
    }
    Ok(format!("{network}/{prefix}"))
}

fn canonical_domain(value: &str) -> Result<String, String> {
    let trimmed = value.strip_suffix('.').unwrap_or(value);
    let ascii = if trimmed.is_ascii() {
        trimmed.to_ascii_lowercase()
    } else {
        match url::Host::parse(trimmed) {
            Ok(url::Host::Domain(d)) => d,
            _ => return Err("not a valid internationalised domain name".into()),
        }
    };
    if ascii.len() > 253 {
        return Err("longer than 253 characters".into());
    }
    let labels: Vec<&str> = ascii.split('.').collect();
    if labels.len() < 2 {
        return Err("needs at least two labels (e.g. example.org)".into());
    }
    for label in &labels {
        if label.is_empty() || label.len() > 63 {
            return Err("every label must be 1 to 63 characters long".into());
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(format!(
                "label {label:?} may only hold letters, digits, '-' and '_'"
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!("label {label:?} starts or ends with '-'"));
        }
    }
    let tld = labels[labels.len() - 1];
    if tld.bytes().all(|b| b.is_ascii_digit()) {
        return Err("the last label is numeric: use the ipv4 type for addresses".into());
    }
    Ok(ascii)
}

fn canonical_url(value: &str) -> Result<String, String> {
    let url = url::Url::parse(value).map_err(|e| format!("not a URL ({e})"))?;
    if url.host().is_none() {
        return Err("a URL indicator needs a host (e.g. https://bad.example/path)".into());
    }
    Ok(url.to_string())
}

fn canonical_email(value: &str) -> Result<String, String> {
    let (local, domain) = value
        .rsplit_once('@')
        .ok_or("not an email address (no '@')")?;
    if local.is_empty() || local.len() > 64 {
        return Err("the part before '@' must be 1 to 64 characters".into());
    }
    if !local
        .bytes()
        .all(|b| b.is_ascii_graphic() && !b"@<>()[]\\,;:\"".contains(&b))
    {
        return Err("the part before '@' holds a character an address cannot".into());
    }
    let domain = canonical_domain(domain).map_err(|e| format!("domain part: {e}"))?;
    Ok(format!("{local}@{domain}"))
}

fn canonical_hex(value: &str, len: usize) -> Result<String, String> {
    if value.len() != len {
        return Err(format!(
            "expected {len} hexadecimal digits, found {}",
            value.len()
        ));
    }
    if !value.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("holds a character that is not a hexadecimal digit".into());
    }
    Ok(value.to_ascii_lowercase())
}

fn canonical_cve(value: &str) -> Result<String, String> {
    let upper = value.to_ascii_uppercase();
    let rest = upper
        .strip_prefix("CVE-")
        .ok_or("a CVE id looks like CVE-2024-3094")?;
    let (year, number) = rest
        .split_once('-')
        .ok_or("a CVE id looks like CVE-2024-3094")?;
    let year_ok = year.len() == 4
        && year.bytes().all(|b| b.is_ascii_digit())
        && ("1999"..="2100").contains(&year);
    if !year_ok {
        return Err(format!("{year:?} is not a year from 1999 to 2100"));
    }
    if number.len() < 4 || number.len() > 19 || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err("the sequence number must be 4 or more digits".into());
    }
    Ok(upper)
}

fn canonical_asn(value: &str) -> Result<String, String> {
    let digits = value
        .strip_prefix("AS")
        .or_else(|| value.strip_prefix("as"))
        .unwrap_or(value);
    let number: u32 = digits
        .parse()
        .map_err(|_| "an AS number looks like AS64496 (a number up to 4294967295)")?;
    Ok(format!("AS{number}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use IndicatorType::*;

    fn ok(kind: IndicatorType, value: &str) -> String {
        canonical(kind, value).unwrap_or_else(|e| panic!("{value}: {e}"))
    }

    fn bad(kind: IndicatorType, value: &str) -> String {
        canonical(kind, value).unwrap_err().to_string()
    }

    #[test]
    fn addresses_are_canonical() {
        assert_eq!(ok(Ipv4, "203.0.113.7"), "203.0.113.7");
        assert_eq!(ok(Ipv6, "2001:DB8:0:0:0:0:0:1"), "2001:db8::1");
        assert!(bad(Ipv4, "300.1.2.3").contains("not an IPv4 address"));
        assert!(bad(Ipv4, "010.1.2.3").contains("\"010.1.2.3\""));
        assert!(bad(Ipv6, "203.0.113.7").contains("invalid ipv6 indicator"));
    }

    #[test]
    fn networks_must_not_have_host_bits() {
        assert_eq!(ok(Cidr, "198.51.100.0/24"), "198.51.100.0/24");
        assert_eq!(ok(Cidr, "2001:db8::/32"), "2001:db8::/32");
        assert_eq!(ok(Cidr, "0.0.0.0/0"), "0.0.0.0/0");
        assert!(bad(Cidr, "198.51.100.7/24").contains("did you mean 198.51.100.0/24"));
        assert!(bad(Cidr, "198.51.100.0/33").contains("prefix length"));
        assert!(bad(Cidr, "198.51.100.0").contains("CIDR notation"));
    }

    #[test]
    fn domains_are_lower_case_without_trailing_dot() {
        assert_eq!(ok(Domain, "Evil.Example.COM."), "evil.example.com");
        assert_eq!(ok(Domain, "_dmarc.example.org"), "_dmarc.example.org");
        assert_eq!(ok(Domain, "bücher.example"), "xn--bcher-kva.example");
        assert!(bad(Domain, "localhost").contains("two labels"));
        assert!(bad(Domain, "-bad.example").contains("starts or ends with '-'"));
        assert!(bad(Domain, "bad domain.example").contains("may only hold"));
        assert!(bad(Domain, "1.2.3.4").contains("numeric"));
    }

    #[test]
    fn urls_emails_hashes_cves_and_asns() {
        assert_eq!(
            ok(Url, "HTTP://Bad.Example/Login?x=1"),
            "http://bad.example/Login?x=1"
        );
        assert!(bad(Url, "/relative/path").contains("not a URL"));
        assert_eq!(ok(Email, "Ceo@Bad.Example"), "Ceo@bad.example");
        assert!(bad(Email, "nobody").contains("no '@'"));
        assert_eq!(ok(Md5, "D41D8CD98F00B204E9800998ECF8427E").len(), 32);
        assert!(bad(Sha256, "abc").contains("expected 64 hexadecimal digits, found 3"));
        assert!(bad(Sha1, &"g".repeat(40)).contains("not a hexadecimal digit"));
        assert_eq!(ok(Cve, "cve-2024-3094"), "CVE-2024-3094");
        assert!(bad(Cve, "CVE-24-3094").contains("year"));
        assert_eq!(ok(Asn, "as64496"), "AS64496");
        assert!(bad(Asn, "AS-1").contains("AS64496"));
    }

    #[test]
    fn white_space_and_empty_values_are_refused() {
        assert!(bad(Domain, " evil.example").contains("white space"));
        assert!(bad(Ipv4, "").contains("empty"));
    }

    #[test]
    fn typed_text_form() {
        let i = Indicator::parse_typed("domain:Evil.Example").unwrap();
        assert_eq!((i.kind, i.value.as_str()), (Domain, "evil.example"));
        assert!(matches!(
            Indicator::parse_typed("evil.example"),
            Err(ParseTypedError::MissingType(_))
        ));
        assert!(matches!(
            Indicator::parse_typed("colour:red"),
            Err(ParseTypedError::UnknownType(_))
        ));
    }

    #[test]
    fn search_forms_cover_every_type_a_value_fits() {
        assert_eq!(search_forms("Evil.Example"), vec!["evil.example"]);
        assert_eq!(search_forms("203.0.113.7"), vec!["203.0.113.7"]);
    }
}
