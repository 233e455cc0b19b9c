// An uncontended buffered channel: one goroutine sends a value and receives it back; nobody
// ever waits, so this is the fast path of send and recv.
#include <benchmark/benchmark.h>

#include "in_goroutine.hpp"

namespace {

void BM_chan_buffered_send_recv(benchmark::State& state) {
  micro::in_goroutine([&] {
    gopp::chan<int> ch(1);
    int i = 0;
    for (auto _ : state) {
      ch.send(i++);
      benchmark::DoNotOptimize(ch.recv());
    }
  });
}
BENCHMARK(BM_chan_buffered_send_recv)->MeasureProcessCPUTime();

}  // namespace
