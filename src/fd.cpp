// gopp/fd.hpp: waits on descriptors the user owns, through the network poller (netpoll.hpp).
// A wait looks at the descriptor once with poll(2) and no time-out (the watch is edge-triggered:
// readiness from before it was registered raises no event), then parks on the descriptor's slot
// with the wait's deadline set on the descriptor, and clears that deadline afterwards.
#include "gopp/fd.hpp"

#include <poll.h>

#include <cerrno>

#include "runtime/netpoll.hpp"

namespace gopp {

namespace {

using detail::io_mode;
using detail::poll_status;

bool ready_now(int fd, bool write) noexcept {
  pollfd p{fd, static_cast<short>(write ? POLLOUT : POLLIN), 0};
  int n;
  do {
    n = ::poll(&p, 1, 0);
  } while (n < 0 && errno == EINTR);
  return n > 0;  // any event counts, POLLHUP and POLLERR too: the caller's next call says what
}

fd_wait wait_on(detail::poll_desc* pd, int fd, bool write, fd_watch::clock::time_point deadline) {
  const io_mode mode = write ? io_mode::write : io_mode::read;
  if (detail::netpoll::check(pd, mode) == poll_status::closing) return fd_wait::closed;
  if (ready_now(fd, write)) return fd_wait::ready;
  const bool timed = deadline != fd_watch::clock::time_point::max();
  if (timed) detail::netpoll::set_deadline(pd, mode, deadline);
  const poll_status st = detail::netpoll::wait(pd, mode);
  if (timed) detail::netpoll::set_deadline(pd, mode, fd_watch::clock::time_point::max());
  switch (st) {
    case poll_status::ready:
      return fd_wait::ready;
    case poll_status::timeout:
      return fd_wait::timeout;
    case poll_status::closing:
      break;
  }
  return fd_wait::closed;
}

fd_wait wait_once(int fd, bool write, fd_watch::clock::time_point deadline) {
  if (ready_now(fd, write)) return fd_wait::ready;
  fd_watch watch(fd);
  return write ? watch.wait_writable(deadline) : watch.wait_readable(deadline);
}

}  // namespace

fd_watch::fd_watch(int fd) : fd_(fd), pd_(detail::netpoll::open(fd)) {}

fd_watch::~fd_watch() {
  detail::netpoll::evict(pd_);
  detail::netpoll::close(pd_);
}

fd_wait fd_watch::wait_readable(clock::time_point deadline) {
  return wait_on(pd_, fd_, false, deadline);
}
fd_wait fd_watch::wait_writable(clock::time_point deadline) {
  return wait_on(pd_, fd_, true, deadline);
}
void fd_watch::close() noexcept {
  detail::netpoll::evict(pd_);
}

fd_wait wait_readable(int fd, fd_watch::clock::time_point deadline) {
  return wait_once(fd, false, deadline);
}
fd_wait wait_writable(int fd, fd_watch::clock::time_point deadline) {
  return wait_once(fd, true, deadline);
}

}  // namespace gopp
