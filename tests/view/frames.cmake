# tests/view/frames.cmake - the live view's daemon side (issue 14): the
# binary frame endpoint (header v1, bin 1/2/4 pixels against the sim
# pattern, crops, 8-bit, LZ4, after/wait_ms across a stream restart), every
# error text, the status JSON against gRPC, the viewers gauge and metrics,
# and the compiled-in page's headers (tests/integration/test_view_frames.py,
# one daqd with two small sim cameras, ~8 s).  Included from
# tests/CMakeLists.txt; runs in the ASan suite too.
if(TARGET daqd)
  add_test(NAME view.frames
           COMMAND ${DAQ_PY} ${DAQ_IT}/test_view_frames.py $<TARGET_FILE:daqd>
           WORKING_DIRECTORY ${DAQ_IT})
  set_tests_properties(view.frames PROPERTIES LABELS "integration;view" TIMEOUT 60)
endif()
