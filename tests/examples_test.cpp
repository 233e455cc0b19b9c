// End-to-end tests of the example programs (examples/) and the gopp-pool tool (tools/): each
// runs as a subprocess with a short job time, and the test checks its output the way a reader of
// the seed would: every job started and finished exactly once, by a valid worker, in the seed's
// exact line format; the log lines in Go's format; and the pool finishing well before the
// sequential run. The timing bounds are generous: they check that jobs overlap, not speed.
//
// The programs' paths come from tests/CMakeLists.txt (GOPP_*_BIN); a test whose program is not
// built (GOPP_BUILD_EXAMPLES or GOPP_BUILD_TOOLS off) is skipped.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <map>
// GCC 12 with -fsanitize=address warns -Wmaybe-uninitialized inside libstdc++'s <regex> (a false
// positive in std::function's internals); keep the sanitizer builds warning-free.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <regex>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "gopp/duration.hpp"
#include "gopp/net.hpp"

// True in the asan and tsan builds, where timing bounds must be looser.
#if defined(GOPP_SANITIZER_ADDRESS) || defined(GOPP_SANITIZER_THREAD)
constexpr bool sanitized = true;
#else
constexpr bool sanitized = false;
#endif

namespace {

using namespace std::chrono_literals;
using std::chrono::nanoseconds;

#ifdef GOPP_WORKER_POOLS_BIN
constexpr const char* worker_pools_bin = GOPP_WORKER_POOLS_BIN;
constexpr const char* pool_vs_sequential_bin = GOPP_POOL_VS_SEQUENTIAL_BIN;
constexpr const char* hello_goroutines_bin = GOPP_HELLO_GOROUTINES_BIN;
constexpr const char* echo_server_bin = GOPP_ECHO_SERVER_BIN;
constexpr const char* fetch_pool_bin = GOPP_FETCH_POOL_BIN;
#define GOPP_NEED_EXAMPLES() (void)0
#else
constexpr const char* worker_pools_bin = "";
constexpr const char* pool_vs_sequential_bin = "";
constexpr const char* hello_goroutines_bin = "";
constexpr const char* echo_server_bin = "";
constexpr const char* fetch_pool_bin = "";
#define GOPP_NEED_EXAMPLES() GTEST_SKIP() << "examples not built (GOPP_BUILD_EXAMPLES=OFF)"
#endif

#ifdef GOPP_POOL_BIN
constexpr const char* gopp_pool_bin = GOPP_POOL_BIN;
#define GOPP_NEED_TOOLS() (void)0
#else
constexpr const char* gopp_pool_bin = "";
#define GOPP_NEED_TOOLS() GTEST_SKIP() << "gopp-pool not built (GOPP_BUILD_TOOLS=OFF)"
#endif

// The job time the tests pass; the seed's 1s would make each run take seconds.
constexpr nanoseconds job = 200ms;
const char* const job_arg = "200ms";

struct run_result {
  int exit_code = -1;  // the exit status, or 128 + signal
  std::string out, err;
  nanoseconds elapsed{};  // from fork to exit
  // For each line of `out`, when it arrived (since the fork). The programs flush every line, so
  // this times the work itself, without start-up and exit (ThreadSanitizer alone adds a second
  // at exit, its atexit_sleep_ms).
  std::vector<nanoseconds> out_line_times;
};

enum class stderr_to { pipe, terminal };

// Runs `argv` with stdout and stderr captured separately; kills it after `limit`. With
// stderr_to::terminal the child's stderr is a pseudo-terminal, so isatty(2) is true there.
run_result run(std::vector<std::string> argv, stderr_to err_kind = stderr_to::pipe,
               nanoseconds limit = 60s) {
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe failed";
    return {};
  }
  if (err_kind == stderr_to::terminal) {  // replace the stderr pipe by a pty's two ends
    ::close(err_pipe[0]);
    ::close(err_pipe[1]);
    err_pipe[0] = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (err_pipe[0] < 0 || ::grantpt(err_pipe[0]) != 0 || ::unlockpt(err_pipe[0]) != 0 ||
        (err_pipe[1] = ::open(::ptsname(err_pipe[0]), O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0) {
      ADD_FAILURE() << "no pseudo-terminal";
      return {};
    }
  }
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);

  const auto start = std::chrono::steady_clock::now();
  const pid_t pid = ::fork();
  if (pid == 0) {  // child: only async-signal-safe calls until exec
    ::dup2(out_pipe[1], STDOUT_FILENO);
    ::dup2(err_pipe[1], STDERR_FILENO);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);

  run_result r;
  std::array<pollfd, 2> fds{{{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}}};
  std::array<std::string*, 2> sinks{&r.out, &r.err};
  bool killed = false;
  for (int open = 2; open > 0;) {
    const auto left = limit - (std::chrono::steady_clock::now() - start);
    if (left <= 0ns && !killed) {
      ::kill(pid, SIGKILL);
      killed = true;
      ADD_FAILURE() << argv[0] << " ran past " << gopp::format_duration(limit) << "; killed";
    }
    const int ms =
        killed ? 1000
               : static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(left).count());
    if (::poll(fds.data(), fds.size(), ms) < 0 && errno != EINTR) break;
    for (std::size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buf[4096];
      const ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        sinks[i]->append(buf, static_cast<std::size_t>(n));
        if (i == 0) {
          const nanoseconds now = std::chrono::steady_clock::now() - start;
          r.out_line_times.insert(r.out_line_times.end(), std::count(buf, buf + n, '\n'), now);
        }
      } else if (n == 0 || errno != EINTR) {  // EOF (EIO on a pty whose other end closed)
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open;
      }
    }
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.elapsed = std::chrono::steady_clock::now() - start;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// The seed's job lines, exactly: two spaces after "started" line them up with "finished".
const std::regex job_line(R"(^worker (\d+) (started  |finished )job (\d+)$)");

// Checks one run's job lines against the seed's promises and returns the most jobs that were in
// progress at once (by the order in which the lines were printed).
int check_job_lines(const std::vector<std::string>& lines, int jobs, int workers) {
  EXPECT_EQ(lines.size(), static_cast<std::size_t>(2 * jobs)) << "two lines per job";
  std::map<int, int> started_by, finished_by;  // job -> worker
  int in_progress = 0, most = 0;
  for (const auto& line : lines) {
    std::smatch m;
    if (!std::regex_match(line, m, job_line)) {
      ADD_FAILURE() << "not a job line: \"" << line << "\"";
      continue;
    }
    const int worker = std::stoi(m[1]), j = std::stoi(m[3]);
    EXPECT_GE(worker, 1) << line;
    EXPECT_LE(worker, workers) << line;
    EXPECT_GE(j, 1) << line;
    EXPECT_LE(j, jobs) << line;
    if (m[2] == "started  ") {
      EXPECT_EQ(started_by.count(j), 0u) << "job " << j << " started twice";
      started_by[j] = worker;
      most = std::max(most, ++in_progress);
      EXPECT_LE(in_progress, workers) << "more jobs running than workers, at: " << line;
    } else {
      EXPECT_EQ(finished_by.count(j), 0u) << "job " << j << " finished twice";
      EXPECT_EQ(started_by.count(j), 1u) << "job " << j << " finished before it started";
      EXPECT_EQ(started_by[j], worker) << "job " << j << " finished by another worker";
      finished_by[j] = worker;
      --in_progress;
    }
  }
  EXPECT_EQ(started_by.size(), static_cast<std::size_t>(jobs));
  EXPECT_EQ(finished_by.size(), static_cast<std::size_t>(jobs));
  return most;
}

// "2021/03/18 09:25:25 <name>: <duration>" -> the duration; fails the test on any other shape.
nanoseconds logged_time(const std::string& line, const std::string& name) {
  const std::regex re(R"(^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d )" + name + R"(: (.*s)$)");
  std::smatch m;
  if (!std::regex_match(line, m, re)) {
    ADD_FAILURE() << "expected a log line for \"" << name << "\", got \"" << line << "\"";
    return {};
  }
  return gopp::parse_duration(m[1].str());  // it was printed by format_duration
}

// ---- examples/worker_pools.cpp ----

TEST(WorkerPoolsExample, EveryJobStartsAndFinishesOnceOnThreeWorkers) {
  GOPP_NEED_EXAMPLES();
  const run_result r = run({worker_pools_bin, job_arg});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  const int most = check_job_lines(lines_of(r.out), 5, 3);
  EXPECT_GE(most, 2) << "jobs never overlapped:\n" << r.out;
}

// Five jobs on three workers need two rounds of jobs (so at least two job times) but far less
// than five: from the first job line to the last takes about two job times. main returns only
// after receiving all five results, so a clean exit also says that every result arrived.
TEST(WorkerPoolsExample, TakesAboutTwoJobTimesNotFive) {
  GOPP_NEED_EXAMPLES();
  const run_result r = run({worker_pools_bin, job_arg});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_GE(r.elapsed, 2 * job);
  ASSERT_EQ(r.out_line_times.size(), 10u) << r.out;
  const nanoseconds working = r.out_line_times.back() - r.out_line_times.front();
  // Run one after another they would take at least five job times.
  EXPECT_LT(working, 9 * job / 2) << "jobs did not run concurrently: "
                                  << gopp::format_duration(working);
}

TEST(WorkerPoolsExample, BadJobTimeIsRejected) {
  GOPP_NEED_EXAMPLES();
  const run_result r = run({worker_pools_bin, "fast"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("time: invalid duration \"fast\""), std::string::npos) << r.err;
}

// ---- examples/pool_vs_sequential.cpp ----

TEST(PoolVsSequentialExample, LogsBothTimesAndThePoolIsFaster) {
  GOPP_NEED_EXAMPLES();
  const run_result r = run({pool_vs_sequential_bin, job_arg});
  ASSERT_EQ(r.exit_code, 0) << r.err;

  // stdout: the pool's ten job lines, then the sequential run's ten, all by worker 1 in order.
  const auto out = lines_of(r.out);
  ASSERT_EQ(out.size(), 20u) << r.out;
  check_job_lines({out.begin(), out.begin() + 10}, 5, 3);
  const std::vector<std::string> sequential(out.begin() + 10, out.end());
  for (int j = 1; j <= 5; ++j) {
    EXPECT_EQ(sequential[2 * j - 2], "worker 1 started  job " + std::to_string(j));
    EXPECT_EQ(sequential[2 * j - 1], "worker 1 finished job " + std::to_string(j));
  }

  // stderr: the blog's two log lines.
  const auto err = lines_of(r.err);
  ASSERT_EQ(err.size(), 2u) << r.err;
  EXPECT_TRUE(std::regex_match(
      err[0], std::regex(R"(^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d time using worker pool: .*s$)")))
      << err[0];
  const nanoseconds pool = logged_time(err[0], "time using worker pool");
  const nanoseconds seq = logged_time(err[1], "time without using worker pool");
  EXPECT_GE(pool, 2 * job);
  EXPECT_GE(seq, 5 * job);
  // Concurrency, not speed: ideally pool/sequential = 0.4. Sanitizers slow every goroutine start
  // and wake-up by milliseconds, so there only "faster than sequential" is asked.
  EXPECT_LT(pool * 4, seq * (sanitized ? 4 : 3))
      << "pool " << gopp::format_duration(pool) << " vs sequential " << gopp::format_duration(seq);
}

// ---- examples/hello_goroutines.cpp ----

TEST(HelloGoroutinesExample, EveryGoroutineSaysHelloOnce) {
  GOPP_NEED_EXAMPLES();
  const run_result r = run({hello_goroutines_bin});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), 4u) << r.out;
  EXPECT_EQ(lines.back(), "all goroutines said hello");
  lines.pop_back();
  std::sort(lines.begin(), lines.end());
  EXPECT_EQ(lines, (std::vector<std::string>{"hello from goroutine 1", "hello from goroutine 2",
                                             "hello from goroutine 3"}));
}

// ---- examples/fetch_pool.cpp ----

// The seed's pool where each job is a request to a local server that answers after the job
// time: the same shape and promises as pool_vs_sequential, with I/O instead of sleep.
TEST(FetchPoolExample, LogsBothTimesAndThePoolIsFaster) {
  GOPP_NEED_EXAMPLES();
  const run_result r = run({fetch_pool_bin, job_arg});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto out = lines_of(r.out);
  ASSERT_EQ(out.size(), 20u) << r.out;
  EXPECT_GE(check_job_lines({out.begin(), out.begin() + 10}, 5, 3), 2) << "no overlap";
  const std::vector<std::string> sequential(out.begin() + 10, out.end());
  for (int j = 1; j <= 5; ++j) {
    EXPECT_EQ(sequential[2 * j - 2], "worker 1 started  job " + std::to_string(j));
    EXPECT_EQ(sequential[2 * j - 1], "worker 1 finished job " + std::to_string(j));
  }
  const auto err = lines_of(r.err);
  ASSERT_EQ(err.size(), 2u) << r.err;
  const nanoseconds pool = logged_time(err[0], "time using worker pool");
  const nanoseconds seq = logged_time(err[1], "time without using worker pool");
  EXPECT_GE(pool, 2 * job);
  EXPECT_GE(seq, 5 * job);
  EXPECT_LT(pool * 4, seq * (sanitized ? 4 : 3))
      << "pool " << gopp::format_duration(pool) << " vs sequential " << gopp::format_duration(seq);
}

// ---- examples/echo_server.cpp ----

// Starts the echo server on a free port, waits for its "listening on ADDR" line, and returns
// {pid, ADDR}; kills it on failure.
std::pair<pid_t, std::string> start_echo_server() {
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return {-1, ""};
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out[1], STDOUT_FILENO);
    ::execl(echo_server_bin, echo_server_bin, "127.0.0.1:0", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(out[1]);
  std::string text;
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (text.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    pollfd p{out[0], POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    char buf[256];
    const ssize_t n = ::read(out[0], buf, sizeof buf);
    if (n <= 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  ::close(out[0]);
  const std::string prefix = "listening on ";
  if (text.rfind(prefix, 0) != 0 || text.find('\n') == std::string::npos) {
    ADD_FAILURE() << "no \"listening on ADDR\" line: \"" << text << "\"";
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return {-1, ""};
  }
  return {pid, text.substr(prefix.size(), text.find('\n') - prefix.size())};
}

TEST(EchoServerExample, EchoesEveryByteOnEveryConnectionUntilTheClientCloses) {
  GOPP_NEED_EXAMPLES();
  const auto [pid, address] = start_echo_server();
  ASSERT_GT(pid, 0);
  {
    // Three connections at once, each sending 256 KiB in pieces and reading all of it back.
    std::vector<gopp::net::conn> conns;
    for (int i = 0; i < 3; ++i) conns.push_back(gopp::net::dial("tcp", address));
    std::string data(256 * 1024, '\0');
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>('a' + i % 26);
    for (int i = 0; i < 3; ++i) {
      auto& c = conns[static_cast<std::size_t>(i)];
      c.set_deadline(60s);
      std::string got(data.size(), '\0');
      gopp::wait_group wg;
      wg.add(1);
      gopp::go([&] {
        got.resize(c.read_full(std::span(got.data(), got.size())));
        wg.done();
      });
      for (std::size_t off = 0; off < data.size(); off += 10000) {
        c.write(std::string_view(data).substr(off, 10000));
      }
      wg.wait();
      EXPECT_TRUE(got == data) << "connection " << i << " got " << got.size() << " bytes back";
    }
    // Half-close: the server echoes what came before and then closes its side.
    conns[0].write("last words");
    conns[0].close_write();
    std::string tail(64, '\0');
    tail.resize(conns[0].read_full(std::span(tail.data(), tail.size())));
    EXPECT_EQ(tail, "last words");
  }
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFSIGNALED(status)) << "the server ran until it was killed";
}

TEST(EchoServerExample, BadAddressIsReported) {
  GOPP_NEED_EXAMPLES();
  const run_result r = run({echo_server_bin, "127.0.0.1"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("listen tcp: address 127.0.0.1: missing port in address"), std::string::npos)
      << r.err;
}

// ---- tools/gopp_pool ----

TEST(GoppPoolTool, DefaultModeRunsBothAndLogsTheSpeedUp) {
  GOPP_NEED_TOOLS();
  const run_result r = run({gopp_pool_bin, "--job-time", job_arg});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto out = lines_of(r.out);
  ASSERT_EQ(out.size(), 20u) << r.out;
  check_job_lines({out.begin(), out.begin() + 10}, 5, 3);
  EXPECT_EQ(check_job_lines({out.begin() + 10, out.end()}, 5, 1), 1);

  const auto err = lines_of(r.err);
  ASSERT_EQ(err.size(), 3u) << r.err;
  const nanoseconds pool = logged_time(err[0], "time using worker pool");
  const nanoseconds seq = logged_time(err[1], "time without using worker pool");
  EXPECT_GE(pool, 2 * job);
  EXPECT_GE(seq, 5 * job);
  std::smatch m;
  ASSERT_TRUE(std::regex_match(
      err[2], m, std::regex(R"(^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d speed-up: (\d+\.\d\d)x$)")))
      << err[2];
  EXPECT_GT(std::stod(m[1]), sanitized ? 1.0 : 1.33) << "ideal: 2.50";
}

TEST(GoppPoolTool, QuietPoolModeWithMoreWorkers) {
  GOPP_NEED_TOOLS();
  const run_result r = run({gopp_pool_bin, "--quiet", "--mode=pool", "--jobs", "8", "--workers",
                            "8", "--job-time", job_arg});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "");
  const auto err = lines_of(r.err);
  ASSERT_EQ(err.size(), 1u) << r.err;
  const nanoseconds pool = logged_time(err[0], "time using worker pool");
  EXPECT_GE(pool, job);
  EXPECT_LT(pool, 5 * job) << "8 jobs on 8 workers should take one job time, not eight";
}

TEST(GoppPoolTool, SequentialModeUsesOneWorkerInOrder) {
  GOPP_NEED_TOOLS();
  const run_result r =
      run({gopp_pool_bin, "--mode", "sequential", "--jobs", "3", "--job-time", "50ms"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "worker 1 started  job 1\nworker 1 finished job 1\n"
            "worker 1 started  job 2\nworker 1 finished job 2\n"
            "worker 1 started  job 3\nworker 1 finished job 3\n");
  const auto err = lines_of(r.err);
  ASSERT_EQ(err.size(), 1u) << r.err;
  EXPECT_GE(logged_time(err[0], "time without using worker pool"), 150ms);
}

// The bar is for terminals only: with stderr on a pipe, --progress must leave no trace.
TEST(GoppPoolTool, ProgressIsSilentWhenStderrIsNotATerminal) {
  GOPP_NEED_TOOLS();
  const run_result r =
      run({gopp_pool_bin, "--progress", "--quiet", "--jobs", "3", "--job-time", "50ms"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err.find('\r'), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find('\x1b'), std::string::npos) << r.err;
  EXPECT_EQ(lines_of(r.err).size(), 3u) << r.err;
}

TEST(GoppPoolTool, ProgressDrawsABarOnATerminal) {
  GOPP_NEED_TOOLS();
  const run_result r = run({gopp_pool_bin, "--progress", "--quiet", "--mode", "pool", "--jobs", "3",
                            "--job-time", job_arg},
                           stderr_to::terminal);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("\r\x1b[Kpool       [----"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("##] 3/3  "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("\r\x1b[K"), std::string::npos) << "bar cleared before the log line";
  EXPECT_TRUE(std::regex_search(r.err, std::regex(R"(time using worker pool: .*s\r?\n$)")))
      << r.err;
}

TEST(GoppPoolTool, HelpExitsZeroWithUsage) {
  GOPP_NEED_TOOLS();
  const run_result r = run({gopp_pool_bin, "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out.rfind("usage: gopp-pool ", 0), 0u) << r.out;
  EXPECT_EQ(r.err, "");
}

// Each bad command line: exit status 2, nothing on stdout, and on stderr a message naming the
// flag followed by the usage line.
TEST(GoppPoolTool, BadFlagsExitTwoWithAMessageNamingTheFlag) {
  GOPP_NEED_TOOLS();
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--bogus"}, "flag provided but not defined: --bogus"},
      {{"--jobs"}, "flag needs an argument: --jobs"},
      {{"--jobs", "many"}, "invalid value \"many\" for flag --jobs: not a whole number"},
      {{"--workers", "0"}, "invalid value \"0\" for flag --workers: must be at least 1"},
      {{"--job-time", "1x"},
       "invalid value \"1x\" for flag --job-time: time: unknown unit \"x\" in duration \"1x\""},
      {{"--job-time=soon"}, "invalid value \"soon\" for flag --job-time: time: invalid duration"},
      {{"--mode", "fast"}, "invalid value \"fast\" for flag --mode"},
      {{"extra"}, "unexpected argument: extra"},
  };
  for (const auto& [args, message] : cases) {
    std::vector<std::string> argv{gopp_pool_bin};
    argv.insert(argv.end(), args.begin(), args.end());
    const run_result r = run(argv);
    SCOPED_TRACE(args[0]);
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err.rfind("gopp-pool: " + message, 0), 0u) << r.err;
    EXPECT_NE(r.err.find("\nusage: gopp-pool [--jobs N]"), std::string::npos) << r.err;
  }
}

}  // namespace
