// Must not compile with GOPP_COMPILE_FAIL: ranging over a send_chan (Go's perm.go: `for range cs`
// is an error, as it receives).
#include <gopp/gopp.hpp>

int main() {
  gopp::chan<int> c(1);
  gopp::send_chan<int> s = c;
  s.close();
#ifdef GOPP_COMPILE_FAIL
  for (int v : s) (void)v;
#else
  for (int v : c) (void)v;
#endif
  return 0;
}
