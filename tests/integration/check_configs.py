#!/usr/bin/python3
"""daqd check-config: every shipped config passes; every broken config in
tests/configs/bad fails with exactly the expected FILE:LINE:COL message
(listed in tests/configs/bad/expected.txt as "file.toml<TAB>message").

usage: check_configs.py DAQD REPO_DIR
"""
import glob
import os
import sys

from daqd_harness import run


def main():
    daqd, repo = sys.argv[1], sys.argv[2]
    failures = []
    good = sorted(glob.glob(os.path.join(repo, "config", "*.toml")))
    for path in good:
        r = run([daqd, "check-config", path])
        if r.returncode != 0 or "OK" not in r.stdout:
            failures.append("%s: expected OK, got %d: %s" % (path, r.returncode, r.stderr.strip()))
    bad_dir = os.path.join(repo, "tests", "configs", "bad")
    expected = {}
    with open(os.path.join(bad_dir, "expected.txt")) as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                name, msg = line.rstrip("\n").split("\t", 1)
                expected[name] = msg
    cases = sorted(os.path.basename(p) for p in glob.glob(os.path.join(bad_dir, "*.toml")))
    if sorted(expected) != cases:
        failures.append("expected.txt and the .toml files differ: %s vs %s" % (sorted(expected), cases))
    for name in cases:
        # Run from the directory so messages carry the bare file name.
        r = run(["sh", "-c", 'cd "$1" && exec "$2" check-config "$3"', "-", bad_dir, daqd, name])
        lines = r.stderr.strip().splitlines()
        if r.returncode != 1 or len(lines) != 1 or lines[0] != expected.get(name):
            failures.append("%s: exit %d, stderr %r, expected %r"
                            % (name, r.returncode, r.stderr.strip(), expected.get(name)))
    print("check-config: %d good configs, %d broken configs" % (len(good), len(cases)))
    for f in failures:
        print("FAIL " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
