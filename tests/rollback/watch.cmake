# tests/rollback/watch.cmake - the rollback plan's live symptom watch and
# automatic rollback (issue 13, deliverables 2 and 3).
# watch.* are the cmocka cases of tests/unit/test_watch.c: the judgement
# (windows, warm-up, hysteresis, counter resets, RSS baseline, when auto
# acts) with a fake clock, and the [rollback] table.  rollback.symptoms
# runs real daqds, each with one symptom injected (tiny pool, alloc delay,
# sim frame jumps, a leaking consumer) plus auto-rollback, concurrently
# (~30 s); rollback.clean is the clean 60 s run that must raise nothing (label
# soak: a minute of waiting, release build only, like validate.soak_60s)
# (tests/integration/test_symptoms.py).  Included from tests/CMakeLists.txt.
daq_cmocka_test(watch unit/test_watch.c LABELS unit)
if(TARGET daqd)
  add_test(NAME rollback.symptoms
           COMMAND ${DAQ_PY} ${DAQ_IT}/test_symptoms.py $<TARGET_FILE:daqd> symptoms
           WORKING_DIRECTORY ${DAQ_IT})
  set_tests_properties(rollback.symptoms PROPERTIES LABELS "integration;rollback" TIMEOUT 90)
  add_test(NAME rollback.clean
           COMMAND ${DAQ_PY} ${DAQ_IT}/test_symptoms.py $<TARGET_FILE:daqd> clean
           WORKING_DIRECTORY ${DAQ_IT})
  set_tests_properties(rollback.clean PROPERTIES LABELS "integration;rollback;soak" TIMEOUT 120)
endif()
