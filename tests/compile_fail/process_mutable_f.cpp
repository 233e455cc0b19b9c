// Must not compile with GOPP_COMPILE_FAIL: process() with a `mutable` lambda. Every worker calls
// the one shared f at the same time, as a const lvalue, so state that f would change per call
// would race; per-worker state goes in storage indexed by the worker id instead.
#include <gopp/gopp.hpp>

int main() {
  gopp::chan<int> jobs(1);
  jobs.close();
#ifdef GOPP_COMPILE_FAIL
  auto results = gopp::process(jobs, 2, [calls = 0](int j) mutable { return j + ++calls; });
#else
  auto results = gopp::process(jobs, 2, [](int j) { return j + 1; });
#endif
  for (int r : results) (void)r;
  return 0;
}
