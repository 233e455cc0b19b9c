// The context switch: Boost.Context's fcontext (jump_fcontext / make_fcontext), plus the two
// kinds of per-context state a switch must carry that Boost 1.74 does not:
//   - the C++ runtime's per-thread exception state (__cxa_eh_globals: the caught-exception stack
//     and the uncaught count). A goroutine that parks inside a `catch` block or a destructor during
//     unwinding, then resumes on another thread, must find its own state there. Each context saves
//     the thread's state when it switches out and installs its own when it switches in. Each
//     worker fetches its thread's state once, through a call the compiler cannot cache (see
//     fiber.cpp), and every switch uses the state of the worker it runs on now.
//   - the sanitizers' fiber state (sanitizers.hpp).
// Every switch in gopp goes through switch_to(); no other file calls jump_fcontext.
#pragma once

// For builds that bypass gopp's CMake check (CMakeLists.txt says why).
#if !defined(__linux__) || !defined(__x86_64__)
#error "gopp supports Linux on x86-64 only (see README.md, Platforms)"
#endif

#include <boost/context/detail/fcontext.hpp>

#include "runtime/sanitizers.hpp"

namespace gopp::detail {

namespace ctx = boost::context::detail;

// The C++ ABI's per-thread exception state (Itanium ABI, libstdc++ and libc++abi on x86-64).
struct eh_state {
  void* caught_exceptions = nullptr;
  unsigned int uncaught_exceptions = 0;
};

struct fiber_context {
  ctx::fcontext_t fctx = nullptr;  // where to resume, valid while switched out
  eh_state eh;                     // its exception state, valid while switched out
  sanitizer::fiber_state san;
};

// The calling thread's exception state. Its address is fixed for the thread's life, so a worker
// fetches it once (a call into libstdc++ through __tls_get_addr: 8% of a ping-pong's time when
// made on every switch); what must never be reused across a switch is the *thread*, which the
// scheduler re-reads through current_worker() each time.
eh_state* thread_eh_state() noexcept;

// Switches from `from` (the running context) to `to`, passing `data`. `thread_eh` is the calling
// thread's exception state (thread_eh_state()). Returns when someone switches back to `from`:
// the result's fctx is the context that did so (the caller stores it where it belongs), its data
// what that one passed. `from_exits`: `from` never runs again.
ctx::transfer_t switch_to(fiber_context& from, fiber_context& to, eh_state* thread_eh, void* data,
                          bool from_exits = false);

// Makes `to` a fresh context that will start in `entry` on the given stack.
void make_context(fiber_context& to, char* stack_top, std::size_t size,
                  void (*entry)(ctx::transfer_t));

// The first thing a fresh context does: completes the switch that entered it.
void entered(fiber_context& self, fiber_context* came_from);

}  // namespace gopp::detail
