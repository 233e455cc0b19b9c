// Helpers shared by gopp::dist's client, worker and inspect (common.hpp).
#include "dist/common.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <random>

namespace gopp::dist::detail {

redis_options connection_options(const options& o, const std::string& client_name) {
  redis_options r;
  try {
    r.address = parse_redis_url(o.broker);
  } catch (const std::invalid_argument& e) {
    throw broker_error(e.what());
  }
  r.client_name = client_name;
  return r;
}

void warn_if_unsafe(redis_client& c, const options& o) {
  static std::atomic<bool> warned{false};
  if (!o.warn_unsafe_redis || warned.load()) return;
  try {
    auto r = c.pipeline({{"CONFIG", "GET", "appendonly"}, {"CONFIG", "GET", "maxmemory-policy"}});
    std::string aof, policy;
    if (!r[0].is_error() && r[0].elements.size() == 2) aof = r[0].elements[1].str;
    if (!r[1].is_error() && r[1].elements.size() == 2) policy = r[1].elements[1].str;
    if (aof.empty() && policy.empty()) return;  // CONFIG is disabled: cannot tell
    std::string what;
    if (aof != "yes") what += "appendonly is '" + aof + "' (want yes)";
    if (policy != "noeviction") {
      if (!what.empty()) what += ", ";
      what += "maxmemory-policy is '" + policy + "' (want noeviction)";
    }
    if (!what.empty() && !warned.exchange(true)) {
      std::fprintf(stderr, "gopp: dist: warning: redis at %s: %s; jobs can be lost\n",
                   o.broker.c_str(), what.c_str());
    }
  } catch (const std::exception&) {
  }
}

std::map<std::string, std::string> fields_of(const reply& flat) {
  std::map<std::string, std::string> f;
  for (std::size_t i = 0; i + 1 < flat.elements.size(); i += 2) {
    f[flat.elements[i].str] = flat.elements[i + 1].str;
  }
  return f;
}

std::string unique_name() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  std::random_device rd;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%08x", rd());
  return std::string(host) + ":" + std::to_string(::getpid()) + ":" + buf;
}

std::chrono::milliseconds backoff(std::chrono::milliseconds base, std::chrono::milliseconds max,
                                  std::uint32_t n) {
  auto d = base;
  for (std::uint32_t i = 1; i < n && d < max; ++i) d *= 2;
  d = std::min(d, max);
  thread_local std::minstd_rand rng(std::random_device{}());
  std::uniform_int_distribution<long long> u(d.count() / 2, std::max<long long>(d.count(), 1));
  return std::chrono::milliseconds(u(rng));
}

}  // namespace gopp::dist::detail
