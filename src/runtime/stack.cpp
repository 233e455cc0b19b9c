// Goroutine stacks: slabs, guards, the pool. The algorithm and invariants are in stack.hpp.
#include "runtime/stack.hpp"

#include "runtime/free_pool.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>

// Linux 6.13+: a guard region recorded in the page tables (reads and writes fault with SIGSEGV),
// which, unlike mprotect, does not split the mapping and so costs no vm.max_map_count entry.
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

namespace gopp::detail {

namespace {

constexpr std::size_t stacks_per_slab = 32;
constexpr std::size_t max_slabs = 1 << 16;  // 2M stacks: past any realistic address budget
constexpr std::size_t cache_limit = 64;     // stacks a thread keeps for itself

struct slab {
  char* base;
  std::size_t stride;  // guard_size + stack size
  stack* descriptors;  // stacks_per_slab of them, on the heap, never freed
};

std::size_t page_size() {
  static const std::size_t p = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  return p;
}

std::size_t round_to_page(std::size_t n) {
  return (n + page_size() - 1) / page_size() * page_size();
}

std::atomic<std::size_t> g_stack_size{stack_pool::default_stack_size};
// Stacks reserved by go() or running a goroutine. reserve() keeps g_total (stacks mapped, only
// written under g_mu) ahead of it, so that the allocation at a goroutine's first run succeeds.
std::atomic<std::size_t> g_claimed{0};
std::atomic<std::size_t> g_total{0};

// Append-only slab table, readable from a signal handler without locks: entries are written
// before g_slab_count is bumped (release), and read below the count (acquire).
slab g_slabs[max_slabs];
std::atomic<std::size_t> g_slab_count{0};

std::mutex g_mu;            // guards slab creation and the variables below
std::size_t g_guarded = 0;  // guarded stacks ever made (guards are never removed)
std::size_t g_budget = 0;   // computed on first use

// How guards are made: probed once, on a scratch page, before the first guard.
enum class guard_method { unknown, page_table, mprotect };
guard_method g_method = guard_method::unknown;

using stack_free_pool = free_pool<stack, cache_limit>;
// Never destroyed: goroutines run, and free stacks, while static destructors run at exit.
stack_free_pool& free_stacks() {
  static auto* pool = new stack_free_pool;
  return *pool;
}
// Threads that hold a cache now: each may hide up to cache_limit free stacks from the others.
std::atomic<std::size_t> g_cache_holders{0};
struct counted_cache : stack_free_pool::local {
  counted_cache() noexcept : local(free_stacks()) {
    g_cache_holders.fetch_add(1, std::memory_order_relaxed);
  }
  ~counted_cache() { g_cache_holders.fetch_sub(1, std::memory_order_relaxed); }
  counted_cache(const counted_cache&) = delete;
  counted_cache& operator=(const counted_cache&) = delete;
};
thread_local counted_cache t_cache;

std::size_t read_max_map_count() {
  std::size_t limit = 65530;
  if (FILE* f = std::fopen("/proc/sys/vm/max_map_count", "r")) {
    unsigned long v = 0;
    if (std::fscanf(f, "%lu", &v) == 1 && v > 0) limit = v;
    std::fclose(f);
  }
  return limit;
}

std::size_t compute_budget() {
  // Page-table guards cost no mapping: every stack gets one.
  std::size_t budget = static_cast<std::size_t>(-1);
  if (g_method != guard_method::page_table) {
    // Leave room for the process's own mappings (libraries, heaps, thread stacks) and for the
    // user's: a quarter of the limit, at least 4096 entries. Each guard costs two entries.
    std::size_t limit = read_max_map_count();
    std::size_t reserve = std::max<std::size_t>(limit / 4, 4096);
    budget = limit > reserve ? (limit - reserve) / 2 : 0;
  }
  if (const char* cap = std::getenv("GOPP_GUARDED_STACKS"); cap && *cap) {
    budget = std::min<std::size_t>(budget, std::strtoul(cap, nullptr, 10));
  }
  return budget;
}

// Whether this kernel has page-table guards: tried once on a scratch page.
guard_method probe_guard_method() {
  const std::size_t len = page_size();
  void* p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return guard_method::mprotect;
  const bool ok = madvise(p, len, MADV_GUARD_INSTALL) == 0;
  munmap(p, len);
  return ok ? guard_method::page_table : guard_method::mprotect;
}

// Called with g_mu held, before the first guard is made.
void choose_guard_method() {
  if (g_method != guard_method::unknown) return;
  g_method = probe_guard_method();
  g_budget = compute_budget();
}

// Makes [p, p + len) a guard. Called with g_mu held.
bool install_guard(char* p, std::size_t len) {
  if (g_method == guard_method::page_table) {
    // A failure here (no memory for the page tables) leaves this one stack unguarded.
    return madvise(p, len, MADV_GUARD_INSTALL) == 0;
  }
  return mprotect(p, len, PROT_NONE) == 0;
}

// Address space is mapped in regions of 1, 2, 4 ... 64 slabs, and slabs are carved from the
// current region. Why not one mmap per slab: adjacent mappings merge into one VMA, and each new
// one (with its madvise) write-locks that VMA, which stalls every first-touch page fault of every
// other stack meanwhile (B6: ~10,000 context switches, and with page-table guards, which split
// nothing, 15% slower than mprotect guards). Guarded by g_mu.
constexpr std::size_t max_region_slabs = 64;
char* g_region_next = nullptr;
std::size_t g_region_slabs_left = 0;
std::size_t g_next_region_slabs = 1;

void* map_region(std::size_t bytes) {
  void* mem = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  if (mem == MAP_FAILED) return nullptr;
  // No transparent huge pages on stacks: one would commit 2 MiB where a goroutine touched 4 KiB,
  // and a read of an untouched canary could map a huge zero page that the next write to a
  // neighbouring stack turns into real memory. (Linux 6.7+ implies this for MAP_STACK.)
  madvise(mem, bytes, MADV_NOHUGEPAGE);
  return mem;
}

// The next slab's address, or nullptr when no address space can be had.
char* carve_slab(std::size_t slab_bytes) {
  if (g_region_slabs_left == 0) {
    std::size_t slabs = g_next_region_slabs;
    void* mem = map_region(slabs * slab_bytes);
    if (!mem && slabs > 1) {  // RLIMIT_AS may still allow one slab
      slabs = 1;
      mem = map_region(slab_bytes);
    }
    if (!mem) return nullptr;
    g_region_next = static_cast<char*>(mem);
    g_region_slabs_left = slabs;
    g_next_region_slabs = std::min(2 * g_next_region_slabs, max_region_slabs);
  }
  char* slab_base = g_region_next;
  g_region_next += slab_bytes;
  --g_region_slabs_left;
  return slab_base;
}

// Carves a new slab and gives its stacks to the pool. Called with g_mu held.
bool grow_locked() {
  std::size_t count = g_slab_count.load(std::memory_order_relaxed);
  if (count == max_slabs) return false;
  try {
    free_stacks().created(stacks_per_slab);
  } catch (const std::bad_alloc&) {
    return false;
  }
  const std::size_t size = g_stack_size.load(std::memory_order_relaxed);
  const std::size_t stride = stack_pool::guard_size + size;
  // The descriptors live on the heap, apart from every stack and guard: an overflow of a stack
  // with a canary instead of a guard runs through its guard bytes unchecked until the next
  // switch, and must not be able to rewrite the descriptors the report itself reads.
  auto* descriptors = new (std::nothrow) stack[stacks_per_slab];
  if (!descriptors) return false;
  char* base = carve_slab(stride * stacks_per_slab);
  if (!base) {
    delete[] descriptors;
    return false;
  }
  choose_guard_method();
  g_slabs[count] = slab{base, stride, descriptors};
  g_slab_count.store(count + 1, std::memory_order_release);
  stack* fresh[stacks_per_slab];
  for (std::size_t i = stacks_per_slab; i-- > 0;) {
    char* guard = base + i * stride;
    stack* s = &descriptors[i];
    s->bottom = guard + stack_pool::guard_size;
    s->size = size;
    if (g_guarded < g_budget && install_guard(guard, stack_pool::guard_size)) {
      s->guarded = true;
      ++g_guarded;
    }
    fresh[i] = s;
  }
  free_stacks().give(fresh, stacks_per_slab);
  g_total.fetch_add(stacks_per_slab, std::memory_order_relaxed);
  return true;
}

}  // namespace

bool stack::canary_intact() const noexcept {
  if (guarded) return true;
  // The last 64 bytes below the stack: an overflow writes them first. Reading them maps the
  // kernel's shared zero page if the page was never touched (no memory committed: stack.hpp).
  const auto* p = reinterpret_cast<const volatile std::uint64_t*>(bottom) - 8;
  std::uint64_t any = 0;
  for (int i = 0; i < 8; ++i) any |= p[i];
  return any == 0;
}

namespace stack_pool {

void set_stack_size(std::size_t bytes) {
  if (bytes == 0) bytes = default_stack_size;
  bytes = std::max<std::size_t>(round_to_page(bytes), 4 * page_size());
  g_stack_size.store(bytes, std::memory_order_relaxed);
}

std::size_t stack_size() noexcept {
  return g_stack_size.load(std::memory_order_relaxed);
}

stack* allocate() noexcept {
  if (stack* s = t_cache.take()) return s;
  std::lock_guard lock(g_mu);
  if (stack* s = t_cache.take()) return s;  // another thread grew the pool meanwhile
  return grow_locked() ? t_cache.take() : nullptr;
}

void prefetch_next() noexcept {
  if (const stack* after_next = t_cache.peek(1)) __builtin_prefetch(after_next, 0);
  if (const stack* next = t_cache.peek(0)) {
    const char* top = next->top();
    for (int line = 1; line <= 4; ++line) __builtin_prefetch(top - 64 * line, 1);
  }
}

void release(stack* s) noexcept {
  t_cache.put(s);
  // Release, paired with the acquire in claimed(): a thread that sees the count of goroutines
  // drop may free what they used (a test's pipeline does, after waiting for its goroutines).
  g_claimed.fetch_sub(1, std::memory_order_release);
}

std::size_t claimed() noexcept {
  return g_claimed.load(std::memory_order_acquire);
}

bool reserve() noexcept {
  // Free stacks may sit in per-thread caches where another thread's allocate() cannot see them:
  // up to cache_limit in each thread that holds a cache. Keep that much mapped beyond the claimed
  // ones, plus one cache for a thread that starts meanwhile, so the allocate() at a goroutine's
  // first run finds a stack without mapping (which could fail there, where it cannot be
  // reported). A fixed slack of 4 caches was too little above 4 worker threads.
  const std::size_t slack = (g_cache_holders.load(std::memory_order_relaxed) + 1) * cache_limit;
  const std::size_t want = g_claimed.fetch_add(1, std::memory_order_relaxed) + 1;
  if (want + slack <= g_total.load(std::memory_order_relaxed)) return true;
  std::lock_guard lock(g_mu);
  while (want + slack > g_total.load(std::memory_order_relaxed)) {
    if (!grow_locked()) {
      g_claimed.fetch_sub(1, std::memory_order_relaxed);
      return false;
    }
  }
  return true;
}

void unreserve() noexcept {
  g_claimed.fetch_sub(1, std::memory_order_relaxed);
}

bool in_guard(const void* addr, const stack** which) noexcept {
  const char* a = static_cast<const char*>(addr);
  const std::size_t n = g_slab_count.load(std::memory_order_acquire);
  for (std::size_t i = 0; i < n; ++i) {
    const slab& sl = g_slabs[i];
    if (a < sl.base || a >= sl.base + sl.stride * stacks_per_slab) continue;
    const std::size_t offset = static_cast<std::size_t>(a - sl.base) % sl.stride;
    if (offset >= guard_size) return false;  // inside a stack, not a guard
    const std::size_t index = static_cast<std::size_t>(a - sl.base) / sl.stride;
    if (which) *which = &sl.descriptors[index];
    return true;
  }
  return false;
}

std::size_t guarded_budget() noexcept {
  std::lock_guard lock(g_mu);
  choose_guard_method();
  return g_budget;
}

}  // namespace stack_pool
}  // namespace gopp::detail
