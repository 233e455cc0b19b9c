// gopp/go.hpp: goroutines. Go: the `go` statement, runtime.Gosched, time.Sleep, GOMAXPROCS.
//
//   gopp::go([](int n) { std::printf("hello from goroutine %d\n", n); }, 7);
//   gopp::sleep_for(std::chrono::milliseconds(10));   // parks the goroutine, not its thread
//
// A goroutine is a stackful fiber, scheduled M:N over `threads` OS threads by a work-stealing
// scheduler. It may resume on another OS thread after any blocking call, so `thread_local`
// variables are per OS thread, not per goroutine. Each goroutine owns a fixed-size stack
// (default 256 KiB of address space, committed lazily page by page, with a guard page below it:
// see runtime_options::stack_size and docs/design/runtime.md for the limits).
//
// An exception that escapes a goroutine prints `panic: <what()>` (or `panic: unknown exception`)
// with the goroutine's id (and, for one started by a goroutine, "created by goroutine N") to
// stderr and calls std::terminate, as an unrecovered panic ends a Go program.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <new>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include "gopp/detail/link_check.hpp"

namespace gopp {

struct runtime_options {
  // OS threads that run goroutines (GOMAXPROCS). 0: $GOPP_THREADS, else
  // std::thread::hardware_concurrency().
  unsigned threads = 0;
  // Bytes of stack per goroutine; 0: the default (256 KiB, or $GOPP_STACK_SIZE). Rounded up to
  // whole pages. Only the pages a goroutine touches are committed.
  std::size_t stack_size = 0;
};

// Sets the runtime's options. Call it before the first go(); once the runtime's threads have
// started it throws std::logic_error.
void configure(const runtime_options& options);

// Thrown by go() when no stack can be had for a new goroutine (mmap failed: memory, RLIMIT_AS or
// the vm.max_map_count limit). what() names the limit and how many goroutines were alive.
class stack_exhausted_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
struct goroutine;
struct closure_ops {
  void (*run)(void* storage);
  void (*destroy)(void* storage) noexcept;
};
// Allocates a goroutine whose closure needs `size` bytes aligned to `align`; returns the storage.
void* spawn_prepare(std::size_t size, std::size_t align, const closure_ops* ops, goroutine** out);
// Makes a prepared goroutine runnable.
void spawn_commit(goroutine* g);
// Frees a prepared goroutine whose closure could not be constructed (it never runs).
void spawn_abort(goroutine* g) noexcept;

template <class Closure>
struct closure_ops_for {
  static void run(void* storage) {
    std::apply([](auto& f, auto&... args) { std::invoke(std::move(f), std::move(args)...); },
               *static_cast<Closure*>(storage));
  }
  static void destroy(void* storage) noexcept { static_cast<Closure*>(storage)->~Closure(); }
  static constexpr closure_ops ops{&run, &destroy};
};
}  // namespace detail

class wait_group;  // gopp/sync.hpp; named here only for go()'s compile-time message

// Go: go f(args...). Starts f(args...) as a new goroutine and returns at once. The callable and
// the arguments are decay-copied (moved where they are rvalues), as by std::thread; f is invoked
// once, as a non-const rvalue. To share an object instead (a wait_group, a mutex, a big
// buffer), pass std::ref(x) or capture it by reference in a lambda.
// Misuse fails to compile with one message that says the fix: a non-copyable argument
// ("wait_group is not copyable: pass std::ref(wg) or capture it"), a non-copyable function
// object, or arguments f cannot be called with.
template <class F, class... Args>
void go(F&& f, Args&&... args) {
  constexpr bool wait_group_by_value =
      (std::is_same_v<std::remove_cvref_t<Args>, wait_group> || ...);
  constexpr bool f_ok = std::is_constructible_v<std::decay_t<F>, F&&>;
  constexpr bool args_ok = (std::is_constructible_v<std::decay_t<Args>, Args&&> && ...);
  constexpr bool invocable = std::is_invocable_v<std::decay_t<F>, std::decay_t<Args>...>;
  static_assert(!wait_group_by_value,
                "gopp::go: wait_group is not copyable: pass std::ref(wg) or capture it");
  static_assert(wait_group_by_value || args_ok,
                "gopp::go: an argument is not copyable (go copies its arguments into the "
                "goroutine, as std::thread does): pass std::ref(x) or capture it");
  static_assert(
      !args_ok || f_ok,
      "gopp::go: the function object is not copyable: pass it as an rvalue (std::move(f))");
  static_assert(!args_ok || !f_ok || invocable,
                "gopp::go: f cannot be called with copies of these arguments (a parameter taken by "
                "non-const reference needs std::ref(x))");
  if constexpr (f_ok && args_ok && invocable) {
    using closure = std::tuple<std::decay_t<F>, std::decay_t<Args>...>;
    detail::goroutine* g = nullptr;
    void* storage = detail::spawn_prepare(sizeof(closure), alignof(closure),
                                          &detail::closure_ops_for<closure>::ops, &g);
    try {
      ::new (storage) closure(std::forward<F>(f), std::forward<Args>(args)...);
    } catch (...) {
      detail::spawn_abort(g);
      throw;
    }
    detail::spawn_commit(g);
  }
}

class wait_group;

// Go 1.25: wg.Go(f). Adds one to wg, then starts f() as a goroutine that calls wg.done() when f
// returns: gopp::go(wg, f) is the `wg.add(1); go([&] { f(); wg.done(); })` everyone writes. f is
// decay-copied and invoked once, as go() does; it must not throw (as Go's f must not panic).
// If the goroutine cannot be started, wg is restored and the exception propagates.
template <class WaitGroup, class F>
requires std::is_same_v<WaitGroup, wait_group> && std::is_invocable_v<std::decay_t<F>>
void go(WaitGroup& wg, F&& f) {
  wg.add(1);
  try {
    go([&wg, fn = std::decay_t<F>(std::forward<F>(f))]() mutable {
      struct done_at_exit {
        WaitGroup& wg;
        ~done_at_exit() { wg.done(); }
      } done{wg};
      std::invoke(std::move(fn));
    });
  } catch (...) {
    wg.done();
    throw;
  }
}

// Go: runtime.Gosched(). Lets other goroutines run; on a plain thread, std::this_thread::yield.
void yield();
// Go: time.Sleep(d). Parks the goroutine (on a plain thread, sleeps the thread).
void sleep_for(std::chrono::nanoseconds d);
void sleep_until(std::chrono::steady_clock::time_point t);

// True when called from a goroutine.
bool in_goroutine() noexcept;
// Go: runtime.NumGoroutine(): goroutines started by go() and not yet finished. Seeing the count
// drop synchronizes with the goroutines that finished: all they did happens before the read.
// Unlike Go's, it does not count main (nor any plain thread): main is not a goroutine in gopp, so
// a program whose goroutines have all finished sees 0 where Go says 1.
std::size_t num_goroutines() noexcept;
// The current goroutine's id, or 0 on a plain thread. Ids are unique and never reused; the
// goroutines one thread starts get rising ids (each thread takes ids in blocks of 16, as Go's Ps
// do, so goroutines started by different threads are not ordered by id).
std::uint64_t goroutine_id() noexcept;
// The number of OS threads that run goroutines (starts the runtime if needed).
unsigned num_threads();

// The goroutines alive now, sorted by id, in Go's traceback layout: a header, then the frames,
// innermost first, as "function" and "\tfile:line +0xoffset" lines, then "created by goroutine
// N"; a blank line between goroutines:
//   goroutine 7 [chan receive]:
//   fetch_all(gopp::chan<int>)
//   	/src/app.cpp:42 +0x5d
//   created by goroutine 1
// Wait reasons are Go's: chan receive, chan send, select, select (no cases), sleep, and gopp's
// wait_group, mutex, sync.Cond, future, IO wait (gopp::blocking), errgroup limit (group::go);
// "running" for the caller, "runnable" for one running elsewhere or queued (no frames: its stack
// is in use). Frames are read from each parked goroutine's saved context by following frame
// pointers (gopp builds with -fno-omit-frame-pointer and passes it on to its users; a function
// built without them ends its goroutine's traceback early), and named from the program's debug
// information (file:line needs -g; without it, the symbol and the module). gopp's own runtime
// frames are left out, as Go leaves out runtime.*; $GOPP_TRACEBACK=system shows them (Go's
// GOTRACEBACK=system). Go's "all goroutines are asleep - deadlock!" has no counterpart: a plain
// thread may still wake any of them, so gopp never declares a deadlock; this dump is how to find
// one. With $GOPP_DUMP_SIGNAL set to a signal (USR1, USR2, QUIT or a number) when the runtime
// starts, that signal writes this dump to stderr (Go's SIGQUIT traceback) and the program goes on.
// A snapshot: goroutines that change state while it is taken may show either state.
std::string goroutine_dump();

}  // namespace gopp
