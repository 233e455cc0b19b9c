// tests/goroutine_dump_test.cpp: gopp::goroutine_dump() (gopp/go.hpp), the diagnostic that
// RELIABILITY.md asks for in place of Go's "all goroutines are asleep - deadlock!": every live
// goroutine, with the reason it is parked, in Go's traceback header form; and $GOPP_DUMP_SIGNAL,
// which writes the same dump to stderr when the signal arrives. It lives apart from go_test.cpp
// because it parks goroutines in every kind of blocking call: channels, select, sync, sleep.
#include "test_support.hpp"

#include <signal.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <optional>
#include <regex>
#include <string>
#include <utility>
#include <vector>

namespace {

using namespace gopp_test;
using namespace std::chrono_literals;

class GoroutineDump : public leak_checked {};

std::string line_for(std::uint64_t id, const char* reason) {
  return "goroutine " + std::to_string(id) + " [" + reason + "]:\n";
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST_F(GoroutineDump, ListsEachParkedGoroutineWithItsWaitReason) {
  gopp::chan<int> never;    // nobody sends: receivers wait until it is closed
  gopp::chan<int> never2;   // a second one, for the select
  gopp::chan<int> full(1);  // holds one value: the next send waits
  full.send(0);
  gopp::wait_group pending;  // counter 1 until the test is done
  pending.add(1);
  gopp::mutex held;  // locked by the test
  held.lock();
  // Each goroutine reports (its reason's index below, its id): they may start in any order.
  gopp::chan<std::pair<int, std::uint64_t>> ids(6);
  gopp::wait_group finished;
  finished.add(6);

  gopp::go([&] {
    ids.send({0, gopp::goroutine_id()});
    EXPECT_EQ(never.recv(), std::nullopt);
    finished.done();
  });
  gopp::go([&] {
    ids.send({1, gopp::goroutine_id()});
    full.send(1);
    finished.done();
  });
  gopp::go([&] {
    ids.send({2, gopp::goroutine_id()});
    gopp::select(gopp::recv_case(never), gopp::recv_case(never2));
    finished.done();
  });
  gopp::go([&] {
    ids.send({3, gopp::goroutine_id()});
    gopp::sleep_for(under_sanitizer ? 3s : 1s);
    finished.done();
  });
  gopp::go([&] {
    ids.send({4, gopp::goroutine_id()});
    pending.wait();
    finished.done();
  });
  gopp::go([&] {
    ids.send({5, gopp::goroutine_id()});
    std::lock_guard lock(held);
    finished.done();
  });
  const char* reasons[] = {"chan receive", "chan send", "select", "sleep", "wait_group", "mutex"};
  std::vector<std::string> expected(6);
  for (int i = 0; i < 6; ++i) {
    const auto [which, id] = *ids.recv();
    expected[which] = line_for(id, reasons[which]);
  }

  std::string dump;
  const bool all_parked = eventually([&] {
    dump = gopp::goroutine_dump();
    for (const std::string& line : expected) {
      if (!contains(dump, line)) return false;
    }
    return true;
  });
  EXPECT_TRUE(all_parked) << "expected lines:\n"
                          << expected[0] << expected[1] << expected[2] << expected[3] << expected[4]
                          << expected[5] << "dump:\n"
                          << dump;
  // Go's layout: blocks separated by a blank line, each a header, then frames as pairs of a
  // function line and a tab-indented "file:line" line, then maybe "created by goroutine N";
  // ids rise from block to block.
  const std::regex header("goroutine ([0-9]+) \\[[a-z_A-Z. ()]+\\]:");
  const std::regex created("created by goroutine [0-9]+");
  ASSERT_FALSE(dump.empty());
  ASSERT_EQ(dump.back(), '\n') << "the dump does not end in a newline";
  std::uint64_t last = 0;
  std::size_t blocks = 0;
  for (std::size_t at = 0; at < dump.size();) {
    std::size_t end = dump.find("\n\n", at);
    if (end == std::string::npos) end = dump.size() - 1;
    std::vector<std::string> lines;
    for (std::size_t l = at; l < end + 1;) {
      const std::size_t nl = dump.find('\n', l);
      lines.push_back(dump.substr(l, nl - l));
      l = nl + 1;
    }
    std::smatch m;
    ASSERT_TRUE(std::regex_match(lines[0], m, header)) << "not a header line: " << lines[0];
    const std::uint64_t id = std::stoull(m[1].str());
    EXPECT_GT(id, last);
    last = id;
    std::size_t i = 1;
    for (; i + 1 < lines.size() && lines[i + 1].starts_with('\t'); i += 2) {
      EXPECT_FALSE(lines[i].empty() || lines[i].starts_with('\t')) << dump;
    }
    if (i < lines.size()) {
      EXPECT_TRUE(std::regex_match(lines[i], created)) << lines[i];
      ++i;
    }
    EXPECT_EQ(i, lines.size()) << "stray lines in the block of goroutine " << id << ":\n" << dump;
    ++blocks;
    at = end + 2;
  }
  EXPECT_GE(blocks, expected.size());

  never.close();
  EXPECT_EQ(full.recv(), 0);
  pending.done();
  held.unlock();
  finished.wait();
}

TEST_F(GoroutineDump, ShowsTheCallingGoroutineAsRunningAndNoPlainThread) {
  const std::string from_thread = gopp::goroutine_dump();
  gopp::chan<std::string> out(1);
  gopp::chan<std::uint64_t> id(1);
  gopp::go([&] {
    id.send(gopp::goroutine_id());
    out.send(gopp::goroutine_dump());
  });
  const std::uint64_t self = *id.recv();
  const std::string dump = *out.recv();
  EXPECT_TRUE(contains(dump, line_for(self, "running"))) << dump;
  // The plain thread that called it first is no goroutine and has no line of its own.
  EXPECT_FALSE(contains(from_thread, "[running]")) << from_thread;
}

// The block of goroutine `id` in a dump ("" if it is not there).
std::string block_of(const std::string& dump, std::uint64_t id) {
  const std::size_t at = dump.find("goroutine " + std::to_string(id) + " [");
  if (at == std::string::npos) return "";
  return dump.substr(at, dump.find("\n\n", at) - at);
}

std::atomic<int> g_sink{0};

// Parks in a function of its own, not inlined and not a tail call (it works after the receive),
// so that the frame is there to be named.
[[gnu::noinline]] void parks_in_a_named_function(gopp::chan<int> c) {
  const std::optional<int> v = c.recv();
  g_sink.fetch_add(v ? *v : 1);
}

// The body of the goroutine below: a named function that calls the one that parks.
[[gnu::noinline]] void calls_the_parking_function(gopp::chan<int> never,
                                                  gopp::chan<std::uint64_t> id) {
  id.send(gopp::goroutine_id());
  parks_in_a_named_function(never);
  g_sink.fetch_add(1);
}

// Issue 15: the dump had headers and no stacks. Each parked goroutine's frames are read from its
// saved context and named, innermost first, without the runtime's own frames.
TEST_F(GoroutineDump, ShowsTheFunctionsAParkedGoroutineIsIn) {
  gopp::chan<int> never;
  gopp::chan<std::uint64_t> id(1);
  gopp::wait_group finished;
  finished.add(1);
  gopp::go([never, id, &finished] {
    calls_the_parking_function(never, id);
    finished.done();
  });
  const std::uint64_t parked = *id.recv();
  std::string block;
  EXPECT_TRUE(eventually([&] {
    block = block_of(gopp::goroutine_dump(), parked);
    return contains(block, "calls_the_parking_function(");
  })) << block;
  EXPECT_TRUE(contains(block, "[chan receive]:\n")) << block;
  // Innermost first: the function that parked, then its caller, each followed by its place.
  const std::size_t inner = block.find("parks_in_a_named_function(gopp::chan<int>)\n\t");
  const std::size_t outer = block.find("calls_the_parking_function(gopp::chan<int>, ");
  EXPECT_NE(inner, std::string::npos) << block;
  EXPECT_LT(inner, outer) << block;
  EXPECT_FALSE(contains(block, "gopp::detail::")) << "runtime frames are hidden, as Go's\n"
                                                  << block;
  EXPECT_FALSE(contains(block, "jump_fcontext")) << block;
  never.close();
  finished.wait();
}

[[gnu::noinline]] std::string dumps_from_a_named_function() {
  std::string d = gopp::goroutine_dump();
  g_sink.fetch_add(1);
  return d;
}

TEST_F(GoroutineDump, ShowsTheCallersOwnFramesUnderRunning) {
  gopp::chan<std::string> out(1);
  gopp::chan<std::uint64_t> id(1);
  gopp::go([&] {
    id.send(gopp::goroutine_id());
    out.send(dumps_from_a_named_function());
  });
  const std::uint64_t self = *id.recv();
  const std::string block = block_of(*out.recv(), self);
  EXPECT_TRUE(contains(block, "[running]:\n")) << block;
  EXPECT_TRUE(contains(block, "dumps_from_a_named_function[abi:cxx11]()\n\t") ||
              contains(block, "dumps_from_a_named_function()\n\t"))
      << block;
}

TEST_F(GoroutineDump, AFinishedGoroutineIsNoLongerListed) {
  gopp::chan<std::uint64_t> id(1);
  gopp::wait_group done;
  done.add(1);
  gopp::go([&] {
    id.send(gopp::goroutine_id());
    done.done();
  });
  const std::uint64_t gone = *id.recv();
  done.wait();
  EXPECT_TRUE(eventually([&] {
    return !contains(gopp::goroutine_dump(), "goroutine " + std::to_string(gone) + " [");
  }));
}

// --- $GOPP_DUMP_SIGNAL, in a process of its own (the variable is read when the runtime starts).

class GoroutineDumpSignal : public ::testing::Test {
 protected:
  void SetUp() override { ::testing::FLAGS_gtest_death_test_style = "threadsafe"; }
};

[[noreturn]] void park_one_then_signal(const char* signal_setting, int sig) {
  alarm(60);  // a child that hangs fails instead of hanging the run
  setenv("GOPP_DUMP_SIGNAL", signal_setting, 1);
  gopp::chan<int> never;
  gopp::chan<std::uint64_t> id(1);
  gopp::go(calls_the_parking_function, never, id);
  const std::uint64_t parked = *id.recv();
  const std::string line = line_for(parked, "chan receive");
  eventually([&] { return contains(gopp::goroutine_dump(), line); });
  raise(sig);
  // The dump is written by a thread of its own: give it time, then end (the parked goroutine
  // is abandoned, as at any exit).
  gopp::sleep_for(under_sanitizer ? 2s : 500ms);
  std::fprintf(stderr, "child done\n");
  std::exit(0);
}

TEST_F(GoroutineDumpSignal, TheSignalWritesTheDumpToStderrAndTheProgramGoesOn) {
  EXPECT_EXIT(park_one_then_signal("USR1", SIGUSR1), ::testing::ExitedWithCode(0),
              "gopp: goroutine dump\n(.|\n)*goroutine [0-9]+ \\[chan receive\\]:\n(.|\n)*"
              "parks_in_a_named_function(.|\n)*child done");
}

TEST_F(GoroutineDumpSignal, AcceptsTheSignalByNumberWithOrWithoutSig) {
  const std::string by_number = std::to_string(SIGUSR2);
  EXPECT_EXIT(park_one_then_signal(by_number.c_str(), SIGUSR2), ::testing::ExitedWithCode(0),
              "\\[chan receive\\]:\n(.|\n)*child done");
  EXPECT_EXIT(park_one_then_signal("SIGUSR1", SIGUSR1), ::testing::ExitedWithCode(0),
              "\\[chan receive\\]:\n(.|\n)*child done");
}

[[noreturn]] void start_with_a_bad_setting(const char* setting = "NOSUCH") {
  alarm(60);
  setenv("GOPP_DUMP_SIGNAL", setting, 1);
  gopp::wait_group wg;
  wg.add(1);
  gopp::go([&wg] { wg.done(); });
  wg.wait();
  std::exit(0);
}

TEST_F(GoroutineDumpSignal, ABadSettingIsReportedAndIgnored) {
  EXPECT_EXIT(start_with_a_bad_setting(), ::testing::ExitedWithCode(0),
              "gopp: GOPP_DUMP_SIGNAL=NOSUCH is not a signal \\(USR1, USR2, QUIT or a number\\); "
              "no dump signal installed");
}

TEST_F(GoroutineDumpSignal, FaultAndUncatchableSignalsAreRefused) {
  // A dump handler on SIGSEGV would replace the stack overflow handler and, returning from a real
  // fault, run the faulting instruction again forever.
  const std::pair<std::string, std::string> refused[] = {
      {"SEGV", "SIGSEGV"},
      {"SIGBUS", "SIGBUS"},
      {std::to_string(SIGSEGV), "SIGSEGV"},
      {std::to_string(SIGILL), "SIGILL"},
      {"FPE", "SIGFPE"},
      {std::to_string(SIGKILL), "SIGKILL"},
      {"SIGSTOP", "SIGSTOP"},
  };
  for (const auto& [setting, name] : refused) {
    EXPECT_EXIT(start_with_a_bad_setting(setting.c_str()), ::testing::ExitedWithCode(0),
                "gopp: GOPP_DUMP_SIGNAL=" + setting + " refused: " + name +
                    " is a fault or uncatchable signal; no dump signal installed\n")
        << setting;
  }
}

TEST_F(GoroutineDumpSignal, OutOfRangeNumbersAreRefused) {
  for (const std::string& setting :
       {std::string("0"), std::string("-3"), std::to_string(NSIG), std::string("100000")}) {
    EXPECT_EXIT(start_with_a_bad_setting(setting.c_str()), ::testing::ExitedWithCode(0),
                "gopp: GOPP_DUMP_SIGNAL=" + setting + " is out of range \\(1 to " +
                    std::to_string(NSIG - 1) + "\\); no dump signal installed\n")
        << setting;
  }
}

}  // namespace
