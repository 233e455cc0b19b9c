// Port of Go's test/chan/sieve1.go: the classic concurrent prime sieve.
//
// A generator goroutine sends 2, 3, 4, ... and a growing daisy chain of filter goroutines, one
// per prime found, drops the multiples of its prime; the first 25 primes (those below 100) must
// come out in order. Go leaves the endless generator and filters running when main returns; here
// they run under a gopp_test::pipeline that stops them afterwards, so the test ends with no
// goroutine left behind.
#include "test_support.hpp"

#include <vector>

namespace {

using gopp::chan;
using gopp::recv_chan;
using gopp::send_chan;
using namespace gopp_test;

const std::vector<int> primes_below_100 = {2,  3,  5,  7,  11, 13, 17, 19, 23, 29, 31, 37, 41,
                                           43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97};

// Sends 2, 3, 4, ... on ch.
void generate(pipeline q, send_chan<int> ch) {
  for (int i = 2;; ++i) q.send(ch, i);
}

// Copies in to out, dropping the multiples of prime.
void filter(pipeline q, recv_chan<int> in, send_chan<int> out, int prime) {
  for (;;) {
    int i = q.recv(in).value();
    if (i % prime != 0) q.send(out, i);
  }
}

// Chains filters together, one per prime found.
void sieve(pipeline q, send_chan<int> primes) {
  chan<int> ch;
  q.go(generate, q, ch);
  for (;;) {
    int prime = q.recv(ch).value();
    q.send(primes, prime);
    chan<int> next;
    q.go(filter, q, ch, next, prime);
    ch = next;
  }
}

void sieve1_main() {
  pipeline q;
  chan<int> primes;
  q.go(sieve, q, primes);
  for (int want : primes_below_100) {
    EXPECT_EQ(primes.recv(), want);
  }
  q.stop();
}

class Sieve1 : public sides {};

TEST_P(Sieve1, FirstTwentyFivePrimes) {
  const int rounds = static_cast<int>(scaled(20, 2));
  start(GetParam(), [rounds] {
    for (int i = 0; i < rounds; ++i) sieve1_main();
  }).join();
}

GOPP_INSTANTIATE_SIDES(Sieve1);

}  // namespace
