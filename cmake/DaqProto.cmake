# cmake/DaqProto.cmake - the C code of daq's protocol, generated once per
# build tree: daq_proto_c(<source root> <out var>) adds the rule that writes
# <build>/gen/daq_c.pb-c.{c,h} and health.pb-c.{c,h} and sets <out var> to
# the two .c files (their directory: DAQ_GEN).  Used by the main build
# (libdaq-server) and the fuzz targets (tests/fuzz).
#
# protoc-c 1.4.1 rejects proto3 `optional`; proto/proto_c_rewrite.py turns
# each into the equivalent one-field oneof (same wire format) first.
# Generated code is not ours to fix: no -Werror on it.
function(daq_proto_c root out)
  find_program(PROTOC_C protoc-c REQUIRED)
  set(gen ${CMAKE_BINARY_DIR}/gen)
  file(MAKE_DIRECTORY ${gen})
  add_custom_command(
    OUTPUT ${gen}/daq_c.pb-c.c ${gen}/daq_c.pb-c.h ${gen}/health.pb-c.c ${gen}/health.pb-c.h
    COMMAND /usr/bin/python3 ${root}/proto/proto_c_rewrite.py ${root}/proto/daq.proto
            ${gen}/daq_c.proto
    COMMAND ${CMAKE_COMMAND} -E copy ${root}/proto/health.proto ${gen}/health.proto
    COMMAND ${PROTOC_C} --c_out=${gen} -I${gen} ${gen}/daq_c.proto ${gen}/health.proto
    DEPENDS ${root}/proto/daq.proto ${root}/proto/health.proto ${root}/proto/proto_c_rewrite.py
    COMMENT "protoc-c: daq.proto, health.proto")
  set(sources ${gen}/daq_c.pb-c.c ${gen}/health.pb-c.c)
  set_source_files_properties(${sources} PROPERTIES COMPILE_OPTIONS
                              "-Wno-error;-Wno-missing-prototypes")
  set(DAQ_GEN ${gen} PARENT_SCOPE)
  set(${out} ${sources} PARENT_SCOPE)
endfunction()
