// gopp/time.hpp: timer channels. Go: time.After, time.NewTimer, time.NewTicker, time.AfterFunc,
// time.Tick.
//
//   gopp::select(gopp::recv_case(results, [](auto r) { use(r); }),
//                gopp::recv_case(gopp::after(std::chrono::seconds(1)),
//                                [](auto) { std::puts("timeout"); }));
//
//   gopp::ticker tick(std::chrono::milliseconds(100));
//   for (int i = 0; i < 3; ++i) tick.c().recv();   // three ticks, 100 ms apart
//
// Go 1.23's semantics:
//   - A timer's or ticker's channel holds at most one value (the time it fired). A ticker drops
//     ticks for a slow receiver and schedules each tick from the previous deadline, so it does
//     not drift.
//   - timer::stop() returns true if it stopped the timer before it fired, or if the timer had
//     fired but its value was not received yet: that value is drained. After stop() or reset()
//     returns, no stale value is received.
//   - A non-positive ticker interval throws std::invalid_argument("non-positive interval for
//     NewTicker"); ticker::reset with one throws std::invalid_argument("non-positive interval for
//     Ticker.Reset").
//   - Destroying a timer or ticker stops it (C++ has no garbage collector to do it later), so
//     the timer after_func returns must be kept (it is [[nodiscard]]). A moved-from timer or
//     ticker is inert: stop() does nothing, c() is the nil channel, and reset() throws
//     std::logic_error with Go's message for a zero Timer: "time: Reset called on uninitialized
//     Timer" (or Ticker).
//   - after_func(d, f) runs f in its own goroutine after d (Go's AfterFunc); stop() before then
//     prevents it. Its c() is the nil channel.
// The time sent is std::chrono::steady_clock::now() when the timer fired.
#pragma once

#include <chrono>
#include <functional>
#include <memory>

#include "gopp/chan.hpp"

namespace gopp {

namespace detail {
struct timer_state;
}

// Go: time.Timer (from NewTimer or AfterFunc).
class timer {
 public:
  explicit timer(std::chrono::nanoseconds d);
  ~timer();
  timer(timer&&) noexcept;
  timer& operator=(timer&&) noexcept;
  timer(const timer&) = delete;
  timer& operator=(const timer&) = delete;

  recv_chan<std::chrono::steady_clock::time_point> c() const;
  // True if the call stopped the timer (see the header comment for a fired, unreceived value).
  bool stop();
  // Stops the timer and starts it again to fire after d. Returns what stop() would have.
  bool reset(std::chrono::nanoseconds d);

 private:
  friend timer after_func(std::chrono::nanoseconds d, std::function<void()> f);
  explicit timer(std::shared_ptr<detail::timer_state> s) noexcept;
  std::shared_ptr<detail::timer_state> state_;
};

// Go: time.Ticker.
class ticker {
 public:
  explicit ticker(std::chrono::nanoseconds d);
  ~ticker();
  ticker(ticker&&) noexcept;
  ticker& operator=(ticker&&) noexcept;
  ticker(const ticker&) = delete;
  ticker& operator=(const ticker&) = delete;

  recv_chan<std::chrono::steady_clock::time_point> c() const;
  void stop();
  void reset(std::chrono::nanoseconds d);

 private:
  std::shared_ptr<detail::timer_state> state_;
};

// Go: time.After(d): a channel that receives the time once, after d.
[[nodiscard]] recv_chan<std::chrono::steady_clock::time_point> after(std::chrono::nanoseconds d);

// Go: time.Tick(d): the channel of a ticker that is never stopped; the nil channel for d <= 0.
// The ticker runs until the program exits (Go 1.23 collects an unreferenced one; C++ cannot tell
// when the last handle is gone), so use it for ticks that last the whole program, and a ticker
// for anything that ends.
[[nodiscard]] recv_chan<std::chrono::steady_clock::time_point> tick(std::chrono::nanoseconds d);

// Go: time.AfterFunc(d, f): runs f in its own goroutine after d.
[[nodiscard]] timer after_func(std::chrono::nanoseconds d, std::function<void()> f);

}  // namespace gopp
