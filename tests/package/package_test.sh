#!/usr/bin/env bash
# bb as others use it: installs the build tree into a fresh prefix, then builds and runs a small
# program outside bb's tree against it, once through find_package(bb) and once through
# pkg-config. The program starts two Nodes and sends a message, which needs the built-in ops
# registered in the consumer's program.
# Usage: package_test.sh BUILD_DIR SOURCE_DIR CXX VERSION
set -euo pipefail
build=$1 src=$2 cxx=$3 version=$4
# The pkg-config build below compiles with c++, as a user would; say which it is.
echo "c++ is $(readlink -f "$(command -v c++)")"
scratch=$(mktemp -d /tmp/bb-package-test.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
prefix=$scratch/prefix
fail() { echo "FAIL $*"; exit 1; }

cmake --install "$build" --prefix "$prefix" >"$scratch/install.log" ||
  { cat "$scratch/install.log"; fail "cmake --install"; }
for f in include/bb/version.hpp include/bb/node/node.hpp include/bb/proto/bb_core.pb.h \
         include/bb/wire/host.hpp lib/cmake/bb/bbConfig.cmake lib/cmake/bb/bbConfigVersion.cmake \
         lib/cmake/bb/bbTargets.cmake lib/pkgconfig/bb.pc lib/libbb_node.a bin/bb-node; do
  [ -e "$prefix/$f" ] || fail "the install has no $f"
done
# Headers are installed under bb/ only; none of the floors is a top-level include directory.
for floor in proto async wire runtime syscalls node dht pubsub; do
  [ ! -e "$prefix/include/$floor" ] || fail "include/$floor installed outside include/bb"
done
grep -q "BB_VERSION_STRING \"$version\"" "$prefix/include/bb/version.hpp" ||
  fail "bb/version.hpp does not say $version"
echo "ok   installed into a fresh prefix"

# find_package
cmake -S "$src/tests/package/consumer" -B "$scratch/cmake-build" -DCMAKE_CXX_COMPILER="$cxx" \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" >"$scratch/configure.log" 2>&1 ||
  { cat "$scratch/configure.log"; fail "find_package(bb) in a consumer project"; }
cmake --build "$scratch/cmake-build" >"$scratch/build.log" 2>&1 ||
  { cat "$scratch/build.log"; fail "building the find_package consumer"; }
out=$("$scratch/cmake-build/consumer") || fail "the find_package consumer exited $?: $out"
[ "$out" = "consumer: bb $version, bob got \"hello\"" ] || fail "find_package consumer said: $out"
echo "ok   find_package(bb $version): $out"

# A consumer asking for a version bb is not must be told so.
sed 's/find_package(bb 0.1 REQUIRED)/find_package(bb 99.0 REQUIRED)/' \
  "$src/tests/package/consumer/CMakeLists.txt" >"$scratch/CMakeLists.txt"
mkdir -p "$scratch/wrong-version" && cp "$scratch/CMakeLists.txt" "$src/tests/package/consumer/main.cpp" "$scratch/wrong-version/"
if cmake -S "$scratch/wrong-version" -B "$scratch/wrong-build" -DCMAKE_PREFIX_PATH="$prefix" \
     >"$scratch/wrong.log" 2>&1; then
  fail "find_package(bb 99.0) was satisfied by bb $version"
fi
grep -q "$version" "$scratch/wrong.log" || { cat "$scratch/wrong.log"; fail "no version in the error"; }
echo "ok   find_package(bb 99.0) is refused, naming $version"

# add_subdirectory: bb inside a larger project builds its libraries only, so configuring it needs
# neither GoogleTest nor CLI11 nor nlohmann-json (configure only: building is what the above did).
mkdir -p "$scratch/super"
cat >"$scratch/super/CMakeLists.txt" <<CMAKE
cmake_minimum_required(VERSION 3.25)
project(bb_super LANGUAGES CXX)
add_subdirectory("$src" bb)
add_executable(consumer "$src/tests/package/consumer/main.cpp")
target_link_libraries(consumer PRIVATE bb::bb)
CMAKE
cmake -S "$scratch/super" -B "$scratch/super-build" -DCMAKE_CXX_COMPILER="$cxx" \
  >"$scratch/super.log" 2>&1 || { cat "$scratch/super.log"; fail "add_subdirectory(bb)"; }
grep -q "^BB_BUILD_TESTS:BOOL=OFF" "$scratch/super-build/CMakeCache.txt" ||
  fail "BB_BUILD_TESTS is not off under add_subdirectory"
grep -q "^BB_BUILD_EXAMPLES:BOOL=OFF" "$scratch/super-build/CMakeCache.txt" ||
  fail "BB_BUILD_EXAMPLES is not off under add_subdirectory"
if grep -qE "^(GTest_DIR|CLI11_DIR|nlohmann_json_DIR):" "$scratch/super-build/CMakeCache.txt"; then
  fail "add_subdirectory(bb) looked for a test or example dependency"
fi
echo "ok   add_subdirectory(bb): libraries only, no test or example dependency looked for"

# pkg-config
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
[ "$(pkg-config --modversion bb)" = "$version" ] || fail "pkg-config --modversion bb"
mkdir -p "$scratch/pc" && cp "$src/tests/package/consumer/main.cpp" "$scratch/pc/"
cd "$scratch/pc"
# [pkg-config]
c++ -O2 -o consumer main.cpp $(pkg-config --cflags --libs bb)
# [pkg-config]
out=$("$scratch/pc/consumer") || fail "the pkg-config consumer exited $?: $out"
[ "$out" = "consumer: bb $version, bob got \"hello\"" ] || fail "pkg-config consumer said: $out"
echo "ok   pkg-config bb: $out"
