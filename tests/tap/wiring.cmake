# tests/tap/wiring.cmake - the tap as the daemon wires it (issue 16): [tap]
# in the config (errors with FILE:LINE:COL from check-config and at start),
# the socket (ready line tap="...", mode 0660, the default path naming the
# bound gRPC port, removed at stop, a socket it cannot make is fatal),
# GetRingBufferTapInfo (UNAVAILABLE with the tap off), the consumers of
# ListDevices and the live view's status (a gRPC stream, one raw HELLO
# reader; rust-daq's fields alone still parse), daq_tap_readers on
# /metrics, a clean stop while a reader holds leases.  Six daemons with a
# 32 x 32 sim camera: about 2 s.  Included from tests/CMakeLists.txt.
if(TARGET daqd)
  add_test(NAME tap.wiring
           COMMAND ${DAQ_PY} ${DAQ_IT}/test_tap_wiring.py $<TARGET_FILE:daqd>
           WORKING_DIRECTORY ${DAQ_IT})
  set_tests_properties(tap.wiring PROPERTIES LABELS "integration;tap" TIMEOUT 60)
endif()
