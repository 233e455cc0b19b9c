// Goroutine stacks: mmap'd in slabs, committed lazily, guarded, and pooled for reuse.
//
// Layout of one slab (`stacks_per_slab` stacks, contiguous; addresses grow to the right):
//
//   [guard | stack 0 ][guard | stack 1 ] ... each "guard" is `guard_size` bytes
//
// Algorithm and invariants:
//   - A stack is `guard_size + size` bytes of one MAP_NORESERVE mapping: pages are committed
//     only when a goroutine touches them, so a goroutine that uses 4 KiB costs 4 KiB of RSS.
//   - Slabs are carved from regions mapped 1, 2, 4 ... 64 slabs at a time (stack.cpp says why:
//     each new mapping write-locks the VMA that all stacks' page faults use).
//   - The guard below each stack faults on any access. On Linux 6.13+ it is a page-table guard
//     (madvise MADV_GUARD_INSTALL): it splits no mapping, so every stack has one, however many.
//     On older kernels it is PROT_NONE (mprotect) while the process stays within its mapping
//     budget: every such guard splits the slab's VMA, costing two entries of vm.max_map_count
//     (65530 by default). The budget is half of what the limit leaves after the process's other
//     mappings. A stack allocated past it has no hardware guard, only a "canary": its guard
//     bytes must stay zero. The runtime checks it when a goroutine ends, and at every switch it
//     checks that the goroutine's saved stack pointer is not at or below the stack's bottom (see
//     overflowed_at and canary_intact). $GOPP_GUARDED_STACKS=n caps the guarded stacks at n
//     (0: no guards at all) with either kind. The method is probed once, on a scratch page.
//     This is the documented trade that lets 100,000+ goroutines be alive at once under the
//     default kernel settings on any kernel.
//   - Reading a canary commits no memory: slabs are MADV_NOHUGEPAGE, so a read of a page never
//     written maps the kernel's shared zero page (measured on Linux 6.18: reading 20,000 untouched
//     canary pages raised RSS by 128 KiB, the page tables). Without that advice, a kernel with
//     transparent huge pages on could back a read with the huge zero page and turn a neighbouring
//     stack's next write into 2 MiB of memory (the likely cause of "a canary read per switch
//     cost 100 MB at 100,000 sleepers", measured before). The end-of-goroutine check therefore
//     reads the canary directly: a memory access once the page is mapped, where the mincore()
//     it replaces cost a system call per goroutine (B6: about a third of its run time).
//   - Stack descriptors (struct stack) live on the heap, one array per slab, never inside a
//     slab: an overflow of an unguarded stack, which nothing stops before the next check, can
//     then only write guard bytes, never the descriptors that locate stacks and report it.
//   - Freed stacks go back to a pool (free_pool.hpp: a per-thread array in front of a global one)
//     and keep their committed pages, so a spawn after warm-up costs no system call.
//   - When mmap fails (memory, RLIMIT_AS, vm.max_map_count), allocate() returns false and the
//     caller reports it: a stack that cannot be had is never a crash.
#pragma once

#include <cstddef>
#include <cstdint>

namespace gopp::detail {

struct stack {
  char* bottom = nullptr;  // lowest usable address (the guard lies just below)
  std::size_t size = 0;    // usable bytes
  bool guarded = false;    // true: the guard is PROT_NONE; false: it is a zero canary

  char* top() const noexcept { return bottom + size; }
  // For an unguarded stack: whether the canary bytes below the stack are still all zero.
  bool canary_intact() const noexcept;
  // For an unguarded stack: whether a goroutine that switched out with stack pointer `sp` has
  // run off its end (its registers were saved at or below the bottom's first bytes).
  bool overflowed_at(const void* sp) const noexcept {
    return !guarded && static_cast<const char*>(sp) < bottom + 128;
  }
};

namespace stack_pool {
constexpr std::size_t guard_size = 16 * 1024;  // a multiple of the page size; see docs
constexpr std::size_t default_stack_size = 256 * 1024;

// Sets the usable size of every stack (rounded up to pages). Only before the first allocate().
void set_stack_size(std::size_t bytes);
std::size_t stack_size() noexcept;

// Takes a stack from the calling thread's cache, the global pool or a new slab.
// Returns nullptr when no memory can be mapped.
stack* allocate() noexcept;
// Starts loading the top of the stack the calling thread's next allocate() will return (the
// lines a new goroutine's first frames write), and the descriptor of the one after it.
void prefetch_next() noexcept;
// Returns a stack to the pool, and ends its claim.
void release(stack* s) noexcept;

// Goroutines take their stack when they first run, not when spawned, so a million queued
// goroutines cost no stack memory. reserve() is called by go(): it claims one stack and makes
// sure enough are mapped for every claim (throwing nothing; false when mmap fails), so the
// allocate() at first run finds one. unreserve() drops the claim of an abandoned spawn; the
// release() of the goroutine's stack drops it otherwise.
bool reserve() noexcept;
void unreserve() noexcept;
// Claims not yet dropped: the number of live goroutines (goroutine.cpp counts them this way).
std::size_t claimed() noexcept;

// Whether `addr` lies in the guard of a stack: the stack-overflow handler uses this (it is
// async-signal-safe: it reads an append-only table of slabs).
bool in_guard(const void* addr, const stack** which) noexcept;

// How many guarded stacks the mapping budget allows (for tests and diagnostics).
std::size_t guarded_budget() noexcept;
}  // namespace stack_pool

}  // namespace gopp::detail
