//! Correlation against a brute-force oracle: random reports drawn from a small universe of
//! addresses, ranges, domains, URLs, email addresses and file hashes (so that they overlap),
//! some superseded or retracted, part of them indexed; every answer of `Store::correlate`
//! must be what comparing the value with every indicator of every current report gives.

use std::collections::BTreeSet;
use std::net::IpAddr;

use cairn_core::correlation::{Relation, readings};
use cairn_core::{Indicator, IndicatorDraft, IndicatorType, OrgKey, ReportDraft, VerifiedReport};
use cairn_store::{Provenance, ReportStatus, Store, StoreConfig};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

const DOMAINS: &[&str] = &[
    "evil.example",
    "a.evil.example",
    "b.a.evil.example",
    "good.example",
    "c.good.example",
    "notevil.example",
];

/// A random value of the universe, as an analyst might write it.
fn value(rng: &mut StdRng) -> (IndicatorType, String) {
    match rng.gen_range(0..8) {
        0 => (
            IndicatorType::Ipv4,
            format!(
                "10.{}.{}.{}",
                rng.gen_range(0..2),
                rng.gen_range(0..3),
                rng.gen_range(1..5)
            ),
        ),
        1 => (
            IndicatorType::Ipv6,
            format!("2001:db8:{}::{}", rng.gen_range(0..2), rng.gen_range(1..4)),
        ),
        2 => {
            let address: u32 = u32::from(std::net::Ipv4Addr::new(
                10,
                rng.gen_range(0..2),
                rng.gen_range(0..3),
                rng.gen_range(1..5),
            ));
            let prefix = *[0u32, 4, 8, 12, 16, 23, 24, 30, 32].choose(rng).unwrap();
            let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
            (
                IndicatorType::Cidr,
                format!("{}/{prefix}", std::net::Ipv4Addr::from(address & mask)),
            )
        }
        3 => {
            let address = u128::from(
                format!("2001:db8:{}::{}", rng.gen_range(0..2), rng.gen_range(1..4))
                    .parse::<std::net::Ipv6Addr>()
                    .unwrap(),
            );
            let prefix = *[16u32, 32, 47, 48, 64, 127, 128].choose(rng).unwrap();
            let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
            (
                IndicatorType::Cidr,
                format!("{}/{prefix}", std::net::Ipv6Addr::from(address & mask)),
            )
        }
        4 => (
            IndicatorType::Domain,
            DOMAINS.choose(rng).unwrap().to_string(),
        ),
        5 => {
            let host = match rng.gen_range(0..3) {
                0 => DOMAINS.choose(rng).unwrap().to_string(),
                1 => format!("10.0.{}.{}", rng.gen_range(0..3), rng.gen_range(1..5)),
                _ => format!("[2001:db8:1::{}]", rng.gen_range(1..4)),
            };
            (
                IndicatorType::Url,
                format!("http://{host}/p{}", rng.gen_range(0..3)),
            )
        }
        6 => (
            IndicatorType::Email,
            format!("u{}@{}", rng.gen_range(0..2), DOMAINS.choose(rng).unwrap()),
        ),
        _ => (
            IndicatorType::Sha256,
            format!("{:064x}", rng.gen_range(0..6u32)),
        ),
    }
}

/// The hashes of file `n`: an MD5, a SHA-1 and a SHA-256.
fn file_hashes(n: u32) -> [(IndicatorType, String); 3] {
    [
        (IndicatorType::Md5, format!("{:032x}", 0x100 + n)),
        (IndicatorType::Sha1, format!("{:040x}", 0x200 + n)),
        (IndicatorType::Sha256, format!("{:064x}", 0x300 + n)),
    ]
}

fn draft(rng: &mut StdRng, n: u64) -> ReportDraft {
    let mut draft = cairn_core::sample::indicator_report(rng, n);
    let mut indicators = Vec::new();
    for _ in 0..rng.gen_range(1..6) {
        let (kind, value) = value(rng);
        indicators.push(IndicatorDraft {
            kind,
            value,
            description: String::new(),
            file: 0,
            valid_from: None,
            valid_until: None,
        });
    }
    // Some reports name one or two files by some of their hashes; a file's hash also
    // appears alone in other reports.
    for file in 1..=rng.gen_range(0..3u32) {
        let n = rng.gen_range(0..5);
        let hashes = file_hashes(n);
        let named: Vec<_> = hashes.iter().filter(|_| rng.gen_bool(0.6)).collect();
        let alone = named.len() < 2;
        for (kind, value) in named {
            indicators.push(IndicatorDraft {
                kind: *kind,
                value: value.clone(),
                description: String::new(),
                file: if alone { 0 } else { file },
                valid_from: None,
                valid_until: None,
            });
        }
    }
    draft.indicators = indicators;
    draft
}

/// Every indicator of every current report and how it relates to the probe value, decided
/// by plain comparisons.
fn oracle(
    all: &[VerifiedReport],
    store: &Store,
    value: &str,
) -> BTreeSet<(String, String, Relation)> {
    let probes = readings(value).unwrap();
    let stored: Vec<&VerifiedReport> = all.iter().collect();
    // Hashes named as one file's with a probe, in any stored report.
    let mut same_file: Vec<(IndicatorType, String)> = Vec::new();
    for report in &stored {
        let r = report.report();
        for probe in &probes {
            for named in &r.indicators {
                if named.file != 0 && named.kind == probe.kind && named.value == probe.value {
                    for other in &r.indicators {
                        let pair = (other.kind, other.value.clone());
                        if other.file == named.file
                            && other.value != named.value
                            && !same_file.contains(&pair)
                        {
                            same_file.push(pair);
                        }
                    }
                }
            }
        }
    }
    let mut want = BTreeSet::new();
    for report in stored {
        if report.report().kind == cairn_core::ReportKind::Retraction
            || store.status(report).unwrap() != ReportStatus::Current
        {
            continue;
        }
        for other in &report.report().indicators {
            let mut best: Option<Relation> = None;
            let mut better = |r: Relation| {
                if best.is_none_or(|b| r < b) {
                    best = Some(r);
                }
            };
            for probe in &probes {
                if let Some(r) = plain_relation(probe, other) {
                    better(r);
                }
            }
            if same_file.contains(&(other.kind, other.value.clone())) {
                better(Relation::SameFile);
            }
            if let Some(r) = best {
                want.insert((report.id().to_string(), other.value.clone(), r));
            }
        }
    }
    want
}

fn address_of(indicator: &Indicator) -> Option<(u128, u32, bool)> {
    let host = match indicator.kind {
        IndicatorType::Ipv4 | IndicatorType::Ipv6 => indicator.value.clone(),
        IndicatorType::Cidr => {
            let (a, p) = indicator.value.split_once('/').unwrap();
            let (bits, v4) = bits(a.parse().unwrap());
            return Some((bits, p.parse().unwrap(), v4));
        }
        IndicatorType::Url => {
            let rest = indicator.value.split_once("://").unwrap().1;
            let host = rest.split('/').next().unwrap();
            host.trim_start_matches('[')
                .trim_end_matches(']')
                .to_string()
        }
        _ => return None,
    };
    let address: IpAddr = host.parse().ok()?;
    let (bits, v4) = bits(address);
    Some((bits, if v4 { 32 } else { 128 }, v4))
}

fn bits(address: IpAddr) -> (u128, bool) {
    match address {
        IpAddr::V4(a) => (u128::from(u32::from(a)), true),
        IpAddr::V6(a) => (u128::from(a), false),
    }
}

fn in_network(inner: (u128, u32, bool), outer: (u128, u32, bool)) -> bool {
    let width = if outer.2 { 32 } else { 128 };
    inner.2 == outer.2
        && inner.1 >= outer.1
        && (outer.1 == 0 || (inner.0 >> (width - outer.1)) == (outer.0 >> (width - outer.1)))
}

fn host_name(indicator: &Indicator) -> Option<String> {
    match indicator.kind {
        IndicatorType::Domain => Some(indicator.value.clone()),
        IndicatorType::Email => Some(indicator.value.split_once('@').unwrap().1.to_string()),
        IndicatorType::Url => {
            let rest = indicator.value.split_once("://").unwrap().1;
            let host = rest.split('/').next().unwrap();
            (!host.starts_with('[') && host.parse::<IpAddr>().is_err()).then(|| host.to_string())
        }
        _ => None,
    }
}

fn under(name: &str, domain: &str) -> bool {
    name.ends_with(&format!(".{domain}"))
}

/// How `other` relates to `probe`: the same value; a range holding it or a domain above it;
/// something inside it (ranges of /8 or narrower, /32 for IPv6; domains of two labels).
fn plain_relation(probe: &Indicator, other: &Indicator) -> Option<Relation> {
    if probe.kind == other.kind && probe.value == other.value {
        return Some(Relation::Same);
    }
    if other.kind == IndicatorType::Cidr
        && let (Some(inner), Some(outer)) = (address_of(probe), address_of(other))
        && in_network(inner, outer)
    {
        return Some(Relation::Covers);
    }
    if other.kind == IndicatorType::Domain
        && let Some(name) = host_name(probe)
        && (under(&name, &other.value)
            || (probe.kind != IndicatorType::Domain && name == other.value))
    {
        return Some(Relation::Covers);
    }
    match probe.kind {
        IndicatorType::Ipv4 | IndicatorType::Ipv6 | IndicatorType::Cidr => {
            let outer = address_of(probe)?;
            let narrowest = if outer.2 { 8 } else { 32 };
            if outer.1 >= narrowest
                && let Some(inner) = address_of(other)
                && in_network(inner, outer)
            {
                return Some(Relation::Inside);
            }
        }
        IndicatorType::Domain if probe.value.contains('.') => {
            if let Some(name) = host_name(other)
                && (name == probe.value || under(&name, &probe.value))
            {
                return Some(Relation::Inside);
            }
        }
        _ => {}
    }
    None
}

#[test]
fn correlation_is_what_comparing_with_every_current_report_gives() {
    for seed in 0..6u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let dir = tempfile::tempdir().unwrap();
        let config = StoreConfig {
            background_indexing: false,
            ..StoreConfig::default()
        };
        let store = Store::open(dir.path(), &config).unwrap();
        let orgs: Vec<OrgKey> = (0..3).map(|_| OrgKey::generate(&mut rng)).collect();
        let mut all: Vec<VerifiedReport> = Vec::new();
        for n in 0..120u64 {
            let org = &orgs[rng.gen_range(0..orgs.len())];
            let report = draft(&mut rng, n).sign(org, &mut rng).unwrap();
            all.push(report.clone());
            store.insert(vec![report], Provenance::Local).unwrap();
            // Now and then a new version or a retraction of an earlier report.
            if n % 9 == 4 {
                let target = all[rng.gen_range(0..all.len())].clone();
                if target.report().kind == cairn_core::ReportKind::Retraction {
                    continue;
                }
                let author = orgs.iter().find(|o| o.public() == target.author()).unwrap();
                let next = if rng.gen_bool(0.5) {
                    let mut d = ReportDraft::new_version_of(&target);
                    d.indicators = draft(&mut rng, n + 1000).indicators;
                    d.sign(author, &mut rng).unwrap()
                } else {
                    cairn_core::retract(&target, "withdrawn", author, &mut rng).unwrap()
                };
                all.push(next.clone());
                store.insert(vec![next], Provenance::Local).unwrap();
            }
            // Two thirds indexed; the last reports are read directly.
            if n == 80 {
                while store.index_pending(7).unwrap() > 0 {}
            }
        }
        let mut values: Vec<String> = (0..60).map(|_| value(&mut rng).1).collect();
        values.extend((0..5).flat_map(|n| file_hashes(n).map(|(_, v)| v)));
        values.extend([
            "10.0.0.0/8".to_string(),
            "evil.example".into(),
            "x.evil.example".into(),
        ]);
        for value in &values {
            let found = store
                .correlate(&readings(value).unwrap(), 10_000, None)
                .unwrap();
            assert!(!found.more);
            let got: BTreeSet<(String, String, Relation)> = found
                .reports
                .iter()
                .flat_map(|c| {
                    c.links.iter().map(move |l| {
                        (
                            c.stored.report.id().to_string(),
                            l.indicator.value.clone(),
                            l.relation,
                        )
                    })
                })
                .collect();
            let want = oracle(&all, &store, value);
            assert_eq!(got, want, "seed {seed}, value {value}");
            // Newest first, each report once.
            let times: Vec<(i64, u64)> = found
                .reports
                .iter()
                .map(|c| (c.stored.report.report().created_ms, c.stored.seq))
                .collect();
            assert!(times.windows(2).all(|w| w[0] > w[1]), "{value}: {times:?}");
            // A limit keeps the newest.
            if found.reports.len() > 2 {
                let two = store.correlate(&readings(value).unwrap(), 2, None).unwrap();
                assert!(two.more);
                assert_eq!(
                    two.reports.iter().map(|c| c.stored.seq).collect::<Vec<_>>(),
                    found.reports[..2]
                        .iter()
                        .map(|c| c.stored.seq)
                        .collect::<Vec<_>>()
                );
            }
        }
    }
}

#[test]
fn the_report_a_value_comes_from_can_be_left_out() {
    let mut rng = StdRng::seed_from_u64(9);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
    let org = OrgKey::generate(&mut rng);
    let mut first = cairn_core::sample::indicator_report(&mut rng, 1);
    first.indicators.truncate(1);
    let first = first.sign(&org, &mut rng).unwrap();
    let mut second = cairn_core::sample::indicator_report(&mut rng, 2);
    second.indicators = first
        .report()
        .indicators
        .iter()
        .cloned()
        .map(IndicatorDraft::from)
        .collect();
    let second = second.sign(&org, &mut rng).unwrap();
    store
        .insert(vec![first.clone(), second.clone()], Provenance::Local)
        .unwrap();
    let probe = vec![first.report().indicators[0].clone()];
    let all = store.correlate(&probe, 0, None).unwrap();
    assert_eq!(all.reports.len(), 2);
    let others = store.correlate(&probe, 0, Some(&first.id())).unwrap();
    assert_eq!(others.reports.len(), 1);
    assert_eq!(others.reports[0].stored.report.id(), second.id());
    assert_eq!(others.reports[0].links[0].relation, Relation::Same);
}
