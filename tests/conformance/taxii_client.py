"""Drives a running Cairn node's TAXII 2.1 server with the OASIS taxii2-client library.

Usage: taxii_client.py BASE_URL READ_TOKEN PUBLISH_TOKEN
Exits 0 when every check passes; prints what failed otherwise. Run by tests/taxii_conformance.rs.
"""
import sys
import uuid

import requests
from taxii2client.v21 import Server, as_pages
from taxii2client.exceptions import AccessError, TAXIIServiceException

base, token, publish_token = sys.argv[1], sys.argv[2], sys.argv[3]
failures = []


def check(what, condition):
    print(("ok   " if condition else "FAIL ") + what)
    if not condition:
        failures.append(what)


server = Server(base + "/taxii2/", user="client", password=token)
check("discovery has a title", bool(server.title))
check("one API root", len(server.api_roots) == 1)
root = server.api_roots[0]
check("the API root speaks TAXII 2.1", "application/taxii+json;version=2.1" in root.versions)
check("one collection", len(root.collections) == 1)
collection = root.collections[0]
check("the collection can be read", collection.can_read)

everything = collection.get_objects()
objects = everything.get("objects", [])
check("objects are returned", len(objects) > 0)
reports = [o for o in objects if o["type"] == "report"]
check("the reports are there", len(reports) >= 3)

# Everything the server serves is valid STIX 2.1 for the OASIS validator (strict: warnings
# count as errors).
try:
    from stix2validator import ValidationOptions, validate_parsed_json

    bundle = {"type": "bundle", "id": "bundle--6b0b1d6e-2f6b-4a76-9c3e-0f2d7a5e9b10",
              "objects": collection.get_objects(version="all").get("objects", [])}
    results = validate_parsed_json(bundle, ValidationOptions(version="2.1", strict=True))
    check("every object served is valid STIX 2.1 (strict)", results.is_valid)
    if not results.is_valid:
        for r in results.object_results:
            for e in r.errors + r.warnings:
                print("     ", r.object_id, e)
except ImportError:
    check("stix2-validator is installed next to taxii2-client", False)

paged = []
for page in as_pages(collection.get_objects, per_request=2):
    paged.extend(page.get("objects", []))
check("paging through objects two at a time gives them all",
      sorted(o["id"] for o in paged) == sorted(o["id"] for o in objects))

manifest = []
for page in as_pages(collection.get_manifest, per_request=3):
    manifest.extend(page.get("objects", []))
check("the manifest lists every object", len(manifest) == len(objects))
check("manifest entries carry the STIX media type",
      all(m["media_type"] == "application/stix+json;version=2.1" for m in manifest))

only = collection.get_objects(type="indicator").get("objects", [])
check("match[type]", len(only) > 0 and all(o["type"] == "indicator" for o in only))
one = collection.get_objects(id=reports[0]["id"]).get("objects", [])
check("match[id]", [o["id"] for o in one] == [reports[0]["id"]])
check("match[spec_version]", len(collection.get_objects(spec_version="2.1").get("objects", [])) == len(objects))
versioned = [r for r in reports if r["created"] != r["modified"]]
check("a report with two versions", len(versioned) == 1)
all_versions = collection.get_objects(id=versioned[0]["id"], version="all").get("objects", [])
check("match[version]=all gives both versions", len(all_versions) == 2)
first = collection.get_objects(id=versioned[0]["id"], version="first").get("objects", [])
check("match[version]=first", len(first) == 1 and first[0]["modified"] == first[0]["created"])
later = collection.get_objects(added_after="2999-01-01T00:00:00.000Z").get("objects", [])
check("added_after in the future gives nothing", later == [])

got = collection.get_object(reports[0]["id"]).get("objects", [])
check("get one object", len(got) == 1 and got[0]["id"] == reports[0]["id"])
versions = collection.object_versions(versioned[0]["id"]).get("versions", [])
check("versions of an object", len(versions) == 2)

objects_url = base + "/taxii2/api/collections/" + collection.id + "/objects/"
taxii = {"Accept": "application/taxii+json;version=2.1"}
r = requests.get(objects_url, headers=taxii)
check("401 without credentials, with WWW-Authenticate",
      r.status_code == 401 and "Basic" in r.headers.get("WWW-Authenticate", ""))
r = requests.get(objects_url, headers=taxii, auth=("client", "cairn_wrong"))
check("401 with a wrong token", r.status_code == 401)
r = requests.get(base + "/taxii2/api/collections/no-such-collection/objects/", headers=taxii,
                 auth=("client", token))
check("404 for an unknown collection", r.status_code == 404 and r.json()["http_status"] == "404")
r = requests.get(objects_url + "indicator--00000000-0000-4000-8000-000000000000/", headers=taxii,
                 auth=("client", token))
check("404 for an unknown object", r.status_code == 404)
r = requests.get(objects_url, headers={"Accept": "text/html"}, auth=("client", token))
check("406 for a media type the server does not speak", r.status_code == 406)
r = requests.post(objects_url, headers={"Accept": "application/taxii+json;version=2.1",
                                        "Content-Type": "text/plain"},
                  auth=("client", publish_token), data="hello")
check("415 for a body that is not a TAXII envelope", r.status_code == 415)
r = requests.post(objects_url, headers={"Accept": "application/taxii+json;version=2.1",
                                        "Content-Type": "application/taxii+json;version=2.1"},
                  auth=("client", token), json={"objects": []})
check("403 for adding objects with a read token", r.status_code == 403)

envelope = {"objects": [
    {"type": "indicator", "spec_version": "2.1",
     "id": "indicator--6f0b1d6e-2f6b-4a76-9c3e-0f2d7a5e9b11",
     "created": "2026-11-20T10:00:00.000Z", "modified": "2026-11-20T10:00:00.000Z",
     "name": "Ransomware C2", "pattern": "[ipv4-addr:value = '192.0.2.77']",
     "pattern_type": "stix", "valid_from": "2026-11-20T10:00:00Z",
     "object_marking_refs": ["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"]},
    {"type": "malware", "spec_version": "2.1",
     "id": "malware--2d8b4f6a-5e2b-4c0f-9a1d-3b7e6c5d4a21",
     "created": "2026-11-20T10:00:00.000Z", "modified": "2026-11-20T10:00:00.000Z",
     "name": "Locker", "is_family": True},
]}
writer = Server(base + "/taxii2/", user="client", password=publish_token).api_roots[0].collections[0]
check("the collection can be written with a publish token", writer.can_write)
status = writer.add_objects(envelope)
check("adding objects answers a complete status", status.status == "complete")
check("both objects are carried, each named with its version",
      status.success_count == 2 and status.failure_count == 0 and status.total_count == 2
      and all(s.get("version") == "2026-11-20T10:00:00.000Z" for s in status.successes))
again = writer._conn.get(base + "/taxii2/api/status/" + status.id + "/",
                         headers={"Accept": "application/taxii+json;version=2.1"})
check("the status can be fetched again", again["id"] == status.id)
for sent in envelope["objects"]:
    served = collection.get_object(sent["id"]).get("objects", [])
    check("the added " + sent["type"] + " is served back under its own id, as sent",
          served == [sent])
second = writer.add_objects(envelope)
check("adding the same objects again stores nothing new",
      second.success_count == 2
      and all("already held" in s["message"] for s in second.successes))
bad = writer.add_objects({"objects": [{"type": "indicator", "id": "not-an-id"}]})
check("an object that is not STIX is a failure with a reason, and the counts add up",
      bad.failure_count == 1 and bad.total_count == 1 and "not its type" in bad.failures[0]["message"])

# A generated bundle with every STIX 2.1 type (SDOs, SROs, SCOs, marking and extension
# definitions, language content, a custom object and custom properties), added in two requests
# and read back page by page: every object comes back as sent, and what is served is valid.
T = "2026-11-21T09:00:00.000Z"
GREEN = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"
CLEAR = "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"


def sid(kind):
    return f"{kind}--{uuid.uuid4()}"


identity = {"type": "identity", "spec_version": "2.1", "id": sid("identity"), "created": T,
            "modified": T, "name": "CERT-Gen", "identity_class": "organization",
            "object_marking_refs": [CLEAR]}


def sdo(kind, **properties):
    return {"type": kind, "spec_version": "2.1", "id": sid(kind), "created": T, "modified": T,
            "created_by_ref": identity["id"], "object_marking_refs": [GREEN], **properties}


def sco(kind, **properties):
    return {"type": kind, "spec_version": "2.1", "id": sid(kind), **properties}


ipv4 = sco("ipv4-addr", value="198.51.100.23")
scos = [
    sco("artifact", payload_bin="aGVsbG8gd29ybGQ=", mime_type="text/plain"),
    sco("autonomous-system", number=64496, name="Example AS"),
    sco("directory", path="C:\\Windows\\Temp"),
    sco("domain-name", value="c2.example"),
    sco("email-addr", value="billing@invoice.example"),
    sco("email-message", is_multipart=False, subject="Invoice overdue"),
    sco("file", name="dropper.exe", hashes={"SHA-256": "5f2b8d1c9a3e4f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8"}),
    ipv4,
    sco("ipv6-addr", value="2001:db8::23"),
    sco("mac-addr", value="00:11:22:33:44:55"),
    sco("mutex", name="Global\\locker"),
    sco("network-traffic", protocols=["tcp"], src_ref=ipv4["id"], dst_port=443),
    sco("process", pid=4242, command_line="dropper.exe /quiet"),
    sco("software", name="Word", vendor="Microsoft", version="2019"),
    sco("url", value="https://c2.example/gate.php?id=1'2"),
    sco("user-account", user_id="1001", account_login="jdoe"),
    sco("windows-registry-key", key="HKEY_LOCAL_MACHINE\\Software\\Locker"),
    sco("x509-certificate", serial_number="36:f7:d4:32:f4:ab:70:ea:d3:ce:98:6e:ea:99:93:49:32:0a:b7:06"),
]
indicator = sdo("indicator", name="C2 domain", pattern="[domain-name:value = 'c2.example'] AND [ipv4-addr:value = '198.51.100.23']",
                pattern_type="stix", valid_from="2026-11-21T09:00:00Z", x_cairn_score=87,
                kill_chain_phases=[{"kill_chain_name": "lockheed-martin-cyber-kill-chain", "phase_name": "command-and-control"}])
malware = sdo("malware", name="Locker", is_family=True, malware_types=["ransomware"])
observed = sdo("observed-data", first_observed=T, last_observed=T, number_observed=3,
               object_refs=[ipv4["id"], scos[3]["id"]])
sdos = [
    sdo("attack-pattern", name="Spearphishing Attachment",
        external_references=[{"source_name": "mitre-attack", "external_id": "T1566.001"}]),
    sdo("campaign", name="Winter invoices"),
    sdo("course-of-action", name="Block the C2 domain"),
    sdo("incident", name="Ransomware at a hospital"),
    indicator,
    sdo("infrastructure", name="C2 servers", infrastructure_types=["command-and-control"]),
    sdo("intrusion-set", name="Group Gen", aliases=["GG"]),
    sdo("location", region="europe", country="FR"),
    malware,
    sdo("malware-analysis", product="sandbox", result="malicious", sample_ref=scos[6]["id"]),
    sdo("threat-actor", name="Gen Actor", threat_actor_types=["crime-syndicate"]),
    sdo("tool", name="Cobalt Strike"),
    sdo("vulnerability", name="CVE-2024-3400",
        external_references=[{"source_name": "cve", "external_id": "CVE-2024-3400"}]),
    observed,
]
sros = [
    sdo("relationship", relationship_type="indicates", source_ref=indicator["id"], target_ref=malware["id"]),
    sdo("sighting", sighting_of_ref=indicator["id"], where_sighted_refs=[identity["id"]], count=2,
        observed_data_refs=[observed["id"]]),
]
notes = [
    sdo("note", content="Seen at three members", object_refs=[indicator["id"]]),
    sdo("opinion", opinion="agree", object_refs=[indicator["id"]]),
    sdo("grouping", context="suspicious-activity", object_refs=[indicator["id"], malware["id"]]),
]
statement = {"type": "marking-definition", "spec_version": "2.1", "id": sid("marking-definition"),
             "created": T, "definition_type": "statement",
             "definition": {"statement": "Copyright CERT-Gen"}}
extension = sdo("extension-definition", name="Cairn test extension", schema="https://example.org/schema.json",
                version="1.0.0", extension_types=["property-extension"])
translation = sdo("language-content", object_ref=malware["id"], object_modified=T,
                  contents={"fr": {"name": "Verrou"}})
custom = sdo("x-cairn-test", x_note="a custom object travels as sent")
report = sdo("report", name="Generated: every STIX type", published=T, report_types=["threat-report"],
             object_refs=[o["id"] for o in sdos + sros])
report["object_marking_refs"] = [GREEN, statement["id"]]
generated = [identity, statement, extension] + scos + sdos + sros + notes + [translation, custom, report]
check("the generated bundle holds every STIX 2.1 type",
      len({o["type"] for o in generated}) == 43)
half = len(generated) // 2
for part in (generated[:half], generated[half:]):
    st = writer.add_objects({"objects": part})
    check(f"adding {len(part)} generated objects: all succeed, counts add up",
          st.status == "complete" and st.success_count == len(part) and st.failure_count == 0
          and st.total_count == len(part) and len(st.successes) == len(part))
served = []
for page in as_pages(collection.get_objects, per_request=7, version="all"):
    served.extend(page.get("objects", []))


def version_of(o):
    return o.get("modified", o.get("created"))


by_key = {(o["id"], version_of(o)): o for o in served}
same = [o for o in generated if by_key.get((o["id"], version_of(o))) == o]
check(f"every generated object is served back as sent ({len(same)} of {len(generated)})",
      len(same) == len(generated))
try:
    from stix2validator import ValidationOptions, validate_parsed_json

    bundle = {"type": "bundle", "id": "bundle--0b0b1d6e-2f6b-4a76-9c3e-0f2d7a5e9b12", "objects": served}
    results = validate_parsed_json(bundle, ValidationOptions(version="2.1"))
    check("everything served after the additions is valid STIX 2.1", results.is_valid)
    if not results.is_valid:
        for r in results.object_results:
            for e in r.errors:
                print("     ", r.object_id, e)
except ImportError:
    pass

if failures:
    print(f"{len(failures)} check(s) failed")
    sys.exit(1)
print("all TAXII checks passed")
