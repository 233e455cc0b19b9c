// Must not compile with GOPP_COMPILE_FAIL: a group task returning int (its result would be
// dropped silently; a task reports failure by returning std::error_code or throwing). Issue 15.
#include <gopp/gopp.hpp>

#include <system_error>

int main() {
  gopp::group g;
#ifdef GOPP_COMPILE_FAIL
  g.go([] { return 1; });
#else
  g.go([] { return std::error_code(); });
  g.go([](gopp::context) {});
#endif
  g.wait();
  return 0;
}
