# One CTest test per GoogleTest suite (`Suite.*`) instead of one per test case: a sanitized test
# executable takes about 0.4 s of CPU to start, so the 500-odd cases cost more in process starts
# than many of them take to run. A failing suite's output names the failing cases.
#
# Two modes:
#   - included (from a CMakeLists): bb_discover_suites(target prefix [TIMEOUT s]) lists the
#     executable's suites after each build and makes CTest read them;
#   - script (cmake -P, what the POST_BUILD step runs): writes the add_test() lines.

if(CMAKE_SCRIPT_MODE_FILE)
  execute_process(COMMAND "${TEST_EXECUTABLE}" --gtest_list_tests
                  OUTPUT_VARIABLE listing ERROR_VARIABLE errors RESULT_VARIABLE status
                  TIMEOUT 60)
  if(NOT status EQUAL 0)
    message(FATAL_ERROR "${TEST_EXECUTABLE} --gtest_list_tests failed (${status}): ${errors}")
  endif()
  string(REPLACE "\n" ";" lines "${listing}")
  set(content "")
  foreach(line IN LISTS lines)
    # A suite line: "Suite." or "Instance/Suite." or "Suite.  # TypeParam = ..."; cases are
    # indented.
    if(line MATCHES "^([A-Za-z0-9_/]+)\\.( .*)?$")
      set(suite "${CMAKE_MATCH_1}")
      if(suite MATCHES "(^|/)DISABLED_")
        continue()
      endif()
      set(name "${PREFIX}${suite}")
      string(APPEND content
        "add_test([==[${name}]==] [==[${TEST_EXECUTABLE}]==] [==[--gtest_filter=${suite}.*]==])\n"
        "set_tests_properties([==[${name}]==] PROPERTIES TIMEOUT ${TIMEOUT}"
        " WORKING_DIRECTORY [==[${WORKING_DIRECTORY}]==]"
        # Every case of the suite skipped (GTEST_SKIP): the suite is reported skipped.
        " SKIP_REGULAR_EXPRESSION [==[\\[  PASSED  \\] 0 tests]==])\n")
    endif()
  endforeach()
  file(WRITE "${CTEST_FILE}" "${content}")
  return()
endif()

set(BB_DISCOVER_SUITES_SCRIPT "${CMAKE_CURRENT_LIST_FILE}")

function(bb_discover_suites target prefix)
  cmake_parse_arguments(arg "" "TIMEOUT" "" ${ARGN})
  if(NOT arg_TIMEOUT)
    set(arg_TIMEOUT 300)
  endif()
  set(ctest_file "${CMAKE_CURRENT_BINARY_DIR}/${target}_suites.cmake")
  set(include_file "${CMAKE_CURRENT_BINARY_DIR}/${target}_suites_include.cmake")
  add_custom_command(
    TARGET ${target} POST_BUILD
    COMMAND "${CMAKE_COMMAND}" -D "TEST_EXECUTABLE=$<TARGET_FILE:${target}>"
            -D "CTEST_FILE=${ctest_file}" -D "PREFIX=${prefix}" -D "TIMEOUT=${arg_TIMEOUT}"
            -D "WORKING_DIRECTORY=${CMAKE_CURRENT_BINARY_DIR}" -P "${BB_DISCOVER_SUITES_SCRIPT}"
    BYPRODUCTS "${ctest_file}"
    VERBATIM)
  # Before the first build there is nothing to list: CTest then reports the executable missing.
  file(WRITE "${include_file}"
    "if(EXISTS [==[${ctest_file}]==])\n"
    "  include([==[${ctest_file}]==])\n"
    "else()\n"
    "  add_test([==[${prefix}NOT_BUILT]==] [==[${target}_NOT_BUILT]==])\n"
    "endif()\n")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES "${include_file}")
endfunction()
