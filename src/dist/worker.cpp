// gopp::dist's worker (worker_core).
//
// Goroutines and their Redis connections:
//   - the fetcher (its own connection) takes idle tokens (one per idle handler goroutine, so it
//     never holds a job nobody can start), then, every lease/4 at most, runs the reclaim script
//     (XPENDING IDLE lease + XCLAIM, dead-lettering what was delivered max_deliveries times)
//     for up to that many jobs, then XREADGROUP ... COUNT <the rest> BLOCK 500 for new ones,
//     hands each job to an idle handler and gives back the tokens it did not use;
//   - N handlers run the user's handler, each job with a context of its own (cancelled when the
//     lease is lost or shutdown gives up on it), and queue a completion (ok, retry with
//     backoff, dead) for the acker;
//   - the acker (its own connection) sends completions in batches through the ack script,
//     which acknowledges only entries this consumer still owns (stale ones are dropped there);
//     a batch that fails on a connection fault is sent again: the second run finds the entries
//     acknowledged already, so nothing is written twice;
//   - the heartbeat (its own connection) renews, every lease/3, the leases of the jobs still in
//     flight here (a job is in flight from its delivery until its completion is acknowledged),
//     cancels the contexts of the ones it lost, promotes due retries and trims the stream.
// shutdown(): the fetcher stops reading; handlers finish (up to drain_timeout); then the jobs
// still running are cancelled and released (re-added to the stream at once for other workers,
// their own entries acknowledged); acks are flushed; the heartbeat stops last.
#include <chrono>
#include <cstdio>
#include <mutex>
#include <set>
#include <unordered_map>

#include "dist/common.hpp"
#include "gopp/select.hpp"
#include "gopp/sync.hpp"
#include "gopp/time.hpp"

namespace gopp::dist::detail {

namespace {
using clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

struct entry {
  std::string sid;
  reply fields;  // the flat field/value array
  std::uint32_t deliveries = 1;
};

struct completion {
  std::string kind;  // ok | retry | dead
  std::string sid;
  std::string data;
  std::string delay = "0";
};

std::string ms(milliseconds d) {
  return std::to_string(d.count());
}
}  // namespace

class worker_core {
 public:
  worker_core(const options& o, std::size_t n, raw_handler h)
      : opts_(o),
        keys_(o.queue),
        me_(unique_name()),
        fetch_(connection_options(o, "gopp-worker")),
        ack_(connection_options(o, "gopp-worker")),
        beat_(connection_options(o, "gopp-worker")),
        handler_(std::move(h)),
        n_(n == 0 ? 1 : n),
        idle_(n_) {
    auto [ctx, cancel] = with_cancel(background());
    base_ = ctx;
    cancel_all_ = cancel;
  }

  void start(const std::shared_ptr<worker_core>& self) {
    for (std::size_t i = 0; i < n_; ++i) idle_.send(1);
    handlers_wg_.add(static_cast<std::ptrdiff_t>(n_));
    for (std::size_t i = 0; i < n_; ++i) go([self] { self->handle_loop(); });
    fetch_wg_.add(1);
    go([self] { self->fetch_loop(); });
    ack_wg_.add(1);
    go([self] { self->ack_loop(); });
    beat_wg_.add(1);
    go([self] { self->beat_loop(); });
  }

  void shutdown() {
    {
      std::lock_guard lk(shutdown_mu_);  // a second caller waits for the first one's drain
      if (shut_) return;
      shut_ = true;
      stopping_.store(true);
      stop_.close();
      fetch_wg_.wait();  // work_ is closed: handlers leave after their current job
      chan<std::monostate> drained(1);
      go([this, drained] {
        handlers_wg_.wait();
        drained.close();
      });
      bool done = false;
      select(recv_case(drained, [&](auto) { done = true; }), recv_case(after(opts_.drain_timeout)));
      if (!done) release_running();
      drained.recv();
      acks_.close();
      ack_wg_.wait();
      beat_stop_.close();
      beat_wg_.wait();
      cancel_all_();
    }
  }

  worker_stats stats() const {
    worker_stats s;
    s.goroutines = n_;
    s.running = running_.load();
    s.completed = completed_.load();
    s.failed = failed_.load();
    s.dead = dead_.load();
    s.reclaimed = reclaimed_.load();
    s.stale = stale_.load();
    s.lost_leases = lost_.load();
    s.released = released_.load();
    return s;
  }

 private:
  struct flight {
    std::function<void()> cancel;
    bool finished = false;  // the handler returned; the completion waits for the acker
    bool lost = false;
  };

  void ensure_group(redis_client& c) {
    try {
      c.call({"XGROUP", "CREATE", keys_.jobs, group_name, "0", "MKSTREAM"});
    } catch (const redis_error& e) {
      if (std::string(e.what()).rfind("BUSYGROUP", 0) != 0) throw;
    }
  }

  void fetch_loop() {
    bool have_group = false;
    auto last_reclaim = clock::now() - opts_.lease;
    const auto reclaim_every = std::max(opts_.lease / 4, milliseconds(50));
    while (!stopping_.load()) {
      std::size_t k = 0;
      select(recv_case(idle_, [&](std::optional<int> t) { k = t ? 1 : 0; }), recv_case(stop_));
      if (k == 0) break;
      while (k < n_ && idle_.try_recv()) ++k;
      std::vector<entry> got;
      try {
        if (!have_group) {
          ensure_group(fetch_);
          have_group = true;
        }
        if (clock::now() - last_reclaim >= reclaim_every) {
          last_reclaim = clock::now();
          reply r = fetch_.eval(reclaim_script, {keys_.jobs, keys_.dead, keys_.errors},
                                {group_name, me_, ms(opts_.lease),
                                 std::to_string(opts_.max_deliveries), std::to_string(k)});
          for (reply& e : r.elements) {
            got.push_back(entry{e.elements[0].str, std::move(e.elements[1]),
                                static_cast<std::uint32_t>(e.elements[2].integer)});
          }
          reclaimed_.fetch_add(got.size());
        }
        if (got.size() < k && !stopping_.load()) {
          reply r = fetch_.call(
              {"XREADGROUP", "GROUP", group_name, me_, "COUNT", std::to_string(k - got.size()),
               "BLOCK", "500", "STREAMS", keys_.jobs, ">"},
              milliseconds(500) + fetch_.options().call_timeout);
          if (!r.is_nil() && !r.elements.empty()) {
            for (reply& e : r.elements[0].elements[1].elements) {
              got.push_back(entry{e.elements[0].str, std::move(e.elements[1]), 1});
            }
          }
        }
      } catch (const redis_error& e) {
        if (std::string(e.what()).rfind("NOGROUP", 0) == 0) {
          have_group = false;  // the stream or group went away (FLUSHALL, a lost AOF)
        } else {
          std::fprintf(stderr, "gopp: dist: worker: %s\n", e.what());
          sleep_for(milliseconds(200));
        }
      } catch (const std::exception&) {
        sleep_for(milliseconds(100));  // the client backs off between dials
      }
      for (entry& e : got) {
        {
          std::lock_guard lk(mu_);
          inflight_[e.sid] = flight{};
        }
        work_.send(std::move(e));
      }
      for (std::size_t i = got.size(); i < k; ++i) idle_.send(1);
    }
    work_.close();
    fetch_wg_.done();
  }

  void handle_loop() {
    while (auto e = work_.recv()) {
      running_.fetch_add(1);
      auto [ctx, cancel] = with_cancel(base_);
      {
        std::lock_guard lk(mu_);
        auto it = inflight_.find(e->sid);
        if (it != inflight_.end()) it->second.cancel = cancel;
      }
      completion c = run(*e, ctx);
      running_.fetch_sub(1);
      {
        std::lock_guard lk(mu_);
        auto it = inflight_.find(e->sid);
        if (it != inflight_.end()) it->second.finished = true;
      }
      cancel();
      acks_.send(std::move(c));
      idle_.send(1);
    }
    handlers_wg_.done();
  }

  completion run(const entry& e, const context& ctx) {
    completion c{"dead", e.sid, "", "0"};
    auto f = fields_of(e.fields);
    for (const char* need : {"id", "p"}) {
      if (!f.count(need)) {
        c.data = std::string("malformed entry ") + e.sid + ": missing field '" + need + "'";
        return c;
      }
    }
    raw_job j{f["id"], f["p"], 1, e.deliveries};
    if (auto a = f.find("a"); a != f.end()) {
      try {
        j.attempt = static_cast<std::uint32_t>(std::stoul(a->second));
      } catch (const std::exception&) {
      }
    }
    try {
      c.data = handler_(ctx, j);
      c.kind = "ok";
      return c;
    } catch (const codec_error& x) {
      c.data = std::string("malformed payload: ") + x.what();
      return c;
    } catch (const std::exception& x) {
      c.data = x.what();
    } catch (...) {
      c.data = "unknown exception";
    }
    failed_.fetch_add(1);
    if (j.attempt < opts_.max_attempts) {
      c.kind = "retry";
      c.delay = ms(backoff(opts_.retry_backoff, opts_.retry_backoff_max, j.attempt));
    } else {
      c.data = "attempt " + std::to_string(j.attempt) + " of " +
               std::to_string(opts_.max_attempts) + " failed: " + c.data;
    }
    return c;
  }

  void ack_loop() {
    while (auto first = acks_.recv()) {
      std::vector<completion> batch{std::move(*first)};
      while (batch.size() < 256) {
        auto more = acks_.try_recv();
        if (!more) break;
        batch.push_back(std::move(*more));
      }
      std::vector<std::string> args{group_name, me_};
      for (const completion& c : batch) {
        args.insert(args.end(), {c.kind, c.sid, c.data, c.delay, ""});
      }
      std::set<std::string> stale;
      bool sent = false;
      for (int tries = 0; !sent; ++tries) {
        try {
          reply r =
              ack_.eval(ack_script, {keys_.jobs, keys_.dead, keys_.retry, keys_.errors}, args);
          for (const reply& s : r.elements) stale.insert(s.str);
          sent = true;
        } catch (const redis_error& e) {
          std::fprintf(stderr, "gopp: dist: worker: ack: %s\n", e.what());
          break;
        } catch (const std::exception& e) {
          // Redis is away: keep the completions until it is back (their leases lapse meanwhile
          // and the jobs may run elsewhere: the ack script then reports them stale). During a
          // shutdown give up after the drain timeout.
          if (stopping_.load() && milliseconds(100) * tries > opts_.drain_timeout) break;
          sleep_for(milliseconds(100));
        }
      }
      std::lock_guard lk(mu_);
      for (const completion& c : batch) {
        inflight_.erase(c.sid);
        if (!sent) continue;
        if (stale.count(c.sid)) {
          stale_.fetch_add(1);
        } else if (c.kind == "ok") {
          completed_.fetch_add(1);
        } else if (c.kind == "dead") {
          dead_.fetch_add(1);
        }
      }
    }
    ack_wg_.done();
  }

  void beat_loop() {
    warn_if_unsafe(beat_, opts_);  // at start (a Redis that is down: the next rounds try again)
    bool warned = beat_.connected();
    const auto every = std::max(opts_.lease / 3, milliseconds(20));
    int round = 0;
    for (bool stop = false; !stop;) {
      select(recv_case(beat_stop_, [&](auto) { stop = true; }), recv_case(after(every)));
      if (stop) break;
      try {
        if (!warned) {
          warn_if_unsafe(beat_, opts_);
          warned = true;
        }
        renew();
        if (!stopping_.load()) {
          beat_.eval(promote_script, {keys_.jobs, keys_.retry}, {"256"});
          if (++round % 4 == 0) beat_.eval(trim_script, {keys_.jobs}, {group_name});
        }
      } catch (const std::exception&) {
        // Redis is away: the next round tries again (the client backs off between dials).
      }
    }
    beat_wg_.done();
  }

  void renew() {
    std::vector<std::string> args{group_name, me_};
    {
      std::lock_guard lk(mu_);
      for (const auto& [sid, f] : inflight_) {
        if (!f.lost) args.push_back(sid);
      }
    }
    if (args.size() == 2) return;
    reply r = beat_.eval(heartbeat_script, {keys_.jobs}, args);
    std::vector<std::function<void()>> cancels;
    {
      std::lock_guard lk(mu_);
      for (const reply& s : r.elements) {
        auto it = inflight_.find(s.str);
        if (it == inflight_.end() || it->second.lost) continue;
        it->second.lost = true;
        if (!it->second.finished) {
          lost_.fetch_add(1);
          if (it->second.cancel) cancels.push_back(it->second.cancel);
        }
      }
    }
    for (auto& c : cancels) c();
  }

  // Drain timeout: cancel what still runs and hand it back to the queue at once.
  void release_running() {
    std::vector<std::string> args{group_name, me_};
    std::vector<std::function<void()>> cancels;
    {
      std::lock_guard lk(mu_);
      for (auto& [sid, f] : inflight_) {
        if (f.finished) continue;
        args.insert(args.end(), {"release", sid, "", "0", ""});
        if (f.cancel) cancels.push_back(f.cancel);
      }
    }
    for (auto& c : cancels) c();
    if (args.size() == 2) return;
    for (int tries = 0; tries < 20; ++tries) {
      try {
        reply r = ack_.eval(ack_script, {keys_.jobs, keys_.dead, keys_.retry, keys_.errors}, args);
        released_.fetch_add((args.size() - 2) / 5 - r.elements.size());
        return;
      } catch (const std::exception&) {
        sleep_for(milliseconds(100));
      }
    }
  }

  options opts_;
  queue_keys keys_;
  std::string me_;
  redis_client fetch_, ack_, beat_;
  raw_handler handler_;
  std::size_t n_;
  chan<int> idle_;
  chan<entry> work_;
  chan<completion> acks_{4096};
  chan<std::monostate> stop_, beat_stop_;
  context base_;
  std::function<void()> cancel_all_;
  gopp::mutex mu_;
  std::unordered_map<std::string, flight> inflight_;  // guarded by mu_
  std::atomic<bool> stopping_{false};
  gopp::mutex shutdown_mu_;
  bool shut_ = false;  // guarded by shutdown_mu_
  wait_group handlers_wg_, fetch_wg_, ack_wg_, beat_wg_;
  std::atomic<std::size_t> running_{0};
  std::atomic<std::uint64_t> completed_{0}, failed_{0}, dead_{0}, reclaimed_{0}, stale_{0},
      lost_{0}, released_{0};
};

std::shared_ptr<worker_core> make_worker(const options& o, std::size_t goroutines,
                                         raw_handler handler) {
  auto w = std::make_shared<worker_core>(o, goroutines, std::move(handler));
  w->start(w);
  return w;
}
void worker_shutdown(worker_core& w) {
  w.shutdown();
}
worker_stats worker_get_stats(const worker_core& w) {
  return w.stats();
}

}  // namespace gopp::dist::detail
