# Runs COMMAND with the |-separated ARGS and checks its exit status (STATUS) and that its output (stdout and
# stderr together) matches REGEX. Used by the cli_* tests in tests/CMakeLists.txt.
string(REPLACE "|" ";" ARGS "${ARGS}")
execute_process(COMMAND ${COMMAND} ${ARGS} RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE err)
set(all "${out}${err}")
if(NOT status STREQUAL "${STATUS}")
  message(FATAL_ERROR "exit status ${status}, expected ${STATUS}; output:\n${all}")
endif()
string(REGEX MATCH "${REGEX}" found "${all}")
if(NOT found)
  message(FATAL_ERROR "output does not match '${REGEX}':\n${all}")
endif()
message(STATUS "ok: exit ${status}, output matches")
