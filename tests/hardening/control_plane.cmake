# tests/hardening/control_plane.cmake - issue 12, deliverables 1 (unary calls
# on a worker pool, a camera start blocks nobody) and 2 (the memory budget,
# RSS returns after heap mode).
#  hardening.rpc_workers: tests/server/rpc_workers_server.c driven by grpcio
#    (tests/server/test_rpc_workers.py): lanes, "server busy", stop with
#    calls queued.  ~4 s.
#  hardening.control_plane: a real daqd (tests/integration/
#    test_control_plane.py): reads, a scrape and another camera's stream
#    while an 8192 x 4096 camera prefaults ~1 GiB; the issue's 6.6 GB
#    SetParameter sequence under memory_mb = 512; RSS after heap mode.  ~8 s,
#    up to 1.4 GB of RSS: alone.  Under sanitizers the RSS part is skipped
#    (their allocators do not use glibc's malloc_trim).
#  budget.*: the budget's guard and admission, and a camera's reads during
#    a driver start, on a real sim camera (tests/unit/test_budget.c).  ~1 s.
# Included from tests/CMakeLists.txt (DAQ_WITH_SERVER).
daq_cmocka_test(budget unit/test_budget.c LABELS unit concurrency)
target_include_directories(test_budget PRIVATE ${PROJECT_SOURCE_DIR}/src)
add_executable(rpc_workers_server server/rpc_workers_server.c)
target_include_directories(rpc_workers_server PRIVATE ${PROJECT_SOURCE_DIR}/src)
target_link_libraries(rpc_workers_server daq_server_static)
add_test(NAME hardening.rpc_workers
         COMMAND ${DAQ_PY} ${CMAKE_CURRENT_SOURCE_DIR}/server/test_rpc_workers.py
                 $<TARGET_FILE:rpc_workers_server>)
# Not under TSan (label concurrency): Debian's gRPC and abseil are not
# instrumented, and TSan reports races inside them (absl GraphCycles).
set_tests_properties(hardening.rpc_workers PROPERTIES LABELS "integration;hardening" TIMEOUT 120)
if(TARGET daqd)
  add_test(NAME hardening.control_plane
           COMMAND ${DAQ_PY} ${DAQ_IT}/test_control_plane.py $<TARGET_FILE:daqd>
           WORKING_DIRECTORY ${DAQ_IT})
  set(_cp_env "")
  if(NOT DAQ_SANITIZE STREQUAL "none")
    set(_cp_env "DAQ_TEST_SANITIZED=1")
  endif()
  set_tests_properties(hardening.control_plane PROPERTIES LABELS "integration;hardening"
                       TIMEOUT 180 RUN_SERIAL TRUE ENVIRONMENT "${_cp_env}")
endif()
