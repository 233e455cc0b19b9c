// Tests for gopp-pool's command line (options.hpp): defaults are the seed program, every flag in
// both spellings, and every kind of mistake rejected with a message that names the flag.
#include "options.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <initializer_list>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;
using gopp_pool::options;
using gopp_pool::parse_options;
using gopp_pool::run_mode;

options parse(std::initializer_list<const char*> args) {
  std::vector<const char*> argv{"gopp-pool"};
  argv.insert(argv.end(), args);
  return parse_options(static_cast<int>(argv.size()), argv.data());
}

// The usage_error's message, or "accepted".
std::string error_of(std::initializer_list<const char*> args) {
  try {
    parse(args);
    return "accepted";
  } catch (const gopp_pool::usage_error& e) {
    return e.what();
  }
}

TEST(GoppPoolOptions, DefaultsReproduceTheSeed) {
  const options o = parse({});
  EXPECT_EQ(o.jobs, 5);
  EXPECT_EQ(o.workers, 3);
  EXPECT_EQ(o.job_time, 1s);
  EXPECT_EQ(o.mode, run_mode::both);
  EXPECT_FALSE(o.quiet);
  EXPECT_FALSE(o.progress);
  EXPECT_FALSE(o.help);
}

// The header's example.
TEST(GoppPoolOptions, HeaderExample) {
  const char* argv[] = {"gopp-pool", "--jobs", "8", "--job-time=250ms"};
  const options o = parse_options(4, argv);
  EXPECT_EQ(o.jobs, 8);
  EXPECT_EQ(o.workers, 3);
  EXPECT_EQ(o.job_time, 250ms);
}

TEST(GoppPoolOptions, EveryFlagWithSeparateValue) {
  const options o = parse({"--jobs", "12", "--workers", "4", "--job-time", "1.5s", "--mode", "pool",
                           "--quiet", "--progress"});
  EXPECT_EQ(o.jobs, 12);
  EXPECT_EQ(o.workers, 4);
  EXPECT_EQ(o.job_time, 1500ms);
  EXPECT_EQ(o.mode, run_mode::pool);
  EXPECT_TRUE(o.quiet);
  EXPECT_TRUE(o.progress);
}

TEST(GoppPoolOptions, EqualsFormAndSingleDashLikeGosFlagPackage) {
  const options o =
      parse({"-jobs=7", "--workers=2", "-job-time", "2m", "-mode=sequential", "-quiet"});
  EXPECT_EQ(o.jobs, 7);
  EXPECT_EQ(o.workers, 2);
  EXPECT_EQ(o.job_time, 2min);
  EXPECT_EQ(o.mode, run_mode::sequential);
  EXPECT_TRUE(o.quiet);
}

TEST(GoppPoolOptions, LaterFlagWins) {
  EXPECT_EQ(parse({"--jobs", "2", "--jobs", "9"}).jobs, 9);
  EXPECT_EQ(parse({"--mode", "pool", "--mode", "both"}).mode, run_mode::both);
}

TEST(GoppPoolOptions, JobTimeTakesGoDurationsIncludingZero) {
  EXPECT_EQ(parse({"--job-time", "200ms"}).job_time, 200ms);
  EXPECT_EQ(parse({"--job-time", "1h2m3s"}).job_time, 1h + 2min + 3s);
  EXPECT_EQ(parse({"--job-time", "1.5\u00b5s"}).job_time, 1500ns);
  EXPECT_EQ(parse({"--job-time", "0"}).job_time, 0s);
}

TEST(GoppPoolOptions, HelpWinsOverEverythingAfterIt) {
  EXPECT_TRUE(parse({"--help"}).help);
  EXPECT_TRUE(parse({"-h"}).help);
  EXPECT_TRUE(parse({"--jobs", "3", "--help", "--bogus"}).help);
}

TEST(GoppPoolOptions, DoubleDashEndsTheFlags) {
  EXPECT_EQ(parse({"--jobs", "4", "--"}).jobs, 4);
  EXPECT_EQ(error_of({"--", "extra"}), "unexpected argument: extra");
}

TEST(GoppPoolOptions, UnknownFlag) {
  EXPECT_EQ(error_of({"--bogus"}), "flag provided but not defined: --bogus");
  EXPECT_EQ(error_of({"-x"}), "flag provided but not defined: -x");
  EXPECT_EQ(error_of({"--job"}), "flag provided but not defined: --job");
}

TEST(GoppPoolOptions, MissingValue) {
  EXPECT_EQ(error_of({"--jobs"}), "flag needs an argument: --jobs");
  EXPECT_EQ(error_of({"--workers"}), "flag needs an argument: --workers");
  EXPECT_EQ(error_of({"-job-time"}), "flag needs an argument: --job-time");
  EXPECT_EQ(error_of({"--mode"}), "flag needs an argument: --mode");
}

TEST(GoppPoolOptions, NonNumericCounts) {
  EXPECT_EQ(error_of({"--jobs", "abc"}),
            "invalid value \"abc\" for flag --jobs: not a whole number");
  EXPECT_EQ(error_of({"--workers=3x"}),
            "invalid value \"3x\" for flag --workers: not a whole number");
  EXPECT_EQ(error_of({"--jobs", "+5"}), "invalid value \"+5\" for flag --jobs: not a whole number");
  EXPECT_EQ(error_of({"--jobs", ""}), "invalid value \"\" for flag --jobs: not a whole number");
  EXPECT_EQ(error_of({"--jobs", "1.5"}),
            "invalid value \"1.5\" for flag --jobs: not a whole number");
  EXPECT_EQ(error_of({"--jobs", "99999999999999999999"}),
            "invalid value \"99999999999999999999\" for flag --jobs: out of range");
  EXPECT_EQ(error_of({"--jobs", "2147483648"}),
            "invalid value \"2147483648\" for flag --jobs: out of range");
}

TEST(GoppPoolOptions, ZeroOrNegativeCounts) {
  EXPECT_EQ(error_of({"--workers", "0"}),
            "invalid value \"0\" for flag --workers: must be at least 1");
  EXPECT_EQ(error_of({"--jobs", "0"}), "invalid value \"0\" for flag --jobs: must be at least 1");
  EXPECT_EQ(error_of({"--workers=-2"}),
            "invalid value \"-2\" for flag --workers: must be at least 1");
}

// A value that looks like a flag is still taken as the value, as Go's flag package does; here it
// is then rejected as a number.
TEST(GoppPoolOptions, ValueThatLooksLikeAFlagIsTheValue) {
  EXPECT_EQ(error_of({"--jobs", "--quiet"}),
            "invalid value \"--quiet\" for flag --jobs: not a whole number");
}

TEST(GoppPoolOptions, BadDurationCarriesGosParseError) {
  EXPECT_EQ(
      error_of({"--job-time", "5x"}),
      "invalid value \"5x\" for flag --job-time: time: unknown unit \"x\" in duration \"5x\"");
  EXPECT_EQ(error_of({"--job-time", "5"}),
            "invalid value \"5\" for flag --job-time: time: missing unit in duration \"5\"");
  EXPECT_EQ(error_of({"--job-time=abc"}),
            "invalid value \"abc\" for flag --job-time: time: invalid duration \"abc\"");
  EXPECT_EQ(error_of({"--job-time", "-1s"}),
            "invalid value \"-1s\" for flag --job-time: must not be negative");
}

TEST(GoppPoolOptions, BadMode) {
  EXPECT_EQ(error_of({"--mode", "fast"}),
            "invalid value \"fast\" for flag --mode: must be pool, sequential or both");
}

TEST(GoppPoolOptions, BooleanFlagsTakeNoValue) {
  EXPECT_EQ(error_of({"--quiet=yes"}), "flag --quiet takes no value");
  EXPECT_EQ(error_of({"--progress=1"}), "flag --progress takes no value");
}

TEST(GoppPoolOptions, PositionalArgumentsAreRejected) {
  EXPECT_EQ(error_of({"5"}), "unexpected argument: 5");
  EXPECT_EQ(error_of({"-"}), "unexpected argument: -");
}

TEST(GoppPoolOptions, RateTakesJobsPerSecond) {
  EXPECT_EQ(parse({}).rate, 0);  // no limit by default
  EXPECT_EQ(parse({"--rate", "2"}).rate, 2);
  EXPECT_EQ(parse({"-rate=0.5"}).rate, 0.5);
  EXPECT_EQ(parse({"--rate", "0"}).rate, 0);
  EXPECT_EQ(error_of({"--rate"}), "flag needs an argument: --rate");
  EXPECT_EQ(error_of({"--rate", "fast"}), "invalid value \"fast\" for flag --rate: not a number");
  EXPECT_EQ(error_of({"--rate", "2/s"}), "invalid value \"2/s\" for flag --rate: not a number");
  EXPECT_EQ(error_of({"--rate", "inf"}), "invalid value \"inf\" for flag --rate: not a number");
  EXPECT_EQ(error_of({"--rate=-1"}), "invalid value \"-1\" for flag --rate: must not be negative");
}

TEST(GoppPoolOptions, UsageAndHelpNameEveryFlag) {
  const std::string usage(gopp_pool::usage_line());
  const std::string help = gopp_pool::help_text();
  EXPECT_EQ(usage.rfind("usage: gopp-pool ", 0), 0u);
  EXPECT_EQ(help.rfind(usage, 0), 0u);
  for (const char* flag : {"--jobs", "--workers", "--job-time", "--mode", "--rate", "--quiet",
                           "--progress", "--help"}) {
    EXPECT_NE(usage.find(flag), std::string::npos) << flag;
    EXPECT_NE(help.find(flag), std::string::npos) << flag;
  }
}

}  // namespace
