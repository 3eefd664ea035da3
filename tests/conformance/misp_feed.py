"""Loads a Cairn node's MISP feed as a MISP instance would, with PyMISP: manifest.json, then
every event it lists, then hashes.csv. Checks that each carried event is the one its source
sent (compared as parsed JSON with the source files given), that PyMISP reads every event and
attribute, and that hashes.csv names only listed events.

Usage: misp_feed.py BASE_URL TOKEN WRITTEN_TITLE SOURCE_FILE...
"""

import copy
import hashlib
import json
import sys

import requests
from pymisp import MISPEvent

base, token, written_title, *sources = sys.argv[1:]
session = requests.Session()
session.headers["Authorization"] = f"Bearer {token}"


def fetch(path):
    r = session.get(f"{base}/misp/feed/{path}", timeout=30)
    assert r.status_code == 200, f"{path}: {r.status_code} {r.text[:200]}"
    return r


def events_of(value):
    if isinstance(value, list):
        return [e for v in value for e in events_of(v)]
    if "Event" in value:
        return [value["Event"]]
    if "response" in value:
        return events_of(value["response"])
    return [value]


sent = {}
for path in sources:
    with open(path, encoding="utf-8") as f:
        for event in events_of(json.load(f)):
            sent[event["uuid"].lower()] = event

# Without a token: refused.
assert requests.get(f"{base}/misp/feed/manifest.json", timeout=30).status_code == 401

manifest = fetch("manifest.json").json()
assert set(sent) <= set(manifest), f"missing from the manifest: {set(sent) - set(manifest)}"
written = 0
attributes = 0
for uuid, entry in manifest.items():
    assert "info" in entry and "timestamp" in entry and "Orgc" in entry, entry
    body = fetch(f"{uuid}.json").json()
    event = MISPEvent()
    event.load(copy.deepcopy(body))  # PyMISP consumes what it loads
    assert event.uuid.lower() == uuid, (event.uuid, uuid)
    attributes += len(event.attributes) + sum(len(o.attributes) for o in event.objects)
    if uuid in sent:
        if body["Event"] != sent[uuid]:
            diff = sorted(k for k in set(body["Event"]) | set(sent[uuid]) if body["Event"].get(k) != sent[uuid].get(k))
            raise AssertionError(f"event {uuid} differs from what its source sent in {diff}")
        assert entry["info"] == sent[uuid]["info"]
    else:
        written += 1
        assert event.info == written_title, event.info
        assert all(a.to_ids for a in event.attributes)
        assert any(t.name.startswith("tlp:") for t in event.tags)

assert written == 1, f"{written} events written in Cairn, expected 1"
missing = session.get(f"{base}/misp/feed/00000000-0000-4000-8000-000000000000.json", timeout=30)
assert missing.status_code == 404, missing.status_code

lines = fetch("hashes.csv").text.splitlines()
assert lines, "hashes.csv is empty"
listed = set(manifest)
for line in lines:
    digest, uuid = line.split(",")
    assert len(digest) == 32 and uuid in listed, line
# Every value of a carried event is findable by its MD5, as MISP's feed cache looks it up.
some = next(iter(sent.values()))
value = next(a["value"] for a in some.get("Attribute", []) if "|" not in a["type"])
assert f"{hashlib.md5(value.encode()).hexdigest()},{some['uuid'].lower()}" in lines

print(f"PyMISP loaded {len(manifest)} events ({attributes} attributes), {len(lines)} hashes")
