#!/bin/sh
# make install's rules: installs the build into a scratch prefix and checks
# that daqd runs, the example configs and unit are there, and that a program
# builds and runs against libdaq through pkg-config.
# usage: test_install.sh BUILD_DIR
set -eu
build=$1
prefix=$(mktemp -d /tmp/daq-install-XXXXXX)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
for f in bin/daqd include/daq/pool.h include/daq/acq.h lib/pkgconfig/daq.pc \
         share/daq/config/demo.toml share/daq/config/example.toml share/daq/systemd/daqd.service; do
    [ -e "$prefix/$f" ] || { echo "FAIL: $f not installed"; exit 1; }
done
ls "$prefix"/lib/libdaq.so* >/dev/null
"$prefix/bin/daqd" --version
"$prefix/bin/daqd" check-config "$prefix/share/daq/config/demo.toml"
cat > "$prefix/use.c" <<'C'
#include <daq/pool.h>
#include <stdio.h>
int main(void)
{
    daq_pool_config c;
    daq_pool_config_init(&c);
    c.slot_bytes = 4096;
    c.slot_count = 2;
    daq_pool *p = daq_pool_create(&c, NULL, 0);
    daq_frame *f = daq_pool_alloc(p, NULL);
    int ok = f && daq_frame_used_pool(f);
    daq_frame_unref(f);
    daq_pool_destroy(p);
    puts(ok ? "libdaq via pkg-config: OK" : "FAIL");
    return !ok;
}
C
flags=$(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --cflags --libs daq)
cc "$prefix/use.c" $flags -Wl,-rpath,"$prefix/lib" -o "$prefix/use"
"$prefix/use"
