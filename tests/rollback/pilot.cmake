# tests/rollback/pilot.cmake - the pilot checkpoint (issue 13, deliverable 1).
# rollback.pilot runs a real `daqd validate --checkpoint pilot` seven times
# on sim cameras: clean PASS, ROLLBACK with DAQ_TEST_POOL_SLOW_PCT=10 (and
# its diagnostics bundle), baseline save / compare / doctored (+20 % fps)
# / other machine, loss -> FAIL, malformed baselines -> 64; every report's
# versions, config digest and machine facts (tests/integration/
# test_pilot.py).  ~40 s; RUN_SERIAL: it measures throughput.
if(TARGET daqd)
  add_test(NAME rollback.pilot
           COMMAND ${DAQ_PY} ${DAQ_IT}/test_pilot.py $<TARGET_FILE:daqd>
           WORKING_DIRECTORY ${DAQ_IT})
  set_tests_properties(rollback.pilot PROPERTIES LABELS "integration;rollback;throughput" TIMEOUT 90
                       RUN_SERIAL TRUE)
endif()
