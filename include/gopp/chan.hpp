// gopp/chan.hpp: channels. Go: chan T, chan<- T, <-chan T, make, close, len, cap, range.
//
//   gopp::chan<int> jobs(100);                 // make(chan int, 100)
//   gopp::go([jobs] { for (int j : jobs) use(j); });   // for j := range jobs
//   jobs.send(1);                              // jobs <- 1
//   jobs.close();                              // close(jobs)
//   std::optional<int> v = jobs.recv();        // v, ok := <-jobs  (nullopt: closed and drained)
//
// A chan<T> is a handle: copies share one channel, == compares identity, a default-constructed
// chan<T> is a NEW unbuffered channel (make(chan T)) and chan<T>(nullptr) is the nil channel.
// send_chan<T> / recv_chan<T> are direction-restricted views, converted implicitly from chan<T>;
// using the wrong direction does not compile.
//
// Semantics, all as Go's:
//   - A send happens-before the receive of that value completes. Values from one sender arrive in
//     the order sent; blocked senders and receivers are served in arrival order.
//   - Unbuffered: send blocks until a receiver takes the value (a direct hand-off).
//   - Buffered (capacity n): send blocks while n values are buffered.
//   - close(): buffered values are still received; then recv() returns nullopt at once. Every
//     blocked receiver gets nullopt; every blocked sender throws closed_channel_error.
//   - Misuse, with Go's messages: send on a closed channel throws
//     closed_channel_error("send on closed channel"); a second close throws
//     closed_channel_error("close of closed channel"); close of nil throws
//     nil_channel_error("close of nil channel"); a negative capacity throws
//     std::invalid_argument("makechan: size out of range").
//   - Send and receive on the nil channel block forever; try_* on it never succeed.
//   - T must be nothrow-move-constructible and nothrow-destructible: a hand-off between two
//     goroutines cannot be undone half-way. No copy of T is made where a move suffices, and no
//     heap allocation happens per send or receive (waiters live on the blocked party's stack).
// Every operation works from goroutines and from plain threads, in any mix.
#pragma once

#include <concepts>
#include <cstddef>
#include <iterator>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "gopp/detail/chan_base.hpp"

namespace gopp {

class channel_error : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};
class closed_channel_error : public channel_error {
 public:
  using channel_error::channel_error;
};
class nil_channel_error : public channel_error {
 public:
  using channel_error::channel_error;
};

template <class T>
class chan;
template <class T>
class send_chan;
template <class T>
class recv_chan;

namespace detail {

[[noreturn]] void throw_send_on_closed();
[[noreturn]] void throw_close_of_closed();
[[noreturn]] void throw_close_of_nil();
[[noreturn]] void throw_negative_capacity();
// Wakes the waiters a close() collected, outside the lock.
void wake_all(waiter* list) noexcept;

template <class T>
class chan_state final : public chan_base {
  static_assert(std::is_nothrow_move_constructible_v<T>,
                "gopp::chan<T>: T must be nothrow-move-constructible (a hand-off between "
                "goroutines cannot be undone half-way)");
  static_assert(std::is_nothrow_destructible_v<T>, "gopp::chan<T>: T must be nothrow-destructible");

 public:
  explicit chan_state(std::size_t capacity)
      : chan_base(capacity),
        buffer_(capacity ? static_cast<T*>(
                               ::operator new(sizeof(T) * capacity, std::align_val_t(alignof(T))))
                         : nullptr) {}
  ~chan_state() {
    std::size_t n = count.load(std::memory_order_relaxed);
    for (std::size_t i = 0; i < n; ++i) buffer_[(head_ + i) % cap].~T();
    if (buffer_) ::operator delete(buffer_, std::align_val_t(alignof(T)));
  }
  chan_state(const chan_state&) = delete;
  chan_state& operator=(const chan_state&) = delete;

  // --- Under `lock`: the hooks shared by send/recv and select. ---

  // Tries to send `v` now: hands it to a waiting receiver, or buffers it. On success returns
  // the receiver to wake (or nullptr) through `wake`. Requires !closed.
  bool send_locked(T& v, select_state*& wake) noexcept {
    if (waiter* r = recvq.dequeue_claimed()) {
      static_cast<std::optional<T>*>(r->slot)->emplace(std::move(v));
      r->ok = true;
      wake = r->sel;
      return true;
    }
    if (count.load(std::memory_order_relaxed) < cap) {
      ::new (&buffer_[(head_ + count.load(std::memory_order_relaxed)) % cap]) T(std::move(v));
      count.store(count.load(std::memory_order_relaxed) + 1, std::memory_order_release);
      return true;
    }
    return false;
  }

  // Tries to receive now into `out`: from the buffer (refilled from a waiting sender), or
  // directly from a waiting sender, or "closed". Returns false when it would block.
  bool recv_locked(std::optional<T>& out, select_state*& wake) noexcept {
    const std::size_t n = count.load(std::memory_order_relaxed);
    if (n > 0) {
      T* head = &buffer_[head_];
      out.emplace(std::move(*head));
      head->~T();
      head_ = (head_ + 1) % cap;
      // A sender waits only when the buffer is full: its value takes the freed slot, so FIFO
      // order across the buffer and the waiting senders is kept.
      if (waiter* s = sendq.dequeue_claimed()) {
        ::new (&buffer_[(head_ + n - 1) % cap]) T(std::move(*static_cast<T*>(s->slot)));
        s->ok = true;
        wake = s->sel;
      } else {
        count.store(n - 1, std::memory_order_release);
      }
      return true;
    }
    if (waiter* s = sendq.dequeue_claimed()) {
      out.emplace(std::move(*static_cast<T*>(s->slot)));
      s->ok = true;
      wake = s->sel;
      return true;
    }
    return closed.load(std::memory_order_relaxed);  // closed and drained: out stays nullopt
  }

  // --- The blocking and non-blocking operations. ---

  void send(T& v) {
    lock.lock();
    if (closed.load(std::memory_order_relaxed)) {
      lock.unlock();
      throw_send_on_closed();
    }
    select_state* wake = nullptr;
    if (send_locked(v, wake)) {
      lock.unlock();
      if (wake) wake->complete();
      return;
    }
    select_state sel(current_parker());
    waiter w;
    w.sel = &sel;
    w.slot = &v;
    sendq.push_back(&w);
    lock.unlock();
    sel.wait(wait_reason::chan_send);
    if (w.closed) throw_send_on_closed();
  }

  bool try_send(T& v) {
    // Lock-free "would block" (Go's chansend fast path): if the channel looked full and then
    // looked not closed, there was a moment when it was both, and failing is linearizable then.
    // Closed-ness must be read after fullness: a close between the reads would otherwise make a
    // send on a closed channel report "would block" instead of throwing.
    if (would_block_send() && !closed.load(std::memory_order_acquire)) return false;
    lock.lock();
    if (closed.load(std::memory_order_relaxed)) {
      lock.unlock();
      throw_send_on_closed();
    }
    select_state* wake = nullptr;
    const bool sent = send_locked(v, wake);
    lock.unlock();
    if (wake) wake->complete();
    return sent;
  }

  std::optional<T> recv() {
    std::optional<T> out;
    lock.lock();
    select_state* wake = nullptr;
    if (recv_locked(out, wake)) {
      lock.unlock();
      if (wake) wake->complete();
      return out;
    }
    select_state sel(current_parker());
    waiter w;
    w.sel = &sel;
    w.slot = &out;
    recvq.push_back(&w);
    lock.unlock();
    sel.wait(wait_reason::chan_receive);
    return out;
  }

  std::optional<T> try_recv() {
    // Lock-free "would block" (Go's chanrecv fast path): empty, then not closed, means there
    // was a moment when it was empty and open: "nothing ready" is linearizable then. Once
    // closed, a channel stays closed, so if it now reads closed and still empty, it is drained.
    if (would_block_recv()) {
      if (!closed.load(std::memory_order_acquire)) return std::nullopt;
      if (would_block_recv()) return std::nullopt;
    }
    std::optional<T> out;
    lock.lock();
    select_state* wake = nullptr;
    recv_locked(out, wake);
    lock.unlock();
    if (wake) wake->complete();
    return out;
  }

  void close() {
    lock.lock();
    if (closed.load(std::memory_order_relaxed)) {
      lock.unlock();
      throw_close_of_closed();
    }
    closed.store(true, std::memory_order_release);
    // Collect every claimable waiter, then wake them outside the lock (Go's closechan).
    waiter* wake_list = nullptr;
    while (waiter* r = recvq.dequeue_claimed()) {
      r->ok = false;
      r->next = wake_list;
      wake_list = r;
    }
    while (waiter* s = sendq.dequeue_claimed()) {
      s->closed = true;
      s->next = wake_list;
      wake_list = s;
    }
    lock.unlock();
    wake_all(wake_list);
  }

 private:
  T* buffer_;
  std::size_t head_ = 0;  // index of the oldest buffered value
};

template <class T>
using chan_ptr = std::shared_ptr<chan_state<T>>;

// Shared operations of chan<T>, send_chan<T> and recv_chan<T> on a possibly-nil state.
template <class T>
struct chan_ops {
  static void send(chan_state<T>* s, T&& v) {
    if (!s) block_forever(wait_reason::chan_send);  // Go: send on nil channel blocks forever
    s->send(v);
  }
  static bool try_send(chan_state<T>* s, T& v) { return s ? s->try_send(v) : false; }
  static std::optional<T> recv(chan_state<T>* s) {
    if (!s) block_forever(wait_reason::chan_receive);
    return s->recv();
  }
  static std::optional<T> try_recv(chan_state<T>* s) { return s ? s->try_recv() : std::nullopt; }
  static void close(chan_state<T>* s) {
    if (!s) throw_close_of_nil();
    s->close();
  }
  static std::size_t size(const chan_state<T>* s) noexcept {
    return s ? s->count.load(std::memory_order_relaxed) : 0;
  }
  static std::size_t capacity(const chan_state<T>* s) noexcept { return s ? s->cap : 0; }
};

// `for (T v : ch)`: receives until the channel is closed and drained.
template <class T>
class range_iterator {
 public:
  using value_type = T;
  using difference_type = std::ptrdiff_t;
  range_iterator() = default;
  explicit range_iterator(chan_state<T>* s) : state_(s) { advance(); }
  // Yields the received value as an xvalue: `for (T v : ch)` moves it out.
  T&& operator*() const { return std::move(*current_); }
  range_iterator& operator++() {
    advance();
    return *this;
  }
  void operator++(int) { advance(); }
  bool operator==(std::default_sentinel_t) const noexcept { return !current_.has_value(); }

 private:
  void advance() { current_ = chan_ops<T>::recv(state_); }
  chan_state<T>* state_ = nullptr;
  mutable std::optional<T> current_;
};

template <class T>
chan_state<T>* state_of(const chan<T>& c) noexcept;
template <class T>
chan_state<T>* state_of(const send_chan<T>& c) noexcept;
template <class T>
chan_state<T>* state_of(const recv_chan<T>& c) noexcept;

}  // namespace detail

// Go: chan T.
template <class T>
class chan {
 public:
  using value_type = T;

  // make(chan T): a new unbuffered channel.
  chan() : state_(std::make_shared<detail::chan_state<T>>(0)) {}
  // make(chan T, n). n == 0: unbuffered. Negative n throws std::invalid_argument.
  explicit chan(std::integral auto n) : state_(make(n)) {}
  // The nil channel (var ch chan T).
  chan(std::nullptr_t) noexcept {}

  // ch <- v. Blocks until received (unbuffered) or buffered. Throws closed_channel_error if the
  // channel is closed, also when it is closed while this send waits.
  void send(T v) const { detail::chan_ops<T>::send(get(), std::move(v)); }
  // select { case ch <- v: return true; default: return false }. On false `v` is untouched.
  bool try_send(T& v) const { return detail::chan_ops<T>::try_send(get(), v); }
  bool try_send(T&& v) const { return detail::chan_ops<T>::try_send(get(), v); }
  // v, ok := <-ch. nullopt once the channel is closed and drained.
  std::optional<T> recv() const { return detail::chan_ops<T>::recv(get()); }
  // select { case v, ok := <-ch: ...; default: }. nullopt if nothing is ready (or closed and
  // drained).
  std::optional<T> try_recv() const { return detail::chan_ops<T>::try_recv(get()); }
  // close(ch).
  void close() const { detail::chan_ops<T>::close(get()); }
  // len(ch), cap(ch).
  std::size_t size() const noexcept { return detail::chan_ops<T>::size(get()); }
  std::size_t capacity() const noexcept { return detail::chan_ops<T>::capacity(get()); }

  // for v := range ch.
  detail::range_iterator<T> begin() const { return detail::range_iterator<T>(get()); }
  std::default_sentinel_t end() const noexcept { return {}; }

  // ch == nil
  bool is_nil() const noexcept { return state_ == nullptr; }
  friend bool operator==(const chan& a, const chan& b) noexcept { return a.state_ == b.state_; }
  friend bool operator==(const chan& a, std::nullptr_t) noexcept { return !a.state_; }

 private:
  template <class U>
  friend class send_chan;
  template <class U>
  friend class recv_chan;
  friend detail::chan_state<T>* detail::state_of<T>(const chan<T>&) noexcept;

  static detail::chan_ptr<T> make(std::integral auto n) {
    if constexpr (std::is_signed_v<decltype(n)>) {
      if (n < 0) detail::throw_negative_capacity();
    }
    return std::make_shared<detail::chan_state<T>>(static_cast<std::size_t>(n));
  }
  detail::chan_state<T>* get() const noexcept { return state_.get(); }
  detail::chan_ptr<T> state_;
};

// Go: chan<- T. Send, close, len and cap only.
template <class T>
class send_chan {
 public:
  using value_type = T;
  send_chan() noexcept = default;  // nil
  send_chan(std::nullptr_t) noexcept {}
  send_chan(const chan<T>& c) noexcept : state_(c.state_) {}  // NOLINT: implicit, as in Go

  void send(T v) const { detail::chan_ops<T>::send(get(), std::move(v)); }
  bool try_send(T& v) const { return detail::chan_ops<T>::try_send(get(), v); }
  bool try_send(T&& v) const { return detail::chan_ops<T>::try_send(get(), v); }
  void close() const { detail::chan_ops<T>::close(get()); }
  std::size_t size() const noexcept { return detail::chan_ops<T>::size(get()); }
  std::size_t capacity() const noexcept { return detail::chan_ops<T>::capacity(get()); }
  bool is_nil() const noexcept { return state_ == nullptr; }
  friend bool operator==(const send_chan& a, const send_chan& b) noexcept {
    return a.state_ == b.state_;
  }
  friend bool operator==(const send_chan& a, std::nullptr_t) noexcept { return !a.state_; }

 private:
  friend detail::chan_state<T>* detail::state_of<T>(const send_chan<T>&) noexcept;
  detail::chan_state<T>* get() const noexcept { return state_.get(); }
  detail::chan_ptr<T> state_;
};

// Go: <-chan T. Receive, range, len and cap only.
template <class T>
class recv_chan {
 public:
  using value_type = T;
  recv_chan() noexcept = default;  // nil
  recv_chan(std::nullptr_t) noexcept {}
  recv_chan(const chan<T>& c) noexcept : state_(c.state_) {}  // NOLINT: implicit, as in Go

  std::optional<T> recv() const { return detail::chan_ops<T>::recv(get()); }
  std::optional<T> try_recv() const { return detail::chan_ops<T>::try_recv(get()); }
  std::size_t size() const noexcept { return detail::chan_ops<T>::size(get()); }
  std::size_t capacity() const noexcept { return detail::chan_ops<T>::capacity(get()); }
  detail::range_iterator<T> begin() const { return detail::range_iterator<T>(get()); }
  std::default_sentinel_t end() const noexcept { return {}; }
  bool is_nil() const noexcept { return state_ == nullptr; }
  friend bool operator==(const recv_chan& a, const recv_chan& b) noexcept {
    return a.state_ == b.state_;
  }
  friend bool operator==(const recv_chan& a, std::nullptr_t) noexcept { return !a.state_; }

 private:
  friend detail::chan_state<T>* detail::state_of<T>(const recv_chan<T>&) noexcept;
  detail::chan_state<T>* get() const noexcept { return state_.get(); }
  detail::chan_ptr<T> state_;
};

namespace detail {
template <class T>
chan_state<T>* state_of(const chan<T>& c) noexcept {
  return c.get();
}
template <class T>
chan_state<T>* state_of(const send_chan<T>& c) noexcept {
  return c.get();
}
template <class T>
chan_state<T>* state_of(const recv_chan<T>& c) noexcept {
  return c.get();
}
}  // namespace detail

}  // namespace gopp
