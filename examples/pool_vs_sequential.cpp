// The worker-pool blog program: the same five one-second jobs run on a pool of three worker
// goroutines, then one after another without a pool, each run timed by a deferred timer that logs
// like Go's log.Printf:
//
//   2021/03/18 09:25:25 time using worker pool: 2.000943787s
//   2021/03/18 09:25:30 time without using worker pool: 5.001234313s
//
// The timer is Go's idiom `defer timer("name")()`:
//
//   func timer(name string) func() {
//       start := time.Now()
//       return func() { log.Printf("%s: %s", name, time.Since(start)) }
//   }
//
// which in gopp is `gopp::defer stop{timer("name")};`.
//
// Usage: pool_vs_sequential [JOB_TIME]   JOB_TIME in Go's duration syntax, default 1s. Job lines
// go to standard output (one printf each, so they never mix), timings to standard error.
#include <gopp/chan.hpp>
#include <gopp/defer.hpp>
#include <gopp/duration.hpp>
#include <gopp/go.hpp>
#include <gopp/log.hpp>

#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>

namespace {

const int numJobs = 5;

// Set once in main before the first go(), which happens-before every worker's read of it.
std::chrono::nanoseconds job_time = std::chrono::seconds(1);

// Returns a function that logs how long ago timer was called.
auto timer(std::string name) {
  const auto start = std::chrono::steady_clock::now();
  return [name = std::move(name), start] {
    const auto elapsed = std::chrono::steady_clock::now() - start;  // Go: time.Since(start)
    gopp::log_printf("%s: %s", name.c_str(), gopp::format_duration(elapsed).c_str());
  };
}

void worker(int id, gopp::recv_chan<int> jobs, gopp::send_chan<int> results) {
  for (int j : jobs) {
    std::printf("worker %d started  job %d\n", id, j);
    gopp::sleep_for(job_time);
    std::printf("worker %d finished job %d\n", id, j);
    results.send(j * 2);
  }
}

// Three workers share the jobs: about two job times for five jobs.
void with_pool() {
  gopp::defer stop{timer("time using worker pool")};

  gopp::chan<int> jobs(numJobs);
  gopp::chan<int> results(numJobs);
  for (int w = 1; w <= 3; w++) {
    gopp::go(worker, w, jobs, results);
  }
  for (int j = 1; j <= numJobs; j++) {
    jobs.send(j);
  }
  jobs.close();
  for (int a = 1; a <= numJobs; a++) {
    results.recv();
  }
}

// No goroutines: this thread works through the jobs itself, one after another (five job times).
// The channels are buffered to hold every job and result, so nothing here ever waits on another.
void without_pool() {
  gopp::defer stop{timer("time without using worker pool")};

  gopp::chan<int> jobs(numJobs);
  gopp::chan<int> results(numJobs);
  for (int j = 1; j <= numJobs; j++) {
    jobs.send(j);
  }
  jobs.close();
  worker(1, jobs, results);
  for (int a = 1; a <= numJobs; a++) {
    results.recv();
  }
}

}  // namespace

int main(int argc, char** argv) {
  // Go's os.Stdout is unbuffered. Line buffering gives the same effect for whole lines: each
  // printf goes out at once, so lines keep their time order even when stdout and stderr are
  // redirected to one file.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  if (argc > 1) {
    try {
      job_time = gopp::parse_duration(argv[1]);
    } catch (const std::invalid_argument& e) {
      std::fprintf(stderr, "pool_vs_sequential: %s\nusage: pool_vs_sequential [JOB_TIME]\n",
                   e.what());
      return 2;
    }
  }
  with_pool();
  without_pool();
}
