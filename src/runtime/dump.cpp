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

int parse_signal(const char* v) {
  if (std::strncmp(v, "SIG", 3) == 0) v += 3;
  if (std::strcmp(v, "USR1") == 0) return SIGUSR1;
  if (std::strcmp(v, "USR2") == 0) return SIGUSR2;
  if (std::strcmp(v, "QUIT") == 0) return SIGQUIT;
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  return (end != v && *end == '\0' && n > 0 && n < NSIG) ? static_cast<int>(n) : 0;
}

void write_all(const std::string& s) {
  write_stderr(s.data(), s.size());
}

}  // namespace

void install_dump_signal() {
  const char* v = std::getenv("GOPP_DUMP_SIGNAL");
  if (!v || !*v) return;
  const int sig = parse_signal(v);
  if (sig == 0) {
    write_all(std::string("gopp: GOPP_DUMP_SIGNAL=") + v +
              " is not a signal (USR1, USR2, QUIT or a number); no dump signal installed\n");
    return;
  }
  sem_init(&g_dump_requests, 0, 0);
  // Never joined: like the runtime's workers, it is abandoned at exit.
  std::thread([] {
    for (;;) {
      while (sem_wait(&g_dump_requests) != 0 && errno == EINTR) {
      }
      write_all("gopp: goroutine dump\n" + dump_goroutines() + "\n");
    }
  }).detach();
  struct sigaction sa {};
  sa.sa_handler = on_dump_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(sig, &sa, nullptr);
}

}  // namespace detail
}  // namespace gopp
