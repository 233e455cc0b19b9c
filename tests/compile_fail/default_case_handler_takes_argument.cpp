// Must not compile with GOPP_COMPILE_FAIL: a default_case handler that takes an argument; the
// error must say that it takes none.
#include <gopp/gopp.hpp>

#include <optional>

int main() {
  gopp::chan<int> c;
#ifdef GOPP_COMPILE_FAIL
  gopp::select(gopp::recv_case(c), gopp::default_case([](std::optional<int>) {}));
#else
  gopp::select(gopp::recv_case(c), gopp::default_case([] {}));
#endif
  return 0;
}
