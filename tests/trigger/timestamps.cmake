# tests/trigger/timestamps.cmake - timestamps end to end (issue 15, ADR
# 0011), tests/integration/test_timestamps.py against real daqd processes
# (two small sim cameras each):
#   trigger.timestamps   FrameData fields 1000..1006 and trigger_mode over
#                        gRPC, the recorder's per-frame datasets (h5py), the
#                        trigger families on /metrics (~3 s)
#   trigger.clock_drift  the acceptance "a sim camera clock drifting by a
#                        known ppm is fitted within 5 %, the residual metric
#                        reported" (~10 s).  Labelled throughput, so not
#                        under ASan (check-asan): its verdict is a timing
#                        figure a 2-3x slower daemon would blur.
# The clock model's own cases are the unit test clock_model.*.  Included
# from tests/CMakeLists.txt.
if(TARGET daqd)
  add_test(NAME trigger.timestamps
           COMMAND ${DAQ_PY} ${DAQ_IT}/test_timestamps.py $<TARGET_FILE:daqd> Timestamps
           WORKING_DIRECTORY ${DAQ_IT})
  set_tests_properties(trigger.timestamps PROPERTIES LABELS "integration;trigger" TIMEOUT 90)
  add_test(NAME trigger.clock_drift
           COMMAND ${DAQ_PY} ${DAQ_IT}/test_timestamps.py $<TARGET_FILE:daqd> ClockDrift
           WORKING_DIRECTORY ${DAQ_IT})
  # Alone: it fits a clock from 10 s of arrival times, and a neighbour's
  # load skews the fit (75 ppm for a true 80 once, beside other tests).
  set_tests_properties(trigger.clock_drift PROPERTIES LABELS "integration;trigger;throughput"
                       TIMEOUT 90 RUN_SERIAL TRUE)
endif()
