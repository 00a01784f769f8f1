# daq - top-level entry points.  The real build is CMake (+ Ninja); this file
# only names the three builds and the commands people type.
#
#   make          build (release, with debug info) into build/release
#   make run      install missing Debian packages, build, run daqd on config/demo.toml
#   make install  daqd, libdaq + headers + pkg-config, configs, systemd unit (PREFIX=/usr/local)
#   make check    the full suite: plain, ASan+UBSan, and TSan (concurrency)
#   make bench    build and run the benchmarks
#   make clean

BUILD    ?= build
JOBS     ?= $(shell nproc)
CMAKE    ?= cmake
GEN      ?= -G Ninja
CTEST     = ctest --output-on-failure -j$(JOBS) --timeout 600

REL  = $(BUILD)/release
ASAN = $(BUILD)/asan
TSAN = $(BUILD)/tsan

# Sanitizer reports are failures, never warnings.
export ASAN_OPTIONS  = abort_on_error=1:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1
export UBSAN_OPTIONS = print_stacktrace=1:halt_on_error=1
export TSAN_OPTIONS  = halt_on_error=1:second_deadlock_stack=1:exitcode=66

PREFIX   ?= /usr/local

.PHONY: all build run check check-release check-asan check-tsan bench deps clean install

all: build

deps:
	@scripts/install-deps.sh

$(REL)/build.ninja:
	$(CMAKE) -S . -B $(REL) $(GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo
$(ASAN)/build.ninja:
	$(CMAKE) -S . -B $(ASAN) $(GEN) -DCMAKE_BUILD_TYPE=Debug -DDAQ_SANITIZE=address -DDAQ_BENCH=OFF
$(TSAN)/build.ninja:
	$(CMAKE) -S . -B $(TSAN) $(GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDAQ_SANITIZE=thread -DDAQ_BENCH=OFF

build: $(REL)/build.ninja
	$(CMAKE) --build $(REL) -j $(JOBS)

run: deps build
	$(REL)/daqd daemon --hardware-config config/demo.toml

install: build
	$(CMAKE) --install $(REL) --prefix $(PREFIX)

check-release: build
	cd $(REL) && $(CTEST)

check-asan: $(ASAN)/build.ninja
	$(CMAKE) --build $(ASAN) -j $(JOBS)
	cd $(ASAN) && $(CTEST) -LE soak

check-tsan: $(TSAN)/build.ninja
	$(CMAKE) --build $(TSAN) -j $(JOBS)
	cd $(TSAN) && $(CTEST) -L concurrency

check: deps
	$(MAKE) --no-print-directory check-release
	$(MAKE) --no-print-directory check-asan
	$(MAKE) --no-print-directory check-tsan
	@echo "make check: all suites passed (release, asan+ubsan, tsan)"

bench: deps build
	$(REL)/bench/daq-bench pool
	$(REL)/bench/daq-bench frames

clean:
	rm -rf $(BUILD)
