// The epoll backend of the network poller (netpoll_backend.hpp). One epoll instance for the
// process; one eventfd, registered level-triggered, to interrupt a blocked epoll_wait.
//
// The interrupt is coalesced through `interrupt_pending`: only the call that sets it writes the
// eventfd, and the wait() that reports the eventfd clears the flag and reads it empty, so a burst
// of wake-ups costs one write and one read.
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "runtime/netpoll_backend.hpp"

namespace gopp::detail::netpoll::backend {

namespace {
int g_epfd = -1;
int g_eventfd = -1;
std::atomic<bool> interrupt_pending{false};

[[noreturn]] void fatal(const char* what) {
  std::fprintf(stderr, "fatal error: netpoll: %s: %s\n", what, std::strerror(errno));
  std::abort();
}
}  // namespace

void init() {
  g_epfd = epoll_create1(EPOLL_CLOEXEC);
  if (g_epfd < 0) fatal("epoll_create1");
  g_eventfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (g_eventfd < 0) fatal("eventfd");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = break_tag;
  if (epoll_ctl(g_epfd, EPOLL_CTL_ADD, g_eventfd, &ev) != 0) fatal("epoll_ctl(eventfd)");
}

int add(int fd, std::uint64_t tag) noexcept {
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.u64 = tag;
  return epoll_ctl(g_epfd, EPOLL_CTL_ADD, fd, &ev) == 0 ? 0 : errno;
}

void remove(int fd) noexcept {
  epoll_event ev{};  // Linux before 2.6.9 wanted a non-null event even for DEL
  epoll_ctl(g_epfd, EPOLL_CTL_DEL, fd, &ev);
}

int wait(event* out, int cap, int delay_ms) noexcept {
  constexpr int max_events = 128;
  epoll_event evs[max_events];
  const int n = epoll_wait(g_epfd, evs, cap < max_events ? cap : max_events, delay_ms);
  if (n <= 0) return 0;  // a time-out, or EINTR
  for (int i = 0; i < n; ++i) {
    const std::uint32_t e = evs[i].events;
    out[i].tag = evs[i].data.u64;
    out[i].readable = (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0;
    out[i].writable = (e & (EPOLLOUT | EPOLLHUP | EPOLLERR)) != 0;
    if (out[i].tag == break_tag) {
      // Clear the flag first: an interrupt() from here on writes again (a spurious wake-up at
      // worst), and none is lost between the read and the clear.
      interrupt_pending.store(false, std::memory_order_seq_cst);
      std::uint64_t count;
      while (::read(g_eventfd, &count, sizeof count) > 0) {
      }
    }
  }
  return n;
}

void interrupt() noexcept {
  if (g_eventfd < 0 || interrupt_pending.exchange(true, std::memory_order_acq_rel)) return;
  const std::uint64_t one = 1;
  while (::write(g_eventfd, &one, sizeof one) < 0 && errno == EINTR) {
  }
}

}  // namespace gopp::detail::netpoll::backend
