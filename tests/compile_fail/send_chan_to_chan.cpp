// Must not compile with GOPP_COMPILE_FAIL: turning a send_chan back into a chan (Go's perm.go:
// `c = cs` is an error).
#include <gopp/gopp.hpp>

int main() {
  gopp::chan<int> c;
  gopp::send_chan<int> s = c;  // ok: bidirectional to send-only
#ifdef GOPP_COMPILE_FAIL
  gopp::chan<int> back = s;
  (void)back;
#endif
  (void)s;
  return 0;
}
