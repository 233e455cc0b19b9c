// Helpers shared by gopp::dist's client, worker and inspect.
#pragma once

#include <map>
#include <string>

#include "dist/redis_client.hpp"
#include "dist/scripts.hpp"
#include "gopp/dist.hpp"

namespace gopp::dist::detail {

// The Redis connection options of `o` (its broker URL). Throws broker_error for a bad URL.
redis_options connection_options(const options& o, const std::string& client_name);
// Once per process: one line on stderr if the server lacks appendonly yes or
// maxmemory-policy noeviction. Errors (CONFIG disabled, server down) are ignored.
void warn_if_unsafe(redis_client& c, const options& o);
// An entry's field/value array as a map.
std::map<std::string, std::string> fields_of(const reply& flat);
// "host:pid:random": a name no other process uses.
std::string unique_name();
// Exponential backoff with jitter in [d/2, d] where d = base * 2^(n-1), at most max.
std::chrono::milliseconds backoff(std::chrono::milliseconds base, std::chrono::milliseconds max,
                                  std::uint32_t n);

}  // namespace gopp::dist::detail
