// Must not compile with GOPP_COMPILE_FAIL: a channel of a type whose destructor may throw
// (API.md: T must be nothrow-destructible).
#include <gopp/gopp.hpp>

struct element {
  element() = default;
  element(element&&) noexcept = default;
#ifdef GOPP_COMPILE_FAIL
  ~element() noexcept(false) {}
#else
  ~element() {}
#endif
};

int main() {
  gopp::chan<element> c(1);
  c.send(element{});
  return 0;
}
