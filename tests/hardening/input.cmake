# Strict input (issue 12, deliverable 10): names with NUL / control
# characters and undeclared enum values are INVALID_ARGUMENT, against a real
# daqd.  The request fuzzer (tests/fuzz/fuzz_rpc.c) is a clang project of
# its own, run by `make fuzz-smoke`.
add_test(NAME hardening.strict_input
         COMMAND ${DAQ_PY} ${DAQ_IT}/test_strict_input.py $<TARGET_FILE:daqd>
         WORKING_DIRECTORY ${DAQ_IT})
set_tests_properties(hardening.strict_input PROPERTIES LABELS "integration;hardening" TIMEOUT 120)
