#!/bin/sh
# Each daq library needs what its layer needs and nothing more
# (docs/architecture.md, "libraries"):
#   daq         libc, libm, pthread, libdl only -- a lab that wants the pool
#               and a PVCAM camera inherits no gRPC, LZ4, HTTP, GLib or Aravis
#   daq_aravis  libdaq, Aravis and the GLib/GObject it is built on
#   daq_storage libdaq, serial libhdf5, zlib, LZ4 -- no gRPC, HTTP or GLib
#   daq_server  libdaq, gRPC core (+gpr), protobuf-c, LZ4, libmicrohttpd,
#               libcrypto (TLS files checked before gRPC sees them; gRPC
#               links OpenSSL anyway), and libdaq-storage when built with it
# Checked on the direct entries (readelf NEEDED: every entry must be on the
# library's list) and on the whole closure (ldd: no library of another
# layer, and never GStreamer, which is only daq-bench's baseline).
# Sanitizer runtimes are allowed everywhere.
# usage: check_lib_deps.sh daq|daq_aravis|daq_storage|daq_server path/to/lib.so
set -eu
name=$1
lib=$2
base='libc.so.6 libm.so.6 libpthread.so.0 libdl.so.2 ld-linux-x86-64.so.2'
case $name in
daq)        allowed="$base";                       banned='grpc|gpr|protobuf|lz4|microhttpd|glib|gobject|gio|aravis|gst' ;;
daq_aravis) allowed="$base libdaq.so.0 libaravis-0.8.so.0 libgobject-2.0.so.0 libglib-2.0.so.0 libgio-2.0.so.0"
            banned='grpc|gpr|protobuf|lz4|microhttpd|gst' ;;
daq_storage) allowed="$base libdaq.so.0 libhdf5_serial.so.103 libz.so.1 liblz4.so.1"
            banned='grpc|gpr|protobuf|microhttpd|glib|gobject|gio|aravis|gst' ;;
daq_server) allowed="$base libdaq.so.0 libdaq-storage.so.0 libgrpc.so.29 libgpr.so.29 libprotobuf-c.so.1 liblz4.so.1 libmicrohttpd.so.12 libcrypto.so.3"
            banned='aravis|gobject|gst' ;;
*) echo "FAIL: unknown library name '$name'"; exit 1 ;;
esac
needed=$(readelf -d "$lib" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
echo "$name needs: $(echo $needed)"
[ -n "$needed" ] || { echo "FAIL: readelf found no NEEDED entries in $lib"; exit 1; }
fail=0
for n in $needed; do
    case " $allowed " in
    *" $n "*) ;;
    *) case $n in
       libasan.so.*|libubsan.so.*|libtsan.so.*) ;;
       *) echo "FAIL: $name needs $n, which is not on its list: $allowed"; fail=1 ;;
       esac ;;
    esac
done
closure=$(ldd "$lib" | awk '{print $1}')
bad=$(echo "$closure" | grep -E "$banned" || true)
if [ -n "$bad" ]; then
    echo "FAIL: $name loads libraries of another layer: $(echo $bad)"
    fail=1
fi
if [ "$name" != daq ] && ! echo "$needed" | grep -q '^libdaq.so.0$'; then
    echo "FAIL: $name does not link libdaq"
    fail=1
fi
[ $fail -eq 0 ] && echo "PASS: $name"
exit $fail
