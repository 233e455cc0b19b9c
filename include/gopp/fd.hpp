// gopp/fd.hpp: waiting for a file descriptor that someone else owns, through gopp's network
// poller: a goroutine that waits parks (its OS thread runs other goroutines), a plain thread
// blocks in the kernel. This is how a C client library with a non-blocking mode (hiredis,
// libpq, libcurl's multi interface) is made to park goroutines instead of threads.
//
//   // A libpq connection in non-blocking mode, driven from a goroutine:
//   gopp::fd_watch watch(PQsocket(conn));           // registers the socket once
//   while (PQflush(conn) == 1) watch.wait_writable();
//   for (;;) {
//     PQconsumeInput(conn);
//     if (!PQisBusy(conn)) break;                   // a whole result is in
//     if (watch.wait_readable(deadline) == gopp::fd_wait::timeout) throw
//     std::runtime_error("slow");
//   }
//   // ~fd_watch unregisters the socket; close it (PQfinish) only after that.
//
// Contract:
//   - Wait after the library's own call said it would block (EAGAIN, "wants read"): the watch is
//     edge-triggered, so it reports readiness that arrives after it was registered, and a wait
//     also checks the descriptor's current state once (poll(2) with no time-out) before it
//     parks, so readiness that was already there is not missed.
//   - A wait may return `ready` when the descriptor is not ready any more (another reader took
//     the data, or an old event): call the library again and wait again on EAGAIN, as every
//     event loop does.
//   - One waiter per direction at a time (a reader and a writer may wait at once): a second
//     wait in a direction that has one throws std::logic_error (Go's "double wait").
//   - close() wakes the waiters with fd_wait::closed; later waits return closed. Destroy the
//     watch only once no wait is in progress on it.
//   - The descriptor must stay open while the watch exists: destroy the watch, then close it.
//   - The one-off functions wait_readable(fd) / wait_writable(fd) register the descriptor for
//     the one wait (two more system calls than a watch); they throw std::system_error if the
//     descriptor cannot be registered (EEXIST if a watch or a gopp::net object already has it,
//     EPERM for a regular file, which is always ready: don't wait for it).
#pragma once

#include <chrono>

namespace gopp {

namespace detail {
struct poll_desc;
}

enum class fd_wait {
  ready,    // the descriptor may be ready: try the call again
  timeout,  // the deadline passed first
  closed,   // the watch was closed
};

class fd_watch {
 public:
  using clock = std::chrono::steady_clock;

  // Registers `fd` (which must be in non-blocking mode, and is not owned) with the poller.
  // Throws std::system_error if the kernel refuses.
  explicit fd_watch(int fd);
  ~fd_watch();
  fd_watch(const fd_watch&) = delete;
  fd_watch& operator=(const fd_watch&) = delete;

  int fd() const noexcept { return fd_; }

  fd_wait wait_readable(clock::time_point deadline = clock::time_point::max());
  fd_wait wait_writable(clock::time_point deadline = clock::time_point::max());
  // Wakes the waiters with fd_wait::closed; later waits return closed at once.
  void close() noexcept;

 private:
  int fd_;
  detail::poll_desc* pd_;
};

// One wait on a descriptor that has no fd_watch (see the contract above).
fd_wait wait_readable(int fd,
                      fd_watch::clock::time_point deadline = fd_watch::clock::time_point::max());
fd_wait wait_writable(int fd,
                      fd_watch::clock::time_point deadline = fd_watch::clock::time_point::max());

}  // namespace gopp
