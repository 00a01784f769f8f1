# tests/hardening/bind.cmake - a non-loopback --bind needs TLS and tokens or
# --insecure (issue 12; with them: tls.cmake).  The --insecure case runs in a private network
# namespace only.
if(TARGET daqd)
  add_test(NAME hardening.bind COMMAND ${DAQ_PY} ${DAQ_IT}/test_bind.py $<TARGET_FILE:daqd>)
  set_tests_properties(hardening.bind PROPERTIES LABELS "integration" TIMEOUT 120)
endif()
