// Port of Go's test/chan/select3.go: which channel operations and selects block, and which panic.
//
// Go's helper testBlock runs an operation on a goroutine and races it against a timer: "never
// blocks" operations must finish (Go allows them 10 s), "always blocks" ones must still be
// waiting after a short pause (Go: 10 ms). testPanic checks that an operation panics or not; a Go
// panic is a thrown gopp::closed_channel_error here. Goroutines left blocked for good (a nil
// channel, an empty select, a channel nobody else holds) are abandoned, as in Go, and declared to
// the teardown check.
#include "test_support.hpp"

#include <atomic>
#include <chrono>
#include <functional>
#include <optional>

namespace {

using gopp::chan;
using gopp::default_case;
using gopp::recv_case;
using gopp::send_case;
using namespace gopp_test;

void unreachable() {
  ADD_FAILURE() << "control flow should not reach here";
}

// Goroutines that finished an operation under test. A global, so that a goroutine abandoned for
// good holds no heap memory of the test.
std::atomic<int> finished{0};

class Select3 : public leak_checked {
 protected:
  // f must return promptly (it runs on a goroutine; Go gives it 10 s).
  template <class F>
  void never_blocks(F f) {
    const int before = finished.load();
    gopp::go([f] {
      f();
      ++finished;
    });
    EXPECT_TRUE(
        eventually([&] { return finished.load() == before + 1; }, std::chrono::milliseconds(10000)))
        << "the operation blocked";
  }

  // f must still be blocked after a pause. Then release() unblocks it, when the operation can be
  // unblocked at all; otherwise (a nil channel, an empty select) its goroutine is abandoned, as Go
  // abandons it.
  template <class F>
  void always_blocks(F f, std::function<void()> release = nullptr) {
    const int before = finished.load();
    gopp::go([f] {
      f();
      ++finished;
    });
    settle();
    EXPECT_EQ(finished.load(), before) << "the operation did not block";
    if (release) {
      release();
      EXPECT_TRUE(eventually([&] { return finished.load() == before + 1; }));
    } else {
      expect_stranded(1);
    }
  }

  static void always_panics(const std::function<void()>& f) {
    EXPECT_THROW(f(), gopp::closed_channel_error);
  }
  static void never_panics(const std::function<void()>& f) { EXPECT_NO_THROW(f()); }

  static constexpr int async = 1;  // buffer size of the "asynchronous" channels
  chan<int> nilch{nullptr};
  chan<int> closedch = [] {
    chan<int> c;
    c.close();
    return c;
  }();
};

TEST_F(Select3, NilChannelSendAndReceiveBlock) {
  always_blocks([c = nilch] { c.send(7); });
  always_blocks([c = nilch] { (void)c.recv(); });
}

TEST_F(Select3, NilChannelCasesAreNeverSelected) {
  never_panics([&] { gopp::select(send_case(nilch, 7, [] { unreachable(); }), default_case()); });
  never_panics([&] {
    gopp::select(recv_case(nilch, [](std::optional<int>) { unreachable(); }), default_case());
  });
}

TEST_F(Select3, SendWithFreeBufferSpaceDoesNotBlock) {
  never_blocks([] {
    chan<int> ch(async);
    ch.send(7);
  });
}

TEST_F(Select3, ReceiveFromClosedChannelDoesNotBlock) {
  never_blocks([c = closedch] {
    for (int i = 0; i < 10; ++i) {
      // Go's zero value and ok == false both read as nullopt here.
      EXPECT_EQ(c.recv(), std::nullopt) << "expected nothing from a closed channel";
      EXPECT_EQ(c.recv(), std::nullopt);
    }
  });
}

TEST_F(Select3, SendToClosedChannelPanics) {
  always_panics([&] { closedch.send(7); });
}

TEST_F(Select3, ReceiveFromNonReadyChannelBlocks) {
  chan<int> ch;
  always_blocks([ch] { (void)ch.recv(); }, [ch] { ch.close(); });
}

TEST_F(Select3, EmptySelectBlocks) {
  always_blocks([] { gopp::select(); });
}

TEST_F(Select3, SelectsOverOnlyNilChannelsBlock) {
  always_blocks(
      [c = nilch] { gopp::select(recv_case(c, [](std::optional<int>) { unreachable(); })); });
  always_blocks([c = nilch] { gopp::select(send_case(c, 7, [] { unreachable(); })); });
  always_blocks([c = nilch] {
    gopp::select(recv_case(c, [](std::optional<int>) { unreachable(); }),
                 send_case(c, 7, [] { unreachable(); }));
  });
}

TEST_F(Select3, SelectOverNonReadyChannelBlocks) {
  chan<int> ch;
  always_blocks(
      [ch] {
        // Reached only through the release below, which closes ch.
        gopp::select(recv_case(ch, [](std::optional<int> v) {
          if (v) unreachable();
        }));
      },
      [ch] { ch.close(); });
}

TEST_F(Select3, SelectsWithDefaultDoNotBlock) {
  never_blocks([] { gopp::select(default_case()); });
  never_blocks([c = nilch] {
    gopp::select(recv_case(c, [](std::optional<int>) { unreachable(); }), default_case());
  });
  never_blocks(
      [c = nilch] { gopp::select(send_case(c, 7, [] { unreachable(); }), default_case()); });
}

TEST_F(Select3, SelectsWithReadyChannelsDoNotBlock) {
  never_blocks([] {
    chan<int> ch(async);
    gopp::select(send_case(ch, 7), default_case([] { unreachable(); }));
  });
  never_blocks([] {
    chan<int> ch(async);
    ch.send(7);
    gopp::select(recv_case(ch), default_case([] { unreachable(); }));
  });
}

TEST_F(Select3, SelectsOnClosedChannelsBehaveLikePlainOperations) {
  never_blocks([c = closedch] { gopp::select(recv_case(c)); });
  never_blocks([c = closedch] {
    std::optional<int> x = 5;
    gopp::select(recv_case(c, [&](std::optional<int> v) { x = v; }));
    EXPECT_EQ(x, std::nullopt);
  });
  always_panics([&] { gopp::select(send_case(closedch, 7)); });
}

TEST_F(Select3, SelectDoesNotMatchItselfAndBlocks) {
  chan<int> c;
  always_blocks([c] { gopp::select(send_case(c, 1), recv_case(c)); },
                [c] { EXPECT_EQ(c.recv(), 1); });
}

}  // namespace
