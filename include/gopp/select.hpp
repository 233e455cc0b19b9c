// gopp/select.hpp: select. Go: the select statement.
//
//   gopp::select(
//       gopp::recv_case(jobs, [](std::optional<int> j) { if (j) work(*j); }),
//       gopp::send_case(results, 42, [] { /* sent */ }),
//       gopp::recv_case(ctx.done(), [](auto) { /* cancelled */ }),
//       gopp::default_case([] { /* nothing ready */ }));
//
// Blocks until a case can proceed, performs exactly one, runs its handler, and returns the
// case's 0-based position among the arguments. Semantics, as Go's (runtime/select.go):
//   - Among ready cases one is chosen uniformly at random: the cases are polled in a random
//     order, and when the select parks, its waiters are queued in a random order too, so a
//     counterpart that arrives later picks uniformly as well.
//   - A nil channel's case is never ready. With a default_case, select never blocks. With no
//     cases it blocks forever. Two default_cases do not compile.
//   - A chosen send_case on a closed channel throws closed_channel_error("send on closed
//     channel"). A recv_case on a closed, drained channel is ready and gets std::nullopt.
//   - Channel and value arguments are evaluated once, before select runs.
//   - The handler runs after the operation has happened and after select has left every
//     channel: if it throws, the value stays consumed and no channel keeps a trace of the select.
//   - A receive handler gets its std::optional<T> as an rvalue (move-only T works). Handlers
//     are optional: recv_case(ch) discards the value, send_case(ch, v) has nothing to run.
// Several selects may compete for the same channels (Go's doubleselect): each value is received
// exactly once. Locking: every channel of the select is locked in address order (duplicates
// once), as Go does, so competing selects cannot deadlock.
// Cases known only at run time (Go's reflect.Select): gopp/dynamic_select.hpp.
#pragma once

#include <array>
#include <cstddef>
#include <functional>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

#include "gopp/chan.hpp"

namespace gopp {

namespace detail {

struct no_handler {};

// What the generic select algorithm (src/select.cpp) sees of one case.
struct select_case_base {
  chan_base* channel = nullptr;  // nullptr: a nil channel, never ready
  bool is_send = false;
  bool closed_send = false;  // a send case found its channel closed: select throws
  waiter w;
  // Under the channel's lock: perform the operation now if it can proceed; a completed
  // counterpart to wake is returned through `wake`.
  bool (*poll)(select_case_base* self, select_state*& wake) noexcept = nullptr;
};

// Runs the select algorithm over `cases` (n of them, default excluded). Returns the index of the
// completed case, or n if `has_default` and none was ready. `order` and `lock_order` are
// scratch arrays of n entries.
std::size_t select_impl(select_case_base* const* cases, std::size_t n, bool has_default,
                        std::uint32_t* order, std::uint32_t* lock_order);

template <class T, class F>
struct recv_case_desc {
  chan_state<T>* state;
  F handler;
};
template <class T, class F>
struct send_case_desc {
  chan_state<T>* state;
  T value;
  F handler;
};
template <class F>
struct default_case_desc {
  F handler;
};

template <class T>
struct is_default_case : std::false_type {};
template <class F>
struct is_default_case<default_case_desc<F>> : std::true_type {};

template <class T, class F>
struct recv_case_run : select_case_base {
  explicit recv_case_run(recv_case_desc<T, F>&& d) : handler(std::move(d.handler)) {
    channel = d.state;
    poll = &poll_impl;
    w.slot = &result;
  }
  static bool poll_impl(select_case_base* self, select_state*& wake) noexcept {
    auto* c = static_cast<recv_case_run*>(self);
    return static_cast<chan_state<T>*>(c->channel)->recv_locked(c->result, wake);
  }
  void run() {
    if constexpr (!std::is_same_v<F, no_handler>) {
      std::invoke(std::move(handler), std::move(result));
    }
  }
  std::optional<T> result;
  F handler;
};

template <class T, class F>
struct send_case_run : select_case_base {
  explicit send_case_run(send_case_desc<T, F>&& d)
      : value(std::move(d.value)), handler(std::move(d.handler)) {
    channel = d.state;
    is_send = true;
    poll = &poll_impl;
    w.slot = &value;
  }
  static bool poll_impl(select_case_base* self, select_state*& wake) noexcept {
    auto* c = static_cast<send_case_run*>(self);
    auto* s = static_cast<chan_state<T>*>(c->channel);
    if (s->closed.load(std::memory_order_relaxed)) {
      c->closed_send = true;
      return true;
    }
    return s->send_locked(c->value, wake);
  }
  void run() {
    if (closed_send || w.closed) throw_send_on_closed();
    if constexpr (!std::is_same_v<F, no_handler>) std::invoke(std::move(handler));
  }
  T value;
  F handler;
};

template <class F>
struct default_case_run {
  explicit default_case_run(default_case_desc<F>&& d) : handler(std::move(d.handler)) {}
  void run() {
    if constexpr (!std::is_same_v<F, no_handler>) std::invoke(std::move(handler));
  }
  F handler;
};

template <class D>
struct case_run;
template <class T, class F>
struct case_run<recv_case_desc<T, F>> {
  using type = recv_case_run<T, F>;
};
template <class T, class F>
struct case_run<send_case_desc<T, F>> {
  using type = send_case_run<T, F>;
};
template <class F>
struct case_run<default_case_desc<F>> {
  using type = default_case_run<F>;
};

template <class Ch>
using chan_value_t = typename std::remove_cvref_t<Ch>::value_type;

template <class Ch>
concept receivable = requires(const Ch& c) {
  { state_of(c) } -> std::same_as<chan_state<chan_value_t<Ch>>*>;
  c.recv();
};
template <class Ch>
concept sendable = requires(const Ch& c, chan_value_t<Ch> v) {
  { state_of(c) } -> std::same_as<chan_state<chan_value_t<Ch>>*>;
  c.send(std::move(v));
};

}  // namespace detail

// Handlers with the wrong signature fail to compile with one static_assert that says the fix;
// the case then carries no handler, so that no further errors follow from it.

// case v, ok := <-ch: handler(std::optional<T>&&)
template <class Ch, class F>
requires detail::receivable<Ch>
auto recv_case(const Ch& ch, F&& handler) {
  using T = detail::chan_value_t<Ch>;
  constexpr bool ok = std::invocable<std::decay_t<F>, std::optional<T>&&>;
  static_assert(ok,
                "gopp::recv_case: a recv_case handler takes std::optional<T> (nullopt: the channel "
                "is closed), e.g. [](std::optional<int> v) { ... }");
  if constexpr (ok) {
    return detail::recv_case_desc<T, std::decay_t<F>>{detail::state_of(ch),
                                                      std::forward<F>(handler)};
  } else {
    return detail::recv_case_desc<T, detail::no_handler>{detail::state_of(ch), {}};
  }
}
// case <-ch: (value discarded)
template <class Ch>
requires detail::receivable<Ch>
auto recv_case(const Ch& ch) {
  return detail::recv_case_desc<detail::chan_value_t<Ch>, detail::no_handler>{detail::state_of(ch),
                                                                              {}};
}
// case ch <- value: handler()
template <class Ch, class V, class F>
requires detail::sendable<Ch>
auto send_case(const Ch& ch, V&& value, F&& handler) {
  using T = detail::chan_value_t<Ch>;
  constexpr bool value_ok = std::constructible_from<T, V&&>;
  constexpr bool handler_ok = std::invocable<std::decay_t<F>>;
  static_assert(value_ok,
                "gopp::send_case: the value does not convert to the channel's element type");
  static_assert(!value_ok || handler_ok,
                "gopp::send_case: a send_case handler takes no arguments, e.g. [] { ... }");
  if constexpr (value_ok && handler_ok) {
    return detail::send_case_desc<T, std::decay_t<F>>{
        detail::state_of(ch), T(std::forward<V>(value)), std::forward<F>(handler)};
  } else if constexpr (value_ok) {
    return detail::send_case_desc<T, detail::no_handler>{
        detail::state_of(ch), T(std::forward<V>(value)), {}};
  } else {
    return detail::recv_case_desc<T, detail::no_handler>{nullptr, {}};
  }
}
// case ch <- value:
template <class Ch, class V>
requires detail::sendable<Ch>
auto send_case(const Ch& ch, V&& value) {
  using T = detail::chan_value_t<Ch>;
  constexpr bool value_ok = std::constructible_from<T, V&&>;
  static_assert(value_ok,
                "gopp::send_case: the value does not convert to the channel's element type");
  if constexpr (value_ok) {
    return detail::send_case_desc<T, detail::no_handler>{
        detail::state_of(ch), T(std::forward<V>(value)), {}};
  } else {
    return detail::recv_case_desc<T, detail::no_handler>{nullptr, {}};
  }
}
// default:
template <class F>
auto default_case(F&& handler) {
  constexpr bool ok = std::invocable<std::decay_t<F>>;
  static_assert(ok,
                "gopp::default_case: a default_case handler takes no arguments, e.g. [] { ... }");
  if constexpr (ok) {
    return detail::default_case_desc<std::decay_t<F>>{std::forward<F>(handler)};
  } else {
    return detail::default_case_desc<detail::no_handler>{};
  }
}
inline auto default_case() {
  return detail::default_case_desc<detail::no_handler>{};
}

// Go: select { ... }. Returns the position of the case that ran.
template <class... Cases>
std::size_t select(Cases&&... cases) {
  constexpr std::size_t n_default =
      (std::size_t{0} + ... + detail::is_default_case<std::remove_cvref_t<Cases>>::value);
  static_assert(n_default <= 1, "gopp::select: at most one default_case");
  constexpr std::size_t n = sizeof...(Cases);
  if constexpr (n == 0) {
    detail::block_forever(detail::wait_reason::select_no_cases);
  } else {
    std::tuple<typename detail::case_run<std::remove_cvref_t<Cases>>::type...> runs(
        std::move(cases)...);
    // The generic algorithm sees the channel cases only; remember where each one sits.
    std::array<detail::select_case_base*, n> chan_cases{};
    std::array<std::size_t, n> position{};
    std::size_t n_chan = 0;
    std::size_t default_position = n;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (
          [&] {
            using run_t = std::tuple_element_t<I, decltype(runs)>;
            if constexpr (std::is_base_of_v<detail::select_case_base, run_t>) {
              chan_cases[n_chan] = &std::get<I>(runs);
              position[n_chan++] = I;
            } else {
              default_position = I;
            }
          }(),
          ...);
    }
    (std::index_sequence_for<Cases...>{});
    std::array<std::uint32_t, n> order{};
    std::array<std::uint32_t, n> lock_order{};
    const std::size_t chosen = detail::select_impl(chan_cases.data(), n_chan, n_default == 1,
                                                   order.data(), lock_order.data());
    const std::size_t index = chosen == n_chan ? default_position : position[chosen];
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((I == index ? (std::get<I>(runs).run(), 0) : 0), ...);
    }
    (std::index_sequence_for<Cases...>{});
    return index;
  }
}

}  // namespace gopp
