// gopp/dynamic_select.hpp: select over cases built at run time. Go: reflect.Select.
//
//   std::vector<gopp::dynamic_case<int>> cases;
//   for (const gopp::chan<int>& c : inputs) cases.push_back(gopp::dynamic_case<int>::recv(c));
//   for (std::size_t open = inputs.size(); open > 0;) {
//     gopp::select_result<int> r = gopp::dynamic_select(cases);   // chosen, recv, recvOK :=
//     if (r.value) { use(*r.value); continue; }                   //   reflect.Select(cases)
//     cases[r.index] = gopp::dynamic_case<int>::recv(nullptr);    // closed: never ready again
//     --open;
//   }
//
// Go -> gopp:
//   reflect.SelectCase{Dir: reflect.SelectRecv, Chan: ch}          dynamic_case<T>::recv(ch)
//   reflect.SelectCase{Dir: reflect.SelectSend, Chan: ch, Send: v} dynamic_case<T>::send(ch, v)
//   reflect.SelectCase{Dir: reflect.SelectDefault}                 dynamic_case<T>::default_case()
//   chosen, recv, recvOK := reflect.Select(cases)                  auto [index, value] =
//                                                                    dynamic_select(cases)
// `cases` is any contiguous range of dynamic_case<T> (std::vector, std::array, std::span, a C
// array); all cases of one select share the element type T (Go's reflect.Select mixes types at
// the cost of boxing every value; use the fixed gopp::select for mixed types).
//
// Semantics, as Go's reflect.Select and the select statement (gopp/select.hpp):
//   - Blocks until a case can proceed, performs exactly one, and returns its index in `cases`.
//     `value` holds what a receive case got; std::nullopt when its channel is closed and
//     drained, and for a send or default case.
//   - Among ready cases one is chosen uniformly at random, also when the select has parked and a
//     counterpart arrives later.
//   - A nil channel's case (recv(nullptr), send(nullptr, v)) is never ready. With a default
//     case, dynamic_select never blocks. With no case (or only nil ones and no default) it blocks
//     forever. Two default cases throw std::invalid_argument("dynamic_select: multiple default
//     cases") (Go panics "reflect.Select: multiple default cases").
//   - A chosen send case on a closed channel throws closed_channel_error("send on closed
//     channel"); its value stays in the case.
//   - A send case's value is moved into the channel when the case is chosen (no copy is made);
//     the case is then spent until set_value() gives it a new one. Selecting over a spent send
//     case throws std::logic_error (Go's SelectCase keeps its Send value and sends a copy each
//     time; moving is C++'s cheaper default and works for move-only T).
//   - A dynamic_case holds its channel (as chan<T> does, a shared handle) and the select's
//     per-case bookkeeping (its wait-queue entry and the received value), so one range of cases
//     must not be used by two dynamic_selects at the same time. Copying or assigning a case
//     while no select runs is fine: the copy is a fresh case on the same channel.
//
// Allocation: none per select for up to dynamic_select_inline_cases (64) cases: the cases carry
// their own bookkeeping and the scratch arrays (poll order, lock order) live on the caller's
// stack. Above 64 cases, each dynamic_select makes one heap allocation for the scratch arrays
// (16 bytes per case). Go's reflect.Select allocates on every call.
//
// Algorithm: that of select (src/select.cpp, passes 0 to 3), preceded by a lock-free probe in a
// lazily drawn random order that locks only the channel of a case that looks ready, so that a
// select over many channels with something ready does not lock them all (src/select.cpp, "pass
// P"). Only when nothing looked ready does it lock every channel, in address order, to decide
// "default" or to park on all of them.
#pragma once

#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <ranges>
#include <span>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "gopp/chan.hpp"
#include "gopp/select.hpp"

namespace gopp {

// Cases a dynamic_select handles without touching the heap.
inline constexpr std::size_t dynamic_select_inline_cases = 64;

// What dynamic_select did. Go: chosen, recv, recvOK.
template <class T>
struct select_result {
  std::size_t index = 0;   // the case performed (Go: chosen)
  std::optional<T> value;  // a receive case's value; nullopt: closed (Go: !recvOK), or not a recv
};

namespace detail {

// Like select_impl, with the probe pass first (src/select.cpp). `order` must hold a permutation
// of [0, n) on entry; the default case, if any, is passed as a case whose channel is nullptr.
// With `lock_order_known`, lock_order[0, live) already holds the live cases sorted by channel.
// `*lock_order_sorted` tells whether lock_order[0, live) holds them sorted on return.
std::size_t select_impl_probing(select_case_base* const* cases, std::size_t n, bool has_default,
                                std::uint32_t* order, std::uint32_t* lock_order,
                                bool lock_order_known, bool* lock_order_sorted);
// A number never returned before (never 0): marks one sorted lock order cached in a case range.
std::uint64_t next_lock_stamp() noexcept;

[[noreturn]] void throw_multiple_default_cases();
[[noreturn]] void throw_spent_send_case(std::size_t index);

struct dynamic_access;

}  // namespace detail

// One case of a dynamic_select. Go: reflect.SelectCase.
template <class T>
class dynamic_case : private detail::select_case_base {
 public:
  using value_type = T;

  // case v, ok := <-ch. recv(nullptr) is a case that is never ready.
  static dynamic_case recv(recv_chan<T> ch) {
    dynamic_case c(kind::recv);
    c.recv_ = std::move(ch);
    c.bind();
    return c;
  }
  // case ch <- value. send(nullptr, v) is a case that is never ready.
  static dynamic_case send(send_chan<T> ch, T value) {
    dynamic_case c(kind::send);
    c.send_ = std::move(ch);
    c.value_.emplace(std::move(value));
    c.bind();
    return c;
  }
  // default:
  static dynamic_case default_case() { return dynamic_case(kind::fallback); }

  dynamic_case(const dynamic_case& o) requires std::copy_constructible<T>
      : kind_(o.kind_), recv_(o.recv_), send_(o.send_), value_(o.value_) {
    bind();
  }
  dynamic_case(dynamic_case&& o) noexcept
      : kind_(o.kind_),
        recv_(std::move(o.recv_)),
        send_(std::move(o.send_)),
        value_(std::move(o.value_)) {
    bind();
  }
  dynamic_case& operator=(const dynamic_case& o) requires std::copy_constructible<T> {
    if (this != &o) *this = dynamic_case(o);
    return *this;
  }
  dynamic_case& operator=(dynamic_case&& o) noexcept {
    kind_ = o.kind_;
    recv_ = std::move(o.recv_);
    send_ = std::move(o.send_);
    value_ = std::move(o.value_);
    bind();
    return *this;
  }
  ~dynamic_case() = default;

  bool is_recv() const noexcept { return kind_ == kind::recv; }
  bool is_send() const noexcept { return kind_ == kind::send; }
  bool is_default() const noexcept { return kind_ == kind::fallback; }
  // A send case's value: give it a new one after it was sent (Go: cases[i].Send = v).
  void set_value(T value) { value_.emplace(std::move(value)); }
  // Whether a send case has a value to send (false once it was sent).
  bool has_value() const noexcept { return is_send() && value_.has_value(); }

 private:
  friend struct detail::dynamic_access;
  enum class kind : std::uint8_t { recv, send, fallback };

  explicit dynamic_case(kind k) noexcept : kind_(k) { bind(); }

  // Points the select bookkeeping at this object's channel and value (again after a copy or
  // move: the waiter's slot is an address inside *this).
  void bind() noexcept {
    channel = kind_ == kind::recv   ? static_cast<detail::chan_base*>(detail::state_of(recv_))
              : kind_ == kind::send ? static_cast<detail::chan_base*>(detail::state_of(send_))
                                    : nullptr;
    detail::select_case_base::is_send = kind_ == kind::send;
    closed_send = false;
    lock_stamp_ = 0;
    w = detail::waiter{};
    if (kind_ == kind::send) {
      poll = &poll_send;
    } else {
      poll = &poll_recv;
      w.slot = &value_;
    }
  }
  static bool poll_recv(select_case_base* self, detail::select_state*& wake) noexcept {
    auto* c = static_cast<dynamic_case*>(self);
    return static_cast<detail::chan_state<T>*>(c->channel)->recv_locked(c->value_, wake);
  }
  static bool poll_send(select_case_base* self, detail::select_state*& wake) noexcept {
    auto* c = static_cast<dynamic_case*>(self);
    auto* s = static_cast<detail::chan_state<T>*>(c->channel);
    if (s->closed.load(std::memory_order_relaxed)) {
      c->closed_send = true;
      return true;
    }
    return s->send_locked(*c->value_, wake);
  }

  kind kind_;
  recv_chan<T> recv_;
  send_chan<T> send_;
  // A send case: the value to send (nullopt once sent). A receive case: where the value is
  // received; nullopt whenever no select runs.
  std::optional<T> value_;
  // The lock order of the last select that had to sort it: when the n cases of a range all carry
  // the same non-zero stamp, written by a sort of n cases, they are exactly the cases that sort
  // saw, at the same positions (any copy, move or assignment resets the stamp), and lock_rank_
  // of the k-th case is the k-th live case in channel address order.
  std::uint64_t lock_stamp_ = 0;
  std::size_t lock_count_ = 0;
  std::uint32_t lock_rank_ = 0;
};

namespace detail {

struct dynamic_access {
  template <class T>
  static select_result<T> run(std::span<dynamic_case<T>> cases) {
    const std::size_t n = cases.size();
    // Scratch: the case pointers, then the poll order and the lock order (the two uint32_t
    // arrays share the second half of the block).
    constexpr std::size_t bytes_per_case = sizeof(select_case_base*) + 2 * sizeof(std::uint32_t);
    alignas(select_case_base*)
        std::byte inline_scratch[dynamic_select_inline_cases * bytes_per_case];
    std::unique_ptr<std::byte[]> heap_scratch;
    std::byte* scratch = inline_scratch;
    if (n > dynamic_select_inline_cases) {
      heap_scratch = std::make_unique_for_overwrite<std::byte[]>(n * bytes_per_case);
      scratch = heap_scratch.get();
    }
    auto** ptrs = reinterpret_cast<select_case_base**>(scratch);
    auto* order = reinterpret_cast<std::uint32_t*>(scratch + n * sizeof(select_case_base*));
    std::uint32_t* lock_order = order + n;

    std::size_t default_index = n;
    const std::uint64_t stamp = n ? cases[0].lock_stamp_ : 0;
    bool lock_order_known = stamp != 0 && cases[0].lock_count_ == n;
    for (std::size_t i = 0; i < n; ++i) {
      dynamic_case<T>& c = cases[i];
      lock_order_known &= c.lock_stamp_ == stamp;
      lock_order[i] = c.lock_rank_;
      if (c.kind_ == dynamic_case<T>::kind::fallback) {
        if (default_index != n) throw_multiple_default_cases();
        default_index = i;
      } else if (c.kind_ == dynamic_case<T>::kind::send) {
        if (!c.value_) throw_spent_send_case(i);
        c.w.slot = &*c.value_;
      }
      ptrs[i] = &c;
      order[i] = static_cast<std::uint32_t>(i);
    }
    bool lock_order_sorted = false;
    const std::size_t chosen = select_impl_probing(ptrs, n, default_index != n, order, lock_order,
                                                   lock_order_known, &lock_order_sorted);
    if (lock_order_sorted && !lock_order_known) {
      const std::uint64_t s = next_lock_stamp();
      for (std::size_t i = 0; i < n; ++i) {
        cases[i].lock_stamp_ = s;
        cases[i].lock_count_ = n;
        cases[i].lock_rank_ = lock_order[i];  // past the live cases: unused
      }
    }
    if (chosen == n) return {default_index, std::nullopt};
    dynamic_case<T>& c = cases[chosen];
    if (c.kind_ == dynamic_case<T>::kind::send) {
      if (c.closed_send || c.w.closed) {
        c.closed_send = false;
        c.w.closed = false;
        throw_send_on_closed();
      }
      c.value_.reset();
      return {chosen, std::nullopt};
    }
    select_result<T> r{chosen, std::move(c.value_)};
    c.value_.reset();
    return r;
  }
};

}  // namespace detail

// Go: chosen, recv, recvOK := reflect.Select(cases). `cases`: a contiguous range of
// dynamic_case<T> (std::vector, std::array, std::span, a C array).
template <class R>
requires std::ranges::contiguous_range<R> && std::ranges::sized_range<R>
auto dynamic_select(R&& cases) {
  using case_t = std::ranges::range_value_t<R>;
  using T = typename case_t::value_type;
  static_assert(std::is_same_v<case_t, dynamic_case<T>>,
                "gopp::dynamic_select takes a range of gopp::dynamic_case<T>");
  return detail::dynamic_access::run<T>(
      std::span<dynamic_case<T>>(std::ranges::data(cases), std::ranges::size(cases)));
}

}  // namespace gopp
