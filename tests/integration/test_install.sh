#!/bin/sh
# make install's rules: installs the build into a scratch prefix (as
# `make install DESTDIR=...` does) and checks what a user gets there:
#  - each library with its headers and pkg-config file, daqd, configs, unit;
#  - both examples built from the source tree against the installed libdaq
#    alone (`pkg-config --cflags --libs daq`), linking nothing of the other
#    layers, and run;
#  - a program using libdaq-server, libdaq-storage and libdaq-aravis
#    through their own pkg-config files;
#  - the Python client as `make install` installs it (make install-python),
#    where Debian's python3 finds it, with the stubs its build generated.
# With DAQ_WITH_ARAVIS=OFF / DAQ_WITH_STORAGE=OFF / DAQ_WITH_SERVER=OFF
# (environment, from ctest) the libraries not built are checked absent.
# usage: test_install.sh BUILD_DIR SOURCE_DIR
set -eu
build=$1
src=$2
with_aravis=${DAQ_WITH_ARAVIS:-ON}
with_server=${DAQ_WITH_SERVER:-ON}
with_storage=${DAQ_WITH_STORAGE:-ON}
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
for f in include/daq/storage.h $lib/libdaq-storage.so.0 $lib/pkgconfig/daq-storage.pc; do
    expect $f "$with_storage"
done
for f in include/daq/server.h include/daq/metrics.h include/daq/http.h $lib/libdaq-server.so.0 \
         $lib/pkgconfig/daq-server.pc bin/daqd share/daq/systemd/daqd.service \
         share/daq/systemd/daqd.sysusers.conf; do
    expect $f "$with_server"
done
# The rollback plan's operator files (packaging/rollback.cmake): the unit's
# start guard runs as a program, the rules and the dashboard are data.
for f in include/daq/watch.h share/daq/prometheus/daq-rollback.rules.yml \
         share/daq/prometheus/daq-rollback.tests.yml share/daq/grafana/daq-rollback.json \
         libexec/daq/daqd-rollback-guard; do
    expect $f ON
done
[ -x "$prefix/libexec/daq/daqd-rollback-guard" ] || fail "daqd-rollback-guard is not executable"
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
if [ "$with_aravis" != ON ] || [ "$with_server" != ON ] || [ "$with_storage" != ON ]; then
    echo "PASS (libdaq alone: DAQ_WITH_ARAVIS=$with_aravis DAQ_WITH_STORAGE=$with_storage DAQ_WITH_SERVER=$with_server)"
    exit 0
fi
cat > "$dest/upper.c" <<'C'
#include <daq/aravis.h>
#include <daq/camera.h>
#include <daq/server.h>
#include <daq/storage.h>
#include <stdio.h>
#include <string.h>
int main(void)
{
    char err[256];
    if (daq_aravis_register(err, sizeof err) != 0 || !daq_camera_type_known("aravis")) {
        printf("FAIL: %s\n", err);
        return 1;
    }
    daq_codec codec;
    daq_storage_config sc;
    daq_storage_config_init(&sc);
    if (daq_codec_parse("bslz4", &codec, err, sizeof err) != 0 || codec != DAQ_CODEC_BSLZ4 ||
        daq_codec_parse("zstd", &codec, err, sizeof err) == 0) {
        printf("FAIL: daq_codec_parse\n");
        return 1;
    }
    daq_server_config c;
    daq_server_config_init(&c);
    printf("libdaq-aravis, libdaq-storage and libdaq-server via pkg-config: OK (default port %u, "
           "recording root '%s', %s)\n", c.port, sc.root, err);
    return c.port != 50051;
}
C
cc -std=c11 -Wall -Werror "$dest/upper.c" \
   $(pkg-config --cflags --libs daq-aravis daq-server daq-storage daq) -o "$dest/upper"
"$dest/upper"

# The Python client (make install-python, as make install runs it): the
# package with the stubs its build generated, where Debian's python3 looks.
make -C "$src" --no-print-directory install-python DESTDIR="$dest" >/dev/null 2>&1 ||
    fail "make install-python (PREFIX=/usr/local)"
pysite=$(/usr/bin/python3 -c 'import sys; print("/usr/local/lib/python%d.%d/dist-packages" % sys.version_info[:2])')
/usr/bin/python3 -c 'import sys; sys.exit(sys.argv[1] not in sys.path)' "$pysite" ||
    fail "$pysite is not on /usr/bin/python3's sys.path"
[ -f "$dest$pysite/daq_client/_generated/daq_pb2.py" ] || fail "daq_client not in $pysite"
[ -x "$dest/usr/local/bin/daq-client" ] || fail "daq-client not in /usr/local/bin"
make -C "$src" --no-print-directory install-python DESTDIR="$dest" PREFIX=/opt/daq >/dev/null 2>&1 ||
    fail "make install-python (PREFIX=/opt/daq)"
pysite=$prefix/lib/python3/dist-packages
(cd "$dest" && PYTHONPATH="$pysite" XDG_CACHE_HOME="$dest/cache" /usr/bin/python3 -c '
import sys, daq_client
s = daq_client.stubs()
sys.exit(not (daq_client.__file__.startswith(sys.argv[1]) and s.daq.__file__.startswith(sys.argv[1])))' \
    "$pysite/daq_client/") || fail "daq_client from $pysite did not import its own stubs"
[ ! -e "$dest/cache/daq-client" ] || fail "daq_client generated stubs at run time"
PYTHONPATH="$pysite" "$prefix/bin/daq-client" --help >/dev/null || fail "daq-client --help"
echo "daq_client: make install-python OK"
echo "PASS"
