// gopp/context.hpp: cancellation and task groups. Go: package context, golang.org/x/sync/errgroup.
//
//   auto [ctx, cancel] = gopp::with_timeout(gopp::background(), std::chrono::seconds(2));
//   gopp::group g(ctx);                       // g.ctx() is cancelled when a task throws
//   for (const std::string& url : urls) {
//     g.go([url](gopp::context ctx) {         // a task may take the group's context, or nothing
//       gopp::select(gopp::recv_case(fetch(url), [](auto page) { store(*page); }),
//                    gopp::recv_case(ctx.done(), [&](auto) { ctx.throw_if_done(); }));
//     });
//   }
//   g.go([](gopp::context ctx) -> std::error_code {   // or report an error as Go does
//     return ctx.err();                               // non-zero: the group fails with it
//   });
//   g.wait();      // waits for every task; rethrows the first exception (or system_error(ec))
//   cancel();      // always call it: it releases the timer and the parent's reference at once
//
// context: a cheap, copyable handle on a node of a cancellation tree (Go's context.Context).
//   - background() never ends: done() is the nil channel (a recv_case on it is never ready),
//     err() is {} and deadline() is nullopt. A default-constructed context is background().
//   - with_cancel(parent) returns a child and its cancel function. The child ends when its cancel
//     function is called, or when its parent ends (with the parent's err()), whichever is first.
//     Ending a child never affects its parent. Cancel functions are idempotent and may be called
//     from any goroutine or thread. A child of an ended parent is born ended.
//   - with_deadline(parent, t) / with_timeout(parent, d) also end the child with
//     errc::deadline_exceeded at t (Go: the earlier of t and the parent's deadline). The deadline
//     is a gopp::after_func timer that the context stops when it ends earlier, so nothing
//     lingers after cancel().
//   - done() is a channel closed when the context ends; err() is {} before, then
//     gopp::errc::canceled ("context canceled") or gopp::errc::deadline_exceeded ("context
//     deadline exceeded"), category "gopp.context". err() is set before done() closes: whoever
//     sees done() closed also sees err() set.
//   - with_value(parent, key, v) attaches a value found by ctx.value(key) in the context and all
//     its descendants; a context_key<T> is identified by its address, so two keys never collide.
//   - after_func(ctx, f) runs f in its own goroutine when ctx ends (Go 1.21's context.AfterFunc).
// Memory: a child holds its parent alive; a parent refers to its children weakly, so a context
// whose handles (and cancel function) are all gone is unlinked from its parent at once and can
// no longer end (Go's contexts would stay registered until the parent ends).
//
// group: golang.org/x/sync/errgroup.Group. Tasks run as goroutines; wait() waits for all of them
// and rethrows the FIRST failure. A task fails by throwing, or by returning a non-zero
// std::error_code (Go's `func() error`; wait() then throws std::system_error with that code);
// tasks returning any other type do not compile (their result would be lost). Rethrowing a thrown
// exception is a deliberate difference from errgroup, where a panic crashes the program. The
// group's ctx() is cancelled at the first failure and when wait() returns. set_limit(n) bounds the
// tasks running at once (go() then blocks, try_go() returns false, go_or_run() runs the task on
// the caller); changing the limit while tasks are running throws
// std::logic_error("errgroup: modify limit while N goroutines in the group are still active").
// A go() that waits for the limit shows as [errgroup limit] in gopp::goroutine_dump().
// Tasks are invoked once, as non-const rvalues, with the group's context when they accept one.
#pragma once

#include <chrono>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

#include "gopp/chan.hpp"
#include "gopp/go.hpp"

namespace gopp {

// Why a context ended. Go: context.Canceled, context.DeadlineExceeded.
enum class errc {
  canceled = 1,           // "context canceled"
  deadline_exceeded = 2,  // "context deadline exceeded"
};

// The category of gopp::errc: name() is "gopp.context". canceled is equivalent to
// std::errc::operation_canceled and deadline_exceeded to std::errc::timed_out, so
// `ctx.err() == std::errc::timed_out` holds after a deadline (Go's Timeout() == true).
const std::error_category& context_category() noexcept;

inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), context_category()};
}

}  // namespace gopp

template <>
struct std::is_error_code_enum<gopp::errc> : std::true_type {};

namespace gopp {

class context;

namespace detail {
struct context_node;
struct context_access;

// Something a context ends when it ends: a child context, an after_func, a worker pool.
struct cancel_listener {
  virtual ~cancel_listener() = default;
  // Called once, on the thread that ended the context, with no lock held. Must not block.
  virtual void on_cancel(std::error_code why) noexcept = 0;
};

// Registers `l` with ctx: l->on_cancel runs when ctx ends (at once, on this thread, if it has
// already ended). ctx keeps only a weak reference. Returns false, registering nothing, when ctx
// can never end (background and its values).
bool add_cancel_listener(const context& ctx, const std::shared_ptr<cancel_listener>& l);
// Unregisters `l` (no effect if it was never registered or already called).
void remove_cancel_listener(const context& ctx, cancel_listener* l) noexcept;

context make_value_context(const context& parent, const void* key,
                           std::shared_ptr<const void> value);
}  // namespace detail

// A key for with_value / context::value. Each key object is distinct (compared by address), so
// define keys as namespace-scope or static objects: `inline const gopp::context_key<user> who;`.
template <class T>
class context_key {
 public:
  constexpr context_key() noexcept = default;
  context_key(const context_key&) = delete;
  context_key& operator=(const context_key&) = delete;

 private:
  char unused_ = 0;  // gives every key its own address
};

// Go: context.Context. A handle: copies refer to the same context; == compares identity.
class context {
 public:
  // background().
  context() noexcept = default;

  // Go: ctx.Done(). Closed when the context ends; background()'s is the nil channel.
  recv_chan<std::monostate> done() const;
  // Go: ctx.Err(). {} while the context lives; errc::canceled or errc::deadline_exceeded after.
  std::error_code err() const noexcept;
  // Go: ctx.Deadline(). The time at which the context ends by itself, if any.
  std::optional<std::chrono::steady_clock::time_point> deadline() const noexcept;
  // Go: ctx.Value(key). The value attached by with_value(..., key, ...) to this context or an
  // ancestor (the nearest one), or nullptr. Valid while any handle of this context lives.
  template <class T>
  const T* value(const context_key<T>& key) const noexcept {
    return static_cast<const T*>(find_value(&key));
  }
  // Throws std::system_error(err()) once the context has ended; does nothing before.
  void throw_if_done() const;

  friend bool operator==(const context& a, const context& b) noexcept { return a.node_ == b.node_; }

 private:
  friend struct detail::context_access;  // src/context.cpp reaches node_ through it

  explicit context(std::shared_ptr<detail::context_node> n) noexcept : node_(std::move(n)) {}
  const void* find_value(const void* key) const noexcept;

  std::shared_ptr<detail::context_node> node_;  // nullptr: background
};

// Go: context.Background(). Never ends.
context background() noexcept;

// Go: context.WithCancel(parent).
std::pair<context, std::function<void()>> with_cancel(const context& parent);
// Go: context.WithCancelCause(parent). As with_cancel, but the cancel function takes the reason:
// after cancel(why), err() is errc::canceled and cause(ctx) is why ({} gives errc::canceled).
std::pair<context, std::function<void(std::error_code)>> with_cancel_cause(const context& parent);
// Go: context.Cause(ctx). {} while ctx lives. Once it has ended: the `why` given to the
// with_cancel_cause function that ended it (or ended the ancestor it ended with); else err()
// (errc::canceled from a plain cancel function, errc::deadline_exceeded from a deadline).
std::error_code cause(const context& ctx) noexcept;
// Go: context.WithDeadline(parent, t). Ends with errc::deadline_exceeded at t (at once if t has
// passed), or earlier with the parent or the cancel function.
std::pair<context, std::function<void()>> with_deadline(const context& parent,
                                                        std::chrono::steady_clock::time_point t);
// Go: context.WithTimeout(parent, d): with_deadline(parent, now + d).
std::pair<context, std::function<void()>> with_timeout(const context& parent,
                                                       std::chrono::nanoseconds d);

// Go: context.WithValue(parent, key, v). The value is stored once (moved or copied in) and
// shared, read-only, by every copy of the context.
template <class T, class V>
requires std::constructible_from<T, V&&> context with_value(const context& parent,
                                                            const context_key<T>& key, V&& v) {
  return detail::make_value_context(parent, &key, std::make_shared<const T>(std::forward<V>(v)));
}

// Go: context.AfterFunc(ctx, f). Runs f in its own goroutine when ctx ends (at once if it has
// ended). The returned stop function unregisters f: it returns true if that prevented f from
// starting, false if f had already been started or stopped. f is dropped without running if
// every handle of ctx (and its cancel function) is gone, since ctx can then no longer end.
std::function<bool()> after_func(const context& ctx, std::function<void()> f);

// ---------------------------------------------------------------------------------------------
// group

namespace detail {
struct group_state;
// Blocks (try_acquire: fails) while the limit is reached, then counts a new task in.
void group_enter(group_state& s);
bool group_try_enter(group_state& s);
// Counts in a task that go_or_run() runs on the caller (it holds no slot of the limit).
void group_enter_inline(group_state& s);
// Undoes group_enter when the task's goroutine could not be started.
void group_abort(group_state& s) noexcept;
// Called when a task returned (error == nullptr) or failed; holds_slot: it counted in the limit.
void group_leave(group_state& s, std::exception_ptr error, bool holds_slot) noexcept;
// The failure of a task that returned a non-zero std::error_code: std::system_error(ec).
std::exception_ptr group_error(std::error_code ec) noexcept;
const context& group_context(const group_state& s) noexcept;

// What a group task returns: F() or F(context) when it takes the group's context.
template <class Fn, bool = std::is_invocable_v<Fn, context>>
struct group_task_result {
  using type = std::invoke_result_t<Fn, context>;
};
template <class Fn>
struct group_task_result<Fn, false> {
  using type = std::invoke_result_t<Fn>;
};
template <class F>
using group_task_result_t = typename group_task_result<std::decay_t<F>>::type;
template <class R>
inline constexpr bool is_error_code_result_v =
    std::is_same_v<std::remove_cvref_t<R>, std::error_code>;
}  // namespace detail

// Go: errgroup.Group (with errgroup.WithContext when given a parent).
class group {
 public:
  // The argument of set_limit that removes the limit (Go: SetLimit(-1)).
  static constexpr std::size_t no_limit = static_cast<std::size_t>(-1);

  // A group whose ctx() derives from background().
  group();
  // Go: errgroup.WithContext(parent). ctx() is cancelled when a task first throws, when wait()
  // returns, or when parent ends.
  explicit group(const context& parent);
  group(const group&) = delete;
  group& operator=(const group&) = delete;
  // Waits for tasks still running (as std::jthread joins) and cancels ctx(). An exception no
  // wait() has rethrown is reported on stderr ("gopp: group destroyed with an unobserved task
  // exception: <what()>"), never lost silently.
  ~group();

  // The group's context, for tasks to watch: cancelled at the first failure.
  context ctx() const;

  // Go: g.SetLimit(n). At most n tasks run at once; go() blocks while n run. no_limit removes the
  // limit; 0 makes every go() block (Go's SetLimit(0)). Throws std::logic_error("errgroup: modify
  // limit while N goroutines in the group are still active") while tasks run. (Go checks only
  // when a limit was already set; gopp always does, since a new limit cannot count tasks that
  // started before it.)
  void set_limit(std::size_t n);

  // Go: g.Go(f). Starts f() (or f(ctx()) if f takes a context) in a new goroutine, first waiting
  // while the limit is reached. f returns void or std::error_code (Go's func() error): a task
  // fails when it throws or returns a non-zero error_code; the first failure is kept for wait()
  // and cancels ctx(). A task returning anything else does not compile. Called from a task of
  // this group while the limit is reached, go() waits for another task to end: when every
  // running task does so, none ever ends (the dump shows them in [errgroup limit]); use
  // go_or_run() there.
  template <class F>
  requires std::is_invocable_v<std::decay_t<F>> || std::is_invocable_v<std::decay_t<F>, context>
  void go(F&& f) {
    auto task = make_task(std::forward<F>(f));
    detail::group_enter(*state_);
    spawn(std::move(task));
  }

  // Go: g.TryGo(f). Starts f only if the limit allows it now; returns whether it did.
  template <class F>
  requires std::is_invocable_v<std::decay_t<F>> || std::is_invocable_v<std::decay_t<F>, context>
  bool try_go(F&& f) {
    auto task = make_task(std::forward<F>(f));
    if (!detail::group_try_enter(*state_)) return false;
    spawn(std::move(task));
    return true;
  }

  // Starts f as go() does if the limit allows it now; otherwise runs f at once on the caller, as
  // a task of the group all the same: its failure is recorded for wait() and cancels ctx(), and is
  // not thrown here. Returns true if f went to a new goroutine, false if it ran here. The helper
  // for tasks that spawn subtasks into their own limited group (recursive walks, crawlers): when
  // the group is full the caller does the work itself instead of waiting for a slot that only it
  // could free. An inline run holds no slot, so active() stays within the limit.
  template <class F>
  requires std::is_invocable_v<std::decay_t<F>> || std::is_invocable_v<std::decay_t<F>, context>
  bool go_or_run(F&& f) {
    auto task = make_task(std::forward<F>(f));
    if (detail::group_try_enter(*state_)) {
      spawn(std::move(task));
      return true;
    }
    detail::group_enter_inline(*state_);
    task(false);
    return false;
  }

  // Go: g.Wait(). Waits until every task has finished, cancels ctx(), and rethrows the first
  // failure (each call rethrows it again): the exception a task threw, or, for a task that
  // returned a non-zero std::error_code ec, std::system_error(ec) (catch std::system_error and
  // read code()). Parks a goroutine; blocks a thread.
  void wait();

  // Tasks started and not yet finished.
  std::size_t active() const noexcept;

 private:
  template <class F>
  auto make_task(F&& f) {
    using result = detail::group_task_result_t<F>;
    static_assert(std::is_void_v<result> || detail::is_error_code_result_v<result>,
                  "gopp::group: a task must return void or std::error_code (Go's func() error); "
                  "any other result would be dropped. Return std::error_code to report a "
                  "failure, throw, or ignore the value inside the task");
    // holds_slot: false when go_or_run() runs it inline.
    return [s = state_, fn = std::decay_t<F>(std::forward<F>(f))](bool holds_slot) mutable {
      std::exception_ptr error;
      try {
        if constexpr (std::is_void_v<result>) {
          run(fn, *s);
        } else if (const std::error_code ec = run(fn, *s)) {
          error = detail::group_error(ec);
        }
      } catch (...) {
        error = std::current_exception();
      }
      detail::group_leave(*s, std::move(error), holds_slot);
    };
  }
  template <class Fn>
  static decltype(auto) run(Fn& fn, detail::group_state& s) {
    if constexpr (std::is_invocable_v<Fn, context>) {
      return std::invoke(std::move(fn), detail::group_context(s));
    } else {
      return std::invoke(std::move(fn));
    }
  }
  template <class Task>
  void spawn(Task&& task) {
    try {
      gopp::go(std::forward<Task>(task), true);
    } catch (...) {
      detail::group_abort(*state_);
      throw;
    }
  }

  std::shared_ptr<detail::group_state> state_;
};

}  // namespace gopp
