// gopp-micro: Google Benchmark micro-benchmarks of gopp's basic operations, with Boost.Context's
// bare switch as the floor. The runtime runs on one thread unless $GOPP_THREADS says otherwise,
// so that switches are switches (on several threads two goroutines may run side by side).
#include <benchmark/benchmark.h>

#include <gopp/gopp.hpp>

#include <cstdlib>

int main(int argc, char** argv) {
  if (std::getenv("GOPP_THREADS") == nullptr) gopp::configure({.threads = 1});
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
