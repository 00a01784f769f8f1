# daq - top-level entry points.  The real build is CMake (+ Ninja); this file
# only names the three builds and the commands people type.
#
#   make          build (release, with debug info) into build/release
#   make run      install missing Debian packages, build, run daqd on config/demo.toml
#   make install  daqd, libdaq + headers + pkg-config, configs, systemd unit, and the
#                 Python client (PREFIX=/usr/local; DESTDIR for a staged install)
#   make install-python   the Python client alone (clients/python)
#   make check    the full suite: plain, ASan+UBSan, TSan (concurrency), and
#                 the -DDAQ_FRAME_POOL=OFF build's tests (check-nopool)
#   make check-nopool   the compile-time rollback build (no pool on the frame
#                 path, ADR 0008) and its tests, `ctest -L nopool`
#   make bench    build and run the benchmarks
#   make fuzz     fuzz the TOML parser (clang/libFuzzer) for FUZZ_SECONDS
#   make fuzz-rpc fuzz the gRPC requests and handlers the same way
#   make fuzz-smoke   both for 20 s each (part of make check)
#   make clean

BUILD    ?= build
JOBS     ?= $(shell nproc)
CMAKE    ?= cmake
GEN      ?= -G Ninja
# Extra -D options for every configure step (CI adds a second toml-test copy).
DAQ_CMAKE_ARGS ?=
CTEST     = ctest --output-on-failure -j$(JOBS) --timeout 600

REL  = $(BUILD)/release
ASAN = $(BUILD)/asan
TSAN = $(BUILD)/tsan
NOPOOL = $(BUILD)/nopool
FUZZ = $(BUILD)/fuzz

FUZZ_SECONDS ?= 300
# New inputs go to $(FUZZ)/corpus; the seed corpus in the tree is read only.
FUZZ_RUN = $(FUZZ)/fuzz_toml -dict=tests/fuzz/toml.dict -max_len=4096 -timeout=10 \
           -artifact_prefix=$(FUZZ)/ -print_final_stats=1 $(FUZZ)/corpus tests/fuzz/corpus/toml
# One request a run: the first byte picks the method (tests/fuzz/fuzz_rpc.c).
FUZZ_RPC_RUN = $(FUZZ)/fuzz_rpc -dict=tests/fuzz/rpc.dict -max_len=4096 -timeout=10 \
               -artifact_prefix=$(FUZZ)/rpc- -print_final_stats=1 $(FUZZ)/corpus-rpc \
               tests/fuzz/corpus/rpc

# Sanitizer reports are failures, never warnings.
export ASAN_OPTIONS  = abort_on_error=1:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1
export UBSAN_OPTIONS = print_stacktrace=1:halt_on_error=1
export TSAN_OPTIONS  = halt_on_error=1:second_deadlock_stack=1:exitcode=66

PREFIX   ?= /usr/local

.PHONY: all build run check check-release check-asan check-tsan check-nopool bench deps clean install \
        install-python fuzz-build fuzz-smoke fuzz fuzz-rpc

all: build

deps:
	@scripts/install-deps.sh

$(REL)/build.ninja:
	$(CMAKE) -S . -B $(REL) $(GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(DAQ_CMAKE_ARGS)
$(ASAN)/build.ninja:
	$(CMAKE) -S . -B $(ASAN) $(GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDAQ_SANITIZE=address -DDAQ_BENCH=OFF $(DAQ_CMAKE_ARGS)
$(TSAN)/build.ninja:
	$(CMAKE) -S . -B $(TSAN) $(GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDAQ_SANITIZE=thread -DDAQ_BENCH=OFF $(DAQ_CMAKE_ARGS)
# No aravis: none of the nopool tests needs it, and it saves a library.
$(NOPOOL)/build.ninja:
	$(CMAKE) -S . -B $(NOPOOL) $(GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDAQ_FRAME_POOL=OFF \
	    -DDAQ_BENCH=OFF -DDAQ_WITH_ARAVIS=OFF $(DAQ_CMAKE_ARGS)

build: $(REL)/build.ninja
	$(CMAKE) --build $(REL) -j $(JOBS)

run: deps build
	$(REL)/daqd daemon --hardware-config config/demo.toml

install: $(REL)/build.ninja
	$(CMAKE) -S . -B $(REL) -DCMAKE_INSTALL_PREFIX=$(PREFIX)
	$(CMAKE) --build $(REL) -j $(JOBS)
	$(CMAKE) --install $(REL)
	$(MAKE) --no-print-directory install-python

# The Python client, built offline by Debian's pip and setuptools (its gRPC
# stubs are generated from proto/ during the build and shipped in the
# package) and installed where Debian's /usr/bin/python3 looks: Debian's pip
# lays out --prefix=P as P/local/lib/python3.X/dist-packages + P/local/bin,
# or with DEB_PYTHON_INSTALL_LAYOUT=deb_system as P/lib/python3/dist-packages
# + P/bin.  So PREFIX=/usr/local goes in as /usr in the first layout, /usr
# (and any other prefix: add its dist-packages to PYTHONPATH) in the second.
# --ignore-installed: never uninstall a copy found on sys.path (a staged
# DESTDIR install must not touch the live one).
PYTHON ?= /usr/bin/python3
ifeq ($(patsubst %/local,,$(PREFIX)),)
PIP_LAYOUT = posix_local
PIP_PREFIX = $(patsubst %/local,%,$(PREFIX))
else
PIP_LAYOUT = deb_system
PIP_PREFIX = $(PREFIX)
endif
install-python:
	DEB_PYTHON_INSTALL_LAYOUT=$(PIP_LAYOUT) $(PYTHON) -m pip install --no-build-isolation \
	    --no-index --no-deps --ignore-installed --root-user-action=ignore \
	    --prefix=$(PIP_PREFIX) $(if $(DESTDIR),--root=$(DESTDIR)) ./clients/python

# ctest shows a passing test's output only in its log: print the figures a
# reader checks (toml-test cases run, exported symbols per library, where
# the live view's screenshot is).
# In parentheses: after `ctest &&` a bare `|| true` would also swallow
# ctest's own failure (it did: a failing release suite let `make check`
# say "all suites passed").
SUMMARY = (grep -hE '^(toml-test: |excluded |screenshot: |daq(_aravis|_storage|_server)?: [0-9]+ functions)' \
          Testing/Temporary/LastTest.log || true)

check-release: build
	cd $(REL) && $(CTEST) && $(SUMMARY)

# Not under ASan: the soak (its RSS figures are ASan's quarantine), the
# tests whose verdicts are throughput figures (label throughput: the pilot
# checkpoint and the runbook's pilots), which a 2-3x slower build measures
# instead of the frame path, and the live view in headless Chromium (label
# browser: frame rates of a browser next to a 2-3x slower daemon; the view's
# C code runs under ASan in its own HTTP tests).
check-asan: $(ASAN)/build.ninja
	$(CMAKE) --build $(ASAN) -j $(JOBS)
	cd $(ASAN) && $(CTEST) -LE '^(soak|throughput|browser)$$'

check-tsan: $(TSAN)/build.ninja
	$(CMAKE) --build $(TSAN) -j $(JOBS)
	cd $(TSAN) && $(CTEST) -L concurrency

# Only what `ctest -L nopool` runs (tests/rollback/frame_path.cmake): the whole
# tree would double this step's build time for tests that never run here.
NOPOOL_TARGETS = daqd test_acq test_acq_knobs
check-nopool: $(NOPOOL)/build.ninja
	$(CMAKE) --build $(NOPOOL) -j $(JOBS) --target $(NOPOOL_TARGETS)
	cd $(NOPOOL) && $(CTEST) -L nopool

check: deps
	$(MAKE) --no-print-directory check-release
	$(MAKE) --no-print-directory check-asan
	$(MAKE) --no-print-directory check-tsan
	$(MAKE) --no-print-directory check-nopool
	$(MAKE) --no-print-directory fuzz-smoke
	@echo "make check: all suites passed (release, asan+ubsan, tsan, nopool, fuzz-smoke)"

# The fuzz target is a separate clang project (tests/fuzz/CMakeLists.txt).
$(FUZZ)/build.ninja:
	$(CMAKE) -S tests/fuzz -B $(FUZZ) $(GEN) -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo

fuzz-build: $(FUZZ)/build.ninja
	$(CMAKE) --build $(FUZZ) -j $(JOBS)
	@mkdir -p $(FUZZ)/corpus $(FUZZ)/corpus-rpc

fuzz-smoke: fuzz-build
	$(FUZZ_RUN) -max_total_time=20
	$(FUZZ_RPC_RUN) -max_total_time=20

fuzz: fuzz-build
	$(FUZZ_RUN) -max_total_time=$(FUZZ_SECONDS)

fuzz-rpc: fuzz-build
	$(FUZZ_RPC_RUN) -max_total_time=$(FUZZ_SECONDS)

bench: deps build
	$(REL)/bench/daq-bench pool
	$(REL)/bench/daq-bench frames
	$(REL)/bench/daq-bench grpc
	$(REL)/bench/daq-bench aravis
	$(REL)/bench/daq-bench record
	$(REL)/bench/daq-bench view
	$(REL)/bench/daq-bench sync
	$(REL)/bench/daq-bench tap

clean:
	rm -rf $(BUILD)
