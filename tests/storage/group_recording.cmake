# tests/storage/group_recording.cmake - a group recording (issue 15
# deliverable 5, ADR 0011 decision 6: "a group recording writes matched
# frames with one index"), included from tests/CMakeLists.txt with the other
# storage parts:
#   sync_index.*             the join by (trigger_index, rank), pure
#                            (src/storage/sync_index.c; white-box: sees src/)
#   storage.group_recording  a real daqd, two sim cameras on one line (one
#                            missing every 10th pulse) in a [[sync_groups]]
#                            group; StartRecording with metadata sync_group;
#                            h5py checks /entry/sync/<group> against numpy's
#                            intersection of the recorded trigger indices
#                            (tests/integration/test_group_recording.py, ~5 s)
daq_cmocka_test(sync_index unit/test_sync_index.c LABELS unit LIBS daq_storage_static)
if(TARGET test_sync_index)
  target_include_directories(test_sync_index PRIVATE ${PROJECT_SOURCE_DIR}/src)
endif()
if(TARGET daqd AND DAQ_WITH_SERVER)
  add_test(NAME storage.group_recording
           COMMAND ${DAQ_PY} ${DAQ_IT}/test_group_recording.py $<TARGET_FILE:daqd>
           WORKING_DIRECTORY ${DAQ_IT})
  set_tests_properties(storage.group_recording PROPERTIES LABELS "integration;trigger" TIMEOUT 120)
endif()
