// Must not compile with GOPP_COMPILE_FAIL: a select receive case on a send_chan.
#include <gopp/gopp.hpp>

int main() {
  gopp::chan<int> c(1);
  gopp::send_chan<int> s = c;
#ifdef GOPP_COMPILE_FAIL
  gopp::select(gopp::recv_case(s), gopp::default_case());
#else
  gopp::select(gopp::send_case(s, 1), gopp::default_case());
#endif
  return 0;
}
