// redis_client: see redis_client.hpp for the invariants.
#include "dist/redis_client.hpp"

#include <hiredis/hiredis.h>

#include <cstring>
#include <mutex>
#include <random>
#include <thread>

#include "dist/redis_socket.hpp"
#include "gopp/go.hpp"

namespace gopp::dist::detail {

namespace {

reply convert(const redisReply* r) {
  reply out;
  switch (r->type) {
    case REDIS_REPLY_STRING:
      out.type = reply::kind::string;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = reply::kind::status;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = reply::kind::error;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = reply::kind::integer;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = reply::kind::array;
      out.elements.reserve(r->elements);
      for (std::size_t i = 0; i < r->elements; ++i) out.elements.push_back(convert(r->element[i]));
      break;
    default:
      out.type = reply::kind::nil;
  }
  return out;
}

std::string encode(const command& cmd) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lens;
  argv.reserve(cmd.size());
  lens.reserve(cmd.size());
  for (const std::string& a : cmd) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  char* out = nullptr;
  const int n =
      ::redisFormatCommandArgv(&out, static_cast<int>(argv.size()), argv.data(), lens.data());
  if (n < 0 || out == nullptr) throw std::bad_alloc();
  std::string s(out, static_cast<std::size_t>(n));
  ::redisFreeCommand(out);
  return s;
}

}  // namespace

const reply& reply::check() const {
  if (type == kind::error) throw redis_error(str);
  return *this;
}

std::string reply::as_string() const {
  check();
  if (type == kind::integer) return std::to_string(integer);
  return str;
}

long long reply::as_integer() const {
  check();
  if (type == kind::integer) return integer;
  if (type == kind::string || type == kind::status) {
    try {
      return std::stoll(str);
    } catch (const std::exception&) {
    }
  }
  throw redis_error("redis: expected an integer reply, got '" + str + "'");
}

redis_address parse_redis_url(std::string_view url) {
  const std::string_view scheme = "redis://";
  const std::string whole(url);
  if (url.substr(0, scheme.size()) != scheme) {
    throw std::invalid_argument("bad broker URL '" + whole +
                                "': expected redis://host[:port][/db]");
  }
  url.remove_prefix(scheme.size());
  redis_address a;
  if (const auto at = url.rfind('@'); at != std::string_view::npos) {
    std::string_view cred = url.substr(0, at);
    if (const auto colon = cred.find(':'); colon != std::string_view::npos) {
      cred.remove_prefix(colon + 1);
    }
    a.password = std::string(cred);
    url.remove_prefix(at + 1);
  }
  std::string_view hostport = url;
  if (const auto slash = url.find('/'); slash != std::string_view::npos) {
    hostport = url.substr(0, slash);
    const std::string db(url.substr(slash + 1));
    if (!db.empty()) {
      std::size_t used = 0;
      try {
        a.db = std::stoi(db, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != db.size() || a.db < 0) {
        throw std::invalid_argument("bad broker URL '" + whole + "': database '" + db +
                                    "' is not a number");
      }
    }
  }
  if (const auto colon = hostport.rfind(':'); colon != std::string_view::npos) {
    const std::string port(hostport.substr(colon + 1));
    std::size_t used = 0;
    int p = -1;
    try {
      p = std::stoi(port, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != port.size() || p <= 0 || p > 65535) {
      throw std::invalid_argument("bad broker URL '" + whole + "': port '" + port +
                                  "' is not in 1..65535");
    }
    a.port = p;
    hostport = hostport.substr(0, colon);
  }
  if (hostport.empty()) throw std::invalid_argument("bad broker URL '" + whole + "': no host");
  a.host = std::string(hostport);
  return a;
}

redis_client::redis_client(redis_options opts)
    : opts_(std::move(opts)), rng_(std::random_device{}()) {}

redis_client::~redis_client() {
  drop();
}

bool redis_client::connected() const noexcept {
  return static_cast<bool>(fd_);
}

void redis_client::disconnect() noexcept {
  gopp::net::conn fd;
  {
    std::lock_guard lk(fd_mu_);
    fd = fd_;
  }
  disconnected_.store(true, std::memory_order_release);
  fd.close();  // a parked call wakes with "use of closed network connection" and drops it
}

void redis_client::drop() noexcept {
  std::lock_guard lk(fd_mu_);
  fd_.close();
  fd_ = gopp::net::conn();
  if (reader_) ::redisReaderFree(reader_);
  reader_ = nullptr;
}

void redis_client::ensure_connected(clock::time_point deadline) {
  if (fd_ && !disconnected_.load(std::memory_order_acquire)) return;
  disconnected_.store(false, std::memory_order_relaxed);
  drop();
  // Backoff: a dial after a failed one waits until next_dial_ (or fails when that is past the
  // call's deadline: the caller retries later, and the wait is not lost).
  const auto now = clock::now();
  if (next_dial_ > now) {
    if (next_dial_ > deadline) {
      gopp::sleep_until(deadline);
      throw redis_io_error("redis " + opts_.address.host + ":" +
                           std::to_string(opts_.address.port) + ": reconnecting (backoff)");
    }
    gopp::sleep_until(next_dial_);
  }
  try {
    auto fd = dial_tcp(opts_.address.host, opts_.address.port, deadline);
    {
      std::lock_guard lk(fd_mu_);
      fd_ = std::move(fd);
    }
    reader_ = ::redisReaderCreate();
    if (!reader_) throw std::bad_alloc();
    std::vector<command> hello;
    if (!opts_.address.password.empty()) hello.push_back({"AUTH", opts_.address.password});
    if (opts_.address.db != 0) hello.push_back({"SELECT", std::to_string(opts_.address.db)});
    if (!opts_.client_name.empty()) hello.push_back({"CLIENT", "SETNAME", opts_.client_name});
    if (!hello.empty()) {
      for (const reply& r : exchange(hello, deadline)) {
        if (r.is_error()) throw redis_io_error("redis: connection setup failed: " + r.str);
      }
    }
    backoff_ = std::chrono::milliseconds{0};
    next_dial_ = {};
  } catch (...) {
    drop();
    // Exponential backoff with full jitter in [backoff/2, backoff].
    backoff_ =
        backoff_.count() == 0 ? opts_.min_backoff : std::min(backoff_ * 2, opts_.max_backoff);
    std::uniform_int_distribution<long long> d(backoff_.count() / 2, backoff_.count());
    next_dial_ = clock::now() + std::chrono::milliseconds(d(rng_));
    throw;
  }
}

std::vector<reply> redis_client::exchange(const std::vector<command>& cmds,
                                          clock::time_point deadline) {
  std::string out;
  for (const command& c : cmds) out += encode(c);
  const std::string where =
      "redis " + opts_.address.host + ":" + std::to_string(opts_.address.port) + ": ";
  try {
    fd_.set_deadline(deadline);
    fd_.write(std::string_view(out));
  } catch (const gopp::net::op_error& e) {
    throw redis_io_error(where + e.what());
  }
  std::vector<reply> replies;
  replies.reserve(cmds.size());
  char buf[16384];
  while (replies.size() < cmds.size()) {
    void* r = nullptr;
    if (::redisReaderGetReply(reader_, &r) != REDIS_OK) {
      throw redis_io_error(where + "protocol error: " + reader_->errstr);
    }
    if (r != nullptr) {
      replies.push_back(convert(static_cast<redisReply*>(r)));
      ::freeReplyObject(r);
      continue;
    }
    std::size_t n = 0;
    try {
      n = fd_.read(std::span<char>(buf, sizeof buf));
    } catch (const gopp::net::op_error& e) {
      throw redis_io_error(where + e.what());
    }
    if (n == 0) throw redis_io_error(where + "connection closed by the server");
    if (::redisReaderFeed(reader_, buf, n) != REDIS_OK) {
      throw redis_io_error(where + "protocol error: " + reader_->errstr);
    }
  }
  return replies;
}

std::vector<reply> redis_client::roundtrip(const std::vector<command>& cmds,
                                           clock::time_point deadline) {
  ensure_connected(deadline);
  try {
    return exchange(cmds, deadline);
  } catch (...) {
    drop();
    throw;
  }
}

std::vector<reply> redis_client::pipeline(const std::vector<command>& cmds,
                                          std::chrono::milliseconds timeout) {
  if (cmds.empty()) return {};
  const auto deadline = clock::now() + (timeout.count() > 0 ? timeout : opts_.call_timeout);
  std::lock_guard lk(mu_);
  return roundtrip(cmds, deadline);
}

reply redis_client::call(const command& cmd, std::chrono::milliseconds timeout) {
  std::vector<reply> r = pipeline({cmd}, timeout);
  r[0].check();
  return std::move(r[0]);
}

reply redis_client::eval(const std::string& script, const std::vector<std::string>& keys,
                         const std::vector<std::string>& args, std::chrono::milliseconds timeout) {
  const auto deadline = clock::now() + (timeout.count() > 0 ? timeout : opts_.call_timeout);
  std::lock_guard lk(mu_);
  std::string sha;
  for (const auto& [text, s] : shas_) {
    if (text == script) sha = s;
  }
  auto evalsha = [&](const std::string& h) {
    command c{"EVALSHA", h, std::to_string(keys.size())};
    c.insert(c.end(), keys.begin(), keys.end());
    c.insert(c.end(), args.begin(), args.end());
    return roundtrip({c}, deadline)[0];
  };
  if (!sha.empty()) {
    reply r = evalsha(sha);
    if (!(r.is_error() && r.str.rfind("NOSCRIPT", 0) == 0)) return r.check(), r;
  }
  reply loaded = roundtrip({{"SCRIPT", "LOAD", script}}, deadline)[0];
  loaded.check();
  sha = loaded.str;
  bool known = false;
  for (auto& [text, s] : shas_) {
    if (text == script) s = sha, known = true;
  }
  if (!known) shas_.emplace_back(script, sha);
  reply r = evalsha(sha);
  r.check();
  return r;
}

}  // namespace gopp::dist::detail
