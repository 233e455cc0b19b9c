// gopp::dist against a private redis-server: the producer/worker round trip, retries, dead
// letters, malformed entries, and the faults of RELIABILITY.md ("Network and broker faults"):
// kill -9 of a worker process, SIGTERM drain, SIGSTOP past the lease, kill -9 of redis-server,
// CLIENT PAUSE / CLIENT KILL, a poison job. Every check is made at the producer: exactly one
// result per job id, every id executed at least once, nothing dead-lettered without poison.
#include <gopp/dist.hpp>

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <gopp/gopp.hpp>
#include <map>
#include <set>
#include <string>

#include "dist/redis_client.hpp"
#include "dist_support.hpp"
#include "test_support.hpp"

namespace {

using namespace std::chrono_literals;
namespace dist = gopp::dist;
using gopp::dist::detail::redis_client;

dist::options options_for(const gopp_test::redis_server& s, const std::string& queue) {
  dist::options o;
  o.broker = s.url();
  o.queue = queue;
  o.lease = 2s;
  o.retry_backoff = 50ms;
  o.retry_backoff_max = 200ms;
  o.drain_timeout = 5s;
  o.warn_unsafe_redis = false;
  return o;
}

redis_client raw(const gopp_test::redis_server& s) {
  gopp::dist::detail::redis_options o;
  o.address = gopp::dist::detail::parse_redis_url(s.url());
  return redis_client(o);
}

TEST(Dist, CodecsRoundTripAndRejectBadBytes) {
  EXPECT_EQ(dist::codec<int>::decode(dist::codec<int>::encode(-42)), -42);
  EXPECT_DOUBLE_EQ(dist::codec<double>::decode(dist::codec<double>::encode(2.5)), 2.5);
  EXPECT_EQ(dist::codec<std::string>::decode("a\0b"), std::string("a\0b"));
  struct point {
    int x, y;
  };
  auto p = dist::codec<point>::decode(dist::codec<point>::encode(point{3, 4}));
  EXPECT_EQ(p.x, 3);
  EXPECT_EQ(p.y, 4);
  EXPECT_THROW(dist::codec<int>::decode("12x"), dist::codec_error);
  EXPECT_THROW(dist::codec<point>::decode("abc"), dist::codec_error);
}

TEST(Dist, ABadBrokerUrlIsABrokerError) {
  dist::options o;
  o.broker = "http://nope";
  EXPECT_THROW((dist::client<int, int>(o)), dist::broker_error);
}

TEST(Dist, WarnsOnceAtStartWithoutAppendonlyAndNoeviction) {
  gopp_test::redis_server server(
      {.extra = {"--appendonly", "no", "--maxmemory-policy", "allkeys-lru"}});
  auto o = options_for(server, "warn");
  o.warn_unsafe_redis = true;
  testing::internal::CaptureStderr();
  {
    dist::worker<int, int> w(o, 1, [](gopp::context, const dist::job<int>& j) { return *j; });
    w.shutdown();
  }
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("appendonly is 'no'"), std::string::npos) << err;
  EXPECT_NE(err.find("maxmemory-policy is 'allkeys-lru'"), std::string::npos) << err;
}

TEST(Dist, SubmitGetsTheResultAndJobsCarryIdAttemptDeliveries) {
  gopp_test::redis_server server;
  auto o = options_for(server, "basic");
  std::atomic<int> bad_meta{0};
  dist::worker<int, int> w(o, 4, [&](gopp::context, const dist::job<int>& j) {
    if (j.id().empty() || j.attempt() != 1 || j.deliveries() != 1) bad_meta.fetch_add(1);
    return *j * 2;
  });
  dist::client<int, int> c(o);
  std::vector<dist::future<int>> fs;
  for (int i = 0; i < 50; ++i) fs.push_back(c.submit(i));
  for (int i = 0; i < 50; ++i) EXPECT_EQ(fs[i].get(), 2 * i);
  EXPECT_EQ(bad_meta.load(), 0);
  w.shutdown();
  EXPECT_EQ(w.stats().completed, 50u);
  EXPECT_EQ(dist::inspect(o).dead, 0u);
}

TEST(Dist, ProcessDeliversOneResultPerJobThenCloses) {
  gopp_test::redis_server server;
  auto o = options_for(server, "process");
  dist::worker<int, long long> w(
      o, 3, [](gopp::context, const dist::job<int>& j) { return static_cast<long long>(*j) * *j; });
  dist::client<int, long long> c(o);
  gopp::chan<int> jobs(10);
  auto results = dist::process(c, jobs);
  const int n = 200;
  gopp::go([jobs] {
    for (int j = 0; j < n; ++j) jobs.send(j);
    jobs.close();
  });
  std::set<std::size_t> seen;
  for (const auto& r : results) {
    ASSERT_TRUE(r.value) << r.error;
    EXPECT_EQ(*r.value, static_cast<long long>(r.index) * static_cast<long long>(r.index));
    EXPECT_TRUE(seen.insert(r.index).second);
  }
  EXPECT_EQ(seen.size(), static_cast<std::size_t>(n));
}

TEST(Dist, AThrowingHandlerIsRetriedWithBackoffThenDeadLettered) {
  gopp_test::redis_server server;
  auto o = options_for(server, "retry");
  o.max_attempts = 3;
  std::atomic<int> runs_of_bad{0};
  std::atomic<int> second_attempt_ok{0};
  dist::worker<int, int> w(o, 2, [&](gopp::context, const dist::job<int>& j) -> int {
    if (*j == 7) {
      runs_of_bad.fetch_add(1);
      throw std::runtime_error("seven is bad");
    }
    if (*j == 8 && j.attempt() == 1) throw std::runtime_error("flaky once");
    if (*j == 8) second_attempt_ok.fetch_add(1);
    return *j;
  });
  dist::client<int, int> c(o);
  auto bad = c.submit(7);
  auto flaky = c.submit(8);
  auto good = c.submit(9);
  EXPECT_EQ(good.get(), 9);
  EXPECT_EQ(flaky.get(), 8);
  EXPECT_EQ(second_attempt_ok.load(), 1);
  try {
    bad.get();
    ADD_FAILURE() << "no job_failed";
  } catch (const dist::job_failed& e) {
    EXPECT_NE(std::string(e.what()).find("seven is bad"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("attempt 3 of 3"), std::string::npos) << e.what();
  }
  EXPECT_EQ(runs_of_bad.load(), 3);
  EXPECT_EQ(dist::inspect(o).dead, 1u);
}

TEST(Dist, AProducerReenqueuesWithTheSameIdAndKeepsOneResult) {
  gopp_test::redis_server server;
  auto o = options_for(server, "reenqueue");
  o.result_timeout = 300ms;
  dist::client<int, int> c(o);
  auto f = c.submit(5);
  // No worker yet: the job is enqueued again (same id) after result_timeout.
  for (int i = 0; i < 300 && c.stats().reenqueued == 0; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_GE(c.stats().reenqueued, 1u);
  gopp::mutex mu;
  std::map<std::string, int> runs;
  dist::worker<int, int> w(o, 2, [&](gopp::context, const dist::job<int>& j) {
    std::lock_guard lk(mu);
    ++runs[j.id()];
    return *j + 1;
  });
  EXPECT_EQ(f.get(), 6);
  for (int i = 0; i < 300 && c.stats().duplicates == 0; ++i) std::this_thread::sleep_for(10ms);
  w.shutdown();
  std::lock_guard lk(mu);
  ASSERT_EQ(runs.size(), 1u) << "one id for every copy";
  EXPECT_GE(runs.begin()->second, 2);
  EXPECT_GE(c.stats().duplicates, 1u) << "the second result was dropped at the producer";
}

TEST(Dist, TheJobStreamIsTrimmedBelowWhatIsAcknowledged) {
  gopp_test::redis_server server;
  auto o = options_for(server, "trim");
  o.lease = 300ms;  // heartbeat every 100 ms, trim every fourth round
  dist::worker<int, int> w(o, 4, [](gopp::context, const dist::job<int>& j) { return *j; });
  dist::client<int, int> c(o);
  std::vector<dist::future<int>> fs;
  for (int i = 0; i < 200; ++i) fs.push_back(c.submit(i));
  for (auto& f : fs) f.get();
  auto r = raw(server);
  long long len = 0;
  for (int i = 0; i < 500; ++i) {
    len = r.call({"XLEN", "gopp:trim:jobs"}).as_integer();
    if (len <= 1) break;
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_LE(len, 1) << "acknowledged entries are trimmed (MINID keeps the last delivered one)";
}

TEST(Dist, MalformedEntriesAreDeadLetteredWithAReasonAndTheWorkerGoesOn) {
  gopp_test::redis_server server;
  auto o = options_for(server, "malformed");
  dist::worker<int, int> w(o, 2, [](gopp::context, const dist::job<int>& j) { return *j + 1; });
  auto r = raw(server);
  r.call({"XADD", "gopp:malformed:jobs", "*", "p", "1"});               // no id
  r.call({"XADD", "gopp:malformed:jobs", "*", "id", "x", "p", "one"});  // codec rejects it
  dist::client<int, int> c(o);
  EXPECT_EQ(c.submit(41).get(), 42);
  for (int i = 0; i < 200 && dist::inspect(o).dead < 2; ++i) std::this_thread::sleep_for(20ms);
  auto dead = r.call({"XRANGE", "gopp:malformed:dead", "-", "+"});
  ASSERT_EQ(dead.elements.size(), 2u);
  std::string reasons;
  for (const auto& e : dead.elements) {
    auto& f = e.elements[1].elements;
    for (std::size_t i = 0; i + 1 < f.size(); i += 2) {
      if (f[i].str == "reason") reasons += f[i + 1].str + "|";
    }
  }
  EXPECT_NE(reasons.find("missing field 'id'"), std::string::npos) << reasons;
  EXPECT_NE(reasons.find("malformed payload"), std::string::npos) << reasons;
}

// A worker process (tests/dist_worker_helper.cpp), killed, stopped or terminated by a test.
class worker_process {
 public:
  worker_process(const gopp_test::redis_server& s, const std::string& queue, int goroutines,
                 int lease_ms, int job_ms, long long poison = -1) {
    args_ = {GOPP_DIST_WORKER_BIN,
             s.url(),
             queue,
             std::to_string(goroutines),
             std::to_string(lease_ms),
             std::to_string(job_ms),
             std::to_string(poison)};
    start();
  }
  ~worker_process() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      wait();
    }
  }
  void start() {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(fds[1], 1);
      ::close(fds[0]);
      std::vector<char*> argv;
      for (auto& a : args_) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    out_ = fds[0];
    EXPECT_EQ(read_line(), "ready");
  }
  std::string read_line() {
    std::string line;
    char ch;
    while (::read(out_, &ch, 1) == 1 && ch != '\n') line += ch;
    return line;
  }
  void signal(int sig) { ::kill(pid_, sig); }
  // Waits for the process; its wait status.
  int wait() {
    int st = 0;
    if (pid_ > 0) ::waitpid(pid_, &st, 0);
    pid_ = -1;
    if (out_ >= 0) ::close(out_);
    out_ = -1;
    return st;
  }
  // True (and reaped) if it has exited.
  bool exited() {
    int st = 0;
    if (pid_ > 0 && ::waitpid(pid_, &st, WNOHANG) == pid_) {
      pid_ = -1;
      ::close(out_);
      out_ = -1;
      return true;
    }
    return pid_ <= 0;
  }

 private:
  std::vector<std::string> args_;
  pid_t pid_ = -1;
  int out_ = -1;
};

// The producer's side of a fault test: n jobs (values 0..n-1) submitted, results counted.
struct run_of_jobs {
  dist::client<long long, long long> client;
  std::vector<dist::future<long long>> futures;
  std::vector<std::string> ids;

  run_of_jobs(const dist::options& o, int n) : client(o) {
    for (int i = 0; i < n; ++i) futures.push_back(client.submit(i));
  }
  std::uint64_t results() const { return client.stats().results; }
  // Waits (bounded) until `k` results are in.
  bool wait_results(std::uint64_t k, std::chrono::seconds limit) const {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (results() < k) {
      if (std::chrono::steady_clock::now() > until) return false;
      std::this_thread::sleep_for(10ms);
    }
    return true;
  }
};

// The checks every fault test makes at the producer: one result per job (the futures: each is
// completed once, and the client counts later copies as duplicates), every id executed at least
// once (the helpers count executions in test:<queue>:exec), extra executions within `bound`,
// nothing dead-lettered except `poison`. Returns the number of extra executions.
std::uint64_t check_run(const gopp_test::redis_server& s, const dist::options& o, run_of_jobs& run,
                        std::uint64_t bound, long long poison = -1) {
  const std::size_t n = run.futures.size();
  EXPECT_TRUE(run.wait_results(n, 90s)) << run.results() << " of " << n << " results";
  std::size_t failed = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (!run.futures[i].ready()) continue;
    if (static_cast<long long>(i) == poison) {
      EXPECT_THROW(run.futures[i].get(), dist::job_failed);
      ++failed;
    } else {
      EXPECT_EQ(run.futures[i].get(), static_cast<long long>(i * i));
    }
  }
  EXPECT_EQ(failed, poison >= 0 ? 1u : 0u);
  auto r = raw(s);
  auto exec = r.call({"HGETALL", "test:" + o.queue + ":exec"});
  std::uint64_t extra = 0;
  for (std::size_t i = 1; i < exec.elements.size(); i += 2) {
    extra += static_cast<std::uint64_t>(exec.elements[i].as_integer()) - 1;
  }
  EXPECT_EQ(exec.elements.size() / 2, n) << "every id executed at least once";
  EXPECT_LE(extra, bound) << "duplicate executions";
  EXPECT_EQ(dist::inspect(o).dead, poison >= 0 ? 1u : 0u);
  return extra;
}

int scaled_jobs(int n) {
  return gopp_test::under_sanitizer ? n / 10 : n;
}

TEST(DistFaults, Kill9OfAWorkerProcessWithJobsInFlight) {
  gopp_test::redis_server server;
  auto o = options_for(server, "kill9");
  o.lease = 1s;
  const int n = scaled_jobs(10000);
  worker_process a(server, o.queue, 8, 1000, 1), b(server, o.queue, 8, 1000, 1);
  run_of_jobs run(o, n);
  ASSERT_TRUE(run.wait_results(static_cast<std::uint64_t>(n) / 3, 60s));
  a.signal(SIGKILL);
  a.wait();
  const auto extra = check_run(server, o, run, 64);
  std::printf("kill -9 worker: %d jobs, %llu extra executions, %llu duplicate results dropped\n", n,
              static_cast<unsigned long long>(extra),
              static_cast<unsigned long long>(run.client.stats().duplicates));
}

TEST(DistFaults, SigtermDrainsInFlightJobsAndTheRestGoElsewhereAtOnce) {
  gopp_test::redis_server server;
  auto o = options_for(server, "drain");
  o.lease = 30s;  // a job left pending would wait 30 s: the test would time out
  worker_process a(server, o.queue, 4, 30000, 200), b(server, o.queue, 4, 30000, 200);
  const auto t0 = std::chrono::steady_clock::now();
  run_of_jobs run(o, 40);
  ASSERT_TRUE(run.wait_results(4, 30s));
  a.signal(SIGTERM);
  EXPECT_EQ(a.read_line().rfind("drained", 0), 0u);
  const int st = a.wait();
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  check_run(server, o, run, 0);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 20s);
}

TEST(DistFaults, SigstopPastTheLeaseThenSigcontLateCompletionsAreStale) {
  gopp_test::redis_server server;
  auto o = options_for(server, "stop");
  o.lease = 1s;
  worker_process a(server, o.queue, 4, 1000, 4000);
  run_of_jobs run(o, 4);
  auto r = raw(server);
  // Until a holds all four.
  for (int i = 0; i < 200 && r.call({"HLEN", "test:stop:exec"}).as_integer() < 4; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  a.signal(SIGSTOP);
  worker_process b(server, o.queue, 8, 1000, 4000);
  std::this_thread::sleep_for(2500ms);
  a.signal(SIGCONT);
  const auto extra = check_run(server, o, run, 4);
  EXPECT_EQ(extra, 4u);  // each job ran on a, then again on b
  std::uint64_t lost = 0;
  for (int i = 0; i < 300 && lost == 0; ++i) {
    auto v = r.call({"GET", "test:stop:lost"});
    lost = v.is_nil() ? 0 : static_cast<std::uint64_t>(v.as_integer());
    if (lost == 0) std::this_thread::sleep_for(10ms);
  }
  EXPECT_GE(lost, 1u) << "a's job contexts saw the lost lease";
  EXPECT_EQ(run.client.stats().duplicates, 0u) << "a's late completions were dropped as stale";
}

TEST(DistFaults, Kill9OfRedisWithAofAlwaysAndARestartEverybodyResumes) {
  gopp_test::redis_server server({.appendfsync = "always"});
  auto o = options_for(server, "redis9");
  o.result_timeout = 15s;
  const int n = scaled_jobs(2000);
  worker_process a(server, o.queue, 8, 2000, 2), b(server, o.queue, 8, 2000, 2);
  run_of_jobs run(o, n);
  ASSERT_TRUE(run.wait_results(static_cast<std::uint64_t>(n) / 4, 60s));
  server.kill9();
  std::this_thread::sleep_for(1s);
  server.start();
  check_run(server, o, run, 64);
}

TEST(DistFaults, ClientPauseAndClientKillTheyReconnectNothingLost) {
  gopp_test::redis_server server;
  auto o = options_for(server, "pause");
  const int n = scaled_jobs(2000);
  worker_process a(server, o.queue, 8, 2000, 2);
  run_of_jobs run(o, n);
  ASSERT_TRUE(run.wait_results(static_cast<std::uint64_t>(n) / 4, 60s));
  auto r = raw(server);
  r.call({"CLIENT", "PAUSE", "2000", "ALL"});
  std::this_thread::sleep_for(2500ms);
  ASSERT_TRUE(run.wait_results(static_cast<std::uint64_t>(n) / 2, 60s));
  r.call({"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"});
  check_run(server, o, run, 64);
}

TEST(DistFaults, APoisonJobIsDeadLetteredAfterMaxDeliveriesTheRestComplete) {
  gopp_test::redis_server server;
  auto o = options_for(server, "poison");
  o.lease = 500ms;
  const long long poison = 13;
  // One goroutine each: a crash takes only the poison job with it.
  worker_process a(server, o.queue, 1, 500, 1, poison), b(server, o.queue, 1, 500, 1, poison);
  run_of_jobs run(o, 50);
  // The supervisor: restart a worker whenever it died.
  const auto until = std::chrono::steady_clock::now() + 60s;
  int restarts = 0;
  while (run.results() < 50 && std::chrono::steady_clock::now() < until) {
    for (worker_process* w : {&a, &b}) {
      if (w->exited()) {
        w->start();
        ++restarts;
      }
    }
    std::this_thread::sleep_for(20ms);
  }
  // The poison job ran 3 times (2 extra); each crash may also take one finished job whose
  // completion was queued but not yet acknowledged (it runs again elsewhere): 3 more at most.
  check_run(server, o, run, 2 + 3, poison);
  EXPECT_EQ(restarts, 3);
  auto r = raw(server);
  auto dead = r.call({"XRANGE", "gopp:poison:dead", "-", "+"});
  ASSERT_EQ(dead.elements.size(), 1u);
  std::string reason;
  auto& f = dead.elements[0].elements[1].elements;
  for (std::size_t i = 0; i + 1 < f.size(); i += 2) {
    if (f[i].str == "reason") reason = f[i + 1].str;
  }
  EXPECT_NE(reason.find("delivered 3 times"), std::string::npos) << reason;
}

}  // namespace

#ifdef GOPP_POOL_BIN
namespace {

// Runs a shell command; its stdout and stderr together, and its exit status.
std::pair<std::string, int> run_shell(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  char buf[512];
  while (p && std::fgets(buf, sizeof buf, p)) out += buf;
  const int st = p ? ::pclose(p) : -1;
  return {out, WIFEXITED(st) ? WEXITSTATUS(st) : -1};
}

// A child process with its stdout and stderr on a pipe.
struct child {
  pid_t pid = -1;
  int out = -1;
  explicit child(std::vector<std::string> args) {
    int fds[2];
    if (::pipe(fds) != 0) return;
    pid = ::fork();
    if (pid == 0) {
      ::dup2(fds[1], 1);
      ::dup2(fds[1], 2);
      ::close(fds[0]);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    out = fds[0];
  }
  // Reads everything until the child closes its end, then reaps it: its output and exit code.
  std::pair<std::string, int> finish() {
    std::string s;
    char buf[512];
    for (long n; (n = ::read(out, buf, sizeof buf)) > 0;) s.append(buf, static_cast<size_t>(n));
    ::close(out);
    int st = 0;
    ::waitpid(pid, &st, 0);
    return {s, WIFEXITED(st) ? WEXITSTATUS(st) : -1};
  }
};

TEST(DistGoppPool, RunAndWorkersReproduceTheSeedAcrossProcesses) {
  gopp_test::redis_server server;
  const std::string pool = GOPP_POOL_BIN;
  const std::string b = " --broker " + server.url() + " --queue seed";
  child w1({pool, "worker", "--broker", server.url(), "--queue", "seed", "--workers", "2"});
  child w2({pool, "worker", "--broker", server.url(), "--queue", "seed", "--workers", "1"});
  std::this_thread::sleep_for(300ms);
  auto [out, status] = run_shell(pool + " run" + b + " --jobs 5 --job-time 200ms");
  EXPECT_EQ(status, 0) << out;
  for (int j = 1; j <= 5; ++j) {
    EXPECT_NE(out.find("result of job " + std::to_string(j) + ": " + std::to_string(2 * j)),
              std::string::npos)
        << out;
  }
  EXPECT_NE(out.find("time using worker pool: "), std::string::npos) << out;
  auto [stats, st2] = run_shell(pool + " stats" + b);
  EXPECT_EQ(st2, 0) << stats;
  EXPECT_NE(stats.find("dead:       0"), std::string::npos) << stats;
  std::string lines;
  for (child* w : {&w1, &w2}) {
    ::kill(w->pid, SIGTERM);  // drains, exits 0
    auto [o, st] = w->finish();
    EXPECT_EQ(st, 0) << o;
    lines += o;
  }
  for (int j = 1; j <= 5; ++j) {
    EXPECT_NE(lines.find("started  job " + std::to_string(j)), std::string::npos) << lines;
    EXPECT_NE(lines.find("finished job " + std::to_string(j)), std::string::npos) << lines;
  }
}

TEST(DistGoppPool, ABadUrlOrARedisThatIsDownIsOneLineAndExitOne) {
  const std::string pool = GOPP_POOL_BIN;
  auto [bad, st1] = run_shell(pool + " run --broker http://nowhere");
  EXPECT_EQ(st1, 1);
  EXPECT_NE(bad.find("bad broker URL"), std::string::npos) << bad;
  const int port = gopp_test::free_loopback_port();
  auto [down, st2] = run_shell(pool + " stats --broker redis://127.0.0.1:" + std::to_string(port));
  EXPECT_EQ(st2, 1);
  EXPECT_NE(down.find("refused"), std::string::npos) << down;
  EXPECT_EQ(std::count(down.begin(), down.end(), '\n'), 1) << down;
}

}  // namespace
#endif
