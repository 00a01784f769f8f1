# tests/storage/grpc.cmake - rust-daq's StorageService against a real daqd
# (tests/integration/test_storage_grpc.py): every RPC's answers and errors,
# escapes through output_directory and name, the catalogue across a restart,
# StreamRecordingProgress's interval.  Small frames (64x64 at 100 FPS): light
# enough to run beside other tests; its timing checks use the server's own
# timestamps.
#
# Included from tests/CMakeLists.txt (CMAKE_CURRENT_SOURCE_DIR = tests/).
if(NOT DAQ_WITH_SERVER)
  return() # needs daqd
endif()

add_test(NAME storage.grpc_api
         COMMAND ${DAQ_PY} ${DAQ_IT}/test_storage_grpc.py $<TARGET_FILE:daqd>
         WORKING_DIRECTORY ${DAQ_IT})
set_tests_properties(storage.grpc_api PROPERTIES LABELS "integration" TIMEOUT 600)
