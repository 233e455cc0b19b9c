// Must not compile with GOPP_COMPILE_FAIL: sending on a recv_chan (Go: invalid operation: cannot
// send to receive-only channel).
#include <gopp/gopp.hpp>

int main() {
  gopp::chan<int> c(1);
  gopp::recv_chan<int> r = c;
  (void)r.try_recv();
#ifdef GOPP_COMPILE_FAIL
  r.send(1);
#endif
  return 0;
}
