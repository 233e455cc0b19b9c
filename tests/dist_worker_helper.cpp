// A worker process for tests/dist_test.cpp's fault tests (kill -9, SIGSTOP, SIGTERM, poison):
//   dist_worker_helper <redis url> <queue> <goroutines> <lease ms> <job ms> [poison value]
// Handler: counts each execution in the hash test:<queue>:exec (field: job id), waits job ms
// (or until its context ends: then counts test:<queue>:lost), returns x * x. A job whose value
// is the poison value aborts the process (a crash in the middle of a job). SIGTERM drains:
// shutdown(), then exit 0.
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <gopp/dist.hpp>
#include <gopp/gopp.hpp>
#include <string>
#include <thread>

#include "dist/redis_client.hpp"

int main(int argc, char** argv) {
  if (argc < 6) {
    std::fprintf(stderr, "usage: %s url queue goroutines lease_ms job_ms [poison]\n", argv[0]);
    return 2;
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  const std::string url = argv[1], queue = argv[2];
  const auto job_time = std::chrono::milliseconds(std::atoll(argv[5]));
  const long long poison = argc > 6 ? std::atoll(argv[6]) : -1;
  gopp::dist::options o;
  o.broker = url;
  o.queue = queue;
  o.lease = std::chrono::milliseconds(std::atoll(argv[4]));
  o.max_deliveries = 3;
  o.drain_timeout = std::chrono::seconds(10);
  o.warn_unsafe_redis = false;

  gopp::dist::detail::redis_options ro;
  ro.address = gopp::dist::detail::parse_redis_url(url);
  gopp::dist::detail::redis_client counters(ro);
  const std::string exec_key = "test:" + queue + ":exec", lost_key = "test:" + queue + ":lost";
  auto count = [&](const gopp::dist::detail::command& c) {
    for (int i = 0; i < 100; ++i) {
      try {
        counters.call(c);
        return;
      } catch (const std::exception&) {
        gopp::sleep_for(std::chrono::milliseconds(50));
      }
    }
  };

  gopp::dist::worker<long long, long long> w(
      o, static_cast<std::size_t>(std::atoi(argv[3])),
      [&](gopp::context ctx, const gopp::dist::job<long long>& j) {
        count({"HINCRBY", exec_key, j.id(), "1"});
        if (*j == poison) std::abort();
        bool lost = false;
        gopp::select(gopp::recv_case(ctx.done(), [&](auto) { lost = true; }),
                     gopp::recv_case(gopp::after(job_time)));
        if (lost) count({"INCR", lost_key});
        return *j * *j;
      });
  std::printf("ready\n");
  std::fflush(stdout);
  int sig = 0;
  sigwait(&set, &sig);
  w.shutdown();
  const auto s = w.stats();
  std::printf("drained completed=%llu released=%llu\n",
              static_cast<unsigned long long>(s.completed),
              static_cast<unsigned long long>(s.released));
  return 0;
}
