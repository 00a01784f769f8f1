# tests/hardening/stop.cmake - issue 12, deliverable 7: SIGTERM with active
# 2048² StreamFrames (DAQ_TEST_FRAME_SIDE in sanitizer builds), 100 tries of
# a real daqd: exit 0 within 2 s, readers end OK, a stalled client is
# cancelled (tests/integration/test_sigterm.py).  About 2 min; alone, since
# it times the stop.  Included from tests/CMakeLists.txt.
if(NOT DAQ_WITH_SERVER)
  return() # needs daqd
endif()
add_test(NAME hardening.sigterm COMMAND ${DAQ_PY} ${DAQ_IT}/test_sigterm.py $<TARGET_FILE:daqd>
         WORKING_DIRECTORY ${DAQ_IT})
set_tests_properties(hardening.sigterm PROPERTIES LABELS "integration" TIMEOUT 400 RUN_SERIAL TRUE
                     ENVIRONMENT "${DAQ_TEST_ENV}")
