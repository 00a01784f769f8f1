#!/bin/sh
# tests/storage/mount_ns.sh - runs a command in a private mount namespace of
# its own, so whatever it mounts (the ENOSPC test's 64 MiB tmpfs) is seen by
# nothing else and vanishes with it.  Exits 77 (ctest's skip code) with one
# line saying why when no namespace can be made (not root, unshare refused).
#
# usage: mount_ns.sh COMMAND [ARGS...]
if ! out=$(unshare -m --propagation private true 2>&1); then
    echo "SKIP: cannot make a private mount namespace (unshare -m: ${out:-refused}); needs root or CAP_SYS_ADMIN"
    exit 77
fi
exec unshare -m --propagation private -- "$@"
