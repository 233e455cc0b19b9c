// B10 (bench/README.md, BENCHSET.md), gopp's side: tiny jobs (x -> x + 1) through gopp::dist.
//   b10-gopp worker  URL QUEUE CONCURRENCY        runs until SIGTERM (prints "ready")
//   b10-gopp produce URL QUEUE N WORKER_PIDS REDIS_PID
// produce runs two phases and prints one line "key=value ..." per phase:
//   phased: the workers are stopped (SIGSTOP); N jobs submitted; enqueue-only time = until the
//           stream holds N; workers resumed (SIGCONT); drain-only time = until every result is in;
//   e2e:    with the workers running: N jobs submitted, every result back;
//           CPU per job over all processes (producer, workers, redis-server) from /proc.
#include <signal.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <gopp/dist.hpp>
#include <gopp/gopp.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

double cpu_seconds_of(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(f)), {});
  const auto close = s.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream in(s.substr(close + 2));
  std::string field;
  long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && in >> field; ++i) {
    if (i == 14) utime = std::stoll(field);
    if (i == 15) stime = std::stoll(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double total_cpu(const std::vector<int>& pids) {
  double t = cpu_seconds_of(getpid());
  for (int p : pids) t += cpu_seconds_of(p);
  return t;
}

void wait_results(const gopp::dist::client<long long, long long>& c, std::uint64_t n) {
  while (c.stats().results < n) gopp::sleep_for(std::chrono::milliseconds(1));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: b10-gopp worker URL QUEUE C | produce URL QUEUE N PIDS REDIS\n");
    return 2;
  }
  const std::string mode = argv[1];
  gopp::dist::options o;
  o.broker = argv[2];
  o.queue = argv[3];
  if (mode == "worker") {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    gopp::dist::worker<long long, long long> w(
        o, static_cast<std::size_t>(std::atoi(argv[4])),
        [](gopp::context, const gopp::dist::job<long long>& j) { return *j + 1; });
    std::printf("ready\n");
    std::fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    w.shutdown();
    return 0;
  }
  const long long n = std::atoll(argv[4]);
  std::vector<int> workers;
  for (std::stringstream ss(argv[5]); ss.good();) {
    std::string p;
    std::getline(ss, p, ',');
    if (!p.empty()) workers.push_back(std::stoi(p));
  }
  std::vector<int> all = workers;
  all.push_back(std::atoi(argv[6]));

  {  // phased: enqueue-only, then drain-only
    for (int p : workers) kill(p, SIGSTOP);
    gopp::dist::client<long long, long long> c(o);
    const auto t0 = clock_type::now();
    std::vector<gopp::dist::future<long long>> fs;
    fs.reserve(static_cast<std::size_t>(n));
    for (long long i = 0; i < n; ++i) fs.push_back(c.submit(i));
    while (gopp::dist::inspect(o).stream_length < static_cast<std::uint64_t>(n)) {
      gopp::sleep_for(std::chrono::milliseconds(2));
    }
    const auto t1 = clock_type::now();
    for (int p : workers) kill(p, SIGCONT);
    wait_results(c, static_cast<std::uint64_t>(n));
    const auto t2 = clock_type::now();
    const double enq = std::chrono::duration<double>(t1 - t0).count();
    const double drain = std::chrono::duration<double>(t2 - t1).count();
    std::printf("phase=enqueue jobs=%lld seconds=%.3f jobs_per_s=%.0f\n", n, enq, n / enq);
    std::printf("phase=drain jobs=%lld seconds=%.3f jobs_per_s=%.0f\n", n, drain, n / drain);
  }
  // e2e on the same queue, empty again (its stream is trimmed below what is acknowledged).
  gopp::dist::client<long long, long long> c(o);
  const double cpu0 = total_cpu(all);
  const auto t0 = clock_type::now();
  std::vector<gopp::dist::future<long long>> fs;
  fs.reserve(static_cast<std::size_t>(n));
  for (long long i = 0; i < n; ++i) fs.push_back(c.submit(i));
  long long bad = 0;
  for (long long i = 0; i < n; ++i) bad += fs[static_cast<std::size_t>(i)].get() != i + 1;
  const double secs = std::chrono::duration<double>(clock_type::now() - t0).count();
  const double cpu = total_cpu(all) - cpu0;
  std::printf("phase=e2e jobs=%lld seconds=%.3f jobs_per_s=%.0f cpu_us_per_job=%.1f wrong=%lld\n",
              n, secs, n / secs, cpu * 1e6 / static_cast<double>(n), bad);
  return bad ? 1 : 0;
}
