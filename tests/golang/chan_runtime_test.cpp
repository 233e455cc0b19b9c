// Port of the behaviours checked by Go's src/runtime/chan_test.go.
//
//   TestChan                  -> Chan.* (per capacity: blocking, non-blocking, close, FIFO,
//                                many senders and receivers, len/cap)
//   TestNonblockRecvRace      -> NonblockRecvRace
//   TestNonblockSelectRace(2) -> NonblockSelectRace, NonblockSelectRace2
//   TestSelfSelect            -> SelfSelect
//   TestSelectStress          -> SelectStress
//   TestSelectFairness        -> SelectFairness
//   TestChanSendInterface     -> ChanSendInterface (Go's `chan any`: a chan of shared pointers)
//   TestPseudoRandomSend      -> PseudoRandomSend
//   TestMultiConsumer         -> MultiConsumer
//   TestSelectDuplicateChannel-> SelectDuplicateChannel
//   TestSelectStackAdjust     -> SelectDuplicateCasesWokenByClose (gopp stacks never move, so only
//                                the channel side of that test applies: two parked selects, one
//                                with duplicate cases, woken by a close)
//   Not applicable: TestShrinkStackDuringBlockedSend and TestNoShrinkStackWhileParking (Go's
//   garbage collector shrinks goroutine stacks; gopp stacks are fixed and never move).
//
// Go sets GOMAXPROCS inside some tests; gopp's thread count is fixed per process (see
// test_support.hpp), so these run with whatever the process has. Iteration counts use Go's
// -short values or are scaled by test_scale().
#include "test_support.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <map>
#include <memory>
#include <optional>
#include <vector>

namespace {

using gopp::chan;
using gopp::default_case;
using gopp::recv_case;
using gopp::send_case;
using namespace gopp_test;
using namespace std::chrono_literals;

// ---- TestChan, one block per behaviour, for every capacity below N.

class Chan : public leak_checked {
 protected:
  static int capacities() { return static_cast<int>(scaled(40, 8)); }  // Go: 200, -short 20
};

TEST_F(Chan, ReceiveFromEmptyChannelBlocks) {
  for (int cap = 0; cap < capacities(); ++cap) {
    chan<int> c(cap);
    std::atomic<bool> recv1{false}, recv2{false};
    gopp::go([c, &recv1] {
      (void)c.recv();
      recv1 = true;
    });
    gopp::go([c, &recv2] {
      (void)c.recv();
      recv2 = true;
    });
    gopp::sleep_for(1ms);
    ASSERT_FALSE(recv1 || recv2) << "chan[" << cap << "]: receive from empty chan";
    // A non-blocking receive does not block.
    EXPECT_EQ(gopp::select(recv_case(c), default_case()), 1u) << "chan[" << cap << "]";
    EXPECT_EQ(c.try_recv(), std::nullopt);
    c.send(0);  // release both receivers
    c.send(0);
    ASSERT_TRUE(eventually([&] { return recv1 && recv2; }));
  }
}

TEST_F(Chan, SendToFullChannelBlocks) {
  for (int cap = 0; cap < capacities(); ++cap) {
    chan<int> c(cap);
    for (int i = 0; i < cap; ++i) c.send(i);
    std::atomic<bool> sent{false};
    gopp::go([c, &sent] {
      c.send(0);
      sent = true;
    });
    gopp::sleep_for(1ms);
    ASSERT_FALSE(sent) << "chan[" << cap << "]: send to full chan";
    EXPECT_EQ(gopp::select(send_case(c, 0), default_case()), 1u) << "chan[" << cap << "]";
    (void)c.recv();
    ASSERT_TRUE(eventually([&] { return sent.load(); }));
  }
}

TEST_F(Chan, ClosedChannelDeliversBufferThenNothing) {
  for (int cap = 0; cap < capacities(); ++cap) {
    chan<int> c(cap);
    for (int i = 0; i < cap; ++i) c.send(i);
    c.close();
    for (int i = 0; i < cap; ++i) ASSERT_EQ(c.recv(), i) << "chan[" << cap << "]";
    EXPECT_EQ(c.recv(), std::nullopt) << "chan[" << cap << "]";
    EXPECT_EQ(c.recv(), std::nullopt) << "chan[" << cap << "]";
  }
}

TEST_F(Chan, CloseUnblocksReceive) {
  for (int cap = 0; cap < capacities(); ++cap) {
    chan<int> c(cap);
    chan<bool> done;
    gopp::go([c, done] { done.send(c.recv() == std::nullopt); });
    gopp::sleep_for(1ms);
    c.close();
    EXPECT_EQ(done.recv(), true) << "chan[" << cap << "]: received a value from a closed chan";
  }
}

TEST_F(Chan, HundredValuesInFifoOrderAndManySendersAndReceivers) {
  for (int cap = 0; cap < capacities(); ++cap) {
    chan<int> c(cap);
    for (int pass = 0; pass < 2; ++pass) {  // Go's second pass uses `v, ok := <-c`
      gopp::go([c] {
        for (int i = 0; i < 100; ++i) c.send(i);
      });
      for (int i = 0; i < 100; ++i) ASSERT_EQ(c.recv(), i) << "chan[" << cap << "]";
    }

    // P goroutines send 0..L-1 each; P goroutines receive L values each.
    constexpr int P = 4;
    const int L = static_cast<int>(scaled(1000, 100));
    for (int p = 0; p < P; ++p) {
      gopp::go([c, L] {
        for (int i = 0; i < L; ++i) c.send(i);
      });
    }
    chan<std::map<int, int>> done;
    for (int p = 0; p < P; ++p) {
      gopp::go([c, done, L] {
        std::map<int, int> recv;
        for (int i = 0; i < L; ++i) ++recv[c.recv().value()];
        done.send(std::move(recv));
      });
    }
    std::map<int, int> recv;
    for (int p = 0; p < P; ++p) {
      // (Named first: ranging over done.recv().value() would iterate a destroyed temporary.)
      std::map<int, int> part = done.recv().value();
      for (auto [k, v] : part) recv[k] += v;
    }
    ASSERT_EQ(recv.size(), static_cast<std::size_t>(L)) << "chan[" << cap << "]";
    for (auto [k, v] : recv) ASSERT_EQ(v, P) << "chan[" << cap << "] value " << k;
  }
}

TEST_F(Chan, LenAndCap) {
  for (int cap = 0; cap < capacities(); ++cap) {
    chan<int> c(cap);
    EXPECT_EQ(c.size(), 0u);
    EXPECT_EQ(c.capacity(), static_cast<std::size_t>(cap));
    for (int i = 0; i < cap; ++i) c.send(i);
    EXPECT_EQ(c.size(), static_cast<std::size_t>(cap));
    EXPECT_EQ(c.capacity(), static_cast<std::size_t>(cap));
  }
}

// ---- The race tests

class Runtime : public leak_checked {};

TEST_F(Runtime, NonblockRecvRace) {
  // A value buffered before close must be seen by a non-blocking receive racing with the close.
  const int n = static_cast<int>(scaled_goroutines(10000, 100));
  for (int i = 0; i < n; ++i) {
    chan<int> c(1);
    c.send(1);
    chan<bool> result;
    gopp::go([c, result] { result.send(gopp::select(recv_case(c), default_case()) == 0); });
    c.close();
    (void)c.recv();
    ASSERT_EQ(result.recv(), true) << "iteration " << i << ": chan is not ready";
  }
}

TEST_F(Runtime, NonblockSelectRace) {
  // From the moment the goroutine starts, c1 or c2 is always ready, so its non-blocking select
  // must never take the default: a select acts on the state of all its channels at one instant.
  const int n = static_cast<int>(scaled_goroutines(20000, 200));  // Go: 100,000, -short 1,000
  chan<bool> done(1);
  for (int i = 0; i < n; ++i) {
    chan<int> c1(1), c2(1);
    c1.send(1);
    gopp::go([c1, c2, done] {
      done.send(gopp::select(recv_case(c1), recv_case(c2), default_case()) != 2);
    });
    c2.send(1);
    gopp::select(recv_case(c1), default_case());
    ASSERT_EQ(done.recv(), true) << "iteration " << i << ": no chan is ready";
  }
}

TEST_F(Runtime, NonblockSelectRace2) {
  // As NonblockSelectRace, with close(c2) instead of a send on it.
  const int n = static_cast<int>(scaled_goroutines(20000, 200));
  chan<bool> done(1);
  for (int i = 0; i < n; ++i) {
    chan<int> c1(1), c2;
    c1.send(1);
    gopp::go([c1, c2, done] {
      done.send(gopp::select(recv_case(c1), recv_case(c2), default_case()) != 2);
    });
    c2.close();
    gopp::select(recv_case(c1), default_case());
    ASSERT_EQ(done.recv(), true) << "iteration " << i << ": no chan is ready";
  }
}

TEST_F(Runtime, SelfSelect) {
  // Send and receive on the same channel in one select: no crash, no deadlock, and on an
  // unbuffered channel a goroutine never receives its own value.
  for (int cap : {0, 10}) {
    std::vector<task> ts;
    chan<int> c(cap);
    for (int p = 0; p < 2; ++p) {
      ts.push_back(start(side::goroutine, [c, cap, p] {
        for (int i = 0; i < 1000; ++i) {
          std::optional<int> v;
          auto take = [&](std::optional<int> x) { v = x; };
          if (p == 0 || i % 2 == 0) {
            gopp::select(send_case(c, p), recv_case(c, take));
          } else {
            gopp::select(recv_case(c, take), send_case(c, p));
          }
          if (cap == 0 && v == p) {
            ADD_FAILURE() << "self receive";
            return;
          }
        }
      }));
    }
    for (auto& t : ts) t.join();
  }
}

TEST_F(Runtime, SelectStress) {
  // Four plain senders and four plain receivers, one per channel, plus one goroutine that sends N
  // values on each channel through one select and one that receives N from each through one
  // select, switching a channel off (nil) once its N are done. Nothing may deadlock.
  const int N = static_cast<int>(scaled(10000, 500));  // Go: 1e5, -short 1e4
  std::array<chan<int>, 4> c = {chan<int>(), chan<int>(), chan<int>(2), chan<int>(3)};
  std::vector<task> ts;
  for (int k = 0; k < 4; ++k) {
    ts.push_back(start(side::goroutine, [ck = c[k], N] {
      for (int i = 0; i < N; ++i) ck.send(0);
    }));
    ts.push_back(start(side::goroutine, [ck = c[k], N] {
      for (int i = 0; i < N; ++i) (void)ck.recv();
    }));
  }
  ts.push_back(start(side::goroutine, [c, N] {
    std::array<int, 4> n{};
    auto c1 = c;
    auto sent = [&](int k) {
      if (++n[k] == N) c1[k] = chan<int>(nullptr);
    };
    for (int i = 0; i < 4 * N; ++i) {
      gopp::select(send_case(c1[3], 0, [&] { sent(3); }), send_case(c1[2], 0, [&] { sent(2); }),
                   send_case(c1[0], 0, [&] { sent(0); }), send_case(c1[1], 0, [&] { sent(1); }));
    }
  }));
  ts.push_back(start(side::goroutine, [c, N] {
    std::array<int, 4> n{};
    auto c1 = c;
    auto got = [&](int k) {
      return [&, k](std::optional<int>) {
        if (++n[k] == N) c1[k] = chan<int>(nullptr);
      };
    };
    for (int i = 0; i < 4 * N; ++i) {
      gopp::select(recv_case(c1[0], got(0)), recv_case(c1[1], got(1)), recv_case(c1[2], got(2)),
                   recv_case(c1[3], got(3)));
    }
  }));
  for (auto& t : ts) t.join();
}

TEST_F(Runtime, SelectFairness) {
  // Two always-ready buffered channels among four cases must be chosen about equally often.
  constexpr int trials = 10000;
  chan<std::uint8_t> c1(trials + 1), c2(trials + 1), c3, c4, out;
  chan<std::uint8_t> done;
  for (int i = 0; i < trials + 1; ++i) {
    c1.send(1);
    c2.send(2);
  }
  auto t = start(side::goroutine, [=] {
    for (;;) {
      std::uint8_t b = 0;
      auto take = [&](std::optional<std::uint8_t> v) { b = v.value_or(0); };
      gopp::select(recv_case(c3, take), recv_case(c4, take), recv_case(c1, take),
                   recv_case(c2, take));
      if (gopp::select(send_case(out, b), recv_case(done)) == 1) return;
    }
  });
  long cnt1 = 0, cnt2 = 0;
  for (int i = 0; i < trials; ++i) {
    std::uint8_t b = out.recv().value();
    if (b == 1) {
      ++cnt1;
    } else if (b == 2) {
      ++cnt2;
    } else {
      FAIL() << "unexpected value " << int(b) << " on channel";
    }
  }
  // Go's bound: the margin of error at a confidence level of six nines.
  double r = static_cast<double>(cnt1) / trials;
  double e = std::abs(r - 0.5);
  EXPECT_LE(e, 4.891676 / (2 * std::sqrt(double(trials))))
      << "unfair select: in " << trials << " trials, results were " << cnt1 << ", " << cnt2;
  done.close();
  t.join();
}

TEST_F(Runtime, ChanSendInterface) {
  // Go sends an interface value (a pointer) on a `chan any`, in selects with defaults and with
  // two send cases; a channel of shared pointers to a polymorphic type plays that part here.
  struct base {
    virtual ~base() = default;
  };
  struct mt : base {};
  auto m = std::make_shared<mt>();
  chan<std::shared_ptr<base>> c(1);
  c.send(m);
  gopp::select(send_case(c, m), default_case());
  gopp::select(send_case(c, m), send_case(c, std::make_shared<mt>()), default_case());
  EXPECT_EQ(c.recv(), m);
  EXPECT_EQ(m.use_count(), 1) << "the values not sent were released";
}

TEST_F(Runtime, PseudoRandomSend) {
  // A select with two send cases on one channel must pick both, unbuffered (the receiver often
  // arrives later) and buffered.
  const int n = 100;
  for (int cap : {0, n}) {
    chan<int> c(cap);
    std::vector<int> l(n);
    chan<bool> finished;
    gopp::go([c, finished, &l, n] {
      for (int i = 0; i < n; ++i) {
        gopp::yield();
        l[i] = c.recv().value();
      }
      finished.send(true);
    });
    for (int i = 0; i < n; ++i) gopp::select(send_case(c, 1), send_case(c, 0));
    (void)finished.recv();
    int n0 = 0, n1 = 0;
    for (int v : l) {
      n0 += (v + 1) % 2;
      n1 += v;
    }
    EXPECT_GT(n0, n / 10) << "want pseudorandom, got " << n0 << " zeros and " << n1
                          << " ones (chan cap " << cap << ")";
    EXPECT_GT(n1, n / 10) << "want pseudorandom, got " << n0 << " zeros and " << n1
                          << " ones (chan cap " << cap << ")";
  }
}

TEST_F(Runtime, MultiConsumer) {
  // 23 workers range over a job channel (some yielding to upset its FIFO-ish order) and forward
  // to a result channel; a feeder closes the jobs, waits for the workers, closes the results.
  constexpr int nwork = 23;
  const int niter = static_cast<int>(scaled(271828, 10000));
  const std::array<int, 10> pn = {2, 3, 7, 11, 13, 17, 19, 23, 27, 31};
  chan<int> q(nwork * 3), r(nwork * 3);
  chan<bool> worker_done(nwork);
  for (int w = 0; w < nwork; ++w) {
    gopp::go([q, r, worker_done, w, pn] {
      for (int v : q) {
        if (pn[w % pn.size()] == v) gopp::yield();
        r.send(v);
      }
      worker_done.send(true);
    });
  }
  long long expect = 0;
  gopp::go([q, r, worker_done, niter, pn, &expect] {
    for (int i = 0; i < niter; ++i) {
      int v = pn[i % pn.size()];
      expect += v;
      q.send(v);
    }
    q.close();                                                 // no more work
    for (int w = 0; w < nwork; ++w) (void)worker_done.recv();  // workers done
    r.close();                                                 // so there can be no more results
  });
  int n = 0;
  long long s = 0;
  for (int v : r) {
    ++n;
    s += v;
  }
  EXPECT_EQ(n, niter);
  EXPECT_EQ(s, expect);  // written before r was closed, which happened before the range ended
}

TEST_F(Runtime, SelectDuplicateChannel) {
  // A goroutine may queue on the same channel twice in one select. A (select on c, c, d) queues
  // first on c, B (plain receive on c) second; waking A through d must dequeue both of A's
  // entries from c, so that c's next send reaches B (it used to corrupt c's queue).
  chan<int> c, d, e;
  gopp::go([c, d, e] {
    gopp::select(recv_case(c), recv_case(c), recv_case(d));
    e.send(9);
  });
  settle();  // A is queued on c first
  auto b = start(side::goroutine, [c] { EXPECT_EQ(c.recv(), 8); });
  settle();  // B is queued on c behind A
  d.send(7);
  EXPECT_EQ(e.recv(), 9);
  c.send(8);
  b.join();
}

TEST_F(Runtime, SelectDuplicateCasesWokenByClose) {
  // The channel side of TestSelectStackAdjust: one parked select with cases on c and d, one with
  // each of them twice; closing d wakes both, through a d case, with nothing received.
  chan<int*> c, d;
  chan<bool> ready1, ready2;
  auto f = [c, d](chan<bool> ready, bool dup) {
    int val = 42;
    int* cx = &val;
    chan<int*> c2 = dup ? c : chan<int*>(nullptr);
    chan<int*> d2 = dup ? d : chan<int*>(nullptr);
    ready.send(true);
    std::size_t chosen =
        gopp::select(recv_case(c, [&](std::optional<int*> v) { cx = v.value_or(nullptr); }),
                     recv_case(c2), recv_case(d), recv_case(d2));
    EXPECT_TRUE(chosen == 2 || chosen == 3) << "woken through " << chosen;
    EXPECT_EQ(cx, &val);
    *cx = 43;
    EXPECT_EQ(val, 43);
    ready.send(true);
  };
  gopp::go(f, ready1, false);
  gopp::go(f, ready2, true);
  (void)ready1.recv();
  (void)ready2.recv();
  gopp::sleep_for(10ms);  // let both get into the select
  d.close();
  (void)ready1.recv();
  (void)ready2.recv();
}

}  // namespace
