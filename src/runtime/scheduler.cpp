// The M:N scheduler; the algorithm and its invariants are in scheduler.hpp.
#include "runtime/scheduler.hpp"

#include <pthread.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "gopp/detail/spinlock.hpp"
#include "runtime/futex.hpp"
#include "runtime/netpoll.hpp"
#include "runtime/overflow.hpp"
#include "runtime/runtime.hpp"
#include "runtime/sanitizers.hpp"
#include "runtime/timer.hpp"

namespace gopp::detail {

namespace {

thread_local worker* t_worker = nullptr;

// How long an idle worker polls before it sleeps in the kernel: about 20-60 us of pause
// instructions on current x86. Long enough to cover a channel partner's round trip, short
// enough that an idle program soon stops using the CPU.
constexpr int idle_polls = 1000;
// A goroutine that has waited this long in another worker's queue or runnext (that worker has
// not taken it meanwhile: it runs something else) is stolen. Shorter than this, it is left to
// its worker, which usually runs it within a microsecond (a ping-pong partner, a producer a
// select readied): moving it to another core would cost more than it waits.
constexpr std::int64_t steal_after_ns = 20'000;
// How long a spinning worker goes on looking before it sleeps. While one spins, wakers wake
// nobody, so a program that readies goroutines often pays for a wake-up once per this period.
constexpr std::int64_t spin_for_ns = 200'000;
// Pauses between two looks at the other workers (about 16 us): each look reads lines that their
// owners write on every switch, and looking every 2 us cost B1 17% and B7 30%.
constexpr int spin_pauses = 512;

std::int64_t now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
std::atomic<scheduler*> g_scheduler{nullptr};
std::mutex g_start_mu;

// The StoreLoad barrier of the sleep/wake handshake (scheduler.hpp). ThreadSanitizer does not
// model fences, so under it both sides instead perform a seq_cst read-modify-write on
// n_spinning_, the counter the handshake is about: the same order, in a form TSan understands,
// and no synchronisation TSan would not otherwise see between unrelated threads.
inline void handshake_fence(std::atomic<int>& n_spinning) noexcept {
#ifdef GOPP_TSAN
  n_spinning.fetch_add(0, std::memory_order_seq_cst);
#else
  (void)n_spinning;
  std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
}

std::uint64_t next_random(std::uint64_t& s) noexcept {
  // xorshift64*: a victim order for stealing, not a secret.
  s ^= s >> 12;
  s ^= s << 25;
  s ^= s >> 27;
  return s * 0x2545F4914F6CDD1DULL;
}

void record_thread_stack(fiber_context& c) {
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) != 0) return;
  void* addr = nullptr;
  std::size_t size = 0;
  if (pthread_attr_getstack(&attr, &addr, &size) == 0) {
    c.san.stack_bottom = addr;
    c.san.stack_size = size;
  }
  pthread_attr_destroy(&attr);
}

void goroutine_entry(ctx::transfer_t t) noexcept {
  auto* g = static_cast<goroutine*>(t.data);
  worker* w = current_worker();
  w->sched.fctx = t.fctx;
  entered(g->context, &w->sched);
  run_closure(g);
  scheduler::instance().exit_current();
}

// Starts loading what the goroutines next in w's queue will touch first, while the one about to
// run runs: a program with many goroutines (100,000 sleepers) misses the cache on every record
// and stack it switches to. The next one's saved context (the registers its switch pushed, and
// the frames above them, which it returns through), and the record of the one after it, whose
// context pointer the next call reads. Not under TSan: reading the next record's context races,
// benignly, with a stealer that runs it meanwhile.
void prefetch_upcoming(const worker* w) noexcept {
#ifndef GOPP_TSAN
  if (const goroutine* after_next = w->runq.peek(1)) __builtin_prefetch(after_next, 1);
  if (const goroutine* next = w->runq.peek(0)) {
    if (const char* sp = static_cast<const char*>(next->context.fctx)) {
      for (int line = 0; line < 8; ++line) __builtin_prefetch(sp + 64 * line, 1);
    } else {
      // It never ran: its record, and the stack it will take.
      for (int line = 0; line < 2; ++line) {
        __builtin_prefetch(reinterpret_cast<const char*>(next) + 64 * line, 0);
      }
      stack_pool::prefetch_next();
    }
  }
#else
  (void)w;
#endif
}

}  // namespace

[[gnu::noinline]] worker* current_worker() noexcept {
  // The asm keeps the compiler from treating this as a pure function whose result it may reuse
  // across a switch: after one, the goroutine may be on another thread.
  asm volatile("" ::: "memory");
  return t_worker;
}

goroutine* current_goroutine() noexcept {
  worker* w = current_worker();
  return w ? w->current : nullptr;
}

scheduler* scheduler::if_started() noexcept {
  return g_scheduler.load(std::memory_order_acquire);
}

scheduler& scheduler::instance() {
  if (scheduler* s = g_scheduler.load(std::memory_order_acquire)) return *s;
  std::lock_guard lock(g_start_mu);
  if (scheduler* s = g_scheduler.load(std::memory_order_acquire)) return *s;
  const unsigned threads = runtime_config::freeze();
  install_overflow_handler();
  install_dump_signal();
  // Never destroyed: at exit, goroutines still parked or running are abandoned, as in Go.
  auto* s = new scheduler(threads);
  g_scheduler.store(s, std::memory_order_release);
  timers::start();
  return *s;
}

scheduler::scheduler(unsigned threads) : inject_tail_(&inject_stub_), inject_head_(&inject_stub_) {
  workers_.reserve(threads);
  for (unsigned i = 0; i < threads; ++i) {
    auto* w = new worker;
    w->index = i;
    w->rng = 0x9E3779B97F4A7C15ULL * (i + 1);
    w->timers = timers::attach(w);
    w->sightings.resize(threads);
    workers_.push_back(w);
  }
  monitor_last_seen_.resize(threads);
  for (worker* w : workers_) {
    std::thread([this, w] { run_worker(w); }).detach();
  }
}

void scheduler::run_worker(worker* w) {
  t_worker = w;
  w->eh = thread_eh_state();
  install_signal_stack();
  sanitizer::on_thread_context(w->sched.san);
  record_thread_stack(w->sched);
  for (;;) execute(w, find_runnable(w));
}

void scheduler::execute(worker* w, goroutine* g) {
  for (;;) {
    w->current = g;
    w->switches.store(w->switches.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    if (!g->stk) {
      g->stk = stack_pool::allocate();
      if (!g->stk) report_no_stack(g);
      sanitizer::on_stack_reuse(g->stk->bottom, g->stk->size);
      make_context(g->context, g->stk->top(), g->stk->size, &goroutine_entry);
      sanitizer::on_fiber_create(g->context.san);
    }
    prefetch_upcoming(w);
    ctx::transfer_t t = switch_to(w->sched, g->context, w->eh, g);
    // Back on this worker's own stack: `w` is still this thread's worker.
    g->context.fctx = t.fctx;
    w->current = nullptr;
    if (g->stk->overflowed_at(t.fctx)) report_canary_overflow(g);
    switch (static_cast<switch_request>(reinterpret_cast<std::uintptr_t>(t.data))) {
      case switch_request::yield:
        push_local(w, g);
        return;
      case switch_request::park: {
        // The goroutine is switched out now. If no token came while it was on its way, it is
        // parked and the next unpark() will ready() it; otherwise it consumes the token and
        // runs again at once.
        std::uint32_t expected = parker::empty;
        if (g->park_token.state_.compare_exchange_strong(expected, parker::parked,
                                                         std::memory_order_acq_rel)) {
          return;
        }
        g->park_token.state_.exchange(parker::empty, std::memory_order_acq_rel);
        continue;
      }
      case switch_request::exit:
        if (!g->stk->canary_intact()) report_canary_overflow(g);
        sanitizer::on_fiber_destroy(g->context.san);
        finish_goroutine(g);
        return;
    }
  }
}

void scheduler::switch_out(switch_request r) {
  worker* w = current_worker();
  goroutine* g = w->current;
  ctx::transfer_t t =
      switch_to(g->context, w->sched, w->eh, reinterpret_cast<void*>(r), r == switch_request::exit);
  // Resumed, perhaps by another worker: record where that worker's loop continues.
  current_worker()->sched.fctx = t.fctx;
}

void scheduler::yield_current() {
  switch_out(switch_request::yield);
}
void scheduler::park_current() {
  switch_out(switch_request::park);
}
void scheduler::exit_current() {
  switch_out(switch_request::exit);
  std::abort();  // unreachable: an exited goroutine is never resumed
}

goroutine* scheduler::find_runnable(worker* w) {
  for (;;) {
    if (w->timers_due.load(std::memory_order_relaxed)) {
      // Goroutines whose sleep ended join our local queue (ready() in the loop context): let
      // an idle worker come and take half of them.
      timers::run_due(w);
      if (!w->runq.empty()) wake_idle();
    }
    goroutine* g = nullptr;
    ++w->schedtick;
    if (w->schedtick % 61 == 0 && global_nonempty()) {
      g = global_get(w, false);
    }
    if (!g && w->runnext_streak < 64) {
      g = w->runnext.exchange(nullptr, std::memory_order_acquire);
      if (g) ++w->runnext_streak;
    }
    if (!g) {
      w->runnext_streak = 0;
      g = w->runq.pop();
    }
    if (!g) g = w->runnext.exchange(nullptr, std::memory_order_acquire);
    if (!g && global_nonempty()) g = global_get(w, true);
    if (!g && netpoll::active() && !poller_blocked_.load(std::memory_order_relaxed) &&
        netpoll::poll(0) > 0) {
      // The goroutines it readied are in our queue (ready() from the loop): take one, and let an
      // idle worker come for the rest.
      g = w->runq.pop();
      if (!w->runq.empty()) wake_idle();
      if (g) {
        if (w->spinning) stop_spinning(w);
        return g;
      }
    }
    if (!g) {
      // Spin (steal) only while fewer than half the busy workers do: more would burn CPU that
      // the busy ones need, for work that one spinner finds as well.
      const int busy = static_cast<int>(workers_.size()) - n_idle_.load(std::memory_order_relaxed);
      if (!w->spinning && 2 * n_spinning_.load(std::memory_order_relaxed) < busy) {
        w->spinning = true;
        n_spinning_.fetch_add(1, std::memory_order_seq_cst);
      }
      if (w->spinning) g = steal_waiting(w);
    }
    if (g) {
      if (w->spinning) stop_spinning(w);
      return g;
    }
    sleep(w);
  }
}

goroutine* scheduler::steal_waiting(worker* w) {
  const std::size_t n = workers_.size();
  std::int64_t now = now_ns();
  const std::int64_t give_up = now + spin_for_ns;
  for (worker* v : workers_) {
    worker::sighting& s = w->sightings[v->index];
    s.had_queue = false;  // nothing counts as waiting before we have seen it
    s.runnext = nullptr;
  }
  for (;;) {
    // What nobody runs is taken at once: the global queue, and sockets that became ready.
    if (global_nonempty()) {
      if (goroutine* g = global_get(w, true)) return g;
    }
    if (netpoll::active() && !poller_blocked_.load(std::memory_order_relaxed) &&
        netpoll::poll(0) > 0) {
      if (goroutine* g = w->runq.pop()) return g;
    }
    if (w->timers_due.load(std::memory_order_relaxed)) return nullptr;  // find_runnable fires them
    const std::size_t start = next_random(w->rng) % n;
    for (std::size_t i = 0; i < n; ++i) {
      worker* v = workers_[(start + i) % n];
      if (v == w) continue;
      worker::sighting& s = w->sightings[v->index];
      const std::uint32_t head = v->runq.head_position();
      const bool has_queue = !v->runq.empty();
      if (s.had_queue && has_queue && head == s.head) {
        if (now - s.queue_since >= steal_after_ns) {
          if (goroutine* g = v->runq.steal_into(w->runq, &head)) return g;
        }
      } else {
        s.head = head;
        s.had_queue = has_queue;
        s.queue_since = now;
      }
      goroutine* next = v->runnext.load(std::memory_order_acquire);
      const std::uint32_t switches = v->switches.load(std::memory_order_relaxed);
      if (next && next == s.runnext && switches == s.switches) {
        // The same goroutine, and its worker has not switched since: it runs one goroutine that
        // does not block (the waker computes), and the readied one would wait for all of it.
        if (now - s.runnext_since >= steal_after_ns &&
            v->runnext.compare_exchange_strong(next, nullptr, std::memory_order_acq_rel)) {
          return next;
        }
      } else {
        s.runnext = next;
        s.switches = switches;
        s.runnext_since = now;
      }
    }
    if (now >= give_up) return nullptr;
    for (int i = 0; i < spin_pauses; ++i) GOPP_CPU_RELAX();
    now = now_ns();
  }
}

void scheduler::inject_link(goroutine* g) noexcept {
  g->inject_next.store(nullptr, std::memory_order_relaxed);
  goroutine* prev = inject_tail_.exchange(g, std::memory_order_acq_rel);
  prev->inject_next.store(g, std::memory_order_release);
}

void scheduler::inject(goroutine* g) noexcept {
  inject_link(g);
  inject_count_.fetch_add(1, std::memory_order_seq_cst);
}

goroutine* scheduler::inject_pop_locked() noexcept {
  goroutine* head = inject_head_;
  goroutine* next = head->inject_next.load(std::memory_order_acquire);
  if (head == &inject_stub_) {
    if (!next) return nullptr;
    inject_head_ = head = next;
    next = head->inject_next.load(std::memory_order_acquire);
  }
  if (!next) {
    // `head` is the last node: put the stub behind it so it can be unlinked. A producer between
    // its exchange and its link makes head != tail: come back later (its count says so).
    if (head != inject_tail_.load(std::memory_order_acquire)) return nullptr;
    inject_link(&inject_stub_);
    next = head->inject_next.load(std::memory_order_acquire);
    if (!next) return nullptr;
  }
  inject_head_ = next;
  inject_count_.fetch_sub(1, std::memory_order_relaxed);
  return head;
}

goroutine* scheduler::global_get(worker* w, bool batch) {
  std::lock_guard lock(global_mu_);
  if (inject_count_.load(std::memory_order_relaxed) > 0) {
    // Goroutines from plain threads first: up to a share of them straight into our queue.
    if (goroutine* first = inject_pop_locked()) {
      if (batch) {
        const std::size_t want = std::min<std::size_t>(
            inject_count_.load(std::memory_order_relaxed) / workers_.size() + 1,
            run_queue::capacity / 2);
        for (std::size_t i = 0; i < want; ++i) {
          goroutine* g = inject_pop_locked();
          if (!g) break;
          w->runq.push(g);  // the caller's queue is empty in batch mode: this cannot fail
        }
      }
      return first;
    }
  }
  const std::size_t size = global_.size();
  if (size == 0) return nullptr;
  std::size_t n = 1;
  if (batch) {
    n = size / workers_.size() + 1;
    n = std::min<std::size_t>({n, size, run_queue::capacity / 2});
  }
  n = global_.pop(w->batch, n);
  global_size_.store(global_.size(), std::memory_order_relaxed);
  for (std::size_t i = 1; i < n; ++i) {
    w->runq.push(w->batch[i]);  // the caller's queue is empty in batch mode: this cannot fail
  }
  return w->batch[0];
}

void scheduler::global_put(goroutine* const* items, std::size_t n) {
  std::lock_guard lock(global_mu_);
  global_.push(items, n);
  global_size_.store(global_.size(), std::memory_order_relaxed);
}

void scheduler::push_local(worker* w, goroutine* g) {
  while (!w->runq.push(g)) {
    // Full: move the older half, and g, to the global queue where everybody can take them.
    const std::uint32_t n = w->runq.take_half(w->batch);
    if (n == 0) continue;  // a stealer made room
    w->batch[n] = g;
    global_put(w->batch, n + 1);
    return;
  }
}

void scheduler::spawn(goroutine* g) {
  worker* w = current_worker();
  if (w) {  // from a goroutine, or from a timer callback in the worker's loop (after_func)
    push_local(w, g);
  } else {
    inject(g);
  }
  wake_idle();
}

void scheduler::ready(goroutine* g) {
  worker* w = current_worker();
  if (w && w->current) {
    // Runs next on this worker: the waker usually blocks soon, and the pair stays together. If
    // nobody spins and a worker sleeps, one is woken (Go's wakep): it takes the goroutine only if
    // it is still waiting there steal_after_ns later (steal_waiting), so a waker that blocks at
    // once keeps its partner, and one that computes on does not strand it. The goroutine it
    // displaces from runnext joins the local queue, under the same rule.
    if (goroutine* old = w->runnext.exchange(g, std::memory_order_acq_rel)) push_local(w, old);
    wake_if_nobody_looks();
  } else if (w) {
    // A timer fired by this worker's loop (timers::run_due), or a socket found ready by its
    // network poll: the loop wakes idle workers once, at the end of the batch.
    push_local(w, g);
  } else {
    inject(g);
    wake_idle();
  }
}

void scheduler::wake_idle() {
  handshake_fence(n_spinning_);
  if (n_spinning_.load(std::memory_order_seq_cst) != 0 ||
      n_idle_.load(std::memory_order_seq_cst) == 0) {
    return;
  }
  int expected = 0;
  if (!n_spinning_.compare_exchange_strong(expected, 1, std::memory_order_seq_cst)) return;
  worker* v = nullptr;
  {
    std::lock_guard lock(idle_mu_);
    v = idle_list_;
    if (v) {
      idle_list_ = v->next_idle;
      v->in_idle_list = false;
      n_idle_.fetch_sub(1, std::memory_order_seq_cst);
    }
  }
  if (!v) {
    n_spinning_.fetch_sub(1, std::memory_order_seq_cst);
    return;
  }
  // v wakes up spinning: the count we took above is now its. It may still be polling its word
  // (sleep()): then the store alone wakes it, without a system call.
  const std::uint32_t was = v->wake_word.exchange(worker::woken, std::memory_order_acq_rel);
  if (was == worker::in_futex) {
    futex::wake(v->wake_word);
  } else if (was == worker::in_poll) {
    netpoll::break_poll();
  }
}

void scheduler::wake_if_nobody_looks() {
  // Relaxed reads first: on the hot path (a ping-pong readies its partner twice per round trip)
  // somebody usually spins already, and these lines are then read-shared and cheap. A sleeper
  // registering at this very moment may be missed; it re-checks every queue after registering,
  // and the monitor catches the rest (check_stuck_workers).
  if (n_spinning_.load(std::memory_order_relaxed) == 0 &&
      n_idle_.load(std::memory_order_relaxed) > 0) {
    wake_idle();
  }
}

void scheduler::ensure_poller() {
  if (!poller_blocked_.load(std::memory_order_seq_cst)) wake_idle();
}

void scheduler::poll_network_if_stale() {
  if (netpoll::active() && !poller_blocked_.load(std::memory_order_relaxed) &&
      netpoll::ms_since_last_poll() >= 10) {
    netpoll::poll(0);  // from the timer thread: the readied goroutines go to the global queue
  }
}

// sleep()'s blocking half when the program has descriptors: block in the network poller instead
// of the futex, if nobody else does. Returns true if this worker was woken (by a waker, or by a
// poll that readied goroutines into its queue, in which case it left the idle list itself).
bool scheduler::sleep_in_poller(worker* w) {
  if (!netpoll::active() || poller_blocked_.exchange(true, std::memory_order_acq_rel)) {
    return false;
  }
  std::uint32_t expected = worker::waiting;
  bool left_by_itself = false;
  if (w->wake_word.compare_exchange_strong(expected, worker::in_poll, std::memory_order_acq_rel)) {
    while (!left_by_itself && w->wake_word.load(std::memory_order_acquire) == worker::in_poll) {
      if (netpoll::poll(-1) == 0) continue;  // interrupted, or a stale event
      // Goroutines wait in our queue: leave the idle list, unless a waker took us out already
      // (then its store of `woken` ends the loop; until it comes, we poll again: its store is
      // followed by an interrupt).
      std::lock_guard lock(idle_mu_);
      if (w->in_idle_list) {
        worker** p = &idle_list_;
        while (*p != w) p = &(*p)->next_idle;
        *p = w->next_idle;
        w->in_idle_list = false;
        n_idle_.fetch_sub(1, std::memory_order_seq_cst);
        left_by_itself = true;
      }
    }
  }
  poller_blocked_.store(false, std::memory_order_release);
  if (left_by_itself) {
    // Nobody can pick us now (we are out of the list): the word is ours to reset. We start out
    // spinning, as a woken worker does, and wake another when we find our work.
    w->wake_word.store(worker::waiting, std::memory_order_relaxed);
    n_spinning_.fetch_add(1, std::memory_order_seq_cst);
  }
  // Not left by ourselves: either the word says `woken` (a waker's count of spinning is ours),
  // or the CAS above failed because it already did.
  return true;
}

void scheduler::stop_spinning(worker* w) {
  w->spinning = false;
  // The last spinner to find work wakes another: more may be on the way.
  if (n_spinning_.fetch_sub(1, std::memory_order_seq_cst) == 1) wake_idle();
}

bool scheduler::work_anywhere() const noexcept {
  if (global_nonempty()) return true;
  for (const worker* v : workers_) {
    if (!v->runq.empty() || v->runnext.load(std::memory_order_seq_cst)) return true;
  }
  return false;
}

void scheduler::sleep(worker* w) {
  {
    std::lock_guard lock(idle_mu_);
    if (global_nonempty()) return;
    w->in_idle_list = true;
    w->next_idle = idle_list_;
    idle_list_ = w;
    n_idle_.fetch_add(1, std::memory_order_seq_cst);
  }
  // From here the timer thread fires our timers itself; before, it only flags them (timer.hpp).
  // The seq_cst store, then the seq_cst load of timers_due below, is our half of the handshake.
  w->asleep.store(true, std::memory_order_seq_cst);
  if (w->spinning) {
    w->spinning = false;
    n_spinning_.fetch_sub(1, std::memory_order_seq_cst);
  }
  handshake_fence(n_spinning_);
  if (work_anywhere() || w->timers_due.load(std::memory_order_seq_cst)) {
    std::unique_lock lock(idle_mu_);
    if (w->in_idle_list) {
      // Take ourselves back out and look again, as a spinner.
      worker** p = &idle_list_;
      while (*p != w) p = &(*p)->next_idle;
      *p = w->next_idle;
      w->in_idle_list = false;
      n_idle_.fetch_sub(1, std::memory_order_seq_cst);
      lock.unlock();
      w->asleep.store(false, std::memory_order_relaxed);
      w->spinning = true;
      n_spinning_.fetch_add(1, std::memory_order_seq_cst);
      return;
    }
    // A waker already took us out of the list and is about to set our word: wait for it.
  }
  // Poll the word a little before the futex: work often comes back within microseconds (a
  // ping-pong partner, a producer), and then neither side makes a system call.
  bool woken = false;
  for (int i = 0; i < idle_polls && !woken; ++i) {
    woken = w->wake_word.load(std::memory_order_acquire) == worker::woken;
    if (!woken) GOPP_CPU_RELAX();
  }
  if (!woken) woken = sleep_in_poller(w);
  std::uint32_t expected = worker::waiting;
  if (!woken &&
      w->wake_word.compare_exchange_strong(expected, worker::in_futex, std::memory_order_acq_rel)) {
    while (w->wake_word.load(std::memory_order_acquire) == worker::in_futex) {
      futex::wait(w->wake_word, worker::in_futex);
    }
  }
  w->wake_word.store(worker::waiting, std::memory_order_relaxed);
  w->asleep.store(false, std::memory_order_relaxed);
  w->spinning = true;
}

void scheduler::check_stuck_workers() {
  // Work waiting behind a worker that has not switched since the last look (it runs one long
  // goroutine) gets a spinning worker sent to steal it.
  bool stuck = false;
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    worker* v = workers_[i];
    const std::uint32_t s = v->switches.load(std::memory_order_relaxed);
    if (s == monitor_last_seen_[i] &&
        (!v->runq.empty() || v->runnext.load(std::memory_order_relaxed))) {
      stuck = true;
    }
    monitor_last_seen_[i] = s;
  }
  if (stuck) wake_idle();
  poll_network_if_stale();
}

}  // namespace gopp::detail
