#!/bin/sh
# libdaq must not depend on benchmark-only libraries (GStreamer, GLib).
# usage: check_lib_deps.sh path/to/libdaq.so
set -eu
lib=$1
needed=$(readelf -d "$lib" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
echo "libdaq needs: $(echo $needed)"
[ -n "$needed" ] || { echo "FAIL: readelf found no NEEDED entries in $lib"; exit 1; }
if echo "$needed" | grep -Eq 'gst|glib|gobject'; then
    echo "FAIL: libdaq links a benchmark-only library"
    exit 1
fi
echo "PASS"
