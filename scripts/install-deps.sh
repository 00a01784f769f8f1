#!/bin/sh
# Installs the Debian packages daq needs to build, test and benchmark -- only
# the ones that are missing, so running it again is cheap and changes nothing.
# Works as root (CI) or through sudo. Packages come from apt only.
set -eu

# build + unit tests; the GstBufferPool baseline of daq-bench; the metrics
# endpoint and its checkers (promtool, prometheus_client under /usr/bin/python3);
# clang's libFuzzer for the config parser's fuzz target; the gRPC server (grpc
# core, protobuf-c, lz4) and its Python clients (grpcio, protobuf, lz4, numpy);
# Aravis (GenICam / GigE Vision) with its fake cameras, and ip/unshare for
# the private network namespace its GigE tests run in (libusb-1.0-0-dev:
# Debian's aravis-0.8.pc names libusb-1.0 in Requires.private, so pkg-config
# fails without it, but libaravis-dev does not depend on it); toml-test's
# conformance cases for the TOML parser, as Debian ships them with the Go
# TOML library (golang-github-burntsushi-toml-dev: data only, no Go needed);
# recording: serial HDF5 (libhdf5-dev, zlib1g-dev), h5py and the HDF5 tools
# to read the files, and the filter plugins readers need for lz4 (32004,
# hdf5-filter-plugin) and bitshuffle+LZ4 (32008, bitshuffle, whose package
# carries the serial plugin libh5bshuf.so); venv, pip, setuptools and wheel
# to build and install the Python client offline (pip --no-build-isolation);
# systemd for systemd-analyze (the unit's verify and security score) and the
# libseccomp its sandbox test loads; Debian's chromium for the live view's
# tests in a headless browser, driven from Node (puppeteer-core comes from
# npm, pinned in tests/browser/package-lock.json, into the build tree);
# iceoryx 2.0.3 (iox-roudi and its C binding) for daq-bench tap's
# shared-memory latency baseline.
PACKAGES="
build-essential
cmake
ninja-build
pkg-config
libcmocka-dev
libgstreamer1.0-dev
libmicrohttpd-dev
prometheus
python3
python3-prometheus-client
curl
clang
libclang-rt-14-dev
libgrpc-dev
libprotobuf-c-dev
protobuf-c-compiler
protobuf-compiler
protobuf-compiler-grpc
liblz4-dev
python3-grpcio
python3-protobuf
python3-lz4
python3-numpy
libaravis-dev
aravis-tools
libusb-1.0-0-dev
iproute2
util-linux
golang-github-burntsushi-toml-dev
python3-venv
python3-pip
python3-setuptools
python3-wheel
libhdf5-dev
iceoryx
libiceoryx-binding-c-dev
libssl-dev
openssl
zlib1g-dev
hdf5-tools
python3-h5py
hdf5-filter-plugin
bitshuffle
systemd
libseccomp2
chromium
"
# Node and npm only when no node is installed: a NodeSource nodejs (which
# bundles npm) must not be replaced by Debian's, nor conflict with its npm.
if ! command -v node >/dev/null 2>&1; then
    PACKAGES="$PACKAGES nodejs npm"
fi

missing=""
for p in $PACKAGES; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$status" = "installed" ] || missing="$missing $p"
done

if [ -z "$missing" ]; then
    echo "install-deps: all $(echo $PACKAGES | wc -w) packages present"
    exit 0
fi

echo "install-deps: installing:$missing"
if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "install-deps: not root and no sudo; install as root:$missing" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# A stale or empty package index makes 'install' fail; refresh it once.
$SUDO apt-get update -qq || echo "install-deps: apt-get update failed, trying the cached index" >&2
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
echo "install-deps: done"
