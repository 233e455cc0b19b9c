// bench/harness/harness.hpp: what every C++ program of the benchmark set shares (gopp-bench and the
// peers): the command line (--quick, --only B3), the warm-up-then-timed rule, the output format
// of bench/README.md and the peak-memory reading of B6. Header-only so that each program stays one
// file plus this.
//
//   B1 pingpong ns_per_roundtrip=183.2
//   B7 select2 n/a (no select over Boost.Fiber channels)
#pragma once

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <span>
#include <sstream>
#include <string>

namespace bench {

using clock = std::chrono::steady_clock;

struct options {
  int scale = 1;     // 10 under --quick: every size is divided by it
  std::string only;  // "B3" under --only B3; empty: all but B6

  int sized(int n) const { return n / scale; }
};

// Runs body once untimed (the warm-up), then once timed; returns the timed duration.
template <class F>
std::chrono::nanoseconds timed(F&& body) {
  body();
  auto start = clock::now();
  body();
  return clock::now() - start;
}

inline std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

// "<metric>=<nanoseconds per unit>" with one decimal.
inline std::string ns_per(const char* metric, std::chrono::nanoseconds d, long n) {
  return std::string(metric) + "=" + fixed(double(d.count()) / double(n), 1);
}

inline std::string ms_total(std::chrono::nanoseconds d) {
  return "ms_total=" + fixed(double(d.count()) / 1e6, 1);
}

inline double seconds(std::chrono::nanoseconds d) {
  return double(d.count()) / 1e9;
}

// What a program prints for a benchmark it cannot express.
inline std::string not_applicable(const std::string& reason) {
  return "n/a (" + reason + ")";
}

// Peak resident set size in MiB (VmHWM in /proc/self/status), as "vmhwm_mb=<v>".
inline std::string vmhwm_mb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) {
      std::istringstream in(line.substr(6));
      double kib = 0;
      in >> kib;
      return "vmhwm_mb=" + fixed(kib / 1024, 1);
    }
  }
  return "vmhwm_mb=nan";
}

struct benchmark {
  const char* id;
  const char* name;
  // Runs the benchmark; returns its metrics ("ns_per_item=12.3") or not_applicable(reason).
  std::function<std::string(const options&)> run;
};

// Parses the command line, runs the selected benchmarks in order and prints one line each.
inline int run_main(int argc, char** argv, std::span<const benchmark> set) {
  options opt;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      opt.scale = 10;
    } else if (std::strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
      opt.only = argv[++i];
    } else {
      std::fprintf(stderr, "usage: %s [--quick] [--only B1..B8|B14]\n", argv[0]);
      return 2;
    }
  }
  bool found = false;
  for (const benchmark& b : set) {
    if (opt.only.empty() ? std::strcmp(b.id, "B6") == 0 : opt.only != b.id) continue;
    found = true;
    std::string metrics = b.run(opt);
    std::printf("%s %s %s\n", b.id, b.name, metrics.c_str());
    std::fflush(stdout);
  }
  if (!found) {
    std::fprintf(stderr, "%s: no benchmark \"%s\"\n", argv[0], opt.only.c_str());
    return 2;
  }
  return 0;
}

}  // namespace bench
