// gopp::net's errors: the "gopp.net" category, op_error, and Go's texts for system errors.
//
// Go words a failed operation as "<op> <net> [<source>->]<addr>: <cause>" (net.OpError), where
// the cause of a system call failure is "<syscall>: <errno text>" (os.SyscallError) and the
// errno text is the C library's, in lower case ("connection refused"). The two errors of the
// poller itself have fixed texts: "use of closed network connection" and "i/o timeout".
// Running out of fds gets one addition over Go: the limit that was hit, so the reader knows
// which knob to turn.
#include <sys/resource.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <string>

#include "net/socket_state.hpp"

namespace gopp::net {

namespace {

class net_error_category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "gopp.net"; }
  std::string message(int code) const override {
    switch (static_cast<errc>(code)) {
      case errc::closed:
        return "use of closed network connection";
      case errc::timeout:
        return "i/o timeout";
      case errc::no_such_host:
        return "no such host";
      case errc::lookup_failed:
        return "name resolution failed";
    }
    return "unknown network error";
  }
  std::error_condition default_error_condition(int code) const noexcept override {
    if (static_cast<errc>(code) == errc::timeout) return std::errc::timed_out;
    return {code, *this};
  }
};

}  // namespace

const std::error_category& net_category() noexcept {
  static const net_error_category category;
  return category;
}

op_error::op_error(std::error_code code, std::string op, std::string text)
    : std::system_error(code, text),
      op_(std::make_shared<const std::string>(std::move(op))),
      text_(std::make_shared<const std::string>(std::move(text))) {}

namespace detail {

std::string endpoint_text(const addr& source, const addr& dest) {
  std::string s = source.to_string(), d = dest.to_string();
  if (!s.empty() && !d.empty()) return s + "->" + d;
  return d.empty() ? s : d;
}

std::string op_prefix(std::string_view op, std::string_view network, std::string_view endpoints) {
  std::string out;
  out.reserve(op.size() + network.size() + endpoints.size() + 2);
  out += op;
  out += ' ';
  out += network;
  if (!endpoints.empty()) {
    out += ' ';
    out += endpoints;
  }
  return out;
}

std::error_code code_of(long err) noexcept {
  if (err == gopp::detail::poll_fd::err_closed) return errc::closed;
  if (err == gopp::detail::poll_fd::err_timeout) return errc::timeout;
  return {static_cast<int>(-err), std::generic_category()};
}

std::string cause_of(long err, std::string_view syscall) {
  if (err == gopp::detail::poll_fd::err_closed || err == gopp::detail::poll_fd::err_timeout) {
    return code_of(err).message();
  }
  const int e = static_cast<int>(-err);
  char buf[128];
  std::string text = ::strerror_r(e, buf, sizeof buf);  // GNU: returns the text
  if (!text.empty()) text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
  std::string out(syscall);
  out += ": ";
  out += text;
  if (e == EMFILE) {
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) == 0) {
      out += " (RLIMIT_NOFILE is ";
      out += rl.rlim_cur == RLIM_INFINITY ? std::string("unlimited") : std::to_string(rl.rlim_cur);
      out += ')';
    }
  } else if (e == ENFILE) {
    out += " (the system-wide limit, fs.file-max)";
  }
  return out;
}

void throw_op(std::string_view op, std::string_view network, std::string_view endpoints,
              std::error_code code, std::string_view cause) {
  std::string text = op_prefix(op, network, endpoints);
  text += ": ";
  text += cause;
  throw op_error(code, std::string(op), std::move(text));
}

void throw_op(std::string_view op, std::string_view network, std::string_view endpoints, long err,
              std::string_view syscall) {
  throw_op(op, network, endpoints, code_of(err), cause_of(err, syscall));
}

}  // namespace detail

}  // namespace gopp::net
