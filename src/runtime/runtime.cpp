// The public goroutine API (gopp/go.hpp) and the runtime's options.
#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

#include "gopp/go.hpp"
#include "runtime/runtime.hpp"
#include "runtime/scheduler.hpp"
#include "runtime/timer.hpp"

namespace gopp {

namespace detail::runtime_config {

namespace {
std::mutex g_mu;
bool g_started = false;
unsigned g_threads = 0;
std::size_t g_stack_size = 0;

std::size_t env_number(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return 0;
  char* end = nullptr;
  const unsigned long long n = std::strtoull(v, &end, 10);
  return (end && *end == '\0') ? static_cast<std::size_t>(n) : 0;
}
}  // namespace

void set(unsigned threads, std::size_t stack_size) {
  std::lock_guard lock(g_mu);
  if (g_started) {
    throw std::logic_error("gopp::configure: the runtime has already started");
  }
  g_threads = threads;
  g_stack_size = stack_size;
}

unsigned freeze() {
  std::lock_guard lock(g_mu);
  g_started = true;
  unsigned threads = g_threads;
  if (threads == 0) threads = static_cast<unsigned>(env_number("GOPP_THREADS"));
  if (threads == 0) threads = std::thread::hardware_concurrency();
  if (threads == 0) threads = 1;
  std::size_t stack = g_stack_size;
  if (stack == 0) stack = env_number("GOPP_STACK_SIZE");
  stack_pool::set_stack_size(stack);
  return threads;
}

bool started() noexcept {
  std::lock_guard lock(g_mu);
  return g_started;
}

}  // namespace detail::runtime_config

void configure(const runtime_options& options) {
  detail::runtime_config::set(options.threads, options.stack_size);
}

void yield() {
  if (detail::current_goroutine()) {
    detail::scheduler::instance().yield_current();
  } else {
    std::this_thread::yield();
  }
}

void sleep_until(std::chrono::steady_clock::time_point t) {
  detail::goroutine* g = detail::current_goroutine();
  if (!g) {
    std::this_thread::sleep_until(t);
    return;
  }
  if (t <= std::chrono::steady_clock::now()) {
    yield();  // Go's Sleep(0) returns at once; a yield keeps a sleep loop from starving others
    return;
  }
  detail::set_wait_reason(detail::wait_reason::sleep);
  while (g->park_token.park_until(t)) {
    // A token unrelated to the sleep (left by an earlier wake-up) came first: sleep on.
    if (std::chrono::steady_clock::now() >= t) break;
    detail::set_wait_reason(detail::wait_reason::sleep);
    g = detail::current_goroutine();
  }
}

void sleep_for(std::chrono::nanoseconds d) {
  sleep_until(detail::deadline_after(d));
}

bool in_goroutine() noexcept {
  return detail::current_goroutine() != nullptr;
}

std::size_t num_goroutines() noexcept {
  return detail::live_goroutines();
}

std::uint64_t goroutine_id() noexcept {
  const detail::goroutine* g = detail::current_goroutine();
  return g ? g->id.load(std::memory_order_relaxed) : 0;
}

unsigned num_threads() {
  return detail::scheduler::instance().threads();
}

}  // namespace gopp
