# tests/tap/unit.cmake - the tap server and the C reader in process (ADR 0012):
# a real server on a Unix socket in a temp dir, a sim camera, raw protocol
# clients and the libdaq reader.  Included from tests/CMakeLists.txt.
if(TARGET daq_server_static)
  daq_cmocka_test(tap_server unit/test_tap_server.c LABELS unit concurrency LIBS daq_server_static)
  daq_cmocka_test(tap_reader unit/test_tap_reader.c LABELS unit concurrency LIBS daq_server_static)
endif()
