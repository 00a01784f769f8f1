# Path confinement and the catalogue of recordings (src/storage/paths.c,
# src/storage/catalog.c): white-box tests of the internal headers, so they
# see src/.  Each case works in its own mkdtemp directory under /tmp.
daq_cmocka_test(storage_paths unit/test_storage_paths.c LABELS unit LIBS daq_storage_static)
daq_cmocka_test(catalog unit/test_catalog.c LABELS unit LIBS daq_storage_static)
foreach(t test_storage_paths test_catalog)
  if(TARGET ${t})
    target_include_directories(${t} PRIVATE ${PROJECT_SOURCE_DIR}/src)
  endif()
endforeach()
