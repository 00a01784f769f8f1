# tests/hardening/tls.cmake - TLS, bearer tokens, the audit log, HTTP auth
# and explicit IPv4/IPv6 binding (issue 12, deliverable 8).  hardening.tls
# makes a CA and certificates with openssl, starts real daqd processes on
# loopback (the family checks inside `unshare -n`, with `ss`), and talks to
# them with the Python client.  ~10 s.  Included from tests/CMakeLists.txt
# (DAQ_WITH_SERVER).
if(TARGET daqd)
  add_test(NAME hardening.tls
           COMMAND ${DAQ_PY} ${DAQ_IT}/test_tls.py $<TARGET_FILE:daqd>
           WORKING_DIRECTORY ${DAQ_IT})
  set_tests_properties(hardening.tls PROPERTIES LABELS "integration;hardening" TIMEOUT 180)
endif()

# The tokens file, the bearer check and the bind lists, without a network.
daq_cmocka_test(rpc_auth unit/test_rpc_auth.c LABELS unit LIBS daq_server_static)
if(TARGET test_rpc_auth) # internal headers
  target_include_directories(test_rpc_auth PRIVATE ${PROJECT_SOURCE_DIR}/src)
endif()
