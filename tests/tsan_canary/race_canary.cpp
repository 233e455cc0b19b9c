// tests/tsan_canary/race_canary.cpp: one program, three canaries (CMakeLists.txt here says which
// must be reported). GOPP_CANARY_MODE picks the access pattern on `shared`, a plain int:
//   0  two goroutines write it one after the other, ordered by a channel: no race;
//   1  two goroutines write it while both run at once, on the runtime's two workers, with
//      nothing ordering the writes: a race;
//   2  a goroutine and a plain std::thread write it with nothing ordering them: a race.
// In mode 1 each goroutine, after its write, waits on a relaxed flag for the other: relaxed
// atomics order nothing for TSan, and the wait makes both run at once (a goroutine spinning on
// one worker leaves the other to be stolen by the second worker, or by the monitor).
#include <gopp/gopp.hpp>

#include <atomic>
#include <cstdio>
#include <thread>

namespace {

int shared = 0;  // a plain int on purpose: the accesses are what TSan judges

}  // namespace

int main() {
  gopp::wait_group wg;
#if GOPP_CANARY_MODE == 0
  gopp::chan<int> turn;
  wg.add(2);
  gopp::go([&] {
    shared = 1;
    turn.send(1);  // the first write happens before the second
    wg.done();
  });
  gopp::go([&] {
    turn.recv();
    shared = 2;
    wg.done();
  });
  wg.wait();
#elif GOPP_CANARY_MODE == 1
  std::atomic<int> arrived{0};
  wg.add(2);
  for (int g = 0; g < 2; ++g) {
    gopp::go([&, g] {
      shared = g + 1;
      arrived.fetch_add(1, std::memory_order_relaxed);
      while (arrived.load(std::memory_order_relaxed) < 2) std::this_thread::yield();
      wg.done();
    });
  }
  wg.wait();
#elif GOPP_CANARY_MODE == 2
  std::atomic<int> arrived{0};
  std::thread t([&] {
    shared = 1;
    arrived.fetch_add(1, std::memory_order_relaxed);
    while (arrived.load(std::memory_order_relaxed) < 2) std::this_thread::yield();
  });
  wg.add(1);
  gopp::go([&] {
    shared = 2;
    arrived.fetch_add(1, std::memory_order_relaxed);
    while (arrived.load(std::memory_order_relaxed) < 2) std::this_thread::yield();
    wg.done();
  });
  wg.wait();
  t.join();
#else
#error "GOPP_CANARY_MODE must be 0, 1 or 2"
#endif
  std::printf("shared = %d\n", shared);
  return 0;
}
