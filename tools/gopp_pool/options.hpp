// gopp-pool's command line: the flags, their defaults and their validation, kept apart from the
// program so that tests can check every accepted and rejected command line without running jobs
// (tools/gopp_pool/options_test.cpp).
//
//   const char* argv[] = {"gopp-pool", "--jobs", "8", "--job-time=250ms"};
//   gopp_pool::options o = gopp_pool::parse_options(4, argv);   // o.jobs == 8, o.workers == 3
//
// Flags follow Go's flag package, so a Go user's habits work: `--jobs 8` or `--jobs=8`, one or
// two dashes, and the error texts ("flag provided but not defined: --x", "flag needs an
// argument: --jobs", `invalid value "abc" for flag --jobs: ...`). A bad command line throws
// usage_error; the program prints it with the usage line and exits with status 2, as Go's flag
// package does.
#pragma once

#include <chrono>
#include <stdexcept>
#include <string>
#include <string_view>

namespace gopp_pool {

enum class run_mode { pool, sequential, both };

// The defaults are the seed program: 5 jobs of one second on 3 workers.
struct options {
  int jobs = 5;                                                 // --jobs N (at least 1)
  int workers = 3;                                              // --workers W (at least 1)
  std::chrono::nanoseconds job_time = std::chrono::seconds(1);  // --job-time DURATION (>= 0)
  run_mode mode = run_mode::both;                               // --mode pool|sequential|both
  double rate = 0;        // --rate R: jobs handed out per second (rate::limiter); 0: no limit
  bool quiet = false;     // --quiet: no per-job lines
  bool progress = false;  // --progress: bar on a terminal's stderr
  bool help = false;      // --help, -h
};

// A bad command line; what() names the flag, e.g. `flag needs an argument: --jobs`.
class usage_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Parses argv[1..argc) (argv[0] is the program name). Throws usage_error. Once --help is seen the
// rest is not checked: asking for help always succeeds.
options parse_options(int argc, const char* const* argv);

// "usage: gopp-pool [--jobs N] ...", one line, no newline.
std::string_view usage_line();
// The full --help text, ending with a newline.
std::string help_text();

}  // namespace gopp_pool
