# tests/storage/codec.cmake - the recorder's chunk codecs (src/storage/codec.c).
#
# codec.*        cmocka: every codec decoded with zlib / liblz4 and a
#                bit-by-bit bitshuffle, framing, edge sizes, names, filters,
#                and datasets written with H5Dwrite_chunk read back by libhdf5.
# codec.h5py     a file written by codec_h5write (the recorder's way: chunks
#                encoded by us, H5Dwrite_chunk) read by Debian's h5py with
#                Debian's filter plugins, frame by frame against the raw
#                truth, and its chunks compared byte for byte with what
#                bitshuffle, hdf5plugin and h5py's gzip write for the same
#                frames.  Debian's libhdf5 looks in its plugin directory by
#                itself: no HDF5_PLUGIN_PATH is set.
daq_cmocka_test(codec unit/test_codec.c LABELS unit LIBS daq_storage_static)
if(TARGET test_codec)
  target_include_directories(test_codec PRIVATE ${PROJECT_SOURCE_DIR}/src)
endif()

add_executable(codec_h5write storage/codec_h5write.c)
target_include_directories(codec_h5write PRIVATE ${PROJECT_SOURCE_DIR}/src)
target_link_libraries(codec_h5write daq_storage_static daq_static)
add_test(NAME codec.h5py
         COMMAND ${DAQ_PY} ${CMAKE_CURRENT_SOURCE_DIR}/storage/check_codec_h5.py
                 $<TARGET_FILE:codec_h5write> ${CMAKE_CURRENT_BINARY_DIR}/codec_h5py)
set_tests_properties(codec.h5py PROPERTIES LABELS unit TIMEOUT 300)
