// The type-independent half of a channel: its lock, closed flag, wait queues and counts.
// `select` works against this (and a few typed hooks per case), so one select can mix channels
// of different element types. The typed half (the ring of T) is chan_state<T> in gopp/chan.hpp.
//
// Invariants (Go's runtime/chan.go, restated for gopp):
//   - Every field but `cap` is read or written under `lock`, except the atomics read by the
//     lock-free "would block" checks, which are written under the lock.
//   - At least one of `sendq`, `recvq` is empty. (A receiver only waits when nothing can be
//     received, a sender only when nothing can be sent.) Exception: an unbuffered channel with a
//     select that waits to send and receive on it at once.
//   - Buffered: count > 0 implies recvq is empty; count < cap implies sendq is empty.
//   - Once `closed` is set it stays set; no waiter is enqueued on a closed channel.
#pragma once

#include <atomic>
#include <cstddef>

#include "gopp/detail/spinlock.hpp"
#include "gopp/detail/waiter.hpp"

namespace gopp::detail {

struct chan_base {
  explicit chan_base(std::size_t capacity) noexcept : cap(capacity) {}

  spinlock lock;
  const std::size_t cap;
  std::atomic<std::size_t> count{0};  // values in the buffer
  std::atomic<bool> closed{false};
  waiter_queue recvq;
  waiter_queue sendq;

  // Lock-free checks (Go's chan.go `full`/`empty`): a snapshot that may be stale by the time it
  // is used; callers pair them with `closed` as explained where they are used.
  bool would_block_send() const noexcept {
    return cap == 0 ? recvq.empty_acquire() : count.load(std::memory_order_acquire) == cap;
  }
  bool would_block_recv() const noexcept {
    return cap == 0 ? sendq.empty_acquire() : count.load(std::memory_order_acquire) == 0;
  }
};

// Blocks the caller forever (a nil channel's send or receive, a select with no cases). In a
// goroutine it parks; on a thread it blocks in the kernel. Go: `block()` in chan.go.
[[noreturn]] void block_forever(wait_reason reason);

}  // namespace gopp::detail
