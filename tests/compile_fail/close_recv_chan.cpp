// Must not compile with GOPP_COMPILE_FAIL: closing a recv_chan (Go: invalid operation: cannot
// close receive-only channel).
#include <gopp/gopp.hpp>

int main() {
  gopp::chan<int> c;
  gopp::recv_chan<int> r = c;
  (void)r.capacity();
#ifdef GOPP_COMPILE_FAIL
  r.close();
#endif
  return 0;
}
