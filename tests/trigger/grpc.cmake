# tests/trigger/grpc.cmake - Arm, Trigger and the trigger parameters through
# gRPC against a real daqd (tests/integration/test_trigger.py; ADR 0011):
# 1000 software triggers -> exactly 1000 frames on a StreamFrames stream with
# trigger_index 1..1000, the contract's refusal texts and codes,
# software_first, frames_per_trigger, the counters on /metrics, daq_client's
# arm()/trigger() and CLI, and a client with stubs built from rust-daq's
# messages only.  Three daemons with a 32 x 32 sim camera (exposure 0.1 ms):
# about 10 s.  Included from tests/CMakeLists.txt.
if(TARGET daqd)
  add_test(NAME trigger.grpc
           COMMAND ${DAQ_PY} ${DAQ_IT}/test_trigger.py $<TARGET_FILE:daqd>
           WORKING_DIRECTORY ${DAQ_IT})
  set_tests_properties(trigger.grpc PROPERTIES LABELS "integration;trigger" TIMEOUT 120)
endif()
