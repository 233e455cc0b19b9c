// Must not compile with GOPP_COMPILE_FAIL: converting between the two directions (Go's perm.go:
// `cr = cs` and `cs = cr` are errors).
#include <gopp/gopp.hpp>

int main() {
  gopp::chan<int> c;
  gopp::send_chan<int> s = c;
  gopp::recv_chan<int> r = c;
#ifdef GOPP_COMPILE_FAIL
  r = s;
#endif
  (void)s;
  (void)r;
  return 0;
}
