# tests/rollback/frame_path.cmake - the frame path of the rollback plan (issue 13,
# deliverable 6): the test-only knobs the symptom tests inject faults with
# (acq_knobs.*, tests/unit/test_acq_knobs.c), and the -DDAQ_FRAME_POOL=OFF
# build's test set, label "nopool" (`make check-nopool`, ADR 0008).
# Included from tests/CMakeLists.txt.
daq_cmocka_test(acq_knobs unit/test_acq_knobs.c LABELS unit)

# ---- the no-pool build -------------------------------------------------------------
# `make check-nopool` runs `ctest -L nopool` in a -DDAQ_FRAME_POOL=OFF build:
# the mock/sim daemon and the validate smoke checkpoint against it
# (nopool.used_pool), the Python client recording through it, and the
# engine and knob unit cases that do not assume a pool.  Cases that assert
# pool behaviour (hit rate, slots, exhaustion, the live toggle) stay out.
# Measured on 2 shared cores: fresh build 4 min 15 s (2 min 8 s of CPU),
# these 21 tests 36 s (ADR 0008).
if(NOT DAQ_FRAME_POOL AND TARGET daqd)
  add_test(NAME nopool.used_pool
           COMMAND ${DAQ_PY} ${DAQ_IT}/test_nopool.py $<TARGET_FILE:daqd>
           WORKING_DIRECTORY ${DAQ_IT})
  set_tests_properties(nopool.used_pool PROPERTIES LABELS "integration;rollback;nopool"
                       TIMEOUT 120)
endif()
set(DAQ_NOPOOL_TESTS
    storage.python_client
    acq.injected_jumps_counted_exactly acq.injected_duplicates_skipped
    acq.injected_zero_frames_skipped acq.injected_backwards_counted
    acq.slow_drop_oldest_never_misses acq.never_reading_lossless_costs_its_bound
    acq.pvcam_use_pool_env_off acq.daq_use_pool_env_off acq.stall_trips_watchdog_then_restart
    acq.readout_failure_stops_cleanly acq.stop_during_lossless_wait
    acq.no_overwrite_overruns_are_lost acq.overwrite_mode_delivers_newest
    acq.interval_histogram_holds_the_period
    acq_knobs.bad_values_refuse_creation acq_knobs.set_knobs_warn
    acq_knobs.crash_knob_aborts_a_pool_start acq_knobs.crash_knob_spares_a_heap_start
    acq_knobs.use_pool_is_false_by_construction)
foreach(t ${DAQ_NOPOOL_TESTS})
  if(TEST ${t})
    set_property(TEST ${t} APPEND PROPERTY LABELS nopool)
  endif()
endforeach()
