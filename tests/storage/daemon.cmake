# tests/storage/daemon.cmake - the daemon's side of recording, included by
# tests/CMakeLists.txt when libdaq-storage is built:
#   metrics.recorder_*        the daq_recorder_* families against a real
#                             recorder (cases in unit/test_metrics.c, which
#                             skip them in a build without libdaq-storage)
#   metrics.promtool_recorder a real exposition with a recording, through
#                             promtool and prometheus_client
#   storage.record_cli        `daqd record` with every codec, read back by h5py,
#                             and its exit codes (usage 64, loss 1, --allow-loss 0)
if(TARGET test_metrics)
  target_compile_definitions(test_metrics PRIVATE DAQ_WITH_STORAGE=1)
endif()
if(TARGET metrics_dump)
  target_compile_definitions(metrics_dump PRIVATE DAQ_WITH_STORAGE=1)
  add_test(NAME metrics.promtool_recorder
           COMMAND ${DAQ_PY} ${CMAKE_CURRENT_LIST_DIR}/../metrics/check_exposition.py --storage
                   $<TARGET_FILE:metrics_dump>)
  set_tests_properties(metrics.promtool_recorder PROPERTIES LABELS unit TIMEOUT 300)
endif()
if(TARGET daqd)
  add_test(NAME storage.record_cli
           COMMAND ${DAQ_PY} ${DAQ_IT}/test_record_cli.py $<TARGET_FILE:daqd> ${PROJECT_SOURCE_DIR}
           WORKING_DIRECTORY ${DAQ_IT})
  set_tests_properties(storage.record_cli PROPERTIES LABELS integration TIMEOUT 600)
endif()
