// Must compile: every directional operation used legally, one default_case, and element types
// that satisfy the nothrow requirements (tests/compile_fail/CMakeLists.txt).
#include <gopp/gopp.hpp>

#include <memory>
#include <optional>
#include <string>

struct nothrow_move {
  nothrow_move() = default;
  nothrow_move(nothrow_move&&) noexcept = default;
  nothrow_move& operator=(nothrow_move&&) noexcept = default;
};

int main() {
  gopp::chan<int> c(1);
  gopp::send_chan<int> s = c;
  gopp::recv_chan<int> r = c;
  s.send(1);
  (void)s.try_send(2);
  std::optional<int> v = r.recv();
  v = r.try_recv();
  for (int x : r) (void)x;
  gopp::select(gopp::recv_case(r), gopp::send_case(s, 3), gopp::default_case());
  s.close();
  gopp::chan<std::unique_ptr<int>> ptrs;
  gopp::chan<std::string> strings;
  gopp::chan<nothrow_move> moves;
  return v.value_or(0);
}
