#!/usr/bin/env bash
# The Debian package: builds bb_<version>_amd64.deb from the build tree with CPack, checks its
# control fields and contents, unpacks it into a scratch root (as dpkg would, without touching
# the machine) and runs bb-node from there: --version, and `run` until it listens.
# Usage: deb_test.sh BUILD_DIR VERSION
set -euo pipefail
build=$1 version=$2
scratch=$(mktemp -d /tmp/bb-deb-test.XXXXXX)
node_pid=
cleanup() {
  [ -n "$node_pid" ] && kill "$node_pid" 2>/dev/null
  rm -rf "$scratch"
}
trap cleanup EXIT
fail() { echo "FAIL $*"; exit 1; }
for tool in cpack dpkg-deb; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool is not installed"; exit 77; }
done

cpack --config "$build/CPackConfig.cmake" -G DEB -B "$scratch/out" >"$scratch/cpack.log" 2>&1 ||
  { cat "$scratch/cpack.log"; fail "cpack -G DEB"; }
deb=$scratch/out/bb_${version}_amd64.deb
[ -f "$deb" ] || { ls "$scratch/out"; fail "no bb_${version}_amd64.deb"; }
echo "ok   built $(basename "$deb") ($(du -h "$deb" | cut -f1))"

field() { dpkg-deb -f "$deb" "$1"; }
[ "$(field Package)" = bb ] || fail "Package: $(field Package)"
[ "$(field Version)" = "$version" ] || fail "Version: $(field Version)"
[ "$(field Architecture)" = amd64 ] || fail "Architecture: $(field Architecture)"
depends=$(field Depends)
echo "ok   control: Package bb, Version $version, Depends: $depends"

contents=$(dpkg-deb -c "$deb" | awk '{print $6}')
for f in ./usr/bin/bb-node ./usr/bin/bb-chat ./usr/lib/libbb_node.a ./usr/lib/libbb_proto.a \
         ./usr/include/bb/node/node.hpp ./usr/include/bb/proto/bb_core.pb.h \
         ./usr/include/bb/version.hpp ./usr/lib/cmake/bb/bbConfig.cmake \
         ./usr/lib/pkgconfig/bb.pc ./usr/share/doc/bb/LICENSE; do
  grep -qx "$f" <<<"$contents" || fail "the package has no $f"
done
echo "ok   contents: binaries, libraries, headers, CMake and pkg-config files, LICENSE"

root=$scratch/root
dpkg-deb -x "$deb" "$root"
bin=$root/usr/bin/bb-node

# Every shared library bb-node needs comes from a package the .deb depends on, so installing the
# .deb on a fresh machine (apt install ./bb_....deb) brings all of them.
while read -r lib; do
  owner=$(dpkg -S "$lib" 2>/dev/null | head -1 | cut -d: -f1) || true
  [ -n "$owner" ] || continue
  case "$owner" in libc6 | libgcc-s1 | libstdc++6) continue ;; esac  # essential or required
  grep -q "\b$owner\b" <<<"$depends" || fail "bb-node needs $lib from $owner, not in Depends"
done < <(ldd "$bin" | awk '/=> \//{print $3}' | xargs -n1 readlink -f)
echo "ok   every shared library of bb-node is in Depends"

out=$("$bin" --version) || fail "bb-node --version exited $?"
[ "$out" = "bb-node $version" ] || fail "bb-node --version said: $out"
echo "ok   $out (from the unpacked package)"

mkfifo "$scratch/run.out"
"$bin" run --listen /ip4/127.0.0.1/tcp/0 >"$scratch/run.out" 2>"$scratch/run.err" &
node_pid=$!
exec 3<"$scratch/run.out"
# Its first line says where it listens (bounded wait: 30 s).
line=
read -r -t 30 -u 3 line || { cat "$scratch/run.err"; fail "bb-node run printed no line within 30 s"; }
[[ "$line" == listening\ /ip4/127.0.0.1/tcp/* ]] || fail "bb-node run's first line: $line"
echo "ok   bb-node run from the unpacked package: $line"
kill -INT "$node_pid"
wait "$node_pid" || true
node_pid=
