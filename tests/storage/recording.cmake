# tests/storage/recording.cmake - issue 11's acceptance tests: a real daqd
# records through its StorageService and h5py reads the files back
# (tests/integration/test_recording.py, one ctest entry per test class).
#
# Included from tests/CMakeLists.txt (CMAKE_CURRENT_SOURCE_DIR = tests/).
# Sizes: 2048² frames in the release build, DAQ_TEST_FRAME_SIDE (512) in the
# sanitizer builds.  The big ones load both cores and memory (recording.codecs
# keeps up to 1.7 GB queued for gzip and writes 1.6 GB files into /dev/shm;
# recording.disk writes 2 GB onto the build's file system at 210 MB/s), and the
# loss-counting ones measure timing: those run alone (RUN_SERIAL).
if(NOT DAQ_WITH_SERVER)
  return() # needs daqd
endif()

set(DAQ_REC_TEST ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_recording.py)
set(DAQ_REC_ENV DAQ_TEST_DISK_DIR=${CMAKE_CURRENT_BINARY_DIR}/recording-disk ${DAQ_TEST_ENV})

# name   test class   timeout (s)   serial
set(DAQ_REC_CASES
    "codecs Codecs 900 1"
    "disk Disk 600 1"
    "swmr_reader Swmr 300 0"
    "kill9 Kill9 300 0"
    "slow_disk SlowDisk 300 1"
    "escapes Escapes 300 0"
    "two_streams TwoStreams 300 1")
foreach(case ${DAQ_REC_CASES})
  separate_arguments(f UNIX_COMMAND "${case}")
  list(GET f 0 name)
  list(GET f 1 class)
  list(GET f 2 timeout)
  list(GET f 3 serial)
  add_test(NAME recording.${name} COMMAND ${DAQ_PY} ${DAQ_REC_TEST} $<TARGET_FILE:daqd> ${class}
           WORKING_DIRECTORY ${DAQ_IT})
  set_tests_properties(recording.${name} PROPERTIES LABELS "integration" TIMEOUT ${timeout}
                       ENVIRONMENT "${DAQ_REC_ENV}")
  if(serial)
    set_tests_properties(recording.${name} PROPERTIES RUN_SERIAL TRUE)
  endif()
endforeach()

# ENOSPC: the daemon and the test inside a private mount namespace with a
# 64 MiB tmpfs as the storage root; skipped (77) where none can be made.
add_test(NAME recording.enospc
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/storage/mount_ns.sh ${DAQ_PY} ${DAQ_REC_TEST}
                 $<TARGET_FILE:daqd> Enospc
         WORKING_DIRECTORY ${DAQ_IT})
set_tests_properties(recording.enospc PROPERTIES LABELS "integration" TIMEOUT 300
                     SKIP_RETURN_CODE 77 ENVIRONMENT "${DAQ_REC_ENV}")
