# tests/view/tap.cmake - the live view's locking in one process (issue 14):
# tests/unit/test_view_tap.c runs a sim camera, the view and a real
# daq_http server on 127.0.0.1 with 6 long-polling clients, a status
# reader, stream restarts and the idle unsubscribe (DAQ_TEST_VIEW_IDLE_MS,
# set by the test), then checks the shutdown wake and that the pool gets
# every frame back.  Labelled concurrency: make check runs it under TSan
# (daqd itself never runs there) and ASan too.  ~2 s in release, TSan and ASan
# alike (the timeline is the test's own sleeps).
# Included from tests/CMakeLists.txt (DAQ_WITH_SERVER).
daq_cmocka_test(view_tap unit/test_view_tap.c LABELS unit concurrency view LIBS daq_server_static)
if(TARGET test_view_tap) # "view/view.h" is internal to the daemon
  target_include_directories(test_view_tap PRIVATE ${PROJECT_SOURCE_DIR}/src)
endif()
