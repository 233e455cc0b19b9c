// gopp::dist's producer (client_core) and inspect().
//
// Two goroutines per client, each with its own Redis connection:
//   - the sender takes jobs from a local channel and XADDs them in pipelined batches; a batch
//     that fails on a connection fault is sent again (a job may then be in the stream twice: the
//     producer keeps only the first result of each id);
//   - the reader XREADs the producer's result stream, hands the first result of each pending id
//     to its callback (later ones are counted as duplicates and dropped), deletes what it read,
//     and once a second re-enqueues (same id) the jobs with no result after result_timeout.
// Invariant: a job's callback runs at most once: the pending map entry is erased, under mu_,
// before the callback runs, and only the reader (or close(), after the reader ended) erases.
#include <chrono>
#include <cstdio>
#include <deque>
#include <mutex>
#include <unordered_map>

#include "dist/common.hpp"
#include "gopp/sync.hpp"

namespace gopp::dist::detail {

namespace {
using clock = std::chrono::steady_clock;

struct outgoing {
  std::string id;
  std::string payload;
  bool with_result = false;
};
}  // namespace

class client_core {
 public:
  explicit client_core(const options& o)
      : opts_(o),
        keys_(o.queue),
        name_(unique_name()),
        results_key_(keys_.results_prefix + name_),
        send_(connection_options(o, "gopp-producer")),
        recv_(connection_options(o, "gopp-producer")) {}

  void start(const std::shared_ptr<client_core>& self) {
    wg_.add(2);
    go([self] { self->send_loop(); });
    go([self] { self->read_loop(); });
  }

  std::string submit(std::string payload, result_callback cb) {
    if (closed_.load()) throw broker_error("gopp::dist::client: submit on closed client");
    std::string id = name_ + ":" + std::to_string(seq_.fetch_add(1) + 1);
    const bool with_result = cb != nullptr;
    if (with_result) {
      std::lock_guard lk(mu_);
      pending_.emplace(id,
                       pending_job{payload, std::move(cb), clock::now() + opts_.result_timeout});
    }
    submitted_.fetch_add(1);
    try {
      out_.send(outgoing{id, std::move(payload), with_result});
    } catch (const closed_channel_error&) {
      throw broker_error("gopp::dist::client: submit on closed client");
    }
    return id;
  }

  client_stats stats() const {
    client_stats s;
    s.submitted = submitted_.load();
    s.results = results_.load();
    s.duplicates = duplicates_.load();
    s.reenqueued = reenqueued_.load();
    std::lock_guard lk(mu_);
    s.pending = pending_.size();
    return s;
  }

  void close() noexcept {
    if (closed_.exchange(true)) return;
    try {
      out_.close();
    } catch (...) {
    }
    recv_.disconnect();
    wg_.wait();
    std::unordered_map<std::string, pending_job> left;
    {
      std::lock_guard lk(mu_);
      left.swap(pending_);
    }
    for (auto& [id, p] : left) p.cb(false, "gopp::dist::client: closed before the result came");
  }

 private:
  struct pending_job {
    std::string payload;
    result_callback cb;
    clock::time_point deadline;
  };

  void send_loop() {
    bool warned = false;
    while (auto first = out_.recv()) {
      std::vector<outgoing> batch{std::move(*first)};
      while (batch.size() < 512) {
        auto more = out_.try_recv();
        if (!more) break;
        batch.push_back(std::move(*more));
      }
      std::vector<command> cmds;
      cmds.reserve(batch.size());
      for (const outgoing& o : batch) {
        cmds.push_back({"XADD", keys_.jobs, "*", "id", o.id, "p", o.payload, "a", "1", "rs",
                        o.with_result ? results_key_ : std::string()});
      }
      for (int tries = 0;; ++tries) {
        try {
          if (!warned) {
            warn_if_unsafe(send_, opts_);
            warned = true;
          }
          auto replies = send_.pipeline(cmds);
          for (const reply& r : replies) {
            if (r.is_error()) std::fprintf(stderr, "gopp: dist: XADD failed: %s\n", r.str.c_str());
          }
          break;
        } catch (const std::exception& e) {
          if (closed_.load() && tries > 50) break;  // closing and Redis is gone: give up
          if (tries == 10) std::fprintf(stderr, "gopp: dist: producer: %s (retrying)\n", e.what());
          sleep_for(std::chrono::milliseconds(100));
        }
      }
    }
    wg_.done();
  }

  void read_loop() {
    std::string last = "0-0";
    auto next_scan = clock::now() + std::chrono::seconds(1);
    while (!closed_.load()) {
      try {
        reply r =
            recv_.call({"XREAD", "COUNT", "512", "BLOCK", "500", "STREAMS", results_key_, last},
                       std::chrono::milliseconds(500) + recv_.options().call_timeout);
        std::vector<std::string> ids;
        if (!r.is_nil() && !r.elements.empty()) {
          for (const reply& e : r.elements[0].elements[1].elements) {
            last = e.elements[0].str;
            ids.push_back(last);
            deliver(fields_of(e.elements[1]));
          }
        }
        if (!ids.empty()) {
          command del{"XDEL", results_key_};
          del.insert(del.end(), ids.begin(), ids.end());
          recv_.pipeline({del, {"EXPIRE", results_key_, "86400"}});
        }
      } catch (const std::exception& e) {
        if (closed_.load()) break;
        sleep_for(std::chrono::milliseconds(100));
      }
      if (clock::now() >= next_scan) {
        next_scan = clock::now() + std::chrono::seconds(1);
        reenqueue_overdue();
      }
    }
    wg_.done();
  }

  void deliver(const std::map<std::string, std::string>& f) {
    auto id = f.find("id");
    if (id == f.end()) return;
    result_callback cb;
    {
      std::lock_guard lk(mu_);
      auto it = pending_.find(id->second);
      if (it == pending_.end()) {
        duplicates_.fetch_add(1);
        return;
      }
      cb = std::move(it->second.cb);
      pending_.erase(it);
    }
    results_.fetch_add(1);
    auto ok = f.find("ok");
    auto v = f.find("v");
    cb(ok != f.end() && ok->second == "1", v == f.end() ? std::string() : v->second);
  }

  void reenqueue_overdue() {
    if (opts_.result_timeout.count() <= 0) return;
    std::vector<outgoing> again;
    {
      std::lock_guard lk(mu_);
      const auto now = clock::now();
      for (auto& [id, p] : pending_) {
        if (p.deadline <= now) {
          p.deadline = now + opts_.result_timeout;
          again.push_back(outgoing{id, p.payload, true});
        }
      }
    }
    for (outgoing& o : again) {
      if (!out_.try_send(o)) break;  // the sender is busy: the rest next time
      reenqueued_.fetch_add(1);
    }
  }

  options opts_;
  queue_keys keys_;
  std::string name_;
  std::string results_key_;
  redis_client send_;
  redis_client recv_;
  chan<outgoing> out_{4096};
  mutable gopp::mutex mu_;
  std::unordered_map<std::string, pending_job> pending_;  // guarded by mu_
  std::atomic<std::uint64_t> seq_{0}, submitted_{0}, results_{0}, duplicates_{0}, reenqueued_{0};
  std::atomic<bool> closed_{false};
  wait_group wg_;
};

std::shared_ptr<client_core> make_client(const options& o) {
  auto c = std::make_shared<client_core>(o);
  c->start(c);
  return c;
}
std::string client_submit(client_core& c, std::string payload, result_callback on_result) {
  return c.submit(std::move(payload), std::move(on_result));
}
client_stats client_get_stats(const client_core& c) {
  return c.stats();
}
void client_close(client_core& c) noexcept {
  c.close();
}

}  // namespace gopp::dist::detail

namespace gopp::dist {

using detail::group_name;
using detail::queue_keys;
using detail::redis_client;
using detail::reply;

queue_stats inspect(const options& o) {
  const queue_keys k(o.queue);
  redis_client c(detail::connection_options(o, "gopp-inspect"));
  try {
    auto r = c.pipeline({{"XLEN", k.jobs},
                         {"XPENDING", k.jobs, group_name},
                         {"ZCARD", k.retry},
                         {"XLEN", k.dead},
                         {"XINFO", "GROUPS", k.jobs},
                         {"TIME"}});
    queue_stats s;
    s.stream_length = static_cast<std::uint64_t>(r[0].as_integer());
    s.retrying = static_cast<std::uint64_t>(r[2].as_integer());
    s.dead = static_cast<std::uint64_t>(r[3].as_integer());
    const long long now_ms =
        std::stoll(r[5].elements[0].str) * 1000 + std::stoll(r[5].elements[1].str) / 1000;
    std::string oldest;
    if (!r[1].is_error() && r[1].elements.size() == 4) {
      s.in_flight = static_cast<std::uint64_t>(r[1].elements[0].integer);
      if (s.in_flight > 0) oldest = r[1].elements[1].str;
      for (const reply& e : r[1].elements[3].elements) {
        s.in_flight_by_consumer.emplace_back(
            e.elements[0].str, static_cast<std::uint64_t>(e.elements[1].as_integer()));
      }
    }
    std::string last_delivered;
    if (!r[4].is_error()) {
      for (const reply& g : r[4].elements) {
        auto f = detail::fields_of(g);
        if (f["name"] != group_name) continue;
        last_delivered = f["last-delivered-id"];
        for (std::size_t i = 0; i + 1 < g.elements.size(); i += 2) {
          if (g.elements[i].str == "lag" && g.elements[i + 1].type == reply::kind::integer) {
            s.waiting = static_cast<std::uint64_t>(g.elements[i + 1].integer);
          }
        }
      }
    } else {
      s.waiting = s.stream_length;  // no group yet: nothing was delivered
    }
    if (oldest.empty()) {
      auto first = c.call({"XRANGE", k.jobs, last_delivered.empty() ? "-" : "(" + last_delivered,
                           "+", "COUNT", "1"});
      if (!first.elements.empty()) oldest = first.elements[0].elements[0].str;
    }
    if (!oldest.empty()) {
      const long long ms = std::stoll(oldest.substr(0, oldest.find('-')));
      s.oldest_age = std::chrono::milliseconds(std::max(0LL, now_ms - ms));
    }
    return s;
  } catch (const detail::redis_io_error& e) {
    throw broker_error(e.what());
  } catch (const detail::redis_error& e) {
    throw broker_error(std::string("redis: ") + e.what());
  }
}

}  // namespace gopp::dist
