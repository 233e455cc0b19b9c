// Stack-overflow detection; see overflow.hpp.
//
// The handler runs on the worker's alternate stack. It asks the stack pool whether the fault
// address lies in a guard (stack_pool::in_guard, lock-free and async-signal-safe). If so it
// writes Go's message with write(2) (nothing here allocates or locks) and aborts. If not, the
// fault is someone else's, and a null-pointer dereference is reported as what it is, never as a
// stack overflow:
//   - a previous handler (ASan's, a JVM's, a test's that recovers with siglongjmp) is called
//     directly, and ours stays installed: a program whose handler survives its faults keeps
//     stack-overflow reports for the rest of its life;
//   - a previous default disposition is put back and the handler returns: the instruction faults
//     again and the process dies of the signal, with the right address in its core. (The
//     process is ending, so ours is not needed any more.) An ignored SIGSEGV/SIGBUS cannot be
//     ignored for a real fault: it is treated as the default.
#include "runtime/overflow.hpp"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "runtime/goroutine.hpp"
#include "runtime/stack.hpp"

namespace gopp::detail {

namespace {

struct sigaction g_previous_segv;
struct sigaction g_previous_bus;
std::once_flag g_install_once;

// Async-signal-safe formatting: append decimal or hex to a fixed buffer.
struct line {
  char buf[512];
  std::size_t n = 0;
  void add(const char* s) noexcept {
    while (*s && n < sizeof buf) buf[n++] = *s++;
  }
  void add_dec(std::uint64_t v) noexcept {
    char tmp[24];
    int i = 0;
    do {
      tmp[i++] = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v);
    while (i-- && n < sizeof buf) buf[n++] = tmp[i];
  }
  void add_hex(std::uintptr_t v) noexcept {
    add("0x");
    char tmp[20];
    int i = 0;
    do {
      tmp[i++] = "0123456789abcdef"[v & 15];
      v >>= 4;
    } while (v);
    while (i-- && n < sizeof buf) buf[n++] = tmp[i];
  }
  void flush() noexcept {
    std::size_t off = 0;
    while (off < n) {
      const ssize_t w = ::write(STDERR_FILENO, buf + off, n - off);
      if (w <= 0) return;
      off += static_cast<std::size_t>(w);
    }
  }
};

[[noreturn]] void report(const goroutine* g, const stack* s, const void* fault) noexcept {
  line l;
  l.add("runtime: goroutine stack exceeds ");
  l.add_dec(s->size);
  l.add("-byte limit\nruntime: goroutine ");
  l.add_dec(g ? g->id.load(std::memory_order_relaxed) : 0);
  l.add(" stack=[");
  l.add_hex(reinterpret_cast<std::uintptr_t>(s->bottom));
  l.add(", ");
  l.add_hex(reinterpret_cast<std::uintptr_t>(s->top()));
  l.add(")");
  if (fault) {
    l.add(" fault address ");
    l.add_hex(reinterpret_cast<std::uintptr_t>(fault));
  }
  l.add("\nfatal error: stack overflow\n");
  l.flush();
  // Do not let abort's SIGABRT be caught and turned into something that resumes us.
  signal(SIGABRT, SIG_DFL);
  std::abort();
}

void on_fault(int sig, siginfo_t* info, void* uctx) {
  const stack* s = nullptr;
  if (info && stack_pool::in_guard(info->si_addr, &s) && s) {
    report(current_goroutine(), s, info->si_addr);
  }
  // Not ours: the previous handler's, called as the kernel would have called it.
  const struct sigaction& prev = (sig == SIGBUS) ? g_previous_bus : g_previous_segv;
  if (prev.sa_flags & SA_SIGINFO) {
    if (prev.sa_sigaction) {
      prev.sa_sigaction(sig, info, uctx);
      return;
    }
  } else if (prev.sa_handler != SIG_DFL && prev.sa_handler != SIG_IGN && prev.sa_handler) {
    prev.sa_handler(sig);
    return;
  }
  // No handler before ours: die of the signal when the instruction faults again.
  signal(sig, SIG_DFL);
}

}  // namespace

void install_overflow_handler() {
  std::call_once(g_install_once, [] {
    struct sigaction sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = &on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &g_previous_segv);
    sigaction(SIGBUS, &sa, &g_previous_bus);
  });
}

void install_signal_stack() {
  // Worker threads live as long as the process, and so does this stack. mmap, not malloc: it is
  // not a heap object that LeakSanitizer should count as leaked.
  constexpr std::size_t size = 64 * 1024;
  void* mem = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return;
  stack_t ss;
  ss.ss_sp = mem;
  ss.ss_size = size;
  ss.ss_flags = 0;
  sigaltstack(&ss, nullptr);
}

void report_canary_overflow(const goroutine* g) noexcept {
  report(g, g->stk, nullptr);
}

void report_no_stack(const goroutine* g) noexcept {
  line l;
  l.add("fatal error: runtime: cannot allocate a stack for goroutine ");
  l.add_dec(g->id.load(std::memory_order_relaxed));
  l.add(" (mmap failed)\n");
  l.flush();
  std::abort();
}

}  // namespace gopp::detail
