// tests/stress/chan_stress_test.cpp: random interleavings of every channel operation.
//
// Workers (goroutines and plain threads together) run random mixes of send, try_send, recv,
// try_recv, multi-case selects with and without default, and occasional closes over a small set
// of channels with random capacities. Every value sent is unique, so at the end the books must
// balance: the values whose send succeeded are exactly the values received plus those still
// buffered, each once. A worker whose operation cannot complete (everyone else finished, or the
// channel went quiet) is released through a quit channel that every blocking operation also
// watches.
//
// Each run draws a seed, printed with every failure; rerun one with GOPP_TEST_SEED=<seed>. The
// amount of work scales with test_scale() (GOPP_TEST_SCALE=10 for a long soak).
#include "test_support.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace {

using gopp::chan;
using gopp::default_case;
using gopp::recv_case;
using gopp::send_case;
using namespace gopp_test;
using namespace std::chrono_literals;

std::uint64_t seed_for_this_run() {
  if (const char* env = std::getenv("GOPP_TEST_SEED")) return std::strtoull(env, nullptr, 10);
  return std::random_device{}() ^ (std::uint64_t(std::random_device{}()) << 32);
}

// The shared world of one run.
struct world {
  std::vector<chan<std::uint64_t>> chans;
  chan<std::monostate> quit;
  std::atomic<std::uint64_t> progress{0};  // completed operations, to detect a quiet system
  std::atomic<int> closes{0};              // successful closes
};

// What one worker did.
struct ledger {
  std::vector<std::uint64_t> sent;      // values whose send completed
  std::vector<std::uint64_t> received;  // values received
  std::string error;                    // first inconsistency seen by the worker
};

enum class outcome { done, quit };

// Runs `ops` random operations; returns early when quit closes.
void worker(world& w, int id, std::uint64_t seed, int ops, bool may_close, ledger& out) {
  std::mt19937_64 rng(seed);
  std::uint64_t next_value = std::uint64_t(id) << 40;
  const std::size_t nch = w.chans.size();
  auto pick = [&] { return w.chans[rng() % nch]; };
  auto record_recv = [&](std::optional<std::uint64_t>&& v) {
    if (v) out.received.push_back(*v);
  };
  try {
    for (int op = 0; op < ops; ++op) {
      const unsigned kind = rng() % 100;
      if (kind < 20) {  // blocking send, unless quit
        auto c = pick();
        std::uint64_t v = next_value++;
        if (gopp::select(send_case(c, v), recv_case(w.quit)) == 1) return;
        out.sent.push_back(v);
      } else if (kind < 40) {  // blocking receive, unless quit
        auto c = pick();
        if (gopp::select(recv_case(c, record_recv), recv_case(w.quit)) == 1) return;
      } else if (kind < 50) {  // try_send
        std::uint64_t v = next_value++;
        std::uint64_t keep = v;
        if (pick().try_send(v)) {
          out.sent.push_back(keep);
        } else if (v != keep) {
          out.error = "a failed try_send changed its value";
        }
      } else if (kind < 60) {  // try_recv
        record_recv(pick().try_recv());
      } else if (kind < 85) {  // a select over several channels, sends and receives mixed
        auto a = pick(), b = pick(), c = pick();
        std::uint64_t va = next_value++, vb = next_value++;
        const bool with_default = rng() % 2 == 0;
        std::size_t chosen;
        if (with_default) {
          chosen = gopp::select(send_case(a, va), recv_case(b, record_recv), send_case(c, vb),
                                recv_case(a, record_recv), default_case());
        } else {
          chosen = gopp::select(send_case(a, va), recv_case(b, record_recv), send_case(c, vb),
                                recv_case(a, record_recv), recv_case(w.quit));
          if (chosen == 4) return;
        }
        if (chosen == 0) out.sent.push_back(va);
        if (chosen == 2) out.sent.push_back(vb);
      } else if (kind < 99) {  // a brief pause or yield, to vary the interleaving
        if (rng() % 2) {
          gopp::yield();
        } else {
          gopp::sleep_for(std::chrono::microseconds(rng() % 50));
        }
      } else if (may_close) {  // close, rarely
        try {
          pick().close();
          ++w.closes;
        } catch (const gopp::closed_channel_error& e) {
          if (std::string(e.what()) != "close of closed channel") out.error = e.what();
        }
      }
      ++w.progress;
    }
  } catch (const gopp::closed_channel_error& e) {
    // A send (plain or in a select) found its channel closed: the value was not sent.
    if (std::string(e.what()) != "send on closed channel") out.error = e.what();
    // This worker stops here; the others carry on.
  }
}

struct run_result {
  std::string failure;  // empty: the books balanced
};

run_result run_once(std::uint64_t seed, side where_half, bool with_closes) {
  std::mt19937_64 rng(seed);
  world w;
  const int nch = 2 + int(rng() % 3);
  for (int i = 0; i < nch; ++i) w.chans.emplace_back(int(rng() % 4));  // capacities 0..3
  const int workers = 4 + int(rng() % 5);
  const int ops = static_cast<int>(scaled(400, 40));
  std::vector<ledger> ledgers(static_cast<std::size_t>(workers));
  std::vector<task> ts;
  for (int i = 0; i < workers; ++i) {
    side s = (i % 2 == 0) ? side::goroutine : where_half;
    std::uint64_t worker_seed = rng();
    ts.push_back(start(s, [&w, i, worker_seed, ops, with_closes, &ledgers] {
      worker(w, i, worker_seed, ops, with_closes && i == 0, ledgers[std::size_t(i)]);
    }));
  }
  // Wait for all workers; when nothing moves for a while, the rest are blocked on partners
  // that finished: release them.
  std::uint64_t last = ~std::uint64_t(0);
  auto quiet_since = std::chrono::steady_clock::now();
  for (;;) {
    bool all_done = std::all_of(ts.begin(), ts.end(), [](const task& t) { return t.finished(); });
    if (all_done) break;
    std::uint64_t now = w.progress.load();
    if (now != last) {
      last = now;
      quiet_since = std::chrono::steady_clock::now();
    } else if (std::chrono::steady_clock::now() - quiet_since > 50ms) {
      w.quit.close();
      break;
    }
    gopp::sleep_for(2ms);
  }
  for (auto& t : ts) t.join();

  // Drain what is still buffered.
  std::vector<std::uint64_t> sent, received;
  for (auto& c : w.chans) {
    while (auto v = c.try_recv()) received.push_back(*v);
  }
  for (auto& l : ledgers) {
    if (!l.error.empty()) return {"worker error: " + l.error};
    sent.insert(sent.end(), l.sent.begin(), l.sent.end());
    received.insert(received.end(), l.received.begin(), l.received.end());
  }
  std::sort(sent.begin(), sent.end());
  std::sort(received.begin(), received.end());
  if (std::adjacent_find(received.begin(), received.end()) != received.end()) {
    return {"a value was received twice"};
  }
  if (sent != received) {
    return {"sent " + std::to_string(sent.size()) + " values but received " +
            std::to_string(received.size()) + " (the sets differ)"};
  }
  return {};
}

class ChanStress : public sides {};

TEST_P(ChanStress, RandomOperationsKeepTheBooksBalanced) {
  const int runs = static_cast<int>(scaled(30, 4));
  const std::uint64_t base = seed_for_this_run();
  for (int r = 0; r < runs; ++r) {
    const std::uint64_t seed = base + std::uint64_t(r);
    run_result res = run_once(seed, GetParam(), /*with_closes=*/false);
    ASSERT_TRUE(res.failure.empty()) << res.failure << "  [rerun: GOPP_TEST_SEED=" << seed << "]";
  }
}

TEST_P(ChanStress, RandomOperationsWithClosesKeepTheBooksBalanced) {
  const int runs = static_cast<int>(scaled(30, 4));
  const std::uint64_t base = seed_for_this_run();
  for (int r = 0; r < runs; ++r) {
    const std::uint64_t seed = base + std::uint64_t(r);
    run_result res = run_once(seed, GetParam(), /*with_closes=*/true);
    ASSERT_TRUE(res.failure.empty()) << res.failure << "  [rerun: GOPP_TEST_SEED=" << seed << "]";
  }
}

TEST_P(ChanStress, CloseRacesWithSelectsOnBothSides) {
  // Repeats a narrow window: selects parked on a channel in both directions while it is closed.
  // Senders must throw, receivers must see nullopt or a value some sender really sent.
  const int rounds = static_cast<int>(scaled(300, 30));
  const std::uint64_t seed = seed_for_this_run();
  std::mt19937_64 rng(seed);
  for (int round = 0; round < rounds; ++round) {
    chan<int> c(int(rng() % 3)), other;
    std::atomic<int> sent{0}, received{0}, threw{0}, saw_close{0};
    std::vector<task> ts;
    const int pairs = 3;
    for (int i = 0; i < pairs; ++i) {
      ts.push_back(start(i % 2 ? GetParam() : side::goroutine, [&, c, other] {
        try {
          if (gopp::select(send_case(c, 1), recv_case(other)) == 0) ++sent;
        } catch (const gopp::closed_channel_error&) {
          ++threw;
        }
      }));
      ts.push_back(start(i % 2 ? side::goroutine : GetParam(), [&, c, other] {
        gopp::select(recv_case(c,
                               [&](std::optional<int> v) {
                                 if (v) {
                                   ++received;
                                 } else {
                                   ++saw_close;
                                 }
                               }),
                     recv_case(other));
      }));
    }
    if (rng() % 2) gopp::sleep_for(std::chrono::microseconds(rng() % 200));
    c.close();
    for (auto& t : ts) t.join();
    ASSERT_EQ(sent + threw, pairs) << "round " << round << " [GOPP_TEST_SEED=" << seed << "]";
    ASSERT_EQ(received + saw_close, pairs) << "round " << round << " [seed " << seed << "]";
    ASSERT_EQ(sent, received) << "round " << round << ": buffered values are received after "
                              << "close, so every completed send has a receiver [seed " << seed
                              << "]";
  }
}

GOPP_INSTANTIATE_SIDES(ChanStress);

}  // namespace
