#!/usr/bin/env python3
"""Checks a file of bb-node --json output against docs/cli-json.md's common contract.

usage: check_json_lines.py FILE [--event NAME]... [--error CODE] [--perf] [--min-lines N]

Every line must be a JSON object with "event" (a string), "ts" (RFC 3339 UTC with
milliseconds) and "schema" == 1. --event: at least one line has that event. --error: the
file holds exactly one error line, with that code and a message. --perf: bb-node perf's lines:
at least 2 intermediary ones and one final one (the last line), whose byte totals equal the
sums of the intermediaries. Prints what is wrong and exits 1; prints nothing and exits 0 when
all holds.
"""
import argparse
import json
import re
import sys

TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("file")
    parser.add_argument("--event", action="append", default=[])
    parser.add_argument("--error")
    parser.add_argument("--perf", action="store_true")
    parser.add_argument("--min-lines", type=int, default=1)
    args = parser.parse_args()

    problems = []
    events = []
    with open(args.file, encoding="utf-8", errors="replace") as f:
        lines = f.read().splitlines()
    if len(lines) < args.min_lines:
        problems.append(f"{len(lines)} lines, want at least {args.min_lines}")
    for n, line in enumerate(lines, 1):
        try:
            obj = json.loads(line)
        except ValueError as e:
            problems.append(f"line {n} is not JSON ({e}): {line!r}")
            continue
        if not isinstance(obj, dict):
            problems.append(f"line {n} is not an object: {line!r}")
            continue
        if not isinstance(obj.get("event"), str):
            problems.append(f"line {n} has no string event: {line!r}")
        if not isinstance(obj.get("ts"), str) or not TS.match(obj["ts"]):
            problems.append(f"line {n} has no RFC 3339 UTC ts with milliseconds: {line!r}")
        if obj.get("schema") != 1 or isinstance(obj.get("schema"), bool):
            problems.append(f"line {n} has schema {obj.get('schema')!r}, want 1: {line!r}")
        events.append(obj)

    for name in args.event:
        if not any(e.get("event") == name for e in events):
            problems.append(f"no {name!r} event")
    if args.error is not None:
        errors = [e for e in events if e.get("event") == "error"]
        if len(errors) != 1 or errors[0].get("error") != args.error or not isinstance(
            errors[0].get("message"), str
        ) or not errors[0]["message"]:
            problems.append(f"want one error line with error={args.error!r} and a message, got {errors}")
    if args.perf:
        inter = [e for e in events if e.get("event") == "perf" and e.get("type") == "intermediary"]
        final = [e for e in events if e.get("event") == "perf" and e.get("type") == "final"]
        if len(inter) < 2:
            problems.append(f"{len(inter)} intermediary perf lines, want at least 2")
        if len(final) != 1 or events[-1] is not final[0]:
            problems.append(f"want one final perf line, the last one; got {len(final)}")
        else:
            f = final[0]
            for key in ("uploadBytes", "downloadBytes"):
                total = sum(e[key] for e in inter)
                if f.get(key) != total:
                    problems.append(f"final {key} {f.get(key)} != sum of intermediaries {total}")
            if f.get("uploadBytes") != f.get("upload_bytes") or f.get(
                "downloadBytes"
            ) != f.get("download_bytes"):
                problems.append(f"final camelCase and snake_case totals differ: {f}")
            for e in inter:
                if not (isinstance(e.get("timeSeconds"), (int, float)) and e["timeSeconds"] >= 0):
                    problems.append(f"intermediary without timeSeconds: {e}")
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
