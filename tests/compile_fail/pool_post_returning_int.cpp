// Must not compile with GOPP_COMPILE_FAIL: posting (fire and forget) a task that returns int,
// whose result would be dropped; submit() is the way to get a result. Issue 15.
#include <gopp/gopp.hpp>

#include <system_error>

int main() {
  gopp::worker_pool pool(1);
#ifdef GOPP_COMPILE_FAIL
  pool.post([] { return 1; });
#else
  pool.post([] { return std::error_code(); });
  pool.post([] {});
  (void)pool.submit([] { return 1; }).get();
#endif
  pool.wait();
  return 0;
}
