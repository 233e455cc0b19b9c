// Must not compile with GOPP_COMPILE_FAIL: a non-copyable argument (here a std::mutex) passed to
// go() by value; the error must say to pass std::ref(x) or capture it.
#include <gopp/gopp.hpp>

#include <functional>
#include <mutex>

void worker(std::mutex& m) {
  std::lock_guard lock(m);
}

int main() {
  std::mutex m;
#ifdef GOPP_COMPILE_FAIL
  gopp::go(worker, m);
#else
  gopp::go(worker, std::ref(m));
#endif
  return 0;
}
