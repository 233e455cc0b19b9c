// rate::limiter: golang.org/x/time/rate's token bucket, reimplemented on gopp's timers.
//
// State (under lock_): tokens_ at time last_, the limit and burst, and last_event_, the latest
// time to act handed out. Nothing runs in the background: tokens at time t are computed lazily,
//   tokens(t) = min(burst, tokens_ + (t - last_) * limit)          (advance)
// and a reservation of n at t subtracts n from that, possibly going negative (debt); a negative
// balance -d means the reservation acts when the bucket has refilled d, i.e. after d / limit
// seconds. Since every reservation is made against the same lazily refilled balance, reservations
// are spaced exactly 1/limit apart however late their holders wake, so the long-run rate is the
// limit. cancel() gives back a reservation's tokens minus those already spoken for by later
// reservations (whose times to act assumed them gone). All of it is Go's algorithm.
//
// wait_n parks on a gopp::timer selected against ctx.done() (or just sleeps until the time to
// act when ctx can never end), so it parks only the goroutine and blocks a plain thread.
#include "gopp/rate.hpp"

#include <mutex>
#include <string>

#include "gopp/go.hpp"
#include "gopp/select.hpp"
#include "gopp/time.hpp"

namespace gopp::rate {

namespace {

using std::chrono::nanoseconds;
using time_point = std::chrono::steady_clock::time_point;

class rate_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "gopp.rate"; }
  std::string message(int c) const override {
    switch (static_cast<errc>(c)) {
      case errc::exceeds_burst:
        return "rate: Wait(n) exceeds limiter's burst";
      case errc::would_exceed_deadline:
        return "rate: Wait(n) would exceed context deadline";
    }
    return "rate: unknown error";
  }
};

// Go's durationFromTokens: inf_duration for a non-positive limit or an overflow.
nanoseconds duration_from_tokens(limit r, double tokens) noexcept {
  if (r <= 0) return inf_duration;
  const double ns = tokens / r * 1e9;
  if (ns >= static_cast<double>(inf_duration.count())) return inf_duration;
  return nanoseconds(static_cast<std::int64_t>(ns));
}

// Go's tokensFromDuration.
double tokens_from_duration(limit r, nanoseconds d) noexcept {
  if (r <= 0) return 0;
  return static_cast<double>(d.count()) / 1e9 * r;
}

// t + d, saturated at the largest time point (Go's times cannot overflow; ours could).
time_point add_saturated(time_point t, nanoseconds d) noexcept {
  const auto room = time_point::max() - t;
  return d >= room ? time_point::max() : t + d;
}

}  // namespace

const std::error_category& rate_category() noexcept {
  static const rate_category_impl category;
  return category;
}

// ---------------------------------------------------------------------------------------------
// reservation

nanoseconds reservation::delay() const noexcept {
  return delay_from(std::chrono::steady_clock::now());
}

nanoseconds reservation::delay_from(time_point t) const noexcept {
  if (!ok_) return inf_duration;
  if (time_to_act_ <= t) return nanoseconds::zero();
  return time_to_act_ - t;
}

void reservation::cancel() noexcept {
  cancel_at(std::chrono::steady_clock::now());
}

void reservation::cancel_at(time_point t) noexcept {
  if (!ok_) return;
  limiter& lim = *lim_;
  std::lock_guard lock(lim.lock_);
  if (lim.limit_ == inf || tokens_ == 0 || time_to_act_ < t) return;
  // Tokens reserved after this one assumed ours were gone: give back only the rest.
  const double restore = tokens_ - tokens_from_duration(limit_, lim.last_event_ - time_to_act_);
  if (restore <= 0) return;
  double tokens = lim.advance(t) + restore;
  if (tokens > lim.burst_) tokens = lim.burst_;
  lim.last_ = t;
  lim.tokens_ = tokens;
  if (time_to_act_ == lim.last_event_) {
    const nanoseconds back = duration_from_tokens(limit_, tokens_);
    if (back != inf_duration && time_to_act_.time_since_epoch() >= nanoseconds::min() + back) {
      const time_point prev_event = time_to_act_ - back;
      if (prev_event >= t) lim.last_event_ = prev_event;
    }
  }
  tokens_ = 0;  // a second cancel gives back nothing (Go's reservations are used once)
}

// ---------------------------------------------------------------------------------------------
// limiter

limit limiter::limit() const noexcept {
  std::lock_guard lock(lock_);
  return limit_;
}

int limiter::burst() const noexcept {
  std::lock_guard lock(lock_);
  return burst_;
}

double limiter::tokens_at(time_point t) const noexcept {
  std::lock_guard lock(lock_);
  return advance(t);
}

double limiter::advance(time_point t) const noexcept {
  const time_point last = t < last_ ? t : last_;
  const double tokens = tokens_ + tokens_from_duration(limit_, t - last);
  return tokens > burst_ ? burst_ : tokens;
}

bool limiter::allow_n(time_point t, int n) noexcept {
  return reserve_locked(t, n, nanoseconds::zero()).ok_;
}

reservation limiter::reserve_n(time_point t, int n) noexcept {
  return reserve_locked(t, n, inf_duration);
}

reservation limiter::reserve_locked(time_point t, int n, nanoseconds max_wait) noexcept {
  std::lock_guard lock(lock_);
  reservation r;
  r.lim_ = this;
  if (limit_ == inf) {
    r.ok_ = true;
    r.tokens_ = n;
    r.time_to_act_ = t;
    return r;
  }
  const double tokens = advance(t) - n;
  nanoseconds wait{0};
  if (tokens < 0) wait = duration_from_tokens(limit_, -tokens);
  r.ok_ = n <= burst_ && wait <= max_wait;
  r.limit_ = limit_;
  if (r.ok_) {
    r.tokens_ = n;
    r.time_to_act_ = add_saturated(t, wait);
    last_ = t;
    tokens_ = tokens;
    last_event_ = r.time_to_act_;
  }
  return r;
}

void limiter::set_limit_at(time_point t, rate::limit r) noexcept {
  std::lock_guard lock(lock_);
  tokens_ = advance(t);
  last_ = t;
  limit_ = r;
}

void limiter::set_burst_at(time_point t, int b) noexcept {
  std::lock_guard lock(lock_);
  tokens_ = advance(t);
  last_ = t;
  burst_ = b;
}

std::error_code limiter::wait_n(const context& ctx, int n) {
  int burst;
  rate::limit r;
  {
    std::lock_guard lock(lock_);
    burst = burst_;
    r = limit_;
  }
  if (n > burst && r != inf) return errc::exceeds_burst;
  if (std::error_code e = ctx.err()) return e;
  const time_point now = std::chrono::steady_clock::now();
  nanoseconds wait_limit = inf_duration;
  if (auto deadline = ctx.deadline()) {
    wait_limit = *deadline - now;
  }
  reservation res = reserve_locked(now, n, wait_limit);
  if (!res.ok_) return errc::would_exceed_deadline;
  if (res.time_to_act_ <= now) return {};

  recv_chan<std::monostate> done = ctx.done();
  if (done.is_nil()) {  // ctx can never end: nothing to watch but the clock
    sleep_until(res.time_to_act_);
    return {};
  }
  timer t(res.time_to_act_ - now);
  bool ended = false;
  gopp::select(recv_case(t.c()), recv_case(done, [&](auto) { ended = true; }));
  if (!ended) return {};
  t.stop();
  res.cancel();
  return ctx.err();
}

}  // namespace gopp::rate
