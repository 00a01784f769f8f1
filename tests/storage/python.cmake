# tests/storage/python.cmake - the Python client as users install it: pip
# into a --system-site-packages venv offline, then record through a real daqd
# from the venv's interpreter and read the file back with h5py
# (tests/integration/test_python_client.py).
#
# Included from tests/CMakeLists.txt (CMAKE_CURRENT_SOURCE_DIR = tests/).
# Small frames (256x192 at 50 FPS): the same in every build.  The pip build
# writes only into its own temporary directories (clients/python/setup.py),
# so it may run beside anything else.
if(NOT DAQ_WITH_SERVER)
  return() # needs daqd
endif()

add_test(NAME storage.python_client
         COMMAND ${DAQ_PY} ${DAQ_IT}/test_python_client.py $<TARGET_FILE:daqd>
         WORKING_DIRECTORY ${DAQ_IT})
set_tests_properties(storage.python_client PROPERTIES LABELS "integration" TIMEOUT 600)
