# tests/trigger/sync_daemon.cmake - a [[sync_groups]] group in a real daqd
# (issue 15, ADR 0011): two sim cameras on one line pulsed at 200 Hz by a
# member's generator, one missing every 50th pulse; the group's metrics name
# the missing camera with exactly the misses the sim injected, the cameras'
# trigger counters agree, the skew quantiles are there; a group naming an
# unknown device is refused at file:line:col (tests/integration/
# test_sync_daemon.py, ~4 s).  Included from tests/CMakeLists.txt.
if(TARGET daqd)
  add_test(NAME trigger.sync_daemon
           COMMAND ${DAQ_PY} ${DAQ_IT}/test_sync_daemon.py $<TARGET_FILE:daqd>
           WORKING_DIRECTORY ${DAQ_IT})
  set_tests_properties(trigger.sync_daemon PROPERTIES LABELS "integration;trigger" TIMEOUT 90)
endif()
