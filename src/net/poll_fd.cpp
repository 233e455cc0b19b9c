// poll_fd; the lifetime rules are in poll_fd.hpp.
//
// Every I/O call has the same shape (Go's internal/poll): take a reference (fails once closing),
// take the mode's lock, then loop { check the descriptor (closed? deadline passed?); make the
// non-blocking system call; on EAGAIN wait for readiness and loop }. A call that completes
// without waiting counts towards netpoll::io_progress(), which yields now and then.
#include "net/poll_fd.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>
#include <system_error>

namespace gopp::detail {

namespace {

long status_error(poll_status st) noexcept {
  return st == poll_status::closing ? poll_fd::err_closed : poll_fd::err_timeout;
}

// Holds a reference and a mode lock for one operation.
class op_guard {
 public:
  op_guard(poll_fd& fd, bool (poll_fd::*acquire)() noexcept, void (poll_fd::*release)() noexcept,
           gopp::mutex& lock)
      : fd_(fd), release_(release), lock_(lock) {
    ok_ = (fd.*acquire)();
    if (ok_) lock_.lock();
  }
  ~op_guard() {
    if (ok_) {
      lock_.unlock();
      (fd_.*release_)();
    }
  }
  op_guard(const op_guard&) = delete;
  op_guard& operator=(const op_guard&) = delete;
  bool ok() const noexcept { return ok_; }

 private:
  poll_fd& fd_;
  void (poll_fd::*release_)() noexcept;
  gopp::mutex& lock_;
  bool ok_ = false;
};

}  // namespace

poll_fd::poll_fd(int fd) : fd_(fd), pd_(nullptr) {
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || (!(flags & O_NONBLOCK) && ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)) {
    const int err = errno;
    ::close(fd);
    throw std::system_error(err, std::generic_category(), "fcntl(O_NONBLOCK)");
  }
  try {
    pd_ = netpoll::open(fd);
  } catch (...) {
    ::close(fd);
    throw;
  }
}

poll_fd::~poll_fd() {
  // The owner's reference is the last one here (every operation holds the object alive).
  if (!closed()) close();
}

bool poll_fd::acquire() noexcept {
  std::uint64_t s = state_.load(std::memory_order_relaxed);
  do {
    if (s & 1) return false;
  } while (!state_.compare_exchange_weak(s, s + 2, std::memory_order_acquire));
  return true;
}

void poll_fd::release() noexcept {
  // The last reference (only possible once closing: the owner's is dropped by close()) frees.
  if (state_.fetch_sub(2, std::memory_order_acq_rel) == 3) destroy();
}

void poll_fd::destroy() noexcept {
  netpoll::close(pd_);
  pd_ = nullptr;
  ::close(fd_);
  fd_ = -1;
}

void poll_fd::close() noexcept {
  std::uint64_t s = state_.load(std::memory_order_relaxed);
  do {
    if (s & 1) return;
  } while (!state_.compare_exchange_weak(s, s | 1, std::memory_order_acq_rel));
  netpoll::evict(pd_);
  release();  // the owner's reference
}

bool poll_fd::closed() const noexcept {
  return (state_.load(std::memory_order_acquire) & 1) != 0;
}

void poll_fd::set_deadline(io_mode mode, clock::time_point when) noexcept {
  if (!acquire()) return;
  netpoll::set_deadline(pd_, mode, when);
  release();
}

template <class Call>
long poll_fd::io_loop(gopp::mutex& lock, io_mode mode, Call call) {
  op_guard op(*this, &poll_fd::acquire, &poll_fd::release, lock);
  if (!op.ok()) return err_closed;
  for (;;) {
    if (const poll_status st = netpoll::check(pd_, mode); st != poll_status::ready) {
      return status_error(st);
    }
    const long n = call();
    if (n >= 0) {
      netpoll::io_progress();
      return n;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN) return -errno;
    if (const poll_status st = netpoll::wait(pd_, mode); st != poll_status::ready) {
      return status_error(st);
    }
  }
}

long poll_fd::read(void* buf, std::size_t len) {
  return io_loop(read_lock_, io_mode::read, [&] { return ::read(fd_, buf, len); });
}

long poll_fd::write_all(const void* buf, std::size_t len, std::size_t* written) {
  std::size_t done = 0;
  if (written) *written = 0;
  op_guard op(*this, &poll_fd::acquire, &poll_fd::release, write_lock_);
  if (!op.ok()) return err_closed;
  const auto* p = static_cast<const char*>(buf);
  bool waited = false;
  for (;;) {
    if (const poll_status st = netpoll::check(pd_, io_mode::write); st != poll_status::ready) {
      return status_error(st);
    }
    // send(MSG_NOSIGNAL): a write to a reset connection is EPIPE, never SIGPIPE. Fall back to
    // write(2) for what is not a socket (a pipe the user handed us).
    ssize_t n = ::send(fd_, p + done, len - done, MSG_NOSIGNAL);
    if (n < 0 && errno == ENOTSOCK) n = ::write(fd_, p + done, len - done);
    if (n >= 0) {
      done += static_cast<std::size_t>(n);
      if (written) *written = done;
      if (done == len) {
        if (!waited) netpoll::io_progress();
        return static_cast<long>(done);
      }
      continue;  // a partial write: the buffer is full now, the next call says EAGAIN
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN) return -errno;
    waited = true;
    if (const poll_status st = netpoll::wait(pd_, io_mode::write); st != poll_status::ready) {
      return status_error(st);
    }
  }
}

long poll_fd::recv_from(void* buf, std::size_t len, sockaddr* from, socklen_t* fromlen) {
  return io_loop(read_lock_, io_mode::read,
                 [&] { return ::recvfrom(fd_, buf, len, 0, from, fromlen); });
}

long poll_fd::send_to(const void* buf, std::size_t len, const sockaddr* to, socklen_t tolen) {
  return io_loop(write_lock_, io_mode::write,
                 [&] { return ::sendto(fd_, buf, len, MSG_NOSIGNAL, to, tolen); });
}

int poll_fd::accept(sockaddr* addr, socklen_t* addrlen) {
  return static_cast<int>(io_loop(read_lock_, io_mode::read, [&] {
    for (;;) {
      socklen_t len = addrlen ? *addrlen : 0;
      const int fd = ::accept4(fd_, addr, addrlen ? &len : nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd >= 0 && addrlen) *addrlen = len;
      // A connection reset while it waited in the backlog: take the next one (Go too).
      if (fd >= 0 || errno != ECONNABORTED) return fd;
    }
  }));
}

int poll_fd::connect(const sockaddr* addr, socklen_t addrlen) {
  op_guard op(*this, &poll_fd::acquire, &poll_fd::release, write_lock_);
  if (!op.ok()) return static_cast<int>(err_closed);
  if (const poll_status st = netpoll::check(pd_, io_mode::write); st != poll_status::ready) {
    return static_cast<int>(status_error(st));
  }
  int rc = ::connect(fd_, addr, addrlen);
  while (rc < 0 && errno == EINTR) rc = ::connect(fd_, addr, addrlen);
  if (rc == 0) return 0;
  if (errno != EINPROGRESS && errno != EALREADY) return -errno;
  // In progress: writable means done, either way; SO_ERROR says which. A spurious wake-up (the
  // descriptor's first edge may report writability before the handshake ends) is seen as
  // SO_ERROR 0 with no peer yet, and waits again.
  for (;;) {
    if (const poll_status st = netpoll::wait(pd_, io_mode::write); st != poll_status::ready) {
      return static_cast<int>(status_error(st));
    }
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) < 0) return -errno;
    if (err == EINPROGRESS || err == EALREADY || err == EINTR) continue;
    if (err != 0) return -err;
    sockaddr_storage peer{};
    socklen_t plen = sizeof peer;
    if (::getpeername(fd_, reinterpret_cast<sockaddr*>(&peer), &plen) == 0) return 0;
    if (errno != ENOTCONN) return -errno;
  }
}

int poll_fd::close_write() {
  if (!acquire()) return static_cast<int>(err_closed);
  const int rc = ::shutdown(fd_, SHUT_WR) == 0 ? 0 : -errno;
  release();
  return rc;
}

long poll_fd::wait(io_mode mode) {
  op_guard op(*this, &poll_fd::acquire, &poll_fd::release,
              mode == io_mode::read ? read_lock_ : write_lock_);
  if (!op.ok()) return err_closed;
  if (const poll_status st = netpoll::check(pd_, mode); st != poll_status::ready) {
    return status_error(st);
  }
  const poll_status st = netpoll::wait(pd_, mode);
  return st == poll_status::ready ? 0 : status_error(st);
}

}  // namespace gopp::detail
