// Must not compile with GOPP_COMPILE_FAIL: turning a recv_chan back into a chan (Go's perm.go:
// `c = cr` is an error).
#include <gopp/gopp.hpp>

int main() {
  gopp::chan<int> c;
  gopp::recv_chan<int> r = c;  // ok: bidirectional to receive-only
#ifdef GOPP_COMPILE_FAIL
  gopp::chan<int> back = r;
  (void)back;
#endif
  (void)r;
  return 0;
}
