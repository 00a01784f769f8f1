# tests/hardening/http.cmake - the metrics endpoint cannot be blinded (issue 12,
# deliverable 4).  hardening.http_slowloris starts a real daqd and holds 64
# sockets from 127.0.0.1 trickling one header byte per second (reconnecting when
# cut) for 12 s, over twice the 5 s request deadline, while /metrics and /healthz
# are scraped every 0.5 s from 127.0.0.2 (all < 1 s, 200) and from 127.0.0.1
# (>= 75 %); then daq_http_rejected_connections_total > 0 and the rejection log
# lines rate-limited.  ~15 s.  Included from tests/CMakeLists.txt (DAQ_WITH_SERVER).
if(TARGET daqd)
  add_test(NAME hardening.http_slowloris
           COMMAND ${DAQ_PY} ${DAQ_IT}/test_http_limits.py $<TARGET_FILE:daqd>
           WORKING_DIRECTORY ${DAQ_IT})
  set_tests_properties(hardening.http_slowloris PROPERTIES LABELS "integration;hardening"
                       TIMEOUT 120 RUN_SERIAL TRUE)
endif()
