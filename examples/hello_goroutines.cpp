// Goroutines, a channel and a wait_group: three goroutines each send a greeting; main prints
// them as they arrive. A fourth goroutine closes the channel once the wait_group says every
// sender is done, which ends main's range-for. In Go:
//
//   var wg sync.WaitGroup
//   messages := make(chan string)
//   for i := 1; i <= 3; i++ {
//       wg.Add(1)
//       go func(i int) {
//           defer wg.Done()
//           messages <- fmt.Sprintf("hello from goroutine %d", i)
//       }(i)
//   }
//   go func() { wg.Wait(); close(messages) }()
//   for m := range messages {
//       fmt.Println(m)
//   }
//   fmt.Println("all goroutines said hello")
#include <gopp/chan.hpp>
#include <gopp/defer.hpp>
#include <gopp/go.hpp>
#include <gopp/sync.hpp>

#include <cstdio>
#include <string>

int main() {
  // Go's os.Stdout is unbuffered. Line buffering gives the same effect for whole lines: each
  // printf goes out at once, so lines keep their time order even when stdout and stderr are
  // redirected to one file.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  gopp::wait_group wg;
  gopp::chan<std::string> messages;  // unbuffered: each send waits for main to take it

  for (int i = 1; i <= 3; i++) {
    wg.add(1);
    gopp::go([&wg, messages, i] {
      gopp::defer done{[&wg] { wg.done(); }};  // Go: defer wg.Done()
      messages.send("hello from goroutine " + std::to_string(i));
    });
  }
  // wg outlives this goroutine's use of it: main cannot return before close(), which follows
  // wait().
  gopp::go([&wg, messages] {
    wg.wait();
    messages.close();
  });

  for (std::string m : messages) {
    std::printf("%s\n", m.c_str());
  }
  std::printf("all goroutines said hello\n");
}
