// Go's standard logger with its default flags (Ldate | Ltime), after Go 1.19's src/log/log.go.
//
// Invariants:
//   - One line, one write(2) call: the prefix, the message and the newline are assembled in one
//     buffer first. That is what keeps concurrent lines whole without a lock (POSIX makes a
//     write of up to PIPE_BUF bytes to a pipe atomic; Linux serialises writes to a regular file's
//     offset). Only a short write, which a pipe or terminal may do for long lines, leads to a
//     second call for the rest.
//   - Unlike Go's Logger there is no mutex: it would add only an ordering of lines by timestamp,
//     and a std::mutex held across write() would block the OS thread under every goroutine
//     waiting to log.
//   - The output descriptor is an atomic int, so set_log_output may race with logging: a line
//     goes wholly to the old or wholly to the new descriptor.
#include "gopp/log.hpp"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <ctime>

namespace gopp {
namespace {

std::atomic<int> output_fd{STDERR_FILENO};

void append_prefix(std::string& buf, std::chrono::system_clock::time_point t) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  localtime_r(&secs, &tm);  // thread-safe, unlike std::localtime
  char text[64];
  const int n =
      std::snprintf(text, sizeof text, "%04d/%02d/%02d %02d:%02d:%02d ", tm.tm_year + 1900,
                    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  if (n > 0) buf.append(text, static_cast<std::size_t>(n));
}

void write_all(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return;  // as Go's log.Printf: the error is dropped
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

// Go: Logger.Output. `buf` holds the prefix followed by the message; the prefix ends with a
// space, so an empty message gets its newline too, as in Go.
void output(std::string& buf) {
  if (buf.empty() || buf.back() != '\n') buf += '\n';
  write_all(output_fd.load(std::memory_order_acquire), buf.data(), buf.size());
}

std::string start_line() {
  std::string buf;
  buf.reserve(128);
  append_prefix(buf, std::chrono::system_clock::now());
  return buf;
}

}  // namespace

std::string log_prefix(std::chrono::system_clock::time_point t) {
  std::string buf;
  append_prefix(buf, t);
  return buf;
}

void log_vprintf(const char* format, std::va_list args) {
  std::string buf = start_line();
  const std::size_t at = buf.size();
  // Format straight into the line's buffer: most messages fit in what start_line reserved, so
  // one vsnprintf pass is enough; a longer one is formatted again into a buffer of its size.
  std::va_list again;
  va_copy(again, args);
  buf.resize(buf.capacity());
  const std::size_t room = buf.size() - at;
  int n = std::vsnprintf(buf.data() + at, room, format, args);
  if (n < 0) n = 0;  // an invalid format: log the prefix rather than nothing
  const auto len = static_cast<std::size_t>(n);
  if (len >= room) {
    buf.resize(at + len + 1);
    std::vsnprintf(buf.data() + at, len + 1, format, again);
  }
  va_end(again);
  buf.resize(at + len);
  output(buf);
}

void log_printf(const char* format, ...) {
  std::va_list args;
  va_start(args, format);
  log_vprintf(format, args);
  va_end(args);
}

void log_print(std::string_view message) {
  std::string buf = start_line();
  buf.append(message);
  output(buf);
}

void log_println(std::string_view message) {
  std::string buf = start_line();
  buf.append(message);
  buf += '\n';
  output(buf);
}

int set_log_output(int fd) noexcept {
  return output_fd.exchange(fd, std::memory_order_acq_rel);
}

}  // namespace gopp
