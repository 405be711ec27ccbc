# `netsor run SCRIPT` twice with a fresh cache: the first run compiles and prints the script's output, the second
# starts from the cached binary (no "compiling" line) and prints the same output.
file(REMOVE_RECURSE "${CACHE}")
set(ENV{NETSOR_CACHE} "${CACHE}")
execute_process(COMMAND ${COMMAND} run ${SCRIPT} RESULT_VARIABLE s1 OUTPUT_VARIABLE o1 ERROR_VARIABLE e1)
if(NOT s1 EQUAL 0 OR NOT e1 MATCHES "compiling" OR NOT o1 MATCHES "${REGEX}")
  message(FATAL_ERROR "first run: exit ${s1}\n${o1}\n${e1}")
endif()
execute_process(COMMAND ${COMMAND} run ${SCRIPT} RESULT_VARIABLE s2 OUTPUT_VARIABLE o2 ERROR_VARIABLE e2)
if(NOT s2 EQUAL 0 OR e2 MATCHES "compiling" OR NOT o2 STREQUAL o1)
  message(FATAL_ERROR "second run recompiled or differs: exit ${s2}\n${o2}\n${e2}")
endif()
message(STATUS "ok: compiled once, the second run used the cache and printed the same output")
