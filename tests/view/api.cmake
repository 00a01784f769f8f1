# tests/view/api.cmake - the live view's control path (issue 14): the unary
# gRPC bridge POST /api/rpc/<package.Service>/<Method> against a real daqd
# (SetExposure, StartStream/StopStream through it, checked over gRPC), every
# refusal with its exact text (400 + Grpc-Status 3 with gRPC's own details,
# 415, 403 Origin, 405, 413, 501 unknown and streaming), and with a tokens
# file: 401 with gRPC's details without a token, the audit line naming it with
# one, /metrics and the page still open (tests/integration/test_http_api.py,
# two small sim daemons, ~2 s).  Included from tests/CMakeLists.txt.
if(TARGET daqd)
  add_test(NAME view.api
           COMMAND ${DAQ_PY} ${DAQ_IT}/test_http_api.py $<TARGET_FILE:daqd>
           WORKING_DIRECTORY ${DAQ_IT})
  set_tests_properties(view.api PROPERTIES LABELS "integration;view" TIMEOUT 60)
endif()
