#include "progress_bar.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "gopp/duration.hpp"

namespace gopp_pool {
namespace {

constexpr int bar_width = 30;
// Carriage return, then "erase to end of line" (ANSI EL): the frame replaces the previous one.
constexpr std::string_view erase_line = "\r\x1b[K";

void write_stderr(const std::string& s) {
  // Best effort, as a progress display should be: a failed write is not worth failing the run.
  for (std::size_t off = 0; off < s.size();) {
    const ssize_t n = ::write(STDERR_FILENO, s.data() + off, s.size() - off);
    if (n <= 0) return;
    off += static_cast<std::size_t>(n);
  }
}

}  // namespace

progress_bar::progress_bar(std::string label, int total, bool enabled)
    : label_(std::move(label)), total_(total), enabled_(enabled) {}

std::string progress_bar::render(std::string_view label, int done, int total,
                                 std::chrono::nanoseconds elapsed) {
  done = std::clamp(done, 0, std::max(total, 0));
  const int filled = total > 0 ? done * bar_width / total : bar_width;
  const auto tenths = std::chrono::floor<std::chrono::milliseconds>(elapsed) /
                      std::chrono::milliseconds(100) * std::chrono::milliseconds(100);
  const std::string total_text = std::to_string(total);
  std::string done_text = std::to_string(done);
  done_text.insert(0, total_text.size() - std::min(total_text.size(), done_text.size()), ' ');

  std::string line(label);
  line.resize(std::max<std::size_t>(line.size(), 10), ' ');
  line += " [";
  line.append(static_cast<std::size_t>(filled), '#');
  line.append(static_cast<std::size_t>(bar_width - filled), '-');
  line += "] " + done_text + "/" + total_text + "  " + gopp::format_duration(tenths);
  return line;
}

void progress_bar::draw(int done, std::chrono::nanoseconds elapsed) const {
  if (!enabled_) return;
  write_stderr(std::string(erase_line) + render(label_, done, total_, elapsed));
}

void progress_bar::clear() const {
  if (!enabled_) return;
  write_stderr(std::string(erase_line));
}

}  // namespace gopp_pool
