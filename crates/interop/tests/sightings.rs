//! Sightings through STIX 2.1, both ways: a Cairn sighting exports as a STIX `sighting` of the
//! exported indicator (a false positive as a negative sighting, as OpenCTI reads it) and comes
//! back as the same sighting; a sighting another tool made of an indicator Cairn exported
//! becomes a Cairn sighting of its report; one of something not held is carried as it came,
//! and one marked wider than the report it concerns is refused.

use cairn_core::model::SightingKind;
use cairn_core::sighting::{SightingRequest, draft_about};
use cairn_core::{Indicator, IndicatorDraft, IndicatorType, OrgKey, ReportDraft, ReportKind, Tlp};
use cairn_interop::import::{Fate, ImportOptions, SightedRef, import};
use cairn_interop::stix::{
    ExportContext, SIGHTING_PROPERTY, bundle, report_objects, sighting_of_ref,
};
use rand::SeedableRng;
use serde_json::{Value, json};

fn key(seed: u64) -> OrgKey {
    OrgKey::generate(&mut rand::rngs::StdRng::seed_from_u64(seed))
}

fn concerned(cert: &OrgKey, tlp: Tlp) -> cairn_core::VerifiedReport {
    let indicator =
        |kind, value: &str| IndicatorDraft::from(Indicator::new(kind, value, "").unwrap());
    ReportDraft {
        kind: Some(ReportKind::Indicator),
        title: "Loader infrastructure".into(),
        tlp: Some(tlp),
        indicators: vec![
            indicator(IndicatorType::Ipv4, "203.0.113.9"),
            indicator(IndicatorType::Domain, "cdn-update.example"),
        ],
        ..ReportDraft::default()
    }
    .sign(cert, &mut rand::rngs::StdRng::seed_from_u64(40))
    .unwrap()
}

fn context(report: &cairn_core::VerifiedReport, sighting_of: Option<String>) -> ExportContext {
    ExportContext {
        author_name: None,
        first: (report.id(), report.report().created_ms),
        sighting_of,
    }
}

/// A sighting by `bank` of `report`, signed.
fn sighting(
    bank: &OrgKey,
    report: &cairn_core::VerifiedReport,
    request: &SightingRequest,
) -> cairn_core::VerifiedReport {
    let now = cairn_core::when::now_ms();
    draft_about(report.report(), report.id(), report.author(), request, now)
        .unwrap()
        .sign(bank, &mut rand::rngs::StdRng::seed_from_u64(41))
        .unwrap()
}

fn the_sighting(objects: &[Value]) -> &Value {
    objects.iter().find(|o| o["type"] == "sighting").unwrap()
}

#[test]
fn a_cairn_sighting_goes_to_stix_and_comes_back_the_same() {
    let (cert, bank, third) = (key(1), key(2), key(3));
    let report = concerned(&cert, Tlp::Amber);
    let request = SightingRequest {
        indicator: Some("203.0.113.9".into()),
        count: Some(12),
        first_seen: Some("2026-11-30T08:00:00Z".into()),
        last_seen: Some("2026-11-30T09:30:00Z".into()),
        place: Some("retail proxy".into()),
        observed: vec!["CONNECT 203.0.113.9:443".into()],
        comment: Some("blocked at the proxy".into()),
        ..SightingRequest::of(SightingKind::Seen)
    };
    let seen = sighting(&bank, &report, &request);
    let of = sighting_of_ref(
        seen.report().sighting.as_ref().unwrap(),
        Some((&report, report.id())),
    );
    // What it is a sighting of: the indicator object the report exports for the address.
    let report_objects_of = report_objects(&report, &context(&report, None));
    let address = report_objects_of
        .iter()
        .find(|o| {
            o["type"] == "indicator" && o["pattern"].as_str().unwrap().contains("203.0.113.9")
        })
        .unwrap();
    assert_eq!(of, address["id"].as_str().unwrap());
    let objects = report_objects(&seen, &context(&seen, Some(of.clone())));
    let stix = the_sighting(&objects);
    assert_eq!(stix["sighting_of_ref"], json!(of));
    assert_eq!(stix["count"], 12);
    assert_eq!(stix["first_seen"], "2026-11-30T08:00:00.000Z");
    assert_eq!(stix["last_seen"], "2026-11-30T09:30:00.000Z");
    assert_eq!(stix["where_sighted_refs"][0], stix["created_by_ref"]);
    assert!(stix.get("x_opencti_negative").is_none());
    assert!(
        stix["object_marking_refs"][0]
            .as_str()
            .unwrap()
            .starts_with("marking-definition--"),
        "{stix}"
    );
    assert!(
        !objects.iter().any(|o| o["type"] == "report"),
        "{objects:?}"
    );

    // Back in, at another organisation that holds the report: the same sighting, by it.
    let text = bundle(objects).to_string();
    let sighted = |wanted: &SightedRef<'_>| match wanted {
        SightedRef::Stix { report: named, .. } => {
            (*named == Some(report.id())).then(|| report.clone())
        }
        SightedRef::MispEvent(_) => None,
    };
    let options = ImportOptions {
        sighted: &sighted,
        ..ImportOptions::default()
    };
    let imported = import(&text, &third.public(), &options).unwrap();
    let made: Vec<_> = imported
        .reports
        .iter()
        .filter(|r| r.draft.sighting.is_some())
        .collect();
    assert_eq!(made.len(), 1, "{:?}", imported.accounts);
    let back = made[0].sign(&third).unwrap();
    let (was, is) = (
        seen.report().sighting.as_ref().unwrap(),
        back.report().sighting.as_ref().unwrap(),
    );
    assert_eq!(is.concerns, was.concerns);
    assert_eq!(
        (
            is.kind,
            &is.indicator,
            is.count,
            is.first_seen_ms,
            is.last_seen_ms
        ),
        (
            was.kind,
            &was.indicator,
            was.count,
            was.first_seen_ms,
            was.last_seen_ms
        )
    );
    assert_eq!((&is.place, &is.observed), (&was.place, &was.observed));
    assert_eq!(back.report().summary, "blocked at the proxy");
    assert_eq!(back.report().tlp, Tlp::Amber, "marked like the report");
    // Imported again, it signs into the same report.
    let again = import(&text, &third.public(), &options).unwrap();
    let again: Vec<_> = again
        .reports
        .iter()
        .filter(|r| r.draft.sighting.is_some())
        .collect();
    assert_eq!(again[0].sign(&third).unwrap().id(), back.id());

    // A false positive is a negative sighting.
    let false_positive = sighting(
        &bank,
        &report,
        &SightingRequest {
            indicator: Some("domain:cdn-update.example".into()),
            ..SightingRequest::of(SightingKind::FalsePositive)
        },
    );
    let objects = report_objects(&false_positive, &context(&false_positive, None));
    let stix = the_sighting(&objects);
    assert_eq!(stix["x_opencti_negative"], true);
    assert_eq!(stix[SIGHTING_PROPERTY]["kind"], "false-positive");
}

#[test]
fn another_tools_sighting_of_an_exported_indicator_becomes_a_cairn_sighting() {
    let (cert, us) = (key(1), key(4));
    let report = concerned(&cert, Tlp::Green);
    let exported = report_objects(&report, &context(&report, None));
    let domain_id = exported
        .iter()
        .find(|o| o["type"] == "indicator" && o["pattern"].as_str().unwrap().contains("cdn-update"))
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let ids: Vec<String> = exported
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_string())
        .collect();
    let sighted = |wanted: &SightedRef<'_>| match wanted {
        SightedRef::Stix { stix_id, .. } => {
            ids.iter().any(|id| id == stix_id).then(|| report.clone())
        }
        SightedRef::MispEvent(_) => None,
    };
    let options = ImportOptions {
        sighted: &sighted,
        ..ImportOptions::default()
    };
    let opencti = |n: u32, of: &str, extra: Value| {
        let mut object = json!({
            "type": "sighting",
            "spec_version": "2.1",
            "id": format!("sighting--00000000-0000-4000-8000-{n:012x}"),
            "created": "2026-12-01T10:00:00.000Z",
            "modified": "2026-12-01T10:00:00.000Z",
            "sighting_of_ref": of,
            "where_sighted_refs": ["identity--00000000-0000-4000-8000-000000000099"],
            "object_marking_refs": ["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"],
        });
        for (k, v) in extra.as_object().unwrap() {
            object[k] = v.clone();
        }
        object
    };
    let tlp_clear = "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487";
    let text = json!({
        "type": "bundle",
        "id": "bundle--00000000-0000-4000-8000-000000000001",
        "objects": [
            opencti(1, &domain_id, json!({"count": 4, "first_seen": "2026-11-29T00:00:00Z", "last_seen": "2026-11-30T00:00:00Z"})),
            opencti(2, &domain_id, json!({"x_opencti_negative": true, "description": "our CDN"})),
            opencti(3, "indicator--00000000-0000-4000-8000-0000000000aa", json!({"count": 1})),
            opencti(4, &domain_id, json!({"count": 1, "object_marking_refs": [tlp_clear]})),
        ]
    })
    .to_string();
    let imported = import(&text, &us.public(), &options).unwrap();
    let fates: Vec<&Fate> = imported.accounts.iter().map(|a| &a.fate).collect();
    let sighting_of = |n: usize| -> &cairn_core::sighting::Sighting {
        let Fate::Carried { report: r, .. } = fates[n] else {
            panic!("{:?}", fates[n]);
        };
        imported.reports[*r].draft.sighting.as_ref().unwrap()
    };
    let seen = sighting_of(0);
    assert_eq!(seen.kind, SightingKind::Seen);
    assert_eq!(seen.count, 4);
    assert_eq!(seen.concerns.report, report.id());
    assert_eq!(seen.concerns.author, cert.public());
    assert_eq!(seen.indicator.as_ref().unwrap().value, "cdn-update.example");
    assert_eq!(
        seen.source.as_deref(),
        Some("STIX sighting sighting--00000000-0000-4000-8000-000000000001")
    );
    let negative = sighting_of(1);
    assert_eq!(negative.kind, SightingKind::FalsePositive);
    // Not a sighting of anything held: carried as it came.
    let Fate::Carried { report: r, .. } = fates[2] else {
        panic!("{:?}", fates[2]);
    };
    assert!(imported.reports[*r].draft.sighting.is_none());
    assert_eq!(imported.reports[*r].draft.stix_objects.len(), 1);
    // Marked CLEAR, wider than the GREEN report: refused, saying why.
    let Fate::Refused(why) = fates[3] else {
        panic!("{:?}", fates[3]);
    };
    assert!(why.contains("further than the report"), "{why}");
    for r in &imported.reports {
        r.sign(&us).expect("every sighting drafted signs");
    }
}

#[test]
fn misp_sightings_of_types_0_1_2_go_out_in_the_feed_and_come_back_as_cairn_sightings() {
    use cairn_interop::misp::feed::{add_sightings, event_of_report, event_uuid};
    let (cert, bank, us) = (key(1), key(2), key(5));
    let report = concerned(&cert, Tlp::Green);
    let said = [
        sighting(
            &bank,
            &report,
            &SightingRequest {
                indicator: Some("203.0.113.9".into()),
                count: Some(3),
                place: Some("mail gateway".into()),
                ..SightingRequest::of(SightingKind::Seen)
            },
        ),
        sighting(
            &bank,
            &report,
            &SightingRequest {
                indicator: Some("cdn-update.example".into()),
                ..SightingRequest::of(SightingKind::FalsePositive)
            },
        ),
        sighting(&bank, &report, &SightingRequest::of(SightingKind::Expired)),
    ];
    let mut event = event_of_report(&report, &report.id(), Some("CERT"));
    let before: i64 = event["Event"]["timestamp"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let feed: Vec<_> = said
        .iter()
        .map(|s| {
            (
                s.id(),
                s.author(),
                s.report().sighting.as_ref().unwrap(),
                s.report().created_ms + 5_000,
            )
        })
        .collect();
    add_sightings(&mut event, &feed);
    let attribute = |value: &str| -> Value {
        event["Event"]["Attribute"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["value"] == value)
            .unwrap()
            .clone()
    };
    let types = |a: &Value| -> Vec<String> {
        a["Sighting"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["type"].as_str().unwrap().to_string())
            .collect()
    };
    // The address: seen (0) and the whole report's expiry (2); the domain: false positive (1).
    assert_eq!(types(&attribute("203.0.113.9")), ["0", "2"]);
    assert_eq!(types(&attribute("cdn-update.example")), ["1", "2"]);
    let after: i64 = event["Event"]["timestamp"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(after > before, "MISP fetches the event again");

    // A MISP user's sightings come back: the feed's own are Cairn's already and are skipped.
    let mut from_misp = event.clone();
    let attributes = from_misp["Event"]["Attribute"].as_array_mut().unwrap();
    let sighting_of = |n: u32, kind: &str| {
        json!({
            "uuid": format!("5f0e0000-0000-4000-8000-{n:012x}"),
            "type": kind,
            "date_sighting": "1795000000",
            "source": "",
            "Organisation": {"name": "Bank CSIRT", "uuid": "5f0e0000-0000-4000-8000-0000000000ff"}
        })
    };
    for a in attributes.iter_mut() {
        let is_address = a["value"] == "203.0.113.9";
        let list = a["Sighting"].as_array_mut().unwrap();
        if is_address {
            list.push(sighting_of(1, "0"));
            list.push(sighting_of(2, "7"));
        } else {
            list.push(sighting_of(3, "1"));
            list.push(sighting_of(4, "2"));
            // A MISP user tagged the domain AMBER: its sightings are marked so too.
            a["Tag"] = json!([{"name": "tlp:amber"}]);
        }
    }
    attributes.push(json!({
        "uuid": "5f0e0000-0000-4000-8000-0000000000aa", "type": "ip-dst", "category": "Network activity",
        "value": "192.0.2.55", "to_ids": true, "timestamp": "1795000000",
        "Sighting": [sighting_of(5, "0")]
    }));
    let uuid = event_uuid(&report.id());
    let sighted = |wanted: &SightedRef<'_>| match wanted {
        SightedRef::MispEvent(asked) => (*asked == uuid).then(|| report.clone()),
        SightedRef::Stix { .. } => None,
    };
    let options = ImportOptions {
        sighted: &sighted,
        ..ImportOptions::default()
    };
    let imported = import(&from_misp.to_string(), &us.public(), &options).unwrap();
    let fate_of = |n: u32| {
        let id = format!("5f0e0000-0000-4000-8000-{n:012x}");
        &imported
            .accounts
            .iter()
            .find(|a| a.id == id)
            .unwrap_or_else(|| panic!("{id}: {:?}", imported.accounts))
            .fate
    };
    let kind_of = |n: u32| {
        let Fate::Carried { report: r, .. } = fate_of(n) else {
            panic!("{n}: {:?}", fate_of(n));
        };
        let s = imported.reports[*r].draft.sighting.clone().unwrap();
        assert_eq!(s.concerns.report, report.id());
        assert_eq!(s.source.as_deref(), Some("MISP sighting by Bank CSIRT"));
        (s.kind, s.indicator.unwrap().value)
    };
    assert_eq!(kind_of(1), (SightingKind::Seen, "203.0.113.9".to_string()));
    assert_eq!(
        kind_of(3),
        (
            SightingKind::FalsePositive,
            "cdn-update.example".to_string()
        )
    );
    assert_eq!(
        kind_of(4),
        (SightingKind::Expired, "cdn-update.example".to_string())
    );
    let tlp_of = |n: u32| {
        let Fate::Carried { report: r, .. } = fate_of(n) else {
            panic!("{n}: {:?}", fate_of(n));
        };
        imported.reports[*r].draft.tlp
    };
    assert_eq!(
        tlp_of(1),
        Some(Tlp::Green),
        "marked like the event and the report"
    );
    assert_eq!(
        tlp_of(3),
        Some(Tlp::Amber),
        "never weaker than its attribute"
    );
    assert!(matches!(fate_of(2), Fate::Refused(why) if why.contains("type \"7\"")));
    assert!(matches!(fate_of(5), Fate::Refused(why) if why.contains("does not carry")));
    assert_eq!(
        imported.reports.len(),
        3,
        "the feed's own sightings are not taken again, and the event is the report held"
    );
    let event_fate = &imported
        .accounts
        .iter()
        .find(|a| a.id == uuid)
        .unwrap()
        .fate;
    assert!(matches!(event_fate, Fate::Duplicate(_)), "{event_fate:?}");
    for r in &imported.reports {
        r.sign(&us).expect("a MISP sighting drafted signs");
    }
}
