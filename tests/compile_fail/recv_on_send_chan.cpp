// Must not compile with GOPP_COMPILE_FAIL: receiving from a send_chan (Go: invalid operation:
// cannot receive from send-only channel).
#include <gopp/gopp.hpp>

int main() {
  gopp::chan<int> c(1);
  gopp::send_chan<int> s = c;
  s.send(1);
#ifdef GOPP_COMPILE_FAIL
  (void)s.recv();
#endif
  return 0;
}
