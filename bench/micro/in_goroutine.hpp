// bench/micro/in_goroutine.hpp: runs a Google Benchmark loop inside a goroutine.
//
// Google Benchmark calls each benchmark on a plain thread; gopp's operations are meant for
// goroutines, so every gopp micro-benchmark hands its whole `for (auto _ : state)` loop to a
// goroutine and parks the benchmark thread until it is done. The loop's timer then measures
// goroutine-side work only. Register such benchmarks with ->MeasureProcessCPUTime(): the timer
// is started and stopped on whichever runtime thread runs the goroutine, so the default
// per-thread CPU clock would be wrong once a goroutine migrates, while the process's CPU time
// counts all the work (the parked benchmark thread adds nothing) and, unlike real time, does not
// grow when other processes share the cores.
#pragma once

#include <gopp/gopp.hpp>

#include <utility>

namespace micro {

template <class F>
void in_goroutine(F&& body) {
  gopp::wait_group wg;
  wg.add(1);
  gopp::go([&] {
    body();
    wg.done();
  });
  wg.wait();
}

}  // namespace micro
