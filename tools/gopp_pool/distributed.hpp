// gopp-pool's distributed commands (gopp::dist on Redis Streams):
//   gopp-pool worker --broker redis://127.0.0.1:6379 [--queue Q] [--workers N]
//   gopp-pool run    --broker ... [--queue Q] [--jobs 5] [--job-time 1s]
//   gopp-pool stats  --broker ... [--queue Q]
#pragma once

#include <string_view>

namespace gopp_pool {

// True when argv[1] names one of the commands above.
bool is_distributed_command(std::string_view arg) noexcept;
// Runs it; returns the exit status: 0, 1 (broker or run failure: one line on stderr), 2 (usage).
int distributed_main(int argc, char** argv);

}  // namespace gopp_pool
