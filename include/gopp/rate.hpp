// gopp/rate.hpp: a token-bucket rate limiter. Go: golang.org/x/time/rate.
//
//   gopp::rate::limiter lim(100, 10);         // 100 events per second, bursts of up to 10
//   for (const request& r : requests) {
//     if (std::error_code e = lim.wait(ctx)) return e;   // ctx ended, or would end first
//     send(r);
//   }
//   if (lim.allow()) serve(); else reject();  // drop instead of waiting
//   gopp::rate::limiter slow(gopp::rate::every(std::chrono::milliseconds(200)), 1);
//
// Contract (Go's Limiter; the algorithm is Go's, so figures match Go's for the same calls):
//   - A limiter holds a bucket of at most burst() tokens, refilled at limit() tokens per second,
//     and full at construction. An event of n tokens happens when n tokens are available; a
//     reservation may take them ahead of time, leaving the bucket in debt, and the reservation
//     then tells when to act. rate::inf allows every event (burst is then ignored); a limit of
//     0 allows only the burst's tokens, never refilled (Go's rule).
//   - allow() / allow_n(t, n): take n tokens at time t if they are available now; never wait.
//   - reserve() / reserve_n(t, n): take n tokens, possibly in the future; the reservation says
//     ok() (false only when n exceeds the burst) and delay() (how long to wait before acting).
//     cancel() gives back what it can of a reservation not acted on yet (Go's CancelAt rules:
//     tokens reserved after it stay reserved).
//   - wait(ctx) / wait_n(ctx, n): reserve, then park (block a thread) until the reservation's
//     time; returns {} then. Errors, without waiting, as Go's WaitN:
//       * rate::errc::exceeds_burst ("rate: Wait(n) exceeds limiter's burst") if n > burst()
//         and the limit is not inf;
//       * ctx.err() if ctx has already ended;
//       * rate::errc::would_exceed_deadline ("rate: Wait(n) would exceed context deadline") if
//         the reservation's time lies past ctx's deadline (nothing is reserved then).
//     If ctx ends while waiting, the reservation is cancelled and ctx.err() returned. (Go's
//     messages also carry n and the burst; an error_code cannot.)
//   - set_limit / set_burst (and the _at forms) change the bucket from now on; tokens earned so
//     far at the old rate are kept.
//   - Times are steady_clock time points; an _at call with a time before the limiter's last
//     update is treated as that time (Go's rule). All members are safe from any goroutine or
//     thread at once. A reservation refers to its limiter, which must outlive it.
#pragma once

#include <chrono>
#include <cstdint>
#include <limits>
#include <system_error>
#include <type_traits>

#include "gopp/context.hpp"
#include "gopp/detail/spinlock.hpp"

namespace gopp::rate {

// Go: rate.Limit: events per second.
using limit = double;
// Go: rate.Inf: no limit at all.
inline constexpr limit inf = std::numeric_limits<double>::max();
// Go: rate.InfDuration: the delay of a reservation that is not ok.
inline constexpr std::chrono::nanoseconds inf_duration = std::chrono::nanoseconds::max();

// Go: rate.Every(interval): one event per interval; inf for a non-positive interval.
constexpr limit every(std::chrono::nanoseconds interval) noexcept {
  if (interval <= std::chrono::nanoseconds::zero()) return inf;
  return 1e9 / static_cast<double>(interval.count());
}

// The limiter's own errors (Go returns them from fmt.Errorf).
enum class errc {
  exceeds_burst = 1,          // "rate: Wait(n) exceeds limiter's burst"
  would_exceed_deadline = 2,  // "rate: Wait(n) would exceed context deadline"
};
// Category "gopp.rate".
const std::error_category& rate_category() noexcept;
inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), rate_category()};
}

}  // namespace gopp::rate

template <>
struct std::is_error_code_enum<gopp::rate::errc> : std::true_type {};

namespace gopp::rate {

class limiter;

// Go: rate.Reservation.
class reservation {
 public:
  using time_point = std::chrono::steady_clock::time_point;

  // Go: r.OK(). False when the limiter can never grant the tokens (n > burst).
  bool ok() const noexcept { return ok_; }
  // Go: r.Delay() / r.DelayFrom(t): how long to wait before acting; 0 if the time has come;
  // inf_duration if not ok().
  std::chrono::nanoseconds delay() const noexcept;
  std::chrono::nanoseconds delay_from(time_point t) const noexcept;
  // Go: r.Cancel() / r.CancelAt(t): the reservation will not be acted on; give back its tokens
  // as far as later reservations allow.
  void cancel() noexcept;
  void cancel_at(time_point t) noexcept;

 private:
  friend class limiter;
  limiter* lim_ = nullptr;
  int tokens_ = 0;
  time_point time_to_act_{};
  rate::limit limit_ = 0;  // the limit when it was made
  bool ok_ = false;
};

// Go: rate.Limiter (rate.NewLimiter(r, b)).
class limiter {
 public:
  using time_point = std::chrono::steady_clock::time_point;

  limiter(rate::limit r, int burst) noexcept : limit_(r), burst_(burst), tokens_(burst) {}
  limiter(const limiter&) = delete;
  limiter& operator=(const limiter&) = delete;

  // Go: lim.Limit(), lim.Burst().
  rate::limit limit() const noexcept;
  int burst() const noexcept;
  // Go: lim.Tokens(), lim.TokensAt(t): the tokens available (negative while in debt).
  double tokens() const noexcept { return tokens_at(std::chrono::steady_clock::now()); }
  double tokens_at(time_point t) const noexcept;

  // Go: lim.Allow(), lim.AllowN(t, n).
  bool allow() noexcept { return allow_n(std::chrono::steady_clock::now(), 1); }
  bool allow_n(time_point t, int n) noexcept;

  // Go: lim.Reserve(), lim.ReserveN(t, n).
  reservation reserve() noexcept { return reserve_n(std::chrono::steady_clock::now(), 1); }
  reservation reserve_n(time_point t, int n) noexcept;

  // Go: lim.Wait(ctx), lim.WaitN(ctx, n). {} once the tokens are taken and their time has come.
  [[nodiscard]] std::error_code wait(const context& ctx) { return wait_n(ctx, 1); }
  [[nodiscard]] std::error_code wait_n(const context& ctx, int n);

  // Go: lim.SetLimit(r), lim.SetLimitAt(t, r), lim.SetBurst(b), lim.SetBurstAt(t, b).
  void set_limit(rate::limit r) noexcept { set_limit_at(std::chrono::steady_clock::now(), r); }
  void set_limit_at(time_point t, rate::limit r) noexcept;
  void set_burst(int b) noexcept { set_burst_at(std::chrono::steady_clock::now(), b); }
  void set_burst_at(time_point t, int b) noexcept;

 private:
  friend class reservation;
  // Go's reserveN: takes n tokens at t if they can be had within max_wait; lock_ not held.
  reservation reserve_locked(time_point t, int n, std::chrono::nanoseconds max_wait) noexcept;
  // Go's advance: the tokens at t (lock_ held); changes nothing.
  double advance(time_point t) const noexcept;

  mutable detail::spinlock lock_;
  rate::limit limit_;        // guarded by lock_
  int burst_;                // guarded by lock_
  double tokens_;            // at last_, guarded by lock_
  time_point last_{};        // the last time tokens_ was updated
  time_point last_event_{};  // the latest time to act of any reservation
};

}  // namespace gopp::rate
