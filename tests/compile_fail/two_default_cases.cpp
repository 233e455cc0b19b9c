// Must not compile with GOPP_COMPILE_FAIL: a select with two default_cases (Go: multiple
// defaults in select).
#include <gopp/gopp.hpp>

int main() {
  gopp::chan<int> c;
#ifdef GOPP_COMPILE_FAIL
  gopp::select(gopp::recv_case(c), gopp::default_case(), gopp::default_case([] {}));
#else
  gopp::select(gopp::recv_case(c), gopp::default_case());
#endif
  return 0;
}
