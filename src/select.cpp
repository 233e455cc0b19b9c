// The select algorithm, written once against chan_base and each case's poll hook, so one select
// mixes channels of any element types. Go's selectgo (runtime/select.go), in four passes:
//
//   0. Shuffle the cases into a random poll order; sort them by channel address for locking.
//   1. Lock every channel (address order, each once). Poll the cases in poll order; the first that
//      can proceed is performed, everything is unlocked, and its index returned.
//   2. Nothing ready: with a default, unlock and return "default". Otherwise enqueue one waiter
//      per case, all sharing one select_state, in poll order (so a counterpart that arrives
//      later finds a random one of two cases on the same channel first); unlock; park until a
//      counterpart has claimed the select_state and completed one waiter.
//   3. Lock every channel again and unlink the waiters that were not chosen (the chosen one was
//      unlinked by whoever completed it; stale ones a waker met were unlinked by that waker).
//
// dynamic_select (gopp/dynamic_select.hpp) adds a pass before pass 1, for case lists too long to
// lock all at once for every item:
//
//   P. Probe: draw the random poll order lazily (forward Fisher-Yates, one step per case looked
//      at) and, for each case in that order, read its channel's "would block" snapshot without
//      the lock. A case that looks ready has its channel (only that one) locked and polled; if the
//      poll succeeds the select is done. A stale snapshot costs one lock and the probe goes on.
//      When no case was ready, the order drawn is a complete uniform permutation, and passes 1-3
//      run with it as usual.
//   dynamic_select caches the sorted lock order in its cases (gopp/dynamic_select.hpp), so a
//   select over the same cases as the last one skips pass 0's sort.
//   The probe completes a case only under that case's lock, as pass 1 would, so what it does is
//   what pass 1 could have done at that moment; it never decides "nothing ready" (a channel that
//   looked empty may have filled since another one was checked): only pass 1, holding every lock,
//   decides that. Uniformity: the first ready case met in a uniformly random order is uniform
//   among the ready cases.
//
// Why it is safe: a waiter is visible to others only between pass 2's enqueue and pass 3's
// unlink, both under the channel locks; the claim CAS picks exactly one winner among all wakers;
// and the select reads its result only after `done`, which the winner sets last (waiter.hpp).
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "gopp/dynamic_select.hpp"
#include "gopp/select.hpp"

namespace gopp::detail {

namespace {

std::uint32_t fast_random() noexcept {
  // xorshift32 per thread: choosing cases fairly needs uniformity, not secrecy.
  thread_local std::uint32_t state = [] {
    std::uint32_t seed = static_cast<std::uint32_t>(reinterpret_cast<std::uintptr_t>(&state));
    seed ^= static_cast<std::uint32_t>(__builtin_ia32_rdtsc());
    return seed ? seed : 0x9E3779B9u;
  }();
  std::uint32_t x = state;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  state = x;
  return x;
}

// Uniform in [0, n) without modulo bias worth mentioning for n this small (Lemire's reduction).
std::uint32_t random_below(std::uint32_t n) noexcept {
  return static_cast<std::uint32_t>((static_cast<std::uint64_t>(fast_random()) * n) >> 32);
}

void lock_all(select_case_base* const* cases, const std::uint32_t* lock_order, std::size_t n) {
  chan_base* last = nullptr;
  for (std::size_t i = 0; i < n; ++i) {
    chan_base* c = cases[lock_order[i]]->channel;
    if (c && c != last) c->lock.lock();
    last = c;
  }
}

void unlock_all(select_case_base* const* cases, const std::uint32_t* lock_order, std::size_t n) {
  chan_base* last = nullptr;
  for (std::size_t i = 0; i < n; ++i) {
    chan_base* c = cases[lock_order[i]]->channel;
    if (c && c != last) c->lock.unlock();
    last = c;
  }
}

// Passes 1 to 3 over the `live` cases named by order[0, live) (random poll order) and
// lock_order[0, live) (the same cases, sorted by channel if `sorted`, else sorted here).
// Returns like select_impl.
std::size_t select_locked(select_case_base* const* cases, std::size_t n, std::size_t live,
                          bool has_default, std::uint32_t* order, std::uint32_t* lock_order,
                          bool sorted = false) {
  if (!sorted) {
    std::sort(lock_order, lock_order + live, [cases](std::uint32_t a, std::uint32_t b) {
      return cases[a]->channel < cases[b]->channel;
    });
  }

  // Pass 1: anything ready?
  lock_all(cases, lock_order, live);
  for (std::size_t k = 0; k < live; ++k) {
    select_case_base* c = cases[order[k]];
    select_state* wake = nullptr;
    if (c->poll(c, wake)) {
      unlock_all(cases, lock_order, live);
      if (wake) wake->complete();
      return order[k];
    }
  }
  if (has_default) {
    unlock_all(cases, lock_order, live);
    return n;
  }

  // Pass 2: wait on every channel.
  select_state sel(current_parker());
  for (std::size_t k = 0; k < live; ++k) {
    select_case_base* c = cases[order[k]];
    c->w.sel = &sel;
    c->w.case_index = static_cast<int>(order[k]);
    (c->is_send ? c->channel->sendq : c->channel->recvq).push_back(&c->w);
  }
  unlock_all(cases, lock_order, live);
  sel.wait(wait_reason::select);

  // Pass 3: leave the other channels.
  const int winner = sel.winner.load(std::memory_order_acquire);
  lock_all(cases, lock_order, live);
  for (std::size_t k = 0; k < live; ++k) {
    select_case_base* c = cases[order[k]];
    if (c->w.in_queue) (c->is_send ? c->channel->sendq : c->channel->recvq).remove(&c->w);
  }
  unlock_all(cases, lock_order, live);
  return static_cast<std::size_t>(winner);
}

// Under no lock: whether the case looks ready (see pass P). Reading `closed` second is what
// try_send/try_recv do; here a wrong answer either way costs only time, never correctness.
bool looks_ready(const select_case_base* c) noexcept {
  const chan_base* ch = c->channel;
  const bool blocked = c->is_send ? ch->would_block_send() : ch->would_block_recv();
  return !blocked || ch->closed.load(std::memory_order_acquire);
}

}  // namespace

std::size_t select_impl(select_case_base* const* cases, std::size_t n, bool has_default,
                        std::uint32_t* order, std::uint32_t* lock_order) {
  // Pass 0: random poll order (Fisher-Yates, inside-out), lock order by channel address.
  std::size_t live = 0;
  for (std::uint32_t i = 0; i < n; ++i) {
    if (!cases[i]->channel) continue;  // a nil channel's case is never ready: leave it out
    const std::uint32_t j = random_below(static_cast<std::uint32_t>(live + 1));
    order[live] = order[j];
    order[j] = i;
    lock_order[live] = i;
    ++live;
  }
  if (live == 0) {
    if (has_default) return n;
    block_forever(wait_reason::select_no_cases);
  }
  return select_locked(cases, n, live, has_default, order, lock_order);
}

std::size_t select_impl_probing(select_case_base* const* cases, std::size_t n, bool has_default,
                                std::uint32_t* order, std::uint32_t* lock_order,
                                bool lock_order_known, bool* lock_order_sorted) {
  *lock_order_sorted = false;
  // Pass P: order starts as any permutation of [0, n); step k fixes order[k] uniformly among
  // the entries not yet drawn.
  for (std::size_t k = 0; k < n; ++k) {
    const std::size_t j = k + random_below(static_cast<std::uint32_t>(n - k));
    std::swap(order[k], order[j]);
    select_case_base* c = cases[order[k]];
    if (!c->channel || !looks_ready(c)) continue;
    select_state* wake = nullptr;
    c->channel->lock.lock();
    const bool done = c->poll(c, wake);
    c->channel->lock.unlock();
    if (done) {
      if (wake) wake->complete();
      return order[k];
    }
  }
  // Nothing was ready: keep the live cases, in the order drawn, for passes 1 to 3.
  std::size_t live = 0;
  for (std::size_t k = 0; k < n; ++k) {
    const std::uint32_t i = order[k];
    if (!cases[i]->channel) continue;
    order[live] = i;
    if (!lock_order_known) lock_order[live] = i;
    ++live;
  }
  if (live == 0) {
    if (has_default) return n;
    block_forever(wait_reason::select_no_cases);
  }
  *lock_order_sorted = true;
  return select_locked(cases, n, live, has_default, order, lock_order, lock_order_known);
}

std::uint64_t next_lock_stamp() noexcept {
  static std::atomic<std::uint64_t> last{0};
  return last.fetch_add(1, std::memory_order_relaxed) + 1;
}

void throw_multiple_default_cases() {
  throw std::invalid_argument("dynamic_select: multiple default cases");
}

void throw_spent_send_case(std::size_t index) {
  throw std::logic_error("dynamic_select: send case " + std::to_string(index) +
                         " was sent already; give it a new value with set_value()");
}

}  // namespace gopp::detail
