#!/bin/sh
# make install's rules: installs the build into a scratch prefix (as
# `make install DESTDIR=...` does) and checks what a user gets there:
#  - each library with its headers and pkg-config file, daqd, configs, unit;
#  - both examples built from the source tree against the installed libdaq
#    alone (`pkg-config --cflags --libs daq`), linking nothing of the other
#    layers, and run;
#  - a program using libdaq-server and libdaq-aravis through their own
#    pkg-config files.
# With DAQ_WITH_ARAVIS=OFF / DAQ_WITH_SERVER=OFF (environment, from ctest)
# the libraries not built are checked absent instead.
# usage: test_install.sh BUILD_DIR SOURCE_DIR
set -eu
build=$1
src=$2
with_aravis=${DAQ_WITH_ARAVIS:-ON}
with_server=${DAQ_WITH_SERVER:-ON}
dest=$(mktemp -d /tmp/daq-install-XXXXXX)
trap 'rm -rf "$dest"' EXIT
DESTDIR="$dest" cmake --install "$build" --prefix /opt/daq >/dev/null
prefix=$dest/opt/daq
fail() { echo "FAIL: $*"; exit 1; }
# libdir as configured: lib, or lib/<multiarch> for a /usr prefix on Debian
pcfile=$(ls "$prefix"/lib/pkgconfig/daq.pc "$prefix"/lib/*/pkgconfig/daq.pc 2>/dev/null | head -1)
[ -n "$pcfile" ] || fail "daq.pc not installed"
lib=${pcfile#"$prefix"/}
lib=${lib%/pkgconfig/daq.pc}
# expect FILE ON|OFF: installed exactly when its part was built
expect() {
    if [ "$2" = ON ]; then
        [ -e "$prefix/$1" ] || fail "$1 not installed"
    else
        [ ! -e "$prefix/$1" ] || fail "$1 installed though its part was not built"
    fi
}
for f in include/daq/pool.h include/daq/camera.h include/daq/camera_driver.h include/daq/api.h \
         $lib/libdaq.so.0 $lib/pkgconfig/daq.pc share/daq/config/demo.toml share/daq/config/example.toml; do
    expect $f ON
done
for f in include/daq/aravis.h $lib/libdaq-aravis.so.0 $lib/pkgconfig/daq-aravis.pc; do
    expect $f "$with_aravis"
done
for f in include/daq/server.h include/daq/metrics.h include/daq/http.h $lib/libdaq-server.so.0 \
         $lib/pkgconfig/daq-server.pc bin/daqd share/daq/systemd/daqd.service; do
    expect $f "$with_server"
done
# Internal headers stay in the source tree.
[ ! -e "$prefix/include/daq/camera_impl.h" ] || fail "an internal header was installed"
if [ "$with_server" = ON ]; then
    "$prefix/bin/daqd" --version
    "$prefix/bin/daqd" check-config "$prefix/share/daq/config/demo.toml"
fi
export PKG_CONFIG_PATH="$prefix/$lib/pkgconfig"
export LD_LIBRARY_PATH="$prefix/$lib"

# The .pc files find their prefix from where they are, however deep libdir is.
for pc in "$prefix/$lib"/pkgconfig/daq*.pc; do
    name=$(basename "$pc" .pc)
    libdir=$(cd "$(PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --variable=libdir "$name")" && pwd)
    [ "$libdir" = "$(cd "$(dirname "$pc")/.." && pwd)" ] || fail "$name.pc: libdir $libdir is not where it is installed"
done

# The examples against libdaq alone.
flags=$(pkg-config --cflags --libs daq)
echo "pkg-config --cflags --libs daq: $flags"
for ex in pool_demo acq_demo; do
    cc -std=c11 -Wall -Wextra -Werror "$src/examples/$ex.c" $flags -o "$dest/$ex"
    needed=$(readelf -d "$dest/$ex" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
    echo "$ex needs: $needed"
    echo "$needed" | grep -q 'libdaq.so.0' || fail "$ex does not link libdaq"
    if echo "$needed" | grep -Eq 'grpc|protobuf|lz4|microhttpd|aravis|glib|gobject|daq-'; then
        fail "$ex links more than libdaq: $needed"
    fi
done
"$dest/pool_demo" >"$dest/pool_demo.out" || fail "pool_demo failed: $(tail -3 "$dest/pool_demo.out")"
tail -1 "$dest/pool_demo.out"
"$dest/acq_demo" 1 >"$dest/acq_demo.out" 2>/dev/null || fail "acq_demo failed"
grep -q '(0 bad)' "$dest/acq_demo.out" || fail "acq_demo: $(cat "$dest/acq_demo.out")"
tail -1 "$dest/acq_demo.out"

# The upper libraries through their own pkg-config files.
if [ "$with_aravis" != ON ] || [ "$with_server" != ON ]; then
    echo "PASS (libdaq alone: DAQ_WITH_ARAVIS=$with_aravis DAQ_WITH_SERVER=$with_server)"
    exit 0
fi
cat > "$dest/upper.c" <<'C'
#include <daq/aravis.h>
#include <daq/camera.h>
#include <daq/server.h>
#include <stdio.h>
#include <string.h>
int main(void)
{
    char err[256];
    if (daq_aravis_register(err, sizeof err) != 0 || !daq_camera_type_known("aravis")) {
        printf("FAIL: %s\n", err);
        return 1;
    }
    daq_server_config c;
    daq_server_config_init(&c);
    printf("libdaq-aravis and libdaq-server via pkg-config: OK (default port %u)\n", c.port);
    return c.port != 50051;
}
C
cc -std=c11 -Wall -Werror "$dest/upper.c" $(pkg-config --cflags --libs daq-aravis daq-server daq) \
   -o "$dest/upper"
"$dest/upper"
echo "PASS"
