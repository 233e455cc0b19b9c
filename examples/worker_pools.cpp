// Go by Example: Worker Pools (https://gobyexample.com/worker-pools), line for line in gopp.
//
// Three worker goroutines take jobs from a channel and send results on another; each job takes a
// second, so the five jobs finish in about two seconds instead of five. Go's original:
//
//   func worker(id int, jobs <-chan int, results chan<- int) {
//       for j := range jobs {
//           fmt.Println("worker", id, "started  job", j)
//           time.Sleep(time.Second)
//           fmt.Println("worker", id, "finished job", j)
//           results <- j * 2
//       }
//   }
//
//   func main() {
//       const numJobs = 5
//       jobs := make(chan int, numJobs)
//       results := make(chan int, numJobs)
//       for w := 1; w <= 3; w++ {
//           go worker(w, jobs, results)
//       }
//       for j := 1; j <= numJobs; j++ {
//           jobs <- j
//       }
//       close(jobs)
//       for a := 1; a <= numJobs; a++ {
//           <-results
//       }
//   }
//
// Usage: worker_pools [JOB_TIME]   JOB_TIME in Go's duration syntax, default 1s (the tests use a
// shorter one). Each line is printed with a single printf call, so lines from concurrent workers
// never mix.
#include <gopp/chan.hpp>
#include <gopp/duration.hpp>
#include <gopp/go.hpp>

#include <chrono>
#include <cstdio>
#include <stdexcept>

namespace {

// How long a job takes. Set once in main before the first go(), which happens-before every
// worker's read of it.
std::chrono::nanoseconds job_time = std::chrono::seconds(1);

void worker(int id, gopp::recv_chan<int> jobs, gopp::send_chan<int> results) {
  for (int j : jobs) {
    std::printf("worker %d started  job %d\n", id, j);
    gopp::sleep_for(job_time);
    std::printf("worker %d finished job %d\n", id, j);
    results.send(j * 2);
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
      std::fprintf(stderr, "worker_pools: %s\nusage: worker_pools [JOB_TIME]\n", e.what());
      return 2;
    }
  }

  const int numJobs = 5;
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
