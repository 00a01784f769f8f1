# tests/hardening/recovery.cmake - devices come back (issue 12, deliverable 6).
# hardening.recovery runs a real daqd four times: a sim camera switched off
# mid-stream and on again (DAQ_TEST_SIM_OFF_DIR), one switched off at
# start, a pvcam camera whose library appears later (the fake libpvcam),
# and [recovery] enabled = false; checks streams, /healthz, GetDeviceState,
# ListDevices, the log's backoff and /metrics (tests/integration/
# test_recovery.py).  ~8 s.  recovery.* are the cmocka cases of
# tests/unit/test_recovery.c (config, backoff, the thread against sim
# cameras; also under TSan).  Included from tests/CMakeLists.txt.
if(TARGET daqd)
  add_test(NAME hardening.recovery
           COMMAND ${DAQ_PY} ${DAQ_IT}/test_recovery.py $<TARGET_FILE:daqd>
                   $<TARGET_SONAME_FILE:fake_pvcam>
           WORKING_DIRECTORY ${DAQ_IT})
  set_tests_properties(hardening.recovery PROPERTIES LABELS "integration;hardening" TIMEOUT 120)
endif()
daq_cmocka_test(recovery unit/test_recovery.c LABELS unit concurrency)
