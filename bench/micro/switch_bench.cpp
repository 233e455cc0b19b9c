// Goroutine switches: two goroutines taking turns, by yield() and by unbuffered channels.
// gopp-micro runs the runtime on one thread (see main.cpp), so each turn is a real switch and
// not two threads running side by side. The "switches" counter is shown as time per switch.
#include <benchmark/benchmark.h>

#include <atomic>

#include "in_goroutine.hpp"

namespace {

const benchmark::Counter::Flags per_switch =
    benchmark::Counter::kIsRate | benchmark::Counter::kInvert;

// One iteration: A yields to B, B yields back to A (two switches).
void BM_goroutine_yield(benchmark::State& state) {
  micro::in_goroutine([&] {
    std::atomic<bool> stop{false};
    gopp::wait_group partner;
    partner.add(1);
    gopp::go([&] {
      while (!stop.load(std::memory_order_relaxed)) gopp::yield();
      partner.done();
    });
    for (auto _ : state) gopp::yield();
    stop = true;
    partner.wait();
  });
  state.counters["switches"] = benchmark::Counter(2.0 * double(state.iterations()), per_switch);
}
BENCHMARK(BM_goroutine_yield)->MeasureProcessCPUTime();

// One iteration: a round trip over two unbuffered channels (two switches, two hand-offs).
void BM_goroutine_pingpong(benchmark::State& state) {
  micro::in_goroutine([&] {
    gopp::chan<int> ping, pong;
    gopp::go([ping, pong] {
      for (int v : ping) pong.send(v);
      pong.close();
    });
    int i = 0;
    for (auto _ : state) {
      ping.send(i++);
      benchmark::DoNotOptimize(pong.recv());
    }
    ping.close();
    static_cast<void>(pong.recv());  // the partner has finished: pong is closed
  });
  state.counters["switches"] = benchmark::Counter(2.0 * double(state.iterations()), per_switch);
}
BENCHMARK(BM_goroutine_pingpong)->MeasureProcessCPUTime();

}  // namespace
