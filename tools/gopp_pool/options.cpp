// gopp-pool's flag parsing. See options.hpp for the accepted syntax; the messages copy Go's flag
// package, with the flag written as `--name` whichever number of dashes the user typed.
#include "options.hpp"

#include <charconv>
#include <cmath>
#include <limits>
#include <optional>
#include <system_error>

#include "gopp/duration.hpp"

namespace gopp_pool {
namespace {

[[noreturn]] void invalid_value(std::string_view flag, std::string_view value,
                                std::string_view why) {
  throw usage_error("invalid value \"" + std::string(value) + "\" for flag --" + std::string(flag) +
                    ": " + std::string(why));
}

// A whole decimal number, at least 1 (jobs and workers). No sign, no spaces, no trailing junk:
// "+5", " 5" and "5x" are all mistakes worth reporting.
int parse_count(std::string_view flag, std::string_view value) {
  long long n = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (ec == std::errc::result_out_of_range ||
      (ec == std::errc{} && end == value.data() + value.size() &&
       n > std::numeric_limits<int>::max())) {
    invalid_value(flag, value, "out of range");
  }
  if (ec != std::errc{} || end != value.data() + value.size()) {
    invalid_value(flag, value, "not a whole number");
  }
  if (n < 1) invalid_value(flag, value, "must be at least 1");
  return static_cast<int>(n);
}

std::chrono::nanoseconds parse_job_time(std::string_view value) {
  std::chrono::nanoseconds d{};
  try {
    d = gopp::parse_duration(value);
  } catch (const std::invalid_argument& e) {
    invalid_value("job-time", value, e.what());  // Go's text: time: unknown unit "x" in ...
  }
  if (d < std::chrono::nanoseconds::zero())
    invalid_value("job-time", value, "must not be negative");
  return d;
}

// A rate in jobs per second: a decimal number, 0 (no limit) or more.
double parse_rate(std::string_view value) {
  double r = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), r);
  if (ec == std::errc::result_out_of_range) invalid_value("rate", value, "out of range");
  if (ec != std::errc{} || end != value.data() + value.size() || !std::isfinite(r)) {
    invalid_value("rate", value, "not a number");
  }
  if (r < 0) invalid_value("rate", value, "must not be negative");
  return r;
}

run_mode parse_mode(std::string_view value) {
  if (value == "pool") return run_mode::pool;
  if (value == "sequential") return run_mode::sequential;
  if (value == "both") return run_mode::both;
  invalid_value("mode", value, "must be pool, sequential or both");
}

}  // namespace

options parse_options(int argc, const char* const* argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--") {  // the end of the flags, as in Go; gopp-pool takes no other arguments
      if (i + 1 < argc) throw usage_error("unexpected argument: " + std::string(argv[i + 1]));
      break;
    }
    if (arg.size() < 2 || arg[0] != '-') {
      throw usage_error("unexpected argument: " + std::string(arg));
    }
    // "-name", "--name", "--name=value".
    std::string_view name = arg.substr(arg[1] == '-' ? 2 : 1);
    std::optional<std::string_view> inline_value;
    if (const auto eq = name.find('='); eq != std::string_view::npos) {
      inline_value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    const std::string shown = "--" + std::string(name);

    if (name == "help" || name == "h") {
      o.help = true;
      return o;
    }
    if (name == "quiet" || name == "progress") {
      if (inline_value) throw usage_error("flag " + shown + " takes no value");
      (name == "quiet" ? o.quiet : o.progress) = true;
      continue;
    }
    if (name != "jobs" && name != "workers" && name != "job-time" && name != "mode" &&
        name != "rate") {
      throw usage_error("flag provided but not defined: " + std::string(arg));
    }
    // A flag with a value: "--name=value" or "--name value".
    std::string_view value;
    if (inline_value) {
      value = *inline_value;
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      throw usage_error("flag needs an argument: " + shown);
    }
    if (name == "jobs") {
      o.jobs = parse_count(name, value);
    } else if (name == "workers") {
      o.workers = parse_count(name, value);
    } else if (name == "job-time") {
      o.job_time = parse_job_time(value);
    } else if (name == "rate") {
      o.rate = parse_rate(value);
    } else {
      o.mode = parse_mode(value);
    }
  }
  return o;
}

std::string_view usage_line() {
  return "usage: gopp-pool [--jobs N] [--workers W] [--job-time DURATION] "
         "[--mode pool|sequential|both] [--rate R] [--quiet] [--progress] [--help]";
}

std::string help_text() {
  return std::string(usage_line()) + R"(

Runs N jobs that each take DURATION on a pool of W worker goroutines fed by a channel (the
"Go by Example: Worker Pools" program), then the same jobs one after another on a single worker,
and logs both times and the speed-up.

  --jobs N             jobs to run (default 5)
  --workers W          worker goroutines in the pool (default 3)
  --job-time DURATION  how long each job takes, in Go's syntax: 1s, 250ms, 1.5s (default 1s)
  --mode MODE          pool, sequential or both (default both)
  --rate R             hand out at most R jobs per second, through gopp::rate::limiter (a
                       decimal number, e.g. 2 or 0.5; default 0: no limit)
  --quiet              no "worker .. started/finished job .." lines
  --progress           show a progress bar on standard error when it is a terminal
  --help, -h           show this help

Flags take one or two dashes, and "--flag value" or "--flag=value". Job lines go to standard
output; timings go to standard error in Go's log format. Exit status: 0 on success, 2 for a bad
command line.
)";
}

}  // namespace gopp_pool
