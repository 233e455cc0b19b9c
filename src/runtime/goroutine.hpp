// The goroutine record: what the scheduler knows about one goroutine.
//
// Lifetime: spawn_prepare() takes a record from a free_pool (per-thread array in front of a
// global one); the closure lives inline in the record when it fits, else on the heap. The stack
// is taken only when the goroutine first runs, so goroutines that wait in a run queue cost no
// stack, and a spawn-and-finish loop reuses a handful of stacks. On exit the scheduler returns the
// stack and the record.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

#include "gopp/detail/park.hpp"
#include "gopp/go.hpp"
#include "runtime/fiber.hpp"
#include "runtime/stack.hpp"

namespace gopp::detail {

struct goroutine {
  std::atomic<goroutine*> inject_next{nullptr};  // link in the scheduler's inject queue
  fiber_context context;
  stack* stk = nullptr;  // null until the first run
  parker park_token;     // the goroutine's parker (owner_ == this)
  // id, reason and live are atomics (all accessed relaxed: plain moves on x86) only because
  // goroutine_dump() reads them from another thread while the goroutine runs or is recycled.
  std::atomic<std::uint64_t> id{0};
  std::uint64_t parent_id = 0;  // the goroutine that called go(); 0 for a plain thread
  std::atomic<wait_reason> reason{wait_reason::none};
  std::atomic<bool> live{false};  // from spawn_commit() to finish_goroutine()

  const closure_ops* ops = nullptr;
  void* closure = nullptr;  // points at inline_closure or at a heap block
  bool closure_on_heap = false;
  std::size_t closure_align = 0;
  static constexpr std::size_t inline_capacity = 96;
  alignas(std::max_align_t) unsigned char inline_closure[inline_capacity];
};

// The goroutine running on this thread, or nullptr on a plain thread or in a scheduler loop.
goroutine* current_goroutine() noexcept;

goroutine* allocate_goroutine();
void free_goroutine(goroutine* g) noexcept;

// Writes all of s to stderr with write(2) (no stdio buffer, no lock), retrying on EINTR.
void write_stderr(const char* s, std::size_t n) noexcept;

// gopp::goroutine_dump()'s text (goroutine.cpp keeps the table of every record).
std::string dump_goroutines();

}  // namespace gopp::detail
