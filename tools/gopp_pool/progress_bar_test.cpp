// Tests for gopp-pool's progress bar frames (progress_bar.hpp). Drawing itself only happens on a
// terminal, so the tests check the frame text and that a disabled bar stays silent.
#include "progress_bar.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace {

using namespace std::chrono_literals;
using gopp_pool::progress_bar;

TEST(ProgressBar, HeaderExampleFrame) {
  EXPECT_EQ(progress_bar::render("pool", 3, 5, 1200ms),
            "pool       [##################------------] 3/5  1.2s");
}

TEST(ProgressBar, EmptyAndFull) {
  EXPECT_EQ(progress_bar::render("sequential", 0, 5, 0ns),
            "sequential [------------------------------] 0/5  0s");
  EXPECT_EQ(progress_bar::render("pool", 5, 5, 2000943787ns),
            "pool       [##############################] 5/5  2s");
}

TEST(ProgressBar, CountIsPaddedToTheTotalsWidth) {
  EXPECT_EQ(progress_bar::render("pool", 7, 120, 61500ms),
            "pool       [#-----------------------------]   7/120  1m1.5s");
}

TEST(ProgressBar, OutOfRangeCountsAreClamped) {
  EXPECT_EQ(progress_bar::render("p", 9, 5, 0ns),
            "p          [##############################] 5/5  0s");
  EXPECT_EQ(progress_bar::render("p", -1, 5, 0ns),
            "p          [------------------------------] 0/5  0s");
}

TEST(ProgressBar, DisabledBarWritesNothing) {
  testing::internal::CaptureStderr();
  const progress_bar bar("pool", 5, false);
  bar.draw(1, 1s);
  bar.clear();
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
}

}  // namespace
