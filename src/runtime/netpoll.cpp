// The network poller; the algorithm and its invariants are in netpoll.hpp. The backend (epoll)
// is behind the four calls of netpoll_backend.hpp, as Go keeps netpoll_epoll.go apart.
#include "runtime/netpoll.hpp"

#include <atomic>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <system_error>

#include "gopp/detail/park.hpp"
#include "gopp/detail/spinlock.hpp"
#include "runtime/goroutine.hpp"
#include "runtime/netpoll_backend.hpp"
#include "runtime/scheduler.hpp"
#include "runtime/timer.hpp"

namespace gopp::detail {

namespace {
// Slot values: no waiter and no event; an event nobody has consumed; else a waiter's parker.
constexpr std::uintptr_t slot_empty = 0;
constexpr std::uintptr_t slot_ready = 1;

// How many I/O calls in a row may complete without parking before the goroutine yields.
constexpr unsigned io_streak_limit = 64;

struct deadline_timer : timer_node {
  poll_desc* pd = nullptr;
  io_mode mode = io_mode::read;
};
}  // namespace

struct alignas(64) poll_desc {
  // Type-stable: descriptors come from blocks that are never freed, so a late event or a stale
  // pointer reads a descriptor, never freed memory.
  poll_desc* next_free = nullptr;
  int fd = -1;
  std::atomic<std::uint32_t> seq{
      0};  // bumped at each close(): a stale event's tag no longer matches
  std::atomic<std::uintptr_t> rslot{slot_empty};
  std::atomic<std::uintptr_t> wslot{slot_empty};
  std::atomic<bool> closing{false};
  std::atomic<bool> rexpired{false};
  std::atomic<bool> wexpired{false};
  spinlock deadline_lock;  // serialises set_deadline() and close() over the two timers
  deadline_timer rtimer;
  deadline_timer wtimer;

  std::atomic<std::uintptr_t>& slot(io_mode m) noexcept {
    return m == io_mode::read ? rslot : wslot;
  }
  std::atomic<bool>& expired(io_mode m) noexcept {
    return m == io_mode::read ? rexpired : wexpired;
  }
  const std::atomic<bool>& expired(io_mode m) const noexcept {
    return m == io_mode::read ? rexpired : wexpired;
  }
  deadline_timer& timer(io_mode m) noexcept { return m == io_mode::read ? rtimer : wtimer; }
};

namespace {

struct descriptor_pool {
  spinlock mu;
  poll_desc* free = nullptr;  // guarded by mu

  poll_desc* take() {
    std::lock_guard lock(mu);
    if (!free) {
      constexpr std::size_t block = 64;
      auto* fresh = new poll_desc[block];  // never freed (type-stable)
      for (std::size_t i = 0; i < block; ++i) {
        fresh[i].next_free = free;
        free = &fresh[i];
      }
    }
    poll_desc* pd = free;
    free = pd->next_free;
    return pd;
  }
  void give(poll_desc* pd) noexcept {
    std::lock_guard lock(mu);
    pd->next_free = free;
    free = pd;
  }
};

struct poller_state {
  std::once_flag started;
  descriptor_pool pool;
  std::atomic<bool> active{false};
  std::atomic<std::size_t> open{0};
  std::atomic<std::int64_t> last_poll_ms{0};
};

poller_state& state() {
  static auto* s = new poller_state;  // never destroyed: descriptors may be used during exit
  return *s;
}

std::int64_t now_ms() noexcept {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

thread_local unsigned t_io_streak = 0;

// The waiter's tag in the backend's registration: the descriptor and the low bits of its
// sequence number (user-space pointers on x86-64 and aarch64 leave the top 16 bits free).
std::uint64_t tag_of(poll_desc* pd, std::uint32_t seq) noexcept {
  return reinterpret_cast<std::uintptr_t>(pd) | (static_cast<std::uint64_t>(seq & 0xFFFF) << 48);
}

// Takes the waiter's parker out of `slot` (closing or a deadline) and wakes it.
void unblock(std::atomic<std::uintptr_t>& slot) noexcept {
  std::uintptr_t v = slot.load(std::memory_order_seq_cst);
  if (v > slot_ready && slot.compare_exchange_strong(v, slot_empty, std::memory_order_acq_rel)) {
    reinterpret_cast<parker*>(v)->unpark();
  }
}

// An event: the slot becomes ready, and its waiter, if any, is woken.
std::size_t mark_ready(std::atomic<std::uintptr_t>& slot) noexcept {
  if (slot.load(std::memory_order_relaxed) == slot_ready) return 0;
  const std::uintptr_t v = slot.exchange(slot_ready, std::memory_order_acq_rel);
  if (v > slot_ready) {
    reinterpret_cast<parker*>(v)->unpark();
    return 1;
  }
  return 0;
}

void fire_deadline(timer_node* n) {
  auto* t = static_cast<deadline_timer*>(n);
  t->pd->expired(t->mode).store(true, std::memory_order_seq_cst);
  unblock(t->pd->slot(t->mode));
}

void handle_event(std::uint64_t tag, bool readable, bool writable, std::size_t& woken) noexcept {
  auto* pd = reinterpret_cast<poll_desc*>(tag & ((std::uint64_t{1} << 48) - 1));
  // A stale event (the fd was closed after the kernel reported it) is dropped. If the descriptor
  // is reused between this check and the marks below, its new owner sees one spurious `ready`:
  // its I/O call then says EAGAIN and it waits again, so nothing is lost.
  if ((pd->seq.load(std::memory_order_acquire) & 0xFFFF) != (tag >> 48)) return;
  if (readable) woken += mark_ready(pd->rslot);
  if (writable) woken += mark_ready(pd->wslot);
}

}  // namespace

namespace netpoll {

poll_desc* open(int fd) {
  poller_state& s = state();
  std::call_once(s.started, [] { backend::init(); });
  scheduler& sched = scheduler::instance();
  poll_desc* pd = s.pool.take();
  pd->fd = fd;
  pd->rslot.store(slot_empty, std::memory_order_relaxed);
  pd->wslot.store(slot_empty, std::memory_order_relaxed);
  pd->closing.store(false, std::memory_order_relaxed);
  pd->rexpired.store(false, std::memory_order_relaxed);
  pd->wexpired.store(false, std::memory_order_relaxed);
  pd->rtimer.pd = pd;
  pd->rtimer.mode = io_mode::read;
  pd->rtimer.fire = &fire_deadline;
  pd->wtimer.pd = pd;
  pd->wtimer.mode = io_mode::write;
  pd->wtimer.fire = &fire_deadline;
  const std::uint32_t seq = pd->seq.load(std::memory_order_relaxed);
  if (const int err = backend::add(fd, tag_of(pd, seq)); err != 0) {
    s.pool.give(pd);
    throw std::system_error(err, std::generic_category(), "epoll_ctl");
  }
  s.open.fetch_add(1, std::memory_order_relaxed);
  if (!s.active.exchange(true, std::memory_order_seq_cst)) {
    // Workers asleep on their futexes went to sleep before there was anything to poll: wake one,
    // so that it goes back to sleep as the poller.
    sched.ensure_poller();
  }
  return pd;
}

void evict(poll_desc* pd) noexcept {
  pd->closing.store(true, std::memory_order_seq_cst);
  unblock(pd->rslot);
  unblock(pd->wslot);
}

void close(poll_desc* pd) noexcept {
  {
    std::lock_guard lock(pd->deadline_lock);
    timers::cancel(&pd->rtimer);
    timers::cancel(&pd->wtimer);
  }
  backend::remove(pd->fd);
  pd->fd = -1;
  pd->seq.fetch_add(1, std::memory_order_release);
  state().open.fetch_sub(1, std::memory_order_relaxed);
  state().pool.give(pd);
}

poll_status check(const poll_desc* pd, io_mode mode) noexcept {
  if (pd->closing.load(std::memory_order_seq_cst)) return poll_status::closing;
  if (pd->expired(mode).load(std::memory_order_seq_cst)) return poll_status::timeout;
  return poll_status::ready;
}

poll_status wait(poll_desc* pd, io_mode mode) {
  t_io_streak = 0;
  std::atomic<std::uintptr_t>& slot = pd->slot(mode);
  parker& me = current_parker();
  const auto mine = reinterpret_cast<std::uintptr_t>(&me);
  // Publish ourselves in the slot, unless an event is already there to consume.
  for (;;) {
    if (const poll_status st = check(pd, mode); st != poll_status::ready) return st;
    std::uintptr_t v = slot.load(std::memory_order_acquire);
    if (v == slot_ready) {
      if (slot.compare_exchange_strong(v, slot_empty, std::memory_order_acq_rel)) {
        return poll_status::ready;
      }
    } else if (v == slot_empty) {
      if (slot.compare_exchange_strong(v, mine, std::memory_order_seq_cst)) break;
    } else {
      // Another party waits in this mode. poll_fd serialises its readers (and writers), so only
      // two fd_watch waits in one direction get here: refuse the second, as Go's "double wait",
      // rather than overwrite the first's parker or spin.
      throw std::logic_error("gopp: two waits for the same descriptor in the same direction");
    }
  }
  if (!(current_goroutine() != nullptr)) scheduler::instance().ensure_poller();
  // Parked until the slot no longer holds our parker: an event made it ready, or a close or a
  // deadline took us out (after setting the flag that check() reads).
  while (slot.load(std::memory_order_seq_cst) == mine) {
    if (check(pd, mode) != poll_status::ready) {
      std::uintptr_t v = mine;
      slot.compare_exchange_strong(v, slot_empty, std::memory_order_acq_rel);
      break;
    }
    set_wait_reason(wait_reason::io_wait);
    me.park();
  }
  std::uintptr_t v = slot_ready;
  slot.compare_exchange_strong(v, slot_empty, std::memory_order_acq_rel);
  return check(pd, mode);
}

void set_deadline(poll_desc* pd, io_mode mode, clock::time_point when) noexcept {
  const bool none = when == clock::time_point::max() || when == clock::time_point{};
  const clock::time_point now = clock::now();
  std::lock_guard lock(pd->deadline_lock);
  for (io_mode m : {io_mode::read, io_mode::write}) {
    if ((static_cast<unsigned>(mode) & static_cast<unsigned>(m)) == 0) continue;
    deadline_timer& t = pd->timer(m);
    // After cancel() the old timer has fired or never will (timer.hpp): `expired` is ours.
    timers::cancel(&t);
    if (none) {
      pd->expired(m).store(false, std::memory_order_seq_cst);
    } else if (when <= now) {
      pd->expired(m).store(true, std::memory_order_seq_cst);
      unblock(pd->slot(m));
    } else {
      pd->expired(m).store(false, std::memory_order_seq_cst);
      t.when = when;
      timers::add(&t);
    }
  }
}

void io_progress() noexcept {
  if (++t_io_streak < io_streak_limit) return;
  t_io_streak = 0;
  if ((current_goroutine() != nullptr)) scheduler::instance().yield_current();
}

std::size_t open_count() noexcept {
  return state().open.load(std::memory_order_relaxed);
}

bool active() noexcept {
  // Acquire: pairs with open()'s exchange, so whoever sees `active` then polls sees the
  // backend's descriptors that init() wrote (TSan saw the relaxed load race with them).
  return state().active.load(std::memory_order_acquire);
}

std::size_t poll(int delay_ms) {
  backend::event events[128];
  const int n = backend::wait(events, 128, delay_ms);
  state().last_poll_ms.store(now_ms(), std::memory_order_relaxed);
  std::size_t woken = 0;
  for (int i = 0; i < n; ++i) {
    if (events[i].tag == backend::break_tag) continue;
    handle_event(events[i].tag, events[i].readable, events[i].writable, woken);
  }
  return woken;
}

void break_poll() noexcept {
  backend::interrupt();
}

std::int64_t ms_since_last_poll() noexcept {
  return now_ms() - state().last_poll_ms.load(std::memory_order_relaxed);
}

}  // namespace netpoll
}  // namespace gopp::detail
