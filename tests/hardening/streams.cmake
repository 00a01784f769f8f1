# tests/hardening/streams.cmake - issue 12, deliverables 1 (second half) and
# 3: 3,000 parameter-change subscribers and 100 frame streams on a bounded
# number of daqd threads (< 40) with < 5 % idle CPU, 0 frames lost; a client
# that stops reading ended after [limits] stall_timeout_ms; the global,
# per-client, subscriber and message-size refusals with their numbers
# (tests/integration/test_stream_limits.py).  About 30 s; alone, since it
# measures CPU.  Included from tests/CMakeLists.txt.
if(NOT DAQ_WITH_SERVER)
  return() # needs daqd
endif()
add_test(NAME hardening.streams
         COMMAND ${DAQ_PY} ${DAQ_IT}/test_stream_limits.py $<TARGET_FILE:daqd>
         WORKING_DIRECTORY ${DAQ_IT})
set_tests_properties(hardening.streams PROPERTIES LABELS "integration;hardening" TIMEOUT 240
                     RUN_SERIAL TRUE ENVIRONMENT "${DAQ_TEST_ENV}")

# The scheduler itself: no lost wake, no overlapping steps, timers in order,
# done once (< 1 s; under TSan with the concurrency label).
daq_cmocka_test(stream_sched unit/test_stream_sched.c LABELS unit concurrency
                LIBS daq_server_static)
if(TARGET test_stream_sched)
  target_include_directories(test_stream_sched PRIVATE ${PROJECT_SOURCE_DIR}/src)
endif()
