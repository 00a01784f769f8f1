# tests/tap/daemon.cmake - issue 16's acceptance against a real daqd: the
# zero-copy tap read by daq_client.tap.TapReader (tests/integration/
# test_tap.py; ADR 0012, docs/tap.md).  One daemon per test class.
#   tap.daemon           1,000 frames equal to the sim pattern as read-only
#                        views; a SIGKILLed reader's leases back within 1 s;
#                        a stalled reader costs a stream and a recording
#                        nothing.  512x512 at 250 FPS: about 14 s.  Keeping
#                        up and the 1 s bound are timing: not in sanitizer
#                        builds.
#   tap.daemon_security  a uid not allowed gets ERROR NOT_ALLOWED and no fd;
#                        a write into the mapping faults in the reader, not
#                        in daqd.  About 5 s, every build.
#   tap.daemon_heavy     3 readers + a gRPC stream + a recording on 8 MiB
#                        frames at 100 FPS for 5 s: loss 0.  Loads both
#                        cores and writes 1.7 GB into /dev/shm: run alone.
# Included from tests/CMakeLists.txt.
if(TARGET daqd)
  set(DAQ_TAP_IT ${DAQ_IT}/test_tap.py)
  add_test(NAME tap.daemon_security
           COMMAND ${DAQ_PY} ${DAQ_TAP_IT} $<TARGET_FILE:daqd> NotAllowed ReadOnly
           WORKING_DIRECTORY ${DAQ_IT})
  set_tests_properties(tap.daemon_security PROPERTIES LABELS "integration;tap" TIMEOUT 120)
  if(DAQ_SANITIZE STREQUAL "none")
    add_test(NAME tap.daemon
             COMMAND ${DAQ_PY} ${DAQ_TAP_IT} $<TARGET_FILE:daqd> Frames1000 Killed Stalled
             WORKING_DIRECTORY ${DAQ_IT})
    set_tests_properties(tap.daemon PROPERTIES LABELS "integration;tap" TIMEOUT 120)
    add_test(NAME tap.daemon_heavy COMMAND ${DAQ_PY} ${DAQ_TAP_IT} $<TARGET_FILE:daqd> Heavy
             WORKING_DIRECTORY ${DAQ_IT})
    set_tests_properties(tap.daemon_heavy PROPERTIES LABELS "integration;tap" TIMEOUT 120
                         RUN_SERIAL TRUE)
  endif()
endif()
