# tests/hardening/health.cmake - honest health (issue 12, deliverable 5).
# hardening.health starts a real daqd twice: a sim camera failing mid-stream
# (fault.fail_after) and a pvcam camera absent at start (no library), and
# checks /healthz (503 with the JSON naming the device, state and reason),
# grpc.health.v1 Check and Watch ("", daq.HardwareService,
# daq.HardwareService/<id>) and the ERROR log line.  ~3 s.  Included from
# tests/CMakeLists.txt (DAQ_WITH_SERVER).
if(TARGET daqd)
  add_test(NAME hardening.health
           COMMAND ${DAQ_PY} ${DAQ_IT}/test_health.py $<TARGET_FILE:daqd>
           WORKING_DIRECTORY ${DAQ_IT})
  set_tests_properties(hardening.health PROPERTIES LABELS "integration;hardening" TIMEOUT 120)
endif()
