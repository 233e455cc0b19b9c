// Spawn and finish: one iteration starts a goroutine that calls wg.done() and waits for it, so
// it costs a spawn, two switches and the goroutine's exit (its stack back to the pool).
#include <benchmark/benchmark.h>

#include "in_goroutine.hpp"

namespace {

void BM_goroutine_spawn_finish(benchmark::State& state) {
  micro::in_goroutine([&] {
    for (auto _ : state) {
      gopp::wait_group wg;
      wg.add(1);
      gopp::go([&wg] { wg.done(); });
      wg.wait();
    }
  });
}
BENCHMARK(BM_goroutine_spawn_finish)->MeasureProcessCPUTime();

}  // namespace
