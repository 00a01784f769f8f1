# tests/rollback/runbook.cmake - docs/rollback.md, run as written (issue 13,
# deliverable 7): every `sh` line of the operator's runbook against a real
# daqd (tests/integration/test_runbook.py).  ~21 s: two short pilots, a
# 5 s soak, two smokes, diagnose; RUN_SERIAL for the pilots' latency rule.
# Label throughput: not in the ASan run (Makefile, check-asan).
if(TARGET daqd)
  add_test(NAME rollback.runbook
           COMMAND ${DAQ_PY} ${DAQ_IT}/test_runbook.py $<TARGET_FILE:daqd> ${PROJECT_SOURCE_DIR}
           WORKING_DIRECTORY ${DAQ_IT})
  set_tests_properties(rollback.runbook PROPERTIES LABELS "integration;rollback;throughput" TIMEOUT 240
                       RUN_SERIAL TRUE)
endif()
