// gopp-pool's live progress bar: one line on standard error, redrawn in place.
//
//   progress_bar bar("pool", 5, /*enabled=*/isatty(STDERR_FILENO));
//   bar.draw(3, 1200ms);   // "\r\x1b[Kpool       [##################------------] 3/5  1.2s"
//   bar.clear();           // erases the line before the next log line
//
// It is meant for a terminal only: a disabled bar draws nothing, so redirected output stays
// clean. Each draw is a single write(2) (like the log lines), so it cannot split a log line.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace gopp_pool {

class progress_bar {
 public:
  progress_bar(std::string label, int total, bool enabled);

  bool enabled() const noexcept { return enabled_; }
  // Redraws the bar for `done` of `total` jobs after `elapsed`.
  void draw(int done, std::chrono::nanoseconds elapsed) const;
  // Erases the bar's line, leaving the cursor at its start.
  void clear() const;

  // The text of one frame without the terminal controls, e.g.
  // "pool       [##################------------] 3/5  1.2s". Elapsed time is shown to a tenth
  // of a second in Go's duration format.
  static std::string render(std::string_view label, int done, int total,
                            std::chrono::nanoseconds elapsed);

 private:
  std::string label_;
  int total_;
  bool enabled_;
};

}  // namespace gopp_pool
