#!/usr/bin/python3
"""Runs daq's TOML decoder against the toml-test cases (TOML 1.0.0).

    run_toml_test.py TOML_TEST_DIR DECODER

TOML_TEST_DIR holds toml-test's valid/ and invalid/ trees.  By default it is
the copy Debian ships in golang-github-burntsushi-toml-dev
(/usr/share/gocode/src/github.com/BurntSushi/toml/internal/toml-test/tests,
100 valid and 234 invalid cases); scripts/install-deps.sh installs it.  When
the directory has a files-toml-1.0.0 listing (newer toml-test releases), the
cases are the ones it lists; otherwise every .toml below valid/ and invalid/
is a case, less the ones the suite itself marks as not TOML 1.0.0
(EXCLUDED_1_0_0 below, each with the suite's reason).

Every valid case must exit 0 with
nothing on stderr and print tagged JSON equal, as a JSON value, to the case's
.json (floats by value, inf/nan by spelling, date-times as the instants they
denote).  Every invalid case must exit 1 -- a signal or any other status,
e.g. a sanitizer's, is a failure -- with exactly one "FILE:LINE:COL: message"
line on stderr.

Prints "toml-test: DIR: valid P/N, invalid P/N" (and the exclusions) and the
failures; exits 1 if any case failed, if TOML_TEST_DIR holds no cases, or if
it is missing: the suite is a dependency, never silently skipped.
"""
import concurrent.futures
import json
import math
import os
import re
import subprocess
import sys

# Cases of older suites that are not TOML 1.0.0, as the suite's own version
# table (internal/toml-test/version.go, "1.0.0": exclude) lists them.
EXCLUDED_1_0_0 = {
    "valid/string/escape-esc.toml": "\\e escape is TOML 1.1, not 1.0.0",
}

TIMEOUT = 60  # seconds per case; generous for sanitizer builds on a busy machine


def days_from_civil(y, m, d):
    """Days since 1970-01-01 of a proleptic Gregorian date (any year >= 0)."""
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


DATE = r"(\d{4})-(\d{2})-(\d{2})"
TIME = r"(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
PATTERNS = {
    "datetime": re.compile(DATE + "[Tt ]" + TIME + r"([Zz]|[+-]\d{2}:\d{2})$"),
    "datetime-local": re.compile(DATE + "[Tt ]" + TIME + "$"),
    "date-local": re.compile(DATE + "$"),
    "time-local": re.compile(TIME + "$"),
}


def frac(digits):
    """Fractional seconds as nanosecond digits without trailing zeros."""
    return (digits or "")[:9].rstrip("0")


def normalise_datetime(kind, text):
    m = PATTERNS[kind].match(text)
    if not m:
        return ("malformed", text)
    g = m.groups()
    if kind == "date-local":
        return tuple(int(x) for x in g)
    if kind == "time-local":
        return (int(g[0]), int(g[1]), int(g[2]), frac(g[3]))
    fields = tuple(int(x) for x in g[:6])
    if kind == "datetime-local":
        return fields + (frac(g[6]),)
    # an offset date-time: the instant, in seconds since the epoch
    y, mo, d, h, mi, s = fields
    off = 0
    if g[7] not in ("Z", "z"):
        sign = -1 if g[7][0] == "-" else 1
        off = sign * (int(g[7][1:3]) * 60 + int(g[7][4:6]))
    instant = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - off * 60
    return (instant, frac(g[6]))


def normalise_float(text):
    t = text.lower().lstrip("+")
    if t in ("nan", "-nan"):
        return "nan"
    if t in ("inf", "-inf"):
        return t
    return float(t.replace("_", ""))


def is_scalar(v):
    return (
        isinstance(v, dict)
        and set(v) == {"type", "value"}
        and isinstance(v["type"], str)
        and isinstance(v["value"], str)
    )


def scalar_key(v):
    kind, text = v["type"], v["value"]
    try:
        if kind == "integer":
            return int(text)
        if kind == "float":
            return normalise_float(text)
        if kind in PATTERNS:
            return normalise_datetime(kind, text)
    except ValueError:
        return ("unparsable", text)
    return text


def compare(got, want, path="$"):
    """None if equal, else a description of the first difference."""
    if is_scalar(want):
        if not is_scalar(got):
            return f"{path}: expected a {want['type']}, got {json.dumps(got)[:80]}"
        if got["type"] != want["type"]:
            return f"{path}: expected type {want['type']}, got {got['type']}"
        g, w = scalar_key(got), scalar_key(want)
        same = g == w or (isinstance(g, float) and isinstance(w, float) and math.isnan(g) and math.isnan(w))
        return None if same else f"{path}: expected {want['value']!r}, got {got['value']!r}"
    if isinstance(want, dict):
        if not isinstance(got, dict) or is_scalar(got):
            return f"{path}: expected a table, got {json.dumps(got)[:80]}"
        if set(got) != set(want):
            missing, extra = sorted(set(want) - set(got)), sorted(set(got) - set(want))
            return f"{path}: keys differ: missing {missing}, unexpected {extra}"
        for k in want:
            why = compare(got[k], want[k], f"{path}.{k}")
            if why:
                return why
        return None
    if isinstance(want, list):
        if not isinstance(got, list):
            return f"{path}: expected an array, got {json.dumps(got)[:80]}"
        if len(got) != len(want):
            return f"{path}: expected {len(want)} elements, got {len(got)}"
        for i, (g, w) in enumerate(zip(got, want)):
            why = compare(g, w, f"{path}[{i}]")
            if why:
                return why
        return None
    return f"{path}: unexpected expected-value {want!r}"


def run(decoder, path):
    try:
        p = subprocess.run([decoder, path], capture_output=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return None, b"", b"timed out"
    return p.returncode, p.stdout, p.stderr


def status(rc):
    return f"killed by signal {-rc}" if rc < 0 else f"exit {rc}"


def check_valid(decoder, base, name):
    rc, out, err = run(decoder, os.path.join(base, name))
    if rc != 0:
        return f"{status(rc) if rc is not None else 'timed out'}: {err.decode(errors='replace').strip()[:300]}"
    if err:
        return f"wrote to stderr: {err.decode(errors='replace').strip()[:300]}"
    try:
        got = json.loads(out.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        return f"output is not JSON: {e}"
    with open(os.path.join(base, name[:-5] + ".json"), encoding="utf-8") as f:
        want = json.load(f)
    return compare(got, want)


ERROR_LINE = re.compile(r"^(.*):(\d+):(\d+): \S.*$")


def check_invalid(decoder, base, name):
    path = os.path.join(base, name)
    rc, out, err = run(decoder, path)
    text = err.decode("utf-8", errors="replace")
    if rc != 1:
        return f"accepted (exit 0)" if rc == 0 else (status(rc) if rc is not None else "timed out") + f": {text.strip()[:300]}"
    lines = text.splitlines()
    m = ERROR_LINE.match(lines[0]) if len(lines) == 1 else None
    if not m or m.group(1) != path or int(m.group(2)) < 1 or int(m.group(3)) < 1:
        return f"error output is not one 'FILE:LINE:COL: message' line: {text.strip()[:300]!r}"
    return None


def list_cases(base):
    """(valid, invalid, excluded) case names relative to base."""
    listing = os.path.join(base, "files-toml-1.0.0")
    if os.path.isfile(listing):
        with open(listing, encoding="utf-8") as f:
            names = [line.strip() for line in f if line.strip().endswith(".toml")]
    else:
        names = []
        for top in ("valid", "invalid"):
            for root, _, files in os.walk(os.path.join(base, top)):
                names += [os.path.relpath(os.path.join(root, n), base)
                          for n in files if n.endswith(".toml")]
        names.sort()
    excluded = [n for n in names if n in EXCLUDED_1_0_0]
    names = [n for n in names if n not in EXCLUDED_1_0_0]
    valid = [n for n in names if n.startswith("valid/")]
    invalid = [n for n in names if n.startswith("invalid/")]
    return valid, invalid, excluded


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    base, decoder = sys.argv[1], sys.argv[2]
    if not os.path.isdir(base):
        print(f"toml-test: FAIL: no toml-test cases at {base} "
              "(install golang-github-burntsushi-toml-dev: scripts/install-deps.sh)")
        return 1
    valid, invalid, excluded = list_cases(base)

    jobs = max(1, min(4, os.cpu_count() or 1))
    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        vres = list(pool.map(lambda n: check_valid(decoder, base, n), valid))
        ires = list(pool.map(lambda n: check_invalid(decoder, base, n), invalid))

    vfail = [(n, why) for n, why in zip(valid, vres) if why]
    ifail = [(n, why) for n, why in zip(invalid, ires) if why]
    print(f"toml-test: {base}: valid {len(valid) - len(vfail)}/{len(valid)}, "
          f"invalid {len(invalid) - len(ifail)}/{len(invalid)}")
    for n in excluded:
        print(f"excluded {n}: {EXCLUDED_1_0_0[n]}")
    for n, why in vfail + ifail:
        print(f"FAIL {n}: {why}")
    return 1 if vfail or ifail or not valid or not invalid else 0


if __name__ == "__main__":
    sys.exit(main())
