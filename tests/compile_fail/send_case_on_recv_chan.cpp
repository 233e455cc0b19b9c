// Must not compile with GOPP_COMPILE_FAIL: a select send case on a recv_chan.
#include <gopp/gopp.hpp>

int main() {
  gopp::chan<int> c(1);
  gopp::recv_chan<int> r = c;
#ifdef GOPP_COMPILE_FAIL
  gopp::select(gopp::send_case(r, 1), gopp::default_case());
#else
  gopp::select(gopp::recv_case(r), gopp::default_case());
#endif
  return 0;
}
