// gopp::net's addresses: addr, "host:port" splitting with Go's rules, network names, and name
// resolution.
//
// Resolution (resolve): an IP literal with a numeric port is parsed at once with getaddrinfo's
// AI_NUMERICHOST | AI_NUMERICSERV (no I/O). Anything else (a host name, a service name such as
// "http") runs getaddrinfo on a gopp::blocking helper thread. getaddrinfo cannot be interrupted,
// so a lookup that the caller's context may end runs in a goroutine of its own that hands its
// result over a channel of capacity 1: the caller selects on that channel and ctx.done(), and
// when ctx ends first it returns at once; the lookup finishes later, puts its result in the
// channel (never blocking, thanks to the capacity) and the result is freed with the channel.
// Results come IPv4 first for "tcp"/"udp" (Go's preference), without duplicates.
#include <arpa/inet.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <stdexcept>
#include <variant>

#include "gopp/chan.hpp"
#include "gopp/go.hpp"
#include "gopp/pool.hpp"
#include "gopp/select.hpp"
#include "net/socket_state.hpp"

namespace gopp::net {

// ---- addr ---------------------------------------------------------------------------------

addr::addr(std::string_view network, const sockaddr* sa, std::size_t len) : network_(network) {
  len_ = std::min(len, storage_.size());
  std::memcpy(storage_.data(), sa, len_);
}

const sockaddr* addr::native() const noexcept {
  return reinterpret_cast<const sockaddr*>(storage_.data());
}

namespace {
sa_family_t family_of(const addr& a) noexcept {
  if (a.native_size() < sizeof(sa_family_t)) return AF_UNSPEC;
  sa_family_t f;
  std::memcpy(&f, a.native(), sizeof f);
  return f;
}
}  // namespace

std::string addr::ip() const {
  char buf[INET6_ADDRSTRLEN + IF_NAMESIZE + 2] = {};
  switch (family_of(*this)) {
    case AF_INET: {
      sockaddr_in in{};
      std::memcpy(&in, storage_.data(), sizeof in);
      ::inet_ntop(AF_INET, &in.sin_addr, buf, sizeof buf);
      return buf;
    }
    case AF_INET6: {
      sockaddr_in6 in6{};
      std::memcpy(&in6, storage_.data(), sizeof in6);
      if (IN6_IS_ADDR_V4MAPPED(&in6.sin6_addr)) {  // Go prints ::ffff:a.b.c.d as a.b.c.d
        ::inet_ntop(AF_INET, &in6.sin6_addr.s6_addr[12], buf, sizeof buf);
        return buf;
      }
      ::inet_ntop(AF_INET6, &in6.sin6_addr, buf, sizeof buf);
      std::string s = buf;
      if (in6.sin6_scope_id != 0) {
        char name[IF_NAMESIZE] = {};
        s += '%';
        s += ::if_indextoname(in6.sin6_scope_id, name) ? std::string(name)
                                                       : std::to_string(in6.sin6_scope_id);
      }
      return s;
    }
    default:
      return {};
  }
}

int addr::port() const noexcept {
  switch (family_of(*this)) {
    case AF_INET: {
      sockaddr_in in{};
      std::memcpy(&in, storage_.data(), sizeof in);
      return ntohs(in.sin_port);
    }
    case AF_INET6: {
      sockaddr_in6 in6{};
      std::memcpy(&in6, storage_.data(), sizeof in6);
      return ntohs(in6.sin6_port);
    }
    default:
      return 0;
  }
}

std::string addr::to_string() const {
  const sa_family_t f = family_of(*this);
  if (f == AF_INET || f == AF_INET6) return join_host_port(ip(), std::to_string(port()));
  if (f != AF_UNIX) return {};
  const std::size_t off = offsetof(sockaddr_un, sun_path);
  if (len_ <= off) return {};  // unnamed
  const char* path = reinterpret_cast<const char*>(storage_.data()) + off;
  std::size_t n = len_ - off;
  if (path[0] == '\0') {  // abstract namespace (appends: g++ 12 misreads "@" + string)
    std::string out(1, '@');
    out.append(path + 1, n - 1);
    return out;
  }
  return std::string(path, ::strnlen(path, n));
}

bool operator==(const addr& a, const addr& b) noexcept {
  return a.network_ == b.network_ && a.len_ == b.len_ &&
         std::memcmp(a.storage_.data(), b.storage_.data(), a.len_) == 0;
}

// ---- host:port ----------------------------------------------------------------------------

std::pair<std::string, std::string> split_host_port(std::string_view hostport) {
  auto fail = [&](const char* why) {
    throw std::invalid_argument("address " + std::string(hostport) + ": " + why);
  };
  const std::size_t i = hostport.rfind(':');
  if (i == std::string_view::npos) fail("missing port in address");
  std::string_view host;
  std::size_t j = 0, k = 0;  // where '[' and ']' may no longer appear
  if (!hostport.empty() && hostport[0] == '[') {
    const std::size_t end = hostport.find(']');
    if (end == std::string_view::npos) fail("missing ']' in address");
    if (end + 1 == hostport.size()) fail("missing port in address");
    if (end + 1 != i)
      fail(hostport[end + 1] == ':' ? "too many colons in address" : "missing port in address");
    host = hostport.substr(1, end - 1);
    j = 1;
    k = end + 1;
  } else {
    host = hostport.substr(0, i);
    if (host.find(':') != std::string_view::npos) fail("too many colons in address");
  }
  if (hostport.substr(j).find('[') != std::string_view::npos) fail("unexpected '[' in address");
  if (hostport.substr(k).find(']') != std::string_view::npos) fail("unexpected ']' in address");
  return {std::string(host), std::string(hostport.substr(i + 1))};
}

std::string join_host_port(std::string_view host, std::string_view port) {
  const bool bracket = host.find(':') != std::string_view::npos;
  std::string out;
  out.reserve(host.size() + port.size() + 3);
  if (bracket) out += '[';
  out += host;
  if (bracket) out += ']';
  out += ':';
  out += port;
  return out;
}

namespace detail {

std::optional<network_kind> parse_network(std::string_view n) {
  network_kind k;
  k.name = n;
  if (n == "tcp" || n == "tcp4" || n == "tcp6") {
    k.base = "tcp";
    k.socktype = SOCK_STREAM;
  } else if (n == "udp" || n == "udp4" || n == "udp6") {
    k.base = "udp";
    k.socktype = SOCK_DGRAM;
  } else if (n == "unix") {
    k.base = "unix";
    k.family = AF_UNIX;
    k.socktype = SOCK_STREAM;
    return k;
  } else if (n == "unixgram") {
    k.base = "unixgram";
    k.family = AF_UNIX;
    k.socktype = SOCK_DGRAM;
    return k;
  } else {
    return std::nullopt;
  }
  k.family = n.back() == '4' ? AF_INET : n.back() == '6' ? AF_INET6 : AF_UNSPEC;
  return k;
}

std::optional<addr> unix_addr(const network_kind& kind, std::string_view path) {
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  if (path.size() >= sizeof un.sun_path) return std::nullopt;
  std::memcpy(un.sun_path, path.data(), path.size());
  std::size_t len = offsetof(sockaddr_un, sun_path) + path.size();
  if (!path.empty() && path[0] == '@') {
    un.sun_path[0] = '\0';  // abstract: the name is the bytes after the NUL, no terminator
  } else if (!path.empty()) {
    len += 1;  // the terminating NUL
  }
  return addr(kind.base, reinterpret_cast<const sockaddr*>(&un), len);
}

namespace {

struct addrinfo_list {
  int rc = EAI_SYSTEM;
  int error = 0;  // errno for EAI_SYSTEM
  addrinfo* list = nullptr;
  addrinfo_list() = default;
  addrinfo_list(const addrinfo_list&) = delete;
  addrinfo_list& operator=(const addrinfo_list&) = delete;
  ~addrinfo_list() {
    if (list != nullptr) ::freeaddrinfo(list);
  }
  void run(const char* host, const char* port, const addrinfo& hints) {
    rc = ::getaddrinfo(host, port, &hints, &list);
    if (rc == EAI_SYSTEM) error = errno;
  }
};

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string lower_first(std::string s) {
  if (!s.empty()) s[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[0])));
  return s;
}

[[noreturn]] void throw_lookup(std::string_view op, const network_kind& kind, std::error_code code,
                               const std::string& cause) {
  if (op.empty()) throw op_error(code, "lookup", cause);
  throw_op(op, kind.name, "", code, cause);
}

// The wildcard addresses a listen on an empty host binds: [::] (dual-stack) then 0.0.0.0 for
// "tcp"/"udp", the one of the family for the others.
std::vector<addr> wildcard(const network_kind& kind, int port) {
  std::vector<addr> out;
  if (kind.family != AF_INET) {
    sockaddr_in6 in6{};
    in6.sin6_family = AF_INET6;
    in6.sin6_addr = in6addr_any;
    in6.sin6_port = htons(static_cast<std::uint16_t>(port));
    out.emplace_back(kind.base, reinterpret_cast<const sockaddr*>(&in6), sizeof in6);
  }
  if (kind.family != AF_INET6) {
    sockaddr_in in{};
    in.sin_family = AF_INET;
    in.sin_addr.s_addr = htonl(INADDR_ANY);
    in.sin_port = htons(static_cast<std::uint16_t>(port));
    out.emplace_back(kind.base, reinterpret_cast<const sockaddr*>(&in), sizeof in);
  }
  return out;
}

}  // namespace

std::vector<addr> resolve(const context& ctx, std::string_view op, const network_kind& kind,
                          const std::string& host, const std::string& port_in, bool passive) {
  const std::string port = port_in.empty() ? "0" : port_in;
  const bool numeric_port = all_digits(port);
  if (numeric_port && (port.size() > 5 || std::stoi(port) > 65535)) {
    throw_lookup(op, kind, std::make_error_code(std::errc::invalid_argument),
                 "address " + port + ": invalid port");
  }
  if (passive && host.empty() && numeric_port) return wildcard(kind, std::stoi(port));

  addrinfo hints{};
  hints.ai_family = kind.family;
  hints.ai_socktype = kind.socktype;
  hints.ai_flags = AI_NUMERICHOST | (numeric_port ? AI_NUMERICSERV : 0);
  auto result = std::make_shared<addrinfo_list>();
  const char* host_arg = host.empty() ? nullptr : host.c_str();
  result->run(host_arg, port.c_str(), hints);  // literals: no I/O
  if (result->rc == EAI_NONAME && (!host.empty() || !numeric_port)) {
    hints.ai_flags = 0;
    auto lookup = [host, port, hints, empty = host.empty()]() {
      auto r = std::make_shared<addrinfo_list>();
      gopp::blocking([&] { r->run(empty ? nullptr : host.c_str(), port.c_str(), hints); });
      return r;
    };
    if (ctx == background()) {
      result = lookup();
    } else {
      ctx.throw_if_done();
      gopp::chan<std::shared_ptr<addrinfo_list>> done(1);
      gopp::go([done, lookup]() mutable { done.send(lookup()); });
      std::shared_ptr<addrinfo_list> got;
      gopp::select(gopp::recv_case(done, [&](auto r) { got = std::move(*r); }),
                   gopp::recv_case(ctx.done()));
      if (!got) ctx.throw_if_done();
      result = std::move(got);
    }
  }

  const std::string what = host.empty() && !numeric_port ? kind.base + "/" + port : host;
  switch (result->rc) {
    case 0:
      break;
    case EAI_NONAME:
#ifdef EAI_NODATA
    case EAI_NODATA:
#endif
#ifdef EAI_ADDRFAMILY
    case EAI_ADDRFAMILY:
#endif
      throw_lookup(op, kind, errc::no_such_host, "lookup " + what + ": no such host");
    case EAI_SERVICE:
      throw_lookup(op, kind, std::make_error_code(std::errc::invalid_argument),
                   "lookup " + kind.base + "/" + port + ": unknown port");
    case EAI_SYSTEM:
      throw_lookup(op, kind, {result->error, std::generic_category()},
                   "lookup " + what + ": " + lower_first(std::strerror(result->error)));
    default:
      throw_lookup(op, kind, errc::lookup_failed,
                   "lookup " + what + ": " + lower_first(::gai_strerror(result->rc)));
  }

  std::vector<addr> out;
  for (const addrinfo* ai = result->list; ai != nullptr; ai = ai->ai_next) {
    if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
    addr a(kind.base, ai->ai_addr, ai->ai_addrlen);
    if (std::find(out.begin(), out.end(), a) == out.end()) out.push_back(std::move(a));
  }
  std::stable_partition(out.begin(), out.end(),
                        [](const addr& a) { return a.ip().find(':') == std::string::npos; });
  if (out.empty()) {
    throw_lookup(op, kind, errc::no_such_host, "lookup " + what + ": no suitable address found");
  }
  return out;
}

}  // namespace detail

addr resolve_addr(std::string_view network, std::string_view address) {
  const auto kind = detail::parse_network(network);
  if (!kind) {
    throw op_error(std::make_error_code(std::errc::invalid_argument), "lookup",
                   "unknown network " + std::string(network));
  }
  if (!kind->ip()) {
    auto a = detail::unix_addr(*kind, address);
    if (!a) {
      throw op_error(std::make_error_code(std::errc::invalid_argument), "lookup",
                     "address " + std::string(address) + ": path too long for a unix socket");
    }
    return *a;
  }
  std::pair<std::string, std::string> hp;
  try {
    hp = split_host_port(address);
  } catch (const std::invalid_argument& e) {
    throw op_error(std::make_error_code(std::errc::invalid_argument), "lookup", e.what());
  }
  return detail::resolve(background(), "", *kind, hp.first, hp.second, false).front();
}

}  // namespace gopp::net
