#!/usr/bin/python3
"""Each daq library exports exactly the API its installed headers declare.

    check_exports.py CC INCLUDE_DIR NAME LIB HEADER... [-- NAME LIB HEADER...]...

For every library: the functions its headers declare (read by the compiler:
gcc -aux-info lists each prototype with the header it comes from; static
inline functions are not exported and are left out) plus the variables they
declare extern, against the dynamic symbols the library defines
(nm -D --defined-only).  None missing (declared, not exported: a forgotten
DAQ_API), none extra (exported, not declared: an internal leaking), every
name daq_-prefixed.  Prints the counts per library; exits 1 on any
difference.
"""
import os
import re
import subprocess
import sys
import tempfile

PROTO = re.compile(r"^/\* (.+):(\d+):\w+ \*/ (.*)$")
NAME = re.compile(r"(\w+)\s*\(")
DATA = re.compile(r"^\s*(?:DAQ_API\s+)?extern\s+(?!\"C\")[^;(]*?\b(\w+)\s*(?:\[[^\]]*\])?\s*;")
LINKER = {"_init", "_fini"}
# ASan marks each exported global with an ODR indicator of its own.
SANITIZER_PREFIXES = ("__odr_asan.", "__asan_", "__tsan_", "__ubsan_")


def declared_functions(cc, include, headers):
    src = "".join(f'#include "daq/{h}"\n' for h in headers)
    with tempfile.TemporaryDirectory() as tmp:
        tu, aux = os.path.join(tmp, "tu.c"), os.path.join(tmp, "aux.txt")
        with open(tu, "w") as f:
            f.write(src)
        subprocess.run([cc, "-std=c11", "-D_DEFAULT_SOURCE", "-I", include, "-fsyntax-only",
                        "-aux-info", aux, tu], check=True)
        with open(aux) as f:
            lines = f.read().splitlines()
    wanted = {os.path.realpath(os.path.join(include, "daq", h)) for h in headers}
    names = set()
    for line in lines:
        m = PROTO.match(line)
        if not m or os.path.realpath(m.group(1)) not in wanted:
            continue
        decl = m.group(3)
        if decl.startswith("static"):
            continue
        n = NAME.search(decl.split("(")[0] + "(")
        names.add(n.group(1))
    return names


def declared_data(include, headers):
    names = set()
    for h in headers:
        with open(os.path.join(include, "daq", h)) as f:
            for line in f:
                m = DATA.match(line)
                if m:
                    names.add(m.group(1))
    return names


def exported(lib):
    out = subprocess.run(["nm", "-D", "--defined-only", lib], check=True, capture_output=True,
                         text=True).stdout
    funcs, data = set(), set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) != 3 or parts[2] in LINKER or parts[1] in "Aa":
            continue
        if parts[2].startswith(SANITIZER_PREFIXES):
            continue
        (funcs if parts[1] in "TtWwi" else data).add(parts[2].split("@")[0])
    return funcs, data


def check(cc, include, name, lib, headers):
    want_f = declared_functions(cc, include, headers)
    want_d = declared_data(include, headers)
    got_f, got_d = exported(lib)
    problems = []
    for kind, want, got in (("function", want_f, got_f), ("variable", want_d, got_d)):
        for n in sorted(want - got):
            problems.append(f"{kind} {n} is declared in a public header but not exported")
        for n in sorted(got - want):
            problems.append(f"{kind} {n} is exported but not declared in a public header")
    for n in sorted(got_f | got_d):
        if not n.startswith("daq_"):
            problems.append(f"{n} is exported without the daq_ prefix")
    print(f"{name}: {len(got_f)} functions and {len(got_d)} variables exported; "
          f"headers declare {len(want_f)} and {len(want_d)} ({', '.join(headers)})")
    for p in problems:
        print(f"FAIL {name}: {p}")
    return not problems


def main():
    if len(sys.argv) < 6:
        sys.exit(__doc__)
    cc, include, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
    groups, cur = [], []
    for a in rest + ["--"]:
        if a == "--":
            if cur:
                groups.append(cur)
            cur = []
        else:
            cur.append(a)
    ok = True
    for g in groups:
        if len(g) < 3:
            sys.exit(f"group {g}: NAME LIB HEADER... expected")
        ok &= check(cc, include, g[0], g[1], g[2:])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
