// Must not compile with GOPP_COMPILE_FAIL: a wait_group passed to go() without std::ref (go
// copies its arguments, as std::thread does, and a wait_group cannot be copied); the error must
// say the fix.
#include <gopp/gopp.hpp>

#include <functional>

void worker(gopp::wait_group& wg) {
  wg.done();
}

int main() {
  gopp::wait_group wg;
  wg.add(1);
#ifdef GOPP_COMPILE_FAIL
  gopp::go(worker, wg);
#else
  gopp::go(worker, std::ref(wg));
#endif
  wg.wait();
  return 0;
}
