// goroutine_dump() and its signal ($GOPP_DUMP_SIGNAL): Go's SIGQUIT traceback, with each parked
// goroutine's frames (runtime/traceback.hpp).
//
// A signal handler may not take locks or allocate, and the dump does both (it copies the table of
// goroutine records under its mutex, and symbolizing frames reads debug information). So the
// handler only posts a semaphore (sem_post is async-signal-safe) and a thread started for the
// purpose writes the dump to stderr. The thread
// exists only when the variable is set; a signal that arrives while a dump is being written
// gives one more dump, never a lost or a torn one.
#include <semaphore.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "gopp/go.hpp"
#include "runtime/goroutine.hpp"
#include "runtime/runtime.hpp"

namespace gopp {

std::string goroutine_dump() {
  return detail::dump_goroutines();
}

namespace detail {

namespace {

sem_t g_dump_requests;

void on_dump_signal(int) {
  const int saved = errno;
  sem_post(&g_dump_requests);
  errno = saved;
}

// Signals a dump may not take: the faults (SIGSEGV is the stack overflow handler's, and a handler
// that returns from a real fault re-runs the faulting instruction forever) and those that cannot
// be caught at all.
struct named_signal {
  const char* name;
  int number;
  bool refused;
};
constexpr named_signal signal_names[] = {
    {"USR1", SIGUSR1, false}, {"USR2", SIGUSR2, false}, {"QUIT", SIGQUIT, false},
    {"SEGV", SIGSEGV, true},  {"BUS", SIGBUS, true},    {"ILL", SIGILL, true},
    {"FPE", SIGFPE, true},    {"KILL", SIGKILL, true},  {"STOP", SIGSTOP, true},
};

// The signal number `v` names (USR1, SIGUSR1, 10, ...), or 0 when it names none, or -1 for a
// number out of range.
int parse_signal(const char* v) {
  if (std::strncmp(v, "SIG", 3) == 0) v += 3;
  for (const named_signal& s : signal_names) {
    if (std::strcmp(v, s.name) == 0) return s.number;
  }
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  if (end == v || *end != '\0') return 0;
  return (n > 0 && n < NSIG) ? static_cast<int>(n) : -1;
}

// The name of a signal a dump may not take, or nullptr.
const char* refused_signal(int sig) {
  for (const named_signal& s : signal_names) {
    if (s.number == sig && s.refused) return s.name;
  }
  return nullptr;
}

void write_all(const std::string& s) {
  write_stderr(s.data(), s.size());
}

}  // namespace

void install_dump_signal() {
  const char* v = std::getenv("GOPP_DUMP_SIGNAL");
  if (!v || !*v) return;
  const int sig = parse_signal(v);
  const std::string setting = std::string("gopp: GOPP_DUMP_SIGNAL=") + v;
  if (sig == 0) {
    write_all(setting +
              " is not a signal (USR1, USR2, QUIT or a number); no dump signal installed\n");
    return;
  }
  if (sig < 0) {
    write_all(setting + " is out of range (1 to " + std::to_string(NSIG - 1) +
              "); no dump signal installed\n");
    return;
  }
  if (const char* name = refused_signal(sig)) {
    write_all(setting + " refused: SIG" + name +
              " is a fault or uncatchable signal; no dump signal installed\n");
    return;
  }
  sem_init(&g_dump_requests, 0, 0);
  struct sigaction sa {};
  sa.sa_handler = on_dump_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  if (sigaction(sig, &sa, nullptr) != 0) {  // e.g. a signal the C library keeps for itself
    write_all(setting + ": " + std::strerror(errno) + "; no dump signal installed\n");
    return;
  }
  // Never joined: like the runtime's workers, it is abandoned at exit. A signal that came before
  // it started is waiting in the semaphore.
  std::thread([] {
    for (;;) {
      while (sem_wait(&g_dump_requests) != 0 && errno == EINTR) {
      }
      write_all("gopp: goroutine dump\n" + dump_goroutines() + "\n");
    }
  }).detach();
}

}  // namespace detail
}  // namespace gopp
