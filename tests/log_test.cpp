// Tests for gopp/log.hpp: Go's default log line format, Go's newline rules, the output hook, and
// whole lines under concurrent logging.
#include "gopp/log.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
// GCC 12 with -fsanitize=address warns -Wmaybe-uninitialized inside libstdc++'s <regex> (a false
// positive in std::function's internals); keep the sanitizer builds warning-free.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <regex>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gopp/defer.hpp"
#include "gopp/duration.hpp"

namespace {

using namespace std::chrono_literals;

// "2021/03/18 09:25:25 " as a regex.
const std::string prefix_re = R"(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d )";

// Points the log at a temporary file for the life of the fixture and reads back what was logged.
class LogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    file_ = std::tmpfile();
    ASSERT_NE(file_, nullptr);
    previous_ = gopp::set_log_output(fileno(file_));
  }
  void TearDown() override {
    gopp::set_log_output(previous_);
    if (file_) std::fclose(file_);
  }
  std::string logged() {
    std::string out;
    std::rewind(file_);
    char chunk[4096];
    for (std::size_t n; (n = std::fread(chunk, 1, sizeof chunk, file_)) > 0;) out.append(chunk, n);
    return out;
  }

 private:
  std::FILE* file_ = nullptr;
  int previous_ = -1;
};

// Sets the TZ environment variable for one scope (localtime_r reads it after tzset()).
class scoped_tz {
 public:
  explicit scoped_tz(const char* tz) {
    if (const char* old = std::getenv("TZ")) old_ = old, had_ = true;
    ::setenv("TZ", tz, 1);
    ::tzset();
  }
  ~scoped_tz() {
    if (had_) {
      ::setenv("TZ", old_.c_str(), 1);
    } else {
      ::unsetenv("TZ");
    }
    ::tzset();
  }

 private:
  std::string old_;
  bool had_ = false;
};

// 2021-03-18 09:25:25 UTC, the time of the worker-pool blog post's log lines.
constexpr std::chrono::sys_seconds blog_time{std::chrono::seconds{1616059525}};

TEST(LogPrefix, IsGosLdateLtimeFormat) {
  scoped_tz utc("UTC0");
  EXPECT_EQ(gopp::log_prefix(blog_time), "2021/03/18 09:25:25 ");
  EXPECT_EQ(gopp::log_prefix(blog_time + 500ms), "2021/03/18 09:25:25 ");  // seconds truncate
  EXPECT_EQ(gopp::log_prefix(std::chrono::sys_days{std::chrono::year{2009} / 1 / 3} + 1h + 2min),
            "2009/01/03 01:02:00 ");
}

TEST(LogPrefix, UsesLocalTime) {
  scoped_tz india("IST-5:30");  // POSIX: five and a half hours east of UTC
  EXPECT_EQ(gopp::log_prefix(blog_time), "2021/03/18 14:55:25 ");
  scoped_tz before_midnight("XST+10");  // ten hours west: the previous day
  EXPECT_EQ(gopp::log_prefix(blog_time), "2021/03/17 23:25:25 ");
}

TEST(SetLogOutput, DefaultsToStandardErrorAndReturnsThePrevious) {
  const int first = gopp::set_log_output(STDOUT_FILENO);
  EXPECT_EQ(first, STDERR_FILENO);
  EXPECT_EQ(gopp::set_log_output(first), STDOUT_FILENO);
}

TEST_F(LogTest, PrintfWritesPrefixMessageAndNewline) {
  gopp::log_printf("%s: %d", "answer", 42);
  EXPECT_TRUE(std::regex_match(logged(), std::regex("^" + prefix_re + "answer: 42\n$")))
      << logged();
}

// The header's banner example, the blog post's line.
TEST_F(LogTest, BannerExampleTimingLine) {
  const auto start = std::chrono::steady_clock::now() - 2000943787ns;
  gopp::log_printf("%s: %s", "time using worker pool",
                   gopp::format_duration(std::chrono::steady_clock::now() - start).c_str());
  EXPECT_TRUE(std::regex_match(
      logged(), std::regex("^" + prefix_re + R"(time using worker pool: 2\.\d+s\n$)")))
      << logged();
}

TEST_F(LogTest, LineCarriesTheCurrentLocalTime) {
  const auto before = std::chrono::system_clock::now();
  gopp::log_print("now");
  const auto after = std::chrono::system_clock::now();
  const std::string line = logged();
  // The second may tick between the calls: the line shows one of the two.
  EXPECT_TRUE(line == gopp::log_prefix(before) + "now\n" ||
              line == gopp::log_prefix(after) + "now\n")
      << line;
}

// Go's Logger.Output: a newline is appended only when the message lacks one.
TEST_F(LogTest, PrintfAndPrintAppendNewlineOnlyIfMissing) {
  gopp::log_printf("one\n");
  gopp::log_print("two");
  gopp::log_print("three\n");
  gopp::log_printf("%s", "");
  EXPECT_TRUE(
      std::regex_match(logged(), std::regex("^" + prefix_re + "one\n" + prefix_re + "two\n" +
                                            prefix_re + "three\n" + prefix_re + "\n$")))
      << logged();
}

// Go's log.Println always ends the message with its own newline (fmt.Sprintln), so a message
// that already ends with one is followed by an empty line, as `go run` shows.
TEST_F(LogTest, PrintlnAlwaysEndsWithItsOwnNewlineLikeGo) {
  gopp::log_println("a");
  gopp::log_println("b\n");
  gopp::log_println("");
  EXPECT_TRUE(std::regex_match(
      logged(), std::regex("^" + prefix_re + "a\n" + prefix_re + "b\n\n" + prefix_re + "\n$")))
      << logged();
}

TEST_F(LogTest, LongMessageIsWrittenWhole) {
  const std::string big(100000, 'x');
  gopp::log_printf("[%s]", big.c_str());
  const std::string out = logged();
  ASSERT_EQ(out.size(), 20 + big.size() + 3);
  EXPECT_EQ(out.substr(20), "[" + big + "]\n");
}

TEST_F(LogTest, EmbeddedBytesInStringViewAreKept) {
  gopp::log_print(std::string_view("a\0b", 3));
  const std::string out = logged();
  EXPECT_EQ(out.substr(20), std::string("a\0b\n", 4)) << out;
}

// Each line is one write(2): lines logged at the same time from many threads arrive whole
// through a pipe (each well under PIPE_BUF), never spliced together.
TEST(LogConcurrency, LinesFromManyThreadsNeverInterleave) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const int previous = gopp::set_log_output(fds[1]);
  std::string received;
  std::thread reader([&] {
    char chunk[8192];
    for (ssize_t n; (n = ::read(fds[0], chunk, sizeof chunk)) > 0;) received.append(chunk, n);
  });

  constexpr int threads = 8, lines = 300;
  const std::string payload(1000, '.');
  std::vector<std::thread> loggers;
  for (int t = 0; t < threads; ++t) {
    loggers.emplace_back([&, t] {
      for (int i = 0; i < lines; ++i) gopp::log_printf("t%d i%d %s end", t, i, payload.c_str());
    });
  }
  for (auto& l : loggers) l.join();
  gopp::set_log_output(previous);
  ::close(fds[1]);
  reader.join();
  ::close(fds[0]);

  const std::regex line_re("^" + prefix_re + R"(t(\d) i(\d+) \.{1000} end$)");
  std::vector<std::vector<bool>> seen(threads, std::vector<bool>(lines));
  std::istringstream in(received);
  int count = 0;
  for (std::string line; std::getline(in, line); ++count) {
    std::smatch m;
    ASSERT_TRUE(std::regex_match(line, m, line_re)) << "spliced line: " << line.substr(0, 80);
    seen[std::stoi(m[1])][std::stoi(m[2])] = true;
  }
  EXPECT_EQ(count, threads * lines);
  for (const auto& per_thread : seen) {
    for (bool s : per_thread) EXPECT_TRUE(s);
  }
}

}  // namespace
