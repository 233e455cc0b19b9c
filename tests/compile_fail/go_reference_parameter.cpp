// Must not compile with GOPP_COMPILE_FAIL: go(f, x) where f takes x by non-const reference (the
// goroutine gets a copy, which such a parameter cannot bind to); the error must name std::ref.
#include <gopp/gopp.hpp>

#include <functional>

void bump(int& n) {
  ++n;
}

int main() {
  int n = 0;
#ifdef GOPP_COMPILE_FAIL
  gopp::go(bump, n);
#else
  gopp::go(bump, std::ref(n));
#endif
  return 0;
}
