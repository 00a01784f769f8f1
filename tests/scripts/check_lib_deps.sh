#!/bin/sh
# libdaq must not depend on benchmark-only libraries: GStreamer (gst*) is
# there only for daq-bench's GstBufferPool baseline.
# GLib and GObject are allowed: the aravis driver links Aravis, which is
# built on them (libaravis -> libgobject, libglib).  GStreamer is not an
# Aravis dependency (its GStreamer element lives in a separate plugin that
# nothing here loads), so a gst library in the list still means a mistake.
# usage: check_lib_deps.sh path/to/libdaq.so
set -eu
lib=$1
needed=$(readelf -d "$lib" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
echo "libdaq needs: $(echo $needed)"
[ -n "$needed" ] || { echo "FAIL: readelf found no NEEDED entries in $lib"; exit 1; }
if echo "$needed" | grep -q 'gst'; then
    echo "FAIL: libdaq links GStreamer, a benchmark-only library"
    exit 1
fi
# The whole dependency closure, not just the direct entries.
if command -v ldd >/dev/null 2>&1 && ldd "$lib" | grep -q 'libgst'; then
    echo "FAIL: a library libdaq loads pulls in GStreamer:"
    ldd "$lib" | grep 'libgst'
    exit 1
fi
echo "PASS"
