// gopp-pool worker / run / stats: the seed across processes on gopp::dist.
//
//   terminal 1: gopp-pool worker --broker redis://127.0.0.1:6379 --workers 2
//   terminal 2: gopp-pool worker --broker redis://127.0.0.1:6379 --workers 1
//   terminal 3: gopp-pool run --broker redis://127.0.0.1:6379 --jobs 5 --job-time 1s
//
// A job is {number, job time}; a worker sleeps the job time and returns number * 2, printing
// the seed's "worker W started  job J" / "worker W finished job J" lines (W numbers the
// process's goroutines from 1). `run` prints "result of job J: R" as each result arrives, then
// the seed's "time using worker pool: ..." log line. Before anything else each command asks the
// broker for the queue's state, so a bad URL or a Redis that is down is one line and exit 1.
#include "distributed.hpp"

#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>

#include "gopp/dist.hpp"
#include "gopp/duration.hpp"
#include "gopp/go.hpp"
#include "gopp/log.hpp"
#include "gopp/sync.hpp"
#include "gopp/time.hpp"

namespace gopp_pool {

namespace {

struct seed_job {
  int number;
  long long job_ns;
};

struct dist_args {
  std::string command;
  std::string broker = "redis://127.0.0.1:6379";
  std::string queue = "gopp-pool";
  int workers = 3;
  int jobs = 5;
  std::chrono::nanoseconds job_time = std::chrono::seconds(1);
};

const char* const dist_usage =
    "usage: gopp-pool worker|run|stats --broker redis://host:port [--queue NAME] "
    "[--workers N] [--jobs N] [--job-time D]";

dist_args parse(int argc, char** argv) {
  dist_args a;
  a.command = argv[1];
  for (int i = 2; i < argc; ++i) {
    std::string flag = argv[i];
    std::string value;
    if (auto eq = flag.find('='); eq != std::string::npos) {
      value = flag.substr(eq + 1);
      flag = flag.substr(0, eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      throw std::invalid_argument("flag needs an argument: " + flag);
    }
    auto number = [&](int min) {
      char* end = nullptr;
      const long v = std::strtol(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || v < min || v > 1000000) {
        throw std::invalid_argument("invalid value \"" + value + "\" for flag " + flag);
      }
      return static_cast<int>(v);
    };
    if (flag == "--broker" || flag == "-broker") {
      a.broker = value;
    } else if (flag == "--queue" || flag == "-queue") {
      a.queue = value;
    } else if (flag == "--workers" || flag == "-workers") {
      a.workers = number(1);
    } else if (flag == "--jobs" || flag == "-jobs") {
      a.jobs = number(0);
    } else if (flag == "--job-time" || flag == "-job-time") {
      try {
        a.job_time = gopp::parse_duration(value);
      } catch (const std::exception&) {
        throw std::invalid_argument("invalid value \"" + value + "\" for flag " + flag);
      }
    } else {
      throw std::invalid_argument("flag provided but not defined: " + flag);
    }
  }
  return a;
}

gopp::dist::options options_of(const dist_args& a) {
  gopp::dist::options o;
  o.broker = a.broker;
  o.queue = a.queue;
  o.lease = std::max<std::chrono::milliseconds>(
      std::chrono::seconds(30),
      std::chrono::duration_cast<std::chrono::milliseconds>(a.job_time) * 3);
  return o;
}

int worker_command(const dist_args& a) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  const auto o = options_of(a);
  gopp::dist::inspect(o);  // the broker answers, or one line and exit 1
  std::mutex mu;
  std::map<std::uint64_t, int> number_of;  // goroutine id -> worker number
  gopp::dist::worker<seed_job, int> w(o, static_cast<std::size_t>(a.workers),
                                      [&](gopp::context, const gopp::dist::job<seed_job>& j) {
                                        int me = 0;
                                        {
                                          std::lock_guard lk(mu);
                                          auto [it, fresh] =
                                              number_of.emplace(gopp::goroutine_id(), 0);
                                          if (fresh)
                                            it->second = static_cast<int>(number_of.size());
                                          me = it->second;
                                        }
                                        std::printf("worker %d started  job %d\n", me, j->number);
                                        gopp::sleep_for(std::chrono::nanoseconds(j->job_ns));
                                        std::printf("worker %d finished job %d\n", me, j->number);
                                        return j->number * 2;
                                      });
  std::fprintf(stderr, "gopp-pool: %d workers on %s (queue %s); Ctrl-C drains and exits\n",
               a.workers, a.broker.c_str(), a.queue.c_str());
  int sig = 0;
  sigwait(&set, &sig);
  w.shutdown();
  return 0;
}

int run_command(const dist_args& a) {
  const auto o = options_of(a);
  gopp::dist::inspect(o);
  gopp::dist::client<seed_job, int> c(o);
  const auto start = std::chrono::steady_clock::now();
  gopp::chan<seed_job> jobs(a.jobs > 0 ? a.jobs : 1);
  auto results = gopp::dist::process(c, jobs);
  for (int j = 1; j <= a.jobs; ++j) jobs.send(seed_job{j, a.job_time.count()});
  jobs.close();
  int failed = 0;
  for (const auto& r : results) {
    const int number = static_cast<int>(r.index) + 1;
    if (r.value) {
      std::printf("result of job %d: %d\n", number, *r.value);
    } else {
      std::printf("job %d failed: %s\n", number, r.error.c_str());
      ++failed;
    }
  }
  gopp::log_printf("time using worker pool: %s",
                   gopp::format_duration(std::chrono::steady_clock::now() - start).c_str());
  return failed ? 1 : 0;
}

int stats_command(const dist_args& a) {
  const auto s = gopp::dist::inspect(options_of(a));
  std::printf("queue %s on %s\n", a.queue.c_str(), a.broker.c_str());
  std::printf("  waiting:    %llu\n", static_cast<unsigned long long>(s.waiting));
  std::printf("  in flight:  %llu\n", static_cast<unsigned long long>(s.in_flight));
  for (const auto& [consumer, n] : s.in_flight_by_consumer) {
    std::printf("    %s: %llu\n", consumer.c_str(), static_cast<unsigned long long>(n));
  }
  std::printf("  retrying:   %llu\n", static_cast<unsigned long long>(s.retrying));
  std::printf("  dead:       %llu\n", static_cast<unsigned long long>(s.dead));
  std::printf("  oldest job: %s\n", gopp::format_duration(s.oldest_age).c_str());
  return 0;
}

}  // namespace

bool is_distributed_command(std::string_view arg) noexcept {
  return arg == "worker" || arg == "run" || arg == "stats";
}

int distributed_main(int argc, char** argv) {
  dist_args a;
  try {
    a = parse(argc, argv);
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "gopp-pool: %s\n%s\n", e.what(), dist_usage);
    return 2;
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  try {
    if (a.command == "worker") return worker_command(a);
    if (a.command == "run") return run_command(a);
    return stats_command(a);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gopp-pool: %s\n", e.what());
    return 1;
  }
}

}  // namespace gopp_pool
