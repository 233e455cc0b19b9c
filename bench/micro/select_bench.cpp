// select over two buffered channels that both hold a value: it never waits, so this is
// select's ready path (find the ready cases, pick one at random, receive). One iteration also
// refills the chosen channel with a send; BM_chan_buffered_send_recv gives that send's cost.
#include <benchmark/benchmark.h>

#include "in_goroutine.hpp"

namespace {

void BM_select2_ready(benchmark::State& state) {
  micro::in_goroutine([&] {
    gopp::chan<int> a(1), b(1);
    a.send(1);
    b.send(2);
    for (auto _ : state) {
      std::size_t i = gopp::select(gopp::recv_case(a), gopp::recv_case(b));
      (i == 0 ? a : b).send(int(i) + 1);
    }
  });
}
BENCHMARK(BM_select2_ready)->MeasureProcessCPUTime();

}  // namespace
