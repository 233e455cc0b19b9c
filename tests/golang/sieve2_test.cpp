// Port of Go's test/chan/sieve2.go: a sieve of Eratosthenes built from channels.
//
// Only odd candidates are considered. For each prime p a goroutine produces the odd multiples of p
// from p*p on; a merging goroutine keeps these streams in a min-heap ordered by their next value
// and feeds the merged composites to the sieving goroutine, which emits every candidate that is
// not a composite. The primes are fed back to the merger through a proxy goroutine with an
// unbounded buffer (a select that disables its send case while the buffer is empty, by using the
// nil channel), which breaks the feedback deadlock. Go's proxy buffer is a growing ring
// (container/ring), its heap container/heap; this port uses std::deque and std::priority_queue.
// Go leaves every goroutine running when main returns; here a gopp_test::pipeline stops them.
#include "test_support.hpp"

#include <deque>
#include <optional>
#include <queue>
#include <vector>

namespace {

using gopp::chan;
using gopp::recv_case;
using gopp::send_case;
using gopp::send_chan;
using namespace gopp_test;

const std::vector<int> primes_below_100 = {2,  3,  5,  7,  11, 13, 17, 19, 23, 29, 31, 37, 41,
                                           43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97};

// The odd numbers from 5 on.
chan<int> odds(const pipeline& q) {
  chan<int> out(50);
  q.go([q, out] {
    for (int n = 5;; n += 2) q.send(out, n);
  });
  return out;
}

// The odd multiples of the prime p, from p*p on.
chan<int> multiples(const pipeline& q, int p) {
  chan<int> out(10);
  q.go([q, out, p] {
    for (int n = p * p;; n += 2 * p) q.send(out, n);
  });
  return out;
}

// A stream and the value it will deliver next.
struct peek_chan {
  int head;
  chan<int> ch;
};
struct later_head {
  bool operator()(const peek_chan& a, const peek_chan& b) const { return a.head > b.head; }
};
using peek_heap = std::priority_queue<peek_chan, std::vector<peek_chan>, later_head>;

// A channel that forwards to out and never blocks its sender: values wait in a growing buffer.
send_chan<int> send_proxy(const pipeline& q, send_chan<int> out) {
  chan<int> proxy(10);
  q.go([q, proxy, out] {
    std::deque<int> buffer;
    for (;;) {
      // Output is disabled (the nil channel) while the buffer is empty.
      send_chan<int> c = buffer.empty() ? send_chan<int>() : out;
      int e = buffer.empty() ? 0 : buffer.front();
      std::size_t chosen =
          gopp::select(recv_case(proxy, [&](std::optional<int> v) { buffer.push_back(v.value()); }),
                       send_case(c, e, [&] { buffer.pop_front(); }), recv_case(q.quit()));
      if (chosen == 2) throw pipeline::stopped{};
    }
  });
  return proxy;
}

// The primes, in order.
chan<int> sieve(const pipeline& q) {
  chan<int> out(10);
  out.send(2);
  out.send(3);
  chan<int> composites(50);  // every odd composite, in increasing order
  chan<int> primes(10);      // the feedback loop
  primes.send(3);

  // Merge the multiples of each prime into composites.
  q.go([q, primes, composites] {
    peek_heap h;
    int min = 15;
    for (;;) {
      chan<int> m = multiples(q, q.recv(primes).value());
      int head = q.recv(m).value();
      while (min < head) {
        q.send(composites, min);
        peek_chan smallest = h.top();
        h.pop();
        min = smallest.head;
        smallest.head = q.recv(smallest.ch).value();
        h.push(smallest);
      }
      while (min == head) {
        peek_chan smallest = h.top();
        h.pop();
        min = smallest.head;
        smallest.head = q.recv(smallest.ch).value();
        h.push(smallest);
      }
      q.send(composites, head);
      h.push(peek_chan{q.recv(m).value(), m});
    }
  });

  // Sieve the composites out of the candidates.
  q.go([q, primes, composites, out] {
    // Only primes up to the square root of the next prime are needed by the merger, so it takes
    // from primes far more slowly than this goroutine sends: the proxy buffers the difference.
    send_chan<int> to_merger = send_proxy(q, primes);
    chan<int> candidates = odds(q);
    int p = q.recv(candidates).value();
    for (;;) {
      int c = q.recv(composites).value();
      while (p < c) {
        q.send(to_merger, p);
        q.send(out, p);
        p = q.recv(candidates).value();
      }
      if (p == c) p = q.recv(candidates).value();
    }
  });
  return out;
}

void sieve2_main() {
  pipeline q;
  chan<int> primes = sieve(q);
  for (int want : primes_below_100) EXPECT_EQ(primes.recv(), want);
  q.stop();
}

class Sieve2 : public sides {};

TEST_P(Sieve2, FirstTwentyFivePrimes) {
  const int rounds = static_cast<int>(scaled(20, 2));
  start(GetParam(), [rounds] {
    for (int i = 0; i < rounds; ++i) sieve2_main();
  }).join();
}

GOPP_INSTANTIATE_SIDES(Sieve2);

}  // namespace
