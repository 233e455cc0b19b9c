// gopp-pool: the worker-pool seed as a command-line program. It runs N jobs of a given length on
// W worker goroutines fed by a channel, then on a single worker, and logs both times and the
// speed-up in Go's log format:
//
//   $ gopp-pool --quiet
//   2021/03/18 09:25:25 time using worker pool: 2.000943787s
//   2021/03/18 09:25:30 time without using worker pool: 5.001234313s
//   2021/03/18 09:25:30 speed-up: 2.50x
//
// The workers are the seed's hand-written pattern (go(worker, ...) ranging over a chan<int>, a
// results channel), not gopp's worker_pool component: the program shows what the seed does and
// depends only on goroutines and channels. The sequential run is the same code with one worker,
// so the two runs differ in nothing but the number of workers.
//
// Exit status: 0 on success, 2 for a bad command line (the message names the flag, as Go's flag
// package does), 1 if the run itself fails.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <exception>
#include <optional>

#include "distributed.hpp"
#include "gopp/chan.hpp"
#include "gopp/duration.hpp"
#include "gopp/go.hpp"
#include "gopp/log.hpp"
#include "gopp/rate.hpp"
#include "gopp/select.hpp"
#include "gopp/time.hpp"
#include "options.hpp"
#include "progress_bar.hpp"

namespace {

using std::chrono::nanoseconds;
using std::chrono::steady_clock;

// What every worker needs besides its channels; passed by value into each goroutine.
struct job_settings {
  nanoseconds job_time;
  bool print_lines;
  // Erases a progress bar drawn on the same terminal before a job line is printed over it.
  const char* line_start;
};

// The seed's worker: Go by Example's, with the job time and the printing from the settings.
void worker(int id, gopp::recv_chan<int> jobs, gopp::send_chan<int> results, job_settings s) {
  for (int j : jobs) {
    if (s.print_lines) std::printf("%sworker %d started  job %d\n", s.line_start, id, j);
    gopp::sleep_for(s.job_time);
    if (s.print_lines) std::printf("%sworker %d finished job %d\n", s.line_start, id, j);
    results.send(j * 2);
  }
}

// Runs every job on `workers` worker goroutines and returns the wall time from the first go() to
// the last result received.
nanoseconds run_jobs(const gopp_pool::options& o, int workers, const char* label) {
  const gopp_pool::progress_bar bar(label, o.jobs, o.progress && ::isatty(STDERR_FILENO));
  const job_settings settings{o.job_time, !o.quiet,
                              bar.enabled() && ::isatty(STDOUT_FILENO) ? "\r\x1b[K" : ""};
  const auto start = steady_clock::now();

  gopp::chan<int> jobs(o.jobs);  // buffered to hold every job, as in the seed
  gopp::chan<int> results(o.jobs);
  for (int w = 1; w <= workers; w++) gopp::go(worker, w, jobs, results, settings);
  // --rate: the feeder takes a token before each job (burst 1: evenly spaced).
  std::optional<gopp::rate::limiter> limit;
  if (o.rate > 0) limit.emplace(o.rate, 1);
  for (int j = 1; j <= o.jobs; j++) {
    if (limit) (void)limit->wait(gopp::background());  // background never ends: cannot fail
    jobs.send(j);
  }
  jobs.close();

  if (!bar.enabled()) {
    for (int a = 1; a <= o.jobs; a++) results.recv();
    return steady_clock::now() - start;
  }
  // With a bar: wake up for each result and ten times a second, so the elapsed time stays live
  // while every worker is busy.
  gopp::ticker tick(std::chrono::milliseconds(100));
  for (int done = 0; done < o.jobs;) {
    gopp::select(gopp::recv_case(results, [&](std::optional<int>) { ++done; }),
                 gopp::recv_case(tick.c()));
    bar.draw(done, steady_clock::now() - start);
  }
  const nanoseconds elapsed = steady_clock::now() - start;
  tick.stop();
  bar.clear();
  return elapsed;
}

void log_time(const char* name, nanoseconds elapsed) {
  gopp::log_printf("%s: %s", name, gopp::format_duration(elapsed).c_str());
}

}  // namespace

int main(int argc, char** argv) {
  // worker / run / stats: the seed across processes on a Redis broker (distributed.cpp).
  if (argc > 1 && gopp_pool::is_distributed_command(argv[1])) {
    return gopp_pool::distributed_main(argc, argv);
  }
  gopp_pool::options o;
  try {
    o = gopp_pool::parse_options(argc, argv);
  } catch (const gopp_pool::usage_error& e) {
    std::fprintf(stderr, "gopp-pool: %s\n%.*s\nRun 'gopp-pool --help' for details.\n", e.what(),
                 static_cast<int>(gopp_pool::usage_line().size()), gopp_pool::usage_line().data());
    return 2;
  }
  if (o.help) {
    std::fputs(gopp_pool::help_text().c_str(), stdout);
    return 0;
  }
  // Go's os.Stdout is unbuffered; line buffering gives each job line its own write at once, so
  // job lines and log lines keep their time order when both are redirected to one file.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);

  try {
    using gopp_pool::run_mode;
    std::optional<nanoseconds> pool, sequential;
    if (o.mode != run_mode::sequential) {
      pool = run_jobs(o, o.workers, "pool");
      log_time("time using worker pool", *pool);
    }
    if (o.mode != run_mode::pool) {
      sequential = run_jobs(o, 1, "sequential");
      log_time("time without using worker pool", *sequential);
    }
    if (pool && sequential && pool->count() > 0) {
      gopp::log_printf("speed-up: %.2fx", static_cast<double>(sequential->count()) /
                                              static_cast<double>(pool->count()));
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gopp-pool: %s\n", e.what());
    return 1;
  }
  return 0;
}
