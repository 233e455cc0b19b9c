#!/usr/bin/env bash
# Installs gopp into a scratch prefix and builds a tiny consumer with find_package(gopp) and with
# pkg-config: the install rules are tested, not just written.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
log=$work/log
trap 'rm -rf "$work"' EXIT
# Each step's output goes to $log; a failing step prints it (set -e alone would fail silently).
trap 'status=$?; echo "install check failed (line $LINENO):" >&2; cat "$log" >&2; exit $status' ERR
cmake -S "$root" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DGOPP_BUILD_TESTS=OFF \
  -DGOPP_BUILD_EXAMPLES=OFF -DGOPP_BUILD_TOOLS=OFF -DCMAKE_INSTALL_PREFIX="$work/prefix" >>"$log" 2>&1
cmake --build "$work/build" -j "$(nproc)" >>"$log" 2>&1
cmake --install "$work/build" >>"$log" 2>&1
mkdir -p "$work/consumer"
cat >"$work/consumer/main.cpp" <<'CPP'
#include <gopp/gopp.hpp>
#include <cstdio>
int main() {
  gopp::chan<int> c;
  gopp::go([c] { c.send(42); });
  std::printf("consumer got %d\n", *c.recv());
}
CPP
cat >"$work/consumer/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.25)
project(consumer CXX)
find_package(gopp CONFIG REQUIRED)
add_executable(consumer main.cpp)
target_link_libraries(consumer PRIVATE gopp::gopp)
CMAKE
cmake -S "$work/consumer" -B "$work/consumer/build" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" >>"$log" 2>&1
cmake --build "$work/consumer/build" >>"$log" 2>&1
"$work/consumer/build/consumer"
PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig:$work/prefix/lib/x86_64-linux-gnu/pkgconfig" \
  g++ -O2 "$work/consumer/main.cpp" -o "$work/consumer/pc" \
  $(PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig:$work/prefix/lib/x86_64-linux-gnu/pkgconfig" pkg-config --cflags --libs --static gopp)
"$work/consumer/pc"
echo "install check: find_package(gopp) and pkg-config consumers built and ran"
