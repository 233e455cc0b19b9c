// gopp/dist.hpp: worker pools across processes and machines, on Redis Streams.
//
//   // producer                                     // worker (any number of processes)
//   gopp::dist::options o{.broker = "redis://127.0.0.1:6379", .queue = "thumbs"};
//   gopp::dist::client<int, int> c(o);            gopp::dist::worker<int, int> w(o, 8,
//   auto f = c.submit(21);                           [](gopp::context ctx,
//   int v = f.get();             // 42                  const gopp::dist::job<int>& j) {
//                                                      return *j * 2;
//   gopp::chan<int> jobs(100);                       });
//   auto results = gopp::dist::process(c, jobs);   // ... later, on SIGTERM:
//   for (int j = 1; j <= 5; ++j) jobs.send(j);     w.shutdown();   // graceful drain
//   jobs.close();
//   for (auto r : results) use(r.index, *r.value);
//
// Guarantees (docs/dist.md has the whole story):
//   - At-least-once execution: a job is acknowledged only after its handler returned; a worker
//     that dies, stalls past its lease or loses Redis leaves its jobs pending, and another
//     worker claims them (XPENDING + XCLAIM) once the lease has passed.
//   - At most one result per job id reaches the producer: completions go through one Lua script
//     that checks the worker still owns the entry (a stale completion is dropped there), and the
//     producer keeps only the first result of each id (re-enqueued copies may both run).
//   - A handler may run more than once for one id (a crash after the side effect and before the
//     ack, a lost lease): key side effects on job::id().
//   - A handler that throws is retried (attempt + 1) after an exponential backoff with jitter,
//     up to options::max_attempts; a job delivered options::max_deliveries times without
//     completing (it crashes its worker), or failing its last attempt, or malformed, goes to the
//     dead-letter stream with the reason, and its future throws job_failed with that reason.
//
// Types cross the wire through codec<T>: encode(const T&) -> std::string and
// decode(std::string_view) -> T (throws codec_error on bytes it rejects). gopp provides it for
// std::string (the bytes), arithmetic types (decimal text, portable between machines) and other
// trivially copyable types (their bytes: same architecture and build on both ends). Specialise
// gopp::dist::codec<T> for anything else (JSON, protobuf...).
#pragma once

#include <atomic>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "gopp/chan.hpp"
#include "gopp/context.hpp"
#include "gopp/go.hpp"

namespace gopp::dist {

struct options {
  // redis://[:password@]host[:port][/db]
  std::string broker = "redis://127.0.0.1:6379";
  // Names the Redis keys: gopp:<queue>:jobs (stream), :dead (stream), :retry (sorted set),
  // :errors (hash), :results:<producer> (one stream per producer).
  std::string queue = "default";
  // A job not renewed for this long is taken over by another worker. Heartbeats renew the
  // leases of the jobs a worker still runs every lease / 3.
  std::chrono::milliseconds lease{30000};
  // Deliveries (first read + takeovers) after which a job that never completed is dead-lettered.
  std::uint32_t max_deliveries = 5;
  // A handler that throws runs again up to this many attempts in all, then the job is dead.
  std::uint32_t max_attempts = 3;
  std::chrono::milliseconds retry_backoff{1000};  // before attempt 2; doubles each time
  std::chrono::milliseconds retry_backoff_max{60000};
  // A producer enqueues a job again (same id) when no result came for this long; 0: never.
  std::chrono::milliseconds result_timeout{300000};
  // worker::shutdown() waits this long for running jobs, then releases them to other workers.
  std::chrono::milliseconds drain_timeout{30000};
  // Print one warning line at start unless Redis has appendonly yes and maxmemory-policy
  // noeviction (without them an acknowledged job can be lost).
  bool warn_unsafe_redis = true;
};

// A codec rejected bytes (a malformed payload): the job goes to the dead-letter stream.
class codec_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A job ended in the dead-letter stream: what() is the reason (the last error).
class job_failed : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The broker cannot be reached, or refused a command: what() says which and why.
class broker_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// ---- codecs -----------------------------------------------------------------------------------

template <class T, class Enable = void>
struct codec;  // specialise: static std::string encode(const T&); static T decode(std::string_view)

template <>
struct codec<std::string> {
  static std::string encode(const std::string& v) { return v; }
  static std::string decode(std::string_view s) { return std::string(s); }
};

template <>
struct codec<std::monostate> {
  static std::string encode(const std::monostate&) { return {}; }
  static std::monostate decode(std::string_view) { return {}; }
};

template <class T>
struct codec<T, std::enable_if_t<std::is_arithmetic_v<T> && !std::is_same_v<T, bool>>> {
  static std::string encode(const T& v) {
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    return std::string(buf, r.ptr);
  }
  static T decode(std::string_view s) {
    T v{};
    auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    if (r.ec != std::errc{} || r.ptr != s.data() + s.size()) {
      throw codec_error("codec: '" + std::string(s.substr(0, 32)) + "' is not a number");
    }
    return v;
  }
};

template <>
struct codec<bool> {
  static std::string encode(bool v) { return v ? "1" : "0"; }
  static bool decode(std::string_view s) {
    if (s == "1") return true;
    if (s == "0") return false;
    throw codec_error("codec: '" + std::string(s.substr(0, 32)) + "' is not a bool");
  }
};

template <class T>
struct codec<T, std::enable_if_t<!std::is_arithmetic_v<T> && std::is_trivially_copyable_v<T> &&
                                 !std::is_same_v<T, std::monostate>>> {
  static std::string encode(const T& v) {
    return std::string(reinterpret_cast<const char*>(&v), sizeof v);
  }
  static T decode(std::string_view s) {
    if (s.size() != sizeof(T)) {
      throw codec_error("codec: " + std::to_string(s.size()) + " bytes for a type of " +
                        std::to_string(sizeof(T)));
    }
    T v;
    std::memcpy(&v, s.data(), sizeof v);
    return v;
  }
};

// ---- jobs, results, stats ---------------------------------------------------------------------

// A job as the worker's handler sees it.
template <class J>
class job {
 public:
  job(std::string id, J value, std::uint32_t attempt, std::uint32_t deliveries)
      : id_(std::move(id)), value_(std::move(value)), attempt_(attempt), deliveries_(deliveries) {}
  // Stable across retries, takeovers and re-enqueues: key side effects on it.
  const std::string& id() const noexcept { return id_; }
  // 1 for the first run; + 1 after each failure retried with backoff.
  std::uint32_t attempt() const noexcept { return attempt_; }
  // How many times this attempt was handed to a worker (1, + 1 per takeover after a lease).
  std::uint32_t deliveries() const noexcept { return deliveries_; }
  const J& value() const noexcept { return value_; }
  const J& operator*() const noexcept { return value_; }
  const J* operator->() const noexcept { return &value_; }

 private:
  std::string id_;
  J value_;
  std::uint32_t attempt_;
  std::uint32_t deliveries_;
};

// One element of dist::process's result channel.
template <class R>
struct result {
  std::size_t index = 0;   // the job's position in the input channel, from 0
  std::string id;          // the job's id
  std::optional<R> value;  // empty when the job failed
  std::string error;       // the dead-letter reason when it failed
};

struct worker_stats {
  std::size_t goroutines = 0;     // handler goroutines
  std::size_t running = 0;        // jobs running now
  std::uint64_t completed = 0;    // handler returned, acknowledged
  std::uint64_t failed = 0;       // handler threw (retried or dead-lettered)
  std::uint64_t dead = 0;         // sent to the dead-letter stream by this worker
  std::uint64_t reclaimed = 0;    // jobs taken over from other consumers after their lease
  std::uint64_t stale = 0;        // completions dropped: the lease had been lost
  std::uint64_t lost_leases = 0;  // running jobs whose context was cancelled for a lost lease
  std::uint64_t released = 0;     // handed back unfinished by shutdown()
};

struct client_stats {
  std::uint64_t submitted = 0;
  std::uint64_t results = 0;     // first results delivered
  std::uint64_t duplicates = 0;  // later results for an id already answered, dropped
  std::uint64_t reenqueued = 0;  // jobs enqueued again after result_timeout
  std::size_t pending = 0;       // waiting for a result now
};

// What `gopp-pool stats` shows.
struct queue_stats {
  std::uint64_t waiting = 0;  // in the stream, not yet delivered
  std::uint64_t in_flight = 0;
  std::vector<std::pair<std::string, std::uint64_t>> in_flight_by_consumer;
  std::uint64_t retrying = 0;               // in the retry set
  std::uint64_t dead = 0;                   // in the dead-letter stream
  std::chrono::milliseconds oldest_age{0};  // age of the oldest unacknowledged job; 0 if none
  std::uint64_t stream_length = 0;          // entries kept (acknowledged ones until the next trim)
};

// Reads the queue's state from the broker. Throws broker_error.
queue_stats inspect(const options& o);

namespace detail {

struct raw_job {
  std::string id;
  std::string payload;
  std::uint32_t attempt = 1;
  std::uint32_t deliveries = 1;
};

class client_core;
class worker_core;

using result_callback = std::function<void(bool ok, std::string data)>;
std::shared_ptr<client_core> make_client(const options& o);
// Queues the job for sending; on_result runs once, on the client's reader goroutine, with the
// first result for its id (ok and the encoded value, or !ok and the reason). Empty: post.
std::string client_submit(client_core& c, std::string payload, result_callback on_result);
client_stats client_get_stats(const client_core& c);
void client_close(client_core& c) noexcept;

// The handler returns the encoded result; throwing codec_error dead-letters the job.
using raw_handler = std::function<std::string(const context&, const raw_job&)>;
std::shared_ptr<worker_core> make_worker(const options& o, std::size_t goroutines,
                                         raw_handler handler);
void worker_shutdown(worker_core& w);
worker_stats worker_get_stats(const worker_core& w);

// The shared state of a dist::future.
template <class R>
struct future_state {
  chan<std::monostate> ready{1};  // closed once the outcome is stored
  std::atomic<bool> done{false};
  std::optional<R> value;
  std::string error;
};

}  // namespace detail

// The result of one submitted job.
template <class R>
class future {
 public:
  future() = default;
  explicit future(std::shared_ptr<detail::future_state<R>> s) : s_(std::move(s)) {}
  // Waits (parks a goroutine, blocks a thread); returns the result or throws job_failed.
  R get() {
    wait();
    if (!s_->value) throw job_failed(s_->error);
    return std::move(*s_->value);
  }
  void wait() const { s_->ready.recv(); }
  bool ready() const { return s_->done.load(std::memory_order_acquire); }

 private:
  std::shared_ptr<detail::future_state<R>> s_;
};

// The producer: enqueues jobs, receives their results. Safe to share between goroutines.
template <class J, class R>
class client {
 public:
  explicit client(const options& o = {}) : core_(detail::make_client(o)) {}
  ~client() { close(); }
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  future<R> submit(const J& job) {
    auto s = std::make_shared<detail::future_state<R>>();
    detail::client_submit(*core_, codec<J>::encode(job), [s](bool ok, std::string data) {
      if (ok) {
        try {
          s->value.emplace(codec<R>::decode(data));
        } catch (const std::exception& e) {
          s->error = std::string("result: ") + e.what();
        }
      } else {
        s->error = std::move(data);
      }
      s->done.store(true, std::memory_order_release);
      s->ready.close();
    });
    return future<R>(s);
  }
  // Fire and forget: no result comes back (failures end in the dead-letter stream).
  void post(const J& job) { detail::client_submit(*core_, codec<J>::encode(job), nullptr); }

  // Submits with a callback run on the client's reader goroutine (must not block for long).
  std::string submit_then(const J& job, std::function<void(result<R>)> done) {
    auto id = std::make_shared<std::string>();
    *id = detail::client_submit(*core_, codec<J>::encode(job),
                                [done = std::move(done), id](bool ok, std::string data) {
                                  result<R> r;
                                  r.id = *id;
                                  if (ok) {
                                    try {
                                      r.value.emplace(codec<R>::decode(data));
                                    } catch (const std::exception& e) {
                                      r.error = std::string("result: ") + e.what();
                                    }
                                  } else {
                                    r.error = std::move(data);
                                  }
                                  done(std::move(r));
                                });
    return *id;
  }

  client_stats stats() const { return detail::client_get_stats(*core_); }
  // Stops receiving results; futures still waiting throw job_failed("client closed").
  void close() noexcept { detail::client_close(*core_); }

 private:
  std::shared_ptr<detail::client_core> core_;
};

// Go's worker-pool shape across processes: every job received from `jobs` is submitted; the
// returned channel gets one result per job, in the order results arrive, and is closed after the
// last one (after `jobs` is closed and every result is in).
template <class J, class R>
recv_chan<result<R>> process(client<J, R>& c, std::type_identity_t<recv_chan<J>> jobs,
                             std::size_t capacity = 1024) {
  chan<result<R>> out(capacity);
  struct counter {
    std::atomic<std::size_t> outstanding{1};  // + 1 per job, - 1 per result, - 1 at end of input
    chan<result<R>> out;
    void done() {
      if (outstanding.fetch_sub(1) == 1) out.close();
    }
  };
  auto k = std::make_shared<counter>();
  k->out = out;
  go([&c, jobs, k] {
    std::size_t index = 0;
    for (J j : jobs) {
      k->outstanding.fetch_add(1);
      const std::size_t my = index++;
      c.submit_then(j, [k, my](result<R> r) {
        r.index = my;
        k->out.send(std::move(r));
        k->done();
      });
    }
    k->done();
  });
  return out;
}

// The worker side: `goroutines` goroutines per process run `handler(ctx, job)` on jobs from the
// queue. Reading starts at once. ctx ends when the job's lease is lost (another worker took it
// over) and when shutdown() gives up waiting for it.
template <class J, class R>
class worker {
 public:
  template <class F>
  worker(const options& o, std::size_t goroutines, F handler)
      : core_(detail::make_worker(
            o, goroutines,
            [h = std::move(handler)](const context& ctx, const detail::raw_job& r) mutable {
              job<J> j(r.id, codec<J>::decode(r.payload), r.attempt, r.deliveries);
              if constexpr (std::is_void_v<std::invoke_result_t<F&, context, const job<J>&>>) {
                h(ctx, j);
                return codec<R>::encode(R{});
              } else {
                return codec<R>::encode(h(ctx, j));
              }
            })) {}
  ~worker() { shutdown(); }
  worker(const worker&) = delete;
  worker& operator=(const worker&) = delete;

  // Graceful drain: reads no more jobs, waits up to options::drain_timeout for the running ones,
  // then cancels the rest and hands them back to the queue for other workers. Idempotent.
  void shutdown() { detail::worker_shutdown(*core_); }
  worker_stats stats() const { return detail::worker_get_stats(*core_); }

 private:
  std::shared_ptr<detail::worker_core> core_;
};

}  // namespace gopp::dist
