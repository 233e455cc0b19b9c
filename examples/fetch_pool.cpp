// The seed's worker pool with real I/O: each job is a request to a local server that answers
// after JOB_TIME, so a worker spends the job parked on its socket instead of in sleep_for. Five
// jobs on three worker goroutines take about two job times; the same five fetched one after
// another by one thread take five. Timings are logged like the seed's pool_vs_sequential:
//
//   2021/03/18 09:25:25 time using worker pool: 2.003943787s
//   2021/03/18 09:25:30 time without using worker pool: 5.004234313s
//
// The server is started here too: a goroutine accepts, and each request gets a goroutine that
// reads "job N\n", waits JOB_TIME, and answers "result 2N\n" before closing. A waiting job costs
// a parked goroutine on each side, no thread.
//
// Usage: fetch_pool [JOB_TIME]   JOB_TIME in Go's duration syntax, default 1s. Job lines go to
// standard output (one printf each), timings to standard error.
#include <gopp/chan.hpp>
#include <gopp/defer.hpp>
#include <gopp/duration.hpp>
#include <gopp/go.hpp>
#include <gopp/log.hpp>
#include <gopp/net.hpp>

#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>

namespace {

const int numJobs = 5;

// Set once in main before the first go(), which happens-before every goroutine's read of it.
std::chrono::nanoseconds job_time = std::chrono::seconds(1);

auto timer(std::string name) {
  const auto start = std::chrono::steady_clock::now();
  return [name = std::move(name), start] {
    const auto elapsed = std::chrono::steady_clock::now() - start;
    gopp::log_printf("%s: %s", name.c_str(), gopp::format_duration(elapsed).c_str());
  };
}

// Reads one '\n'-terminated line (without the '\n'), or what came before end of file.
std::string read_line(gopp::net::conn& c) {
  std::string line;
  char ch;
  while (c.read(std::span(&ch, 1)) == 1 && ch != '\n') line += ch;
  return line;
}

// The server: "job N" -> (JOB_TIME later) "result 2N".
void serve(gopp::net::listener ln) {
  try {
    for (;;) {
      gopp::go(
          [](gopp::net::conn c) {
            const std::string request = read_line(c);
            gopp::sleep_for(job_time);  // the server's work; the client waits on its socket
            const int n = std::stoi(request.substr(4));
            c.write("result " + std::to_string(2 * n) + "\n");
            c.close();
          },
          ln.accept());
    }
  } catch (const gopp::net::op_error&) {  // the listener was closed: the program is ending
  }
}

// One job: a request and its answer over a new connection.
int fetch(const std::string& address, int j) {
  gopp::net::conn c = gopp::net::dial("tcp", address);
  c.write("job " + std::to_string(j) + "\n");
  const std::string reply = read_line(c);  // parks here for about JOB_TIME
  return std::stoi(reply.substr(7));
}

void worker(int id, std::string address, gopp::recv_chan<int> jobs, gopp::send_chan<int> results) {
  for (int j : jobs) {
    std::printf("worker %d started  job %d\n", id, j);
    const int result = fetch(address, j);
    std::printf("worker %d finished job %d\n", id, j);
    results.send(result);
  }
}

void with_pool(const std::string& address) {
  gopp::defer stop{timer("time using worker pool")};
  gopp::chan<int> jobs(numJobs);
  gopp::chan<int> results(numJobs);
  for (int w = 1; w <= 3; w++) {
    gopp::go(worker, w, address, jobs, results);
  }
  for (int j = 1; j <= numJobs; j++) {
    jobs.send(j);
  }
  jobs.close();
  for (int a = 1; a <= numJobs; a++) {
    results.recv();
  }
}

// No goroutines on the client side: this thread fetches the jobs one after another.
void without_pool(const std::string& address) {
  gopp::defer stop{timer("time without using worker pool")};
  gopp::chan<int> jobs(numJobs);
  gopp::chan<int> results(numJobs);
  for (int j = 1; j <= numJobs; j++) {
    jobs.send(j);
  }
  jobs.close();
  worker(1, address, jobs, results);
  for (int a = 1; a <= numJobs; a++) {
    results.recv();
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  if (argc > 1) {
    try {
      job_time = gopp::parse_duration(argv[1]);
    } catch (const std::invalid_argument& e) {
      std::fprintf(stderr, "fetch_pool: %s\nusage: fetch_pool [JOB_TIME]\n", e.what());
      return 2;
    }
  }
  gopp::net::listener ln = gopp::net::listen("tcp", "127.0.0.1:0");
  const std::string address = ln.addr().to_string();
  gopp::go(serve, ln);
  with_pool(address);
  without_pool(address);
  ln.close();
}
