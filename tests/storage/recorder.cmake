# The recorder core on a sim camera, read back with the HDF5 C API.
daq_cmocka_test(recorder unit/test_recorder.c LABELS unit concurrency
                LIBS daq_storage_static PkgConfig::HDF5)
