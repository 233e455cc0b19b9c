// gopp/pool.hpp: worker pools, futures, process() and blocking().
//
//   gopp::worker_pool pool(gopp::pool_options{.workers = 8, .queue_capacity = 1000});
//   gopp::future<int> f = pool.submit([](int x) { return x * 2; }, 21);
//   pool.post([] { log("fire and forget"); });   // failures go to options.on_error
//   int v = f.get();                              // 42; rethrows what the task threw
//   pool.wait();                                  // every task submitted so far has finished
//
//   // The seed's shape with no hand-written loop: results closed after the last one.
//   gopp::chan<int> jobs(100);
//   auto results = gopp::process(jobs, 3, [](int j) { return j * 2; });
//   for (int j = 1; j <= 5; ++j) jobs.send(j);
//   jobs.close();
//   for (int r : results) use(r);
//
// worker_pool: `workers` goroutines take tasks from one FIFO queue. Workers are goroutines, so a
// task may block on channels, sleep_for, wait_group, futures and other tasks: it parks, and the
// pool's OS threads run other goroutines meanwhile.
//   - submit(f, a...) -> future<R>: get() returns f(a...)'s result or rethrows its exception
//     (same type and message). The callable and arguments are decay-copied; f is invoked once,
//     as a non-const rvalue, on a worker.
//   - post(f, a...) / go(f, a...): fire and forget. f returns void or std::error_code (any other
//     result would be dropped: use submit; it does not compile). A task that throws, or returns
//     a non-zero error_code ec (reported as std::system_error(ec)), is counted in stats().failed
//     and its exception goes to pool_options::on_error (default: one line on stderr, "gopp:
//     worker_pool task threw: <what()>"). A submitted task whose future is dropped without get()
//     goes there too: no failure is ever lost silently. (submit's future hands back whatever f
//     returns, std::error_code included, as a value: get() does not throw for it.)
//   - Backpressure: with queue_capacity = n, submit/post block while n tasks wait (running ones do
//     not count); try_submit returns false and try_post returns submit_status::full instead.
//   - Lifecycle: shutdown() refuses new tasks (submit/post/try_submit throw pool_closed_error,
//     try_post returns submit_status::closed) and lets workers finish the queue; stop() also
//     drops the queued tasks (their futures throw task_canceled_error; stats().canceled counts
//     them) and cancels ctx(); running tasks always run to their end (watch ctx().done() to end
//     early). wait() waits; shutdown_for/wait_for give up after a time-out and return false.
//     The destructor shuts down and waits for the tasks and the workers.
//   - pool_options::ctx: when it ends, the pool stops as by stop(). ctx() is a child of it that
//     also ends at stop() and when the pool is destroyed.
//   - resize(n) changes the number of workers at run time without draining: new workers start at
//     once; surplus workers leave after their current task.
// Rules that keep a pool from deadlocking on itself (tested in tests/pool_test.cpp):
//   1. A task's own submissions bypass the bound: submit/post/try_* from one of this pool's
//      workers never block on, or are refused for, a full queue (they could wait forever for a
//      queue only they drain).
//   2. A worker that waits (get() / wait()) on the future of a task of its own pool that has not
//      started yet runs that task itself, at once, instead of parking. Recursive fork-join (a
//      task submits children and waits for them) therefore completes even with one worker.
//      Inline runs nest on the waiting worker's stack, as the same recursion would without a
//      pool. Timed waits (wait_for / wait_until) never run a task inline: they only wait.
//   3. wait() counts a task's submissions as part of that task: it returns when every task
//      submitted before the call, and every task those tasks submitted, has finished; tasks that
//      others submit meanwhile do not hold it up. wait() and shutdown_for() from one of the pool's
//      own tasks throw std::logic_error (a task would wait for itself); the destructor run by
//      one of its own tasks shuts down without waiting.
//   A pool cannot help tasks that block on something only a queued task will provide (a channel,
//   a wait_group) when every worker is so blocked: give it more workers, or use futures.
// Memory ordering: submit happens-before the task runs; the task's end happens-before the
// future's get()/wait() returns and before the pool's wait() that covers it returns.
//
// process(jobs, workers, f): `workers` goroutines run f on each job received from `jobs` and send
// f's result to the returned channel, which is closed after the last result (after `jobs` is
// closed and drained). process_ordered delivers the results in the order of the jobs. f may take
// (J) or (std::size_t worker_id, J); a void f yields one std::monostate per job, and any other
// result, std::error_code included, is sent as it is (nothing is dropped). Each worker owns a
// copy of f (a move-only f is shared: it must then be safe to call concurrently), and calls it
// as a non-const lvalue. An exception that escapes f ends the program like any panic in a
// goroutine: catch inside f and send an error value if jobs may fail.
//
// blocking(f): runs f on a helper OS thread (a small pool that grows on demand, up to 256
// threads, and shrinks when idle) while the calling goroutine parks, then returns f's result or
// rethrows its exception. Use it for system calls and libraries that block an OS thread
// (file I/O, getaddrinfo, a C client library). Called on a plain thread it just calls f.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>

#include "gopp/chan.hpp"
#include "gopp/context.hpp"
#include "gopp/detail/park.hpp"
#include "gopp/detail/spinlock.hpp"
#include "gopp/go.hpp"

namespace gopp {

// submit/post/try_submit on a pool after shutdown() or stop(): what() is
// "worker_pool: submit on closed pool".
class pool_closed_error : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

// Thrown by future::get() for a task that stop() (or the end of the pool's context) dropped
// before it ran: what() is "worker_pool: task canceled before it ran".
class task_canceled_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Why try_post did or did not take a task.
enum class submit_status {
  accepted,
  full,    // the queue held queue_capacity tasks
  closed,  // shutdown() or stop() was called
};

struct pool_options {
  // Worker goroutines; 0: the runtime's thread count (gopp::num_threads()).
  std::size_t workers = 0;
  // 0: unbounded; n: submit()/post() block while n tasks wait, try_* refuse (backpressure).
  std::size_t queue_capacity = 0;
  // When ctx ends, the pool stops as by stop().
  context ctx{};
  // Receives the exception of every failed fire-and-forget task (post, go, try_submit, try_post)
  // and of every failed submitted task whose future was dropped without get(). Called on the
  // worker (or wherever the last future reference dies); must not block for long. Empty: print
  // "gopp: worker_pool task threw: <what()>" to stderr.
  std::function<void(std::exception_ptr)> on_error{};
};

struct pool_stats {
  std::size_t workers = 0;      // worker goroutines alive now
  std::size_t running = 0;      // tasks running now
  std::size_t queued = 0;       // tasks waiting now
  std::uint64_t submitted = 0;  // tasks accepted so far
  std::uint64_t completed = 0;  // tasks that returned
  std::uint64_t failed = 0;     // tasks that threw
  std::uint64_t canceled = 0;   // tasks dropped unrun by stop() or the end of the context
  std::chrono::nanoseconds queued_time{0};   // total time tasks waited before they started
  std::chrono::nanoseconds running_time{0};  // total time finished tasks ran
};

namespace detail {

using steady_time = std::chrono::steady_clock::time_point;

// An intrusive FIFO of parked waiters, guarded by its owner's lock (pool.cpp parks on it).
struct wait_node {
  wait_node* prev = nullptr;
  wait_node* next = nullptr;
  parker* park = nullptr;
  bool woken = false;
};
class wait_queue {
 public:
  bool empty() const noexcept { return head_ == nullptr; }
  void push_back(wait_node* n) noexcept;
  void remove(wait_node* n) noexcept;
  // Under the owner's lock: marks the first (every) waiter woken and unparks it. Waiters re-take
  // the lock before they return, so no unpark can reach a waiter that has gone.
  bool wake_one() noexcept;
  void wake_all() noexcept;

 private:
  wait_node* head_ = nullptr;
  wait_node* tail_ = nullptr;
};

// Where failures nobody observes are reported: pool_options::on_error, shared by the pool and the
// futures of its failed tasks (which may outlive it).
struct error_sink {
  std::function<void(std::exception_ptr)> handler;
  void report(const std::exception_ptr& e) const noexcept;
};

struct pool_state;

// A queued task. Owned by reference count: one for the pool while queued or running, one for
// the future (submitted tasks).
class task_base {
 public:
  virtual ~task_base() = default;
  // Runs the task (once). Returns the exception to report now (fire-and-forget tasks), else
  // nullptr; `failed` says whether the task threw.
  virtual std::exception_ptr run(bool& failed,
                                 const std::shared_ptr<error_sink>& sink) noexcept = 0;
  // Drops the task unrun: destroys the callable (outside the pool's lock).
  virtual void cancel() noexcept = 0;
  // Makes the outcome of run() or cancel() visible to the future's waiters (under the pool's
  // lock, after its counters are updated).
  virtual void publish() noexcept {}

  void retain() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  void release() noexcept {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  // Guarded by the owner pool's lock.
  task_base* prev = nullptr;
  task_base* next = nullptr;
  bool queued = false;
  std::uint64_t epoch = 0;
  steady_time enqueued{};
  // The pool it was given to. Set before the submit returns, never changed; other pools only
  // compare it with themselves, never follow it.
  pool_state* owner = nullptr;

 private:
  std::atomic<std::uint32_t> refs_{1};
};

// The shared state of a future: readiness, waiters, the exception.
class future_core : public task_base {
 public:
  ~future_core() override;
  bool ready() const noexcept { return ready_.load(std::memory_order_acquire); }
  // Parks until ready; a worker of the owner pool runs the task itself if it has not started.
  void wait();
  bool wait_until(steady_time deadline);
  recv_chan<std::monostate> done();
  // Marks the exception retrieved (by get()), so it is not reported as unobserved.
  void observe() noexcept { observed_ = true; }
  const std::exception_ptr& error() const noexcept { return error_; }
  // Marks the future ready (the value or error was stored before) and wakes every waiter.
  void publish() noexcept override;

 protected:
  void set_canceled() noexcept;
  // The task threw: keeps `e` for get(), and `sink` to report it if nobody calls get().
  void set_failed(std::exception_ptr e, const std::shared_ptr<error_sink>& sink) noexcept;

 private:
  std::exception_ptr error_;
  std::shared_ptr<error_sink> sink_;  // set when the task threw
  bool observed_ = false;
  std::atomic<bool> ready_{false};
  spinlock lock_;
  wait_queue waiters_;                  // guarded by lock_
  chan<std::monostate> done_{nullptr};  // guarded by lock_; made on demand
};

// Holds a result of type T (void, a reference, or a value).
template <class T>
struct result_slot {
  std::optional<T> value;
  template <class Fn>
  void fill(Fn&& fn) {
    value.emplace(std::forward<Fn>(fn)());
  }
  T take() { return std::move(*value); }
};
template <class T>
struct result_slot<T&> {
  T* value = nullptr;
  template <class Fn>
  void fill(Fn&& fn) {
    T& r = std::forward<Fn>(fn)();
    value = std::addressof(r);
  }
  T& take() { return *value; }
};
template <class T>
struct result_slot<T&&> {
  T* value = nullptr;
  template <class Fn>
  void fill(Fn&& fn) {
    T&& r = std::forward<Fn>(fn)();
    value = std::addressof(r);
  }
  T&& take() { return std::move(*value); }
};
template <>
struct result_slot<void> {
  template <class Fn>
  void fill(Fn&& fn) {
    std::forward<Fn>(fn)();
  }
  void take() {}
};

template <class T>
class result_core : public future_core {
 public:
  result_slot<T> slot;
};

// Invokes a stored (callable, arguments...) tuple once, as non-const rvalues.
template <class Closure>
decltype(auto) invoke_closure(Closure& c) {
  return std::apply(
      [](auto& f, auto&... args) -> decltype(auto) {
        return std::invoke(std::move(f), std::move(args)...);
      },
      c);
}

template <class F, class... A>
using closure_t = std::tuple<std::decay_t<F>, std::decay_t<A>...>;

// The result type of submit(f, a...): invoke_result_t<F, A...>, with an rvalue reference
// returned by value.
template <class F, class... A>
using submit_result_t = std::conditional_t<
    std::is_rvalue_reference_v<std::invoke_result_t<std::decay_t<F>, std::decay_t<A>...>>,
    std::remove_cvref_t<std::invoke_result_t<std::decay_t<F>, std::decay_t<A>...>>,
    std::invoke_result_t<std::decay_t<F>, std::decay_t<A>...>>;

// A fire-and-forget task (post, go, try_post, try_submit) returns void or std::error_code: a
// non-zero error_code is its failure, as a throw would be. Any other result would be dropped,
// so it does not compile.
template <class F, class... A>
constexpr void check_posted_result() {
  using result = std::invoke_result_t<std::decay_t<F>, std::decay_t<A>...>;
  static_assert(
      std::is_void_v<result> || std::is_same_v<std::remove_cvref_t<result>, std::error_code>,
      "gopp::worker_pool: a posted task must return void or std::error_code; its "
      "result would be dropped. Use submit() to get the result through a future");
}

[[nodiscard]] std::exception_ptr canceled_error();
[[noreturn]] void throw_pool_closed();
[[noreturn]] void throw_no_state();

template <class T, class Closure>
class packaged_task final : public result_core<T> {
 public:
  template <class... Args>
  explicit packaged_task(Args&&... args) : fn_(std::in_place, std::forward<Args>(args)...) {}

  std::exception_ptr run(bool& failed, const std::shared_ptr<error_sink>& sink) noexcept override {
    std::exception_ptr error;
    try {
      this->slot.fill([this]() -> T { return invoke_closure(*fn_); });
    } catch (...) {
      error = std::current_exception();
    }
    fn_.reset();  // the callable's captures die before anyone sees the result
    failed = error != nullptr;
    if (error) this->set_failed(std::move(error), sink);
    return nullptr;
  }
  void cancel() noexcept override {
    fn_.reset();
    this->set_canceled();
  }

 private:
  std::optional<Closure> fn_;
};

template <class Closure>
class posted_task final : public task_base {
 public:
  template <class... Args>
  explicit posted_task(Args&&... args) : fn_(std::in_place, std::forward<Args>(args)...) {}

  std::exception_ptr run(bool& failed, const std::shared_ptr<error_sink>&) noexcept override {
    std::exception_ptr error;
    try {
      if constexpr (std::is_void_v<decltype(invoke_closure(*fn_))>) {
        invoke_closure(*fn_);
      } else if (const std::error_code ec = invoke_closure(*fn_)) {
        error = std::make_exception_ptr(std::system_error(ec));
      }
    } catch (...) {
      error = std::current_exception();
    }
    fn_.reset();
    failed = error != nullptr;
    return error;
  }
  void cancel() noexcept override { fn_.reset(); }

 private:
  std::optional<Closure> fn_;
};

}  // namespace detail

// A task's result. Move-only; get() may be called once (then valid() is false), as std::future.
// Waiting parks a goroutine and blocks a plain thread. Calling get()/wait() on a future with no
// state (default-constructed, moved from, or already got) throws
// std::future_error(std::future_errc::no_state).
template <class T>
class future {
 public:
  future() noexcept = default;
  future(future&& other) noexcept : core_(std::exchange(other.core_, nullptr)) {}
  future& operator=(future&& other) noexcept {
    if (this != &other) {
      reset();
      core_ = std::exchange(other.core_, nullptr);
    }
    return *this;
  }
  future(const future&) = delete;
  future& operator=(const future&) = delete;
  ~future() { reset(); }

  // Waits for the task; returns its result or rethrows its exception (task_canceled_error if it
  // was dropped unrun).
  T get() {
    if (!core_) detail::throw_no_state();
    core_->wait();
    struct releaser {
      detail::result_core<T>* c;
      ~releaser() { c->release(); }
    } owner{std::exchange(core_, nullptr)};
    if (owner.c->error()) {
      owner.c->observe();
      std::rethrow_exception(owner.c->error());
    }
    return owner.c->slot.take();
  }
  void wait() const {
    if (!core_) detail::throw_no_state();
    core_->wait();
  }
  // False on time-out. Never runs the task inline (see the header comment).
  bool wait_for(std::chrono::nanoseconds d) const {
    return wait_until(std::chrono::steady_clock::now() + d);
  }
  bool wait_until(std::chrono::steady_clock::time_point t) const {
    if (!core_) detail::throw_no_state();
    return core_->wait_until(t);
  }
  // True once the task has finished (returned, thrown or been dropped).
  bool ready() const noexcept { return core_ && core_->ready(); }
  bool valid() const noexcept { return core_ != nullptr; }
  // A channel closed when the future becomes ready, for select:
  //   select(recv_case(f.done()), recv_case(ctx.done()))
  recv_chan<std::monostate> done() const {
    if (!core_) detail::throw_no_state();
    return core_->done();
  }

 private:
  friend class worker_pool;
  explicit future(detail::result_core<T>* c) noexcept : core_(c) {}
  void reset() noexcept {
    if (core_) std::exchange(core_, nullptr)->release();
  }
  detail::result_core<T>* core_ = nullptr;
};

class worker_pool {
 public:
  // worker_pool(pool_options{.workers = workers}).
  explicit worker_pool(std::size_t workers);
  explicit worker_pool(pool_options options);
  worker_pool(const worker_pool&) = delete;
  worker_pool& operator=(const worker_pool&) = delete;
  // shutdown(), then waits for every task and every worker (see rule 3 for a pool destroyed by
  // its own task).
  ~worker_pool();

  // Queues f(a...) and returns its future. Blocks while the queue is full (rule 1 aside); throws
  // pool_closed_error after shutdown()/stop().
  template <class F, class... A>
  requires std::is_invocable_v<std::decay_t<F>, std::decay_t<A>...>
  auto submit(F&& f, A&&... a) -> future<detail::submit_result_t<F, A...>> {
    using R = detail::submit_result_t<F, A...>;
    auto* t = new detail::packaged_task<R, detail::closure_t<F, A...>>(std::forward<F>(f),
                                                                       std::forward<A>(a)...);
    t->retain();
    future<R> result(t);  // one reference; the other goes to the pool
    if (enqueue(t, false) != submit_status::accepted) detail::throw_pool_closed();
    return result;
  }

  // As submit, but never blocks: std::nullopt when the queue is full.
  template <class F, class... A>
  requires std::is_invocable_v<std::decay_t<F>, std::decay_t<A>...>
  auto try_submit_future(F&& f, A&&... a)
      -> std::optional<future<detail::submit_result_t<F, A...>>> {
    using R = detail::submit_result_t<F, A...>;
    auto* t = new detail::packaged_task<R, detail::closure_t<F, A...>>(std::forward<F>(f),
                                                                       std::forward<A>(a)...);
    t->retain();
    future<R> result(t);
    switch (enqueue(t, true)) {
      case submit_status::accepted:
        return result;
      case submit_status::full:
        return std::nullopt;
      case submit_status::closed:
        break;
    }
    detail::throw_pool_closed();
  }

  // Queues f(a...) as a fire-and-forget task unless the queue is full; returns whether it did.
  // Throws pool_closed_error after shutdown()/stop().
  template <class F, class... A>
  requires std::is_invocable_v<std::decay_t<F>, std::decay_t<A>...>
  bool try_submit(F&& f, A&&... a) {
    const submit_status s = try_post(std::forward<F>(f), std::forward<A>(a)...);
    if (s == submit_status::closed) detail::throw_pool_closed();
    return s == submit_status::accepted;
  }

  // Fire and forget: queues f(a...); its failure goes to on_error. Blocks while the queue is
  // full (rule 1 aside); throws pool_closed_error after shutdown()/stop().
  template <class F, class... A>
  requires std::is_invocable_v<std::decay_t<F>, std::decay_t<A>...>
  void post(F&& f, A&&... a) {
    detail::check_posted_result<F, A...>();
    auto* t = new detail::posted_task<detail::closure_t<F, A...>>(std::forward<F>(f),
                                                                  std::forward<A>(a)...);
    if (enqueue(t, false) != submit_status::accepted) detail::throw_pool_closed();
  }
  // Same as post (the pool's `go` statement).
  template <class F, class... A>
  requires std::is_invocable_v<std::decay_t<F>, std::decay_t<A>...>
  void go(F&& f, A&&... a) { post(std::forward<F>(f), std::forward<A>(a)...); }
  // As post, but never blocks and never throws pool_closed_error: says why it refused.
  template <class F, class... A>
  requires std::is_invocable_v<std::decay_t<F>, std::decay_t<A>...> submit_status
  try_post(F&& f, A&&... a) {
    detail::check_posted_result<F, A...>();
    auto* t = new detail::posted_task<detail::closure_t<F, A...>>(std::forward<F>(f),
                                                                  std::forward<A>(a)...);
    return enqueue(t, true);
  }

  // Waits until every task submitted before the call (and what those tasks submitted) has
  // finished. From one of the pool's own tasks: throws std::logic_error.
  void wait();
  // As wait(), giving up at the time-out: returns false then.
  bool wait_for(std::chrono::nanoseconds d);
  bool wait_until(std::chrono::steady_clock::time_point t);

  // Refuses new tasks from now on; workers finish the queued ones, then leave. Idempotent.
  void shutdown();
  // shutdown(), then wait_for(d).
  bool shutdown_for(std::chrono::nanoseconds d);
  // Refuses new tasks, drops the queued ones (their futures throw task_canceled_error) and
  // cancels ctx(); running tasks run to their end. Returns how many tasks it dropped.
  std::size_t stop();

  // Sets the number of workers. Throws std::invalid_argument("worker_pool: resize to 0
  // workers") for 0.
  void resize(std::size_t workers);
  // The number of workers asked for (stats().workers converges to it).
  std::size_t size() const;
  pool_stats stats() const;
  // True after shutdown() or stop().
  bool closed() const;
  // Ends at stop(), when the pool's destructor finishes, or when pool_options::ctx ends.
  context ctx() const;

 private:
  submit_status enqueue(detail::task_base* t, bool try_only);
  std::shared_ptr<detail::pool_state> state_;
};

// ---------------------------------------------------------------------------------------------
// process

namespace detail {

template <class F, class J>
inline constexpr bool takes_worker_id_v =
    !std::is_invocable_v<F&, J&&> && std::is_invocable_v<F&, std::size_t, J&&>;

template <class F, class J>
using process_call_t =
    typename std::conditional_t<takes_worker_id_v<F, J>, std::invoke_result<F&, std::size_t, J&&>,
                                std::invoke_result<F&, J&&>>::type;

template <class R>
using process_value_t =
    std::conditional_t<std::is_void_v<R>, std::monostate, std::remove_cvref_t<R>>;

template <class F, class J>
using process_result_t = process_value_t<process_call_t<F, J>>;

template <class F, class J>
auto process_call(F& f, std::size_t worker, J&& job) -> process_result_t<F, J> {
  if constexpr (std::is_void_v<process_call_t<F, J>>) {
    if constexpr (takes_worker_id_v<F, J>) {
      std::invoke(f, worker, std::forward<J>(job));
    } else {
      std::invoke(f, std::forward<J>(job));
    }
    return std::monostate{};
  } else if constexpr (takes_worker_id_v<F, J>) {
    return std::invoke(f, worker, std::forward<J>(job));
  } else {
    return std::invoke(f, std::forward<J>(job));
  }
}

// Each worker's own copy of f, or one shared instance for a move-only f.
template <class F>
auto worker_copy(const std::shared_ptr<F>& shared) {
  if constexpr (std::is_copy_constructible_v<F>) {
    return F(*shared);
  } else {
    return shared;
  }
}
template <class G>
auto& callable_of(G& g) {
  return g;
}
template <class G>
G& callable_of(std::shared_ptr<G>& g) {
  return *g;
}

std::size_t default_workers(std::size_t workers);

// Starts n goroutines with spawn(i); if starting one throws, runs abandon(n - i) and rethrows.
template <class Spawn, class Abandon>
void start_workers(std::size_t n, Spawn spawn, Abandon abandon) {
  std::size_t i = 0;
  try {
    for (; i < n; ++i) spawn(i);
  } catch (...) {
    abandon(n - i);
    throw;
  }
}

}  // namespace detail

// Runs f on every job of `jobs` in `workers` goroutines (0: the runtime's thread count); returns
// the channel of results, closed after the last one. Results come in completion order.
template <class J, class F>
requires std::is_invocable_v<F&, J&&> || std::is_invocable_v<F&, std::size_t, J&&>
auto process(recv_chan<J> jobs, std::size_t workers, F f)
    -> recv_chan<detail::process_result_t<F, J>> {
  using R = detail::process_result_t<F, J>;
  workers = detail::default_workers(workers);
  chan<R> results(workers);
  auto left = std::make_shared<std::atomic<std::size_t>>(workers);
  auto shared_f = std::make_shared<F>(std::move(f));
  auto finish = [left, results](std::size_t n) {
    if (left->fetch_sub(n, std::memory_order_acq_rel) == n) results.close();
  };
  detail::start_workers(
      workers,
      [&](std::size_t w) {
        gopp::go([jobs, results, finish, w, fn = detail::worker_copy(shared_f)]() mutable {
          for (J job : jobs) {
            results.send(detail::process_call(detail::callable_of(fn), w, std::move(job)));
          }
          finish(1);
        });
      },
      finish);
  return results;
}
template <class J, class F>
requires std::is_invocable_v<F&, J&&> || std::is_invocable_v<F&, std::size_t, J&&>
auto process(chan<J> jobs, std::size_t workers, F f) -> recv_chan<detail::process_result_t<F, J>> {
  return process(recv_chan<J>(jobs), workers, std::move(f));
}

// As process, but the results come in the order of the jobs. At most 2 x workers jobs are in
// flight at once (taken from `jobs` and not yet delivered), so a slow job holds back at most that
// many finished results.
template <class J, class F>
requires std::is_invocable_v<F&, J&&> || std::is_invocable_v<F&, std::size_t, J&&>
auto process_ordered(recv_chan<J> jobs, std::size_t workers, F f)
    -> recv_chan<detail::process_result_t<F, J>> {
  using R = detail::process_result_t<F, J>;
  struct item {
    J job;
    chan<R> slot;  // capacity 1: the worker's result for this job
  };
  workers = detail::default_workers(workers);
  chan<item> work;
  chan<chan<R>> order(2 * workers);  // result slots in job order; its capacity is the window
  chan<R> results(workers);
  auto shared_f = std::make_shared<F>(std::move(f));
  // The collector: delivers each job's result in order, then closes results.
  gopp::go([order, results] {
    for (chan<R> slot : order) results.send(*slot.recv());
    results.close();
  });
  // The dispatcher: numbers the jobs by queueing their slots, then hands them to the workers.
  gopp::go([jobs, work, order] {
    for (J job : jobs) {
      chan<R> slot(1);
      order.send(slot);
      work.send(item{std::move(job), std::move(slot)});
    }
    work.close();
    order.close();
  });
  detail::start_workers(
      workers,
      [&](std::size_t w) {
        gopp::go([work, w, fn = detail::worker_copy(shared_f)]() mutable {
          for (item it : work) {
            it.slot.send(detail::process_call(detail::callable_of(fn), w, std::move(it.job)));
          }
        });
      },
      [](std::size_t) {});
  return results;
}
template <class J, class F>
requires std::is_invocable_v<F&, J&&> || std::is_invocable_v<F&, std::size_t, J&&>
auto process_ordered(chan<J> jobs, std::size_t workers, F f)
    -> recv_chan<detail::process_result_t<F, J>> {
  return process_ordered(recv_chan<J>(jobs), workers, std::move(f));
}

// ---------------------------------------------------------------------------------------------
// blocking

namespace detail {
// Runs call(arg) on a helper OS thread while the calling goroutine parks.
void run_blocking(void (*call)(void*) noexcept, void* arg);
}  // namespace detail

// Runs f() on a helper OS thread while the calling goroutine parks; returns its result or
// rethrows its exception. On a plain thread, calls f() directly.
template <class F>
requires std::is_invocable_v<F&&>
decltype(auto) blocking(F&& f) {
  using R = std::invoke_result_t<F&&>;
  if (!in_goroutine()) return std::invoke(std::forward<F>(f));
  struct call {
    std::remove_reference_t<F>* f;
    detail::result_slot<R> result;
    std::exception_ptr error;
    static void run(void* self) noexcept {
      auto* c = static_cast<call*>(self);
      try {
        c->result.fill([c]() -> R { return std::invoke(std::forward<F>(*c->f)); });
      } catch (...) {
        c->error = std::current_exception();
      }
    }
  } c{std::addressof(f), {}, nullptr};
  detail::run_blocking(&call::run, &c);
  if (c.error) std::rethrow_exception(c.error);
  return c.result.take();
}

}  // namespace gopp
