// Goroutine records: allocation, spawning, running the closure, and finishing.
//
// Records are recycled through a free_pool (free_pool.hpp): a per-thread array in front of a
// global one, so a spawner on one thread reuses what workers free on others, and the global lock
// is taken once per half-array, not once per goroutine.
#include "runtime/goroutine.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <exception>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "runtime/free_pool.hpp"
#include "runtime/runtime.hpp"
#include "runtime/scheduler.hpp"
#include "runtime/traceback.hpp"

namespace gopp::detail {

namespace {

constexpr std::size_t cache_limit = 256;

constexpr std::uint64_t id_block = 16;
std::atomic<std::uint64_t> g_next_id{1};
// A thread's block of ids: one shared increment per 16 spawns, not per spawn (Go's goidcache).
struct id_cache {
  std::uint64_t next = 0;
  std::uint64_t end = 0;
};
thread_local id_cache t_ids;

std::uint64_t next_goroutine_id() noexcept {
  id_cache& c = t_ids;
  if (c.next == c.end) {
    c.next = g_next_id.fetch_add(id_block, std::memory_order_relaxed);
    c.end = c.next + id_block;
  }
  return c.next++;
}

using record_pool = free_pool<goroutine, cache_limit>;
// Never destroyed: goroutines finish, and free their records, while static destructors run.
record_pool& free_records() {
  static auto* pool = new record_pool;
  return *pool;
}
thread_local record_pool::local t_records{free_records()};

[[noreturn]] void panic(const goroutine* g, const char* what) noexcept {
  std::string msg = "panic: ";
  msg += what;
  char buf[96];
  std::snprintf(buf, sizeof buf, "\n\ngoroutine %" PRIu64 " [running]\n",
                g->id.load(std::memory_order_relaxed));
  msg += buf;
  // As Go's traceback ends: who started it (ids of different threads' goroutines are unordered).
  if (g->parent_id != 0) {
    std::snprintf(buf, sizeof buf, "created by goroutine %" PRIu64 "\n", g->parent_id);
    msg += buf;
  }
  write_stderr(msg.data(), msg.size());
  std::terminate();
}

// Every record ever made, for the life of the process. Records are recycled, never freed, and a
// goroutine parked forever (on a nil channel, say) is referenced by nothing else: without this
// table LeakSanitizer reports it, and whatever its closure owns, as leaked at exit.
std::mutex g_registry_mu;
std::vector<goroutine*>* g_registry = nullptr;  // never destroyed: goroutines outlive statics

const char* reason_text(wait_reason r) noexcept {
  switch (r) {
    case wait_reason::none:
      return "runnable";
    case wait_reason::chan_receive:
      return "chan receive";
    case wait_reason::chan_send:
      return "chan send";
    case wait_reason::select:
      return "select";
    case wait_reason::select_no_cases:
      return "select (no cases)";
    case wait_reason::sleep:
      return "sleep";
    case wait_reason::wait_group:
      return "wait_group";
    case wait_reason::mutex:
      return "mutex";
    case wait_reason::sync_cond:
      return "sync.Cond";
    case wait_reason::future:
      return "future";
    case wait_reason::io_wait:
      return "IO wait";
    case wait_reason::errgroup_limit:
      return "errgroup limit";
  }
  return "unknown";
}

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
  if (goroutine* g = t_records.take()) return g;
  free_records().created(1);
  auto* g = new goroutine;
  g->park_token.owner_ = g;
  register_record(g);
  return g;
}

void free_goroutine(goroutine* g) noexcept {
  g->context = fiber_context{};
  g->reason.store(wait_reason::none, std::memory_order_relaxed);
  t_records.put(g);
}

void* spawn_prepare(std::size_t size, std::size_t align, const closure_ops* ops, goroutine** out) {
  scheduler::instance();  // starts the runtime, and freezes its options, on first use
  if (!stack_pool::reserve()) {
    throw stack_exhausted_error(
        "gopp: cannot allocate a goroutine stack (mmap failed: out of memory, RLIMIT_AS or "
        "vm.max_map_count reached) with " +
        std::to_string(live_goroutines()) + " goroutines alive");
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
  g->id.store(next_goroutine_id(), std::memory_order_relaxed);
  const goroutine* parent = current_goroutine();
  g->parent_id = parent ? parent->id.load(std::memory_order_relaxed) : 0;
  g->live.store(true, std::memory_order_release);
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
  stack* stk = g->stk;
  g->stk = nullptr;
  g->live.store(false, std::memory_order_relaxed);
  free_goroutine(g);
  // Last: ends the goroutine's claim, which is what live_goroutines() counts.
  stack_pool::release(stk);
}

void write_stderr(const char* s, std::size_t n) noexcept {
  while (n > 0) {
    const ssize_t w = ::write(STDERR_FILENO, s, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    s += w;
    n -= static_cast<std::size_t>(w);
  }
}

std::string dump_goroutines() {
  std::vector<goroutine*> records;
  {
    std::lock_guard lock(g_registry_mu);
    if (g_registry) records = *g_registry;
  }
  goroutine* self = current_goroutine();
  struct entry {
    std::uint64_t id;
    const char* what;
    std::uint64_t parent;
    std::size_t frames;
    std::uintptr_t pcs[max_traceback_frames];
  };
  std::vector<entry> entries;
  entries.reserve(records.size());
  for (const goroutine* g : records) {
    if (!g->live.load(std::memory_order_acquire)) continue;
    const wait_reason r = g->reason.load(std::memory_order_relaxed);
    entry& e = entries.emplace_back();
    e.id = g->id.load(std::memory_order_relaxed);
    e.what = g == self ? "running" : reason_text(r);
    e.parent = g->parent_id;
    // Frames: our own, or a parked goroutine's saved ones; one that runs elsewhere (or waits in a
    // run queue) has none that can be read reliably.
    if (g == self) {
      e.frames = current_frames(self, e.pcs, max_traceback_frames);
    } else if (r != wait_reason::none) {
      e.frames = saved_frames(g, e.pcs, max_traceback_frames);
    } else {
      e.frames = 0;
    }
  }
  std::sort(entries.begin(), entries.end(),
            [](const entry& a, const entry& b) { return a.id < b.id; });
  // Go's traceback layout: a header per goroutine, its frames, "created by", a blank line between.
  std::string out;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const entry& e = entries[i];
    if (i > 0) out += '\n';
    out += "goroutine " + std::to_string(e.id) + " [" + e.what + "]:\n";
    append_frames(out, e.pcs, e.frames);
    if (e.parent != 0) out += "created by goroutine " + std::to_string(e.parent) + "\n";
  }
  return out;
}

std::size_t live_goroutines() noexcept {
  // Every goroutine holds one stack claim from go() to its end (stack.hpp), so the claims are
  // the goroutines: one shared counter per spawn instead of two.
  return stack_pool::claimed();
}

}  // namespace gopp::detail
