#!/usr/bin/python3
"""Rewrites proto3 `optional T name = N;` as `oneof _name { T name = N; }`
for protoc-c 1.4.1, which rejects proto3 optional.  protoc itself represents
optional as exactly this synthetic oneof, so the wire format is identical
and presence works the same (a set zero is still sent).

usage: proto_c_rewrite.py IN.proto OUT.proto
"""
import re
import sys

FIELD = re.compile(r'^(\s*)optional\s+([\w.]+)\s+(\w+)\s*=\s*(\d+)\s*(\[[^\]]*\])?\s*;(.*)$')


def main():
    src, dst = sys.argv[1], sys.argv[2]
    out = []
    with open(src) as f:
        for line in f:
            m = FIELD.match(line.rstrip("\n"))
            if m:
                indent, typ, name, num, opts, rest = m.groups()
                opts = " " + opts if opts else ""
                line = "%soneof _%s { %s %s = %s%s; }%s\n" % (indent, name, typ, name, num, opts, rest)
            out.append(line)
    with open(dst, "w") as f:
        f.writelines(out)


if __name__ == "__main__":
    main()
