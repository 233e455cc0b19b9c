// Must not compile with GOPP_COMPILE_FAIL: a recv_case handler that takes the element type
// instead of std::optional<T>; the error must say so (issue 15, item 7).
#include <gopp/gopp.hpp>

#include <optional>

int main() {
  gopp::chan<int> c(1);
  c.send(1);
#ifdef GOPP_COMPILE_FAIL
  gopp::select(gopp::recv_case(c, [](int v) { (void)v; }));
#else
  gopp::select(gopp::recv_case(c, [](std::optional<int> v) { (void)v; }));
#endif
  return 0;
}
