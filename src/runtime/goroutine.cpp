// Goroutine records: allocation, spawning, running the closure, and finishing.
//
// Records are recycled through a per-thread cache backed by a global free list (a spawner on a
// plain thread allocates what workers free), moved in batches so the global lock is taken once
// per batch, not once per goroutine.
#include "runtime/goroutine.hpp"

#include <unistd.h>

#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <exception>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "runtime/runtime.hpp"
#include "runtime/scheduler.hpp"

namespace gopp::detail {

namespace {

constexpr std::size_t cache_limit = 256;

std::atomic<std::uint64_t> g_next_id{1};
std::atomic<std::size_t> g_live{0};

std::mutex g_free_mu;
goroutine* g_free = nullptr;

struct record_cache {
  goroutine* head = nullptr;
  std::size_t count = 0;
  ~record_cache() {
    std::lock_guard lock(g_free_mu);
    while (head) {
      goroutine* g = head;
      head = g->next;
      g->next = g_free;
      g_free = g;
    }
  }
};
thread_local record_cache t_records;

void write_stderr(const char* s, std::size_t n) noexcept {
  while (n > 0) {
    const ssize_t w = ::write(STDERR_FILENO, s, n);
    if (w <= 0) return;
    s += w;
    n -= static_cast<std::size_t>(w);
  }
}

[[noreturn]] void panic(const goroutine* g, const char* what) noexcept {
  std::string msg = "panic: ";
  msg += what;
  char buf[64];
  std::snprintf(buf, sizeof buf, "\n\ngoroutine %" PRIu64 " [running]\n", g->id);
  msg += buf;
  write_stderr(msg.data(), msg.size());
  std::terminate();
}

// Every record ever made, for the life of the process. Records are recycled, never freed, and a
// goroutine parked forever (on a nil channel, say) is referenced by nothing else: without this
// table LeakSanitizer reports it, and whatever its closure owns, as leaked at exit.
std::mutex g_registry_mu;
std::vector<goroutine*>* g_registry = nullptr;  // never destroyed: goroutines outlive statics

void register_record(goroutine* g) {
  std::lock_guard lock(g_registry_mu);
  if (!g_registry) g_registry = new std::vector<goroutine*>;
  g_registry->push_back(g);
}

std::size_t heap_align(std::size_t align) noexcept {
  return align > alignof(std::max_align_t) ? align : alignof(std::max_align_t);
}

void free_heap_closure(goroutine* g) noexcept {
  ::operator delete(g->closure, std::align_val_t(g->closure_align));
  g->closure_on_heap = false;
}

}  // namespace

goroutine* allocate_goroutine() {
  record_cache& c = t_records;
  if (!c.head) {
    std::lock_guard lock(g_free_mu);
    while (g_free && c.count < cache_limit / 2) {
      goroutine* g = g_free;
      g_free = g->next;
      g->next = c.head;
      c.head = g;
      ++c.count;
    }
  }
  if (goroutine* g = c.head) {
    c.head = g->next;
    --c.count;
    g->next = nullptr;
    return g;
  }
  auto* g = new goroutine;
  g->park_token.owner_ = g;
  register_record(g);
  return g;
}

void free_goroutine(goroutine* g) noexcept {
  g->context = fiber_context{};
  g->reason = wait_reason::none;
  record_cache& c = t_records;
  g->next = c.head;
  c.head = g;
  if (++c.count <= cache_limit) return;
  std::lock_guard lock(g_free_mu);
  while (c.count > cache_limit / 2) {
    goroutine* x = c.head;
    c.head = x->next;
    --c.count;
    x->next = g_free;
    g_free = x;
  }
}

void* spawn_prepare(std::size_t size, std::size_t align, const closure_ops* ops, goroutine** out) {
  scheduler::instance();  // starts the runtime, and freezes its options, on first use
  if (!stack_pool::reserve()) {
    throw stack_exhausted_error(
        "gopp: cannot allocate a goroutine stack (mmap failed: out of memory, RLIMIT_AS or "
        "vm.max_map_count reached) with " +
        std::to_string(g_live.load(std::memory_order_relaxed)) + " goroutines alive");
  }
  goroutine* g = nullptr;
  try {
    g = allocate_goroutine();
  } catch (...) {
    stack_pool::unreserve();
    throw;
  }
  g->ops = ops;
  if (size <= goroutine::inline_capacity && align <= alignof(std::max_align_t)) {
    g->closure = g->inline_closure;
    g->closure_on_heap = false;
  } else {
    try {
      g->closure = ::operator new(size, std::align_val_t(heap_align(align)));
    } catch (...) {
      spawn_abort(g);
      throw;
    }
    g->closure_on_heap = true;
    g->closure_align = heap_align(align);
  }
  *out = g;
  return g->closure;
}

void spawn_abort(goroutine* g) noexcept {
  if (g->closure_on_heap) free_heap_closure(g);
  stack_pool::unreserve();
  free_goroutine(g);
}

void spawn_commit(goroutine* g) {
  g->id = g_next_id.fetch_add(1, std::memory_order_relaxed);
  g_live.fetch_add(1, std::memory_order_relaxed);
  scheduler::instance().spawn(g);
}

void run_closure(goroutine* g) noexcept {
  try {
    g->ops->run(g->closure);
  } catch (const std::exception& e) {
    panic(g, e.what());
  } catch (...) {
    panic(g, "unknown exception");
  }
  g->ops->destroy(g->closure);
  if (g->closure_on_heap) free_heap_closure(g);
  g->closure = nullptr;
}

void finish_goroutine(goroutine* g) noexcept {
  stack_pool::release(g->stk);
  g->stk = nullptr;
  // Release, paired with the acquire in live_goroutines(): a thread that sees the count drop may
  // free what the goroutine used (a test's pipeline does, after waiting for its goroutines).
  g_live.fetch_sub(1, std::memory_order_release);
  free_goroutine(g);
}

std::size_t live_goroutines() noexcept {
  return g_live.load(std::memory_order_acquire);
}

}  // namespace gopp::detail
