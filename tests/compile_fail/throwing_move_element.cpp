// Must not compile with GOPP_COMPILE_FAIL: a channel of a type whose move constructor may throw
// (API.md: T must be nothrow-move-constructible, since a half-done hand-off cannot be undone).
#include <gopp/gopp.hpp>

struct element {
  element() = default;
#ifdef GOPP_COMPILE_FAIL
  element(element&&) noexcept(false) {}
#else
  element(element&&) noexcept {}
#endif
};

int main() {
  gopp::chan<element> c(1);
  c.send(element{});
  return 0;
}
