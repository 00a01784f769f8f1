# tests/rollback/diagnostics.cmake - the diagnostics of the rollback plan (issue 13,
# deliverable 5).  plot.* are the cmocka cases of tests/unit/test_plot.c:
# daqd's PNG writer checked with zlib (CRCs, inflate) and its plots and
# font.  rollback.diagnose runs a real daqd streaming a sim camera, takes a
# bundle with `daqd diagnose`, validates every file and PNG (png_check.py),
# tokens, a refused connection, and --log-file with a `mv` + SIGHUP
# rotation (tests/integration/test_diagnose.py, ~15 s).  The log ring's
# cases are in tests/unit/test_log.c (log.ring_*).  Included from
# tests/CMakeLists.txt.
find_package(ZLIB QUIET)
if(ZLIB_FOUND)
  daq_cmocka_test(plot unit/test_plot.c LABELS unit)
  if(TARGET test_plot)
    # plot.c belongs to the daqd program, not to libdaq: compiled in here.
    target_sources(test_plot PRIVATE ${PROJECT_SOURCE_DIR}/src/daqd/plot.c)
    target_include_directories(test_plot PRIVATE ${PROJECT_SOURCE_DIR}/src)
    target_link_libraries(test_plot ZLIB::ZLIB m)
  endif()
endif()
if(TARGET daqd)
  add_test(NAME rollback.diagnose
           COMMAND ${DAQ_PY} ${DAQ_IT}/test_diagnose.py $<TARGET_FILE:daqd>
           WORKING_DIRECTORY ${DAQ_IT})
  set_tests_properties(rollback.diagnose PROPERTIES LABELS "integration;rollback" TIMEOUT 60)
endif()
