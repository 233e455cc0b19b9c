#!/usr/bin/env bash
# The consumer's side of gopp, checked end to end (README, "Using gopp from your project"):
#   1. install gopp into a scratch prefix: the plain library and its ThreadSanitizer and
#      AddressSanitizer variants side by side;
#   2. build a small consumer program the two ways the README shows, and run it:
#        - CMake: find_package(gopp) + target_link_libraries(... gopp::gopp), and gopp::gopp_tsan;
#        - plain `g++ x.cpp $(pkg-config --cflags --libs gopp)` (no --static: the default
#          install is a static library, so gopp.pc's Libs must bring Boost.Context and pthread),
#          and gopp-tsan / gopp-asan with -fsanitize=thread / address;
#   3. check that a mismatch fails at link time with the symbol that says what to link: a
#      -fsanitize=thread consumer against the plain library.
#
# Builds. Each variant is installed from build/release, build/tsan or build/asan when that
# directory is configured (as .ci/run leaves them after `make test`, `make tsan`, `make asan`):
# only the `gopp` target is brought up to date there, which after CI is nothing. A variant with
# no such directory (a fresh clone) is configured and built in the scratch directory, library
# only. GOPP_CHECK_INSTALL_FRESH=1 always builds in scratch.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
log=$work/log
: >"$log"
trap 'rm -rf "$work"' EXIT
# Each step's output goes to $log; a failing step prints it (set -e alone would fail silently).
trap 'status=$?; echo "install check failed (line $LINENO):" >&2; cat "$log" >&2; exit $status' ERR
prefix=$work/prefix
jobs=$(nproc)
cxx=${CXX:-g++}

# install_variant <preset dir name> <GOPP_SANITIZER value>
install_variant() {
  local preset=$1 sanitizer=$2 dir="$root/build/$1"
  if [[ "${GOPP_CHECK_INSTALL_FRESH:-0}" != 1 && -f "$dir/CMakeCache.txt" ]] &&
    grep -q "^GOPP_SANITIZER:STRING=${sanitizer}\$" "$dir/CMakeCache.txt" &&
    grep -q "^GOPP_INSTALL:BOOL=ON\$" "$dir/CMakeCache.txt"; then
    echo "  $preset: installing from build/$preset"
  else
    dir=$work/build-$preset
    echo "  $preset: no build/$preset to reuse, building the library in scratch"
    cmake -S "$root" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGOPP_INSTALL=ON \
      -DGOPP_BUILD_TESTS=OFF -DGOPP_BUILD_EXAMPLES=OFF -DGOPP_BUILD_TOOLS=OFF \
      -DGOPP_SANITIZER="$sanitizer" >>"$log" 2>&1
  fi
  cmake --build "$dir" --target gopp -j "$jobs" >>"$log" 2>&1
  cmake --install "$dir" --prefix "$prefix" --component gopp >>"$log" 2>&1
}

echo "install check: installing into a scratch prefix"
install_variant release ""
install_variant tsan thread
install_variant asan address
ls "$prefix"/lib*/libgopp*.a "$prefix"/lib*/pkgconfig/gopp*.pc >>"$log"

mkdir -p "$work/consumer"
# A little of everything a consumer touches: goroutines, a channel, a group whose ctx a timeout
# bounds, a worker pool, and the goroutine dump with its frames. The goroutines hand data to each other, so a sanitizer that cannot
# see gopp's stack switches (a sanitized program on the plain library) reports false races.
cat >"$work/consumer/main.cpp" <<'CPP'
#include <gopp/gopp.hpp>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>
// Parks in a function of the consumer's own: the goroutine dump must name it (frame pointers and
// libbacktrace reach the consumer through gopp's target and .pc file).
[[gnu::noinline]] void consumer_parks_here(gopp::chan<int> c) {
  const std::optional<int> v = c.recv();
  if (v) std::printf("unexpected value\n");
}
int main() {
  gopp::chan<int> c;
  gopp::go([c] { c.send(42); });
  const int got = *c.recv();

  auto [ctx, cancel] = gopp::with_timeout(gopp::background(), std::chrono::seconds(10));
  std::vector<int> squares(8);
  gopp::group g(ctx);
  g.set_limit(3);
  for (int i = 0; i < 8; ++i) g.go([&squares, i] { squares[i] = i * i; });
  g.wait();
  cancel();

  gopp::worker_pool pool(2);
  auto f = pool.submit([](int x) { return x + 1; }, squares[7]);
  const int next = f.get();

  gopp::chan<int> never;
  gopp::wait_group parked;
  gopp::go(parked, [never] { consumer_parks_here(never); });
  std::string dump;
  for (int i = 0; i < 2000; ++i) {
    dump = gopp::goroutine_dump();
    if (dump.find("consumer_parks_here(gopp::chan<int>)") != std::string::npos) break;
    gopp::sleep_for(std::chrono::milliseconds(1));
  }
  never.close();
  parked.wait();
  const bool frames = dump.find("consumer_parks_here(gopp::chan<int>)") != std::string::npos;
  if (!frames) std::fprintf(stderr, "dump without the consumer's frame:\n%s", dump.c_str());
  std::printf("consumer got %d %d%s\n", got, next, frames ? ", dump names its frames" : "");
  return got == 42 && next == 50 && frames ? 0 : 1;
}
CPP
expected="consumer got 42 50, dump names its frames"

# run <name> <program>: runs it and checks its output.
run() {
  local name=$1 out
  shift
  echo "  running $name" >>"$log"
  out=$("$@" 2>>"$log")
  if [[ "$out" != "$expected" ]]; then
    echo "$name printed '$out', expected '$expected'" >>"$log"
    false
  fi
  echo "  $name: ran ($out)"
}

echo "install check: CMake consumers (find_package(gopp))"
cat >"$work/consumer/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.25)
project(consumer CXX)
find_package(gopp CONFIG REQUIRED COMPONENTS tsan)
add_executable(consumer main.cpp)
target_link_libraries(consumer PRIVATE gopp::gopp)
# The TSan variant's target brings -fsanitize=thread to the program that links it.
add_executable(consumer_tsan main.cpp)
target_link_libraries(consumer_tsan PRIVATE gopp::gopp_tsan)
CMAKE
cmake -S "$work/consumer" -B "$work/consumer/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix" >>"$log" 2>&1
cmake --build "$work/consumer/build" -j "$jobs" >>"$log" 2>&1
run "cmake gopp::gopp" "$work/consumer/build/consumer"
TSAN_OPTIONS=halt_on_error=1:exitcode=66 run "cmake gopp::gopp_tsan" \
  "$work/consumer/build/consumer_tsan"

echo "install check: pkg-config consumers"
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig:$prefix/lib/x86_64-linux-gnu/pkgconfig"
pc() { pkg-config "$@" 2>>"$log"; }
grep -q -- "-fstack-clash-protection" <<<"$(pc --cflags gopp)"
# shellcheck disable=SC2046 # pkg-config's output is a list of flags
"$cxx" -O2 "$work/consumer/main.cpp" -o "$work/consumer/pc" $(pc --cflags --libs gopp) >>"$log" 2>&1
run "pkg-config gopp" "$work/consumer/pc"
# shellcheck disable=SC2046
"$cxx" -O1 -g -fsanitize=thread "$work/consumer/main.cpp" -o "$work/consumer/pc_tsan" \
  $(pc --cflags --libs gopp-tsan) >>"$log" 2>&1
TSAN_OPTIONS=halt_on_error=1:exitcode=66 run "pkg-config gopp-tsan" "$work/consumer/pc_tsan"
# shellcheck disable=SC2046
"$cxx" -O1 -g -fsanitize=address,undefined "$work/consumer/main.cpp" -o "$work/consumer/pc_asan" \
  $(pc --cflags --libs gopp-asan) >>"$log" 2>&1
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1 \
  run "pkg-config gopp-asan" "$work/consumer/pc_asan"

echo "install check: a -fsanitize=thread consumer on the plain library must not link"
# shellcheck disable=SC2046
if "$cxx" -O1 -fsanitize=thread "$work/consumer/main.cpp" -o "$work/consumer/mismatch" \
  $(pc --cflags --libs gopp) >"$work/mismatch.log" 2>&1; then
  echo "a TSan consumer linked against the plain libgopp" >>"$log"
  false
fi
grep -q "undefined reference to .gopp_compiled_with_fsanitize_thread__link_gopp_tsan" \
  "$work/mismatch.log" || { cat "$work/mismatch.log" >>"$log"; false; }
echo "  mismatch: $(grep -m1 -o "undefined reference to .gopp_compiled_with[a-z_]*." \
  "$work/mismatch.log")"
echo "install check: find_package(gopp) and pkg-config consumers built and ran"
