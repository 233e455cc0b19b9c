// Port of Go's test/chan/nonblock.go: select with a default case never blocks, and a
// non-blocking send or receive eventually meets a counterpart that arrives on its own schedule.
//
// For element types of several sizes (int32, int64, bool, string) and for an unbuffered and a
// one-slot channel, the Go program (1) checks that a non-blocking receive from an empty channel
// takes the default branch, (2) retries a non-blocking send until a freshly started receiver
// takes it, and (3) retries a non-blocking receive until a freshly started sender delivers.
// Go's retry pause waits for two ticks of a 10 us ticker and yields three times; this port sleeps
// twice for 10 us and yields three times. The program's "main" runs on the test thread and on a
// goroutine.
#include "test_support.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace {

using gopp::chan;
using gopp::default_case;
using gopp::recv_case;
using gopp::send_case;
using namespace gopp_test;

constexpr int max_tries = 10000;  // as in nonblock.go: up to ~100 ms per exchange there

void pause() {
  gopp::sleep_for(std::chrono::microseconds(10));
  gopp::sleep_for(std::chrono::microseconds(10));
  gopp::yield();
  gopp::yield();
  gopp::yield();
}

// One element type at one buffer size: `to_receiver` goes to a receiver goroutine through a
// non-blocking send; `from_sender` comes from a sender goroutine through a non-blocking receive.
template <class T>
void exchange(int buffer, const T& to_receiver, const T& from_sender) {
  // (No SCOPED_TRACE: GoogleTest keeps traces per OS thread, and a goroutine may move.)
  const std::string where = "buffer " + std::to_string(buffer);
  chan<T> c(buffer);
  chan<bool> sync;

  // A receive from an empty channel is not ready.
  EXPECT_EQ(gopp::select(recv_case(c, [](std::optional<T>) { ADD_FAILURE() << "blocked sender"; }),
                         default_case()),
            1u)
      << where;

  gopp::go([c, sync, to_receiver] {
    EXPECT_EQ(c.recv(), to_receiver) << "receiver got the wrong value";
    sync.send(true);
  });
  int tries = 0;
  while (gopp::select(send_case(c, to_receiver), default_case()) != 0) {
    ASSERT_LE(++tries, max_tries) << where << ": the receiver never took the value";
    pause();
  }
  (void)sync.recv();

  gopp::go([c, sync, from_sender] {
    c.send(from_sender);
    sync.send(true);
  });
  if (buffer > 0) (void)sync.recv();  // the value is in the buffer by now
  std::optional<T> got;
  tries = 0;
  while (gopp::select(recv_case(c, [&](std::optional<T> v) { got = std::move(v); }),
                      default_case()) != 0) {
    ASSERT_LE(++tries, max_tries) << where << ": the sender never delivered";
    pause();
  }
  EXPECT_EQ(got, from_sender) << where << ": sender's value";
  if (buffer == 0) (void)sync.recv();
}

void nonblock_main() {
  for (int buffer = 0; buffer < 2; ++buffer) {
    exchange<std::int32_t>(buffer, 123, 234);
    exchange<std::int64_t>(buffer, 123456, 234567);
    exchange<bool>(buffer, true, true);
    exchange<std::string>(buffer, "hello", "hello again");
  }
}

class Nonblock : public sides {};

TEST_P(Nonblock, EveryTypeAndBufferSize) {
  start(GetParam(), nonblock_main).join();
}

GOPP_INSTANTIATE_SIDES(Nonblock);

}  // namespace
