# Per-target settings for bb's own targets: C++20, warnings, sanitizers. Nothing here touches
# global state, so third-party targets keep their own flags.

# Sanitizer flags for one target. `scope` is the visibility of the link flags: PUBLIC for
# libraries (their users must link the sanitizer runtimes too), PRIVATE for executables.
function(bb_sanitize target scope)
  if(BB_SANITIZE)
    list(JOIN BB_SANITIZE "," sanitizers)
    set(flags -fsanitize=${sanitizers} -fno-omit-frame-pointer -fno-sanitize-recover=all)
    # clang 14 cannot emit coroutine frames instrumented by UBSan's `function` check
    # ("Cannot represent a difference across sections"); that one check is left out.
    if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang" AND "undefined" IN_LIST BB_SANITIZE)
      list(APPEND flags -fno-sanitize=function)
    endif()
    target_compile_options(${target} PRIVATE ${flags})
    target_link_options(${target} ${scope} -fsanitize=${sanitizers})
  endif()
  if(BB_BUILD_FUZZ)
    # Coverage instrumentation everywhere; only fuzz executables link the libFuzzer main.
    target_compile_options(${target} PRIVATE -fsanitize=fuzzer-no-link)
  endif()
endfunction()

function(bb_target_settings target)
  target_compile_features(${target} PUBLIC cxx_std_20)
  set_target_properties(${target} PROPERTIES CXX_EXTENSIONS OFF)
  get_target_property(type ${target} TYPE)
  if(type STREQUAL "INTERFACE_LIBRARY")
    return()
  endif()
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wpedantic -Wshadow -Wold-style-cast -Wcast-align
    -Woverloaded-virtual -Wconversion -Wsign-conversion -Wimplicit-fallthrough
    $<$<CXX_COMPILER_ID:GNU>:-Wno-maybe-uninitialized>)
  if(type STREQUAL "EXECUTABLE")
    bb_sanitize(${target} PRIVATE)
  else()
    bb_sanitize(${target} PUBLIC)
  endif()
endfunction()

# Settings for executables built from test, benchmark or generated code: same standard and
# sanitizers, fewer warnings (gtest and generated code are not ours to police).
function(bb_executable_settings target)
  target_compile_features(${target} PRIVATE cxx_std_20)
  set_target_properties(${target} PROPERTIES CXX_EXTENSIONS OFF)
  # g++ 12 reports -Wmismatched-new-delete for Asio coroutine frames above about 1 KiB (operator
  # new and delete come from the same awaitable_frame class; a known false positive).
  target_compile_options(${target} PRIVATE -Wall -Wextra
                                           $<$<CXX_COMPILER_ID:GNU>:-Wno-mismatched-new-delete>)
  bb_sanitize(${target} PRIVATE)
endfunction()

# Test executables and their support code: as above, compiled with -Og in optimized builds. Tests
# drive the libraries, which keep the build type's optimization; -Og compiles the coroutine-heavy
# test scenarios about 2.6 times faster than -O2 (tests/wire/host_test.cpp: 29 s against 76 s
# of CPU with g++ 12) and keeps them easy to debug.
#
# With clang they also precompile the third-party headers most of them include (GoogleTest, the
# Asio pieces of every async test): the ASan+UBSan build took 6 min 35 s instead of 7 min 13 s.
# Not with g++, whose precompiled header (206 MB with -g) loads slower than the headers parse:
# the test objects took 635 s of compile time instead of 538 s.
function(bb_test_settings target)
  bb_executable_settings(${target})
  target_compile_options(${target} PRIVATE $<$<CONFIG:RelWithDebInfo,Release,MinSizeRel>:-Og>)
  if(BB_PRECOMPILE_TEST_HEADERS AND CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    target_precompile_headers(${target} PRIVATE
      <gtest/gtest.h> <gmock/gmock.h>
      <boost/asio/awaitable.hpp> <boost/asio/co_spawn.hpp> <boost/asio/detached.hpp>
      <boost/asio/io_context.hpp> <boost/asio/steady_timer.hpp> <boost/asio/use_awaitable.hpp>
      <boost/asio/experimental/awaitable_operators.hpp> <boost/asio/ip/tcp.hpp>)
  endif()
endfunction()
