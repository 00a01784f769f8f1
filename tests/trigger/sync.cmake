# Sync groups (issue 15 deliverable 5, ADR 0011 decision 6): two sim cameras
# on one simulated trigger line, 10,000 pulses 300 us apart (3 s), camera 2
# missing every 3000th: `daq-bench sync --check` exits 1 unless exactly 9,997
# sets matched, the 3 mismatches are the 3 injected misses (on camera 2),
# nothing was lost on the way and the skew p99 is within the injected jitter
# (100 us) + 100 us.  The matcher's own cases are unit tests (tests/unit/
# test_sync.c, test_sync_config.c).
#
# Alone (RUN_SERIAL): its skew verdict is the sensor threads' wake-up delay
# on top of the jitter, which a neighbour's CPU load would stretch.
# bench/ is added after tests/ (the top CMakeLists.txt): its condition, not
# TARGET daq-bench, which does not exist yet here.
if(DAQ_BENCH AND DAQ_WITH_SERVER AND DAQ_WITH_ARAVIS)
  add_test(NAME trigger.sync_bench
           COMMAND $<TARGET_FILE:daq-bench> sync --json --triggers 10000 --check)
  set_tests_properties(trigger.sync_bench PROPERTIES LABELS "trigger" TIMEOUT 120 RUN_SERIAL TRUE)
endif()
