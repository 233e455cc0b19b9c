// Must not compile with GOPP_COMPILE_FAIL: a send_case handler that takes an argument; the
// error must say that it takes none.
#include <gopp/gopp.hpp>

int main() {
  gopp::chan<int> c(1);
#ifdef GOPP_COMPILE_FAIL
  gopp::select(gopp::send_case(c, 1, [](int) {}));
#else
  gopp::select(gopp::send_case(c, 1, [] {}));
#endif
  return 0;
}
