#!/bin/sh
# tests/scripts/aravis_netns.sh - runs a command next to Aravis' fake GigE
# Vision camera, both inside a private network namespace.
#
#   aravis_netns.sh [-r LOST_PER_THOUSAND] -- COMMAND [ARGS...]
#
# Why a namespace: GigE discovery broadcasts on every interface and the
# fake answers on whatever it binds, so a private namespace with only `lo`
# keeps the test off the host's network and away from other tests' fakes
# (every ctest case gets its own namespace, so they can run in parallel on
# the same 127.0.0.1).  The command finds the camera's address in
# DAQ_ARAVIS_GV_CAMERA and the fake's packet loss in DAQ_ARAVIS_GV_LOSS.
#
# Exit status: the command's, or 77 (ctest SKIP_RETURN_CODE) only when no
# namespace can be made here (unprivileged container, no unshare/ip), with
# a message saying why.
set -u
PATH=$PATH:/usr/sbin:/sbin
loss=0
while [ $# -gt 0 ]; do
    case $1 in
    -r) loss=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "aravis_netns.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
[ $# -gt 0 ] || { echo "usage: aravis_netns.sh [-r N] -- COMMAND..." >&2; exit 2; }

# The fake is a declared dependency (scripts/install-deps.sh): missing, it
# is a broken setup and fails rather than skips.
fake=$(command -v arv-fake-gv-camera-0.8) || {
    echo "FAIL: arv-fake-gv-camera-0.8 not installed (aravis-tools)" >&2; exit 1; }

if [ "${DAQ_ARAVIS_IN_NETNS:-}" != 1 ]; then
    command -v unshare >/dev/null && command -v ip >/dev/null || {
        echo "SKIP: unshare (util-linux) or ip (iproute2) missing" >&2; exit 77; }
    # As root: a plain network namespace.  Otherwise a user namespace maps
    # us to root inside it, where that is allowed.
    if [ "$(id -u)" = 0 ]; then ns="unshare -n"; else ns="unshare -r -n"; fi
    if ! $ns true 2>/dev/null; then
        echo "SKIP: cannot create a network namespace here ($ns refused)" >&2
        exit 77
    fi
    DAQ_ARAVIS_IN_NETNS=1 exec $ns "$0" -r "$loss" -- "$@"
fi

ip link set lo up || { echo "aravis_netns.sh: ip link set lo up failed" >&2; exit 1; }
if [ "$loss" != 0 ]; then
    "$fake" -i 127.0.0.1 -s DAQ-GV -r "$loss" &
else
    "$fake" -i 127.0.0.1 -s DAQ-GV &
fi
fake_pid=$!
trap 'kill $fake_pid 2>/dev/null; wait $fake_pid 2>/dev/null' EXIT INT TERM
DAQ_ARAVIS_GV_CAMERA=127.0.0.1 DAQ_ARAVIS_GV_LOSS=$loss "$@"
rc=$?
exit $rc
