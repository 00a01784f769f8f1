# tests/hardening/unit.cmake - the hardened systemd unit (issue 12, deliverable 9).
# hardening.unit_file configures packaging/daqd.service.in with ExecStart on
# the built daqd, runs `systemd-analyze verify` and `security --offline=true`
# (fails above exposure 2.0; measured 1.6), checks daqd.sysusers.conf with
# systemd-sysusers --root, and runs daqd (check-config, validate, record,
# daemon) under the unit's seccomp filter, MDWE, empty bounding set and
# no-new-privileges as an unprivileged user.  Needs systemd-analyze (Debian:
# systemd); the sandbox part needs root to change user and is skipped
# otherwise.  Included from tests/CMakeLists.txt (DAQ_WITH_SERVER).
if(TARGET daqd)
  add_test(NAME hardening.unit_file
           COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_unit_file.sh
                   $<TARGET_FILE_DIR:daqd> ${PROJECT_SOURCE_DIR})
  set_tests_properties(hardening.unit_file PROPERTIES LABELS "integration" TIMEOUT 300)
endif()
# LeakSanitizer stops the world with ptrace-like calls the unit's seccomp
# filter refuses, and ASan makes mlock a no-op: under ASan the sandboxed
# runs check everything but leaks (the rest of the suite checks those) and
# the pool's lock.
if(TARGET daqd AND DAQ_SANITIZE STREQUAL "address")
  set_tests_properties(hardening.unit_file PROPERTIES ENVIRONMENT
                       "ASAN_OPTIONS=abort_on_error=1:detect_leaks=0;DAQ_TEST_SANITIZED=1")
endif()
