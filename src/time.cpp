// Timer channels on the runtime's timer heap (src/runtime/timer.hpp).
//
// A timer_state owns a timer_node and a channel of capacity 1. Firing (on the timer thread, under
// the heap lock) try_sends the current time: a full channel drops the value, which is exactly a
// ticker's "drop ticks for a slow receiver". stop() is timers::cancel() (linearizable: after it,
// no fire is running or will run) followed by draining the channel, which gives Go 1.23's "no
// stale value after Stop/Reset". State is shared: a fire in progress keeps nothing alive by
// itself, so destructors cancel first; after() states, which nobody can cancel, free themselves
// when they fire. An after_func fire starts no goroutine under the heap lock (go() may map a
// stack, allocate or throw): it queues the start with timers::after_unlock, holding a reference
// to its state so that a timer destroyed meanwhile does not free the function; a start that
// throws is reported on stderr and the program goes on.
#include "gopp/time.hpp"

#include <exception>
#include <stdexcept>
#include <string>
#include <utility>

#include "gopp/go.hpp"
#include "runtime/goroutine.hpp"
#include "runtime/timer.hpp"

namespace gopp {

namespace detail {

using time_point = std::chrono::steady_clock::time_point;

struct timer_state : timer_node, std::enable_shared_from_this<timer_state> {
  chan<time_point> ch{1};
  std::function<void()> func;  // after_func: run in a goroutine instead of sending
  bool owned_by_heap = false;  // after(): freed by its own fire

  // after_func, with the heap lock let go: starts the function's goroutine.
  static void start_func(std::shared_ptr<void> state) noexcept {
    auto* s = static_cast<timer_state*>(state.get());
    try {
      go(s->func);
    } catch (const std::exception& e) {
      report_start_failure(e.what());
    } catch (...) {
      report_start_failure("unknown exception");
    }
  }
  static void report_start_failure(const char* what) noexcept {
    const std::string msg =
        std::string("gopp: after_func: cannot start the function's goroutine: ") + what + "\n";
    write_stderr(msg.data(), msg.size());
  }

  static void on_fire(timer_node* n) {
    auto* s = static_cast<timer_state*>(n);
    if (s->func) {
      // Alive: its owner's destructor cancels first, and waits for this fire to end.
      timers::after_unlock(&start_func, std::static_pointer_cast<void>(s->shared_from_this()));
      return;
    }
    auto now = std::chrono::steady_clock::now();
    s->ch.try_send(now);
    if (s->owned_by_heap) delete s;
  }

  bool stop() {
    bool stopped = timers::cancel(this);
    if (!func && ch.try_recv()) stopped = true;  // fired, not received: drain (Go 1.23)
    return stopped;
  }
  void start(std::chrono::nanoseconds d) {
    when = deadline_after(d);
    timers::add(this);
  }
};

}  // namespace detail

namespace {
std::shared_ptr<detail::timer_state> new_state() {
  auto s = std::make_shared<detail::timer_state>();
  s->fire = &detail::timer_state::on_fire;
  return s;
}
}  // namespace

timer::timer(std::chrono::nanoseconds d) : state_(new_state()) {
  state_->start(d);
}
timer::timer(std::shared_ptr<detail::timer_state> s) noexcept : state_(std::move(s)) {}
timer::~timer() {
  if (state_) detail::timers::cancel(state_.get());
}
timer::timer(timer&&) noexcept = default;
timer& timer::operator=(timer&& other) noexcept {
  if (this != &other) {
    if (state_) detail::timers::cancel(state_.get());
    state_ = std::move(other.state_);
  }
  return *this;
}

recv_chan<std::chrono::steady_clock::time_point> timer::c() const {
  if (!state_ || state_->func) return nullptr;
  return state_->ch;
}

bool timer::stop() {
  return state_ && state_->stop();
}

bool timer::reset(std::chrono::nanoseconds d) {
  if (!state_) throw std::logic_error("time: Reset called on uninitialized Timer");
  const bool was = state_->stop();
  state_->start(d);
  return was;
}

ticker::ticker(std::chrono::nanoseconds d) : state_(new_state()) {
  if (d <= std::chrono::nanoseconds::zero()) {
    throw std::invalid_argument("non-positive interval for NewTicker");
  }
  state_->period = d;
  state_->start(d);
}
ticker::~ticker() {
  if (state_) detail::timers::cancel(state_.get());
}
ticker::ticker(ticker&&) noexcept = default;
ticker& ticker::operator=(ticker&& other) noexcept {
  if (this != &other) {
    if (state_) detail::timers::cancel(state_.get());
    state_ = std::move(other.state_);
  }
  return *this;
}

recv_chan<std::chrono::steady_clock::time_point> ticker::c() const {
  if (!state_) return nullptr;
  return state_->ch;
}

void ticker::stop() {
  if (state_) state_->stop();
}

void ticker::reset(std::chrono::nanoseconds d) {
  if (d <= std::chrono::nanoseconds::zero()) {
    throw std::invalid_argument("non-positive interval for Ticker.Reset");
  }
  if (!state_) throw std::logic_error("time: Reset called on uninitialized Ticker");
  state_->stop();
  state_->period = d;
  state_->start(d);
}

recv_chan<std::chrono::steady_clock::time_point> after(std::chrono::nanoseconds d) {
  auto* s = new detail::timer_state;
  s->fire = &detail::timer_state::on_fire;
  s->owned_by_heap = true;
  recv_chan<std::chrono::steady_clock::time_point> c = s->ch;
  s->start(d);
  return c;
}

recv_chan<std::chrono::steady_clock::time_point> tick(std::chrono::nanoseconds d) {
  if (d <= std::chrono::nanoseconds::zero()) return nullptr;  // Go: Tick returns nil
  // Never freed, never stopped: the timer heap keeps it (and so it stays reachable for LSan).
  auto* s = new detail::timer_state;
  s->fire = &detail::timer_state::on_fire;
  s->period = d;
  recv_chan<std::chrono::steady_clock::time_point> c = s->ch;
  s->start(d);
  return c;
}

timer after_func(std::chrono::nanoseconds d, std::function<void()> f) {
  auto s = new_state();
  s->func = std::move(f);
  s->start(d);
  return timer(std::move(s));
}

}  // namespace gopp
