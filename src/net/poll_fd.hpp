// poll_fd: an open non-blocking fd, its poll descriptor, and the reference count that makes
// close() safe while other goroutines or threads are inside a read, write or accept on it
// (Go's internal/poll.FD with its fdMutex, much reduced).
//
// Lifetime and close:
//   - Every operation takes a reference first (acquire()); it fails with `closed` once close()
//     has begun, so no system call is ever made on a closed (perhaps reused) fd number.
//   - close() marks the fd closing, evicts the poll descriptor (parked waiters return `closed`
//     at once), and drops the owner's reference. Whoever drops the last reference unregisters
//     the descriptor and closes the fd: the fd number is released only when nobody can still use
//     it, so an fd reused by the kernel right after close() never sees a stale operation.
//   - Readers are serialised among themselves, and so are writers (a read lock and a write lock
//     that park): Go's fdMutex rwlock. So two goroutines writing one conn never interleave
//     their bytes inside one write_all(), and the poll descriptor has one waiter per mode.
//
// Errors: each call returns a non-negative count, or a negative value: -errno for the system's
// errors, or one of the two below (which no errno takes).
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "gopp/sync.hpp"
#include "runtime/netpoll.hpp"

namespace gopp::detail {

class poll_fd {
 public:
  static constexpr long err_closed = -100000;   // "use of closed network connection"
  static constexpr long err_timeout = -100001;  // "i/o timeout"
  using clock = std::chrono::steady_clock;

  // Takes ownership of `fd` (made non-blocking here if it is not) and registers it with the
  // poller. Throws std::system_error on failure, and then closes `fd`.
  explicit poll_fd(int fd);
  ~poll_fd();  // closes, if close() was not called
  poll_fd(const poll_fd&) = delete;
  poll_fd& operator=(const poll_fd&) = delete;

  int sysfd() const noexcept { return fd_; }

  // Returns the count read (0 at end of file), or a negative error.
  long read(void* buf, std::size_t len);
  // Writes all of buf (Go's Write: partial writes are continued) unless an error or a deadline
  // stops it. Returns len, or a negative error; *written (if given) says how much went out.
  long write_all(const void* buf, std::size_t len, std::size_t* written = nullptr);
  // One recvfrom / sendto (datagrams).
  long recv_from(void* buf, std::size_t len, sockaddr* from, socklen_t* fromlen);
  long send_to(const void* buf, std::size_t len, const sockaddr* to, socklen_t tolen);
  // accept4 with SOCK_NONBLOCK | SOCK_CLOEXEC: the new fd, or a negative error.
  int accept(sockaddr* addr, socklen_t* addrlen);
  // connect(2) that parks until the connection is made or fails: 0, or a negative error.
  int connect(const sockaddr* addr, socklen_t addrlen);
  // shutdown(SHUT_WR): the peer reads end of file.
  int close_write();

  // Idempotent; wakes every parked operation with err_closed. As with any member function, the
  // object must outlive the call: a woken operation's owner may not destroy it while close()
  // still runs in another thread (gopp::net shares its handles for this).
  void close() noexcept;
  bool closed() const noexcept;

  void set_deadline(io_mode mode, clock::time_point when) noexcept;
  // Waits for readiness without doing I/O (gopp::wait_readable on a poll_fd the user owns).
  long wait(io_mode mode);

 private:
  // One call in the shape at the top of poll_fd.cpp: `call` makes the system call once and
  // returns its result (>= 0, or -1 with errno set).
  template <class Call>
  long io_loop(gopp::mutex& lock, io_mode mode, Call call);
  bool acquire() noexcept;  // false once closing
  void release() noexcept;  // the last one closes the fd
  void destroy() noexcept;

  int fd_;
  poll_desc* pd_;
  // bit 0: closing; the rest: references x 2 (the owner holds one until close()).
  std::atomic<std::uint64_t> state_{2};
  gopp::mutex read_lock_;   // parks: one reader at a time
  gopp::mutex write_lock_;  // parks: one writer at a time
};

}  // namespace gopp::detail
